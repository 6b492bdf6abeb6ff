//! The command line as clap structs: every subcommand, flag, default and help text.
//! Nothing here reads a file or touches a device; `args` turns these into the library's
//! options and `run` runs the commands.
use std::path::PathBuf;

use std::sync::OnceLock;

use clap::builder::PossibleValue;
use clap::{Args, Parser, Subcommand, ValueEnum};
use tch::Device;

use gradtrust_video::lists::Shard;
use gradtrust_video::models::{self, InputKind, WEIGHTS_URL_PREFIX};
use gradtrust_video::scores::{ScoreOptions, ScoreSet};

#[derive(Parser, Debug)]
#[command(
    name = "gradtrust-video",
    version,
    about = "How far to trust each prediction of a video action-recognition model (GradTrust and baselines on torchvision's Kinetics-400 models)"
)]
pub struct Cli {
    /// No progress display and no progress log lines on stderr (notes and errors still
    /// print).
    #[arg(short, long, global = true)]
    pub(crate) quiet: bool,
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Subcommand, Debug)]
pub(crate) enum Command {
    /// Top-5 labels and every trust score for one clip, at video level and per clip.
    #[command(after_help = SCORE_EXAMPLES)]
    Score(ScoreArgs),
    /// Evaluate the scores of batch results as misprediction detectors: metrics, the paper's
    /// table form, plots.
    #[command(after_help = EVAL_EXAMPLES)]
    Eval(EvalArgs),
    /// List every model: preset, parameters, GFLOPs, weight file (and whether it is present),
    /// classifier.
    #[command(after_help = MODELS_EXAMPLES)]
    Models {
        /// Print a JSON array, one object per model, instead of text.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        weights: WeightsArgs,
    },
    /// Run a model over a list of videos (a Kinetics-400 validation CSV, a `path,label` CSV or
    /// a `path label_index` list): one row per clip and per video, appended as videos finish.
    /// Exit status 0 when every video is ok, 3 when the run completed with error rows, 1 on a
    /// fatal error.
    #[command(after_help = BATCH_EXAMPLES)]
    Batch(BatchArgs),
    /// Join the outputs of `batch --shard I/N` runs into one file, checking that no video is
    /// missing (with --list) or doubled.
    #[command(after_help = MERGE_EXAMPLES)]
    Merge(MergeArgs),
    /// Download a model's torchvision weight file into the models directory (checksum checked).
    #[command(after_help = FETCH_EXAMPLES)]
    Fetch {
        /// torchvision model name.
        model: BuiltinModel,
        /// Another of the model's torchvision files (swin3d_b_22k-7c6ae6fa.pth).
        #[arg(long)]
        weights_file: Option<String>,
        #[command(flatten)]
        weights: WeightsArgs,
    },
    /// Print a shell completion script to standard output.
    #[command(after_help = COMPLETIONS_EXAMPLES)]
    Completions {
        /// The shell the script is for.
        shell: clap_complete::Shell,
    },
}

const SCORE_EXAMPLES: &str = "Examples:
  gradtrust-video score clip.mp4
  gradtrust-video score clip.mp4 --model swin3d_t --scores fast --json
  gradtrust-video score photo.jpg --model resnet50
  gradtrust-video score lecture.mp4 --timeline --stride 2 --out windows.csv --plot scores.png
  gradtrust-video score clip.mp4 --model torchscript --weights module.pt --preset r3d_18";

const EVAL_EXAMPLES: &str = "Examples:
  gradtrust-video eval runs/r3d_18.csv --out report/
  gradtrust-video eval runs/r3d_18.csv runs/mvit_v2_s.csv --metric aurc --scores gradtrust,softmax
  gradtrust-video eval runs/r3d_18.jsonl --level clip --bootstrap 0 --fit-temperature";

const MODELS_EXAMPLES: &str = "Examples:
  gradtrust-video models
  gradtrust-video models --json --models-dir /data/models";

const BATCH_EXAMPLES: &str = "Examples:
  gradtrust-video batch --list kinetics400_val.csv --root videos/ --out runs/r3d_18.csv
  gradtrust-video batch --list val.txt --model mvit_v2_s --scores all --devices cuda:0,cuda:1 --out runs/mvit.jsonl
  gradtrust-video batch --list val.csv --out runs/part.csv --shard 0/4 --resume";

const MERGE_EXAMPLES: &str = "Examples:
  gradtrust-video merge runs/all.csv runs/part0.csv runs/part1.csv --list val.csv
  gradtrust-video merge runs/all.jsonl runs/part*.jsonl --force";

const FETCH_EXAMPLES: &str = "Examples:
  gradtrust-video fetch r3d_18
  gradtrust-video fetch swin3d_b --weights-file swin3d_b_22k-7c6ae6fa.pth --models-dir /data/models";

const COMPLETIONS_EXAMPLES: &str = "Examples:
  gradtrust-video completions bash > ~/.local/share/bash-completion/completions/gradtrust-video
  gradtrust-video completions zsh > ~/.zfunc/_gradtrust-video
  gradtrust-video completions fish > ~/.config/fish/completions/gradtrust-video.fish";

#[derive(Args, Debug)]
pub(crate) struct WeightsArgs {
    /// Where weight files are looked for and downloaded to.
    #[arg(long, env = "GRADTRUST_MODELS_DIR", default_value = "models")]
    pub(crate) models_dir: PathBuf,
    /// URL prefix weight files are downloaded from (a mirror of torchvision's).
    #[arg(long, env = "GRADTRUST_WEIGHTS_URL", default_value = WEIGHTS_URL_PREFIX)]
    pub(crate) weights_url: String,
}

#[derive(Args, Debug)]
pub(crate) struct EvalArgs {
    /// Results files of `batch` (CSV, or JSON Lines by the `.jsonl` extension), one model each.
    #[arg(required = true)]
    pub(crate) results: Vec<PathBuf>,
    /// Evaluate clip rows or video rows.
    #[arg(long, default_value = "video")]
    pub(crate) level: gradtrust_video::eval::Level,
    /// Directory for metrics.csv, metrics.json, report.md and the plots.
    #[arg(long)]
    pub(crate) out: Option<PathBuf>,
    /// Metric of report.md's main table: auroc, aupr_error, aupr_success, fpr95tpr, aurc,
    /// e_aurc, augrc.
    #[arg(long, default_value = "auroc")]
    pub(crate) metric: gradtrust_video::eval::Metric,
    /// Bootstrap resamples behind every 95% interval (0: no intervals).
    #[arg(long, default_value_t = 1000, value_parser = count(0, 1_000_000))]
    pub(crate) bootstrap: usize,
    /// Seed of the bootstrap resamples and of the temperature-scaling split.
    #[arg(long, default_value_t = 0)]
    pub(crate) seed: u64,
    /// Fit a softmax temperature by NLL on a seeded half of the rows (needs a `logits`
    /// column) and report calibration of the other half before and after.
    #[arg(long)]
    pub(crate) fit_temperature: bool,
    /// Class names for per_class.csv (a label file, as for score and batch); default: the
    /// names the rows carry.
    #[arg(long)]
    pub(crate) labels: Option<PathBuf>,
    /// Scores to plot and table, a comma list (e.g. gradtrust,softmax,doctor); default: every
    /// score column present.
    #[arg(long, value_delimiter = ',')]
    pub(crate) scores: Option<Vec<gradtrust_video::scores::ScoreName>>,
}

#[derive(Args, Debug)]
pub(crate) struct ScoreArgs {
    /// Video file, or an image (JPEG, PNG, anything FFmpeg decodes as a single picture),
    /// scored as a one-frame clip. Which one is decided by FFmpeg's demuxer, not the extension.
    /// With --timeline also `-` (standard input) or a URL FFmpeg opens (http(s)://, rtsp://,
    /// file:, …).
    pub(crate) clip: PathBuf,
    #[command(flatten)]
    pub(crate) model: ModelArgs,
    /// cpu, cuda or cuda:N (of a list, as batch's --devices, the first). Default: cuda when
    /// available.
    #[arg(long, visible_alias = "devices", value_parser = devices)]
    pub(crate) device: Option<Devices>,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub(crate) json: bool,
    /// Scores to compute: `all`, `fast` (what one forward gives) or a comma list of
    /// gradtrust, softmax, entropy, margin, log_likelihood (the top logit, MaxLogit), energy,
    /// neg_brier, doctor, grad_norm, mc_dropout, odin, purview_initial, purview_final.
    /// Default: all; fast with --timeline. What each means: README, "Reading the scores".
    #[arg(long, value_parser = scores)]
    pub(crate) scores: Option<ScoreSet>,
    #[command(flatten)]
    pub(crate) score_options: ScoreOptionArgs,
    /// Score the whole video as it is decoded, window by window: windows of the model's clip
    /// length at its frame rate, one row each (start/end seconds, frames, top-5, scores),
    /// printed as they complete. SIGINT/SIGTERM end it with every finished row written
    /// (exit status 130).
    #[arg(long)]
    pub(crate) timeline: bool,
    /// With --timeline: seconds from one window's start to the next, rounded to whole frames
    /// at the model's frame rate. Default: one window (consecutive windows).
    #[arg(long, requires = "timeline", value_parser = positive)]
    pub(crate) stride: Option<f64>,
    /// With --timeline: append each window's row to this new file as it completes (CSV, or
    /// JSON Lines for .jsonl): batch's row schema with start_s and end_s.
    #[arg(long, requires = "timeline")]
    pub(crate) out: Option<PathBuf>,
    /// With --timeline: draw the scores over time, top-1 label changes marked, into a .png
    /// or .svg file.
    #[arg(long, requires = "timeline", value_parser = chart_path)]
    pub(crate) plot: Option<PathBuf>,
    /// Most clips (with --timeline: windows) per forward pass (default 4): a video's clips
    /// are scored in forwards of at most this many, so peak memory follows it, not the
    /// video's length. Scores do not depend on it.
    #[arg(long, value_parser = count(1, MAX_BATCH))]
    pub(crate) batch_size: Option<usize>,
}

/// Which network, from which file, with which class names.
#[derive(Args, Debug)]
pub(crate) struct ModelArgs {
    /// torchvision architecture name, or `torchscript` for a TorchScript module (with
    /// --weights and --preset). Default: r3d_18 for a video, resnet18 for an image.
    #[arg(
        long,
        requires_if(TORCHSCRIPT, "preset"),
        requires_if(TORCHSCRIPT, "weights")
    )]
    pub(crate) model: Option<ModelName>,
    /// Weight file: a torchvision .pth (or .safetensors), a fine-tuned state dict with any
    /// class count, a training checkpoint ({'epoch', 'state_dict', 'optimizer', …}, keys
    /// with `module.` or `model.` prefixes), or with --model torchscript a torch.jit.save
    /// archive. Default: MODELS_DIR/<torchvision file name>, downloaded if absent.
    /// `untrained:SEED` (e.g. untrained:0): the architecture with seeded untrained
    /// parameters, for trying the pipeline without any weight file; every output says its
    /// predictions are meaningless.
    #[arg(long)]
    pub(crate) weights: Option<gradtrust_video::weights::Weights>,
    /// Another of the model's torchvision files, looked for and downloaded instead of the
    /// default (swin3d_b_22k-7c6ae6fa.pth for swin3d_b).
    #[arg(long, conflicts_with = "weights")]
    pub(crate) weights_file: Option<String>,
    /// The checkpoint key holding the state dict (e.g. `model_ema`), when the file holds
    /// several or the search should not choose.
    #[arg(long)]
    pub(crate) weights_key: Option<String>,
    /// Class names: one per line, `index name` lines (UCF101's classInd.txt), or a JSON
    /// array. Their count must equal the checkpoint's classes. Default: Kinetics-400 or
    /// ImageNet-1k for torchvision's class counts, else class_<i>.
    #[arg(long)]
    pub(crate) labels: Option<PathBuf>,
    /// With --model torchscript: the built-in model or family whose preset (resize, crop,
    /// normalization, clip protocol) the module takes, e.g. mc3_18, swin3d, imagenet.
    #[arg(long)]
    pub(crate) preset: Option<String>,
    /// With --model torchscript: the classifier parameter (default: the last 2-D parameter
    /// with N rows).
    #[arg(long)]
    pub(crate) classifier: Option<String>,
    #[command(flatten)]
    pub(crate) weights_source: WeightsArgs,
}

#[derive(Args, Debug)]
pub(crate) struct ListArgs {
    /// The list of videos: Kinetics CSV (label,youtube_id,time_start,time_end,split),
    /// `path,label` CSV (label = class name or index), `path label_index` lines, or ImageNet's
    /// validation ground truth (one class per line for ILSVRC2012_val_{line:08}.JPEG).
    #[arg(long)]
    pub(crate) list: PathBuf,
    /// List format; detected from the first line when not given.
    #[arg(long, value_parser = ["kinetics", "csv", "space", "imagenet"])]
    pub(crate) format: Option<String>,
    /// ImageNet: the devkit's synset mapping (line k: the WordNet id of ILSVRC2012_ID k), so
    /// the ground truth's 1-based devkit IDs become torchvision classes. Without it the
    /// ground truth holds torchvision's 0-based class indices.
    #[arg(long)]
    pub(crate) synsets: Option<PathBuf>,
    /// Where the videos are: Kinetics clips `{youtube_id}_{start:06}_{end:06}.{mp4,mkv,webm,avi}`
    /// flat or in `<label>/` folders; relative paths of the other lists. Default: the list's
    /// directory.
    #[arg(long)]
    pub(crate) root: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub(crate) struct BatchArgs {
    #[command(flatten)]
    pub(crate) list: ListArgs,
    #[command(flatten)]
    pub(crate) model: ModelArgs,
    /// Results file: CSV, or JSON Lines when it ends in `.jsonl`.
    #[arg(long)]
    pub(crate) out: PathBuf,
    /// Scores to compute: `fast` (one forward), `all`, or a comma list (see `score --help`).
    #[arg(long, default_value = "fast", value_parser = scores)]
    pub(crate) scores: ScoreSet,
    #[command(flatten)]
    pub(crate) score_options: ScoreOptionArgs,
    /// Most clips per forward pass; clips of several videos share a batch.
    #[arg(long, default_value_t = 20, value_parser = count(1, MAX_BATCH))]
    pub(crate) batch_size: usize,
    /// Decoding threads. 0 decodes and scores one video after another (no overlap).
    /// Default: half the cores (at least 1).
    #[arg(long, value_parser = count(0, 1024))]
    pub(crate) decode_workers: Option<usize>,
    /// `cpu`, or CUDA devices `cuda:0,cuda:1,…` (one model stage each). Default: cuda:0
    /// when available, else cpu.
    #[arg(long, visible_alias = "device", value_parser = devices)]
    pub(crate) devices: Option<Devices>,
    /// Clips per video instead of the model's protocol (e.g. 1 for a quick pass).
    #[arg(long, value_parser = count(1, 1000))]
    pub(crate) clips_per_video: Option<usize>,
    /// libtorch's intra-op threads (the CPU model's forward and the workers' transforms).
    /// Default: every core (on CPU the forward is the bottleneck; decoding is a small share).
    #[arg(long, value_parser = count(1, 1024))]
    pub(crate) threads: Option<usize>,
    /// Only the first N entries of the list.
    #[arg(long, value_parser = count(1, usize::MAX))]
    pub(crate) limit: Option<usize>,
    /// Only this shard of the list, `I/N`: the entries whose position modulo N is I.
    #[arg(long, value_parser = shard)]
    pub(crate) shard: Option<Shard>,
    /// Continue --out: skip the videos whose rows are complete in it (the run's settings
    /// must be the file's; damaged rows are dropped and their videos run again).
    #[arg(long)]
    pub(crate) resume: bool,
    /// With --resume: also run again the videos whose rows are errors, replacing them.
    #[arg(long, requires = "resume")]
    pub(crate) retry_errors: bool,
    /// Add a `logits` column: every class's logit per row (the video row: the clip-averaged
    /// logits), for `eval --fit-temperature` and the Brier score; hundreds of numbers a row.
    #[arg(long)]
    pub(crate) logits: bool,
}

#[derive(Args, Debug)]
pub(crate) struct MergeArgs {
    /// The merged results file (CSV, or JSON Lines for `.jsonl`, as the shards); must not
    /// exist unless --force.
    pub(crate) out: PathBuf,
    /// The shards' results files.
    #[arg(required = true)]
    pub(crate) shards: Vec<PathBuf>,
    /// The list the shards ran: every entry must be in exactly one shard; rows follow its order.
    #[arg(long)]
    pub(crate) list: Option<PathBuf>,
    /// List format; detected when not given.
    #[arg(long, value_parser = ["kinetics", "csv", "space", "imagenet"])]
    pub(crate) format: Option<String>,
    /// As for batch (file resolution does not matter to merge, ids do).
    #[arg(long)]
    pub(crate) root: Option<PathBuf>,
    /// Only the first N entries of the list, as the shards' runs had.
    #[arg(long, value_parser = count(1, usize::MAX))]
    pub(crate) limit: Option<usize>,
    /// Replace the output if it exists.
    #[arg(long)]
    pub(crate) force: bool,
}

#[derive(Args, Debug)]
pub(crate) struct ScoreOptionArgs {
    /// ODIN temperature T.
    #[arg(long, default_value_t = 100.0, value_parser = positive)]
    pub(crate) odin_temperature: f64,
    /// ODIN input step ε (on the normalized input).
    #[arg(long, default_value_t = 0.0014, value_parser = non_negative)]
    pub(crate) odin_epsilon: f64,
    /// MC-Dropout passes K.
    #[arg(long, default_value_t = 10, value_parser = count(1, 10_000))]
    pub(crate) mc_passes: usize,
    /// Seed of MC-Dropout's dropout masks.
    #[arg(long, default_value_t = 0)]
    pub(crate) seed: u64,
    /// How GradTrust is computed: `closed` (no backward pass; exact for a linear head) or
    /// `autograd` (real classifier gradients, as the paper's code).
    #[arg(long, default_value = "closed", value_parser = ["closed", "autograd"])]
    pub(crate) gradtrust: String,
    /// Most clips per forward pass that keeps its graph for backward passes (ODIN, Purview,
    /// real-gradient GradTrust/GradNorm): a video's gradients are accumulated over chunks of
    /// this many clips, so the peak memory of those scores follows it. Scores do not depend
    /// on it.
    #[arg(long, default_value_t = ScoreOptions::BACKWARD_CHUNK, value_parser = count(1, MAX_BATCH))]
    pub(crate) backward_chunk: usize,
}

// ---------------------------------------------------------------------------------------
// Value parsers: every flag value is checked while the command line is parsed, so a bad
// one is clap's usage error (exit status 2, the flag named), never a failure deep in a run.

/// A model name of `--model`: every registry model, and `torchscript`. The list is the
/// registry's (`models::all()`), so a new model needs no edit here.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ModelName(&'static str);

/// `--model`'s value for a TorchScript module.
pub(crate) const TORCHSCRIPT: &str = "torchscript";

impl ModelName {
    pub(crate) fn as_str(self) -> &'static str {
        self.0
    }
}

fn model_names(torchscript: bool) -> Vec<&'static str> {
    models::all()
        .map(|spec| spec.name)
        .chain(torchscript.then_some(TORCHSCRIPT))
        .collect()
}

fn model_value(name: &'static str) -> PossibleValue {
    let help = match models::spec(name) {
        Ok(spec) => format!(
            "{} model ({} classes, {} GFLOPs)",
            match spec.input {
                InputKind::Video => "video",
                InputKind::Image => "image",
            },
            spec.num_classes(),
            spec.gflops
        ),
        Err(_) => "a TorchScript module (with --weights and --preset)".to_owned(),
    };
    PossibleValue::new(name).help(help)
}

impl ValueEnum for ModelName {
    fn value_variants<'a>() -> &'a [Self] {
        static ALL: OnceLock<Vec<ModelName>> = OnceLock::new();
        ALL.get_or_init(|| model_names(true).into_iter().map(ModelName).collect())
    }

    fn to_possible_value(&self) -> Option<PossibleValue> {
        Some(model_value(self.0))
    }
}

/// A model `fetch` can download: a registry model (a TorchScript module has no torchvision
/// file).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct BuiltinModel(&'static str);

impl BuiltinModel {
    pub(crate) fn as_str(self) -> &'static str {
        self.0
    }
}

impl ValueEnum for BuiltinModel {
    fn value_variants<'a>() -> &'a [Self] {
        static ALL: OnceLock<Vec<BuiltinModel>> = OnceLock::new();
        ALL.get_or_init(|| model_names(false).into_iter().map(BuiltinModel).collect())
    }

    fn to_possible_value(&self) -> Option<PossibleValue> {
        Some(model_value(self.0))
    }
}

/// `--device`/`--devices`: `cpu`, or CUDA devices that exist, none twice.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Devices(pub(crate) Vec<Device>);

fn devices(s: &str) -> Result<Devices, String> {
    let mut devices = Vec::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let device = match part {
            "cpu" => Device::Cpu,
            "cuda" => Device::Cuda(0),
            _ => match part.strip_prefix("cuda:").map(str::parse::<usize>) {
                Some(Ok(i)) => Device::Cuda(i),
                _ => return Err(format!("{part:?} is not cpu, cuda or cuda:N")),
            },
        };
        if let Device::Cuda(i) = device {
            let count = usize::try_from(tch::Cuda::device_count()).unwrap_or(0);
            if i >= count {
                return Err(format!(
                    "{part} does not exist ({count} CUDA device(s) available)"
                ));
            }
        }
        // `cpu` may repeat: several CPU stages share the cores (`--threads` each).
        if device != Device::Cpu && devices.contains(&device) {
            return Err(format!("{part} given twice"));
        }
        devices.push(device);
    }
    if devices.is_empty() {
        return Err("no device given".to_owned());
    }
    if devices.contains(&Device::Cpu) && devices.iter().any(|d| d.is_cuda()) {
        return Err("CPU and CUDA stages cannot be mixed".to_owned());
    }
    Ok(Devices(devices))
}

fn scores(s: &str) -> Result<ScoreSet, String> {
    s.parse().map_err(|e: gradtrust_video::Error| e.to_string())
}

fn shard(s: &str) -> Result<Shard, String> {
    s.parse().map_err(|e: gradtrust_video::Error| e.to_string())
}

/// Most clips in one forward or backward pass: far past any memory (a 32-frame 224² clip
/// is 19 MB of input alone), and small enough that no index into a batch overflows.
const MAX_BATCH: usize = 65_536;

/// A count in `lo..=hi`; the upper bounds keep absurd values (a thread count past `i32`, a
/// batch no memory holds, threads by the billion) from reaching libtorch or the OS.
fn count(lo: usize, hi: usize) -> impl Fn(&str) -> Result<usize, String> + Clone + Send + Sync {
    move |s: &str| {
        let n: usize = s
            .trim()
            .parse()
            .map_err(|_| format!("not a whole number in {lo}..={hi}"))?;
        if (lo..=hi).contains(&n) {
            Ok(n)
        } else {
            Err(format!("must be in {lo}..={hi}"))
        }
    }
}

fn positive(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(x) if x.is_finite() && x > 0.0 => Ok(x),
        _ => Err("must be a positive number".to_owned()),
    }
}

fn non_negative(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(x) if x.is_finite() && x >= 0.0 => Ok(x),
        _ => Err("must be a non-negative number".to_owned()),
    }
}

/// A chart file: the extension picks the format.
fn chart_path(s: &str) -> Result<PathBuf, String> {
    let path = PathBuf::from(s);
    let ext = path
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase());
    if matches!(ext.as_deref(), Some("png" | "svg")) {
        Ok(path)
    } else {
        Err("the chart is written as .png or .svg".to_owned())
    }
}

//! Command-line interface: the only module that knows flags. Parses them, validates them
//! into the library's types, runs the command and prints the result.
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use anyhow::{bail, Context};
use clap::{Args, Parser, Subcommand};
use tch::Device;

use gradtrust_video::decode::stream::{FrameStream, Source};
use gradtrust_video::decode::{self, MediaKind};
use gradtrust_video::models::{self, InputKind, Model, WEIGHTS_URL_PREFIX};
use gradtrust_video::scores::{GradTrustMethod, ScoreOptions, ScoreSet};
use gradtrust_video::weights::WeightsSource;
use gradtrust_video::{clips, images, lists, output, pipeline, results, scoring, timeline};

mod progress;
use progress::Progress;

/// Exit status of a batch run that completed but wrote error rows.
pub const EXIT_ROW_ERRORS: u8 = 3;

#[derive(Parser, Debug)]
#[command(
    name = "gradtrust-video",
    version,
    about = "How far to trust each prediction of a video action-recognition model (GradTrust and baselines on torchvision's Kinetics-400 models)"
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Top-5 labels and every trust score for one clip, at video level and per clip.
    Score(ScoreArgs),
    /// Evaluate the scores of batch results as misprediction detectors: metrics, the paper's
    /// table form, plots.
    Eval(EvalArgs),
    /// List every model: preset, parameters, GFLOPs, weight file (and whether it is present),
    /// classifier.
    Models {
        #[command(flatten)]
        weights: WeightsArgs,
    },
    /// Run a model over a list of videos (a Kinetics-400 validation CSV, a `path,label` CSV or
    /// a `path label_index` list): one row per clip and per video, appended as videos finish.
    /// Exit status 0 when every video is ok, 3 when the run completed with error rows, 1 on a
    /// fatal error.
    Batch(BatchArgs),
    /// Join the outputs of `batch --shard I/N` runs into one file, checking that no video is
    /// missing (with --list) or doubled.
    Merge(MergeArgs),
    /// Download a model's torchvision weight file into the models directory (checksum checked).
    Fetch {
        /// torchvision model name, e.g. r3d_18.
        model: String,
        /// Another of the model's torchvision files (swin3d_b_22k-7c6ae6fa.pth).
        #[arg(long)]
        weights_file: Option<String>,
        #[command(flatten)]
        weights: WeightsArgs,
    },
}

#[derive(Args, Debug)]
struct WeightsArgs {
    /// Where weight files are looked for and downloaded to.
    #[arg(long, env = "GRADTRUST_MODELS_DIR", default_value = "models")]
    models_dir: PathBuf,
    /// URL prefix weight files are downloaded from (a mirror of torchvision's).
    #[arg(long, env = "GRADTRUST_WEIGHTS_URL", default_value = WEIGHTS_URL_PREFIX)]
    weights_url: String,
}

#[derive(Args, Debug)]
struct EvalArgs {
    /// Results files of `batch` (CSV, or JSON Lines by the `.jsonl` extension), one model each.
    #[arg(required = true)]
    results: Vec<PathBuf>,
    /// Evaluate clip rows or video rows.
    #[arg(long, default_value = "video")]
    level: gradtrust_video::eval::Level,
    /// Directory for metrics.csv, metrics.json, report.md and the plots.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Metric of report.md's main table: auroc, aupr_error, aupr_success, fpr95tpr, aurc,
    /// e_aurc, augrc.
    #[arg(long, default_value = "auroc")]
    metric: gradtrust_video::eval::Metric,
    /// Bootstrap resamples behind every 95% interval (0: no intervals).
    #[arg(long, default_value_t = 1000)]
    bootstrap: usize,
    /// Seed of the bootstrap resamples and of the temperature-scaling split.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Fit a softmax temperature by NLL on a seeded half of the rows (needs a `logits`
    /// column) and report calibration of the other half before and after.
    #[arg(long)]
    fit_temperature: bool,
    /// Class names for per_class.csv (a label file, as for score and batch); default: the
    /// names the rows carry.
    #[arg(long)]
    labels: Option<PathBuf>,
    /// Scores to plot and table, a comma list (e.g. gradtrust,softmax,doctor); default: every
    /// score column present.
    #[arg(long, value_delimiter = ',')]
    scores: Option<Vec<gradtrust_video::scores::ScoreName>>,
}

#[derive(Args, Debug)]
struct ScoreArgs {
    /// Video file, or an image (JPEG, PNG, anything FFmpeg decodes as a single picture),
    /// scored as a one-frame clip. Which one is decided by FFmpeg's demuxer, not the extension.
    /// With --timeline also `-` (standard input) or a URL FFmpeg opens (http(s)://, rtsp://,
    /// file:, …).
    clip: PathBuf,
    #[command(flatten)]
    model: ModelArgs,
    /// cpu, cuda or cuda:N. Default: cuda when available.
    #[arg(long)]
    device: Option<String>,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
    /// Scores to compute: `all`, `fast` (what one forward gives) or a comma list of
    /// gradtrust, softmax, entropy, margin, log_likelihood, energy, neg_brier, grad_norm,
    /// mc_dropout, odin, purview_initial, purview_final. Default: all; fast with --timeline.
    #[arg(long)]
    scores: Option<String>,
    #[command(flatten)]
    score_options: ScoreOptionArgs,
    /// Score the whole video as it is decoded, window by window: windows of the model's clip
    /// length at its frame rate, one row each (start/end seconds, frames, top-5, scores),
    /// printed as they complete. SIGINT/SIGTERM end it with every finished row written
    /// (exit status 130).
    #[arg(long)]
    timeline: bool,
    /// With --timeline: seconds from one window's start to the next, rounded to whole frames
    /// at the model's frame rate. Default: one window (consecutive windows).
    #[arg(long, requires = "timeline")]
    stride: Option<f64>,
    /// With --timeline: append each window's row to this new file as it completes (CSV, or
    /// JSON Lines for .jsonl): batch's row schema with start_s and end_s.
    #[arg(long, requires = "timeline")]
    out: Option<PathBuf>,
    /// With --timeline: draw the scores over time, top-1 label changes marked, into a .png
    /// or .svg file.
    #[arg(long, requires = "timeline")]
    plot: Option<PathBuf>,
    /// Most clips (with --timeline: windows) per forward pass (default 4): a video's clips
    /// are scored in forwards of at most this many, so peak memory follows it, not the
    /// video's length. Scores do not depend on it.
    #[arg(long)]
    batch_size: Option<usize>,
}

/// Which network, from which file, with which class names.
#[derive(Args, Debug)]
struct ModelArgs {
    /// torchvision architecture name, or `torchscript` for a TorchScript module (with
    /// --weights and --preset). Default: r3d_18 for a video, resnet18 for an image.
    #[arg(
        long,
        requires_if("torchscript", "preset"),
        requires_if("torchscript", "weights")
    )]
    model: Option<String>,
    /// Weight file: a torchvision .pth (or .safetensors), a fine-tuned state dict with any
    /// class count, a training checkpoint ({'epoch', 'state_dict', 'optimizer', …}, keys
    /// with `module.` or `model.` prefixes), or with --model torchscript a torch.jit.save
    /// archive. Default: MODELS_DIR/<torchvision file name>, downloaded if absent.
    #[arg(long)]
    weights: Option<PathBuf>,
    /// Another of the model's torchvision files, looked for and downloaded instead of the
    /// default (swin3d_b_22k-7c6ae6fa.pth for swin3d_b).
    #[arg(long, conflicts_with = "weights")]
    weights_file: Option<String>,
    /// The checkpoint key holding the state dict (e.g. `model_ema`), when the file holds
    /// several or the search should not choose.
    #[arg(long)]
    weights_key: Option<String>,
    /// Class names: one per line, `index name` lines (UCF101's classInd.txt), or a JSON
    /// array. Their count must equal the checkpoint's classes. Default: Kinetics-400 or
    /// ImageNet-1k for torchvision's class counts, else class_<i>.
    #[arg(long)]
    labels: Option<PathBuf>,
    /// With --model torchscript: the built-in model or family whose preset (resize, crop,
    /// normalization, clip protocol) the module takes, e.g. mc3_18, swin3d, imagenet.
    #[arg(long)]
    preset: Option<String>,
    /// With --model torchscript: the classifier parameter (default: the last 2-D parameter
    /// with N rows).
    #[arg(long)]
    classifier: Option<String>,
    #[command(flatten)]
    weights_source: WeightsArgs,
}

const TORCHSCRIPT: &str = "torchscript";

impl ModelArgs {
    /// The architecture `name` names, its preset and input kind; nothing is read or fetched.
    fn arch(
        &self,
        name: &str,
    ) -> anyhow::Result<(models::Arch, gradtrust_video::preset::Preset, InputKind)> {
        if name == TORCHSCRIPT {
            let preset = self.preset.clone().unwrap_or_default();
            let (p, input) = models::borrowed_preset(&preset)?;
            return Ok((
                models::Arch::TorchScript {
                    preset,
                    classifier: self.classifier.clone(),
                },
                p,
                input,
            ));
        }
        if self.preset.is_some() || self.classifier.is_some() {
            bail!(
                "--preset and --classifier are for --model {TORCHSCRIPT}; model {name} has its own preset and classifier"
            );
        }
        let spec = models::spec(name)?;
        Ok((models::Arch::Registry(spec), (spec.preset)(), spec.input))
    }

    /// The full request: the weight file resolved (looked for, downloaded with its checksum
    /// checked), the label file read.
    fn request(&self, arch: models::Arch) -> anyhow::Result<models::ModelRequest> {
        let labels = self
            .labels
            .as_deref()
            .map(gradtrust_video::labels::Labels::read)
            .transpose()?;
        let weights = match &arch {
            models::Arch::Registry(spec) => source(
                &self.weights_source,
                self.weights.clone(),
                self.weights_file.clone(),
            )
            .resolve(spec)?,
            // clap requires --weights with torchscript.
            models::Arch::TorchScript { .. } => self.weights.clone().unwrap_or_default(),
        };
        Ok(models::ModelRequest {
            arch,
            weights,
            weights_key: self.weights_key.clone(),
            labels,
        })
    }
}

#[derive(Args, Debug)]
struct ListArgs {
    /// The list of videos: Kinetics CSV (label,youtube_id,time_start,time_end,split),
    /// `path,label` CSV (label = class name or index), `path label_index` lines, or ImageNet's
    /// validation ground truth (one class per line for ILSVRC2012_val_{line:08}.JPEG).
    #[arg(long)]
    list: PathBuf,
    /// List format; detected from the first line when not given.
    #[arg(long, value_parser = ["kinetics", "csv", "space", "imagenet"])]
    format: Option<String>,
    /// ImageNet: the devkit's synset mapping (line k: the WordNet id of ILSVRC2012_ID k), so
    /// the ground truth's 1-based devkit IDs become torchvision classes. Without it the
    /// ground truth holds torchvision's 0-based class indices.
    #[arg(long)]
    synsets: Option<PathBuf>,
    /// Where the videos are: Kinetics clips `{youtube_id}_{start:06}_{end:06}.{mp4,mkv,webm,avi}`
    /// flat or in `<label>/` folders; relative paths of the other lists. Default: the list's
    /// directory.
    #[arg(long)]
    root: Option<PathBuf>,
}

impl ListArgs {
    fn read(&self, labels: &gradtrust_video::labels::Labels) -> anyhow::Result<Vec<lists::Entry>> {
        let format = self
            .format
            .as_deref()
            .map(str::parse::<lists::ListFormat>)
            .transpose()?;
        let (_, entries) = lists::read_list(
            &self.list,
            format,
            self.root.as_deref(),
            labels,
            self.synsets.as_deref(),
        )?;
        Ok(entries)
    }
}

#[derive(Args, Debug)]
struct BatchArgs {
    #[command(flatten)]
    list: ListArgs,
    #[command(flatten)]
    model: ModelArgs,
    /// Results file: CSV, or JSON Lines when it ends in `.jsonl`.
    #[arg(long)]
    out: PathBuf,
    /// Scores to compute: `fast` (one forward), `all`, or a comma list (see `score --help`).
    #[arg(long, default_value = "fast")]
    scores: String,
    #[command(flatten)]
    score_options: ScoreOptionArgs,
    /// Most clips per forward pass; clips of several videos share a batch.
    #[arg(long, default_value_t = 20)]
    batch_size: usize,
    /// Decoding threads. 0 decodes and scores one video after another (no overlap).
    /// Default: half the cores (at least 1).
    #[arg(long)]
    decode_workers: Option<usize>,
    /// `cpu`, or CUDA devices `cuda:0,cuda:1,…` (one model stage each). Default: cuda:0
    /// when available, else cpu.
    #[arg(long)]
    devices: Option<String>,
    /// Clips per video instead of the model's protocol (e.g. 1 for a quick pass).
    #[arg(long)]
    clips_per_video: Option<usize>,
    /// libtorch's intra-op threads (the CPU model's forward and the workers' transforms).
    /// Default: every core (on CPU the forward is the bottleneck; decoding is a small share).
    #[arg(long)]
    threads: Option<usize>,
    /// Only the first N entries of the list.
    #[arg(long)]
    limit: Option<usize>,
    /// Only this shard of the list, `I/N`: the entries whose position modulo N is I.
    #[arg(long)]
    shard: Option<String>,
    /// Continue --out: skip the videos whose rows are complete in it (the run's settings
    /// must be the file's; damaged rows are dropped and their videos run again).
    #[arg(long)]
    resume: bool,
    /// With --resume: also run again the videos whose rows are errors, replacing them.
    #[arg(long, requires = "resume")]
    retry_errors: bool,
    /// Add a `logits` column: every class's logit per row (the video row: the clip-averaged
    /// logits), for `eval --fit-temperature` and the Brier score; hundreds of numbers a row.
    #[arg(long)]
    logits: bool,
}

#[derive(Args, Debug)]
struct MergeArgs {
    /// The merged results file (CSV, or JSON Lines for `.jsonl`, as the shards); must not
    /// exist unless --force.
    out: PathBuf,
    /// The shards' results files.
    #[arg(required = true)]
    shards: Vec<PathBuf>,
    /// The list the shards ran: every entry must be in exactly one shard; rows follow its order.
    #[arg(long)]
    list: Option<PathBuf>,
    /// List format; detected when not given.
    #[arg(long, value_parser = ["kinetics", "csv", "space", "imagenet"])]
    format: Option<String>,
    /// As for batch (file resolution does not matter to merge, ids do).
    #[arg(long)]
    root: Option<PathBuf>,
    /// Only the first N entries of the list, as the shards' runs had.
    #[arg(long)]
    limit: Option<usize>,
    /// Replace the output if it exists.
    #[arg(long)]
    force: bool,
}

#[derive(Args, Debug)]
struct ScoreOptionArgs {
    /// ODIN temperature T.
    #[arg(long, default_value_t = 100.0)]
    odin_temperature: f64,
    /// ODIN input step ε (on the normalized input).
    #[arg(long, default_value_t = 0.0014)]
    odin_epsilon: f64,
    /// MC-Dropout passes K.
    #[arg(long, default_value_t = 10)]
    mc_passes: usize,
    /// Seed of MC-Dropout's dropout masks.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// How GradTrust is computed: `closed` (no backward pass; exact for a linear head) or
    /// `autograd` (real classifier gradients, as the paper's code).
    #[arg(long, default_value = "closed", value_parser = ["closed", "autograd"])]
    gradtrust: String,
    /// Most clips per forward pass that keeps its graph for backward passes (ODIN, Purview,
    /// real-gradient GradTrust/GradNorm): a video's gradients are accumulated over chunks of
    /// this many clips, so the peak memory of those scores follows it. Scores do not depend
    /// on it.
    #[arg(long, default_value_t = ScoreOptions::BACKWARD_CHUNK)]
    backward_chunk: usize,
}

impl ScoreOptionArgs {
    fn options(&self) -> anyhow::Result<ScoreOptions> {
        if !(self.odin_temperature > 0.0 && self.odin_temperature.is_finite()) {
            bail!(
                "--odin-temperature {}: must be a positive number",
                self.odin_temperature
            );
        }
        if !(self.odin_epsilon >= 0.0 && self.odin_epsilon.is_finite()) {
            bail!(
                "--odin-epsilon {}: must be a non-negative number",
                self.odin_epsilon
            );
        }
        if self.mc_passes == 0 {
            bail!("--mc-passes 0: at least one pass is needed");
        }
        if self.backward_chunk == 0 {
            bail!("--backward-chunk 0: at least one clip per backward pass");
        }
        Ok(ScoreOptions {
            backward_chunk: self.backward_chunk,
            forward_chunk: ScoreOptions::FORWARD_CHUNK,
            odin_temperature: self.odin_temperature,
            odin_epsilon: self.odin_epsilon,
            mc_passes: self.mc_passes,
            seed: self.seed,
            gradtrust: if self.gradtrust == "autograd" {
                GradTrustMethod::Autograd
            } else {
                GradTrustMethod::ClosedForm
            },
        })
    }
}

fn parse_device(s: Option<&str>) -> anyhow::Result<Device> {
    let Some(s) = s else {
        return Ok(Device::cuda_if_available());
    };
    let device = match s {
        "cpu" => Device::Cpu,
        "cuda" => Device::Cuda(0),
        _ => match s.strip_prefix("cuda:").map(str::parse::<usize>) {
            Some(Ok(i)) => Device::Cuda(i),
            _ => bail!("--device {s:?}: expected cpu, cuda or cuda:N"),
        },
    };
    if let Device::Cuda(i) = device {
        let count = tch::Cuda::device_count() as usize;
        if i >= count {
            bail!("--device {s}: only {count} CUDA device(s) available");
        }
    }
    Ok(device)
}

fn source(args: &WeightsArgs, explicit: Option<PathBuf>, file: Option<String>) -> WeightsSource {
    WeightsSource {
        explicit,
        file,
        models_dir: args.models_dir.clone(),
        base_url: args.weights_url.clone(),
    }
}

const DEFAULT_VIDEO_MODEL: &str = "r3d_18";
const DEFAULT_IMAGE_MODEL: &str = "resnet18";

/// A video model given an image, or an image model given a video: say so, naming both.
fn check_input_kind(
    path: &std::path::Path,
    kind: MediaKind,
    name: &str,
    input: InputKind,
) -> anyhow::Result<()> {
    match (kind, input) {
        (MediaKind::Video, InputKind::Video) | (MediaKind::Image, InputKind::Image) => Ok(()),
        (MediaKind::Image, InputKind::Video) => bail!(
            "{}: is an image, but model {} is a video model (Kinetics-400 clips); use an image \
             model, e.g. --model {DEFAULT_IMAGE_MODEL}",
            path.display(),
            name
        ),
        (MediaKind::Video, InputKind::Image) => bail!(
            "{}: is a video, but model {} is an image model (ImageNet); use a video model, \
             e.g. --model {DEFAULT_VIDEO_MODEL}",
            path.display(),
            name
        ),
    }
}

fn score(args: ScoreArgs) -> anyhow::Result<ExitCode> {
    let device = parse_device(args.device.as_deref())?;
    let scores = args
        .scores
        .clone()
        .unwrap_or_else(|| if args.timeline { "fast" } else { "all" }.to_owned());
    let set: ScoreSet = scores
        .parse()
        .with_context(|| format!("--scores {scores}"))?;
    let mut opts = args.score_options.options()?;
    if args.batch_size == Some(0) {
        bail!("--batch-size 0: at least one clip per forward");
    }
    opts.forward_chunk = args.batch_size.unwrap_or(SCORE_BATCH);
    let source = Source::parse(args.clip.as_os_str());
    if args.timeline {
        return timeline(args, source, device, set, opts);
    }
    if !source.is_file() {
        bail!(
            "{}: standard input and URLs are read front to back, which --timeline does; the \
             clip protocol picks its clips from the whole video (add --timeline, or save the \
             stream to a file)",
            source.name().display()
        );
    }
    // Decode first: a bad clip is reported before any weights are loaded or downloaded.
    let kind = decode::media_kind(&args.clip)?;
    let name = args.model.model.as_deref().unwrap_or(match kind {
        MediaKind::Video => DEFAULT_VIDEO_MODEL,
        MediaKind::Image => DEFAULT_IMAGE_MODEL,
    });
    let (arch, preset, input) = args.model.arch(name)?;
    check_input_kind(&args.clip, kind, name, input)?;
    let video = match kind {
        MediaKind::Video => clips::load_clips(&args.clip, &preset)?,
        MediaKind::Image => images::load_image(&args.clip, &preset)?,
    };
    let model = Model::load(&args.model.request(arch)?, device)?;
    let report = scoring::score_video(&model, &args.clip, &video, &set, &opts)
        .with_context(|| format!("{}: scoring failed", args.clip.display()))?;
    if args.json {
        let text = serde_json::to_string_pretty(&output::report_json(&report, model.labels()))?;
        println!("{text}");
    } else {
        print!("{}", output::report_text(&report, model.labels()));
    }
    Ok(ExitCode::SUCCESS)
}

/// Exit status of a `score --timeline` run ended by SIGINT or SIGTERM (its finished rows
/// written and flushed).
pub const EXIT_INTERRUPTED: u8 = 130;

/// Windows per forward of a timeline: rows appear a batch at a time.
const TIMELINE_BATCH: usize = 4;

/// Clips per forward of `score`: swin3d_t's 12 clips of 32×224×224 in one forward without a
/// graph held 9.5 GB on the CPU; with 4 at a time (and one-clip backward chunks) its
/// `--scores all` peaks at 5.7 GB.
const SCORE_BATCH: usize = 4;

/// `score --timeline`: the input opened first (a bad input is reported before any weights
/// are read), then the model, then windows streamed to the outputs asked for.
fn timeline(
    args: ScoreArgs,
    source: Source,
    device: Device,
    set: ScoreSet,
    opts: ScoreOptions,
) -> anyhow::Result<ExitCode> {
    let batch_size = args.batch_size.unwrap_or(TIMELINE_BATCH);
    if batch_size == 0 {
        bail!("--batch-size 0: at least one window per forward");
    }
    if let Some(stride) = args.stride {
        if !(stride.is_finite() && stride > 0.0) {
            bail!("--stride {stride}: must be a positive number of seconds");
        }
    }
    if let Some(plot) = &args.plot {
        let ext = plot
            .extension()
            .map(|e| e.to_string_lossy().to_ascii_lowercase());
        if !matches!(ext.as_deref(), Some("png" | "svg")) {
            bail!(
                "--plot {}: the chart is written as .png or .svg",
                plot.display()
            );
        }
    }
    // SIGINT and SIGTERM only raise the flag: the run stops decoding, scores the windows
    // already complete and writes them. A second signal leaves at once (rows already
    // written are whole: each is one write, flushed).
    let stop = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&stop);
    ctrlc::set_handler(move || {
        if flag.swap(true, Ordering::SeqCst) {
            std::process::exit(i32::from(EXIT_INTERRUPTED));
        }
    })
    .context("cannot install the SIGINT/SIGTERM handler")?;
    let mut stream = FrameStream::open(&source, Arc::clone(&stop))?;
    let name = args.model.model.as_deref().unwrap_or(DEFAULT_VIDEO_MODEL);
    let (arch, preset, input) = args.model.arch(name)?;
    let kind = if stream.is_image() {
        MediaKind::Image
    } else {
        MediaKind::Video
    };
    check_input_kind(&source.name(), kind, name, input)?;
    let stride = match args.stride {
        Some(s) => timeline::stride_frames(s, preset.frame_rate).with_context(|| {
            format!(
                "--stride {s}: not a whole number of frames at {} fps (at least one)",
                preset.frame_rate
            )
        })?,
        None => preset.clip_len,
    };
    let model = Model::load(&args.model.request(arch)?, device)?;
    let labels = model.labels().clone();
    let info = model.info();
    let columns = timeline::score_columns(&set);
    let mut file = args
        .out
        .as_deref()
        .map(|p| timeline::TimelineFile::create(p, &source, &info.name, &labels, &columns))
        .transpose()?;
    let mut trace = args
        .plot
        .as_ref()
        .map(|_| timeline::plot::Trace::new(&columns));
    for note in &info.notes {
        eprintln!("note: {note}");
    }
    if !args.json {
        let head = output::TimelineHead {
            source: &source.as_given(),
            model: &info.name,
            fps: stream.info().fps,
            clip_len: info.preset.clip_len,
            frame_rate: info.preset.frame_rate,
            stride,
            scores: &columns,
        };
        write_stdout(&output::timeline_header(&head))?;
    }
    let mut outputs = TimelineOutputs {
        json: args.json,
        labels: &labels,
        scores: &columns,
        file: file.as_mut(),
        trace: trace.as_mut(),
        notes: Vec::new(),
    };
    let options = timeline::TimelineOptions { stride, batch_size };
    let summary = timeline::run(
        &mut stream,
        &model,
        &set,
        &opts,
        &options,
        &stop,
        &mut outputs,
    )
    .with_context(|| format!("{}: timeline failed", source.name().display()))?;
    for warning in &summary.warnings {
        eprintln!("note: {warning}");
    }
    if let (Some(path), Some(trace)) = (&args.plot, &trace) {
        let title = format!("{} on {}", info.name, source.as_given());
        timeline::plot::draw(trace, path, &labels, &title)?;
    }
    eprintln!(
        "timeline: {} windows over {:.3} s of video ({} frames){}{}",
        summary.windows,
        summary.video_secs,
        summary.frames,
        file.as_ref()
            .map(|f| format!("; rows in {}", f.path().display()))
            .unwrap_or_default(),
        args.plot
            .as_ref()
            .map(|p| format!("; chart {}", p.display()))
            .unwrap_or_default(),
    );
    if summary.interrupted {
        eprintln!("timeline: interrupted; every finished window's row is written");
        return Ok(ExitCode::from(EXIT_INTERRUPTED));
    }
    Ok(ExitCode::SUCCESS)
}

/// Writes `text` to standard output and flushes it (rows appear as windows complete).
fn write_stdout(text: &str) -> gradtrust_video::Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .map_err(|e| gradtrust_video::Error::io("standard output", e))
}

/// Where a timeline's windows go: the rows file first (a row shown is a row on disk), the
/// chart's trace, then standard output as text or JSON Lines.
struct TimelineOutputs<'a> {
    json: bool,
    labels: &'a gradtrust_video::labels::Labels,
    scores: &'a [gradtrust_video::scores::ScoreName],
    file: Option<&'a mut timeline::TimelineFile>,
    trace: Option<&'a mut timeline::plot::Trace>,
    /// Score notes already shown (text mode shows each once, on stderr).
    notes: Vec<String>,
}

impl timeline::Sink for TimelineOutputs<'_> {
    fn window(&mut self, row: &timeline::WindowRow) -> gradtrust_video::Result<()> {
        if let Some(file) = self.file.as_deref_mut() {
            file.window(row)?;
        }
        if let Some(trace) = self.trace.as_deref_mut() {
            trace.window(row)?;
        }
        if self.json {
            let line = output::timeline_json_row(row, self.labels).to_string();
            return write_stdout(&(line + "\n"));
        }
        for note in row.level.scores.notes() {
            if !self.notes.contains(&note) {
                eprintln!("note: {note}");
                self.notes.push(note);
            }
        }
        write_stdout(&output::timeline_text_row(row, self.scores, self.labels))
    }
}

pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Score(args) => score(args),
        Command::Batch(args) => batch(args),
        Command::Merge(args) => merge(args).map(|()| ExitCode::SUCCESS),
        Command::Eval(args) => {
            let table = gradtrust_video::eval::run(&gradtrust_video::eval::EvalOptions {
                results: args.results,
                level: args.level,
                out: args.out,
                metric: args.metric,
                bootstrap: gradtrust_video::eval::bootstrap::Bootstrap {
                    resamples: args.bootstrap,
                    seed: args.seed,
                },
                fit_temperature: args.fit_temperature,
                scores: args.scores,
                labels: args
                    .labels
                    .as_deref()
                    .map(gradtrust_video::labels::Labels::read)
                    .transpose()?,
            })?;
            print!("{table}");
            Ok(ExitCode::SUCCESS)
        }
        Command::Models { weights } => {
            print!("{}", output::models_table(&weights.models_dir));
            Ok(ExitCode::SUCCESS)
        }
        Command::Fetch {
            model,
            weights_file,
            weights,
        } => {
            let spec = models::spec(&model)?;
            let path = source(&weights, None, weights_file).fetch(spec)?;
            println!("{}", path.display());
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn parse_devices(s: Option<&str>) -> anyhow::Result<Vec<Device>> {
    let Some(s) = s else {
        return Ok(vec![parse_device(None)?]);
    };
    let mut devices = Vec::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let device = match part {
            "cpu" => Device::Cpu,
            "cuda" => Device::Cuda(0),
            _ => match part.strip_prefix("cuda:").map(str::parse::<usize>) {
                Some(Ok(i)) => Device::Cuda(i),
                _ => bail!("--devices {s}: {part:?} is not cpu, cuda or cuda:N"),
            },
        };
        if let Device::Cuda(i) = device {
            let count = tch::Cuda::device_count() as usize;
            if i >= count {
                bail!("--devices {s}: {part} does not exist ({count} CUDA device(s) available)");
            }
        }
        // `cpu` may repeat: several CPU stages share the cores (`--threads` each).
        if device != Device::Cpu && devices.contains(&device) {
            bail!("--devices {s}: {part} given twice");
        }
        devices.push(device);
    }
    if devices.is_empty() {
        bail!("--devices {s:?}: no device given");
    }
    if devices.contains(&Device::Cpu) && devices.iter().any(|d| d.is_cuda()) {
        bail!("--devices {s}: CPU and CUDA stages cannot be mixed");
    }
    Ok(devices)
}

fn batch(args: BatchArgs) -> anyhow::Result<ExitCode> {
    let devices = parse_devices(args.devices.as_deref())?;
    let set: ScoreSet = args
        .scores
        .parse()
        .with_context(|| format!("--scores {}", args.scores))?;
    let score_options = args.score_options.options()?;
    if args.batch_size == 0 {
        bail!("--batch-size 0: at least one clip per forward");
    }
    if args.clips_per_video == Some(0) {
        bail!("--clips-per-video 0: at least one clip per video");
    }
    let shard = args
        .shard
        .as_deref()
        .map(str::parse::<lists::Shard>)
        .transpose()?;
    let name = args.model.model.as_deref().unwrap_or(DEFAULT_VIDEO_MODEL);
    let (arch, _, _) = args.model.arch(name)?;
    // The list first, with the class names known before any weights are read or downloaded
    // (the user's, or the architecture's built-in ones), so a bad list is reported first.
    let provisional = match (&args.model.labels, &arch) {
        (Some(path), _) => gradtrust_video::labels::Labels::read(path)?,
        (None, models::Arch::Registry(spec)) => {
            gradtrust_video::labels::Labels::builtin(spec.labels)
        }
        (None, models::Arch::TorchScript { .. }) => {
            gradtrust_video::labels::Labels::builtin(gradtrust_video::labels::LabelSet::Kinetics400)
        }
    };
    let mut entries = args.list.read(&provisional)?;
    let request = args.model.request(arch)?;
    // Loaded once here so the class names (from the checkpoint's class count) are known and
    // a bad weight file stops the run before the output is created; each model stage then
    // loads its own copy on its device.
    let info = Model::load(&request, devices[0])?.info().clone();
    if info.labels != provisional {
        entries = args.list.read(&info.labels)?;
    }
    let listed = entries.len();
    if let Some(n) = args.limit {
        entries.truncate(n);
    }
    if let Some(shard) = shard {
        entries.retain(|e| shard.contains(e.position));
    }
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    // A GPU does the model's work: decoding is then what limits throughput, so every core
    // but the one that feeds the GPU decodes.
    let gpu = devices.iter().any(|d| d.is_cuda());
    let decode_workers = args
        .decode_workers
        .unwrap_or(if gpu { cores - 1 } else { cores / 2 }.max(1));
    // Measured on 2 cores (scripts/bench_batch.sh): the CPU forward is the bottleneck, and
    // giving it only the cores the decode workers leave halves throughput; so every core,
    // shared by the CPU stages (libtorch's thread count is one setting for the process).
    match args.threads {
        Some(0) => bail!("--threads 0: at least one thread"),
        Some(n) => tch::set_num_threads(n as i32),
        None if !gpu => tch::set_num_threads((cores / devices.len()).max(1) as i32),
        None => {}
    }
    for note in &info.notes {
        eprintln!("batch: note: {note}");
    }
    let mut preset = info.preset.clone();
    if let Some(n) = args.clips_per_video {
        preset.clips_per_video = n;
    }
    let provenance = results::Provenance::of_run(&results::provenance::Run {
        model: &info,
        preset: &preset,
        scores: set.names(),
        options: &score_options,
        list: &args.list.list,
        limit: args.limit,
        shard,
        logits: args.logits,
    })?;
    let mode = if args.resume {
        results::WriteMode::Resume {
            retry_errors: args.retry_errors,
        }
    } else {
        results::WriteMode::Create
    };
    let (mut writer, resumed) =
        results::ResultsWriter::open(&args.out, &provenance, &info.labels, mode)?;
    report_resume(&args.out, &resumed);
    let done = &resumed.done;
    let skipped = entries.iter().filter(|e| done.contains(&e.id)).count();
    entries.retain(|e| !done.contains(&e.id));
    eprintln!(
        "batch: {} of {listed} listed videos to run{}{}, model {} on {}, {} decode worker(s), rows to {}",
        entries.len(),
        shard.map(|s| format!(" (shard {}/{})", s.index, s.count)).unwrap_or_default(),
        if skipped > 0 { format!(", {skipped} already complete") } else { String::new() },
        info.name,
        devices.iter().map(|&d| pipeline::device_name(d)).collect::<Vec<_>>().join(","),
        decode_workers,
        args.out.display()
    );
    // The engine's forwards without a graph: at most a batch (the stage's batches are that
    // size already; a longer video is split).
    let score_options = gradtrust_video::scores::ScoreOptions {
        forward_chunk: args.batch_size,
        ..score_options
    };
    let opts = pipeline::BatchOptions {
        model: request,
        info,
        devices,
        scores: set,
        score_options,
        batch_size: args.batch_size,
        decode_workers,
        clips_per_video: args.clips_per_video,
    };
    let mut progress = Progress::new(entries.len());
    let stats = pipeline::run(entries, &mut writer, &opts, &mut |s| progress.update(s))?;
    progress.finish();
    print!("{}", output::batch_summary(&stats, &args.out, skipped));
    if resumed.kept_errors > 0 {
        println!(
            "{} earlier error row(s) remain in {} (--resume --retry-errors runs them again)",
            resumed.kept_errors,
            args.out.display()
        );
    }
    // The status is the whole file's: 3 while any error row remains in it.
    Ok(if stats.videos_failed + resumed.kept_errors > 0 {
        ExitCode::from(EXIT_ROW_ERRORS)
    } else {
        ExitCode::SUCCESS
    })
}

/// What resuming changed in the file, on stderr.
fn report_resume(out: &std::path::Path, r: &results::Resumed) {
    let o = out.display();
    if !r.damaged.is_empty() {
        eprintln!(
            "batch: {o}: dropped {} damaged stretch(es); their videos run again: {}{}",
            r.damaged.len(),
            r.damaged
                .iter()
                .take(5)
                .cloned()
                .collect::<Vec<_>>()
                .join("; "),
            if r.damaged.len() > 5 { "; …" } else { "" }
        );
    }
    if r.tail_rows > 0 {
        eprintln!(
            "batch: {o}: cut off {} row(s) of an unfinished video",
            r.tail_rows
        );
    }
    if r.retried > 0 {
        eprintln!(
            "batch: {o}: removed {} error video(s) to run again",
            r.retried
        );
    }
}

fn merge(args: MergeArgs) -> anyhow::Result<()> {
    let expected = match &args.list {
        Some(list) => {
            let format = args
                .format
                .as_deref()
                .map(str::parse::<lists::ListFormat>)
                .transpose()?;
            let (_, mut entries) = lists::read_list(
                list,
                format,
                args.root.as_deref(),
                &gradtrust_video::labels::Labels::builtin(
                    gradtrust_video::labels::LabelSet::Kinetics400,
                ),
                // Ids do not depend on the classes.
                None,
            )?;
            if let Some(n) = args.limit {
                entries.truncate(n);
            }
            Some(entries.into_iter().map(|e| e.id).collect::<Vec<_>>())
        }
        None => None,
    };
    let summary = results::merge(&args.out, &args.shards, expected.as_deref(), args.force)?;
    println!(
        "merged {} videos ({} rows) from {} files into {}",
        summary.videos,
        summary.rows,
        args.shards.len(),
        args.out.display()
    );
    Ok(())
}

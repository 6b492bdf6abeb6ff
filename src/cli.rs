//! Command-line interface: the only module that knows flags. Parses them, validates them
//! into the library's types, runs the command and prints the result.
use std::path::PathBuf;

use anyhow::{bail, Context};
use clap::{Args, Parser, Subcommand};
use tch::Device;

use crate::models::{self, Model, WEIGHTS_URL_PREFIX};
use crate::scores::{GradTrustMethod, ScoreOptions, ScoreSet};
use crate::weights::WeightsSource;
use crate::{clips, output, scoring};

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
    level: crate::eval::Level,
    /// Directory for metrics.csv, metrics.json, report.md and the plots.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Metric of report.md's main table: auroc, aupr_error, aupr_success, fpr95tpr, aurc,
    /// e_aurc, augrc.
    #[arg(long, default_value = "auroc")]
    metric: crate::eval::Metric,
}

#[derive(Args, Debug)]
struct ScoreArgs {
    /// Video file (anything FFmpeg decodes).
    clip: PathBuf,
    /// torchvision model name.
    #[arg(long, default_value = "r3d_18")]
    model: String,
    /// Weight file (.pth as torchvision publishes it, or .safetensors). Default:
    /// MODELS_DIR/<torchvision file name>, downloaded if absent.
    #[arg(long)]
    weights: Option<PathBuf>,
    /// Another of the model's torchvision files, looked for and downloaded instead of the
    /// default (swin3d_b_22k-7c6ae6fa.pth for swin3d_b).
    #[arg(long, conflicts_with = "weights")]
    weights_file: Option<String>,
    /// cpu, cuda or cuda:N. Default: cuda when available.
    #[arg(long)]
    device: Option<String>,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
    /// Scores to compute: `all`, `fast` (what one forward gives) or a comma list of
    /// gradtrust, softmax, entropy, margin, log_likelihood, energy, neg_brier, grad_norm,
    /// mc_dropout, odin, purview_initial, purview_final.
    #[arg(long, default_value = "all")]
    scores: String,
    #[command(flatten)]
    score_options: ScoreOptionArgs,
    #[command(flatten)]
    weights_source: WeightsArgs,
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
        Ok(ScoreOptions {
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

fn score(args: ScoreArgs) -> anyhow::Result<()> {
    let device = parse_device(args.device.as_deref())?;
    let set: ScoreSet = args
        .scores
        .parse()
        .with_context(|| format!("--scores {}", args.scores))?;
    let opts = args.score_options.options()?;
    let spec = models::spec(&args.model)?;
    let preset = (spec.preset)();
    // Decode first: a bad clip is reported before any weights are loaded or downloaded.
    let video = clips::load_clips(&args.clip, &preset)?;
    let weights = source(
        &args.weights_source,
        args.weights.clone(),
        args.weights_file.clone(),
    )
    .resolve(spec)?;
    let mut model = Model::new(spec.name, device)?;
    model.load_weights(&weights)?;
    let report = scoring::score_video(&model, &args.clip, &video, &set, &opts)
        .with_context(|| format!("{}: scoring failed", args.clip.display()))?;
    if args.json {
        let text = serde_json::to_string_pretty(&output::report_json(&report, spec.labels))?;
        println!("{text}");
    } else {
        print!("{}", output::report_text(&report, spec.labels));
    }
    Ok(())
}

pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Score(args) => score(args),
        Command::Eval(args) => {
            let table = crate::eval::run(&crate::eval::EvalOptions {
                results: args.results,
                level: args.level,
                out: args.out,
                metric: args.metric,
            })?;
            print!("{table}");
            Ok(())
        }
        Command::Models { weights } => {
            print!("{}", output::models_table(&weights.models_dir));
            Ok(())
        }
        Command::Fetch {
            model,
            weights_file,
            weights,
        } => {
            let spec = models::spec(&model)?;
            let path = source(&weights, None, weights_file).fetch(spec)?;
            println!("{}", path.display());
            Ok(())
        }
    }
}

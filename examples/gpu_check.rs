//! The Rust half of `scripts/gpu_check.sh` (see there): CUDA against CPU for every model,
//! decode-only and forward-only throughput. Needs a CUDA device for `parity` and `forward`.
//!
//!     gpu_check parity DIR [MODEL ...]      # weights into DIR, a markdown table on stdout
//!     gpu_check decode LIST WORKERS         # clips/s of clips::load_clips with WORKERS threads
//!     gpu_check forward MODEL WEIGHTS BATCH T H W ITERATIONS   # our forward on cuda:0
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use anyhow::{bail, Context};
use gradtrust_video::models::{self, Arch, InputKind, Model, ModelRequest};
use gradtrust_video::scores::engine::{score_batch, Scored};
use gradtrust_video::scores::{ScoreName, ScoreOptions, ScoreSet};
use tch::{Device, Kind, Tensor};

#[path = "../benches/support/init.rs"]
mod init;

/// The largest relative difference CUDA may show against the CPU (TF32 off).
const TOLERANCE: f64 = 1e-3;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("parity") => parity(
            Path::new(args.get(1).context("parity DIR")?),
            &args[2..],
        ),
        Some("decode") => decode(
            Path::new(args.get(1).context("decode LIST WORKERS")?),
            args.get(2).context("decode LIST WORKERS")?.parse()?,
        ),
        Some("forward") => {
            let n = |i: usize| -> anyhow::Result<i64> {
                Ok(args
                    .get(i)
                    .context("forward MODEL WEIGHTS BATCH T H W ITERATIONS")?
                    .parse()?)
            };
            forward(
                &args[1],
                Path::new(args.get(2).context("WEIGHTS")?),
                [n(3)?, n(4)?, n(5)?, n(6)?],
                n(7)? as usize,
            )
        }
        _ => bail!("usage: gpu_check parity DIR [MODEL ...] | decode LIST WORKERS | forward MODEL WEIGHTS BATCH T H W ITERATIONS"),
    }
}

fn request(name: &str, weights: &Path) -> anyhow::Result<ModelRequest> {
    Ok(ModelRequest {
        arch: Arch::Registry(models::spec(name)?),
        weights: weights.to_path_buf().into(),
        weights_key: None,
        labels: None,
    })
}

/// The input each model is checked on: two clips of 4 frames (images: one) at 112×112, or
/// the least the model takes (S3D 13×209×209, MViT 16×224×224, ViT and MaxViT 224×224). The
/// CPU side of every score is the check's cost; larger inputs add time, not coverage.
fn input_shape(spec: &models::ModelSpec) -> [i64; 3] {
    let [t, h, w] = spec.min_input;
    let t = match spec.input {
        InputKind::Image => 1,
        InputKind::Video => t.max(4),
    };
    [t, h.max(112), w.max(112)]
}

/// Worst relative difference of two tensors: max |a − b| / max |b|.
fn rel_err(a: &Tensor, b: &Tensor) -> anyhow::Result<f64> {
    let a = a.f_to_device(Device::Cpu)?.f_to_kind(Kind::Double)?;
    let b = b.f_to_device(Device::Cpu)?.f_to_kind(Kind::Double)?;
    let diff = a.f_sub(&b)?.f_abs()?.f_max()?.f_double_value(&[])?;
    let scale = b.f_abs()?.f_max()?.f_double_value(&[])?.max(1e-12);
    Ok(diff / scale)
}

/// Every score of every sample: the worst relative difference and where (a score present
/// on one device and missing on the other counts as infinite).
fn worst_score(gpu: &Scored, cpu: &Scored) -> (f64, String) {
    let samples = gpu.clips.iter().zip(&cpu.clips).chain(
        gpu.videos
            .iter()
            .map(|v| &v.1)
            .zip(cpu.videos.iter().map(|v| &v.1)),
    );
    let mut worst = (0.0, String::from("-"));
    for (i, (g, c)) in samples.enumerate() {
        for name in ScoreName::ALL {
            let err = match (g.get(name), c.get(name)) {
                // Relative; a value below 1e-4 in magnitude (a margin between two nearly
                // equal probabilities) is compared against 1e-4 instead.
                (Some(a), Some(b)) => (a - b).abs() / b.abs().max(1e-4),
                (None, None) => 0.0,
                _ => f64::INFINITY,
            };
            if err > worst.0 || err.is_nan() {
                worst = (err, format!("sample {i} {name}"));
            }
        }
    }
    worst
}

fn parity(dir: &Path, only: &[String]) -> anyhow::Result<()> {
    if !tch::Cuda::is_available() {
        bail!("no CUDA device");
    }
    std::fs::create_dir_all(dir)?;
    println!(
        "| model | input | logits rel. err. | worst score rel. err. (where) | CPU s | CUDA s | |"
    );
    println!("|---|---|---|---|---|---|---|");
    let mut failed = Vec::new();
    for spec in models::all() {
        if !only.is_empty() && !only.iter().any(|m| m == spec.name) {
            continue;
        }
        let weights = dir.join(format!("{}.safetensors", spec.name));
        if !weights.exists() {
            tch::manual_seed(0);
            let model = Model::new(spec.name, Device::Cpu)?;
            init::randomize(&model);
            model
                .var_store()
                .context("a native model")?
                .save(&weights)
                .with_context(|| format!("writing {}", weights.display()))?;
        }
        let [t, h, w] = input_shape(spec);
        tch::manual_seed(1);
        let xs = Tensor::f_randn([2, 3, t, h, w], (Kind::Float, Device::Cpu))?;
        let set = ScoreSet::all();
        let opts = ScoreOptions::default();
        let run = |device: Device| -> anyhow::Result<(Scored, f64)> {
            let model = Model::load(&request(spec.name, &weights)?, device)?;
            let xs = xs.f_to_device(device)?;
            let start = Instant::now();
            let scored = score_batch(&model, &xs, &[0..2], &set, &opts)?;
            Ok((scored, start.elapsed().as_secs_f64()))
        };
        let (cpu, cpu_s) = run(Device::Cpu)?;
        let (gpu, gpu_s) = run(Device::Cuda(0))?;
        let logits = rel_err(&gpu.logits, &cpu.logits)?;
        let (score, at) = worst_score(&gpu, &cpu);
        let ok = logits <= TOLERANCE && score <= TOLERANCE;
        if !ok {
            failed.push(spec.name);
        }
        println!(
            "| {} | 2×3×{t}×{h}×{w} | {logits:.2e} | {score:.2e} ({at}) | {cpu_s:.1} | {gpu_s:.1} | {} |",
            spec.name,
            if ok { "ok" } else { "**FAIL**" }
        );
    }
    if !failed.is_empty() {
        bail!(
            "CUDA differs from the CPU by more than {TOLERANCE:e} for {}",
            failed.join(", ")
        );
    }
    Ok(())
}

fn decode(list: &Path, workers: usize) -> anyhow::Result<()> {
    let paths: Vec<PathBuf> = std::fs::read_to_string(list)?
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .map(|p| list.parent().unwrap_or(Path::new(".")).join(p))
        .collect();
    let preset = (models::spec("r3d_18")?.preset)();
    let next = AtomicUsize::new(0);
    let clips = AtomicUsize::new(0);
    let start = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..workers.max(1) {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(path) = paths.get(i) else { break };
                match gradtrust_video::clips::load_clips(path, &preset) {
                    Ok(v) => {
                        clips.fetch_add(v.clips.len(), Ordering::Relaxed);
                    }
                    Err(e) => eprintln!("{}: {e}", path.display()),
                }
            });
        }
    });
    let secs = start.elapsed().as_secs_f64();
    println!(
        "clips_per_s={:.1}",
        clips.load(Ordering::Relaxed) as f64 / secs
    );
    Ok(())
}

fn forward(
    name: &str,
    weights: &Path,
    [b, t, h, w]: [i64; 4],
    iterations: usize,
) -> anyhow::Result<()> {
    if !tch::Cuda::is_available() {
        bail!("no CUDA device");
    }
    let device = Device::Cuda(0);
    let model = Model::load(&request(name, weights)?, device)?;
    let xs = Tensor::f_randn([b, 3, t, h, w], (Kind::Float, device))?;
    let time = |f: &dyn Fn() -> anyhow::Result<()>| -> anyhow::Result<f64> {
        for _ in 0..3 {
            f()?;
        }
        tch::Cuda::synchronize(0);
        let start = Instant::now();
        for _ in 0..iterations {
            f()?;
        }
        tch::Cuda::synchronize(0);
        Ok((b as usize * iterations) as f64 / start.elapsed().as_secs_f64())
    };
    let forward = time(&|| {
        tch::no_grad(|| model.forward(&xs))?;
        Ok(())
    })?;
    let fast = ScoreSet::fast();
    let opts = ScoreOptions {
        forward_chunk: b as usize,
        ..ScoreOptions::default()
    };
    let scored = time(&|| {
        score_batch(&model, &xs, &[], &fast, &opts)?;
        Ok(())
    })?;
    println!("clips_per_s={forward:.1}");
    println!("fast_clips_per_s={scored:.1}");
    Ok(())
}

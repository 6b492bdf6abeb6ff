//! Forward time of one model on one clip of its preset size, CPU (random weights; time does
//! not depend on their values). `scripts/bench_models.sh` runs it per model next to
//! torchvision on the same input shape and reports the ratio and peak memory.
//!
//!   cargo bench --bench models -- --bench MODEL [ITERATIONS]
use std::time::Instant;

#[path = "support/init.rs"]
mod init;

use gradtrust_video::models::{self, InputKind, Model};
use tch::{Device, Kind, Tensor};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    // `cargo test --all-targets` runs bench targets without `--bench`: nothing to measure then.
    if !args.iter().any(|a| a == "--bench") {
        println!("models bench: run with `cargo bench --bench models -- --bench MODEL`");
        return;
    }
    let rest: Vec<&String> = args.iter().filter(|a| *a != "--bench").collect();
    let Some(name) = rest.first() else {
        eprintln!("usage: models -- --bench MODEL [ITERATIONS]");
        std::process::exit(2);
    };
    let iterations: usize = rest.get(1).and_then(|a| a.parse().ok()).unwrap_or(3);
    let spec = models::spec(name).unwrap_or_else(|e| {
        eprintln!("{e}");
        std::process::exit(2)
    });
    tch::set_num_threads(2);
    tch::manual_seed(0);
    let model = Model::new(spec.name, Device::Cpu).expect("model builds");
    init::randomize(&model);
    let preset = (spec.preset)();
    let t = match spec.input {
        InputKind::Video => preset.clip_len as i64,
        InputKind::Image => 1,
    };
    let (h, w) = (preset.crop.0 as i64, preset.crop.1 as i64);
    let xs = Tensor::randn([1, 3, t, h, w], (Kind::Float, Device::Cpu));
    let run = || {
        tch::no_grad(|| model.forward(&xs)).expect("forward");
    };
    run();
    let mut times: Vec<f64> = (0..iterations)
        .map(|_| {
            let start = Instant::now();
            run();
            start.elapsed().as_secs_f64()
        })
        .collect();
    times.sort_by(f64::total_cmp);
    println!("input=1x3x{t}x{h}x{w}");
    println!("forward_secs={:.4}", times[times.len() / 2]);
}

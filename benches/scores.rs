//! Cost of the score suite on r3d_18, CPU, one clip of 16×112×112 (batch of one, as the
//! paper's code scores one input at a time): plain inference forward, the fast set, and the
//! full suite, each the median of several runs. `scripts/bench_scores.sh` runs this next to
//! the Python reference procedure and prints the ratios.
//!
//!   cargo bench --bench scores -- --bench [ITERATIONS]
use std::time::Instant;

#[path = "support/init.rs"]
mod init;

use gradtrust_video::models::Model;
use gradtrust_video::scores::engine::score_batch;
use gradtrust_video::scores::{ScoreOptions, ScoreSet};
use tch::{Device, Kind, Tensor};

fn median_secs(iterations: usize, mut f: impl FnMut()) -> f64 {
    f(); // warm-up: allocator, oneDNN primitive caches
    let mut times: Vec<f64> = (0..iterations)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed().as_secs_f64()
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    // `cargo test --all-targets` runs bench targets without `--bench`: nothing to measure then.
    if !args.iter().any(|a| a == "--bench") {
        println!("scores bench: run with `cargo bench --bench scores -- --bench`");
        return;
    }
    let iterations: usize = args
        .iter()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(5);
    tch::set_num_threads(2);
    tch::manual_seed(0);
    let model = Model::new("r3d_18", Device::Cpu).expect("r3d_18 builds");
    init::randomize(&model);
    let xs = Tensor::randn([1, 3, 16, 112, 112], (Kind::Float, Device::Cpu));
    let opts = ScoreOptions::default();
    let forward = median_secs(iterations, || {
        tch::no_grad(|| model.forward(&xs)).expect("forward");
    });
    let fast_set = ScoreSet::fast();
    let fast = median_secs(iterations, || {
        score_batch(&model, &xs, &[], &fast_set, &opts).expect("fast set");
    });
    let all_set = ScoreSet::all();
    let full = median_secs(iterations, || {
        score_batch(&model, &xs, &[], &all_set, &opts).expect("full suite");
    });
    println!("forward_secs={forward:.4}");
    println!("fast_secs={fast:.4}");
    println!("full_secs={full:.4}");
}

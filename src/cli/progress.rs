//! What the user sees of a run while it works: on a terminal, a display redrawn every
//! second (elapsed time, the stage or the video at work, rate, ETA); otherwise plain log
//! lines; with `--quiet`, nothing.
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressState, ProgressStyle};

use gradtrust_video::scores::engine::Step;
use gradtrust_video::{output, pipeline};

/// How often a terminal display is redrawn even when nothing reports: the elapsed time and
/// the ETA move while one long video or one backward pass runs.
const TICK: Duration = Duration::from_millis(250);

/// A progress bar on stderr, or `None` where stderr is no terminal indicatif can draw on
/// (not a TTY, or `TERM=dumb`): the caller logs plain lines there instead.
fn terminal_bar(bar: ProgressBar) -> Option<ProgressBar> {
    (!bar.is_hidden()).then_some(bar)
}

/// Clips per second, or seconds per clip below one clip a second (a slow model on a CPU
/// reads better as `4.2 s/clip` than `0.2 clips/s`).
fn rate(clips: u64, elapsed: Duration) -> String {
    let secs = elapsed.as_secs_f64();
    match clips {
        0 => "– clips/s".into(),
        _ if clips as f64 >= secs => format!("{:.1} clips/s", clips as f64 / secs.max(1e-9)),
        _ => format!("{:.1} s/clip", secs / clips as f64),
    }
}

/// Time left at the run's average pace so far: `?` before the first video is written.
fn eta(done: u64, total: u64, elapsed: Duration) -> String {
    if done == 0 {
        return "?".into();
    }
    let left = total.saturating_sub(done) as f64;
    output::duration(elapsed.as_secs_f64() / done as f64 * left)
}

/// The bar's second line while no stage is scoring.
const WAITING: &str = "waiting for decoded videos";

/// `batch`'s display: a bar on a terminal, a log line every 10 s otherwise.
pub struct Progress {
    bar: Option<ProgressBar>,
    /// Clips written so far, which the bar's rate reads at every redraw.
    clips: Arc<AtomicU64>,
    quiet: bool,
    last_log: Instant,
}

impl Progress {
    pub fn new(total: usize, quiet: bool) -> Progress {
        let clips = Arc::new(AtomicU64::new(0));
        let bar = if quiet {
            None
        } else {
            terminal_bar(ProgressBar::new(total as u64))
        };
        if let Some(bar) = &bar {
            let counted = Arc::clone(&clips);
            let style = ProgressStyle::with_template(
                "[{elapsed_precise}] {bar:25} {pos}/{len} videos  {rate}  {prefix}  ETA {left}\n{wide_msg}",
            )
            .map(|style| {
                style
                    .with_key("rate", move |s: &ProgressState, w: &mut dyn std::fmt::Write| {
                        let _ = w.write_str(&rate(counted.load(Ordering::Relaxed), s.elapsed()));
                    })
                    .with_key("left", |s: &ProgressState, w: &mut dyn std::fmt::Write| {
                        let total = s.len().unwrap_or(0);
                        let _ = w.write_str(&eta(s.pos(), total, s.elapsed()));
                    })
            })
            .unwrap_or_else(|_| ProgressStyle::default_bar());
            bar.set_style(style);
            bar.set_prefix("0 error(s)");
            bar.set_message(WAITING);
            bar.enable_steady_tick(TICK);
        }
        Progress {
            bar,
            clips,
            quiet,
            last_log: Instant::now(),
        }
    }

    pub fn update(&mut self, s: &pipeline::Stats) {
        self.clips.store(s.clips as u64, Ordering::Relaxed);
        if let Some(bar) = &self.bar {
            bar.set_position(s.videos_done as u64);
            bar.set_prefix(format!("{} error(s)", s.videos_failed));
            let now: Vec<&str> = s.scoring_now().collect();
            bar.set_message(if now.is_empty() {
                WAITING.to_string()
            } else {
                format!("scoring {}", now.join(", "))
            });
            return;
        }
        if self.quiet {
            return;
        }
        if self.last_log.elapsed() >= Duration::from_secs(10) || s.videos_done == s.videos_total {
            self.last_log = Instant::now();
            eprintln!(
                "batch: {}/{} videos, {}, {} error(s), {} elapsed, ETA {}",
                s.videos_done,
                s.videos_total,
                rate(s.clips as u64, s.elapsed),
                s.videos_failed,
                output::duration(s.elapsed.as_secs_f64()),
                eta(s.videos_done as u64, s.videos_total as u64, s.elapsed)
            );
        }
    }

    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.set_message("");
            bar.finish();
        }
    }
}

/// `score`'s display on a terminal: a spinner naming the stage at work (decoding, loading
/// the model, each forward and backward of the score engine's plan) with the elapsed time.
/// Nothing otherwise: `score`'s stderr then holds only notes and errors.
pub struct Stages {
    bar: Option<ProgressBar>,
}

impl Stages {
    pub fn new(quiet: bool) -> Stages {
        let bar = if quiet {
            None
        } else {
            terminal_bar(ProgressBar::new_spinner())
        };
        if let Some(bar) = &bar {
            bar.set_style(
                ProgressStyle::with_template("{spinner} [{elapsed_precise}] score: {wide_msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            bar.enable_steady_tick(TICK);
        }
        Stages { bar }
    }

    /// A stage the command runs itself (decoding, loading the model).
    pub fn stage(&self, what: String) {
        if let Some(bar) = &self.bar {
            bar.set_message(what);
        }
    }

    /// A step of the score engine's plan (the observer given to the library).
    pub fn step(&self, step: Step) {
        let Some(bar) = &self.bar else { return };
        let text = match step {
            Step::Forward { chunk, of } => format!("forward {chunk}/{of}"),
            Step::GraphForward { pass, of } => format!("forward with gradients, pass {pass}/{of}"),
            Step::Backward { what, n, of } => format!("backward {n}/{of} ({what})"),
            Step::PerturbedForward { pass, of } => {
                format!("ODIN's perturbed forward, pass {pass}/{of}")
            }
            Step::Assembling => "scores from the outputs".to_owned(),
        };
        bar.set_message(text);
    }

    /// Clears the display before the result is printed.
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

impl Drop for Stages {
    /// An error ends the command early: the spinner's line goes before the error is printed.
    fn drop(&mut self) {
        self.finish();
    }
}

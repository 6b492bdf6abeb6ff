//! What the user sees of a run while it works: a progress bar on a terminal, plain log lines
//! otherwise.
use std::io::IsTerminal;
use std::time::{Duration, Instant};

use gradtrust_video::{output, pipeline};

/// A progress bar on a terminal, a log line every 10 s otherwise.
pub struct Progress {
    bar: Option<indicatif::ProgressBar>,
    last_log: Instant,
}

impl Progress {
    pub fn new(total: usize) -> Progress {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = indicatif::ProgressBar::new(total as u64);
            bar.set_style(
                indicatif::ProgressStyle::with_template(
                    "{bar:30} {pos}/{len} videos  {msg}  ETA {eta}",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            bar
        });
        Progress {
            bar,
            last_log: Instant::now(),
        }
    }

    pub fn update(&mut self, s: &pipeline::Stats) {
        let secs = s.elapsed.as_secs_f64().max(1e-9);
        let line = format!(
            "{:.1} clips/s, {} error(s)",
            s.clips as f64 / secs,
            s.videos_failed
        );
        match &self.bar {
            Some(bar) => {
                bar.set_position(s.videos_done as u64);
                bar.set_message(line);
            }
            None => {
                if self.last_log.elapsed() >= Duration::from_secs(10)
                    || s.videos_done == s.videos_total
                {
                    self.last_log = Instant::now();
                    let left = s.videos_total - s.videos_done;
                    let eta = secs / s.videos_done.max(1) as f64 * left as f64;
                    eprintln!(
                        "batch: {}/{} videos, {line}, ETA {}",
                        s.videos_done,
                        s.videos_total,
                        output::duration(eta)
                    );
                }
            }
        }
    }

    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish();
        }
    }
}

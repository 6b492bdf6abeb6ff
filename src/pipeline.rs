//! The batch run's wiring (no stage logic of its own):
//!
//! ```text
//! list entries ─▶ decode workers (N threads, clips::load_clips; images::load_image for an
//!                 image model)
//!                    │  bounded channel of decoded videos (backpressure: at most
//!                    ▼  `queue` videos wait, so memory does not grow with the list)
//!                 one model stage per device: greedily batches clips across videos up to
//!                 `batch_size`, scoring::score_staged (to a GPU: the next batch's copy
//!                 queued from pinned memory before the current batch is scored)
//!                    │  results (rows only, small)
//!                    ▼
//!                 writer (the calling thread): puts videos back in list order, appends each
//!                 video's rows once complete and flushes (results::ResultsWriter), reports
//!                 progress
//! ```
//!
//! A problem with one video (missing file, unknown label, undecodable, a failed forward) is
//! that video's error row and the run goes on; only what stops every video (weights that do
//! not load, an output file that cannot be written) ends the run with an error.
//! `decode_workers == 0` decodes and scores one video after another on the model stage's
//! thread: the no-overlap baseline the pipeline is measured against.
//!
//! Stages share nothing but the channels: MC-Dropout draws from per-sample generators, not
//! libtorch's global one, so no stage waits for another (`--devices cpu,cpu` runs two CPU
//! stages side by side). A failed batch of several videos (an error, a CUDA out-of-memory,
//! even a panic) is retried one video at a time; a video that still fails gets its error
//! row. Each stage reports when it scored each batch; the summary gives every stage's busy
//! time and how long stages scored at the same time.
use std::collections::BTreeMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, unbounded, Receiver, Sender};
use tch::Device;

use crate::clips::{self, VideoClips};
use crate::lists::Entry;
use crate::models::{InputKind, Model, ModelInfo, ModelRequest};
use crate::preset::Preset;
use crate::results::{self as rows, ResultsWriter, Row, VideoInfo};
use crate::scores::{ScoreName, ScoreOptions, ScoreSet};
use crate::scoring;
use crate::{Error, Result};

/// How a batch run runs (validated by the CLI).
#[derive(Clone, Debug)]
pub struct BatchOptions {
    /// What each model stage loads.
    pub model: ModelRequest,
    /// The loaded model's facts (name, input kind, preset), as the caller's load found them.
    pub info: ModelInfo,
    /// One model stage per device.
    pub devices: Vec<Device>,
    pub scores: ScoreSet,
    pub score_options: ScoreOptions,
    /// Most clips per forward (a video longer than this is scored alone).
    pub batch_size: usize,
    /// Decoding threads; 0 = decode and score one video after another, no overlap.
    pub decode_workers: usize,
    /// Overrides the model preset's clips per video.
    pub clips_per_video: Option<usize>,
}

/// Counts of a run so far.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Stats {
    /// Videos this run is to process (after --resume skipped the complete ones).
    pub videos_total: usize,
    /// Videos written so far.
    pub videos_done: usize,
    pub videos_ok: usize,
    pub videos_failed: usize,
    pub clips: usize,
    /// Labelled clip rows and how many were top-1 / top-5 correct.
    pub clips_labelled: usize,
    pub clips_correct: usize,
    pub clips_correct_top5: usize,
    /// Labelled ok videos: correct by the clip-averaged model and by torchvision's fusion.
    pub videos_labelled: usize,
    pub videos_correct: usize,
    pub videos_correct_top5: usize,
    pub videos_correct_softmax_sum: usize,
    pub elapsed: Duration,
    /// The first few error statuses.
    pub error_examples: Vec<String>,
    /// Each model stage's work, in `devices` order.
    pub stages: Vec<StageStats>,
}

/// What one model stage did: its scoring intervals as it timed them.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StageStats {
    /// The stage's device (`cpu`, `cuda:0`).
    pub device: String,
    pub batches: usize,
    pub clips: usize,
    /// Each batch's scoring, from the run's start.
    pub intervals: Vec<(Duration, Duration)>,
    /// The file names of the videos the stage is scoring now (empty between batches), for
    /// a progress display.
    pub scoring: Vec<String>,
}

impl StageStats {
    /// Total time spent scoring.
    pub fn busy(&self) -> Duration {
        self.intervals
            .iter()
            .map(|(a, b)| b.saturating_sub(*a))
            .sum()
    }
}

impl Stats {
    /// The file names of the videos being scored now, stage by stage.
    pub fn scoring_now(&self) -> impl Iterator<Item = &str> {
        self.stages
            .iter()
            .flat_map(|s| s.scoring.iter().map(String::as_str))
    }

    /// Time during which at least two stages were scoring at once (0 for one stage).
    pub fn stages_overlap(&self) -> Duration {
        // Sweep over interval ends: +1 at a start, −1 at an end.
        let mut events: Vec<(Duration, i32)> = self
            .stages
            .iter()
            .flat_map(|s| s.intervals.iter().flat_map(|&(a, b)| [(a, 1), (b, -1)]))
            .collect();
        events.sort();
        let (mut active, mut last, mut overlap) = (0, Duration::ZERO, Duration::ZERO);
        for (t, delta) in events {
            if active >= 2 {
                overlap += t.saturating_sub(last);
            }
            active += delta;
            last = t;
        }
        overlap
    }
}

impl Stats {
    fn add(&mut self, rows: &[Row]) {
        self.videos_done += 1;
        let Some(video) = rows.last() else { return };
        if !video.is_ok() {
            self.videos_failed += 1;
            if self.error_examples.len() < 5 {
                self.error_examples
                    .push(format!("{}: {}", video.video.id, video.status));
            }
            return;
        }
        self.videos_ok += 1;
        let label = video.video.label_index;
        let top1 = |r: &Row| r.pred.as_ref().and_then(|p| p.top5.first().copied());
        let top5 = |r: &Row, l| r.pred.as_ref().is_some_and(|p| p.top5.contains(&l));
        for clip in &rows[..rows.len() - 1] {
            self.clips += 1;
            if let Some(l) = label {
                self.clips_labelled += 1;
                self.clips_correct += usize::from(top1(clip) == Some(l));
                self.clips_correct_top5 += usize::from(top5(clip, l));
            }
        }
        if let Some(l) = label {
            self.videos_labelled += 1;
            self.videos_correct += usize::from(top1(video) == Some(l));
            self.videos_correct_top5 += usize::from(top5(video, l));
            self.videos_correct_softmax_sum += usize::from(
                video
                    .pred_softmax_sum
                    .as_ref()
                    .and_then(|p| p.top5.first().copied())
                    == Some(l),
            );
        }
    }
}

/// A listed video on its way through the stages.
struct Job {
    seq: usize,
    entry: Entry,
}

struct Decoded {
    seq: usize,
    info: VideoInfo,
    path: PathBuf,
    clips: VideoClips,
    decode_secs: f64,
}

enum Msg {
    /// Stage `stage` starts scoring the videos named `videos` (file names).
    Scoring {
        stage: usize,
        videos: Vec<String>,
    },
    Video {
        seq: usize,
        rows: Vec<Row>,
    },
    /// Stage `stage` scored a batch of `clips` clips from `start` to `end` (since the run's
    /// start).
    Busy {
        stage: usize,
        clips: usize,
        start: Duration,
        end: Duration,
    },
    Fatal(Error),
}

fn info_of(entry: &Entry, model: &str) -> VideoInfo {
    VideoInfo {
        id: entry.id.clone(),
        path: entry
            .path
            .as_deref()
            .map(|p| p.display().to_string())
            .unwrap_or_default(),
        model: model.to_string(),
        label_index: entry.label_index,
        label: entry.label.clone(),
    }
}

/// Runs `entries` (already sharded, limited and without the resumed ones) and appends their
/// rows to `writer` in list order; `progress` is called after each written video and when a
/// stage starts scoring a batch ([`StageStats::scoring`]).
pub fn run(
    entries: Vec<Entry>,
    writer: &mut ResultsWriter,
    opts: &BatchOptions,
    progress: &mut dyn FnMut(&Stats),
) -> Result<Stats> {
    let mut preset = opts.info.preset.clone();
    if let Some(n) = opts.clips_per_video {
        preset.clips_per_video = n;
    }
    let start = Instant::now();
    let mut stats = Stats {
        videos_total: entries.len(),
        stages: opts
            .devices
            .iter()
            .map(|d| StageStats {
                device: device_name(*d),
                ..StageStats::default()
            })
            .collect(),
        ..Stats::default()
    };
    if entries.is_empty() {
        return Ok(stats);
    }
    let (job_tx, job_rx) = unbounded::<Job>();
    for (seq, entry) in entries.into_iter().enumerate() {
        // The receiver is alive: cannot fail.
        let _ = job_tx.send(Job { seq, entry });
    }
    drop(job_tx);
    // Enough decoded videos to fill a batch on every device, plus one in hand per worker.
    let per_video = preset.clips_per_video.max(1);
    let queue = (opts.batch_size.div_ceil(per_video) * opts.devices.len())
        .max(2)
        .max(opts.decode_workers);
    let (decoded_tx, decoded_rx) = bounded::<Decoded>(queue);
    let (msg_tx, msg_rx) = unbounded::<Msg>();
    let stop = AtomicBool::new(false);
    let scores = opts.scores.names().to_vec();
    // Decoded clips wait in pinned host memory when a stage is a GPU: its copy to the device
    // is then asynchronous (see scoring::stage).
    let pin_for = opts.devices.iter().copied().find(|d| d.is_cuda());

    std::thread::scope(|s| -> Result<Stats> {
        for _ in 0..opts.decode_workers {
            let (job_rx, decoded_tx, msg_tx) = (job_rx.clone(), decoded_tx.clone(), msg_tx.clone());
            let (preset, stop, scores) = (&preset, &stop, &scores);
            s.spawn(move || {
                while let Ok(job) = job_rx.recv() {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let sent = match decode(job, preset, &opts.info, scores, pin_for) {
                        Ok(d) => decoded_tx.send(d).is_ok(),
                        Err(msg) => msg_tx.send(msg).is_ok(),
                    };
                    if !sent {
                        break;
                    }
                }
            });
        }
        drop(decoded_tx);
        for (index, &device) in opts.devices.iter().enumerate() {
            let stage = Stage {
                index,
                device,
                start,
                opts,
                preset: &preset,
                scores: &scores,
                msg_tx: msg_tx.clone(),
                stop: &stop,
            };
            let source = if opts.decode_workers == 0 {
                Source::Jobs(job_rx.clone())
            } else {
                Source::Decoded(decoded_rx.clone())
            };
            s.spawn(move || {
                let model = match load_model(opts, device) {
                    Ok(m) => m,
                    Err(e) => {
                        let _ = stage.msg_tx.send(Msg::Fatal(e));
                        return;
                    }
                };
                stage.run(&model, source);
            });
        }
        drop((msg_tx, decoded_rx, job_rx));

        // Writer: list order, each video once complete.
        let mut pending: BTreeMap<usize, Vec<Row>> = BTreeMap::new();
        let mut next = 0;
        let result = (|| -> Result<()> {
            for msg in msg_rx.iter() {
                match msg {
                    Msg::Fatal(e) => return Err(e),
                    Msg::Video { seq, rows } => {
                        pending.insert(seq, rows);
                    }
                    Msg::Scoring { stage, videos } => {
                        if let Some(st) = stats.stages.get_mut(stage) {
                            st.scoring = videos;
                        }
                        stats.elapsed = start.elapsed();
                        progress(&stats);
                    }
                    Msg::Busy {
                        stage,
                        clips,
                        start,
                        end,
                    } => {
                        if let Some(st) = stats.stages.get_mut(stage) {
                            st.batches += 1;
                            st.clips += clips;
                            st.intervals.push((start, end));
                            st.scoring.clear();
                        }
                    }
                }
                while let Some(rows) = pending.remove(&next) {
                    writer.write_video(&rows)?;
                    stats.add(&rows);
                    stats.elapsed = start.elapsed();
                    next += 1;
                    progress(&stats);
                }
            }
            Ok(())
        })();
        if result.is_err() {
            stop.store(true, Ordering::Relaxed);
        }
        drop(msg_rx);
        result?;
        if stats.videos_done != stats.videos_total {
            return Err(Error::Invalid(format!(
                "batch: only {} of {} videos came back from the pipeline",
                stats.videos_done, stats.videos_total
            )));
        }
        stats.elapsed = start.elapsed();
        Ok(stats)
    })
}

fn load_model(opts: &BatchOptions, device: Device) -> Result<Model> {
    Model::load(&opts.model, device)
}

/// `cpu`, `cuda:0`: as `--devices` names it.
pub fn device_name(device: Device) -> String {
    match device {
        Device::Cuda(i) => format!("cuda:{i}"),
        other => format!("{other:?}").to_lowercase(),
    }
}

/// Where a model stage takes its videos from.
enum Source {
    /// Decoded by the workers.
    Decoded(Receiver<Decoded>),
    /// Listed entries, decoded here one at a time (no overlap).
    Jobs(Receiver<Job>),
}

/// Decodes one listed video, or says why it cannot be run.
fn decode(
    job: Job,
    preset: &Preset,
    model: &ModelInfo,
    scores: &[ScoreName],
    pin_for: Option<Device>,
) -> std::result::Result<Decoded, Msg> {
    let info = info_of(&job.entry, &model.name);
    let fail = |status: &str, secs: f64| Msg::Video {
        seq: job.seq,
        rows: vec![rows::error_row(&info, scores, status, secs)],
    };
    if let Some(e) = &job.entry.error {
        return Err(fail(e, 0.0));
    }
    let Some(path) = job.entry.path.clone() else {
        return Err(fail("no file", 0.0));
    };
    let t = Instant::now();
    // An image model scores each listed image as a one-frame clip (ImageNet validation).
    let is_image = model.input == InputKind::Image;
    let loaded = if is_image {
        crate::images::load_image(&path, preset)
    } else {
        clips::load_clips(&path, preset)
    }
    .and_then(|mut clips| {
        if let Some(device) = pin_for {
            clips.tensor = clips.tensor.f_pin_memory(device)?;
        }
        Ok(clips)
    });
    match loaded {
        Ok(clips) => Ok(Decoded {
            seq: job.seq,
            info,
            path,
            clips,
            decode_secs: t.elapsed().as_secs_f64(),
        }),
        Err(e) => Err(fail(&e.to_string(), t.elapsed().as_secs_f64())),
    }
}

/// What a model stage works with besides its model.
struct Stage<'a> {
    /// Its position in `devices` (the summary's order).
    index: usize,
    device: Device,
    /// The run's start, which the stage's timestamps count from.
    start: Instant,
    opts: &'a BatchOptions,
    preset: &'a Preset,
    scores: &'a [ScoreName],
    msg_tx: Sender<Msg>,
    stop: &'a AtomicBool,
}

/// A batch and its clips staged on the device (or why staging failed).
type Staged = (Vec<Decoded>, Result<tch::Tensor>);

impl Stage<'_> {
    fn run(&self, model: &Model, source: Source) {
        let mut carry: Option<Decoded> = None;
        let mut next: Option<Staged> = None;
        loop {
            if self.stop.load(Ordering::Relaxed) {
                return;
            }
            let (batch, xs) = match next.take() {
                Some(staged) => staged,
                None => match self.next_batch(&source, &mut carry, true) {
                    Some(Ok(batch)) => self.staged(batch),
                    Some(Err(msg)) => {
                        if self.msg_tx.send(msg).is_err() {
                            return;
                        }
                        continue;
                    }
                    None => return,
                },
            };
            // A GPU: queue the next batch's copy (whatever is already decoded) before this
            // batch's forward, so the stage never waits on a transfer.
            if self.device.is_cuda() && matches!(source, Source::Decoded(_)) {
                if let Some(Ok(more)) = self.next_batch(&source, &mut carry, false) {
                    next = Some(self.staged(more));
                }
            }
            let names = batch.iter().map(|d| crate::file_name(&d.path)).collect();
            if self
                .msg_tx
                .send(Msg::Scoring {
                    stage: self.index,
                    videos: names,
                })
                .is_err()
            {
                return;
            }
            let started = self.start.elapsed();
            let clips = batch.iter().map(|d| d.clips.clips.len()).sum();
            let msgs = score(model, batch, xs, self.opts, self.scores);
            let busy = Msg::Busy {
                stage: self.index,
                clips,
                start: started,
                end: self.start.elapsed(),
            };
            for msg in std::iter::once(busy).chain(msgs) {
                if self.msg_tx.send(msg).is_err() {
                    return;
                }
            }
        }
    }

    fn staged(&self, batch: Vec<Decoded>) -> Staged {
        let inputs: Vec<(&Path, &VideoClips)> =
            batch.iter().map(|d| (d.path.as_path(), &d.clips)).collect();
        let xs = scoring::stage(&inputs, self.device);
        (batch, xs)
    }

    /// The next batch: the videos waiting, up to the batch size (`block`: wait for the
    /// first). `None` when the source is exhausted (or, not blocking, empty); `Err` carries
    /// the error row of a video that could not be decoded.
    fn next_batch(
        &self,
        source: &Source,
        carry: &mut Option<Decoded>,
        block: bool,
    ) -> Option<std::result::Result<Vec<Decoded>, Msg>> {
        match source {
            Source::Jobs(jobs) => {
                let job = if block {
                    jobs.recv().ok()?
                } else {
                    jobs.try_recv().ok()?
                };
                Some(decode(job, self.preset, &self.opts.info, self.scores, None).map(|d| vec![d]))
            }
            Source::Decoded(rx) => {
                let first = match carry.take() {
                    Some(d) => d,
                    None if block => rx.recv().ok()?,
                    None => rx.try_recv().ok()?,
                };
                let mut clips = first.clips.clips.len();
                let mut batch = vec![first];
                // Whatever is already decoded, up to the batch size; no waiting.
                while clips < self.opts.batch_size {
                    let Ok(d) = rx.try_recv() else { break };
                    if clips + d.clips.clips.len() > self.opts.batch_size {
                        *carry = Some(d);
                        break;
                    }
                    clips += d.clips.clips.len();
                    batch.push(d);
                }
                Some(Ok(batch))
            }
        }
    }
}

/// Scores a batch of videos together (`xs`: their clips staged on the model's device); if
/// that fails (an error, a CUDA out-of-memory, a panic), each alone, so one bad video only
/// fails itself and a batch too large for the device's memory is scored video by video.
fn score(
    model: &Model,
    batch: Vec<Decoded>,
    xs: Result<tch::Tensor>,
    opts: &BatchOptions,
    scores: &[ScoreName],
) -> Vec<Msg> {
    let t = Instant::now();
    let inputs: Vec<(&Path, &VideoClips)> =
        batch.iter().map(|d| (d.path.as_path(), &d.clips)).collect();
    let together = xs.and_then(|xs| {
        catch_unwind(AssertUnwindSafe(|| {
            scoring::score_staged(model, &inputs, &xs, &opts.scores, &opts.score_options)
        }))
        .unwrap_or_else(|panic| {
            let what = panic
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| panic.downcast_ref::<&str>().copied())
                .unwrap_or("unknown");
            Err(Error::Invalid(format!("internal error (a bug): {what}")))
        })
    });
    let secs = t.elapsed().as_secs_f64();
    let total_clips: usize = batch.iter().map(|d| d.clips.clips.len()).sum();
    match together {
        Ok(reports) => batch
            .iter()
            .zip(reports)
            .map(|(d, report)| {
                let share = secs * d.clips.clips.len() as f64 / total_clips.max(1) as f64;
                Msg::Video {
                    seq: d.seq,
                    rows: rows::video_rows(&d.info, &report, scores, d.decode_secs + share),
                }
            })
            .collect(),
        Err(e) if batch.len() == 1 => {
            let d = &batch[0];
            vec![Msg::Video {
                seq: d.seq,
                rows: vec![rows::error_row(
                    &d.info,
                    scores,
                    &format!("{}: scoring failed: {e}", d.path.display()),
                    d.decode_secs + secs,
                )],
            }]
        }
        Err(_) => batch
            .into_iter()
            .flat_map(|d| {
                let one = [(d.path.as_path(), &d.clips)];
                let xs = scoring::stage(&one, model.device());
                score(model, vec![d], xs, opts, scores)
            })
            .collect(),
    }
}

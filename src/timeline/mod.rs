//! `score --timeline`: a whole video scored window by window while it is decoded — a file, a
//! pipe or a URL alike, front to back, never seeking.
//!
//! Frames come from [`FrameStream`]; [`windows::Resampler`] decides, as they arrive, which
//! of them the preset's frame rate keeps (the picks of `sampling::resample_indices`);
//! [`windows::Windower`] cuts the resampled frames into windows of `clip_len` every `stride`.
//! A resampled frame is converted to RGB and transformed with the preset once, when the first
//! window that uses it is complete; complete windows wait in a batch of at most
//! `batch_size`, which goes through the score engine in one call; each scored window is
//! handed to a [`Sink`] (printing, a rows file, the plot's trace) in order.
//!
//! Memory is flat in the video's length: held are the decoded frames from the oldest one a
//! resampled frame may still take (a frame or two), the resampled frames of the windows still
//! open (at most `clip_len`, plus the one that ends the last window), the batch, and what
//! the sinks keep (the plot's trace: a few numbers per window).
//!
//! Stopping: the `stop` flag (set by the CLI on SIGINT / SIGTERM) is read before each frame;
//! once it is set no more is decoded, the windows already complete are scored and handed on,
//! and [`Summary::interrupted`] says so. A window is handed on only when scored, so every
//! row a sink writes is a finished window.
use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use tch::Tensor;

use crate::decode::stream::{FrameStream, Source, StreamFrame};
use crate::labels::Labels;
use crate::models::Model;
use crate::prediction;
use crate::results::{self, RowFormat};
use crate::scores::engine::score_samples;
use crate::scores::{SampleId, SampleIds};
use crate::scores::{ScoreName, ScoreOptions, ScoreSet};
use crate::scoring::Level;
use crate::transforms::{rgb_tensor, FrameTransform};
use crate::{Error, Result};

pub mod plot;
pub mod windows;

pub use windows::WindowKind;
use windows::{Resampler, WindowPlan, Windower};

const TOP_K: i64 = 5;

/// How the video is cut and batched.
#[derive(Clone, Copy, Debug)]
pub struct TimelineOptions {
    /// Resampled frames from one window's start to the next (at least 1).
    pub stride: usize,
    /// Most windows per forward (at least 1).
    pub batch_size: usize,
}

/// `seconds` between window starts as resampled frames at `frame_rate`, rounded; `None` when
/// that is not a positive whole number of frames.
pub fn stride_frames(seconds: f64, frame_rate: f64) -> Option<usize> {
    let frames = (seconds * frame_rate).round();
    (seconds.is_finite() && (1.0..1e12).contains(&frames)).then_some(frames as usize)
}

/// The score columns of a run with `set`, in the order every output uses
/// ([`ScoreName::ALL`] order, as the results files have them).
pub fn score_columns(set: &ScoreSet) -> Vec<ScoreName> {
    let mut names = set.names().to_vec();
    names.sort();
    names.dedup();
    names
}

/// One scored window.
#[derive(Clone, Debug)]
pub struct WindowRow {
    /// Its row: 0, 1, 2, …
    pub position: usize,
    /// Its first resampled frame (the candidate window index of `sampling`).
    pub start: usize,
    /// First and last decoded frame it uses.
    pub frames: [usize; 2],
    /// From its first frame's time to the time of the resampled frame after its last (or the
    /// end of the video), seconds since the first frame.
    pub secs: [f64; 2],
    pub kind: WindowKind,
    pub level: Level,
    /// Decoding since the previous window plus its share of the batch's forward.
    pub seconds: f64,
}

/// Where scored windows go, one at a time, in order.
pub trait Sink {
    fn window(&mut self, row: &WindowRow) -> Result<()>;
}

/// What a run did.
#[derive(Clone, Debug, Default)]
pub struct Summary {
    pub windows: usize,
    /// Frames decoded, and how many the resampling kept.
    pub frames: usize,
    pub resampled: usize,
    /// Seconds of video decoded (to the end of the last frame).
    pub video_secs: f64,
    /// The stop flag ended the run early.
    pub interrupted: bool,
    /// Decoding problems that did not stop it.
    pub warnings: Vec<String>,
}

/// Scores `stream` window by window with `model`, handing each window to `sink` as soon as
/// its batch is scored (see the module notes); `stop` ends the run early.
pub fn run(
    stream: &mut FrameStream,
    model: &Model,
    set: &ScoreSet,
    opts: &ScoreOptions,
    options: &TimelineOptions,
    stop: &AtomicBool,
    sink: &mut dyn Sink,
) -> Result<Summary> {
    if stream.is_image() {
        return Err(Error::decode(
            stream.name(),
            "is a single picture, not a video: a timeline needs a video",
        ));
    }
    let preset = model.info().preset.clone();
    let fps = stream.info().fps;
    if !(fps.is_finite() && fps > 0.0) {
        return Err(Error::decode(
            stream.name(),
            format!("invalid frame rate {fps}"),
        ));
    }
    if preset.clip_len == 0 || !(preset.frame_rate.is_finite() && preset.frame_rate > 0.0) {
        return Err(Error::Invalid(format!(
            "model {}: its preset has no usable clip length or frame rate",
            model.info().name
        )));
    }
    let mut runner = Runner {
        source: crate::file_name(stream.name()),
        transform: FrameTransform::new(&preset)?,
        resampler: Resampler::new(fps, preset.frame_rate),
        windower: Windower::new(preset.clip_len, options.stride),
        batch_size: options.batch_size.max(1),
        fps,
        model,
        set,
        opts,
        recent: VecDeque::new(),
        held: VecDeque::new(),
        pending: Vec::new(),
        clock: Instant::now(),
        seen: 0,
        last_secs: 0.0,
        windows: 0,
    };
    let interrupted = loop {
        if stop.load(Ordering::SeqCst) {
            break true;
        }
        let Some(frame) = stream.next_frame()? else {
            break stream.interrupted();
        };
        runner.take(stream, frame, sink)?;
    };
    if !interrupted {
        if runner.seen == 0 {
            let reason = match stream.warnings().first() {
                Some(w) => format!("no decodable video frames ({w})"),
                None => "no decodable video frames".to_owned(),
            };
            return Err(Error::decode(stream.name(), reason));
        }
        runner.finish(stream)?;
    }
    runner.flush(sink)?;
    Ok(Summary {
        windows: runner.windows,
        frames: runner.seen,
        resampled: runner.resampler.made(),
        video_secs: runner.video_end(),
        interrupted,
        warnings: stream.warnings().to_vec(),
    })
}

/// A resampled frame held for the windows that use it.
struct Held {
    /// Resampled position.
    j: usize,
    /// Decoded frame index and time.
    index: usize,
    secs: f64,
    /// The decoded picture until it is transformed.
    frame: Option<Rc<StreamFrame>>,
    /// Normalized float32 `[3, crop_h, crop_w]`.
    crop: Option<Tensor>,
}

/// A complete window waiting for its batch.
struct Ready {
    plan: WindowPlan,
    /// float32 `[3, clip_len, crop_h, crop_w]`.
    clip: Tensor,
    frames: [usize; 2],
    secs: [f64; 2],
    seconds: f64,
}

struct Runner<'a> {
    /// The input's name: with a window's position, the identity MC-Dropout's masks follow,
    /// so a window's scores do not depend on which batch it lands in (`batch_size`).
    source: String,
    model: &'a Model,
    set: &'a ScoreSet,
    opts: &'a ScoreOptions,
    transform: FrameTransform,
    resampler: Resampler,
    windower: Windower,
    batch_size: usize,
    fps: f64,
    /// Decoded frames a resampled frame may still take (the newest always kept).
    recent: VecDeque<Rc<StreamFrame>>,
    /// Resampled frames, consecutive positions.
    held: VecDeque<Held>,
    pending: Vec<Ready>,
    /// Decoding time since the last window was made ready.
    clock: Instant,
    seen: usize,
    last_secs: f64,
    windows: usize,
}

impl Runner<'_> {
    fn take(
        &mut self,
        stream: &mut FrameStream,
        frame: StreamFrame,
        sink: &mut dyn Sink,
    ) -> Result<()> {
        self.seen = frame.index + 1;
        self.last_secs = frame.secs;
        self.recent.push_back(Rc::new(frame));
        for (j, d) in self.resampler.arrived(self.seen) {
            self.hold(j, d)?;
        }
        let oldest = self.resampler.oldest_needed();
        while self.recent.len() > 1 && self.recent.front().is_some_and(|f| f.index < oldest) {
            self.recent.pop_front();
        }
        let plans = self.windower.ready(self.resampler.made());
        self.prepare(stream, plans)?;
        let keep = self.windower.keep_from(self.resampler.made());
        while self.held.front().is_some_and(|h| h.j < keep) {
            self.held.pop_front();
        }
        if self.pending.len() >= self.batch_size {
            self.flush(sink)?;
        }
        Ok(())
    }

    /// The last windows, once the stream has ended.
    fn finish(&mut self, stream: &mut FrameStream) -> Result<()> {
        for (j, d) in self.resampler.finish(self.seen) {
            self.hold(j, d)?;
        }
        let mut total = self.resampler.made();
        if total == 0 {
            // As `sampling` pads: frame 0 when resampling leaves no frame.
            self.hold(0, 0)?;
            total = 1;
        }
        let plans = self.windower.finish(total);
        self.prepare(stream, plans)
    }

    /// End of the video so far: the last frame's time plus one frame.
    fn video_end(&self) -> f64 {
        if self.seen == 0 {
            0.0
        } else {
            self.last_secs + 1.0 / self.fps
        }
    }

    fn hold(&mut self, j: usize, index: usize) -> Result<()> {
        let frame = self
            .recent
            .iter()
            .rev()
            .find(|f| f.index == index)
            .cloned()
            .ok_or_else(|| {
                Error::Invalid(format!(
                    "timeline: decoded frame {index} was released before resampled frame {j} took it"
                ))
            })?;
        self.held.push_back(Held {
            j,
            index,
            secs: frame.secs,
            frame: Some(frame),
            crop: None,
        });
        Ok(())
    }

    fn slot(&self, j: usize) -> Result<usize> {
        let first = self.held.front().map_or(usize::MAX, |h| h.j);
        j.checked_sub(first)
            .filter(|&i| i < self.held.len())
            .ok_or_else(|| Error::Invalid(format!("timeline: resampled frame {j} is not held")))
    }

    /// Resampled frame `j` transformed (once; a decoded frame that several resampled frames
    /// take, when upsampling, once too).
    fn crop(&mut self, stream: &mut FrameStream, j: usize) -> Result<Tensor> {
        let i = self.slot(j)?;
        if let Some(crop) = &self.held[i].crop {
            return Ok(crop.shallow_clone());
        }
        let reuse = i
            .checked_sub(1)
            .map(|p| &self.held[p])
            .filter(|p| p.index == self.held[i].index)
            .and_then(|p| p.crop.as_ref().map(Tensor::shallow_clone));
        let crop = match reuse {
            Some(crop) => crop,
            None => {
                let frame = self.held[i]
                    .frame
                    .clone()
                    .ok_or_else(|| Error::Invalid(format!("timeline: frame of {j} released")))?;
                let rgb = stream.rgb(&frame)?;
                let mut xs = self.transform.rounded_crops(&rgb_tensor(&rgb)?)?;
                self.transform.normalize_(&mut xs)?;
                xs.f_select(0, 0)?
            }
        };
        let held = &mut self.held[i];
        held.crop = Some(crop.shallow_clone());
        // The picture is no longer needed: only its crop is.
        held.frame = None;
        Ok(crop)
    }

    fn prepare(&mut self, stream: &mut FrameStream, plans: Vec<WindowPlan>) -> Result<()> {
        if plans.is_empty() {
            return Ok(());
        }
        let share = self.clock.elapsed().as_secs_f64() / plans.len() as f64;
        for plan in plans {
            let crops = plan
                .frames
                .iter()
                .map(|&j| self.crop(stream, j))
                .collect::<Result<Vec<_>>>()?;
            let clip = Tensor::f_stack(&crops, 1)?;
            let first = &self.held[self.slot(plan.frames[0])?];
            let (first_index, start) = (first.index, first.secs);
            let last = *plan.frames.last().unwrap_or(&plan.frames[0]);
            let last_index = self.held[self.slot(last)?].index;
            let end = match plan.end_frame {
                Some(j) => self.held[self.slot(j)?].secs,
                None => self.video_end(),
            };
            self.pending.push(Ready {
                plan,
                clip,
                frames: [first_index, last_index],
                secs: [start, end],
                seconds: share,
            });
        }
        self.clock = Instant::now();
        Ok(())
    }

    /// Scores the waiting windows in one batch and hands them on in order.
    fn flush(&mut self, sink: &mut dyn Sink) -> Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let started = Instant::now();
        let clips: Vec<&Tensor> = self.pending.iter().map(|r| &r.clip).collect();
        let xs = Tensor::f_stack(&clips, 0)?.f_to_device(self.model.device())?;
        let ids = SampleIds {
            clips: self
                .pending
                .iter()
                .map(|r| SampleId::clip(&self.source, r.plan.position))
                .collect(),
            videos: Vec::new(),
        };
        let scored = score_samples(self.model, &xs, &[], &ids, self.set, self.opts)?;
        let top5 = prediction::top_k(&scored.logits, TOP_K)?;
        let logits = prediction::logit_rows(&scored.logits)?;
        let share = started.elapsed().as_secs_f64() / self.pending.len() as f64;
        let scored_windows = self
            .pending
            .drain(..)
            .zip(top5.into_iter().zip(scored.clips).zip(logits));
        for (ready, ((top5, scores), logits)) in scored_windows {
            let row = WindowRow {
                position: ready.plan.position,
                start: ready.plan.start,
                frames: ready.frames,
                secs: ready.secs,
                kind: ready.plan.kind,
                level: Level {
                    top5,
                    scores,
                    logits,
                },
                seconds: ready.seconds + share,
            };
            self.windows += 1;
            sink.window(&row)?;
        }
        self.clock = Instant::now();
        Ok(())
    }
}

/// A timeline's rows file (CSV, or JSON Lines for `.jsonl`): the batch row schema with
/// [`results::TIMES`], a row appended and flushed as each window is scored, so a run that
/// stops leaves only whole rows. A new file: an existing one is refused.
pub struct TimelineFile {
    path: PathBuf,
    file: File,
    columns: Vec<String>,
    format: RowFormat,
    labels: Labels,
    video: results::VideoInfo,
    scores: Vec<ScoreName>,
}

impl TimelineFile {
    /// Creates `path` for a timeline of `source` by `model` with the score columns `scores`
    /// ([`score_columns`]), writing its header.
    pub fn create(
        path: &Path,
        source: &Source,
        model: &str,
        labels: &Labels,
        scores: &[ScoreName],
    ) -> Result<TimelineFile> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        }
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(path)
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::AlreadyExists => Error::Invalid(format!(
                    "{}: already exists; remove it or write another file",
                    path.display()
                ))
                .with_remedy(crate::error::Remedy::AnotherOut),
                _ => Error::io(path, e),
            })?;
        let format = RowFormat::of(path);
        let columns = results::timeline_columns(scores);
        file.write_all(&results::header_bytes(&columns, format))
            .and_then(|()| file.flush())
            .map_err(|e| Error::io(path, e))?;
        Ok(TimelineFile {
            path: path.to_path_buf(),
            file,
            columns,
            format,
            labels: labels.clone(),
            video: results::VideoInfo {
                id: source.stem(),
                path: source.as_given(),
                model: model.to_owned(),
                label_index: None,
                label: None,
            },
            scores: scores.to_vec(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Sink for TimelineFile {
    fn window(&mut self, w: &WindowRow) -> Result<()> {
        let row = results::Row {
            video: self.video.clone(),
            clip: Some(results::ClipPos {
                clip: w.position,
                window: w.start,
                frames: w.frames,
            }),
            pred: (!w.level.top5.is_empty()).then(|| results::Prediction {
                top5: w.level.top5.iter().map(|r| r.index).collect(),
            }),
            pred_softmax_sum: None,
            scores: self.scores.iter().map(|&n| w.level.scores.get(n)).collect(),
            prob_label: None,
            logits: None,
            status: "ok".into(),
            seconds: Some(w.seconds),
        };
        let bytes =
            results::encode_timed(&[(row, w.secs)], &self.columns, self.format, &self.labels);
        self.file
            .write_all(&bytes)
            .and_then(|()| self.file.flush())
            .map_err(|e| Error::io(&self.path, e))
    }
}

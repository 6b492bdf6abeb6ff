//! Scores one video: its clips in one batch through the score engine, which plans the
//! forwards and backwards; the video level is the clip-averaged model.
use std::path::{Path, PathBuf};

use tch::{Device, Tensor};

use crate::clips::VideoClips;
use crate::models::{InputKind, Model};
use crate::prediction::{self, Ranked};
use crate::scores::engine::{score_samples_observed, Step};
use crate::scores::{SampleIds, SampleScores, ScoreName, ScoreOptions, ScoreSet};
use crate::Result;

const TOP_K: i64 = 5;

/// Prediction and scores of one sample (a clip, or the video).
#[derive(Clone, Debug)]
pub struct Level {
    pub top5: Vec<Ranked>,
    pub scores: SampleScores,
    /// Every class's logit (the video: the clip-averaged logits), for result rows.
    pub logits: Vec<f32>,
}

#[derive(Clone, Debug)]
pub struct ClipReport {
    /// Position among the video's clips (0..clips_per_video).
    pub index: usize,
    /// Which candidate window of the resampled video the clip is (torchvision's clip index).
    pub window: usize,
    /// Presentation times of the first and last frame, seconds.
    pub secs: [f64; 2],
    /// First and last decoded-frame index the clip uses.
    pub frames: [usize; 2],
    pub padded: bool,
    pub level: Level,
}

#[derive(Clone, Debug)]
pub struct VideoReport {
    pub model: String,
    /// An image is a one-frame clip; its report has no clip section.
    pub kind: InputKind,
    pub path: PathBuf,
    pub frames_decoded: usize,
    pub fps: f64,
    /// Scores and top-5 of the clip-averaged model.
    pub video: Level,
    /// torchvision's protocol: classes by the sum of clip softmaxes.
    pub video_top5_softmax_sum: Vec<Ranked>,
    pub clips: Vec<ClipReport>,
    pub notes: Vec<String>,
}

pub fn score_video(
    model: &Model,
    path: &Path,
    video: &VideoClips,
    set: &ScoreSet,
    opts: &ScoreOptions,
) -> Result<VideoReport> {
    score_video_observed(model, path, video, set, opts, &|_| {})
}

/// [`score_video`], telling `observe` each step of the score engine's plan as it starts.
pub fn score_video_observed(
    model: &Model,
    path: &Path,
    video: &VideoClips,
    set: &ScoreSet,
    opts: &ScoreOptions,
    observe: &dyn Fn(Step),
) -> Result<VideoReport> {
    let videos = [(path, video)];
    let xs = stage(&videos, model.device())?;
    score_staged_observed(model, &videos, &xs, set, opts, observe)?
        .pop()
        .ok_or_else(|| crate::Error::Invalid(format!("{}: no clips to score", path.display())))
}

/// Scores several videos in one batch (their clips concatenated, each video its own range of
/// the batch): what a batch run does; each video's report is the one [`score_video`] gives.
pub fn score_videos(
    model: &Model,
    videos: &[(&Path, &VideoClips)],
    set: &ScoreSet,
    opts: &ScoreOptions,
) -> Result<Vec<VideoReport>> {
    let xs = stage(videos, model.device())?;
    score_staged(model, videos, &xs, set, opts)
}

/// The videos' clips as one batch `[ΣK, 3, T, H, W]` on `device`. To a GPU each video's
/// tensor goes from pinned host memory (pinned here unless the decode worker already did)
/// with a non-blocking copy, and the batch is concatenated on the device: the call returns
/// once the copies are queued, so a stage can queue the next batch's copy before it scores
/// the current one.
pub fn stage(videos: &[(&Path, &VideoClips)], device: Device) -> Result<Tensor> {
    for (path, video) in videos {
        if video.clips.is_empty() {
            return Err(crate::Error::Invalid(format!(
                "{}: no clips to score",
                path.display()
            )));
        }
    }
    if device == Device::Cpu {
        return match videos {
            [(_, one)] => Ok(one.tensor.shallow_clone()),
            _ => {
                let parts: Vec<&Tensor> = videos.iter().map(|(_, v)| &v.tensor).collect();
                Ok(Tensor::f_cat(&parts, 0)?)
            }
        };
    }
    let mut parts = Vec::with_capacity(videos.len());
    for (_, video) in videos {
        parts.push(to_device(&video.tensor, device)?);
    }
    match parts.len() {
        1 => Ok(parts.remove(0)),
        _ => Ok(Tensor::f_cat(&parts, 0)?),
    }
}

/// `t` on `device`: a non-blocking copy from pinned memory for a GPU.
pub fn to_device(t: &Tensor, device: Device) -> Result<Tensor> {
    if t.device() == device {
        return Ok(t.shallow_clone());
    }
    let pinned = if t.device() == Device::Cpu && !t.f_is_pinned(device)? {
        t.f_pin_memory(device)?
    } else {
        t.shallow_clone()
    };
    Ok(pinned.f_to_device_(device, pinned.f_kind()?, true, false)?)
}

/// [`score_videos`] on a batch already staged on the model's device ([`stage`]). Each
/// clip and video is identified by its file's name (MC-Dropout's masks follow it, so a
/// video scores the same in `score` and in any batch of `batch`).
pub fn score_staged(
    model: &Model,
    videos: &[(&Path, &VideoClips)],
    xs: &Tensor,
    set: &ScoreSet,
    opts: &ScoreOptions,
) -> Result<Vec<VideoReport>> {
    score_staged_observed(model, videos, xs, set, opts, &|_| {})
}

/// [`score_staged`], telling `observe` each step of the score engine's plan as it starts.
fn score_staged_observed(
    model: &Model,
    videos: &[(&Path, &VideoClips)],
    xs: &Tensor,
    set: &ScoreSet,
    opts: &ScoreOptions,
    observe: &dyn Fn(Step),
) -> Result<Vec<VideoReport>> {
    let mut ranges = Vec::with_capacity(videos.len());
    let mut start = 0;
    for (path, video) in videos {
        if video.clips.is_empty() {
            return Err(crate::Error::Invalid(format!(
                "{}: no clips to score",
                path.display()
            )));
        }
        ranges.push(start..start + video.clips.len());
        start += video.clips.len();
    }
    // A video's identity for its samples is its file's name: the same file scores the same
    // whether `score` is given `clip.mp4` or `batch` finds `root/label/clip.mp4`.
    let names: Vec<String> = videos
        .iter()
        .map(|(path, _)| crate::file_name(path))
        .collect();
    let ids = SampleIds::named(
        names
            .iter()
            .zip(videos)
            .map(|(name, (_, v))| (name.as_str(), v.clips.len())),
    );
    let scored = score_samples_observed(model, xs, &ranges, &ids, set, opts, observe)?;
    let mut clip_top5 = prediction::top_k(&scored.logits, TOP_K)?.into_iter();
    let mut clip_logits = prediction::logit_rows(&scored.logits)?.into_iter();
    let mut clip_scores = scored.clips.into_iter();
    let mut reports = Vec::with_capacity(videos.len());
    for (((path, video), range), (z_video, video_scores)) in
        videos.iter().zip(&ranges).zip(scored.videos)
    {
        let video_top5 = prediction::top_k(&z_video, TOP_K)?.remove(0);
        let video_logits = prediction::logit_rows(&z_video)?.remove(0);
        let logits = scored
            .logits
            .f_narrow(0, range.start as i64, range.len() as i64)?;
        let video_top5_softmax_sum = prediction::top_k_softmax_sum(&logits, TOP_K)?;
        let clips = clip_scores.by_ref().take(range.len()).collect::<Vec<_>>();
        let top5 = clip_top5.by_ref().take(range.len()).collect::<Vec<_>>();
        let logits = clip_logits.by_ref().take(range.len()).collect::<Vec<_>>();
        reports.push(report(
            model,
            opts,
            path,
            video,
            Level {
                top5: video_top5,
                scores: video_scores,
                logits: video_logits,
            },
            video_top5_softmax_sum,
            clips,
            top5,
            logits,
        ));
    }
    Ok(reports)
}

#[allow(clippy::too_many_arguments)]
fn report(
    model: &Model,
    opts: &ScoreOptions,
    path: &Path,
    video: &VideoClips,
    video_level: Level,
    video_top5_softmax_sum: Vec<Ranked>,
    clip_scores: Vec<SampleScores>,
    clip_top5: Vec<Vec<Ranked>>,
    clip_logits: Vec<Vec<f32>>,
) -> VideoReport {
    let preset = &model.info().preset;
    let mut notes = model.info().notes.clone();
    notes.extend(video.warnings.iter().cloned());
    if video.clips.iter().any(|c| c.padded) {
        notes.push(format!(
            "video has {} frames at {:.3} fps, fewer than one clip of {} frames at {} fps: clips padded by repeating the last frame",
            video.frames_decoded, video.info.fps, preset.clip_len, preset.frame_rate
        ));
    }
    if video_level.scores.get(ScoreName::McDropout).is_some() {
        notes.extend(mc_dropout_note(model, opts));
    }
    let clips = video
        .clips
        .iter()
        .zip(clip_scores.into_iter().zip(clip_top5).zip(clip_logits))
        .enumerate()
        .map(|(index, (clip, ((scores, top5), logits)))| ClipReport {
            index,
            window: clip.index,
            secs: [clip.start_secs, clip.end_secs],
            frames: [clip.first_frame, clip.last_frame],
            padded: clip.padded,
            level: Level {
                top5,
                scores,
                logits,
            },
        })
        .collect();
    VideoReport {
        model: model.info().name.clone(),
        kind: model.info().input,
        path: path.to_path_buf(),
        frames_decoded: video.frames_decoded,
        fps: video.info.fps,
        video: video_level,
        video_top5_softmax_sum,
        clips,
        notes,
    }
}

/// What MC-Dropout is on a model whose passes cannot differ (no dropout in its head, or no
/// passes asked for): the mean of identical softmaxes is the one softmax, so the score is
/// `Σ p log(p + 1e-4)` of the forward, the negative entropy but for the 1e-4. Said, so that
/// nobody reads it as a second, independent score.
fn mc_dropout_note(model: &Model, opts: &ScoreOptions) -> Option<String> {
    let why = if model.head_dropout().is_none() {
        format!("{} has no dropout in its head", model.info().name)
    } else if opts.mc_passes == 0 {
        "no dropout passes were asked for".to_string()
    } else {
        return None;
    };
    Some(format!(
        "mc_dropout: {why}, so it reduces to entropy: Σ p log(p + 1e-4) of the plain softmax, \
         the entropy score but for the 1e-4 (no second opinion)"
    ))
}

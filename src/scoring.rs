//! Scores one video: its clips in one batch through the score engine, which plans the
//! forwards and backwards; the video level is the clip-averaged model.
use std::path::{Path, PathBuf};

use crate::clips::VideoClips;
use crate::models::{InputKind, Model};
use crate::prediction::{self, Ranked};
use crate::scores::engine::score_batch;
use crate::scores::{SampleScores, ScoreOptions, ScoreSet};
use crate::Result;

const TOP_K: i64 = 5;

/// Prediction and scores of one sample (a clip, or the video).
#[derive(Clone, Debug)]
pub struct Level {
    pub top5: Vec<Ranked>,
    pub scores: SampleScores,
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
    score_videos(model, &[(path, video)], set, opts)?
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
    let xs = match videos {
        [(_, one)] => one.tensor.f_to_device(model.device())?,
        _ => {
            let parts: Vec<&tch::Tensor> = videos.iter().map(|(_, v)| &v.tensor).collect();
            tch::Tensor::f_cat(&parts, 0)?.f_to_device(model.device())?
        }
    };
    let scored = score_batch(model, &xs, &ranges, set, opts)?;
    let mut clip_top5 = prediction::top_k(&scored.logits, TOP_K)?.into_iter();
    let mut clip_scores = scored.clips.into_iter();
    let mut reports = Vec::with_capacity(videos.len());
    for (((path, video), range), (z_video, video_scores)) in
        videos.iter().zip(&ranges).zip(scored.videos)
    {
        let video_top5 = prediction::top_k(&z_video, TOP_K)?.remove(0);
        let logits = scored
            .logits
            .f_narrow(0, range.start as i64, range.len() as i64)?;
        let video_top5_softmax_sum = prediction::top_k_softmax_sum(&logits, TOP_K)?;
        let clips = clip_scores.by_ref().take(range.len()).collect::<Vec<_>>();
        let top5 = clip_top5.by_ref().take(range.len()).collect::<Vec<_>>();
        reports.push(report(
            model,
            path,
            video,
            video_top5,
            video_scores,
            video_top5_softmax_sum,
            clips,
            top5,
        ));
    }
    Ok(reports)
}

#[allow(clippy::too_many_arguments)]
fn report(
    model: &Model,
    path: &Path,
    video: &VideoClips,
    video_top5: Vec<Ranked>,
    video_scores: SampleScores,
    video_top5_softmax_sum: Vec<Ranked>,
    clip_scores: Vec<SampleScores>,
    clip_top5: Vec<Vec<Ranked>>,
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
    let clips = video
        .clips
        .iter()
        .zip(clip_scores.into_iter().zip(clip_top5))
        .enumerate()
        .map(|(index, (clip, (scores, top5)))| ClipReport {
            index,
            window: clip.index,
            secs: [clip.start_secs, clip.end_secs],
            frames: [clip.first_frame, clip.last_frame],
            padded: clip.padded,
            level: Level { top5, scores },
        })
        .collect();
    VideoReport {
        model: model.info().name.clone(),
        kind: model.info().input,
        path: path.to_path_buf(),
        frames_decoded: video.frames_decoded,
        fps: video.info.fps,
        video: Level {
            top5: video_top5,
            scores: video_scores,
        },
        video_top5_softmax_sum,
        clips,
        notes,
    }
}

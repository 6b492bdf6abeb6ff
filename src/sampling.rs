//! Clip sampling: which decoded frames make each clip. Pure arithmetic following torchvision
//! 0.28's Kinetics-400 evaluation protocol (shared/spec/models.md "Clip sampling"):
//!
//! 1. Resample the `n` decoded frames from `fps` to `frame_rate` as
//!    `VideoClips._resample_video_idx` does (`torchvision/datasets/video_utils.py`): with
//!    `step = fps / frame_rate`, an integer step is the slice `[::step]` (every step-th frame
//!    to the end, `ceil(n / step)` frames — NOTE: one more than the spec's
//!    `floor(n·fr/fps)` when `step` does not divide `n`; torchvision's slice wins); otherwise
//!    `floor(arange(floor(n·fr/fps), dtype=float32) · step)`, the product taken in float32
//!    as torch does (it differs from exact arithmetic, e.g. frame 5005 of a 24000/1001 fps
//!    video resampled to 15 fps is 7999, not 8000).
//! 2. Every `clip_len` consecutive resampled frames form a candidate window (torchvision's
//!    `unfold` with `frames_between_clips = 1`).
//! 3. `clips_per_video` windows are picked at `floor(linspace(0, candidates − 1, k))`
//!    (`UniformClipSampler`), repeats allowed. Computed exactly as `⌊i·(c−1)/(k−1)⌋`, which
//!    equals torch's float32 `linspace(...).floor()` for every candidate count checked
//!    (k = 5 up to 4,000,000 windows; k = 12 up to 1,647,770, i.e. 30 hours at 15 fps).
//! 4. A video too short for one window (torchvision skips it) gets one padded window: its
//!    resampled frames (frame 0 if resampling left none) followed by repeats of the last of
//!    them, picked `clips_per_video` times.
use crate::error::{Error, Result};

/// One clip: a window of `clip_len` decoded-frame indices.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClipWindow {
    /// Which candidate window (its start in the resampled sequence); 0 for a padded window.
    pub index: usize,
    /// Indices into the decoded frames, `clip_len` of them, non-decreasing.
    pub frame_indices: Vec<usize>,
    /// True when the video had no complete window and the last frame was repeated.
    pub padded: bool,
}

/// The decoded-frame indices that resample `num_frames` frames at `fps` to `frame_rate`.
/// Inputs are assumed valid (see [`sample_clips`]).
pub fn resample_indices(num_frames: usize, fps: f64, frame_rate: f64) -> Vec<usize> {
    let step = fps / frame_rate;
    if step.fract() == 0.0 {
        // `step.is_integer()`: torchvision returns `slice(None, None, int(step))`.
        return (0..num_frames).step_by(step as usize).collect();
    }
    // torchvision: total_frames = len(video_pts) * frame_rate / fps, floored.
    let count = (num_frames as f64 * frame_rate / fps).floor() as usize;
    let step32 = step as f32;
    (0..count)
        .map(|i| {
            let index = (i as f32 * step32).floor() as usize;
            // Never past the last frame (float32 rounding on absurdly long videos).
            index.min(num_frames - 1)
        })
        .collect()
}

/// Number of windows of `clip_len` consecutive items in a sequence of `len`.
pub fn candidate_windows(len: usize, clip_len: usize) -> usize {
    (len + 1).saturating_sub(clip_len)
}

/// `floor(linspace(0, candidates − 1, k))`: the candidate windows `UniformClipSampler` picks.
pub fn uniform_picks(candidates: usize, k: usize) -> Vec<usize> {
    match k {
        0 => Vec::new(),
        // torch.linspace(start, end, steps=1) is [start].
        1 => vec![0],
        _ => {
            let span = candidates.saturating_sub(1) as u128;
            (0..k as u128)
                .map(|i| (i * span / (k as u128 - 1)) as usize)
                .collect()
        }
    }
}

/// The `clips_per_video` clip windows of a video of `num_frames` decoded frames at `fps`.
pub fn sample_clips(
    num_frames: usize,
    fps: f64,
    frame_rate: f64,
    clip_len: usize,
    clips_per_video: usize,
) -> Result<Vec<ClipWindow>> {
    if num_frames == 0 {
        return Err(Error::Invalid("no frames to sample clips from".to_owned()));
    }
    if !(fps.is_finite() && fps > 0.0) {
        return Err(Error::Invalid(format!("invalid video frame rate {fps}")));
    }
    if !(frame_rate.is_finite() && frame_rate > 0.0) {
        return Err(Error::Invalid(format!(
            "invalid sampling frame rate {frame_rate}"
        )));
    }
    if clip_len == 0 || clips_per_video == 0 {
        return Err(Error::Invalid(format!(
            "clip_len ({clip_len}) and clips_per_video ({clips_per_video}) must be at least 1"
        )));
    }
    let resampled = resample_indices(num_frames, fps, frame_rate);
    let candidates = candidate_windows(resampled.len(), clip_len);
    if candidates == 0 {
        let mut frame_indices = if resampled.is_empty() {
            vec![0]
        } else {
            resampled
        };
        let last = *frame_indices.last().unwrap_or(&0);
        frame_indices.resize(clip_len, last);
        let window = ClipWindow {
            index: 0,
            frame_indices,
            padded: true,
        };
        return Ok(vec![window; clips_per_video]);
    }
    Ok(uniform_picks(candidates, clips_per_video)
        .into_iter()
        .map(|start| ClipWindow {
            index: start,
            frame_indices: resampled[start..start + clip_len].to_vec(),
            padded: false,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    // Expected values below come from torchvision 0.28 / torch 2.13:
    // `torch.arange(n)[VideoClips._resample_video_idx(floor(n*fr/fps), fps, fr)]` and
    // `torch.linspace(0, c-1, steps=k).floor()`.

    #[test]
    fn integer_step_is_a_slice_to_the_end() {
        assert_eq!(resample_indices(10, 30.0, 15.0), [0, 2, 4, 6, 8]);
        // ceil(11 / 2) = 6 frames, where floor(11 * 15 / 30) would be 5.
        assert_eq!(resample_indices(11, 30.0, 15.0), [0, 2, 4, 6, 8, 10]);
        assert_eq!(resample_indices(9, 60.0, 7.5), [0, 8]);
        assert_eq!(resample_indices(7, 15.0, 15.0), [0, 1, 2, 3, 4, 5, 6]);
    }

    #[test]
    fn non_integer_step_floors_a_float32_product() {
        assert_eq!(resample_indices(10, 25.0, 15.0), [0, 1, 3, 5, 6, 8]);
        assert_eq!(
            resample_indices(12, 30000.0 / 1001.0, 15.0),
            [0, 1, 3, 5, 7, 9]
        );
        assert_eq!(
            resample_indices(40, 30000.0 / 1001.0, 7.5),
            [0, 3, 7, 11, 15, 19, 23, 27, 31, 35]
        );
        // Upsampling repeats frames.
        assert_eq!(
            resample_indices(10, 10.0, 15.0),
            [0, 0, 1, 2, 2, 3, 4, 4, 5, 6, 6, 7, 8, 8, 9]
        );
    }

    #[test]
    fn float32_product_differs_from_exact_arithmetic_like_torch() {
        // 5005 * (24000/1001) / 15 = 8000 exactly; torch's float32 product floors to 7999.
        let idx = resample_indices(8002, 24000.0 / 1001.0, 15.0);
        assert_eq!(idx[5005], 7999);
        // 8509 * (30000/1001) / 15 = 17000.999; float32 rounds it up to 17001.
        let idx = resample_indices(17100, 30000.0 / 1001.0, 15.0);
        assert_eq!(idx[8509], 17001);
    }

    #[test]
    fn uniform_picks_match_torch_linspace_floor() {
        assert_eq!(uniform_picks(10, 5), [0, 2, 4, 6, 9]);
        assert_eq!(uniform_picks(17, 5), [0, 4, 8, 12, 16]);
        assert_eq!(uniform_picks(3, 5), [0, 0, 1, 1, 2]);
        assert_eq!(uniform_picks(1, 5), [0, 0, 0, 0, 0]);
        assert_eq!(uniform_picks(2, 12), [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
        assert_eq!(
            uniform_picks(100, 12),
            [0, 9, 18, 27, 36, 45, 54, 63, 72, 81, 90, 99]
        );
        assert_eq!(uniform_picks(50, 1), [0]);
    }

    #[test]
    fn windows_are_consecutive_resampled_frames() {
        // 10 s at 30 fps → 150 resampled frames → 135 windows of 16; picks 0, 33, 67, 100, 134.
        let clips = sample_clips(300, 30.0, 15.0, 16, 5).unwrap();
        let starts: Vec<usize> = clips.iter().map(|c| c.index).collect();
        assert_eq!(starts, [0, 33, 67, 100, 134]);
        for clip in &clips {
            assert!(!clip.padded);
            let expected: Vec<usize> = (0..16).map(|j| 2 * (clip.index + j)).collect();
            assert_eq!(clip.frame_indices, expected);
        }
    }

    #[test]
    fn exactly_one_window_is_repeated() {
        let clips = sample_clips(32, 30.0, 15.0, 16, 5).unwrap();
        assert_eq!(clips.len(), 5);
        for clip in &clips {
            assert_eq!(clip.index, 0);
            assert!(!clip.padded);
            assert_eq!(
                clip.frame_indices,
                (0..16).map(|j| 2 * j).collect::<Vec<_>>()
            );
        }
    }

    #[test]
    fn short_video_is_padded_with_its_last_resampled_frame() {
        // 0.5 s at 30 fps: 15 frames → resampled 0, 2, ..., 14 (8 frames) < 16.
        let clips = sample_clips(15, 30.0, 15.0, 16, 5).unwrap();
        assert_eq!(clips.len(), 5);
        let mut expected: Vec<usize> = (0..8).map(|j| 2 * j).collect();
        expected.resize(16, 14);
        for clip in &clips {
            assert!(clip.padded);
            assert_eq!(clip.index, 0);
            assert_eq!(clip.frame_indices, expected);
        }
        // 12 frames at 25 fps → 7 resampled frames, the last being frame 10 (not 11).
        let clips = sample_clips(12, 25.0, 15.0, 16, 1).unwrap();
        assert_eq!(&clips[0].frame_indices[..8], [0, 1, 3, 5, 6, 8, 10, 10]);
        assert!(clips[0].frame_indices[7..].iter().all(|&i| i == 10));
    }

    #[test]
    fn single_frame_video_pads_frame_zero() {
        // 1 frame at 29.97 fps resampled to 15 fps leaves no frame: frame 0 is used.
        let clips = sample_clips(1, 30000.0 / 1001.0, 15.0, 16, 2).unwrap();
        assert_eq!(clips.len(), 2);
        assert!(clips[0].padded);
        assert_eq!(clips[0].frame_indices, vec![0; 16]);
    }

    #[test]
    fn invalid_inputs_are_errors() {
        assert!(sample_clips(0, 30.0, 15.0, 16, 5).is_err());
        assert!(sample_clips(10, 0.0, 15.0, 16, 5).is_err());
        assert!(sample_clips(10, f64::NAN, 15.0, 16, 5).is_err());
        assert!(sample_clips(10, 30.0, 0.0, 16, 5).is_err());
        assert!(sample_clips(10, 30.0, 15.0, 0, 5).is_err());
        assert!(sample_clips(10, 30.0, 15.0, 16, 0).is_err());
    }
}

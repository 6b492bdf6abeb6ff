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
//!
//! The resampled sequence is never materialised: its length is `n · frame_rate / fps`, i.e.
//! the video's duration as the frame rate claims it, and a container can claim anything (a
//! huge timestamp gap in an MP4 makes its average rate ~1e-7 fps: billions of resampled
//! frames for 30 real ones). Its entries are computed where a picked window needs them, so
//! memory follows the real frames and the clips; and a frame rate below one frame per
//! [`MAX_SECONDS_PER_FRAME`] is refused as implausible rather than sampled.
use crate::error::{Error, Result};

/// The longest a frame may last on average (seconds; a rate of 1/3600 fps): beyond it a
/// video's frame rate is taken as a container error (a timestamp gap, a corrupt rate field),
/// not as a video, since every sampled clip would be one frame repeated.
pub const MAX_SECONDS_PER_FRAME: f64 = 3600.0;

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

/// The decoded-frame indices that resample `num_frames` frames at `fps` to `frame_rate`
/// (all [`Resampled::len`] of them: for tests and small videos; sampling itself reads only
/// the entries it needs). Inputs are assumed valid (see [`sample_clips`]).
pub fn resample_indices(num_frames: usize, fps: f64, frame_rate: f64) -> Vec<usize> {
    let resampled = Resampled::new(num_frames, fps, frame_rate);
    (0..resampled.len()).map(|i| resampled.get(i)).collect()
}

/// The resampled frame sequence of a video, as arithmetic: its length and any entry, without
/// the sequence in memory (see the module notes).
#[derive(Clone, Copy, Debug)]
pub struct Resampled {
    num_frames: usize,
    len: usize,
    step: Step,
}

#[derive(Clone, Copy, Debug)]
enum Step {
    /// `step.is_integer()`: torchvision returns `slice(None, None, int(step))`.
    Slice(usize),
    /// torchvision's `floor(arange(total, dtype=float32) * step)`.
    Float32(f32),
}

impl Resampled {
    /// `num_frames` at `fps` resampled to `frame_rate`. Inputs are assumed valid (see
    /// [`sample_clips`]).
    pub fn new(num_frames: usize, fps: f64, frame_rate: f64) -> Resampled {
        let step = fps / frame_rate;
        if step.fract() == 0.0 {
            // A step beyond any frame count (an absurd rate) keeps frame 0 only.
            let step = if step < usize::MAX as f64 {
                step as usize
            } else {
                usize::MAX
            };
            return Resampled {
                num_frames,
                len: num_frames.div_ceil(step.max(1)),
                step: Step::Slice(step.max(1)),
            };
        }
        // torchvision: total_frames = len(video_pts) * frame_rate / fps, floored (`as`
        // saturates should the product not fit).
        let len = (num_frames as f64 * frame_rate / fps).floor() as usize;
        Resampled {
            num_frames,
            len,
            step: Step::Float32(step as f32),
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The decoded-frame index of resampled frame `i` (`i < len`).
    pub fn get(&self, i: usize) -> usize {
        match self.step {
            Step::Slice(step) => i * step,
            // Never past the last frame (float32 rounding on absurdly long videos).
            Step::Float32(step) => {
                ((i as f32 * step).floor() as usize).min(self.num_frames.saturating_sub(1))
            }
        }
    }

    /// Resampled frames `start..start + len`.
    fn window(&self, start: usize, len: usize) -> Vec<usize> {
        (start..start + len).map(|i| self.get(i)).collect()
    }
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
    if 1.0 / fps > MAX_SECONDS_PER_FRAME {
        return Err(Error::Invalid(format!(
            "implausible frame rate {fps:.3e} fps: its {num_frames} frame(s) would last {:.3e} \
             s, more than {MAX_SECONDS_PER_FRAME} s per frame (a timestamp gap or a corrupt \
             rate in the container)",
            num_frames as f64 / fps
        )));
    }
    let resampled = Resampled::new(num_frames, fps, frame_rate);
    let candidates = candidate_windows(resampled.len(), clip_len);
    if candidates == 0 {
        // Shorter than `clip_len`, so small.
        let mut frame_indices = if resampled.is_empty() {
            vec![0]
        } else {
            resampled.window(0, resampled.len())
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
            frame_indices: resampled.window(start, clip_len),
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
    fn huge_resampled_lengths_are_never_materialised() {
        // 10^7 frames, one every 3000 s: 4.5·10^11 resampled frames (3.6 TB as a vector).
        let fps = 1.0 / 3000.0;
        let resampled = Resampled::new(10_000_000, fps, 15.0);
        assert_eq!(resampled.len(), 450_000_000_000);
        let clips = sample_clips(10_000_000, fps, 15.0, 16, 5).unwrap();
        assert_eq!(clips.len(), 5);
        let last = &clips[4];
        assert_eq!(last.index, resampled.len() - 16);
        assert!(last.frame_indices.iter().all(|&f| f == 9_999_999));
        // Entries equal the materialised ones where both exist.
        let small = Resampled::new(40, 30000.0 / 1001.0, 7.5);
        let all: Vec<usize> = (0..small.len()).map(|i| small.get(i)).collect();
        assert_eq!(all, resample_indices(40, 30000.0 / 1001.0, 7.5));
    }

    #[test]
    fn frame_rates_below_one_frame_an_hour_are_implausible() {
        assert!(sample_clips(30, 1.0 / 3600.0, 15.0, 16, 5).is_ok());
        let err = sample_clips(30, 1.5e-8, 15.0, 16, 5)
            .unwrap_err()
            .to_string();
        assert!(err.contains("implausible frame rate 1.500e-8 fps"), "{err}");
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

//! Wiring of the decoding stage: decode a video, sample its clip windows, convert each needed
//! frame to RGB and transform it once (windows overlap and repeat), then gather the clips
//! into the batch a model takes, float32 `[num_clips, 3, clip_len, crop_h, crop_w]`.
use std::path::Path;

use tch::{Kind, Tensor};

use crate::decode::{try_decode_video_keeping, DecodedVideo, VideoInfo};
use crate::error::{Error, Result};
use crate::preset::Preset;
use crate::sampling::{candidate_windows, sample_clips, ClipWindow, Resampled};
use crate::transforms::{rgb_tensor, FrameTransform, CHUNK};

/// One clip of the batch.
#[derive(Clone, Debug, PartialEq)]
pub struct Clip {
    /// Which candidate window this is (its start in the resampled frame sequence); the same
    /// window may be picked more than once in a short video. 0 for a padded clip.
    pub index: usize,
    /// Decoded-frame indices of the clip's frames, in order (`clip_len` of them).
    pub frame_indices: Vec<usize>,
    /// First and last decoded frame of the clip.
    pub first_frame: usize,
    pub last_frame: usize,
    /// Presentation times of the first and last frame, seconds.
    pub start_secs: f64,
    pub end_secs: f64,
    /// True when the video was shorter than one clip and its last frame was repeated.
    pub padded: bool,
}

/// A video's clips, ready for a model.
#[derive(Debug)]
pub struct VideoClips {
    pub info: VideoInfo,
    /// Frames the decoder produced.
    pub frames_decoded: usize,
    /// Number of complete windows the video offered (0 when padded).
    pub candidate_windows: usize,
    pub clips: Vec<Clip>,
    /// float32 `[clips.len(), 3, clip_len, crop_h, crop_w]`, contiguous, on the CPU.
    pub tensor: Tensor,
    /// Decoding problems that did not stop decoding (see [`DecodedVideo::warnings`]).
    pub warnings: Vec<String>,
}

/// Decodes `path` and cuts it into `preset`'s clips. Only the frames the clips use are
/// kept after decoding ([`try_decode_video_keeping`]), so memory does not grow with the video.
pub fn load_clips(path: &Path, preset: &Preset) -> Result<VideoClips> {
    let video = decode_for_clips(path, preset)?;
    clips_from_video(&video, preset)
}

/// The decoding half of [`load_clips`]: `path` decoded holding the frames `preset`'s clips
/// use, decoding only what they need where the input allows ([`try_decode_video_keeping`]).
/// A video the protocol cannot sample (an implausible frame rate) is refused before it is
/// decoded, with the error [`windows_for`] would give.
pub fn decode_for_clips(path: &Path, preset: &Preset) -> Result<DecodedVideo> {
    let needed = |frames: usize, fps: f64| -> Result<Vec<usize>> {
        let windows = sample_clips(
            frames,
            fps,
            preset.frame_rate,
            preset.clip_len,
            preset.clips_per_video,
        )
        .map_err(|e| Error::decode(path, e.to_string()))?;
        Ok(windows.into_iter().flat_map(|w| w.frame_indices).collect())
    };
    try_decode_video_keeping(path, &needed)
}

/// [`load_clips`] for an already decoded video.
pub fn clips_from_video(video: &DecodedVideo, preset: &Preset) -> Result<VideoClips> {
    let windows = windows_for(video, preset)?;
    let (crop_h, crop_w) = (preset.crop.0 as i64, preset.crop.1 as i64);
    let (num_clips, clip_len) = (windows.len() as i64, preset.clip_len as i64);
    let tensor = Tensor::f_empty(
        [num_clips, 3, clip_len, crop_h, crop_w],
        (Kind::Float, tch::Device::Cpu),
    )?;
    // Filled through its (N, T, C, H, W) view: VideoClassification's permute to (N, C, T, H, W).
    fill_clips(
        video,
        &windows,
        preset,
        &tensor.f_permute([0, 2, 1, 3, 4])?,
        true,
    )?;
    let resampled = Resampled::new(video.len(), video.info().fps, preset.frame_rate);
    let candidate_windows = candidate_windows(resampled.len(), preset.clip_len);
    let clips = windows
        .into_iter()
        .map(|w| {
            let first_frame = w.frame_indices[0];
            let last_frame = *w.frame_indices.last().unwrap_or(&first_frame);
            Clip {
                index: w.index,
                first_frame,
                last_frame,
                start_secs: video.pts_secs(first_frame),
                end_secs: video.pts_secs(last_frame),
                frame_indices: w.frame_indices,
                padded: w.padded,
            }
        })
        .collect();
    Ok(VideoClips {
        info: video.info().clone(),
        frames_decoded: video.len(),
        candidate_windows,
        clips,
        tensor,
        warnings: video.warnings().to_vec(),
    })
}

/// The sampled windows of `video` under `preset` (errors name the file).
pub fn windows_for(video: &DecodedVideo, preset: &Preset) -> Result<Vec<ClipWindow>> {
    sample_clips(
        video.len(),
        video.info().fps,
        preset.frame_rate,
        preset.clip_len,
        preset.clips_per_video,
    )
    .map_err(|e| Error::decode(video.path(), e.to_string()))
}

/// The pre-normalization uint8 crops of each window, `[num_clips, clip_len, 3, crop_h,
/// crop_w]` (torchvision's `(N, T, C, H, W)`): what `VideoClassification` holds just before
/// `convert_image_dtype`. For parity tests and debugging.
pub fn uint8_crops(
    video: &DecodedVideo,
    windows: &[ClipWindow],
    preset: &Preset,
) -> Result<Tensor> {
    let (crop_h, crop_w) = (preset.crop.0 as i64, preset.crop.1 as i64);
    let crops = Tensor::f_empty(
        [
            windows.len() as i64,
            preset.clip_len as i64,
            3,
            crop_h,
            crop_w,
        ],
        (Kind::Uint8, tch::Device::Cpu),
    )?;
    fill_clips(video, windows, preset, &crops, false)?;
    Ok(crops)
}

/// Converts and transforms every distinct frame of `windows` once, [`CHUNK`] frames at a
/// time, and copies it into each `(clip, time)` slot of `out` (a `[clips, T, 3, h, w]` view)
/// that uses it; normalized when `normalize`, else the rounded 0..=255 values.
fn fill_clips(
    video: &DecodedVideo,
    windows: &[ClipWindow],
    preset: &Preset,
    out: &Tensor,
    normalize: bool,
) -> Result<()> {
    let (unique, slots) = unique_frames(windows);
    let mut transform = FrameTransform::new(preset)?;
    for (frames, frame_slots) in unique.chunks(CHUNK).zip(slots.chunks(CHUNK)) {
        let mut xs = transform.rounded_crops(&rgb_tensor(&video.rgb_frames(frames)?)?)?;
        if normalize {
            transform.normalize_(&mut xs)?;
        }
        for (j, frame_slots) in frame_slots.iter().enumerate() {
            let frame = xs.f_select(0, j as i64)?;
            for &(clip, time) in frame_slots {
                out.f_select(0, clip as i64)?
                    .f_select(0, time as i64)?
                    .f_copy_(&frame)?;
            }
        }
    }
    Ok(())
}

/// The distinct frame indices of `windows`, ascending, and for each of them the `(clip,
/// time)` slots it fills.
fn unique_frames(windows: &[ClipWindow]) -> (Vec<usize>, Vec<Vec<(usize, usize)>>) {
    let mut unique: Vec<usize> = windows
        .iter()
        .flat_map(|w| w.frame_indices.iter().copied())
        .collect();
    unique.sort_unstable();
    unique.dedup();
    let mut slots = vec![Vec::new(); unique.len()];
    for (clip, window) in windows.iter().enumerate() {
        for (time, frame) in window.frame_indices.iter().enumerate() {
            if let Ok(u) = unique.binary_search(frame) {
                slots[u].push((clip, time));
            }
        }
    }
    (unique, slots)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unique_frames_dedups_and_maps_back() {
        let w = |index, frame_indices: Vec<usize>| ClipWindow {
            index,
            frame_indices,
            padded: false,
        };
        let windows = [
            w(0, vec![0, 2, 4]),
            w(1, vec![2, 4, 6]),
            w(1, vec![2, 4, 6]),
        ];
        let (unique, slots) = unique_frames(&windows);
        assert_eq!(unique, [0, 2, 4, 6]);
        assert_eq!(
            slots,
            [
                vec![(0, 0)],
                vec![(0, 1), (1, 0), (2, 0)],
                vec![(0, 2), (1, 1), (2, 1)],
                vec![(1, 2), (2, 2)],
            ]
        );
    }
}

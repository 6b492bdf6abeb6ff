//! Wiring of image mode: one picture (anything FFmpeg decodes as a single frame) becomes a
//! one-frame clip `[1, 3, 1, crop_h, crop_w]` through torchvision's `ImageClassification`
//! preset ([`transforms::image_classification`]), in the same [`VideoClips`] shape the video
//! path gives, so scoring and output need not know the difference.
use std::path::Path;

use crate::clips::{Clip, VideoClips};
use crate::decode::{decode_video, media_kind, MediaKind};
use crate::error::{Error, Result};
use crate::preset::Preset;
use crate::transforms;

/// Decodes the image at `path` and applies `preset` (an image preset, clip_len 1).
pub fn load_image(path: &Path, preset: &Preset) -> Result<VideoClips> {
    if media_kind(path)? != MediaKind::Image {
        return Err(Error::decode(
            path,
            "not an image (FFmpeg reads it as a video)",
        ));
    }
    let video = decode_video(path)?;
    let mut warnings = video.warnings().to_vec();
    if video.len() > 1 {
        warnings.push(format!(
            "{} frames decoded from an image; using the first",
            video.len()
        ));
    }
    let frame = transforms::rgb_tensor(&video.rgb_frames(&[0])?)?;
    let xs = transforms::image_classification(&frame, preset)
        .map_err(|e| Error::decode(path, e.to_string()))?;
    // [1, 3, h, w] → [1, 3, 1, h, w]: a one-frame clip.
    let tensor = xs.f_unsqueeze(2)?.f_contiguous()?;
    let pts = video.pts_secs(0);
    Ok(VideoClips {
        info: video.info().clone(),
        frames_decoded: video.len(),
        candidate_windows: 1,
        clips: vec![Clip {
            index: 0,
            frame_indices: vec![0],
            first_frame: 0,
            last_frame: 0,
            start_secs: pts,
            end_secs: pts,
            padded: false,
        }],
        tensor,
        warnings,
    })
}

//! Evaluation presets: how a model wants its clips sampled and transformed. Values are
//! torchvision's `VideoClassification` transforms and its documented Kinetics-400 protocol
//! (shared/spec/models.md); `transforms` and `sampling` interpret them.

/// Output size of the resize step.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Resize {
    /// Exactly `height`×`width` (torchvision's two-element `resize_size`).
    Exact { height: u32, width: u32 },
    /// Short side becomes this; long side `int(short_side · long / short)`.
    ShortSide(u32),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Interpolation {
    Bilinear,
    Bicubic,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Preset {
    pub resize: Resize,
    /// Center crop, (height, width).
    pub crop: (u32, u32),
    pub interpolation: Interpolation,
    /// Video presets resize without antialiasing (torchvision hard-codes `antialias=False`).
    pub antialias: bool,
    pub mean: [f32; 3],
    pub std: [f32; 3],
    /// Frames per clip.
    pub clip_len: usize,
    /// Frames per second the video is resampled to before windows are cut.
    pub frame_rate: f64,
    pub clips_per_video: usize,
}

const KINETICS_RESNET_MEAN: [f32; 3] = [0.43216, 0.394666, 0.37645];
const KINETICS_RESNET_STD: [f32; 3] = [0.22803, 0.22145, 0.216989];

impl Preset {
    /// r3d_18, mc3_18, r2plus1d_18.
    pub fn video_resnet() -> Self {
        Preset {
            resize: Resize::Exact {
                height: 128,
                width: 171,
            },
            crop: (112, 112),
            interpolation: Interpolation::Bilinear,
            antialias: false,
            mean: KINETICS_RESNET_MEAN,
            std: KINETICS_RESNET_STD,
            clip_len: 16,
            frame_rate: 15.0,
            clips_per_video: 5,
        }
    }

    pub fn s3d() -> Self {
        Preset {
            resize: Resize::Exact {
                height: 256,
                width: 256,
            },
            crop: (224, 224),
            clip_len: 128,
            clips_per_video: 1,
            ..Self::video_resnet()
        }
    }

    pub fn mvit() -> Self {
        Preset {
            resize: Resize::ShortSide(256),
            crop: (224, 224),
            interpolation: Interpolation::Bilinear,
            antialias: false,
            mean: [0.45; 3],
            std: [0.225; 3],
            clip_len: 16,
            frame_rate: 7.5,
            clips_per_video: 5,
        }
    }

    pub fn swin3d() -> Self {
        Preset {
            resize: Resize::ShortSide(256),
            crop: (224, 224),
            interpolation: Interpolation::Bilinear,
            antialias: false,
            mean: [0.485, 0.456, 0.406],
            std: [0.229, 0.224, 0.225],
            clip_len: 32,
            frame_rate: 15.0,
            clips_per_video: 12,
        }
    }

    /// torchvision's `ImageClassification` for an ImageNet model: short side to `resize`,
    /// center crop `crop`×`crop`, antialiased, ImageNet mean/std; an image is a one-frame clip.
    pub fn imagenet(resize: u32, crop: u32, interpolation: Interpolation) -> Self {
        Preset {
            resize: Resize::ShortSide(resize),
            crop: (crop, crop),
            interpolation,
            antialias: true,
            mean: [0.485, 0.456, 0.406],
            std: [0.229, 0.224, 0.225],
            clip_len: 1,
            // Irrelevant for a single picture.
            frame_rate: 1.0,
            clips_per_video: 1,
        }
    }

    /// Size after the resize step for an input of `height`×`width`, as (height, width).
    pub fn resized_size(&self, height: u32, width: u32) -> (u32, u32) {
        match self.resize {
            Resize::Exact { height, width } => (height, width),
            Resize::ShortSide(short_side) => {
                let (short, long) = if width <= height {
                    (width, height)
                } else {
                    (height, width)
                };
                // torchvision: int(requested_new_short * long / short), an integer product
                // divided in floating point, then truncated.
                let new_long = ((short_side as u64 * long as u64) as f64 / short as f64) as u32;
                if width <= height {
                    (new_long, short_side)
                } else {
                    (short_side, new_long)
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_side_resize_truncates_like_torchvision() {
        let p = Preset::mvit();
        // 340x256 (w x h): short = 256 -> unchanged; long = int(256*340/256) = 340.
        assert_eq!(p.resized_size(256, 340), (256, 340));
        // 320x240: long = int(256*320/240) = int(341.33) = 341.
        assert_eq!(p.resized_size(240, 320), (256, 341));
        // Portrait 240x321 (w x h): long = int(256*321/240) = int(342.4) = 342.
        assert_eq!(p.resized_size(321, 240), (342, 256));
    }

    #[test]
    fn exact_resize_ignores_input() {
        assert_eq!(Preset::video_resnet().resized_size(720, 1280), (128, 171));
    }
}

//! A model's preset applied to RGB frames: torchvision 0.28's `VideoClassification`
//! (`torchvision/transforms/_presets.py`), op for op, with libtorch:
//!
//! 1. `F.resize(vid, resize_size, interpolation, antialias=False)`: uint8 frames go through
//!    `_functional_tensor.resize`, which casts to float32, calls `interpolate` with
//!    `align_corners=False` (clamps to 0..255 for bicubic), then `torch.round` (half to even)
//!    and casts back to uint8. v1 `F.resize` has no native uint8 path (that is v2 only), and it
//!    returns the input untouched when it already has the output size.
//! 2. `F.center_crop`: zero padding if the crop is larger than the image, then
//!    `top = int(round((H − crop_h) / 2.0))`, Python's round half to even.
//! 3. `F.convert_image_dtype(vid, torch.float)`: `x / 255` in float32.
//! 4. `F.normalize`: `(x − mean) / std`, float32.
//!
//! Frames are interpolated as `[N, 3, H, W]` channels-last float32 tensors, the layout
//! torchcodec's frames have in the reference, so libtorch runs the same kernel. Same values,
//! cheaper: frames go through in chunks of [`CHUNK`] with a reused buffer (the full-size float
//! copy of a whole clip does not fit in cache and costs most of the time), the crop is taken
//! before rounding, and the rounded values skip the uint8 round trip (they are integers in
//! 0..=255, so casting to uint8 and back changes nothing). `VideoClassification` then
//! permutes `(N, T, C, H, W)` to `(N, C, T, H, W)`; `clips` does that after gathering frames
//! into clips.
use ndarray::Array4;
use tch::{Kind, Tensor};

use crate::error::{Error, Result};
use crate::preset::{Interpolation, Preset};

/// Frames interpolated per libtorch call: the float32 copies of 8 frames of a few hundred
/// pixels square stay in cache; a whole clip's do not.
pub const CHUNK: usize = 8;

/// Decoded RGB frames (uint8 `[N, H, W, 3]`, as `decode` gives them) as a CPU tensor of the
/// same shape, the input of the functions below.
pub fn rgb_tensor(frames: &Array4<u8>) -> Result<Tensor> {
    let size: Vec<i64> = frames.shape().iter().map(|&d| d as i64).collect();
    let standard = frames.as_standard_layout();
    let data = standard
        .as_slice()
        .ok_or_else(|| Error::Invalid("transforms: frames not contiguous".to_owned()))?;
    Ok(Tensor::f_from_data_size(data, &size, Kind::Uint8)?)
}

/// Steps 1–2: uint8 `[N, H, W, 3]` RGB frames → uint8 `[N, 3, crop_h, crop_w]`.
pub fn resize_and_crop(frames: &Tensor, preset: &Preset) -> Result<Tensor> {
    let crops = FrameTransform::new(preset)?.rounded_crops(frames)?;
    Ok(crops.f_to_kind(Kind::Uint8)?.f_contiguous()?)
}

/// Steps 3–4: uint8 `[N, 3, h, w]` → float32 `[N, 3, h, w]`, contiguous.
pub fn normalize(crops: &Tensor, preset: &Preset) -> Result<Tensor> {
    let size = crops.size();
    if size.len() != 4 || size[1] != 3 || crops.kind() != Kind::Uint8 {
        return Err(Error::Invalid(format!(
            "transforms: expected uint8 crops [N, 3, h, w], got {:?} {size:?}",
            crops.kind()
        )));
    }
    let mut xs = crops.f_to_kind(Kind::Float)?;
    FrameTransform::new(preset)?.normalize_(&mut xs)?;
    Ok(xs.f_contiguous()?)
}

/// The whole preset: uint8 `[N, H, W, 3]` → float32 `[N, 3, crop_h, crop_w]`, contiguous.
pub fn video_classification(frames: &Tensor, preset: &Preset) -> Result<Tensor> {
    let mut transform = FrameTransform::new(preset)?;
    let mut xs = transform.rounded_crops(frames)?;
    transform.normalize_(&mut xs)?;
    Ok(xs.f_contiguous()?)
}

/// The preset's per-frame steps, kept across calls so its float32 buffer is reused (callers
/// that feed frames [`CHUNK`] at a time allocate almost nothing per chunk).
pub struct FrameTransform {
    preset: Preset,
    mean: Tensor,
    std: Tensor,
    /// Channels-last float32 `[CHUNK, 3, H, W]` (over `[CHUNK, H, W, 3]` memory).
    buffer: Option<Tensor>,
}

impl FrameTransform {
    pub fn new(preset: &Preset) -> Result<Self> {
        Ok(FrameTransform {
            preset: preset.clone(),
            mean: Tensor::f_from_slice(&preset.mean)?.f_view([3, 1, 1])?,
            std: Tensor::f_from_slice(&preset.std)?.f_view([3, 1, 1])?,
            buffer: None,
        })
    }

    /// Steps 1–2 in float32: uint8 `[N, H, W, 3]` → float32 `[N, 3, crop_h, crop_w]` holding
    /// the rounded values (integers in 0..=255) torchvision would cast to uint8.
    pub fn rounded_crops(&mut self, frames: &Tensor) -> Result<Tensor> {
        let size = frames.size();
        if size.len() != 4 || size[3] != 3 || frames.kind() != Kind::Uint8 {
            return Err(Error::Invalid(format!(
                "transforms: expected uint8 frames [N, H, W, 3], got {:?} {size:?}",
                frames.kind()
            )));
        }
        if size[1] == 0 || size[2] == 0 {
            return Err(Error::Invalid(format!("transforms: empty frames {size:?}")));
        }
        let n = size[0];
        let chunk = CHUNK as i64;
        if n <= chunk {
            return self.chunk(frames);
        }
        let (crop_h, crop_w) = (self.preset.crop.0 as i64, self.preset.crop.1 as i64);
        let out = Tensor::f_empty([n, 3, crop_h, crop_w], (Kind::Float, tch::Device::Cpu))?;
        let mut start = 0;
        while start < n {
            let len = chunk.min(n - start);
            let crops = self.chunk(&frames.f_narrow(0, start, len)?)?;
            out.f_narrow(0, start, len)?.f_copy_(&crops)?;
            start += len;
        }
        Ok(out)
    }

    /// Steps 3–4 in place on float32 values 0..=255: `x / 255`, then `(x − mean) / std`.
    pub fn normalize_(&self, xs: &mut Tensor) -> Result<()> {
        let _ = xs.f_div_scalar_(255.0)?;
        let _ = xs.f_sub_(&self.mean)?;
        let _ = xs.f_div_(&self.std)?;
        Ok(())
    }

    /// [`Self::rounded_crops`] for at most [`CHUNK`] checked frames.
    fn chunk(&mut self, frames: &Tensor) -> Result<Tensor> {
        let size = frames.size();
        let (n, height, width) = (size[0], size[1], size[2]);
        let fits = |b: &Tensor| {
            let s = b.size();
            s[2] == height && s[3] == width
        };
        let buffer = match self.buffer.take() {
            Some(b) if fits(&b) => b,
            _ => Tensor::f_empty(
                [CHUNK as i64, height, width, 3],
                (Kind::Float, tch::Device::Cpu),
            )?
            .f_permute([0, 3, 1, 2])?,
        };
        let mut xs = buffer.f_narrow(0, 0, n)?;
        self.buffer = Some(buffer);
        // uint8 → float32, exact (torchvision's `_cast_squeeze_in`).
        xs.f_copy_(&frames.f_permute([0, 3, 1, 2])?)?;
        let (resized_h, resized_w) = self.preset.resized_size(height as u32, width as u32);
        let xs = if (resized_h as i64, resized_w as i64) == (height, width) {
            xs
        } else {
            resize_float(&xs, resized_h as i64, resized_w as i64, &self.preset)?
        };
        let (crop_h, crop_w) = (self.preset.crop.0 as i64, self.preset.crop.1 as i64);
        // round() makes a fresh tensor: the buffer is free for the next chunk.
        Ok(center_crop(&xs, crop_h, crop_w)?.f_round()?)
    }
}

/// `_functional_tensor.resize`'s interpolation of float32 frames (before its round and cast).
fn resize_float(xs: &Tensor, height: i64, width: i64, preset: &Preset) -> Result<Tensor> {
    let size = [height, width];
    Ok(match (preset.interpolation, preset.antialias) {
        (Interpolation::Bilinear, false) => xs.f_upsample_bilinear2d(size, false, None, None)?,
        (Interpolation::Bilinear, true) => {
            xs.f_internal_upsample_bilinear2d_aa(size, false, None, None)?
        }
        (Interpolation::Bicubic, false) => xs
            .f_upsample_bicubic2d(size, false, None, None)?
            .f_clamp(0.0, 255.0)?,
        (Interpolation::Bicubic, true) => xs
            .f_internal_upsample_bicubic2d_aa(size, false, None, None)?
            .f_clamp(0.0, 255.0)?,
    })
}

/// `F.center_crop` on `[N, C, H, W]`.
fn center_crop(xs: &Tensor, crop_h: i64, crop_w: i64) -> Result<Tensor> {
    let size = xs.size();
    let (mut height, mut width) = (size[2], size[3]);
    let mut xs = xs.shallow_clone();
    if crop_h > height || crop_w > width {
        let pad = |crop: i64, have: i64| {
            if crop > have {
                ((crop - have) / 2, (crop - have + 1) / 2)
            } else {
                (0, 0)
            }
        };
        let (left, right) = pad(crop_w, width);
        let (top, bottom) = pad(crop_h, height);
        // Zero fill, last dimension first: [left, right, top, bottom].
        xs = xs.f_constant_pad_nd([left, right, top, bottom])?;
        height += top + bottom;
        width += left + right;
        if (height, width) == (crop_h, crop_w) {
            return Ok(xs);
        }
    }
    let top = round_half_even_half(height - crop_h);
    let left = round_half_even_half(width - crop_w);
    Ok(xs.f_narrow(2, top, crop_h)?.f_narrow(3, left, crop_w)?)
}

/// Python's `int(round(d / 2.0))` for d ≥ 0: halves round to even.
fn round_half_even_half(d: i64) -> i64 {
    let half = d.div_euclid(2);
    if d % 2 == 0 || half % 2 == 0 {
        half
    } else {
        half + 1
    }
}

/// torchvision's `ImageClassification` (`_presets.py`) on one decoded image, as torchvision
/// runs it on a PIL image (what its ImageNet accuracies are measured with): uint8 RGB
/// `[1, H, W, 3]` → float32 `[1, 3, crop_h, crop_w]`, contiguous.
///
/// 1. `F.resize(img, resize_size, interpolation, antialias=True)` on a PIL image is PIL's
///    `Image.resize`, an antialiased separable filter in fixed-point uint8 arithmetic:
///    [`pil_resize`] reproduces it bit for bit (the tensor path, libtorch's
///    `_upsample_*_aa` in float32 then rounded, differs by ±1 in some pixels).
/// 2. `F.center_crop` (same offsets as the video path), 3. `pil_to_tensor` and
///    `convert_image_dtype` (`x / 255`), 4. `F.normalize`.
pub fn image_classification(frames: &Tensor, preset: &Preset) -> Result<Tensor> {
    let size = frames.size();
    if size.len() != 4 || size[0] != 1 || size[3] != 3 || frames.kind() != Kind::Uint8 {
        return Err(Error::Invalid(format!(
            "transforms: expected one uint8 image [1, H, W, 3], got {:?} {size:?}",
            frames.kind()
        )));
    }
    let (height, width) = (size[1], size[2]);
    if height == 0 || width == 0 {
        return Err(Error::Invalid(format!("transforms: empty image {size:?}")));
    }
    let (resized_h, resized_w) = preset.resized_size(height as u32, width as u32);
    let (resized_h, resized_w) = (resized_h as i64, resized_w as i64);
    let image = frames.f_select(0, 0)?.f_contiguous()?;
    let image = if (resized_h, resized_w) == (height, width) {
        image
    } else {
        let pixels = Vec::<u8>::try_from(&image.f_view([-1])?)?;
        let resized = pil_resize(
            &pixels,
            (height as usize, width as usize),
            (resized_h as usize, resized_w as usize),
            preset.interpolation,
        )?;
        Tensor::f_from_slice(&resized)?.f_view([resized_h, resized_w, 3])?
    };
    let (crop_h, crop_w) = (preset.crop.0 as i64, preset.crop.1 as i64);
    let xs = image.f_permute([2, 0, 1])?.f_unsqueeze(0)?;
    let mut xs = center_crop(&xs, crop_h, crop_w)?.f_to_kind(Kind::Float)?;
    FrameTransform::new(preset)?.normalize_(&mut xs)?;
    Ok(xs.f_contiguous()?)
}

/// PIL's fixed-point precision for 8-bit resampling (`Resample.c`: `32 − 8 − 2`).
const PIL_PRECISION_BITS: u32 = 32 - 8 - 2;

/// PIL's (Pillow ≥ 4) `ImagingResample` for a packed RGB uint8 image `[H, W, 3]`:
/// `Image.resize((w, h), BILINEAR | BICUBIC)` with the whole image as the box. A horizontal
/// pass over the rows the vertical pass needs, then a vertical pass, each with per-output
/// coefficients computed in double, normalized to sum 1, converted to fixed point with
/// `PRECISION_BITS` fraction bits (rounded away from zero), accumulated in 32-bit integers
/// from `1 << (PRECISION_BITS − 1)` and clipped to 0..=255.
pub fn pil_resize(
    pixels: &[u8],
    (height, width): (usize, usize),
    (out_h, out_w): (usize, usize),
    interpolation: Interpolation,
) -> Result<Vec<u8>> {
    if pixels.len() != height * width * 3 || out_h == 0 || out_w == 0 || height == 0 || width == 0 {
        return Err(Error::Invalid(format!(
            "pil_resize: {} bytes for a {height}×{width} RGB image, output {out_h}×{out_w}",
            pixels.len()
        )));
    }
    let horizontal = PilCoeffs::new(width, out_w, interpolation);
    let vertical = PilCoeffs::new(height, out_h, interpolation);
    // Rows of the input the vertical pass reads.
    let first_row = vertical.bounds[0].0;
    let last_row = vertical.bounds[out_h - 1].0 + vertical.bounds[out_h - 1].1;
    // The horizontal pass covers exactly those rows (all of them when the height stays).
    let (row_offset, src) = if out_w != width {
        let rows = last_row - first_row;
        let mut tmp = vec![0u8; rows * out_w * 3];
        for y in 0..rows {
            let line = &pixels[(y + first_row) * width * 3..(y + first_row + 1) * width * 3];
            for (x, &(xmin, n)) in horizontal.bounds.iter().enumerate() {
                let k = &horizontal.kk[x * horizontal.ksize..x * horizontal.ksize + n];
                for c in 0..3 {
                    let mut ss: i32 = 1 << (PIL_PRECISION_BITS - 1);
                    for (i, &w) in k.iter().enumerate() {
                        ss = ss.wrapping_add(line[(xmin + i) * 3 + c] as i32 * w);
                    }
                    tmp[(y * out_w + x) * 3 + c] = pil_clip8(ss);
                }
            }
        }
        (first_row, tmp)
    } else {
        (0, pixels.to_vec())
    };
    if out_h == height {
        return Ok(src);
    }
    let mut out = vec![0u8; out_h * out_w * 3];
    for (y, &(ymin, n)) in vertical.bounds.iter().enumerate() {
        let ymin = ymin - row_offset;
        let k = &vertical.kk[y * vertical.ksize..y * vertical.ksize + n];
        for x in 0..out_w {
            for c in 0..3 {
                let mut ss: i32 = 1 << (PIL_PRECISION_BITS - 1);
                for (i, &w) in k.iter().enumerate() {
                    ss = ss.wrapping_add(src[((ymin + i) * out_w + x) * 3 + c] as i32 * w);
                }
                out[(y * out_w + x) * 3 + c] = pil_clip8(ss);
            }
        }
    }
    Ok(out)
}

fn pil_clip8(ss: i32) -> u8 {
    let v = ss >> PIL_PRECISION_BITS;
    v.clamp(0, 255) as u8
}

/// `precompute_coeffs` + `normalize_coeffs_8bpc` of PIL's `Resample.c` for one axis.
struct PilCoeffs {
    ksize: usize,
    /// Per output pixel: first input pixel and number of taps.
    bounds: Vec<(usize, usize)>,
    /// Fixed-point taps, `ksize` per output pixel.
    kk: Vec<i32>,
}

impl PilCoeffs {
    fn new(in_size: usize, out_size: usize, interpolation: Interpolation) -> Self {
        let (support, filter): (f64, fn(f64) -> f64) = match interpolation {
            Interpolation::Bilinear => (1.0, |x: f64| {
                let x = x.abs();
                if x < 1.0 {
                    1.0 - x
                } else {
                    0.0
                }
            }),
            Interpolation::Bicubic => (2.0, |x: f64| {
                // PIL's bicubic, a = −0.5.
                const A: f64 = -0.5;
                let x = x.abs();
                if x < 1.0 {
                    ((A + 2.0) * x - (A + 3.0)) * x * x + 1.0
                } else if x < 2.0 {
                    (((x - 5.0) * x + 8.0) * x - 4.0) * A
                } else {
                    0.0
                }
            }),
        };
        let scale = in_size as f64 / out_size as f64;
        let filterscale = scale.max(1.0);
        let support = support * filterscale;
        let ksize = support.ceil() as usize * 2 + 1;
        let mut bounds = Vec::with_capacity(out_size);
        let mut kk = vec![0i32; out_size * ksize];
        let mut weights = vec![0f64; ksize];
        for xx in 0..out_size {
            let center = (xx as f64 + 0.5) * scale;
            let ss = 1.0 / filterscale;
            // C's (int) truncates toward zero; the values here are > −1 before clamping.
            let xmin = ((center - support + 0.5) as i64).max(0) as usize;
            let xmax = ((center + support + 0.5) as i64).min(in_size as i64) as usize;
            let n = xmax.saturating_sub(xmin).min(ksize);
            let mut total = 0.0;
            for (x, w) in weights.iter_mut().enumerate().take(n) {
                *w = filter((x as f64 + xmin as f64 - center + 0.5) * ss);
                total += *w;
            }
            for (x, &w) in weights.iter().enumerate().take(n) {
                let w = if total != 0.0 { w / total } else { w };
                let fixed = w * (1u32 << PIL_PRECISION_BITS) as f64;
                kk[xx * ksize + x] = if w < 0.0 {
                    (-0.5 + fixed) as i32
                } else {
                    (0.5 + fixed) as i32
                };
            }
            bounds.push((xmin, n));
        }
        PilCoeffs { ksize, bounds, kk }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::preset::{Interpolation, Resize};

    fn preset(resize: Resize, crop: (u32, u32)) -> Preset {
        Preset {
            resize,
            crop,
            ..Preset::video_resnet()
        }
    }

    fn frames_from(values: &[u8], n: i64, h: i64, w: i64) -> Tensor {
        Tensor::from_slice(values).view([n, h, w, 3])
    }

    fn to_vec_u8(t: &Tensor) -> Vec<u8> {
        let t = t.contiguous().view([-1]);
        Vec::<u8>::try_from(&t).unwrap()
    }

    fn to_vec_f32(t: &Tensor) -> Vec<f32> {
        let t = t.contiguous().view([-1]);
        Vec::<f32>::try_from(&t).unwrap()
    }

    #[test]
    fn crop_offsets_round_half_to_even() {
        assert_eq!(round_half_even_half(0), 0);
        assert_eq!(round_half_even_half(1), 0); // round(0.5) = 0
        assert_eq!(round_half_even_half(3), 2); // round(1.5) = 2
        assert_eq!(round_half_even_half(5), 2); // round(2.5) = 2
        assert_eq!(round_half_even_half(16), 8);
        assert_eq!(round_half_even_half(59), 30); // 171 − 112: round(29.5) = 30
    }

    #[test]
    fn center_crop_picks_the_middle_with_even_rounding() {
        // One 4×5 single-valued-per-pixel frame: value = 10·row + col.
        let values: Vec<u8> = (0..4)
            .flat_map(|r| (0..5).flat_map(move |c| [10 * r + c; 3]))
            .collect();
        let p = preset(
            Resize::Exact {
                height: 4,
                width: 5,
            },
            (2, 2),
        );
        let out = resize_and_crop(&frames_from(&values, 1, 4, 5), &p).unwrap();
        assert_eq!(out.size(), [1, 3, 2, 2]);
        // top = round(1.0) = 1, left = round(1.5) = 2.
        let red: Vec<u8> = to_vec_u8(&out.select(1, 0));
        assert_eq!(red, [12, 13, 22, 23]);
    }

    #[test]
    fn crop_larger_than_image_pads_with_zeros() {
        let values = vec![7u8; 2 * 2 * 3];
        let p = preset(
            Resize::Exact {
                height: 2,
                width: 2,
            },
            (3, 4),
        );
        let out = resize_and_crop(&frames_from(&values, 1, 2, 2), &p).unwrap();
        assert_eq!(out.size(), [1, 3, 3, 4]);
        // Padding: left (4−2)/2 = 1, right 1, top (3−2)/2 = 0, bottom 1.
        let red = to_vec_u8(&out.select(1, 0));
        assert_eq!(red, [0, 7, 7, 0, 0, 7, 7, 0, 0, 0, 0, 0]);
    }

    #[test]
    fn bilinear_downscale_matches_half_pixel_formula() {
        // 1×4 → 1×2 without antialias: output x samples input at (x + 0.5)·2 − 0.5 = 0.5,
        // 2.5, i.e. the means of pixels (0,1) and (2,3); 0.5 ties round to even.
        let values: Vec<u8> = [10u8, 21, 30, 40].iter().flat_map(|&v| [v; 3]).collect();
        let p = preset(
            Resize::Exact {
                height: 1,
                width: 2,
            },
            (1, 2),
        );
        let out = resize_and_crop(&frames_from(&values, 1, 1, 4), &p).unwrap();
        // (10 + 21) / 2 = 15.5 → 16; (30 + 40) / 2 = 35.
        assert_eq!(to_vec_u8(&out.select(1, 0)), [16, 35]);
        // Same value in every channel.
        assert_eq!(to_vec_u8(&out.select(1, 2)), [16, 35]);
    }

    #[test]
    fn rounding_is_half_to_even_like_torch_round() {
        // Means 12.5 and 13.5 → 12 and 14.
        let values: Vec<u8> = [12u8, 13, 13, 14].iter().flat_map(|&v| [v; 3]).collect();
        let p = preset(
            Resize::Exact {
                height: 1,
                width: 2,
            },
            (1, 2),
        );
        let out = resize_and_crop(&frames_from(&values, 1, 1, 4), &p).unwrap();
        assert_eq!(to_vec_u8(&out.select(1, 0)), [12, 14]);
    }

    #[test]
    fn same_size_resize_is_identity_and_channels_stay_apart() {
        let values: Vec<u8> = (0..2 * 3 * 3).map(|v| v as u8).collect();
        let p = preset(
            Resize::Exact {
                height: 2,
                width: 3,
            },
            (2, 3),
        );
        let out = resize_and_crop(&frames_from(&values, 1, 2, 3), &p).unwrap();
        assert_eq!(to_vec_u8(&out.select(1, 1)), [1, 4, 7, 10, 13, 16]);
    }

    #[test]
    fn normalize_divides_by_255_then_standardizes() {
        let p = Preset::video_resnet();
        let crops = Tensor::from_slice(&[0u8, 255, 128]).view([1, 3, 1, 1]);
        let out = to_vec_f32(&normalize(&crops, &p).unwrap());
        let want: Vec<f32> = [0u8, 255, 128]
            .iter()
            .zip(p.mean.iter().zip(&p.std))
            .map(|(&v, (&m, &s))| (v as f32 / 255.0 - m) / s)
            .collect();
        assert_eq!(out, want);
    }

    #[test]
    fn full_preset_gives_planar_float_crops() {
        let p = Preset::video_resnet();
        let frames = Tensor::zeros([2, 240, 320, 3], (Kind::Uint8, tch::Device::Cpu));
        let out = video_classification(&frames, &p).unwrap();
        assert_eq!(out.size(), [2, 3, 112, 112]);
        assert_eq!(out.kind(), Kind::Float);
        let first = to_vec_f32(&out.select(1, 0));
        assert!(first.iter().all(|&v| v == -p.mean[0] / p.std[0]));
    }

    #[test]
    fn short_side_resize_keeps_aspect() {
        let p = Preset::mvit();
        let frames = Tensor::zeros([1, 240, 320, 3], (Kind::Uint8, tch::Device::Cpu));
        // 320×240 → 341×256, crop 224.
        let out = resize_and_crop(&frames, &p).unwrap();
        assert_eq!(out.size(), [1, 3, 224, 224]);
    }

    #[test]
    fn pil_resize_bilinear_downscale_uses_the_widened_filter() {
        // 1×4 → 1×2: PIL widens the triangle to support 2 (scale 2), so output 0 takes
        // pixels 0..3 with weights 3/7, 3/7, 1/7 (17.57 → 18) and output 1 pixels 1..4 with
        // 1/7, 3/7, 3/7 (33.0 → 33), in fixed point.
        let values: Vec<u8> = [10u8, 21, 30, 40].iter().flat_map(|&v| [v; 3]).collect();
        let out = pil_resize(&values, (1, 4), (1, 2), Interpolation::Bilinear).unwrap();
        assert_eq!(out, [18, 18, 18, 33, 33, 33]);
        // Same size: untouched.
        let same = pil_resize(&values, (1, 4), (1, 4), Interpolation::Bicubic).unwrap();
        assert_eq!(same, values);
        // Wrong buffer length: an error.
        assert!(pil_resize(&values, (2, 4), (1, 2), Interpolation::Bilinear).is_err());
    }

    #[test]
    fn image_preset_gives_one_normalized_crop() {
        let p = Preset::imagenet(8, 6, Interpolation::Bicubic);
        let frame = Tensor::full([1, 12, 10, 3], 200, (Kind::Uint8, tch::Device::Cpu));
        let out = image_classification(&frame, &p).unwrap();
        assert_eq!(out.size(), [1, 3, 6, 6]);
        // A constant image stays constant through PIL's normalized filters.
        let red = to_vec_f32(&out.select(1, 0));
        assert!(red
            .iter()
            .all(|&v| v == (200.0 / 255.0 - p.mean[0]) / p.std[0]));
        let two = Tensor::zeros([2, 12, 10, 3], (Kind::Uint8, tch::Device::Cpu));
        assert!(image_classification(&two, &p).is_err());
    }

    #[test]
    fn wrong_input_is_an_error_not_a_panic() {
        let p = Preset::video_resnet();
        let bad = Tensor::zeros([2, 3, 8, 8], (Kind::Float, tch::Device::Cpu));
        assert!(resize_and_crop(&bad, &p).is_err());
        assert!(normalize(&bad, &p).is_err());
    }
}

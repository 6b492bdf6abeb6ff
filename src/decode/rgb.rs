//! Decoded pictures → packed RGB24, exactly as torchcodec 0.17 makes them (see the notes of
//! `decode`): libswscale with flags 0, the frame's own colour matrix and range, padded rows
//! for widths that are not a multiple of 32; then the display-matrix rotation as axis
//! operations on the `[N, H, W, 3]` array.
use std::os::raw::c_int;
use std::ptr;

use ffmpeg_next::{ffi, frame};
use ndarray::{Array4, Axis};

/// YUV (or whatever the decoder gives) → packed RGB24 with libswscale, set up as torchcodec
/// sets it up; caches one context per frame geometry and colour description.
#[derive(Default)]
pub(super) struct Converter {
    sws: Option<(Key, *mut ffi::SwsContext)>,
    /// Padded destination rows for widths that are not a multiple of 32.
    scratch: Vec<u8>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
struct Key {
    width: c_int,
    height: c_int,
    format: c_int,
    colorspace: ffi::AVColorSpace,
    color_range: ffi::AVColorRange,
}

impl Drop for Converter {
    fn drop(&mut self) {
        if let Some((_, sws)) = self.sws.take() {
            // SAFETY: `sws` came from sws_getContext and is freed only here.
            unsafe { ffi::sws_freeContext(sws) };
        }
    }
}

impl Converter {
    fn context(&mut self, key: Key) -> Result<*mut ffi::SwsContext, String> {
        if let Some((k, sws)) = self.sws {
            if k == key {
                return Ok(sws);
            }
            self.sws = None;
            // SAFETY: `sws` came from sws_getContext and is no longer cached.
            unsafe { ffi::sws_freeContext(sws) };
        }
        if !(0..ffi::AVPixelFormat::AV_PIX_FMT_NB as c_int).contains(&key.format) {
            return Err(format!("unknown pixel format {}", key.format));
        }
        // SAFETY: AVPixelFormat is a C enum without gaps from 0 to AV_PIX_FMT_NB, and
        // `key.format` lies in that range (checked above).
        let src_format: ffi::AVPixelFormat = unsafe { std::mem::transmute(key.format) };
        // torchcodec's create_sws_context(config, /*swsFlags=*/0): same size in and out,
        // flags 0 (swscale falls back to bicubic), no filters or params.
        // SAFETY: valid sizes and formats; null filters/params are allowed; a null result is
        // checked.
        let sws = unsafe {
            ffi::sws_getContext(
                key.width,
                key.height,
                src_format,
                key.width,
                key.height,
                ffi::AVPixelFormat::AV_PIX_FMT_RGB24,
                0,
                ptr::null_mut(),
                ptr::null_mut(),
                ptr::null(),
            )
        };
        if sws.is_null() {
            return Err(format!(
                "libswscale cannot convert pixel format {} to RGB24",
                key.format
            ));
        }
        self.sws = Some((key, sws));
        // Colour matrix from the frame's colorspace, range from its color_range when it has
        // one — as torchcodec's create_sws_context does.
        // SAFETY: `sws` is a valid context; the out-pointers point at locals; the tables come
        // from swscale itself (sws_getCoefficients never returns null).
        unsafe {
            let mut inv_table: *mut c_int = ptr::null_mut();
            let mut table: *mut c_int = ptr::null_mut();
            let (mut src_range, mut dst_range) = (0, 0);
            let (mut brightness, mut contrast, mut saturation) = (0, 0, 0);
            let ret = ffi::sws_getColorspaceDetails(
                sws,
                &mut inv_table,
                &mut src_range,
                &mut table,
                &mut dst_range,
                &mut brightness,
                &mut contrast,
                &mut saturation,
            );
            if ret < 0 {
                return Err("sws_getColorspaceDetails failed".to_owned());
            }
            if key.color_range != ffi::AVColorRange::AVCOL_RANGE_UNSPECIFIED {
                src_range = (key.color_range == ffi::AVColorRange::AVCOL_RANGE_JPEG) as c_int;
            }
            let coefficients = ffi::sws_getCoefficients(key.colorspace as c_int);
            let ret = ffi::sws_setColorspaceDetails(
                sws,
                coefficients,
                src_range,
                coefficients,
                dst_range,
                brightness,
                contrast,
                saturation,
            );
            if ret < 0 {
                return Err("sws_setColorspaceDetails failed".to_owned());
            }
        }
        Ok(sws)
    }

    /// Converts `frame` into `out`: `height` rows of `width * 3` bytes, tightly packed.
    pub(super) fn convert_into(
        &mut self,
        frame: &frame::Video,
        out: &mut [u8],
    ) -> Result<(), String> {
        // SAFETY: `frame` owns a valid AVFrame for the duration of this borrow.
        let raw = unsafe { &*frame.as_ptr() };
        let key = Key {
            width: raw.width,
            height: raw.height,
            format: raw.format,
            colorspace: raw.colorspace,
            color_range: raw.color_range,
        };
        let (width, height) = (raw.width as usize, raw.height as usize);
        let row = width * 3;
        if out.len() != height * row {
            return Err("internal error: RGB destination of the wrong size".to_owned());
        }
        let sws = self.context(key)?;
        let (dst, stride) = if width % 32 == 0 {
            // torchcodec's swscale path: straight into the output, tight stride.
            (out.as_mut_ptr(), row)
        } else {
            // torchcodec's filter-graph path: a frame buffer with a padded stride, then a
            // row-by-row copy. FFmpeg 5.1's SIMD YUV→RGB writes 8 pixels at a time and,
            // given a tight stride and such a width, writes past the end of the buffer
            // (a 171×97 VP9 clip corrupts the heap); the padding lets it convert whole rows.
            let stride = (width + 64).next_multiple_of(64) * 3;
            self.scratch.resize(stride * height + 64, 0);
            (self.scratch.as_mut_ptr(), stride)
        };
        let dst_data = [dst, ptr::null_mut(), ptr::null_mut(), ptr::null_mut()];
        let dst_stride = [stride as c_int, 0, 0, 0];
        // SAFETY: `raw.data`/`raw.linesize` describe the decoded picture of `height` rows;
        // `dst` has room for `height` rows of `stride` bytes (`out` is exactly that size with
        // `stride == row`; `scratch` was sized above), and for the SIMD over-write past
        // `width` on the padded path.
        let done = unsafe {
            ffi::sws_scale(
                sws,
                raw.data.as_ptr().cast(),
                raw.linesize.as_ptr(),
                0,
                raw.height,
                dst_data.as_ptr(),
                dst_stride.as_ptr(),
            )
        };
        if done != raw.height {
            return Err(format!("libswscale converted {done} of {height} rows"));
        }
        if stride != row {
            for (y, dst_row) in out.chunks_exact_mut(row).enumerate() {
                dst_row.copy_from_slice(&self.scratch[y * stride..y * stride + row]);
            }
        }
        Ok(())
    }
}

/// Turns `[N, H, W, 3]` frames `quarter_turns` × 90° counter-clockwise over (H, W), as
/// torchcodec's `torch.rot90(hwc, k, dims=(0, 1))`: k = 1 flips W then swaps H and W, k = 2
/// flips both, k = 3 flips H then swaps. Axis operations on the array's view, then one copy
/// into standard layout.
pub(super) fn rotate(frames: Array4<u8>, quarter_turns: i32) -> Array4<u8> {
    let mut view = frames.view();
    match quarter_turns.rem_euclid(4) {
        0 => return frames,
        1 => {
            view.invert_axis(Axis(2));
            view.swap_axes(1, 2);
        }
        2 => {
            view.invert_axis(Axis(1));
            view.invert_axis(Axis(2));
        }
        _ => {
            view.invert_axis(Axis(1));
            view.swap_axes(1, 2);
        }
    }
    view.as_standard_layout().into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 1×2×3 frame whose pixel (y, x) holds (10y + x) in every channel.
    fn frame() -> Array4<u8> {
        Array4::from_shape_fn((1, 2, 3, 3), |(_, y, x, _)| (10 * y + x) as u8)
    }

    fn plane(a: &Array4<u8>) -> Vec<Vec<u8>> {
        a.index_axis(Axis(0), 0)
            .outer_iter()
            .map(|row| row.outer_iter().map(|px| px[0]).collect())
            .collect()
    }

    #[test]
    fn quarter_turns_match_torch_rot90() {
        // torch.rot90(x, k, dims=(0, 1)) of [[0, 1, 2], [10, 11, 12]].
        assert_eq!(plane(&rotate(frame(), 0)), [[0, 1, 2], [10, 11, 12]]);
        assert_eq!(plane(&rotate(frame(), 1)), [[2, 12], [1, 11], [0, 10]]);
        assert_eq!(plane(&rotate(frame(), 2)), [[12, 11, 10], [2, 1, 0]]);
        assert_eq!(plane(&rotate(frame(), -1)), [[10, 0], [11, 1], [12, 2]]);
        assert!(rotate(frame(), 1).is_standard_layout());
    }
}

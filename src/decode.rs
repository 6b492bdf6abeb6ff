//! Decoding: a video file → its frames in presentation order, each with a timestamp, kept in
//! the decoder's native pixel format; packed RGB24 is made only for the frames asked for
//! (colour conversion costs about as much as decoding, and a clip protocol uses a fraction of
//! the frames).
//!
//! The only module that touches FFmpeg. Every `unsafe` block lives in the private `ff` module
//! at the bottom, each with a `// SAFETY:` note; the rest of the file is safe Rust.
//!
//! Parity with the Python reference (torchcodec 0.17, CPU, on the same FFmpeg libraries):
//! - Colour: torchcodec converts with libswscale, either directly (`SwScale.cpp`, when the
//!   width is a multiple of 32) or through an FFmpeg filter graph whose auto-inserted `scale`
//!   filter calls libswscale (`CpuDeviceInterface.cpp`). Both use swscale's default scaler
//!   flags (`0`, i.e. bicubic, which only matters for chroma upsampling), the YUV→RGB matrix
//!   of the frame's own `colorspace` (`sws_getCoefficients`, BT.601 when unspecified) and the
//!   frame's `color_range` (limited when unspecified). [`DecodedVideo::rgb_frames`] does
//!   exactly that, and like torchcodec it converts a frame whose width is not a multiple of
//!   32 into a buffer with padded rows, then copies the rows out: FFmpeg 5.1's swscale
//!   writes RGB in blocks of pixels and, given a tight stride and such a width, can write
//!   past the end of the buffer (a 171×97 VP9 clip corrupts the heap).
//! - Rotation: torchcodec 0.17 reads the stream's display matrix and rotates every frame
//!   upright (`transpose=cclock`/`transpose=clock`/`hflip,vflip` after the RGB conversion,
//!   angle rounded to a multiple of 90°). So do we: [`VideoInfo::rotation_degrees`] is the
//!   angle and `rgb_frames` returns upright frames; `width`/`height` are the upright sizes.
//! - Frame rate: [`VideoInfo::fps`] is the stream's `avg_frame_rate` (what torchvision's
//!   `VideoClips` gets from PyAV's `average_rate`), falling back to `r_frame_rate`, then to
//!   the decoded timestamps.
use std::path::{Path, PathBuf};

use tch::Tensor;

use crate::error::{Error, Result};

/// What the container and decoder say about a video stream.
#[derive(Clone, Debug, PartialEq)]
pub struct VideoInfo {
    /// Width of the frames [`DecodedVideo::rgb_frames`] returns, after rotation.
    pub width: u32,
    /// Height of the frames [`DecodedVideo::rgb_frames`] returns, after rotation.
    pub height: u32,
    /// Frames per second: the stream's `avg_frame_rate`, else `r_frame_rate`, else estimated
    /// from the decoded timestamps.
    pub fps: f64,
    /// Stream duration from the container, if it says.
    pub duration_secs: Option<f64>,
    /// FFmpeg's decoder name (`h264`, `vp9`, `mpeg4`, ...).
    pub codec: String,
    /// Counter-clockwise rotation (degrees, a multiple of 90 in −180..=180) the display
    /// matrix asks for and that has been applied to the frames; 0 when none.
    pub rotation_degrees: i32,
}

/// Every decodable frame of a video's best video stream, in presentation order, still in the
/// decoder's pixel format (or, from [`decode_video_keeping`], the frames the caller needs,
/// with the timestamps of all).
pub struct DecodedVideo {
    path: PathBuf,
    info: VideoInfo,
    /// `None` for a frame decoded but not kept.
    frames: Vec<Option<ff::Frame>>,
    pts_secs: Vec<f64>,
    /// Decoded size, before rotation.
    frame_size: (u32, u32),
    warnings: Vec<String>,
}

impl std::fmt::Debug for DecodedVideo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DecodedVideo")
            .field("path", &self.path)
            .field("info", &self.info)
            .field("frames", &self.frames.len())
            .field("kept", &self.frames.iter().filter(|f| f.is_some()).count())
            .field("warnings", &self.warnings)
            .finish()
    }
}

impl DecodedVideo {
    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn info(&self) -> &VideoInfo {
        &self.info
    }

    /// Number of frames decoded.
    pub fn len(&self) -> usize {
        self.frames.len()
    }

    /// Always false: decoding refuses a video without frames.
    pub fn is_empty(&self) -> bool {
        self.frames.is_empty()
    }

    /// Whether frame `index` is held (always, unless decoded by [`decode_video_keeping`]).
    pub fn is_kept(&self, index: usize) -> bool {
        self.frames.get(index).is_some_and(Option::is_some)
    }

    /// Presentation time of frame `index` in seconds (stream time base, not shifted to start
    /// at 0), or `index / fps` for a frame that carries no timestamp. Panics if `index` is out
    /// of range, like slice indexing.
    pub fn pts_secs(&self, index: usize) -> f64 {
        self.pts_secs[index]
    }

    /// Problems met while decoding that did not stop it (a read error in a truncated file,
    /// packets the decoder rejected): the frames before them are kept.
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// The frames at `indices` (repeats allowed) as packed RGB, uint8 `[len, H, W, 3]`,
    /// rotated upright, converted exactly as torchcodec converts them (see the module notes).
    pub fn rgb_frames(&self, indices: &[usize]) -> Result<Tensor> {
        let n = self.frames.len();
        let mut frames = Vec::with_capacity(indices.len());
        for &index in indices {
            match self.frames.get(index) {
                Some(Some(frame)) => frames.push((index, frame)),
                Some(None) => {
                    return Err(Error::Invalid(format!(
                        "{}: frame {index} was not kept when decoding",
                        self.path.display()
                    )))
                }
                None => {
                    return Err(Error::Invalid(format!(
                        "{}: frame index {index} out of range ({n} frames decoded)",
                        self.path.display()
                    )))
                }
            }
        }
        let (width, height) = self.frame_size;
        if let Some(&(i, frame)) = frames.iter().find(|(_, f)| f.size() != (width, height)) {
            let (w, h) = frame.size();
            return Err(Error::decode(
                &self.path,
                format!(
                    "frame {i} is {w}x{h} but frame 0 is {width}x{height}; resolution changes \
                     mid-stream are not supported"
                ),
            ));
        }
        let rgb = Tensor::f_empty(
            [indices.len() as i64, height as i64, width as i64, 3],
            (tch::Kind::Uint8, tch::Device::Cpu),
        )?;
        let frame_bytes = height as usize * width as usize * 3;
        let mut converter = ff::Converter::default();
        for (slot, &(index, frame)) in frames.iter().enumerate() {
            converter
                .convert_into(frame, &rgb, slot * frame_bytes)
                .map_err(|reason| Error::decode(&self.path, format!("frame {index}: {reason}")))?;
        }
        let quarter_turns = (self.info.rotation_degrees / 90).rem_euclid(4);
        if quarter_turns == 0 {
            Ok(rgb)
        } else {
            // torchcodec: torch.rot90(hwc, k, dims=(0, 1)) with k = 1 for +90° (CCW).
            Ok(rgb.f_rot90(quarter_turns as i64, [1, 2])?.f_contiguous()?)
        }
    }
}

/// Decodes every frame of the best video stream of `path` (FFmpeg frame threading on) and
/// keeps them all.
///
/// Errors name the file and say what is wrong: missing, empty, not a media file, an MP4
/// whose index is missing, no video stream, no decodable frames. A file that breaks off
/// part-way (truncated download) is not an error: the frames before the break are returned
/// and [`DecodedVideo::warnings`] says what happened.
pub fn decode_video(path: &Path) -> Result<DecodedVideo> {
    let (input, stream) = open(path)?;
    decode_frames(path, input, stream, None)
}

/// What a media file holds, by the demuxer FFmpeg picks from its content.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MediaKind {
    Video,
    /// A single picture: FFmpeg opened it with one of its image demuxers (`image2`,
    /// `png_pipe`, `jpeg_pipe`, `webp_pipe`, ...).
    Image,
}

/// Opens `path` (errors as [`decode_video`]'s) and says whether it is a still image or a
/// video. The demuxer is chosen by probing the content, so a PNG named `.mp4` is an image
/// and an MJPEG AVI a video.
pub fn media_kind(path: &Path) -> Result<MediaKind> {
    let (input, _) = open(path)?;
    let name = input.format_name();
    let image = name == "image2" || name == "image2pipe" || name.ends_with("_pipe");
    Ok(if image {
        MediaKind::Image
    } else {
        MediaKind::Video
    })
}

/// Like [`decode_video`], but keeps only the frames `select(frames, fps)` names: the
/// indices the caller will pass to [`DecodedVideo::rgb_frames`] for a video of that many
/// frames at that rate. Every frame is still decoded (and timestamped); the others are
/// released at once, so memory stays bounded by the selection on long videos.
///
/// The frame count is known only after decoding, so the selection is made for the count
/// the container declares (or duration × fps), widened by ±2 frames. If the video turns out
/// different (a truncated file, a wrong header) and the frames kept do not cover the
/// selection for the count found, it is decoded again keeping exactly that selection (and,
/// should frames arrive out of presentation order so that this still falls short, a third
/// time keeping every frame): the result always holds the frames `select` names for it.
pub fn decode_video_keeping(
    path: &Path,
    select: &dyn Fn(usize, f64) -> Vec<usize>,
) -> Result<DecodedVideo> {
    let (input, stream) = open(path)?;
    let (Some(fps), Some(guess)) = (input.frame_rate(stream), input.frame_count_guess(stream))
    else {
        return decode_frames(path, input, stream, None);
    };
    let counts: Vec<usize> = (guess.saturating_sub(2).max(1)..=guess + 2).collect();
    let mut video = decode_frames(path, input, stream, Some(&keep_mask(select, &counts, fps)))?;
    for full in [false, true] {
        let (frames, fps) = (video.len(), video.info.fps);
        let complete = select(frames, fps)
            .into_iter()
            .all(|i| i >= frames || video.is_kept(i));
        if complete {
            break;
        }
        drop(video);
        let (input, stream) = open(path)?;
        let keep = (!full).then(|| keep_mask(select, &[frames], fps));
        video = decode_frames(path, input, stream, keep.as_deref())?;
    }
    Ok(video)
}

/// Marks every frame `select` names for any of the frame `counts`.
fn keep_mask(select: &dyn Fn(usize, f64) -> Vec<usize>, counts: &[usize], fps: f64) -> Vec<bool> {
    let mut keep = Vec::new();
    for &frames in counts {
        for index in select(frames, fps) {
            if index >= keep.len() {
                keep.resize(index + 1, false);
            }
            keep[index] = true;
        }
    }
    keep
}

/// Opens `path` and picks its video stream, with errors that say what is wrong.
fn open(path: &Path) -> Result<(ff::Input, usize)> {
    let meta = std::fs::metadata(path).map_err(|e| Error::io(path, e))?;
    if meta.is_dir() {
        return Err(Error::decode(path, "is a directory, not a video file"));
    }
    if meta.len() == 0 {
        return Err(Error::decode(path, "empty file (0 bytes)"));
    }
    ff::quiet_logging();

    let input = ff::Input::open(path).map_err(|e| {
        let reason = if looks_like_mp4(path) {
            format!(
                "cannot read this MP4/MOV file ({e}): its index (moov atom) is missing or \
                 damaged; the file is probably truncated or still being written"
            )
        } else {
            format!("not a media file FFmpeg can read ({e})")
        };
        Error::decode(path, reason)
    })?;

    let stream = input.best_video_stream().ok_or_else(|| {
        let kinds = input.stream_kinds();
        let found = if kinds.is_empty() {
            "the file has no streams".to_owned()
        } else {
            format!("streams found: {}", kinds.join(", "))
        };
        Error::decode(path, format!("no video stream ({found})"))
    })?;
    Ok((input, stream))
}

/// Decodes every frame of `stream`, keeping those marked in `keep` (all when `None`). In
/// selective mode, frames whose timestamps are out of order would need sorting, which the
/// selection did not foresee: then none is kept, and the caller's check sends it back to a
/// full decode.
fn decode_frames(
    path: &Path,
    mut input: ff::Input,
    stream: usize,
    keep: Option<&[bool]>,
) -> Result<DecodedVideo> {
    let mut decoder =
        ff::Decoder::open(&input, stream).map_err(|e| Error::decode(path, e.to_string()))?;
    let mut out = Collected {
        keep,
        frames: Vec::new(),
        timestamps: Vec::new(),
        frame_size: None,
    };
    let mut pending = Vec::new();
    let mut warnings = Vec::new();
    let mut decode_errors = 0usize;
    let mut packet = ff::Packet::new().map_err(|e| Error::decode(path, e))?;
    loop {
        match input.read_packet(&mut packet) {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => {
                warnings.push(format!(
                    "read error after {} frames ({e}); the file is probably truncated, \
                     keeping the frames decoded so far",
                    out.timestamps.len()
                ));
                break;
            }
        }
        if packet.stream_index() != stream {
            packet.unref();
            continue;
        }
        let sent = decoder.send(Some(&packet), &mut pending);
        packet.unref();
        out.accept(&mut pending);
        if let Err(e) = sent {
            decode_errors += 1;
            if decode_errors == 1 {
                warnings.push(format!(
                    "decoder rejected a packet after {} frames ({e})",
                    out.timestamps.len()
                ));
            }
        }
    }
    let flushed = decoder.send(None, &mut pending);
    out.accept(&mut pending);
    if let Err(e) = flushed {
        warnings.push(format!("decoder error while flushing ({e})"));
    }
    if decode_errors > 1 {
        warnings.push(format!(
            "{decode_errors} packets rejected by the decoder in all"
        ));
    }
    let Collected {
        mut frames,
        mut timestamps,
        frame_size,
        ..
    } = out;
    if let Some(declared) = input.declared_frames(stream) {
        if frames.len() < declared {
            warnings.push(format!(
                "the container declares {declared} frames but only {} could be decoded; the file \
                 is probably truncated",
                frames.len()
            ));
        }
    }
    let Some(frame_size) = frame_size else {
        let reason = match warnings.first() {
            Some(w) => format!("no decodable video frames ({w})"),
            None => "no decodable video frames".to_owned(),
        };
        return Err(Error::decode(path, reason));
    };

    // Presentation order: decoders emit frames in it; sort (stably) in case a stream's
    // timestamps say otherwise, when every frame has one.
    if timestamps.iter().all(Option::is_some) && !timestamps.is_sorted() {
        if keep.is_some() {
            frames.iter_mut().for_each(|f| *f = None);
        }
        let mut order: Vec<usize> = (0..frames.len()).collect();
        order.sort_by_key(|&i| timestamps[i]);
        let mut taken: Vec<Option<ff::Frame>> = frames.into_iter().collect();
        frames = order.iter().map(|&i| taken[i].take()).collect();
        timestamps = order.iter().map(|&i| timestamps[i]).collect();
    }

    let time_base = input.time_base(stream);
    let fps = match input.frame_rate(stream) {
        Some(fps) => fps,
        None => fps_from_timestamps(&timestamps, time_base).ok_or_else(|| {
            Error::decode(
                path,
                "unknown frame rate: the stream declares none and its frames carry no usable \
                 timestamps",
            )
        })?,
    };
    let pts_secs = timestamps
        .iter()
        .enumerate()
        .map(|(i, ts)| match ts {
            Some(ts) => *ts as f64 * time_base,
            None => i as f64 / fps,
        })
        .collect();

    let rotation_degrees = input.rotation_degrees(stream);
    let (w, h) = frame_size;
    let (width, height) = if rotation_degrees.rem_euclid(180) == 90 {
        (h, w)
    } else {
        (w, h)
    };
    let info = VideoInfo {
        width,
        height,
        fps,
        duration_secs: input.duration_secs(stream),
        codec: decoder.codec_name(),
        rotation_degrees,
    };
    Ok(DecodedVideo {
        path: path.to_path_buf(),
        info,
        frames,
        pts_secs,
        frame_size,
        warnings,
    })
}

/// Frames as the decoder gives them back, in output order.
struct Collected<'k> {
    keep: Option<&'k [bool]>,
    frames: Vec<Option<ff::Frame>>,
    timestamps: Vec<Option<i64>>,
    frame_size: Option<(u32, u32)>,
}

impl Collected<'_> {
    /// Takes the frames in `pending`, keeping (or releasing) each by its position.
    fn accept(&mut self, pending: &mut Vec<ff::Frame>) {
        for frame in pending.drain(..) {
            let index = self.frames.len();
            self.frame_size.get_or_insert(frame.size());
            self.timestamps.push(frame.best_effort_timestamp());
            let kept = self
                .keep
                .is_none_or(|k| k.get(index).copied().unwrap_or(false));
            self.frames.push(kept.then_some(frame));
        }
    }
}

/// True when the file starts like an ISO-BMFF (MP4/MOV) file: a box whose type is `ftyp`,
/// `moov`, `mdat`, `free`, `wide` or `skip`.
fn looks_like_mp4(path: &Path) -> bool {
    use std::io::Read;
    let mut head = [0u8; 8];
    let ok = std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut head))
        .is_ok();
    ok && matches!(
        &head[4..8],
        b"ftyp" | b"moov" | b"mdat" | b"free" | b"wide" | b"skip"
    )
}

/// Frames per second from the spread of the timestamps, for streams that declare no rate.
fn fps_from_timestamps(timestamps: &[Option<i64>], time_base: f64) -> Option<f64> {
    let first = (*timestamps.first()?)?;
    let last = (*timestamps.last()?)?;
    let span = (last - first) as f64 * time_base;
    (timestamps.len() > 1 && span > 0.0).then(|| (timestamps.len() - 1) as f64 / span)
}

/// Every `unsafe` call into FFmpeg. Each wrapper owns its FFmpeg object and frees it on drop.
mod ff {
    use std::ffi::CString;
    use std::os::raw::c_int;
    use std::os::unix::ffi::OsStrExt;
    use std::path::Path;
    use std::ptr;
    use std::sync::Once;

    use ffmpeg_next::ffi;
    use ffmpeg_next::util::error::EAGAIN;

    /// An FFmpeg error code with FFmpeg's description of it.
    #[derive(Debug)]
    pub(super) struct AvError(c_int);

    impl std::fmt::Display for AvError {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            let mut buf = [0 as std::os::raw::c_char; 128];
            // SAFETY: av_strerror writes a NUL-terminated string of at most `buf.len()`
            // bytes into `buf` (a generic message for unknown codes).
            let text = unsafe {
                ffi::av_strerror(self.0, buf.as_mut_ptr(), buf.len());
                std::ffi::CStr::from_ptr(buf.as_ptr())
                    .to_string_lossy()
                    .into_owned()
            };
            write!(f, "{text}")
        }
    }

    /// FFmpeg logs decoder complaints (truncated files, concealed errors) to stderr; the
    /// errors and warnings returned here say what matters, so keep its log to fatal errors.
    pub(super) fn quiet_logging() {
        static ONCE: Once = Once::new();
        // SAFETY: av_log_set_level only stores an int in FFmpeg's global log state.
        ONCE.call_once(|| unsafe { ffi::av_log_set_level(ffi::AV_LOG_FATAL) });
    }

    pub(super) struct Input {
        ptr: *mut ffi::AVFormatContext,
    }

    impl Drop for Input {
        fn drop(&mut self) {
            // SAFETY: `ptr` came from a successful avformat_open_input and is closed only
            // here; avformat_close_input frees it and its streams.
            unsafe { ffi::avformat_close_input(&mut self.ptr) };
        }
    }

    impl Input {
        pub(super) fn open(path: &Path) -> Result<Input, AvError> {
            // The `file:` protocol prefix keeps FFmpeg from reading a name like `a:b.mp4`
            // as protocol `a`; the bytes are the OS path as is (no UTF-8 requirement).
            let mut url = b"file:".to_vec();
            url.extend_from_slice(path.as_os_str().as_bytes());
            let url = CString::new(url)
                .map_err(|_| AvError(ffi::AVERROR(ffmpeg_next::util::error::EINVAL)))?;
            let mut ptr = ptr::null_mut();
            // SAFETY: `ptr` is null so FFmpeg allocates the context; `url` is a valid C string
            // that outlives the call; null format and options are allowed. On failure FFmpeg
            // frees what it allocated and leaves `ptr` null.
            let ret = unsafe {
                ffi::avformat_open_input(&mut ptr, url.as_ptr(), ptr::null(), ptr::null_mut())
            };
            if ret < 0 {
                return Err(AvError(ret));
            }
            let input = Input { ptr };
            // SAFETY: `input.ptr` is an open format context; null options are allowed.
            let ret = unsafe { ffi::avformat_find_stream_info(input.ptr, ptr::null_mut()) };
            if ret < 0 {
                return Err(AvError(ret));
            }
            Ok(input)
        }

        /// The demuxer's short name (`image2`, `png_pipe`, `mov,mp4,m4a,3gp,3g2,mj2`, ...).
        pub(super) fn format_name(&self) -> String {
            // SAFETY: an open context has a non-null `iformat` whose `name` is a static C
            // string (both checked for null anyway).
            unsafe {
                let iformat = (*self.ptr).iformat;
                if iformat.is_null() || (*iformat).name.is_null() {
                    return String::new();
                }
                std::ffi::CStr::from_ptr((*iformat).name)
                    .to_string_lossy()
                    .into_owned()
            }
        }

        fn streams(&self) -> &[*mut ffi::AVStream] {
            // SAFETY: an open context's `streams` holds `nb_streams` valid stream pointers,
            // alive as long as the context (borrowed from `self`).
            unsafe {
                let ctx = &*self.ptr;
                if ctx.streams.is_null() || ctx.nb_streams == 0 {
                    &[]
                } else {
                    std::slice::from_raw_parts(ctx.streams, ctx.nb_streams as usize)
                }
            }
        }

        fn stream(&self, index: usize) -> &ffi::AVStream {
            // SAFETY: the pointers in `streams()` are valid and non-null while `self` lives.
            unsafe { &*self.streams()[index] }
        }

        fn codecpar(&self, index: usize) -> &ffi::AVCodecParameters {
            // SAFETY: every stream of an open context has codec parameters.
            unsafe { &*self.stream(index).codecpar }
        }

        /// FFmpeg's pick among the video streams (av_find_best_stream), skipping cover art.
        pub(super) fn best_video_stream(&self) -> Option<usize> {
            let is_video = |i: usize| {
                self.codecpar(i).codec_type == ffi::AVMediaType::AVMEDIA_TYPE_VIDEO
                    && self.stream(i).disposition & ffi::AV_DISPOSITION_ATTACHED_PIC == 0
            };
            // SAFETY: open context; no wanted/related stream, no decoder out-pointer.
            let best = unsafe {
                ffi::av_find_best_stream(
                    self.ptr,
                    ffi::AVMediaType::AVMEDIA_TYPE_VIDEO,
                    -1,
                    -1,
                    ptr::null_mut(),
                    0,
                )
            };
            if best >= 0 && is_video(best as usize) {
                return Some(best as usize);
            }
            (0..self.streams().len()).find(|&i| is_video(i))
        }

        /// The kinds of the streams, for error messages ("audio", "subtitle", ...).
        pub(super) fn stream_kinds(&self) -> Vec<String> {
            (0..self.streams().len())
                .map(|i| {
                    let par = self.codecpar(i);
                    let kind = match par.codec_type {
                        ffi::AVMediaType::AVMEDIA_TYPE_VIDEO => "video (cover art)",
                        ffi::AVMediaType::AVMEDIA_TYPE_AUDIO => "audio",
                        ffi::AVMediaType::AVMEDIA_TYPE_SUBTITLE => "subtitle",
                        ffi::AVMediaType::AVMEDIA_TYPE_DATA => "data",
                        ffi::AVMediaType::AVMEDIA_TYPE_ATTACHMENT => "attachment",
                        _ => "unknown",
                    };
                    format!("{kind} ({})", codec_id_name(par.codec_id))
                })
                .collect()
        }

        /// Reads the next packet: Ok(false) at end of file.
        pub(super) fn read_packet(&mut self, packet: &mut Packet) -> Result<bool, AvError> {
            // SAFETY: open context and an allocated, unreferenced packet.
            match unsafe { ffi::av_read_frame(self.ptr, packet.ptr) } {
                0.. => Ok(true),
                ffi::AVERROR_EOF => Ok(false),
                e => Err(AvError(e)),
            }
        }

        pub(super) fn time_base(&self, stream: usize) -> f64 {
            rational(self.stream(stream).time_base).unwrap_or(0.0)
        }

        pub(super) fn frame_rate(&self, stream: usize) -> Option<f64> {
            let s = self.stream(stream);
            rational(s.avg_frame_rate).or_else(|| rational(s.r_frame_rate))
        }

        /// The stream's frame count from the container header, when it has one.
        pub(super) fn declared_frames(&self, stream: usize) -> Option<usize> {
            let n = self.stream(stream).nb_frames;
            (n > 0).then_some(n as usize)
        }

        /// The declared frame count, else duration × frame rate.
        pub(super) fn frame_count_guess(&self, stream: usize) -> Option<usize> {
            self.declared_frames(stream).or_else(|| {
                let frames = self.duration_secs(stream)? * self.frame_rate(stream)?;
                (1.0..1e9)
                    .contains(&frames)
                    .then(|| frames.round() as usize)
            })
        }

        pub(super) fn duration_secs(&self, stream: usize) -> Option<f64> {
            let s = self.stream(stream);
            let from_stream = (s.duration > 0 && s.duration != ffi::AV_NOPTS_VALUE)
                .then(|| rational(s.time_base).map(|tb| s.duration as f64 * tb))
                .flatten();
            // SAFETY: `self.ptr` is an open context.
            let container = unsafe { (*self.ptr).duration };
            from_stream.or_else(|| {
                (container > 0 && container != ffi::AV_NOPTS_VALUE)
                    .then(|| container as f64 / ffi::AV_TIME_BASE as f64)
            })
        }

        /// The display matrix's counter-clockwise rotation, rounded to a multiple of 90° the
        /// way torchcodec 0.17 rounds it (`rotation_from_degrees`); 0 without a matrix.
        pub(super) fn rotation_degrees(&self, stream: usize) -> i32 {
            let mut size = 0;
            // SAFETY: `stream` is a valid stream of the open context; FFmpeg returns a
            // pointer into the stream's own side data (or null) and its size.
            let data = unsafe {
                ffi::av_stream_get_side_data(
                    self.streams()[stream],
                    ffi::AVPacketSideDataType::AV_PKT_DATA_DISPLAYMATRIX,
                    &mut size,
                )
            };
            if data.is_null() || size < 9 * std::mem::size_of::<i32>() {
                return 0;
            }
            // SAFETY: the side data holds at least 9 int32 (checked above) in an av_malloc'ed,
            // suitably aligned buffer that lives as long as the stream.
            let degrees = unsafe { ffi::av_display_rotation_get(data.cast::<i32>()) };
            if degrees.is_nan() {
                return 0;
            }
            let quarter = (degrees / 90.0).round() as i32;
            match quarter.rem_euclid(4) {
                0 => 0,
                1 => 90,
                2 => 180,
                _ => -90,
            }
        }
    }

    fn rational(r: ffi::AVRational) -> Option<f64> {
        (r.num > 0 && r.den > 0).then(|| r.num as f64 / r.den as f64)
    }

    fn codec_id_name(id: ffi::AVCodecID) -> String {
        // SAFETY: avcodec_get_name returns a static C string for any id ("unknown_codec"
        // for unknown ones), never null.
        unsafe { std::ffi::CStr::from_ptr(ffi::avcodec_get_name(id)) }
            .to_string_lossy()
            .into_owned()
    }

    pub(super) struct Packet {
        ptr: *mut ffi::AVPacket,
    }

    impl Packet {
        pub(super) fn new() -> Result<Packet, String> {
            // SAFETY: plain allocation; null on out-of-memory, checked.
            let ptr = unsafe { ffi::av_packet_alloc() };
            if ptr.is_null() {
                return Err("out of memory allocating a packet".to_owned());
            }
            Ok(Packet { ptr })
        }

        pub(super) fn stream_index(&self) -> usize {
            // SAFETY: `ptr` is a valid packet.
            unsafe { (*self.ptr).stream_index as usize }
        }

        pub(super) fn unref(&mut self) {
            // SAFETY: `ptr` is a valid packet; unref on an empty packet is a no-op.
            unsafe { ffi::av_packet_unref(self.ptr) };
        }
    }

    impl Drop for Packet {
        fn drop(&mut self) {
            // SAFETY: `ptr` came from av_packet_alloc and is freed only here.
            unsafe { ffi::av_packet_free(&mut self.ptr) };
        }
    }

    /// A decoded frame, owning a reference to the decoder's buffers.
    pub(super) struct Frame {
        ptr: *mut ffi::AVFrame,
    }

    // SAFETY: a Frame owns its AVFrame alone (nothing else holds the pointer); its data
    // buffers are reference-counted and never written after decoding, and FFmpeg's buffer
    // reference counting is atomic, so moving a Frame to another thread or reading it from
    // several threads at once is sound.
    unsafe impl Send for Frame {}
    // SAFETY: see Send; `&Frame` only reads.
    unsafe impl Sync for Frame {}

    impl Drop for Frame {
        fn drop(&mut self) {
            // SAFETY: `ptr` came from av_frame_alloc and is freed only here.
            unsafe { ffi::av_frame_free(&mut self.ptr) };
        }
    }

    impl Frame {
        fn raw(&self) -> &ffi::AVFrame {
            // SAFETY: `ptr` is a valid frame for the life of `self`.
            unsafe { &*self.ptr }
        }

        pub(super) fn size(&self) -> (u32, u32) {
            (self.raw().width as u32, self.raw().height as u32)
        }

        pub(super) fn best_effort_timestamp(&self) -> Option<i64> {
            let ts = self.raw().best_effort_timestamp;
            (ts != ffi::AV_NOPTS_VALUE).then_some(ts)
        }
    }

    pub(super) struct Decoder {
        ctx: *mut ffi::AVCodecContext,
    }

    impl Drop for Decoder {
        fn drop(&mut self) {
            // SAFETY: `ctx` came from avcodec_alloc_context3 and is freed only here.
            unsafe { ffi::avcodec_free_context(&mut self.ctx) };
        }
    }

    impl Decoder {
        /// Opens FFmpeg's default decoder for `stream` with automatic frame (and slice)
        /// threading: thread_count 0 lets FFmpeg use every core.
        pub(super) fn open(input: &Input, stream: usize) -> Result<Decoder, String> {
            let par = input.codecpar(stream);
            // SAFETY: avcodec_find_decoder only looks the id up in a static table.
            let codec = unsafe { ffi::avcodec_find_decoder(par.codec_id) };
            if codec.is_null() {
                return Err(format!(
                    "no decoder for codec {}",
                    codec_id_name(par.codec_id)
                ));
            }
            // SAFETY: `codec` is a valid decoder; null on out-of-memory, checked.
            let ctx = unsafe { ffi::avcodec_alloc_context3(codec) };
            if ctx.is_null() {
                return Err("out of memory allocating a decoder".to_owned());
            }
            let decoder = Decoder { ctx };
            // SAFETY: `ctx` is a fresh context and `par` the stream's valid parameters; the
            // fields written are plain ints/rationals read by avcodec_open2.
            let ret = unsafe {
                let ret = ffi::avcodec_parameters_to_context(ctx, par);
                (*ctx).pkt_timebase = input.stream(stream).time_base;
                (*ctx).thread_count = 0;
                ret
            };
            if ret < 0 {
                return Err(format!(
                    "cannot set up the {} decoder ({})",
                    codec_id_name(par.codec_id),
                    AvError(ret)
                ));
            }
            // SAFETY: `ctx` was allocated for `codec`; no options.
            let ret = unsafe { ffi::avcodec_open2(ctx, codec, ptr::null_mut()) };
            if ret < 0 {
                return Err(format!(
                    "cannot open the {} decoder ({})",
                    codec_id_name(par.codec_id),
                    AvError(ret)
                ));
            }
            Ok(decoder)
        }

        pub(super) fn codec_name(&self) -> String {
            // SAFETY: an open context has a codec whose name is a static C string.
            unsafe {
                let codec = (*self.ctx).codec;
                if codec.is_null() || (*codec).name.is_null() {
                    return "unknown".to_owned();
                }
                std::ffi::CStr::from_ptr((*codec).name)
                    .to_string_lossy()
                    .into_owned()
            }
        }

        /// Sends a packet (None: end of stream) and appends every frame the decoder can give
        /// back. Errors are the decoder's; frames already received stay in `out`.
        pub(super) fn send(
            &mut self,
            packet: Option<&Packet>,
            out: &mut Vec<Frame>,
        ) -> Result<(), AvError> {
            let pkt = packet.map_or(ptr::null(), |p| p.ptr.cast_const());
            loop {
                // SAFETY: open decoder; `pkt` is a valid packet or null (flush).
                let ret = unsafe { ffi::avcodec_send_packet(self.ctx, pkt) };
                if ret == ffi::AVERROR(EAGAIN) {
                    // Output must be drained before the decoder takes more input.
                    if self.drain(out)? {
                        return Ok(());
                    }
                    continue;
                }
                if ret < 0 && !(ret == ffi::AVERROR_EOF && pkt.is_null()) {
                    // Keep what the decoder can still give, then report.
                    let _ = self.drain(out);
                    return Err(AvError(ret));
                }
                self.drain(out)?;
                return Ok(());
            }
        }

        /// Receives frames until the decoder wants input (false) or is finished (true).
        fn drain(&mut self, out: &mut Vec<Frame>) -> Result<bool, AvError> {
            loop {
                // SAFETY: plain allocation; null on out-of-memory, checked.
                let frame = Frame {
                    ptr: unsafe { ffi::av_frame_alloc() },
                };
                if frame.ptr.is_null() {
                    return Err(AvError(ffi::AVERROR(ffmpeg_next::util::error::ENOMEM)));
                }
                // SAFETY: open decoder and a fresh frame for it to fill.
                match unsafe { ffi::avcodec_receive_frame(self.ctx, frame.ptr) } {
                    0 => out.push(frame),
                    e if e == ffi::AVERROR(EAGAIN) => return Ok(false),
                    ffi::AVERROR_EOF => return Ok(true),
                    e => return Err(AvError(e)),
                }
            }
        }
    }

    /// YUV (or whatever the decoder gives) → packed RGB24 with libswscale, set up as
    /// torchcodec sets it up; caches one context per frame geometry and colour description.
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
            // SAFETY: valid sizes and formats; null filters/params are allowed; a null
            // result is checked.
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
            // Colour matrix from the frame's colorspace, range from its color_range when it
            // has one — as torchcodec's create_sws_context does.
            // SAFETY: `sws` is a valid context; the out-pointers point at locals; the tables
            // come from swscale itself (sws_getCoefficients never returns null).
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

        /// Converts `frame` into `dst` (a contiguous uint8 CPU tensor) at byte `offset`, as
        /// `height` rows of `width * 3` bytes.
        pub(super) fn convert_into(
            &mut self,
            frame: &Frame,
            dst: &tch::Tensor,
            offset: usize,
        ) -> Result<(), String> {
            let raw = frame.raw();
            let key = Key {
                width: raw.width,
                height: raw.height,
                format: raw.format,
                colorspace: raw.colorspace,
                color_range: raw.color_range,
            };
            let (width, height) = (raw.width as usize, raw.height as usize);
            let row = width * 3;
            let needed = offset + height * row;
            let available = dst.numel() * dst.kind().elt_size_in_bytes();
            if dst.kind() != tch::Kind::Uint8 || !dst.is_contiguous() || needed > available {
                return Err("internal error: RGB destination tensor too small".to_owned());
            }
            let sws = self.context(key)?;
            // SAFETY: `dst` is a contiguous uint8 tensor of at least `needed` bytes (checked),
            // owned by the caller for the duration of this call and not read meanwhile.
            let out = unsafe { (dst.data_ptr() as *mut u8).add(offset) };
            if width % 32 == 0 {
                // torchcodec's swscale path: straight into the tensor, tight stride.
                let dst_data = [out, ptr::null_mut(), ptr::null_mut(), ptr::null_mut()];
                let dst_stride = [row as c_int, 0, 0, 0];
                // SAFETY: `raw.data`/`raw.linesize` describe the decoded picture of
                // `height` rows; `out` has room for `height` rows of `row` bytes.
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
            } else {
                // torchcodec's filter-graph path: a frame buffer with a padded stride, then a
                // row-by-row copy. FFmpeg's SIMD YUV→RGB writes 8 pixels at a time, so the
                // padding lets it convert the whole row.
                let stride = (width + 64).next_multiple_of(64) * 3;
                self.scratch.resize(stride * height + 64, 0);
                let dst_data = [
                    self.scratch.as_mut_ptr(),
                    ptr::null_mut(),
                    ptr::null_mut(),
                    ptr::null_mut(),
                ];
                let dst_stride = [stride as c_int, 0, 0, 0];
                // SAFETY: as above; `scratch` holds `height` rows of `stride` bytes, and
                // `stride` covers the SIMD over-write of up to 8 pixels past `width`.
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
                for y in 0..height {
                    let src = &self.scratch[y * stride..y * stride + row];
                    // SAFETY: row `y` of the destination lies inside the checked range.
                    unsafe { ptr::copy_nonoverlapping(src.as_ptr(), out.add(y * row), row) };
                }
            }
            Ok(())
        }
    }
}

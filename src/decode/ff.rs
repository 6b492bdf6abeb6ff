//! The calls into FFmpeg that ffmpeg-next does not wrap (or wraps in a way that loses what
//! parity needs): opening by raw path bytes, the decoder's thread count, packet discard flags,
//! seeking in the stream's own time base, seekability, the display matrix. Every `unsafe`
//! block of the decoder lives here or in `rgb`'s swscale part, each with a `// SAFETY:` note.
use std::ffi::CString;
use std::os::raw::c_int;
use std::ptr;
use std::sync::Once;

use ffmpeg_next::codec::packet::Ref;
use ffmpeg_next::{codec, ffi, format, Error as AvError, Packet};

/// FFmpeg logs decoder complaints (truncated files, concealed errors) to stderr; the errors
/// and warnings returned by `decode` say what matters, so keep its log to fatal errors.
pub(super) fn quiet_logging() {
    static ONCE: Once = Once::new();
    // SAFETY: av_log_set_level only stores an int in FFmpeg's global log state.
    ONCE.call_once(|| unsafe { ffi::av_log_set_level(ffi::AV_LOG_FATAL) });
}

/// Opens `url` (bytes as given: an OS path needs no UTF-8) and reads its stream info.
/// ffmpeg-next's `format::input` takes a `&Path` it requires to be UTF-8 and cannot take a
/// protocol prefix, hence this.
///
/// The image demuxer is told `pattern_type=none`: by default it reads a name with `%d` (or,
/// in FFmpeg 5, glob characters) as a numbered image sequence and then looks for `x0.png`,
/// `x1.png`, ... instead of the file `x%d.png` that exists. A path names one file here.
pub(super) fn open_input(url: &[u8]) -> Result<format::context::Input, AvError> {
    let url = CString::new(url).map_err(|_| AvError::from(ffi::AVERROR(libc_einval())))?;
    let mut options: *mut ffi::AVDictionary = ptr::null_mut();
    // SAFETY: av_dict_set allocates the dictionary behind the null pointer and copies both
    // C strings (static literals).
    let ret =
        unsafe { ffi::av_dict_set(&mut options, c"pattern_type".as_ptr(), c"none".as_ptr(), 0) };
    if ret < 0 {
        return Err(AvError::from(ret));
    }
    let mut ctx = ptr::null_mut();
    // SAFETY: `ctx` is null so FFmpeg allocates the context; `url` is a valid C string that
    // outlives the call; a null format is allowed and `options` is a dictionary FFmpeg may
    // replace (with the options no demuxer took). On failure FFmpeg frees what it allocated
    // and leaves `ctx` null.
    let ret =
        unsafe { ffi::avformat_open_input(&mut ctx, url.as_ptr(), ptr::null(), &mut options) };
    // SAFETY: `options` is null or the dictionary avformat_open_input left, owned by us.
    unsafe { ffi::av_dict_free(&mut options) };
    if ret < 0 {
        return Err(AvError::from(ret));
    }
    // SAFETY: `ctx` is an open input context that nothing else owns; the wrapper closes it
    // with avformat_close_input when dropped.
    let mut input = unsafe { format::context::Input::wrap(ctx) };
    // SAFETY: `input` holds an open format context; null options are allowed.
    let ret = unsafe { ffi::avformat_find_stream_info(input.as_mut_ptr(), ptr::null_mut()) };
    if ret < 0 {
        return Err(AvError::from(ret));
    }
    Ok(input)
}

fn libc_einval() -> c_int {
    ffmpeg_next::util::error::EINVAL
}

/// Frame (and slice) threading with FFmpeg's default thread types on every core:
/// `thread_count = 0`. ffmpeg-next's `set_threading` also overwrites `thread_type`.
pub(super) fn use_every_core(ctx: &mut codec::Context) {
    // SAFETY: a plain int field of an allocated, not yet opened codec context.
    unsafe { (*ctx.as_mut_ptr()).thread_count = 0 };
}

/// Whether the decoder drops the frames of the packets sent from now on that no other frame
/// references (`skip_frame = AVDISCARD_NONREF`; frame threads copy it at each packet).
pub(super) fn skip_non_reference(decoder: &mut ffmpeg_next::decoder::Video, skip: bool) {
    let discard = if skip {
        ffi::AVDiscard::AVDISCARD_NONREF
    } else {
        ffi::AVDiscard::AVDISCARD_DEFAULT
    };
    // SAFETY: a plain enum field of the open codec context `decoder` owns; FFmpeg reads it
    // when the next packet is sent.
    unsafe { (*decoder.as_mut_ptr()).skip_frame = discard };
}

/// Whether the demuxer marked `packet` as decode-only: its frame is dropped by the decoder
/// (an MP4 edit list starting after a keyframe). ffmpeg-next's packet flags omit this bit.
pub(super) fn is_discarded(packet: &Packet) -> bool {
    // SAFETY: `as_ptr` points at the packet `packet` owns, alive for this borrow.
    unsafe { (*packet.as_ptr()).flags & ffi::AV_PKT_FLAG_DISCARD != 0 }
}

/// Whether the input's I/O can seek (a regular file; not a pipe or a live stream).
pub(super) fn is_seekable(input: &format::context::Input) -> bool {
    // SAFETY: `input` holds an open format context; `pb` is null or a valid AVIOContext
    // owned by it.
    unsafe {
        let pb = (*input.as_ptr()).pb;
        !pb.is_null() && (*pb).seekable & ffi::AVIO_SEEKABLE_NORMAL as c_int != 0
    }
}

/// Seeks `stream` to the last keyframe at or before `ts` (the stream's time base).
pub(super) fn seek_backward(
    input: &mut format::context::Input,
    stream: usize,
    ts: i64,
) -> Result<(), AvError> {
    // SAFETY: `input` holds an open format context and `stream` is one of its streams.
    let ret = unsafe {
        ffi::av_seek_frame(
            input.as_mut_ptr(),
            stream as c_int,
            ts,
            ffi::AVSEEK_FLAG_BACKWARD as c_int,
        )
    };
    if ret < 0 {
        Err(AvError::from(ret))
    } else {
        Ok(())
    }
}

/// The counter-clockwise rotation (degrees) a display matrix asks for, as FFmpeg computes it
/// (`av_display_rotation_get`); NaN for a degenerate matrix.
pub(super) fn display_rotation(matrix: &[i32; 9]) -> f64 {
    // SAFETY: av_display_rotation_get reads exactly 9 int32 from the pointer.
    unsafe { ffi::av_display_rotation_get(matrix.as_ptr()) }
}

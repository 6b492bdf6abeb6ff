//! The calls into FFmpeg that ffmpeg-next does not wrap (or wraps in a way that loses what
//! parity needs): opening by raw path bytes, the decoder's thread count, packet discard flags,
//! seeking in the stream's own time base, seekability, the display matrix, the demuxer's
//! index entries, skipping non-reference frames, and an input over a file whose packet
//! payloads read as zeros (a custom AVIOContext). Every `unsafe`
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

/// The decoder's thread count with FFmpeg's default thread types: 0 is frame (and slice)
/// threading on every core, 1 a single thread. ffmpeg-next's `set_threading` also
/// overwrites `thread_type`.
pub(super) fn set_thread_count(ctx: &mut codec::Context, threads: c_int) {
    // SAFETY: a plain int field of an allocated, not yet opened codec context.
    unsafe { (*ctx.as_mut_ptr()).thread_count = threads };
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

/// One entry of a stream's demuxer index (`AVIndexEntry`): where a packet's bytes lie and
/// the container's keyframe and decode-only flags.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct IndexEntry {
    /// The decode timestamp (a packet's dts), in the stream's time base.
    pub timestamp: i64,
    pub pos: i64,
    pub size: i64,
    pub key: bool,
    pub discard: bool,
}

/// The index the demuxer built for `stream` when the input was opened (for MP4/MOV: every
/// sample of the sample tables, edit lists applied).
pub(super) fn index_entries(input: &format::context::Input, stream: usize) -> Vec<IndexEntry> {
    // SAFETY: `input` holds an open format context and `stream` is one of its streams;
    // every entry pointer is taken below the count FFmpeg reports and read at once.
    unsafe {
        let ctx = input.as_ptr();
        if stream >= (*ctx).nb_streams as usize {
            return Vec::new();
        }
        let st = *(*ctx).streams.add(stream);
        let n = ffi::avformat_index_get_entries_count(st);
        (0..n)
            .filter_map(|i| {
                let e = ffi::avformat_index_get_entry(st, i);
                (!e.is_null()).then(|| IndexEntry {
                    timestamp: (*e).timestamp,
                    pos: (*e).pos,
                    size: i64::from((*e).size()),
                    key: (*e).flags() & ffi::AVINDEX_KEYFRAME != 0,
                    discard: (*e).flags() & ffi::AVINDEX_DISCARD_FRAME != 0,
                })
            })
            .collect()
    }
}

/// The file as a demuxer sees it, except that the byte ranges `blank` (sorted, disjoint)
/// read as zeros without being read: packet payloads, when only the packets' timestamps
/// and flags are wanted.
struct BlankedFile {
    file: std::fs::File,
    pos: u64,
    size: u64,
    blank: Vec<(u64, u64)>,
}

impl BlankedFile {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        use std::os::unix::fs::FileExt;
        let want = (out.len() as u64).min(self.size.saturating_sub(self.pos)) as usize;
        let mut done = 0;
        while done < want {
            let at = self.pos + done as u64;
            let i = self.blank.partition_point(|&(_, end)| end <= at);
            let left = (want - done) as u64;
            match self.blank.get(i) {
                Some(&(start, end)) if start <= at => {
                    let n = (end - at).min(left) as usize;
                    out[done..done + n].fill(0);
                    done += n;
                }
                next => {
                    let n = next.map_or(left, |&(start, _)| (start - at).min(left)) as usize;
                    match self.file.read_at(&mut out[done..done + n], at)? {
                        0 => break,
                        k => done += k,
                    }
                }
            }
        }
        self.pos += done as u64;
        Ok(done)
    }
}

unsafe extern "C" fn blanked_read(
    opaque: *mut std::os::raw::c_void,
    buf: *mut u8,
    buf_size: c_int,
) -> c_int {
    // SAFETY: `opaque` is the `BlankedFile` the AVIOContext was made with (alive until the
    // context is freed) and `buf` has room for `buf_size` bytes.
    let (file, out) = unsafe {
        (
            &mut *opaque.cast::<BlankedFile>(),
            std::slice::from_raw_parts_mut(buf, buf_size.max(0) as usize),
        )
    };
    match file.read(out) {
        Ok(0) => ffi::AVERROR_EOF,
        Ok(n) => n as c_int,
        Err(_) => ffi::AVERROR(ffi::EIO),
    }
}

unsafe extern "C" fn blanked_seek(
    opaque: *mut std::os::raw::c_void,
    offset: i64,
    whence: c_int,
) -> i64 {
    // SAFETY: as in `blanked_read`.
    let file = unsafe { &mut *opaque.cast::<BlankedFile>() };
    if whence & ffi::AVSEEK_SIZE != 0 {
        return file.size as i64;
    }
    let base = match whence & !ffi::AVSEEK_FORCE {
        0 => 0,
        1 => file.pos as i64,
        2 => file.size as i64,
        _ => return i64::from(ffi::AVERROR(ffi::EINVAL)),
    };
    match base.checked_add(offset) {
        Some(pos) if pos >= 0 => {
            file.pos = pos as u64;
            pos
        }
        _ => i64::from(ffi::AVERROR(ffi::EINVAL)),
    }
}

/// An input opened over a [`BlankedFile`]; its stream info is not probed (that would decode
/// blank packets), so it serves reading packets' timestamps and flags only.
pub(super) struct BlankedInput {
    input: Option<format::context::Input>,
    avio: *mut ffi::AVIOContext,
    file: *mut BlankedFile,
}

impl BlankedInput {
    pub(super) fn input(&mut self) -> &mut format::context::Input {
        self.input.as_mut().expect("open until dropped")
    }
}

impl Drop for BlankedInput {
    fn drop(&mut self) {
        // The format context first: it does not own a caller's AVIOContext.
        drop(self.input.take());
        // SAFETY: `avio` and `file` were made in `open_blanked` and are freed only here; the
        // context's buffer may have been reallocated by FFmpeg, so it is freed through the
        // context.
        unsafe {
            ffi::av_freep(ptr::addr_of_mut!((*self.avio).buffer).cast());
            ffi::avio_context_free(&mut self.avio);
            drop(Box::from_raw(self.file));
        }
    }
}

/// Opens `url` (the same name the file was opened by, for the same format probe) over
/// `path` with the byte ranges `blank` reading as zeros.
pub(super) fn open_blanked(
    url: &[u8],
    path: &std::path::Path,
    mut blank: Vec<(u64, u64)>,
) -> Result<BlankedInput, AvError> {
    const BUFFER: usize = 1 << 16;
    let url = CString::new(url).map_err(|_| AvError::from(ffi::AVERROR(libc_einval())))?;
    let io_error = |_| AvError::from(ffi::AVERROR(ffi::EIO));
    let file = std::fs::File::open(path).map_err(io_error)?;
    let size = file.metadata().map_err(io_error)?.len();
    blank.sort_unstable();
    let mut merged: Vec<(u64, u64)> = Vec::with_capacity(blank.len());
    for (start, end) in blank {
        match merged.last_mut() {
            Some(last) if start <= last.1 => last.1 = last.1.max(end),
            _ => merged.push((start, end)),
        }
    }
    let file = Box::into_raw(Box::new(BlankedFile {
        file,
        pos: 0,
        size,
        blank: merged,
    }));
    // SAFETY: the buffer and context are allocated by FFmpeg (null results checked); the
    // callbacks get `file`, which lives until `BlankedInput` frees it after the context. A
    // format context given a caller's AVIOContext never frees it; on failure
    // avformat_open_input frees the format context and nulls `ctx`.
    unsafe {
        let buffer = ffi::av_malloc(BUFFER).cast::<u8>();
        let mut avio = if buffer.is_null() {
            ptr::null_mut()
        } else {
            ffi::avio_alloc_context(
                buffer,
                BUFFER as c_int,
                0,
                file.cast(),
                Some(blanked_read),
                None,
                Some(blanked_seek),
            )
        };
        let mut ctx = if avio.is_null() {
            ptr::null_mut()
        } else {
            ffi::avformat_alloc_context()
        };
        if ctx.is_null() {
            if avio.is_null() {
                ffi::av_free(buffer.cast());
            } else {
                ffi::av_freep(ptr::addr_of_mut!((*avio).buffer).cast());
                ffi::avio_context_free(&mut avio);
            }
            drop(Box::from_raw(file));
            return Err(AvError::from(ffi::AVERROR(ffi::ENOMEM)));
        }
        (*ctx).pb = avio;
        // Reads straight into each packet, not through the context's buffer: a sample's
        // zeros are written once, not written and then copied (~15% of the index's time).
        (*avio).direct = 1;
        // No parser: it would look into the blank payloads (the packets' keyframe flags
        // are then the container's sync samples).
        (*ctx).flags |= ffi::AVFMT_FLAG_NOPARSE as c_int;
        let ret = ffi::avformat_open_input(&mut ctx, url.as_ptr(), ptr::null(), ptr::null_mut());
        let input = (ret >= 0).then(|| format::context::Input::wrap(ctx));
        let blanked = BlankedInput { input, avio, file };
        if ret < 0 {
            return Err(AvError::from(ret));
        }
        Ok(blanked)
    }
}

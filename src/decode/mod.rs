//! Decoding: a video file → its frames in presentation order, each with a timestamp, kept in
//! the decoder's native pixel format; packed RGB24 (`ndarray` `[N, H, W, 3]`) is made only for
//! the frames asked for (colour conversion costs about as much as decoding, and a clip
//! protocol uses a fraction of the frames).
//!
//! The only module that touches FFmpeg, split at the FFmpeg/RGB line: this file drives
//! ffmpeg-next's safe `format::context::Input`, `Packet`, `decoder::Video` and
//! `frame::Video`; `index` is the frame index and plans which packets to decode; `moov`
//! reads an MP4's composition offsets, which FFmpeg does not expose; `rgb` is the colour
//! conversion (libswscale) and rotation; `ff` holds the few FFI calls ffmpeg-next does not
//! wrap. Every `unsafe` block is in `ff` or `rgb`, each with a
//! `// SAFETY:` note.
//!
//! Two ways to decode:
//! - [`decode_video`] decodes every frame of the stream, in one pass.
//! - [`decode_video_keeping`] decodes only what a frame selection needs: it reads the frame
//!   index without decoding (every frame's timestamp, which packets are keyframes: for most
//!   MP4/MOV files from the container's sample tables, `moov`; otherwise from the packets), lets
//!   the caller's selection pick frames for that many frames at that rate, then for each run
//!   of wanted frames seeks to the keyframe before it and decodes up to its last frame
//!   (H.264 pictures no other picture references are skipped unless wanted; the runs are
//!   shared among one worker thread per core, each with its own input and decoder). The
//!   frames are the same a full decode gives (same index, same pixels): a frame is decoded
//!   from a keyframe at or before it in both decode and presentation order, so every
//!   reference it has is decoded too. Inputs that cannot seek, streams whose packets do not
//!   map one-to-one to frames, and any surprise while seeking (a frame missing, an unknown
//!   timestamp, a decoder error) fall back to decoding sequentially.
//!
//! Parity with the Python reference (torchcodec 0.17, CPU, on the same FFmpeg libraries):
//! - Colour: torchcodec converts with libswscale, either directly (`SwScale.cpp`, when the
//!   width is a multiple of 32) or through an FFmpeg filter graph whose auto-inserted `scale`
//!   filter calls libswscale (`CpuDeviceInterface.cpp`). Both use swscale's default scaler
//!   flags (`0`, i.e. bicubic, which only matters for chroma upsampling), the YUV→RGB matrix
//!   of the frame's own `colorspace` (`sws_getCoefficients`, BT.601 when unspecified) and the
//!   frame's `color_range` (limited when unspecified). [`DecodedVideo::rgb_frames`] does
//!   exactly that, including torchcodec's padded rows for widths not a multiple of 32.
//! - Rotation: torchcodec 0.17 reads the stream's display matrix and rotates every frame
//!   upright (`transpose=cclock`/`transpose=clock`/`hflip,vflip` after the RGB conversion,
//!   angle rounded to a multiple of 90°). So do we: [`VideoInfo::rotation_degrees`] is the
//!   angle and `rgb_frames` returns upright frames; `width`/`height` are the upright sizes.
//! - Frame rate: [`VideoInfo::fps`] is the stream's `avg_frame_rate` (what torchvision's
//!   `VideoClips` gets from PyAV's `average_rate`), falling back to `r_frame_rate`, then to
//!   the timestamps.
use std::path::{Path, PathBuf};

use ffmpeg_next::codec::{self, decoder};
use ffmpeg_next::format::{self, stream::Disposition};
use ffmpeg_next::util::error::EAGAIN;
use ffmpeg_next::{frame, media, Error as AvError, Packet, Rational};
use ndarray::Array4;

use crate::error::{Error, Result};

mod ff;
mod index;
mod moov;
mod rgb;
pub mod stream;

use index::{FrameIndex, NoIndex, PacketEntry, Span};

/// What the container and decoder say about a video stream.
#[derive(Clone, Debug, PartialEq)]
pub struct VideoInfo {
    /// Width of the frames [`DecodedVideo::rgb_frames`] returns, after rotation.
    pub width: u32,
    /// Height of the frames [`DecodedVideo::rgb_frames`] returns, after rotation.
    pub height: u32,
    /// Frames per second: the stream's `avg_frame_rate`, else `r_frame_rate`, else estimated
    /// from the timestamps.
    pub fps: f64,
    /// Stream duration from the container, if it says.
    pub duration_secs: Option<f64>,
    /// FFmpeg's decoder name (`h264`, `vp9`, `mpeg4`, ...).
    pub codec: String,
    /// Counter-clockwise rotation (degrees, a multiple of 90 in −180..=180) the display
    /// matrix asks for and that has been applied to the frames; 0 when none.
    pub rotation_degrees: i32,
}

/// Every frame of a video's best video stream, in presentation order, with its timestamp;
/// the frames held (all, from [`decode_video`]; those the selection needs, from
/// [`decode_video_keeping`]) still in the decoder's pixel format.
pub struct DecodedVideo {
    path: PathBuf,
    info: VideoInfo,
    /// `None` for a frame not kept (or, when seeking, not decoded).
    frames: Vec<Option<frame::Video>>,
    pts_secs: Vec<f64>,
    /// Decoded size, before rotation.
    frame_size: (u32, u32),
    warnings: Vec<String>,
    /// Frames the decoder produced.
    frames_run: usize,
    /// Runs decoded after a seek; 0 for a sequential decode.
    seeks: usize,
}

impl std::fmt::Debug for DecodedVideo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DecodedVideo")
            .field("path", &self.path)
            .field("info", &self.info)
            .field("frames", &self.frames.len())
            .field("kept", &self.frames.iter().filter(|f| f.is_some()).count())
            .field("frames_run", &self.frames_run)
            .field("seeks", &self.seeks)
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

    /// Number of frames of the video (decoded or, when seeking, indexed).
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

    /// How many frames the decoder actually produced: [`Self::len`] for a sequential decode,
    /// fewer when seeking skipped parts of the stream.
    pub fn frames_run(&self) -> usize {
        self.frames_run
    }

    /// How many runs were decoded after a seek: 0 when the stream was decoded sequentially.
    pub fn seeks(&self) -> usize {
        self.seeks
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

    /// The frames at `indices` (repeats allowed) as packed RGB, uint8 `[len, H, W, 3]` in
    /// standard layout, rotated upright, converted exactly as torchcodec converts them (see
    /// the module notes).
    pub fn rgb_frames(&self, indices: &[usize]) -> Result<Array4<u8>> {
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
        if let Some(&(i, frame)) = frames
            .iter()
            .find(|(_, f)| (f.width(), f.height()) != (width, height))
        {
            return Err(Error::decode(
                &self.path,
                format!(
                    "frame {i} is {}x{} but the first frame is {width}x{height}; resolution \
                     changes mid-stream are not supported",
                    frame.width(),
                    frame.height()
                ),
            ));
        }
        let mut rgb = Array4::<u8>::zeros((indices.len(), height as usize, width as usize, 3));
        let mut converter = rgb::Converter::default();
        for (mut slot, &(index, frame)) in rgb.outer_iter_mut().zip(&frames) {
            let out = slot
                .as_slice_mut()
                .ok_or_else(|| Error::Invalid("RGB frame buffer not contiguous".to_owned()))?;
            converter
                .convert_into(frame, out)
                .map_err(|reason| Error::decode(&self.path, format!("frame {index}: {reason}")))?;
        }
        Ok(rgb::rotate(rgb, self.info.rotation_degrees / 90))
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
    decode_sequential(path, input, stream, None)
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
    let format = input.format();
    let name = format.name();
    let image = name == "image2" || name == "image2pipe" || name.ends_with("_pipe");
    Ok(if image {
        MediaKind::Image
    } else {
        MediaKind::Video
    })
}

/// Like [`decode_video`], but holds only the frames `select(frames, fps)` names (the indices
/// the caller will pass to [`DecodedVideo::rgb_frames`] for a video of that many frames at
/// that rate) and, where it can, decodes only what they need (see the module notes): the
/// frame count comes from the packets, so `select` is asked once, and each run of wanted
/// frames is decoded from the keyframe before it.
///
/// When the input cannot seek or its packets cannot be indexed, every frame is decoded and
/// the others released at once, so memory stays bounded by the selection: then the count is
/// known only after decoding, so the selection is made for the count the container declares
/// (or duration × fps), widened by ±2 frames, and if the video turns out different and the
/// frames kept do not cover the selection for the count found, it is decoded again keeping
/// exactly that selection (or, should that still fall short, every frame). Either way the
/// result holds the frames `select` names for it.
pub fn decode_video_keeping(
    path: &Path,
    select: &dyn Fn(usize, f64) -> Vec<usize>,
) -> Result<DecodedVideo> {
    try_decode_video_keeping(path, &|frames, fps| Ok(select(frames, fps)))
}

/// [`decode_video_keeping`] with a selection that may refuse the video (a frame rate no clip
/// protocol can sample): its error is returned as soon as the selection is asked, before
/// the stream is decoded.
///
/// The container's declared frame count and duration only guide the sequential way's first
/// guess; the count and every index the selection gets are the frames that exist, and what
/// is held is the frames it names, so memory follows the frames of the file, whatever its
/// headers claim.
pub fn try_decode_video_keeping(
    path: &Path,
    select: &dyn Fn(usize, f64) -> Result<Vec<usize>>,
) -> Result<DecodedVideo> {
    let (mut input, stream) = open(path)?;
    if ff::is_seekable(&input) {
        // A second input for a second decoding worker (see `decode_seeking`), opened on
        // another core while this one reads the index; the worker waits for it, not this
        // thread (should the seeking way not be taken, the opener finishes on its own).
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let spare = (cores > 1).then(|| {
            let path = path.to_path_buf();
            std::thread::spawn(move || open(&path).ok())
        });
        // The demuxer's entries, read once for both ways that start from them.
        let entries = sample_table_entries(&input, stream);
        let tried = entries.as_deref().map_or(Tables::NotTried, |entries| {
            read_index_from_tables(path, &mut input, stream, entries)
        });
        let index = match tried {
            Tables::Index(index) => Ok(index),
            tried => {
                if tried == Tables::ReadAPacket {
                    // The packet scan below starts at the first packet.
                    input = open(path)?.0;
                }
                entries
                    .as_deref()
                    .and_then(|entries| read_index_blanked(path, &input, stream, entries))
                    .map_or_else(|| read_index(&mut input, stream), Ok)
            }
        };
        if let Ok(index) = index {
            let facts = StreamFacts::of(&input, stream);
            let fps = facts
                .frame_rate
                .or_else(|| fps_from_timestamps(&index.pts, facts.time_base));
            if let Some(fps) = fps {
                let wanted = select(index.len(), fps)?;
                if let Ok(video) =
                    decode_seeking(path, &mut input, spare, stream, &index, &wanted, facts, fps)
                {
                    return Ok(video);
                }
            }
        }
        // Sequential from here: reopen, so the decode starts exactly as a fresh one.
        let (fresh, _) = open(path)?;
        input = fresh;
    }
    decode_sequential_keeping(path, input, stream, select)
}

/// [`decode_video_keeping`]'s sequential way (see there). The declared count is only a
/// guess here: frames the guess names beyond the real end cost nothing (what is kept is a
/// list of indices, not a mask as long as the guess), and a wrong guess costs a second
/// decode, never memory.
fn decode_sequential_keeping(
    path: &Path,
    input: format::context::Input,
    stream: usize,
    select: &dyn Fn(usize, f64) -> Result<Vec<usize>>,
) -> Result<DecodedVideo> {
    let facts = StreamFacts::of(&input, stream);
    let (Some(fps), Some(guess)) = (facts.frame_rate, facts.frame_count_guess()) else {
        return decode_sequential(path, input, stream, None);
    };
    let counts: Vec<usize> = (guess.saturating_sub(2).max(1)..=guess.saturating_add(2)).collect();
    let keep = kept_frames(select, &counts, fps)?;
    let mut video = decode_sequential(path, input, stream, Some(&keep))?;
    for full in [false, true] {
        let (frames, fps) = (video.len(), video.info.fps);
        let complete = select(frames, fps)?
            .into_iter()
            .all(|i| i >= frames || video.is_kept(i));
        if complete {
            break;
        }
        drop(video);
        let (input, stream) = open(path)?;
        let keep = if full {
            None
        } else {
            Some(kept_frames(select, &[frames], fps)?)
        };
        video = decode_sequential(path, input, stream, keep.as_deref())?;
    }
    Ok(video)
}

/// Every frame `select` names for any of the frame `counts`, ascending, without repeats.
fn kept_frames(
    select: &dyn Fn(usize, f64) -> Result<Vec<usize>>,
    counts: &[usize],
    fps: f64,
) -> Result<Vec<usize>> {
    let mut keep = Vec::new();
    for &frames in counts {
        keep.extend(select(frames, fps)?);
    }
    keep.sort_unstable();
    keep.dedup();
    Ok(keep)
}

/// Opens `path` and picks its video stream, with errors that say what is wrong.
fn open(path: &Path) -> Result<(format::context::Input, usize)> {
    use std::os::unix::ffi::OsStrExt;
    let meta = std::fs::metadata(path).map_err(|e| Error::io(path, e))?;
    if meta.is_dir() {
        return Err(Error::decode(path, "is a directory, not a video file"));
    }
    if meta.len() == 0 {
        return Err(Error::decode(path, "empty file (0 bytes)"));
    }
    ff::quiet_logging();

    // The `file:` protocol prefix keeps FFmpeg from reading a name like `a:b.mp4` as protocol
    // `a`; the bytes are the OS path as is (no UTF-8 requirement).
    let mut url = b"file:".to_vec();
    url.extend_from_slice(path.as_os_str().as_bytes());
    let input = ff::open_input(&url).map_err(|e| {
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

    let stream = best_video_stream(&input).ok_or_else(|| {
        let kinds = stream_kinds(&input);
        let found = if kinds.is_empty() {
            "the file has no streams".to_owned()
        } else {
            format!("streams found: {}", kinds.join(", "))
        };
        Error::decode(path, format!("no video stream ({found})"))
    })?;
    Ok((input, stream))
}

/// FFmpeg's pick among the video streams (av_find_best_stream), skipping cover art.
fn best_video_stream(input: &format::context::Input) -> Option<usize> {
    let usable = |s: &format::stream::Stream| {
        s.parameters().medium() == media::Type::Video
            && !s.disposition().contains(Disposition::ATTACHED_PIC)
    };
    if let Some(best) = input.streams().best(media::Type::Video) {
        if usable(&best) {
            return Some(best.index());
        }
    }
    input.streams().find(|s| usable(s)).map(|s| s.index())
}

/// The kinds of the streams, for error messages ("audio (aac)", "subtitle (mov_text)", ...).
fn stream_kinds(input: &format::context::Input) -> Vec<String> {
    input
        .streams()
        .map(|s| {
            let par = s.parameters();
            let kind = match par.medium() {
                media::Type::Video => "video (cover art)",
                media::Type::Audio => "audio",
                media::Type::Subtitle => "subtitle",
                media::Type::Data => "data",
                media::Type::Attachment => "attachment",
                _ => "unknown",
            };
            format!("{kind} ({})", par.id().name())
        })
        .collect()
}

/// What the container says about the video stream.
#[derive(Clone, Copy, Debug)]
struct StreamFacts {
    /// Seconds per timestamp unit.
    time_base: f64,
    frame_rate: Option<f64>,
    declared_frames: Option<usize>,
    duration_secs: Option<f64>,
    rotation_degrees: i32,
}

impl StreamFacts {
    fn of(input: &format::context::Input, index: usize) -> StreamFacts {
        let Some(s) = input.stream(index) else {
            return StreamFacts {
                time_base: 0.0,
                frame_rate: None,
                declared_frames: None,
                duration_secs: None,
                rotation_degrees: 0,
            };
        };
        let time_base = positive(s.time_base()).unwrap_or(0.0);
        let from_stream =
            (s.duration() > 0 && time_base > 0.0).then(|| s.duration() as f64 * time_base);
        let container = input.duration();
        let duration_secs = from_stream.or_else(|| {
            (container > 0).then(|| container as f64 / f64::from(ffmpeg_next::ffi::AV_TIME_BASE))
        });
        StreamFacts {
            time_base,
            frame_rate: positive(s.avg_frame_rate()).or_else(|| positive(s.rate())),
            declared_frames: (s.frames() > 0).then(|| s.frames() as usize),
            duration_secs,
            rotation_degrees: rotation_degrees(&s),
        }
    }

    /// The declared frame count, else duration × frame rate.
    fn frame_count_guess(&self) -> Option<usize> {
        self.declared_frames.or_else(|| {
            let frames = self.duration_secs? * self.frame_rate?;
            (1.0..1e9)
                .contains(&frames)
                .then(|| frames.round() as usize)
        })
    }
}

fn positive(r: Rational) -> Option<f64> {
    (r.numerator() > 0 && r.denominator() > 0).then(|| f64::from(r))
}

/// The display matrix's counter-clockwise rotation, rounded to a multiple of 90° the way
/// torchcodec 0.17 rounds it (`rotation_from_degrees`); 0 without a matrix.
fn rotation_degrees(stream: &format::stream::Stream) -> i32 {
    use ffmpeg_next::codec::packet::side_data::Type;
    let Some(side) = stream.side_data().find(|d| d.kind() == Type::DisplayMatrix) else {
        return 0;
    };
    let data = side.data();
    if data.len() < 36 {
        return 0;
    }
    let mut matrix = [0i32; 9];
    for (m, bytes) in matrix.iter_mut().zip(data.chunks_exact(4)) {
        *m = i32::from_ne_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
    }
    let degrees = ff::display_rotation(&matrix);
    if degrees.is_nan() {
        return 0;
    }
    match ((degrees / 90.0).round() as i32).rem_euclid(4) {
        0 => 0,
        1 => 90,
        2 => 180,
        _ => -90,
    }
}

/// FFmpeg's default decoder for `stream`, with frame (and slice) threading on every core.
fn open_decoder(
    input: &format::context::Input,
    stream: usize,
) -> std::result::Result<(decoder::Video, String), String> {
    open_decoder_with(input, stream, 0)
}

/// [`open_decoder`] with `threads` decoder threads (0: every core).
fn open_decoder_with(
    input: &format::context::Input,
    stream: usize,
    threads: i32,
) -> std::result::Result<(decoder::Video, String), String> {
    let s = input
        .stream(stream)
        .ok_or_else(|| format!("no stream {stream}"))?;
    let par = s.parameters();
    let id = par.id();
    let codec = decoder::find(id).ok_or_else(|| format!("no decoder for codec {}", id.name()))?;
    let mut ctx = codec::Context::new_with_codec(codec);
    ctx.set_parameters(par)
        .map_err(|e| format!("cannot set up the {} decoder ({e})", id.name()))?;
    ff::set_thread_count(&mut ctx, threads);
    let mut opening = ctx.decoder();
    opening.set_packet_time_base(s.time_base());
    let decoder = opening
        .open_as(codec)
        .and_then(|o| o.video())
        .map_err(|e| format!("cannot open the {} decoder ({e})", id.name()))?;
    Ok((decoder, codec.name().to_owned()))
}

/// Sends `packet` (None: end of stream) and hands every frame the decoder gives back to
/// `sink`. Errors are the decoder's; frames received before one have been handed on.
fn feed(
    decoder: &mut decoder::Video,
    packet: Option<&Packet>,
    sink: &mut dyn FnMut(frame::Video),
) -> std::result::Result<(), AvError> {
    loop {
        let sent = match packet {
            Some(p) => decoder.send_packet(p),
            None => decoder.send_eof(),
        };
        match sent {
            Ok(()) => {
                drain(decoder, sink)?;
                return Ok(());
            }
            // Output must be drained before the decoder takes more input.
            Err(AvError::Other { errno }) if errno == EAGAIN => {
                if drain(decoder, sink)? {
                    return Ok(());
                }
            }
            Err(AvError::Eof) if packet.is_none() => {
                drain(decoder, sink)?;
                return Ok(());
            }
            Err(e) => {
                // Keep what the decoder can still give, then report.
                let _ = drain(decoder, sink);
                return Err(e);
            }
        }
    }
}

/// Receives frames until the decoder wants input (false) or is finished (true).
fn drain(
    decoder: &mut decoder::Video,
    sink: &mut dyn FnMut(frame::Video),
) -> std::result::Result<bool, AvError> {
    loop {
        let mut frame = frame::Video::empty();
        match decoder.receive_frame(&mut frame) {
            Ok(()) => sink(frame),
            Err(AvError::Other { errno }) if errno == EAGAIN => return Ok(false),
            Err(AvError::Eof) => return Ok(true),
            Err(e) => return Err(e),
        }
    }
}

/// Reads every packet of `stream` without decoding (see `index` for what refuses an index).
fn read_index(
    input: &mut format::context::Input,
    stream: usize,
) -> std::result::Result<FrameIndex, NoIndex> {
    let mut packets = Vec::new();
    loop {
        let mut packet = Packet::empty();
        match packet.read(input) {
            Ok(()) => {}
            Err(AvError::Eof) => break,
            Err(_) => return Err(NoIndex::Unreadable),
        }
        if packet.stream() != stream {
            continue;
        }
        if packet.is_corrupt() || packet.size() == 0 {
            return Err(NoIndex::Unreadable);
        }
        let pts = packet.pts().ok_or(NoIndex::MissingPts)?;
        packets.push(PacketEntry {
            pts,
            dts: packet.dts(),
            key: packet.is_key(),
            discard: ff::is_discarded(&packet),
        });
    }
    FrameIndex::new(packets)
}

/// The demuxer's index of `stream` where it is an MP4/MOV file's sample tables that the
/// faster index readers can use: H.264 or MPEG-4 Part 2 with a sync-sample table (some
/// samples key, some not: without one the demuxer calls every sample a keyframe).
fn sample_table_entries(
    input: &format::context::Input,
    stream: usize,
) -> Option<Vec<ff::IndexEntry>> {
    if !input.format().name().split(',').any(|n| n == "mov") {
        return None;
    }
    let codec = input.stream(stream)?.parameters().id();
    if !matches!(codec, codec::Id::H264 | codec::Id::MPEG4) {
        return None;
    }
    let entries = ff::index_entries(input, stream);
    (entries.iter().any(|e| e.key) && entries.iter().any(|e| !e.key)).then_some(entries)
}

/// What [`read_index_from_tables`] did.
#[derive(Debug, PartialEq)]
enum Tables {
    Index(FrameIndex),
    /// Not such a file, or a check failed before the input was read from.
    NotTried,
    /// A check failed after the input's first packet was read.
    ReadAPacket,
}

/// [`read_index`] from the container's tables alone, for MP4/MOV files whose demuxer index
/// is their samples one for one (no edit list that makes packets decode-only): each
/// packet's dts, keyframe flag and order are the demuxer's index entry, and its pts is
/// that dts plus the sample's composition offset (the `ctts` box, read by `moov`) plus one
/// constant, the shift FFmpeg applies to keep dts at or below pts, which the stream's first
/// packet gives. A 10-minute 640x360 file's index then costs ~2 ms, against ~10 ms for
/// reading its 18000 packets through the demuxer (`read_index_blanked`).
///
/// The tables must match the demuxer's index exactly (sample count, every decode duration),
/// every sample must be non-empty and lie within the file (not cut short), and FFmpeg's
/// reading of `ctts` must be the plain one (no entry it skips or distrusts); otherwise the
/// packets are read. Keyframes are the container's sync samples, as in
/// `read_index_blanked`. A seeking decode then checks every packet it reads against this
/// index (`decode_span`), so a wrong one ends in the sequential decode, not wrong frames.
fn read_index_from_tables(
    path: &Path,
    input: &mut format::context::Input,
    stream: usize,
    entries: &[ff::IndexEntry],
) -> Tables {
    let Some(mut index) = index_from_tables(path, input, stream, entries) else {
        return Tables::NotTried;
    };
    // The constant: the first packet's pts against its dts and offset.
    let first = loop {
        let mut packet = Packet::empty();
        if packet.read(input).is_err() {
            return Tables::ReadAPacket;
        }
        if packet.stream() == stream {
            break packet;
        }
    };
    match (first.pts(), first.dts(), index.first()) {
        (Some(pts), Some(dts), Some(head)) if head.dts == Some(dts) => {
            let shift = pts - head.pts;
            for packet in &mut index {
                packet.pts += shift;
            }
            FrameIndex::new(index).map_or(Tables::ReadAPacket, Tables::Index)
        }
        _ => Tables::ReadAPacket,
    }
}

/// Every packet from the demuxer's index `entries` ([`sample_table_entries`]) and the
/// sample tables, where they agree (see [`read_index_from_tables`]), with the pts still
/// missing FFmpeg's constant shift; reads nothing from `input`.
fn index_from_tables(
    path: &Path,
    input: &format::context::Input,
    stream: usize,
    entries: &[ff::IndexEntry],
) -> Option<Vec<PacketEntry>> {
    if entries.iter().any(|e| e.discard) {
        return None;
    }
    // Every sample's bytes must be in the file: a file cut short (its index at the front)
    // has samples the tables name but no packet holds, which the packet scan finds. And
    // none may be empty: the packet scan refuses an index with an empty packet (it is no
    // frame of the full decode), so the index must not count one either.
    let len = i64::try_from(std::fs::metadata(path).ok()?.len()).ok()?;
    let within = |e: &ff::IndexEntry| {
        e.pos >= 0 && e.size > 0 && e.pos.checked_add(e.size).is_some_and(|end| end <= len)
    };
    if !entries.iter().all(within) {
        return None;
    }
    let track_id = u32::try_from(input.stream(stream)?.id()).ok()?;
    let tables = moov::sample_tables(path, track_id)?;
    if tables.samples != entries.len() as u64 {
        return None;
    }
    // Every table must cover the samples exactly (counted before anything is expanded: a
    // count is the file's word).
    let covers = |counts: &mut dyn Iterator<Item = u64>| counts.sum::<u64>() == tables.samples;
    if !covers(&mut tables.durations.iter().map(|&(count, _)| u64::from(count))) {
        return None;
    }
    let durations = tables
        .durations
        .iter()
        .flat_map(|&(count, duration)| std::iter::repeat_n(i64::from(duration), count as usize));
    let steps = entries.windows(2).map(|w| w[1].timestamp - w[0].timestamp);
    if steps
        .zip(durations)
        .any(|(step, duration)| step != duration)
    {
        return None;
    }
    let offsets: Vec<i64> = if tables.offsets.is_empty() {
        vec![0; entries.len()]
    } else {
        // FFmpeg skips an entry with a count below 1 and drops the whole table for an
        // offset beyond 2^28: leave such files to the packets.
        let plain = |&(count, offset): &(i32, i32)| count >= 1 && offset.unsigned_abs() < 1 << 28;
        if !tables.offsets.iter().all(plain)
            || !covers(&mut tables.offsets.iter().map(|&(count, _)| count as u64))
        {
            return None;
        }
        tables
            .offsets
            .iter()
            .flat_map(|&(count, offset)| std::iter::repeat_n(i64::from(offset), count as usize))
            .collect()
    };
    Some(
        entries
            .iter()
            .zip(offsets)
            .map(|(e, offset)| PacketEntry {
                pts: e.timestamp + offset,
                dts: Some(e.timestamp),
                key: e.key,
                discard: false,
            })
            .collect(),
    )
}

/// [`read_index`] without reading the packets' payloads, where the container says where
/// every packet lies and what it is: an MP4/MOV file's sample tables (the demuxer's index,
/// edit lists applied). Reading a 10-minute 640x360 file's 99 MB of packets costs about as
/// much as decoding the frames the clips need; this reads the moov box only.
///
/// The packets are read as [`read_index`] reads them, from a second input of the same file
/// whose sample bytes read as zeros and whose parser is off, so their timestamps and
/// decode-only flags are the MP4 demuxer's own (for MP4, FFmpeg's parser passes the
/// container's pts and dts through). Keyframes are the container's sync samples (a parser
/// on the real bytes may flag a few more, e.g. recovery points): a run then starts at the
/// sync sample before, never later, and `decode_seeking` checks that the real packet it
/// starts from is a keyframe. Only H.264 and MPEG-4 Part 2 with a sync-sample table (some
/// samples key, some not: without one the demuxer calls every sample a keyframe). As a
/// check, the packets read must be the index's entries, one for one, with their flags.
/// `None`: not such a file, or a check failed (then the packets are read).
fn read_index_blanked(
    path: &Path,
    input: &format::context::Input,
    stream: usize,
    entries: &[ff::IndexEntry],
) -> Option<FrameIndex> {
    use std::os::unix::ffi::OsStrExt;
    let blank = (0..input.nb_streams() as usize)
        .flat_map(|s| ff::index_entries(input, s))
        .filter(|e| e.pos >= 0 && e.size > 0)
        .map(|e| (e.pos as u64, (e.pos + e.size) as u64))
        .collect();
    let mut url = b"file:".to_vec();
    url.extend_from_slice(path.as_os_str().as_bytes());
    let mut blanked = ff::open_blanked(&url, path, blank).ok()?;
    let index = read_index(blanked.input(), stream).ok()?;
    let same = index.packets.len() == entries.len()
        && index
            .packets
            .iter()
            .zip(entries)
            .all(|(p, e)| p.key == e.key && p.discard == e.discard);
    same.then_some(index)
}

/// A second input of the file being opened on another thread.
type SpareInput = std::thread::JoinHandle<Option<(format::context::Input, usize)>>;

/// Why a seeking decode gave up (the caller then decodes sequentially).
type GiveUp = String;

/// Decodes the packets `index.plan(wanted)` names, each run from a seek and a flushed
/// decoder; holds the wanted frames. Any surprise is a [`GiveUp`].
///
/// The runs are independent, so they are shared among one worker per core (the largest
/// first), each with its own input and a single-threaded decoder: a run is a few dozen
/// frames, and frame threading's pipeline, filled and drained at every run, then keeps a
/// second core busy only a fraction of the time (a 10-minute 640x360 H.264 file's five runs
/// took as long with one decoder thread as with two). Threading does not change a decoder's
/// output.
#[allow(clippy::too_many_arguments)]
fn decode_seeking(
    path: &Path,
    input: &mut format::context::Input,
    spare: Option<SpareInput>,
    stream: usize,
    index: &FrameIndex,
    wanted: &[usize],
    facts: StreamFacts,
    fps: f64,
) -> std::result::Result<DecodedVideo, GiveUp> {
    let spans = index.plan(wanted);
    let workers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(spans.len())
        .max(1);
    let mut order: Vec<usize> = (0..spans.len()).collect();
    order.sort_by_key(|&s| std::cmp::Reverse(spans[s].last - spans[s].first));
    let next = std::sync::atomic::AtomicUsize::new(0);
    let failed = std::sync::atomic::AtomicBool::new(false);
    let threads = if workers == 1 { 0 } else { 1 };
    let work = |input: &mut format::context::Input| -> std::result::Result<Decoded, GiveUp> {
        let (mut decoder, codec) = open_decoder_with(input, stream, threads)?;
        let mut out = Decoded {
            codec,
            frames: Vec::new(),
            frames_run: 0,
            sizes: Vec::new(),
        };
        use std::sync::atomic::Ordering::Relaxed;
        loop {
            if failed.load(Relaxed) {
                return Err("another run failed".to_owned());
            }
            let Some(&s) = order.get(next.fetch_add(1, Relaxed)) else {
                return Ok(out);
            };
            if let Err(e) = decode_span(input, stream, index, &spans[s], &mut decoder, &mut out) {
                failed.store(true, Relaxed);
                return Err(e);
            }
        }
    };
    let mut spare = spare;
    // A helper that cannot open the file again does nothing: the others take its runs.
    let results: Vec<std::result::Result<Option<Decoded>, GiveUp>> = std::thread::scope(|scope| {
        let helpers: Vec<_> = (1..workers)
            .map(|_| {
                let spare = spare.take();
                scope.spawn(|| {
                    let opened = spare.and_then(|h| h.join().ok().flatten());
                    match opened.or_else(|| open(path).ok()) {
                        Some((mut own, s)) if s == stream => work(&mut own).map(Some),
                        _ => Ok(None),
                    }
                })
            })
            .collect();
        let mut results = vec![work(input).map(Some)];
        results.extend(helpers.into_iter().map(|h| {
            h.join()
                .unwrap_or_else(|_| Err("a decoding worker panicked".to_owned()))
        }));
        results
    });
    let mut frames: Vec<Option<frame::Video>> = (0..index.len()).map(|_| None).collect();
    let mut frames_run = 0usize;
    let mut codec = String::new();
    let mut first_size = None;
    for result in results {
        let Some(done) = result? else {
            continue;
        };
        codec = done.codec;
        frames_run += done.frames_run;
        for size in done.sizes {
            if *first_size.get_or_insert(size) != size {
                // Corrupt data or a real change: the sequential way tells which.
                return Err("frames of different sizes".to_owned());
            }
        }
        for (f, frame) in done.frames {
            frames[f] = Some(frame);
        }
    }
    let (w, h) = first_size.ok_or("no frame decoded")?;
    let warnings: Vec<String> = declared_count_warning(path, facts.declared_frames, index.len())
        .into_iter()
        .collect();
    let pts_secs = index
        .pts
        .iter()
        .map(|&ts| ts as f64 * facts.time_base)
        .collect();
    Ok(DecodedVideo {
        path: path.to_path_buf(),
        info: video_info(&facts, (w, h), fps, codec),
        frames,
        pts_secs,
        frame_size: (w, h),
        warnings,
        frames_run,
        seeks: spans.len(),
    })
}

/// What one worker of [`decode_seeking`] decoded: the frames kept, by index.
struct Decoded {
    codec: String,
    frames: Vec<(usize, frame::Video)>,
    frames_run: usize,
    /// The distinct frame sizes met, in order.
    sizes: Vec<(u32, u32)>,
}

/// Decodes the packets of `span` from a seek, with `decoder` flushed after, into `out`.
fn decode_span(
    input: &mut format::context::Input,
    stream: usize,
    index: &FrameIndex,
    span: &Span,
    decoder: &mut decoder::Video,
    out: &mut Decoded,
) -> std::result::Result<(), GiveUp> {
    // H.264 only: a picture with nal_ref_idc 0 is never a reference, and FFmpeg's decoder
    // drops it before it touches any state (frame numbers and POC follow the reference
    // pictures), so the kept frames are bit-identical. Not VP9: a frame that refreshes no
    // reference slot can still update the probability context later frames decode with.
    let skip_unwanted = out.codec == "h264";
    let first = seek_to(input, stream, index, span)?;
    let mut unknown = None;
    // By position in `span.frames`.
    let mut kept: Vec<Option<frame::Video>> = span.frames.iter().map(|_| None).collect();
    let Decoded {
        frames_run, sizes, ..
    } = out;
    let mut sink = |frame: frame::Video| {
        *frames_run += 1;
        match frame.timestamp().and_then(|ts| index.frame_at(ts)) {
            Some(f) => {
                let size = (frame.width(), frame.height());
                if !sizes.contains(&size) {
                    sizes.push(size);
                }
                if let Ok(k) = span.frames.binary_search(&f) {
                    kept[k] = Some(frame);
                }
            }
            None => unknown = Some(frame.timestamp()),
        }
    };
    // Frames this span does not keep and nothing references need not be decoded.
    let wanted = |p: usize| {
        index
            .frame_at(index.packets[p].pts)
            .is_some_and(|f| span.frames.binary_search(&f).is_ok())
    };
    if skip_unwanted {
        ff::skip_non_reference(decoder, !wanted(span.first));
    }
    feed(decoder, Some(&first), &mut sink).map_err(|e| e.to_string())?;
    let mut next = span.first + 1;
    while next <= span.last {
        let mut packet = Packet::empty();
        packet.read(input).map_err(|e| e.to_string())?;
        if packet.stream() != stream {
            continue;
        }
        if packet.pts().and_then(|pts| index.packet_at(pts)) != Some(next) {
            return Err(format!("packet {next} is not where the index has it"));
        }
        if skip_unwanted {
            ff::skip_non_reference(decoder, !wanted(next));
        }
        feed(decoder, Some(&packet), &mut sink).map_err(|e| e.to_string())?;
        next += 1;
    }
    feed(decoder, None, &mut sink).map_err(|e| e.to_string())?;
    decoder.flush();
    if let Some(ts) = unknown {
        return Err(format!(
            "the decoder gave a frame at {ts:?}, not in the index"
        ));
    }
    for (&f, frame) in span.frames.iter().zip(kept) {
        let frame = frame.ok_or_else(|| format!("frame {f} did not come out of its run"))?;
        out.frames.push((f, frame));
    }
    Ok(())
}

/// Seeks so that decoding can start with packet `span.first`, and returns that packet. The
/// demuxer lands on a keyframe at or before the target (packets before `span.first` are
/// skipped unread by the decoder); should it land after, earlier targets are tried.
fn seek_to(
    input: &mut format::context::Input,
    stream: usize,
    index: &FrameIndex,
    span: &Span,
) -> std::result::Result<Packet, GiveUp> {
    let earliest_ts = |p: &PacketEntry| p.dts.map_or(p.pts, |dts| dts.min(p.pts));
    let mut targets = vec![earliest_ts(&index.packets[span.first])];
    targets.extend(
        (0..span.first)
            .rev()
            .filter(|&p| index.packets[p].key)
            .take(2)
            .map(|p| earliest_ts(&index.packets[p])),
    );
    targets.push(index.packets.iter().map(earliest_ts).min().unwrap_or(0));
    for ts in targets {
        if ff::seek_backward(input, stream, ts).is_err() {
            continue;
        }
        loop {
            let mut packet = Packet::empty();
            if packet.read(input).is_err() {
                break;
            }
            if packet.stream() != stream {
                continue;
            }
            match packet.pts().and_then(|pts| index.packet_at(pts)) {
                // An index from the container's sync samples (`read_index_blanked`) is
                // checked here against the packet as read: a run starts at a keyframe.
                Some(p) if p == span.first && index.packets[p].key && !packet.is_key() => {
                    return Err(format!("packet {p} is not a keyframe"))
                }
                Some(p) if p == span.first => return Ok(packet),
                Some(p) if p < span.first => continue,
                // Landed after the target (or somewhere unknown): try an earlier one.
                _ => break,
            }
        }
    }
    Err(format!("cannot seek to packet {}", span.first))
}

fn video_info(facts: &StreamFacts, frame_size: (u32, u32), fps: f64, codec: String) -> VideoInfo {
    let (w, h) = frame_size;
    let (width, height) = if facts.rotation_degrees.rem_euclid(180) == 90 {
        (h, w)
    } else {
        (w, h)
    };
    VideoInfo {
        width,
        height,
        fps,
        duration_secs: facts.duration_secs,
        codec,
        rotation_degrees: facts.rotation_degrees,
    }
}

/// Decodes every frame of `stream`, keeping those listed in `keep` (ascending; all when
/// `None`). In
/// selective mode, frames whose timestamps are out of order would need sorting, which the
/// selection did not foresee: then none is kept, and the caller's check sends it back to a
/// full decode.
fn decode_sequential(
    path: &Path,
    mut input: format::context::Input,
    stream: usize,
    keep: Option<&[usize]>,
) -> Result<DecodedVideo> {
    let (mut decoder, codec) = open_decoder(&input, stream).map_err(|e| Error::decode(path, e))?;
    // FFmpeg decodes a JPEG cut short without an error (grey below the cut, a log line we
    // silence): the bytes say it.
    let jpeg = input
        .stream(stream)
        .is_some_and(|s| s.parameters().id() == codec::Id::MJPEG);
    let mut cut_jpegs = 0usize;
    let mut out = Collected {
        keep,
        frames: Vec::new(),
        timestamps: Vec::new(),
        frame_size: None,
        odd_size: None,
        odd_frames: 0,
    };
    let mut warnings = Vec::new();
    let mut decode_errors = 0usize;
    loop {
        let mut packet = Packet::empty();
        match packet.read(&mut input) {
            Ok(()) => {}
            Err(AvError::Eof) => break,
            Err(e) => {
                warnings.push(format!(
                    "read error after {} frames ({e}); the file is probably truncated, \
                     keeping the frames decoded so far",
                    out.timestamps.len()
                ));
                break;
            }
        }
        if packet.stream() != stream {
            continue;
        }
        if jpeg && packet.data().is_some_and(|d| !jpeg_reaches_end(d)) {
            cut_jpegs += 1;
        }
        if let Err(e) = feed(&mut decoder, Some(&packet), &mut |f| out.accept(f)) {
            decode_errors += 1;
            if decode_errors == 1 {
                warnings.push(format!(
                    "decoder rejected a packet after {} frames ({})",
                    out.timestamps.len(),
                    av_reason(&e)
                ));
            }
        }
    }
    if let Err(e) = feed(&mut decoder, None, &mut |f| out.accept(f)) {
        warnings.push(format!("decoder error while flushing ({})", av_reason(&e)));
    }
    if cut_jpegs > 0 {
        let which = if cut_jpegs == 1 {
            "the JPEG data ends".to_owned()
        } else {
            format!("{cut_jpegs} JPEG frames end")
        };
        warnings.push(format!(
            "truncated JPEG: {which} before the end-of-image marker; the part of the picture \
             after the cut decodes as grey"
        ));
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
        odd_size,
        odd_frames,
        ..
    } = out;
    if let (Some((w, h)), Some((at, ow, oh))) = (frame_size, odd_size) {
        // A stretch of frames at another size is corrupt data (a damaged sequence header
        // decodes its GOP at a made-up size), skipped as a rejected packet is; most of the
        // stream at another size is a real change of resolution.
        if odd_frames >= frames.len() {
            return Err(Error::decode(
                path,
                format!(
                    "resolution changes mid-stream are not supported: the first frame is \
                     {w}x{h}, but from frame {at} on {odd_frames} of {} frames are {ow}x{oh} \
                     or other sizes",
                    odd_frames + frames.len()
                ),
            ));
        }
        warnings.push(format!(
            "skipped {odd_frames} corrupt frame(s) decoded at another size than the stream's \
             {w}x{h} (the first after frame {at}, at {ow}x{oh})"
        ));
    }
    let facts = StreamFacts::of(&input, stream);
    warnings.extend(declared_count_warning(
        path,
        facts.declared_frames,
        frames.len(),
    ));
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
        let mut taken = frames;
        frames = order.iter().map(|&i| taken[i].take()).collect();
        timestamps = order.iter().map(|&i| timestamps[i]).collect();
    }

    let fps = match facts.frame_rate {
        Some(fps) => fps,
        None => {
            let known: Option<Vec<i64>> = timestamps.iter().copied().collect();
            known
                .and_then(|ts| fps_from_timestamps(&ts, facts.time_base))
                .ok_or_else(|| {
                    Error::decode(
                        path,
                        "unknown frame rate: the stream declares none and its frames carry no \
                         usable timestamps",
                    )
                })?
        }
    };
    let pts_secs = timestamps
        .iter()
        .enumerate()
        .map(|(i, ts)| match ts {
            Some(ts) => *ts as f64 * facts.time_base,
            None => i as f64 / fps,
        })
        .collect();
    let frames_run = frames.len();
    Ok(DecodedVideo {
        path: path.to_path_buf(),
        info: video_info(&facts, frame_size, fps, codec),
        frames,
        pts_secs,
        frame_size,
        warnings,
        frames_run,
        seeks: 0,
    })
}

/// What to say when the container declares more frames than the stream has: a few more is a
/// file cut short; more than the file has bytes is a header that cannot be true (an AVI
/// claiming 2^31 − 1 frames in a few kilobytes), ignored — the frames decoded are the video.
fn declared_count_warning(path: &Path, declared: Option<usize>, found: usize) -> Option<String> {
    let declared = declared.filter(|&d| d > found)?;
    let bytes = std::fs::metadata(path).map(|m| m.len()).ok();
    Some(match bytes {
        Some(bytes) if declared as u64 > bytes => format!(
            "the container declares an implausible frame count, {declared} frames in a file of \
             {bytes} bytes; ignored, the {found} frames the stream holds are used"
        ),
        _ => format!(
            "the container declares {declared} frames but only {found} could be decoded; the \
             file is probably truncated"
        ),
    })
}

/// Frames as the decoder gives them back, in output order.
struct Collected<'k> {
    /// Ascending frame indices to keep; every frame when `None`.
    keep: Option<&'k [usize]>,
    frames: Vec<Option<frame::Video>>,
    timestamps: Vec<Option<i64>>,
    /// The first frame's size: the video's.
    frame_size: Option<(u32, u32)>,
    /// Where the first frame of another size came (frames accepted before it) and its size.
    odd_size: Option<(usize, u32, u32)>,
    /// Frames of another size than the first, skipped.
    odd_frames: usize,
}

impl Collected<'_> {
    /// Takes `frame`, keeping (or releasing) it by its position; a frame of another size than
    /// the first is skipped and counted (see `decode_sequential`).
    fn accept(&mut self, frame: frame::Video) {
        let index = self.frames.len();
        let size = (frame.width(), frame.height());
        if *self.frame_size.get_or_insert(size) != size {
            self.odd_size.get_or_insert((index, size.0, size.1));
            self.odd_frames += 1;
            return;
        }
        self.timestamps.push(frame.timestamp());
        let kept = self.keep.is_none_or(|k| k.binary_search(&index).is_ok());
        self.frames.push(kept.then_some(frame));
    }
}

/// An FFmpeg error as words: its message, or its name where FFmpeg has no message for it.
fn av_reason(e: &AvError) -> String {
    let text = e.to_string();
    if text.trim().is_empty() {
        format!("{e:?}")
    } else {
        text
    }
}

/// Whether a JPEG image's bytes reach its end-of-image marker (EOI). Walks the marker
/// segments by their lengths (an EXIF thumbnail's EOI sits inside one and does not count)
/// and the entropy-coded data after each start-of-scan, where a marker is `FF` followed by
/// anything but a stuffed `00` or a restart marker. Data that does not start like a JPEG,
/// or is malformed, is left to the decoder: only "the bytes stop before the image does" is
/// judged here.
fn jpeg_reaches_end(data: &[u8]) -> bool {
    if !data.starts_with(&[0xFF, 0xD8]) {
        return true;
    }
    let mut i = 2;
    loop {
        if i >= data.len() {
            return false;
        }
        if data[i] != 0xFF {
            return true;
        }
        // Fill bytes before a marker.
        while data.get(i) == Some(&0xFF) {
            i += 1;
        }
        let Some(&marker) = data.get(i) else {
            return false;
        };
        i += 1;
        match marker {
            0xD9 => return true,
            // Standalone markers: no length.
            0x01 | 0xD0..=0xD8 => continue,
            0x00 => return true,
            _ => {}
        }
        let Some(length) = data.get(i..i + 2) else {
            return false;
        };
        let length = usize::from(u16::from_be_bytes([length[0], length[1]]));
        if length < 2 {
            return true;
        }
        i += length;
        if marker == 0xDA {
            // Entropy-coded data, up to the next marker.
            loop {
                match (data.get(i), data.get(i + 1)) {
                    (Some(0xFF), Some(&next)) if next != 0x00 && !(0xD0..=0xD7).contains(&next) => {
                        break
                    }
                    (Some(_), Some(_)) => i += 1,
                    _ => return false,
                }
            }
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

/// Frames per second from the spread of ascending timestamps, for streams that declare no
/// rate.
fn fps_from_timestamps(timestamps: &[i64], time_base: f64) -> Option<f64> {
    let (first, last) = (*timestamps.first()?, *timestamps.last()?);
    let span = (last - first) as f64 * time_base;
    (timestamps.len() > 1 && span > 0.0).then(|| (timestamps.len() - 1) as f64 / span)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ffmpeg(args: &[&str]) {
        let status = std::process::Command::new("ffmpeg")
            .args(["-hide_banner", "-loglevel", "error", "-y"])
            .args(args)
            .status()
            .expect("ffmpeg runs");
        assert!(status.success(), "ffmpeg {args:?}");
    }

    /// [`read_index_from_tables`] on a freshly opened `path`.
    fn tables_index(path: &Path) -> Tables {
        let (mut input, stream) = open(path).unwrap();
        match sample_table_entries(&input, stream) {
            Some(entries) => read_index_from_tables(path, &mut input, stream, &entries),
            None => Tables::NotTried,
        }
    }

    /// [`read_index_blanked`] on a freshly opened `path`.
    fn blanked_index(path: &Path) -> Option<FrameIndex> {
        let (input, stream) = open(path).unwrap();
        let entries = sample_table_entries(&input, stream)?;
        read_index_blanked(path, &input, stream, &entries)
    }

    /// The indexes read from the container (the sample tables with the composition
    /// offsets; the packets with blank payloads) equal the index read from the packets,
    /// flags and timestamps, on MP4 files with B-frames, open GOPs, an edit list
    /// (decode-only packets, a non-zero start), variable frame rate, MPEG-4 Part 2,
    /// negative composition offsets (FFmpeg shifts dts below pts) and no B-frames (no
    /// `ctts` box).
    #[test]
    fn container_indexes_equal_the_packet_scan() {
        let dir = tempfile::tempdir().unwrap();
        let d = |name: &str| dir.path().join(name).to_str().unwrap().to_owned();
        let src = "testsrc2=size=160x120:rate=30";
        let x264 = |params: &str, out: &str| {
            ffmpeg(&[
                "-f",
                "lavfi",
                "-i",
                src,
                "-t",
                "6",
                "-c:v",
                "libx264",
                "-pix_fmt",
                "yuv420p",
                "-x264-params",
                params,
                &d(out),
            ])
        };
        x264("keyint=60:min-keyint=60:scenecut=0:bframes=3", "gop60.mp4");
        x264(
            "keyint=45:min-keyint=45:scenecut=0:bframes=3:open-gop=1",
            "open.mp4",
        );
        x264("keyint=30:min-keyint=30:scenecut=0:bframes=0", "no_b.mp4");
        // Audio as track 1, the video as track 2: the tables are found by track ID.
        ffmpeg(&[
            "-i",
            &d("gop60.mp4"),
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=440:duration=6",
            "-map",
            "1:a",
            "-map",
            "0:v",
            "-c:v",
            "copy",
            "-c:a",
            "aac",
            &d("audio_first.mp4"),
        ]);
        // gop60.mp4's packets in another MP4 layout.
        let remux = |movflags: &str, out: &str| {
            let out = d(out);
            ffmpeg(&[
                "-i",
                &d("gop60.mp4"),
                "-c",
                "copy",
                "-movflags",
                movflags,
                &out,
            ])
        };
        remux("+negative_cts_offsets", "negative_cts.mp4");
        ffmpeg(&[
            "-ss",
            "1.3",
            "-i",
            &d("gop60.mp4"),
            "-t",
            "3",
            "-c",
            "copy",
            &d("edit.mp4"),
        ]);
        ffmpeg(&[
            "-f",
            "lavfi",
            "-i",
            src,
            "-t",
            "6",
            "-vf",
            "select='lt(t,2)+gte(t,4)+not(mod(n,3))'",
            "-vsync",
            "vfr",
            "-c:v",
            "libx264",
            "-pix_fmt",
            "yuv420p",
            &d("vfr.mov"),
        ]);
        ffmpeg(&[
            "-f",
            "lavfi",
            "-i",
            src,
            "-t",
            "6",
            "-c:v",
            "mpeg4",
            "-g",
            "40",
            "-bf",
            "2",
            &d("mpeg4.mp4"),
        ]);
        let names = [
            "gop60.mp4",
            "open.mp4",
            "edit.mp4",
            "vfr.mov",
            "mpeg4.mp4",
            "negative_cts.mp4",
            "no_b.mp4",
            "audio_first.mp4",
        ];
        for name in names {
            let path = dir.path().join(name);
            let blanked = blanked_index(&path)
                .unwrap_or_else(|| panic!("{name}: no index from the sample tables"));
            let (mut input, stream) = open(&path).unwrap();
            let scanned = read_index(&mut input, stream).unwrap();
            assert_eq!(blanked, scanned, "{name}");
            match tables_index(&path) {
                Tables::Index(tables) => assert_eq!(tables, scanned, "{name}"),
                // Decode-only packets: the demuxer's index is not the samples one for one.
                Tables::NotTried if name == "edit.mp4" => {}
                other => panic!("{name}: {other:?}"),
            }
        }
        // Cut short, index at the front: the samples past the end leave it to the packets.
        remux("+faststart", "faststart.mp4");
        let bytes = std::fs::read(d("faststart.mp4")).unwrap();
        let cut = dir.path().join("cut.mp4");
        std::fs::write(&cut, &bytes[..bytes.len() * 3 / 5]).unwrap();
        assert_eq!(tables_index(&cut), Tables::NotTried);
        let whole = dir.path().join("faststart.mp4");
        assert!(matches!(tables_index(&whole), Tables::Index(_)));
        // The file with negative offsets is the one where FFmpeg's shift is not zero.
        let shifted = |name: &str| {
            let path = dir.path().join(name);
            let (mut input, stream) = open(&path).unwrap();
            let index = read_index(&mut input, stream).unwrap();
            index.packets[0].dts != Some(index.packets[0].pts)
        };
        assert!(shifted("gop60.mp4") && !shifted("no_b.mp4"));
        let tables = moov::sample_tables(&dir.path().join("negative_cts.mp4"), 1).unwrap();
        assert!(tables.offsets.iter().any(|&(_, offset)| offset < 0));
        let edit = blanked_index(&dir.path().join("edit.mp4")).unwrap();
        assert!(
            edit.packets.iter().any(|p| p.discard),
            "the edit list's decode-only packets"
        );
    }

    #[test]
    fn jpeg_end_of_image_is_found_past_segments_and_scan_data() {
        // SOI, APP1 holding a thumbnail's EOI, SOS with stuffed FF 00 and a restart marker,
        // then EOI and trailing bytes.
        let mut jpeg = vec![0xFF, 0xD8, 0xFF, 0xE1, 0x00, 0x06, 0xFF, 0xD8, 0xFF, 0xD9];
        jpeg.extend([0xFF, 0xDA, 0x00, 0x04, 0x01, 0x02]);
        jpeg.extend([0x12, 0xFF, 0x00, 0x34, 0xFF, 0xD3, 0x56]);
        let body = jpeg.len();
        jpeg.extend([0xFF, 0xD9, 0x00, 0x00]);
        assert!(jpeg_reaches_end(&jpeg));
        // Cut inside the scan, inside a segment, right after SOI: truncated.
        assert!(!jpeg_reaches_end(&jpeg[..body]));
        assert!(!jpeg_reaches_end(&jpeg[..8]));
        assert!(!jpeg_reaches_end(&jpeg[..2]));
        // Progressive: a second scan after the first.
        let mut progressive = jpeg[..body].to_vec();
        progressive.extend([0xFF, 0xDA, 0x00, 0x03, 0x01, 0x77, 0xFF, 0xFF, 0xD9]);
        assert!(jpeg_reaches_end(&progressive));
        // Not a JPEG: not judged.
        assert!(jpeg_reaches_end(b"not a jpeg"));
    }
}

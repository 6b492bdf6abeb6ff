//! Sequential decoding of any input FFmpeg opens — a file, standard input (`-`), a URL
//! (`http(s)://`, `rtsp://`, `file:`, …) — handing frames on one at a time as the packets
//! arrive: no index, no seeking (a pipe or a live stream cannot seek), so memory is one frame
//! plus what the caller keeps. What `score --timeline` reads.
//!
//! Frames come in the order the decoder gives them, which is presentation order; each
//! carries its position in that order and its time in seconds since the first frame: its
//! timestamp minus the first frame's, in the stream's time base (computed as an exact
//! integer product over the time base's denominator, so a file and the same stream remuxed to
//! another time base give the very same seconds), or `index / fps` for a frame without one.
//! The frame rate is the one [`super::decode_video`] uses: the stream's `avg_frame_rate`,
//! else `r_frame_rate`; a stream that declares neither is refused.
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use ffmpeg_next::codec::decoder;
use ffmpeg_next::{format, frame, Error as AvError, Packet, Rational};
use ndarray::Array4;

use super::{ff, rgb, StreamFacts, VideoInfo};
use crate::error::{Error, Result};

/// Where a video comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// A file on disk, opened as [`super::decode_video`] opens it (same checks and messages).
    File(PathBuf),
    /// Standard input (`-`): FFmpeg's `pipe:0`.
    Stdin,
    /// Anything FFmpeg's protocols open, as given.
    Url(String),
}

impl Source {
    /// `-` is standard input; a path that exists is a file; `scheme://…` and FFmpeg's `file:`
    /// and `pipe:` forms are URLs; anything else is a file path (reported missing when read).
    pub fn parse(arg: &OsStr) -> Source {
        if arg == "-" {
            return Source::Stdin;
        }
        let path = Path::new(arg);
        if path.exists() {
            return Source::File(path.to_path_buf());
        }
        match arg.to_str() {
            Some(s) if is_url(s) => Source::Url(s.to_owned()),
            _ => Source::File(path.to_path_buf()),
        }
    }

    pub fn is_file(&self) -> bool {
        matches!(self, Source::File(_))
    }

    /// How messages name it: the path, `standard input`, or the URL.
    pub fn name(&self) -> PathBuf {
        match self {
            Source::File(p) => p.clone(),
            Source::Stdin => PathBuf::from("standard input"),
            Source::Url(u) => PathBuf::from(u),
        }
    }

    /// As given on the command line (`-` for standard input).
    pub fn as_given(&self) -> String {
        match self {
            Source::File(p) => p.display().to_string(),
            Source::Stdin => "-".to_owned(),
            Source::Url(u) => u.clone(),
        }
    }

    /// A short identifier for result rows: the file's stem, the URL path's last segment
    /// without extension, or `stdin`.
    pub fn stem(&self) -> String {
        let stem_of = |s: &str| {
            Path::new(s)
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .filter(|s| !s.is_empty())
        };
        match self {
            Source::File(p) => stem_of(&p.to_string_lossy()).unwrap_or_else(|| "video".into()),
            Source::Stdin => "stdin".to_owned(),
            Source::Url(u) => {
                let path = u.split(['?', '#']).next().unwrap_or(u);
                let last = path
                    .trim_end_matches('/')
                    .rsplit('/')
                    .next()
                    .unwrap_or(path);
                stem_of(last).unwrap_or_else(|| "stream".into())
            }
        }
    }
}

/// `scheme://…` with an RFC 3986 scheme, or FFmpeg's `file:` / `pipe:` protocol prefix.
fn is_url(s: &str) -> bool {
    if s.starts_with("file:") || s.starts_with("pipe:") {
        return true;
    }
    let Some((scheme, _)) = s.split_once("://") else {
        return false;
    };
    let mut chars = scheme.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || "+.-".contains(c))
}

/// One decoded frame, still in the decoder's pixel format.
pub struct StreamFrame {
    /// Position in presentation order, from 0.
    pub index: usize,
    /// Seconds since the first frame (see the module notes).
    pub secs: f64,
    picture: frame::Video,
}

impl std::fmt::Debug for StreamFrame {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamFrame")
            .field("index", &self.index)
            .field("secs", &self.secs)
            .finish()
    }
}

/// A video being decoded front to back, a frame at a time.
pub struct FrameStream {
    name: PathBuf,
    // Dropped before `stop`, which its interrupt callback reads.
    input: format::context::Input,
    decoder: decoder::Video,
    stream: usize,
    info: VideoInfo,
    time_base: Rational,
    image: bool,
    /// Frames the decoder gave that have not been handed on yet.
    ready: std::collections::VecDeque<frame::Video>,
    /// No more packets (end, read error or interruption); the decoder has been flushed.
    drained: bool,
    next_index: usize,
    first_ts: Option<i64>,
    first_size: Option<(u32, u32)>,
    converter: rgb::Converter,
    warnings: Vec<String>,
    decode_errors: usize,
    stop: Arc<AtomicBool>,
    interrupted: bool,
}

impl FrameStream {
    /// Opens `source` and its best video stream. `stop`, once set, ends the stream early:
    /// reading stops at the next packet (a network read waiting for data is interrupted too,
    /// through FFmpeg's interrupt callback).
    pub fn open(source: &Source, stop: Arc<AtomicBool>) -> Result<FrameStream> {
        let name = source.name();
        let input = match source {
            Source::File(path) => super::open(path)?.0,
            Source::Stdin => open_url("pipe:0", &name, &stop)?,
            Source::Url(url) => open_url(url, &name, &stop)?,
        };
        let stream = super::best_video_stream(&input).ok_or_else(|| {
            let kinds = super::stream_kinds(&input);
            let found = if kinds.is_empty() {
                "the input has no streams".to_owned()
            } else {
                format!("streams found: {}", kinds.join(", "))
            };
            Error::decode(&name, format!("no video stream ({found})"))
        })?;
        let (decoder, codec) =
            super::open_decoder(&input, stream).map_err(|e| Error::decode(&name, e))?;
        let facts = StreamFacts::of(&input, stream);
        let Some(fps) = facts.frame_rate else {
            return Err(Error::decode(
                &name,
                "unknown frame rate: the stream declares neither an average nor a base rate",
            ));
        };
        let time_base = input
            .stream(stream)
            .map_or(Rational::new(0, 1), |s| s.time_base());
        let format_name = input.format().name().to_owned();
        let image = format_name == "image2"
            || format_name == "image2pipe"
            || format_name.ends_with("_pipe");
        let info = super::video_info(&facts, (decoder.width(), decoder.height()), fps, codec);
        Ok(FrameStream {
            name,
            input,
            decoder,
            stream,
            info,
            time_base,
            image,
            ready: Default::default(),
            drained: false,
            next_index: 0,
            first_ts: None,
            first_size: None,
            converter: rgb::Converter::default(),
            warnings: Vec::new(),
            decode_errors: 0,
            stop,
            interrupted: false,
        })
    }

    /// How messages name the input.
    pub fn name(&self) -> &Path {
        &self.name
    }

    /// Frame rate, codec, upright size (from the stream's parameters) and rotation.
    pub fn info(&self) -> &VideoInfo {
        &self.info
    }

    /// Whether FFmpeg opened the input with an image demuxer (a single picture).
    pub fn is_image(&self) -> bool {
        self.image
    }

    /// Whether reading stopped because the stop flag was set.
    pub fn interrupted(&self) -> bool {
        self.interrupted
    }

    /// Problems that did not stop decoding (a read error in a truncated file ends the stream
    /// where it breaks; packets the decoder rejected are skipped).
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// The next frame in presentation order; `None` at the end of the stream (or once the
    /// stop flag is set).
    pub fn next_frame(&mut self) -> Result<Option<StreamFrame>> {
        loop {
            if let Some(picture) = self.ready.pop_front() {
                return Ok(Some(self.stamp(picture)));
            }
            if self.drained {
                return Ok(None);
            }
            self.pull();
        }
    }

    /// Reads packets until the decoder gives frames or the input ends.
    fn pull(&mut self) {
        let ready = &mut self.ready;
        let mut packet = Packet::empty();
        match packet.read(&mut self.input) {
            Ok(()) => {
                if packet.stream() != self.stream {
                    return;
                }
                let sent = super::feed(&mut self.decoder, Some(&packet), &mut |f| {
                    ready.push_back(f)
                });
                if let Err(e) = sent {
                    self.decode_errors += 1;
                    if self.decode_errors == 1 {
                        self.warnings.push(format!(
                            "decoder rejected a packet after {} frames ({e})",
                            self.next_index + ready.len()
                        ));
                    }
                }
                return;
            }
            Err(AvError::Eof) => {}
            Err(AvError::Exit) if self.stop.load(Ordering::SeqCst) => self.interrupted = true,
            Err(e) => self.warnings.push(format!(
                "read error after {} frames ({e}); the input is probably truncated or the \
                 connection broke, keeping the frames decoded so far",
                self.next_index + ready.len()
            )),
        }
        if let Err(e) = super::feed(&mut self.decoder, None, &mut |f| ready.push_back(f)) {
            self.warnings
                .push(format!("decoder error while flushing ({e})"));
        }
        if self.decode_errors > 1 {
            self.warnings.push(format!(
                "{} packets rejected by the decoder in all",
                self.decode_errors
            ));
        }
        self.drained = true;
    }

    fn stamp(&mut self, picture: frame::Video) -> StreamFrame {
        let index = self.next_index;
        self.next_index += 1;
        let ts = picture.timestamp();
        if index == 0 {
            self.first_ts = ts;
        }
        let (num, den) = (
            i128::from(self.time_base.numerator()),
            i128::from(self.time_base.denominator()),
        );
        let secs = match (ts, self.first_ts) {
            (Some(ts), Some(first)) if num > 0 && den > 0 => {
                // Exact integer numerator, one rounding: the same seconds in any time base.
                ((i128::from(ts) - i128::from(first)) * num) as f64 / den as f64
            }
            _ => index as f64 / self.info.fps,
        };
        StreamFrame {
            index,
            secs,
            picture,
        }
    }

    /// Frame `frame` as packed RGB, uint8 `[1, H, W, 3]`, rotated upright, converted exactly
    /// as [`super::DecodedVideo::rgb_frames`] converts it.
    pub fn rgb(&mut self, frame: &StreamFrame) -> Result<Array4<u8>> {
        let picture = &frame.picture;
        let size = (picture.width(), picture.height());
        let (width, height) = *self.first_size.get_or_insert(size);
        if size != (width, height) {
            return Err(Error::decode(
                &self.name,
                format!(
                    "frame {} is {}x{} but the first frame is {width}x{height}; resolution \
                     changes mid-stream are not supported",
                    frame.index, size.0, size.1
                ),
            ));
        }
        let mut rgb = Array4::<u8>::zeros((1, height as usize, width as usize, 3));
        let out = rgb
            .as_slice_mut()
            .ok_or_else(|| Error::Invalid("RGB frame buffer not contiguous".to_owned()))?;
        self.converter
            .convert_into(picture, out)
            .map_err(|reason| {
                Error::decode(&self.name, format!("frame {}: {reason}", frame.index))
            })?;
        Ok(rgb::rotate(rgb, self.info.rotation_degrees / 90))
    }
}

/// Opens a URL through FFmpeg's protocols with an interrupt callback on `stop`.
fn open_url(url: &str, name: &Path, stop: &Arc<AtomicBool>) -> Result<format::context::Input> {
    ff::quiet_logging();
    let flag = Arc::clone(stop);
    format::input_with_interrupt(url, move || flag.load(Ordering::SeqCst)).map_err(|e| {
        let reason = match e {
            AvError::Exit => "interrupted while opening".to_owned(),
            e => format!("cannot open this input ({e})"),
        };
        Error::decode(name, reason)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_are_told_apart() {
        assert_eq!(Source::parse(OsStr::new("-")), Source::Stdin);
        for url in [
            "http://127.0.0.1:8080/a.mp4",
            "https://example.org/v/clip.webm?x=1",
            "rtsp://cam/stream",
            "file:/tmp/x.mp4",
            "pipe:0",
        ] {
            assert_eq!(
                Source::parse(OsStr::new(url)),
                Source::Url(url.into()),
                "{url}"
            );
        }
        assert_eq!(
            Source::parse(OsStr::new("no/such/clip.mp4")),
            Source::File("no/such/clip.mp4".into())
        );
        // Not a scheme: a digit first.
        assert!(Source::parse(OsStr::new("1x://y")).is_file());
        assert_eq!(
            Source::Url("https://example.org/v/clip.webm?x=1".into()).stem(),
            "clip"
        );
        assert_eq!(Source::Url("rtsp://cam/".into()).stem(), "cam");
        assert_eq!(Source::Stdin.stem(), "stdin");
        assert_eq!(Source::File("a/b/c.mp4".into()).stem(), "c");
    }
}

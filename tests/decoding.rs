//! The decoding stage against the Python reference (tests/py/decode_reference.py: torchcodec
//! CPU decoding + torchvision's sampling protocol and VideoClassification preset), and its
//! behaviour on files that are not good videos.
//!
//! Clips are generated with the ffmpeg command line and cached under target/tmp/fixtures.
mod common;

use std::path::{Path, PathBuf};

use gradtrust_video::clips::{
    clips_from_video, decode_for_clips, load_clips, uint8_crops, windows_for,
};
use gradtrust_video::decode::decode_video;
use gradtrust_video::preset::Preset;
use gradtrust_video::transforms::rgb_tensor;
use tch::{Kind, Tensor};

/// Bump when a fixture's recipe or the reference script changes.
const FIXTURES: &str = "decoding-v1";

/// (file name, ffmpeg arguments after the input pattern) of every generated clip.
const CLIPS: &[(&str, &[&str])] = &[
    // H.264, 30 fps, width not a multiple of 32 (torchcodec's filter-graph path).
    (
        "h264_340x256_30fps.mp4",
        &[
            "testsrc2=size=340x256:rate=30",
            "4",
            "-c:v",
            "libx264",
            "-pix_fmt",
            "yuv420p",
        ],
    ),
    // H.264, NTSC rate, width a multiple of 32 (torchcodec's direct swscale path).
    (
        "h264_320x240_ntsc.mp4",
        &[
            "testsrc2=size=320x240:rate=30000/1001",
            "3",
            "-c:v",
            "libx264",
            "-pix_fmt",
            "yuv420p",
        ],
    ),
    // VP9 in WebM, 25 fps, odd width and height.
    (
        "vp9_171x97_25fps.webm",
        &[
            "testsrc2=size=171x97:rate=25",
            "3",
            "-c:v",
            "libvpx-vp9",
            "-pix_fmt",
            "yuv420p",
            "-deadline",
            "realtime",
            "-cpu-used",
            "8",
        ],
    ),
    // MPEG-4 part 2, 25 fps.
    (
        "mpeg4_352x288_25fps.mp4",
        &[
            "testsrc2=size=352x288:rate=25",
            "2",
            "-c:v",
            "mpeg4",
            "-q:v",
            "3",
            "-pix_fmt",
            "yuv420p",
        ],
    ),
    // Shorter than one clip: 0.5 s.
    (
        "h264_short_0.5s.mp4",
        &[
            "testsrc2=size=160x120:rate=30",
            "0.5",
            "-c:v",
            "libx264",
            "-pix_fmt",
            "yuv420p",
        ],
    ),
];

/// Generated clips, plus derived files: a rotated copy, truncated copies, audio only.
fn videos() -> PathBuf {
    common::cached_fixture(&format!("{FIXTURES}/videos"), |dir| {
        for (name, args) in CLIPS {
            let out = dir.join(name);
            let mut cmd = vec!["-f", "lavfi", "-i", args[0], "-t", args[1]];
            cmd.extend_from_slice(&args[2..]);
            cmd.push(out.to_str().unwrap());
            common::ffmpeg(&cmd);
        }
        let d = |name: &str| dir.join(name).to_str().unwrap().to_owned();
        // Display matrix asking for a 90° turn (FFmpeg 5.1's mov muxer writes the `rotate` tag).
        common::ffmpeg(&[
            "-i",
            &d("h264_340x256_30fps.mp4"),
            "-c",
            "copy",
            "-metadata:s:v:0",
            "rotate=90",
            &d("h264_rotated_90.mp4"),
        ]);
        // Moov atom at the front (faststart), for cutting the media data short.
        common::ffmpeg(&[
            "-i",
            &d("h264_340x256_30fps.mp4"),
            "-c",
            "copy",
            "-movflags",
            "+faststart",
            &d("faststart.mp4"),
        ]);
        common::ffmpeg(&[
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=440:sample_rate=44100",
            "-t",
            "1",
            "-c:a",
            "aac",
            &d("audio_only.m4a"),
        ]);
        // Default mp4: moov at the end; half of it has media data but no index.
        truncate_copy(
            &dir.join("h264_340x256_30fps.mp4"),
            &dir.join("truncated_no_moov.mp4"),
            0.5,
        );
        truncate_copy(
            &dir.join("faststart.mp4"),
            &dir.join("truncated_mdat.mp4"),
            0.6,
        );
        std::fs::write(dir.join("empty.mp4"), b"").unwrap();
        std::fs::write(dir.join("notes.mp4"), b"these are notes, not a video\n").unwrap();
    })
}

fn truncate_copy(from: &Path, to: &Path, fraction: f64) {
    let bytes = std::fs::read(from).unwrap();
    let keep = (bytes.len() as f64 * fraction) as usize;
    std::fs::write(to, &bytes[..keep]).unwrap();
}

fn video(name: &str) -> PathBuf {
    videos().join(name)
}

fn preset(name: &str) -> Preset {
    match name {
        "r3d" => Preset::video_resnet(),
        "s3d" => Preset::s3d(),
        "mvit" => Preset::mvit(),
        "swin3d" => Preset::swin3d(),
        _ => panic!("unknown preset {name}"),
    }
}

/// Runs the reference once per (clip, preset) and caches its output directory.
fn reference(clip: &str, preset_name: &str) -> PathBuf {
    let path = video(clip);
    common::cached_fixture(&format!("{FIXTURES}/ref-{clip}-{preset_name}"), |dir| {
        common::run_python(
            "decode_reference.py",
            &[
                path.to_str().unwrap(),
                "--preset",
                preset_name,
                "--out",
                dir.to_str().unwrap(),
            ],
        );
    })
}

/// (max, mean) of |a − b| over all elements, in double precision.
fn abs_diff(a: &Tensor, b: &Tensor) -> (f64, f64) {
    assert_eq!(a.size(), b.size(), "shapes differ");
    let d = (a.to_kind(Kind::Double) - b.to_kind(Kind::Double)).abs();
    (
        d.max().double_value(&[]),
        d.mean(Kind::Double).double_value(&[]),
    )
}

/// Normalized float clips [K, 3, T, h, w] back to 0..255.
fn denormalize(t: &Tensor, p: &Preset) -> Tensor {
    let mean = Tensor::from_slice(&p.mean)
        .to_kind(Kind::Double)
        .view([1, 3, 1, 1, 1]);
    let std = Tensor::from_slice(&p.std)
        .to_kind(Kind::Double)
        .view([1, 3, 1, 1, 1]);
    (t.to_kind(Kind::Double) * std + mean) * 255.0
}

fn check_parity(clip: &str, preset_name: &str) {
    let p = preset(preset_name);
    let dir = reference(clip, preset_name);
    let want = common::read_json(&dir.join("reference.json"));
    let decoded = decode_video(&video(clip)).unwrap();
    let info = decoded.info();

    // Frames, timestamps, size, rate.
    assert_eq!(
        decoded.len() as u64,
        want["frames_decoded"].as_u64().unwrap(),
        "{clip}: frame count"
    );
    assert_eq!(
        info.width as u64,
        want["width"].as_u64().unwrap(),
        "{clip}: width"
    );
    assert_eq!(
        info.height as u64,
        want["height"].as_u64().unwrap(),
        "{clip}: height"
    );
    let fps = want["fps"].as_f64().unwrap();
    assert!(
        (info.fps - fps).abs() < 1e-9,
        "{clip}: fps {} vs {fps}",
        info.fps
    );
    let pts: Vec<f64> = want["pts_secs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    for (i, want_pts) in pts.iter().enumerate() {
        let got = decoded.pts_secs(i);
        assert!(
            (got - want_pts).abs() < 1e-6,
            "{clip}: pts of frame {i}: {got} vs {want_pts}"
        );
    }
    let rotation = want["rotation"].as_f64().unwrap_or(0.0);
    assert_eq!(
        info.rotation_degrees as f64,
        (rotation / 90.0).round() * 90.0,
        "{clip}: rotation"
    );

    // Sampling.
    let windows = windows_for(&decoded, &p).unwrap();
    let want_clips = want["clips"].as_array().unwrap();
    assert_eq!(
        windows.len(),
        want_clips.len(),
        "{clip} {preset_name}: number of clips"
    );
    for (k, (w, r)) in windows.iter().zip(want_clips).enumerate() {
        let indices: Vec<usize> = r["frame_indices"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap() as usize)
            .collect();
        assert_eq!(
            w.frame_indices, indices,
            "{clip} {preset_name}: frame indices of clip {k}"
        );
        assert_eq!(
            w.index as u64,
            r["index"].as_u64().unwrap(),
            "{clip} {preset_name}: window of clip {k}"
        );
        assert_eq!(
            w.padded,
            r["padded"].as_bool().unwrap(),
            "{clip} {preset_name}: padded flag of clip {k}"
        );
    }

    // Pixels: uint8 crops before normalization, and the final tensor de-normalized.
    let crops = uint8_crops(&decoded, &windows, &p).unwrap();
    let want_crops = common::read_npy(&dir.join("crops.npy"));
    let (crop_max, crop_mean) = abs_diff(&crops, &want_crops);
    let clips = clips_from_video(&decoded, &p).unwrap();
    let want_tensor = common::read_npy(&dir.join("clips.npy"));
    assert_eq!(
        clips.tensor.size(),
        want_tensor.size(),
        "{clip} {preset_name}: tensor shape"
    );
    let (t_max, t_mean) = abs_diff(
        &denormalize(&clips.tensor, &p),
        &denormalize(&want_tensor, &p),
    );
    let (f_max, _) = abs_diff(&clips.tensor, &want_tensor);
    println!(
        "parity {clip} [{preset_name}]: {} frames, {} clips{}; uint8 crops max|d| = {crop_max}, mean = {crop_mean:.6}; \
         tensor (x255) max|d| = {t_max:.4}, mean = {t_mean:.6}; normalized max|d| = {f_max:.3e}",
        decoded.len(),
        windows.len(),
        if windows[0].padded { " (padded)" } else { "" },
    );
    assert!(
        crop_max <= 1.0,
        "{clip} {preset_name}: uint8 crops differ by {crop_max}"
    );
    assert!(
        t_max <= 1.0 + 1e-3,
        "{clip} {preset_name}: tensor differs by {t_max}/255"
    );
    assert_eq!(clips.frames_decoded, decoded.len());
    assert_eq!(clips.clips.len(), windows.len());
}

#[test]
fn parity_h264_r3d() {
    check_parity("h264_340x256_30fps.mp4", "r3d");
}

#[test]
fn parity_h264_mvit() {
    check_parity("h264_340x256_30fps.mp4", "mvit");
}

#[test]
fn parity_h264_ntsc_r3d() {
    check_parity("h264_320x240_ntsc.mp4", "r3d");
}

#[test]
fn parity_h264_ntsc_swin3d() {
    check_parity("h264_320x240_ntsc.mp4", "swin3d");
}

#[test]
fn parity_vp9_odd_size_r3d() {
    check_parity("vp9_171x97_25fps.webm", "r3d");
}

#[test]
fn parity_vp9_odd_size_mvit() {
    check_parity("vp9_171x97_25fps.webm", "mvit");
}

#[test]
fn parity_mpeg4_r3d() {
    check_parity("mpeg4_352x288_25fps.mp4", "r3d");
}

#[test]
fn parity_short_clip_is_padded_r3d() {
    check_parity("h264_short_0.5s.mp4", "r3d");
}

#[test]
fn parity_short_clip_is_padded_s3d() {
    check_parity("h264_short_0.5s.mp4", "s3d");
}

#[test]
fn parity_rotated_r3d() {
    check_parity("h264_rotated_90.mp4", "r3d");
}

#[test]
fn rotation_is_read_and_applied() {
    let plain = decode_video(&video("h264_340x256_30fps.mp4")).unwrap();
    let rotated = decode_video(&video("h264_rotated_90.mp4")).unwrap();
    assert_eq!(plain.info().rotation_degrees, 0);
    // FFmpeg 5.1's mov muxer turns `rotate=90` into a display matrix that
    // av_display_rotation_get reads as 90° counter-clockwise (ffprobe: rotation=90).
    assert_eq!(rotated.info().rotation_degrees, 90);
    assert_eq!((rotated.info().width, rotated.info().height), (256, 340));
    let a = rgb_tensor(&plain.rgb_frames(&[3]).unwrap()).unwrap();
    let b = rgb_tensor(&rotated.rgb_frames(&[3]).unwrap()).unwrap();
    assert_eq!(b.size(), [1, 340, 256, 3]);
    // One counter-clockwise quarter turn over (H, W), as torchcodec's rot90(hwc, 1, 0, 1).
    assert!(b.equal(&a.rot90(1, [1, 2])));
}

#[test]
fn load_clips_shapes_and_metadata() {
    let clips = load_clips(&video("h264_340x256_30fps.mp4"), &Preset::video_resnet()).unwrap();
    assert_eq!(clips.tensor.size(), [5, 3, 16, 112, 112]);
    assert_eq!(clips.tensor.kind(), Kind::Float);
    assert_eq!(clips.frames_decoded, 120);
    // 120 frames → 60 at 15 fps → 45 windows of 16.
    assert_eq!(clips.candidate_windows, 45);
    assert_eq!(clips.info.codec, "h264");
    assert!((clips.info.fps - 30.0).abs() < 1e-12);
    assert!((clips.info.duration_secs.unwrap() - 4.0).abs() < 0.05);
    let last = &clips.clips[4];
    assert_eq!((last.first_frame, last.last_frame), (88, 118));
    assert!((last.end_secs - 118.0 / 30.0).abs() < 1e-6);
    assert!(clips.warnings.is_empty());
}

/// `load_clips` keeps only the frames its clips use; the result must be the same as from a
/// full decode, including for files whose frame count differs from their header.
fn check_selective_matches_full(clip: &str, preset_name: &str) {
    let p = preset(preset_name);
    let full = clips_from_video(&decode_video(&video(clip)).unwrap(), &p).unwrap();
    let selective = load_clips(&video(clip), &p).unwrap();
    assert_eq!(selective.frames_decoded, full.frames_decoded, "{clip}");
    assert_eq!(selective.clips, full.clips, "{clip}");
    assert!(
        selective.tensor.equal(&full.tensor),
        "{clip}: tensors differ"
    );
}

#[test]
fn selective_decoding_matches_full_decoding() {
    check_selective_matches_full("h264_340x256_30fps.mp4", "r3d");
    check_selective_matches_full("h264_320x240_ntsc.mp4", "swin3d");
    // WebM declares no frame count: duration × fps is the guess.
    check_selective_matches_full("vp9_171x97_25fps.webm", "mvit");
    check_selective_matches_full("h264_short_0.5s.mp4", "r3d");
    // Declares 120 frames, decodes 70; the frames kept for 120 happen to cover 70's clips.
    check_selective_matches_full("truncated_mdat.mp4", "r3d");
    // Declares 240 frames, decodes about half: clips the first pass did not keep, so a
    // second, full pass.
    let cut = long_truncated();
    let p = Preset::video_resnet();
    let full = clips_from_video(&decode_video(&cut).unwrap(), &p).unwrap();
    let selective = load_clips(&cut, &p).unwrap();
    assert!(full.frames_decoded < 200, "{}", full.frames_decoded);
    assert_eq!(selective.clips, full.clips);
    assert!(selective.tensor.equal(&full.tensor));
}

/// An 8 s clip (240 frames, index at the front) cut to half its size.
fn long_truncated() -> PathBuf {
    let dir = common::cached_fixture(&format!("{FIXTURES}/long-truncated"), |dir| {
        let full = dir.join("full.mp4");
        common::ffmpeg(&[
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=160x120:rate=30",
            "-t",
            "8",
            "-c:v",
            "libx264",
            "-pix_fmt",
            "yuv420p",
            "-movflags",
            "+faststart",
            full.to_str().unwrap(),
        ]);
        truncate_copy(&full, &dir.join("h264_8s_cut.mp4"), 0.5);
    });
    dir.join("h264_8s_cut.mp4")
}

#[test]
fn selective_decoding_drops_unused_frames() {
    let keep = |_: usize, _: f64| vec![0, 5];
    let v = gradtrust_video::decode::decode_video_keeping(&video("h264_340x256_30fps.mp4"), &keep)
        .unwrap();
    assert_eq!(v.len(), 120);
    assert!(v.is_kept(0) && v.is_kept(5) && !v.is_kept(1));
    assert!(v.rgb_frames(&[5, 0]).is_ok());
    let err = v.rgb_frames(&[1]).unwrap_err().to_string();
    assert!(err.contains("frame 1 was not kept"), "{err}");
}

#[test]
fn frame_index_out_of_range_is_an_error() {
    let decoded = decode_video(&video("h264_short_0.5s.mp4")).unwrap();
    let err = decoded
        .rgb_frames(&[0, decoded.len()])
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("h264_short_0.5s.mp4") && err.contains("out of range"),
        "{err}"
    );
}

#[test]
fn file_name_with_a_colon_is_not_a_protocol() {
    let dir = tempfile::tempdir().unwrap();
    let odd = dir.path().join("cam:1.mp4");
    std::fs::copy(video("h264_short_0.5s.mp4"), &odd).unwrap();
    assert_eq!(decode_video(&odd).unwrap().len(), 15);
}

/// The error for `path`, checked to name the file and to contain every one of `words`.
fn expect_error(path: &Path, words: &[&str]) -> String {
    let err = match decode_video(path) {
        Ok(v) => panic!(
            "{}: decoded {} frames, expected an error",
            path.display(),
            v.len()
        ),
        Err(e) => e.to_string(),
    };
    let name = path.file_name().unwrap().to_str().unwrap();
    assert!(err.contains(name), "error does not name the file: {err}");
    for word in words {
        assert!(err.contains(word), "error lacks {word:?}: {err}");
    }
    println!("{name}: {err}");
    err
}

#[test]
fn missing_file_is_an_error() {
    expect_error(&videos().join("does-not-exist.mp4"), &["No such file"]);
}

#[test]
fn empty_file_is_an_error() {
    expect_error(&video("empty.mp4"), &["empty file"]);
}

#[test]
fn text_file_named_mp4_is_an_error() {
    expect_error(&video("notes.mp4"), &["not a media file"]);
}

#[test]
fn directory_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let sub = dir.path().join("clip.mp4");
    std::fs::create_dir(&sub).unwrap();
    expect_error(&sub, &["directory"]);
}

#[test]
fn mp4_without_moov_is_an_error() {
    expect_error(&video("truncated_no_moov.mp4"), &["moov", "truncated"]);
}

#[test]
fn audio_only_file_is_an_error() {
    expect_error(&video("audio_only.m4a"), &["no video stream", "audio"]);
}

#[test]
fn mp4_cut_short_keeps_the_frames_before_the_cut() {
    let full = decode_video(&video("faststart.mp4")).unwrap();
    let cut = decode_video(&video("truncated_mdat.mp4")).unwrap();
    println!(
        "truncated_mdat.mp4: {} of {} frames, warnings {:?}",
        cut.len(),
        full.len(),
        cut.warnings()
    );
    assert!(!cut.is_empty() && cut.len() < full.len());
    // The frames that survive are the same frames.
    let n = cut.len().min(20);
    let idx: Vec<usize> = (0..n).collect();
    assert_eq!(
        cut.rgb_frames(&idx).unwrap(),
        full.rgb_frames(&idx).unwrap()
    );
    // And the clip pipeline still works on them.
    let clips = load_clips(&video("truncated_mdat.mp4"), &Preset::video_resnet()).unwrap();
    assert_eq!(clips.tensor.size()[0], 5);
}

// ---------------------------------------------------------------------------------------
// Seek-based decoding (`decode_video_keeping` through `clips::decode_for_clips`): on files
// with several GOPs, the frames the protocol picks, decoded by seeking to the keyframe
// before each run, must equal a full decode's and torchcodec's, bit for bit.

/// Bump when a recipe below changes.
const SEEKING: &str = "seeking-v2";

/// Long files with many keyframes, one per property the seeking decoder must survive.
fn seeking_videos() -> PathBuf {
    common::cached_fixture(&format!("{SEEKING}/videos"), |dir| {
        let d = |name: &str| dir.join(name).to_str().unwrap().to_owned();
        let gen = |src: &str, secs: &str, codec: &[&str], out: &str| {
            let mut cmd = vec!["-f", "lavfi", "-i", src, "-t", secs];
            cmd.extend_from_slice(codec);
            let out = d(out);
            cmd.push(&out);
            common::ffmpeg(&cmd);
        };
        let x264 = |params: &'static str| {
            vec![
                "-c:v",
                "libx264",
                "-pix_fmt",
                "yuv420p",
                "-x264-params",
                params,
            ]
        };
        // Closed GOPs of 60 frames with up to 3 B-frames.
        gen(
            "testsrc2=size=320x240:rate=30",
            "12",
            &x264("keyint=60:min-keyint=60:scenecut=0:bframes=3"),
            "h264_gop60_bframes.mp4",
        );
        // Open GOPs: the B-frames before each I-frame reference the GOP before.
        gen(
            "testsrc2=size=320x240:rate=30",
            "12",
            &x264("keyint=45:min-keyint=45:scenecut=0:bframes=3:open-gop=1"),
            "h264_open_gop.mp4",
        );
        gen(
            "testsrc2=size=176x144:rate=25",
            "12",
            &[
                "-c:v",
                "libvpx-vp9",
                "-pix_fmt",
                "yuv420p",
                "-g",
                "50",
                "-deadline",
                "realtime",
                "-cpu-used",
                "8",
            ],
            "vp9_gop50.webm",
        );
        gen(
            "testsrc2=size=352x288:rate=25",
            "12",
            &["-c:v", "mpeg4", "-q:v", "4", "-g", "40", "-bf", "2"],
            "mpeg4_gop40_bframes.mp4",
        );
        // Variable frame rate: 30 fps for 4 s, then 10 fps, then 30 fps again.
        common::ffmpeg(&[
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=320x240:rate=30",
            "-t",
            "12",
            "-vf",
            "select='lt(t,4)+gte(t,8)+not(mod(n,3))'",
            "-vsync",
            "vfr",
            "-c:v",
            "libx264",
            "-pix_fmt",
            "yuv420p",
            "-x264-params",
            "keyint=30:min-keyint=30:scenecut=0",
            &d("h264_vfr.mp4"),
        ]);
        // Cut between keyframes with stream copy: an edit list, decode-only packets first
        // and a non-zero start.
        common::ffmpeg(&[
            "-ss",
            "1.3",
            "-i",
            &d("h264_gop60_bframes.mp4"),
            "-t",
            "9",
            "-c",
            "copy",
            &d("h264_edit_list.mp4"),
        ]);
        // Matroska whose timestamps start at 3.5 s.
        common::ffmpeg(&[
            "-i",
            &d("h264_gop60_bframes.mp4"),
            "-c",
            "copy",
            "-output_ts_offset",
            "3.5",
            &d("h264_start_3.5s.mkv"),
        ]);
        common::ffmpeg(&[
            "-i",
            &d("h264_gop60_bframes.mp4"),
            "-c",
            "copy",
            "-metadata:s:v:0",
            "rotate=90",
            &d("h264_gop60_rotated.mp4"),
        ]);
        // AVI whose headers claim twice the frames it has.
        gen(
            "testsrc2=size=320x240:rate=25",
            "10",
            &["-c:v", "mpeg4", "-q:v", "4", "-g", "25", "-bf", "0"],
            "mpeg4_wrong_count.avi",
        );
        double_avi_frame_count(&dir.join("mpeg4_wrong_count.avi"));
    })
}

/// Doubles `dwTotalFrames` (avih) and the video stream's `dwLength` (strh) of an AVI file.
fn double_avi_frame_count(path: &Path) {
    let mut bytes = std::fs::read(path).unwrap();
    let find = |bytes: &[u8], tag: &[u8]| bytes.windows(tag.len()).position(|w| w == tag).unwrap();
    let mut double = |at: usize| {
        let v = u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap());
        bytes[at..at + 4].copy_from_slice(&(2 * v).to_le_bytes());
    };
    // avih: 8-byte chunk header, then dwMicroSecPerFrame, dwMaxBytesPerSec,
    // dwPaddingGranularity, dwFlags, dwTotalFrames.
    let avih = find(&std::fs::read(path).unwrap(), b"avih");
    double(avih + 8 + 16);
    // strh: header, fccType, fccHandler, dwFlags, wPriority+wLanguage, dwInitialFrames,
    // dwScale, dwRate, dwStart, dwLength.
    let strh = find(&std::fs::read(path).unwrap(), b"strh");
    double(strh + 8 + 32);
    std::fs::write(path, bytes).unwrap();
}

/// Runs decode_reference.py (torchcodec decoding every frame) on a seeking fixture.
fn seeking_reference(clip: &str, preset_name: &str) -> PathBuf {
    let path = seeking_videos().join(clip);
    common::cached_fixture(&format!("{SEEKING}/ref-{clip}-{preset_name}"), |dir| {
        common::run_python(
            "decode_reference.py",
            &[
                path.to_str().unwrap(),
                "--preset",
                preset_name,
                "--out",
                dir.to_str().unwrap(),
            ],
        );
    })
}

/// The seeking decoder against a full decode and torchcodec: same frame count, timestamps,
/// windows, and identical uint8 crops and clip tensors. `must_seek`: the file has to be
/// decoded by seeking (more than one run, fewer frames than the video), not by the fallback.
fn check_seeking(clip: &str, preset_name: &str, must_seek: bool) {
    let p = preset(preset_name);
    let path = seeking_videos().join(clip);
    let full = decode_video(&path).unwrap();
    let seeking = decode_for_clips(&path, &p).unwrap();
    println!(
        "{clip} [{preset_name}]: {} frames, {} decoded in {} runs after a seek",
        seeking.len(),
        seeking.frames_run(),
        seeking.seeks()
    );
    if must_seek {
        assert!(seeking.seeks() > 1, "{clip}: not decoded by seeking");
        assert!(
            seeking.frames_run() < full.len(),
            "{clip}: decoded every frame"
        );
    }
    assert_eq!(seeking.len(), full.len(), "{clip}: frame count");
    assert_eq!(seeking.info(), full.info(), "{clip}: stream info");
    for i in 0..full.len() {
        assert_eq!(
            seeking.pts_secs(i),
            full.pts_secs(i),
            "{clip}: pts of frame {i}"
        );
    }
    let windows = windows_for(&full, &p).unwrap();
    assert_eq!(
        windows_for(&seeking, &p).unwrap(),
        windows,
        "{clip}: windows"
    );
    let crops = uint8_crops(&seeking, &windows, &p).unwrap();
    assert!(
        crops.equal(&uint8_crops(&full, &windows, &p).unwrap()),
        "{clip}: crops differ from the full decode"
    );
    let tensor = clips_from_video(&seeking, &p).unwrap().tensor;
    assert!(
        tensor.equal(&clips_from_video(&full, &p).unwrap().tensor),
        "{clip}: clips differ from the full decode"
    );

    // torchcodec + torchvision.
    let dir = seeking_reference(clip, preset_name);
    let want = common::read_json(&dir.join("reference.json"));
    assert_eq!(
        seeking.len() as u64,
        want["frames_decoded"].as_u64().unwrap(),
        "{clip}: frame count vs torchcodec"
    );
    for (k, (w, r)) in windows
        .iter()
        .zip(want["clips"].as_array().unwrap())
        .enumerate()
    {
        let indices: Vec<usize> = r["frame_indices"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap() as usize)
            .collect();
        assert_eq!(
            w.frame_indices, indices,
            "{clip}: frame indices of clip {k}"
        );
    }
    let (crop_max, _) = abs_diff(&crops, &common::read_npy(&dir.join("crops.npy")));
    assert_eq!(
        crop_max, 0.0,
        "{clip}: uint8 crops differ from torchvision's"
    );
    let want_tensor = common::read_npy(&dir.join("clips.npy"));
    let (t_max, _) = abs_diff(&tensor, &want_tensor);
    println!("{clip}: vs torchcodec uint8 max|d| = {crop_max}, normalized max|d| = {t_max:.3e}");
    assert!(
        t_max < 1e-5,
        "{clip}: clips differ from torchvision's by {t_max}"
    );
}

#[test]
fn seeking_h264_long_gop_b_frames() {
    check_seeking("h264_gop60_bframes.mp4", "r3d", true);
    check_seeking("h264_gop60_bframes.mp4", "mvit", true);
}

#[test]
fn seeking_h264_open_gop() {
    check_seeking("h264_open_gop.mp4", "r3d", true);
}

#[test]
fn seeking_vp9() {
    check_seeking("vp9_gop50.webm", "r3d", true);
}

#[test]
fn seeking_mpeg4() {
    check_seeking("mpeg4_gop40_bframes.mp4", "r3d", true);
}

#[test]
fn seeking_variable_frame_rate() {
    check_seeking("h264_vfr.mp4", "r3d", true);
}

#[test]
fn seeking_edit_list_and_non_zero_start() {
    check_seeking("h264_edit_list.mp4", "r3d", true);
    check_seeking("h264_start_3.5s.mkv", "r3d", true);
}

#[test]
fn seeking_rotated() {
    check_seeking("h264_gop60_rotated.mp4", "r3d", true);
}

#[test]
fn seeking_wrong_container_frame_count() {
    check_seeking("mpeg4_wrong_count.avi", "r3d", true);
}

// ---------------------------------------------------------------------------------------
// Containers that lie, corrupt stretches, truncated JPEGs, odd file names.

/// The hand-made files of `common` (absurd frame count, frame rate, timestamp gap).
fn implausible_videos() -> PathBuf {
    common::cached_fixture("implausible-v2", |dir| {
        common::avi_declaring_absurd_frame_count(&dir.join("count_2e31.avi"));
        common::avi_declaring_absurd_frame_rate(&dir.join("rate_1e-9.avi"));
        common::mp4_with_timestamp_gap(&dir.join("gap.mp4"));
    })
}

/// A declared frame count of 2^31 − 1 (30 real frames) used to size the sequential decode's
/// keep mask and the sampler's index vector (10 GB, then SIGABRT): now the frames that exist
/// are the video, and the warning says the count was implausible.
#[test]
fn absurd_declared_frame_count_uses_the_frames_that_exist() {
    let path = implausible_videos().join("count_2e31.avi");
    let clips = load_clips(&path, &Preset::video_resnet()).unwrap();
    assert_eq!(clips.frames_decoded, 30);
    assert_eq!(clips.clips.len(), 5);
    assert_eq!(clips.tensor.size(), [5, 3, 16, 112, 112]);
    assert!(
        clips
            .warnings
            .iter()
            .any(|w| w.contains("implausible frame count") && w.contains("2147483647")),
        "{:?}",
        clips.warnings
    );
    // The same clips as a full decode gives.
    let p = Preset::video_resnet();
    let full = clips_from_video(&decode_video(&path).unwrap(), &p).unwrap();
    assert!(clips.tensor.equal(&full.tensor));
}

/// A frame rate of 1e-9 fps (AVI header) or ~1.5e-8 fps (an MP4 timestamp gap) asked the
/// sampler for n·15/fps resampled indices (hundreds of gigabytes, SIGABRT): now an error
/// naming the file and the implausible value, raised before the stream is decoded.
#[test]
fn implausible_frame_rate_is_an_error_naming_it() {
    for (name, rate) in [("rate_1e-9.avi", "1.000e-9"), ("gap.mp4", "1.500e-8")] {
        let path = implausible_videos().join(name);
        let err = load_clips(&path, &Preset::video_resnet())
            .unwrap_err()
            .to_string();
        println!("{name}: {err}");
        assert!(
            err.contains(name) && err.contains("implausible frame rate") && err.contains(rate),
            "{err}"
        );
        // Decoding alone is fine: the frames exist; it is the sampling that has no meaning.
        let video = decode_video(&path).unwrap();
        assert_eq!(video.len(), 30, "{name}");
        let err = windows_for(&video, &Preset::video_resnet()).unwrap_err();
        assert!(err.to_string().contains("implausible frame rate"), "{err}");
    }
}

/// Raw H.264 streams of 320x240 and 32x32 GOPs (a damaged sequence header in the middle of a
/// stream decodes its GOP at a made-up size, exactly so), muxed into AVI without
/// presentation timestamps: `odd` has one 32x32 GOP between 320x240 ones, `change` switches
/// to 32x32 for good after 10 frames.
fn size_stretch_videos() -> PathBuf {
    common::cached_fixture("size-stretch-v1", |dir| {
        let part = |name: &str, size: &str, frames: &str| {
            let out = dir.join(name);
            common::ffmpeg(&[
                "-f",
                "lavfi",
                "-i",
                &format!("testsrc2=size={size}:rate=25"),
                "-frames:v",
                frames,
                "-c:v",
                "libx264",
                "-pix_fmt",
                "yuv420p",
                "-bf",
                "0",
                "-f",
                "h264",
                out.to_str().unwrap(),
            ]);
            std::fs::read(out).unwrap()
        };
        let (a, b, c) = (
            part("a.h264", "320x240", "10"),
            part("b.h264", "32x32", "10"),
            part("c.h264", "320x240", "30"),
        );
        let d = part("d.h264", "32x32", "40");
        for (name, stream) in [
            ("odd", [a.clone(), b, c].concat()),
            ("change", [a, d].concat()),
        ] {
            let raw = dir.join(format!("{name}.h264"));
            std::fs::write(&raw, stream).unwrap();
            common::ffmpeg(&[
                "-framerate",
                "25",
                "-i",
                raw.to_str().unwrap(),
                "-c",
                "copy",
                dir.join(format!("{name}.avi")).to_str().unwrap(),
            ]);
        }
    })
}

#[test]
fn corrupt_stretch_at_another_size_is_skipped_with_a_warning() {
    let path = size_stretch_videos().join("odd.avi");
    let video = decode_video(&path).unwrap();
    assert_eq!(video.len(), 40);
    assert!(
        video
            .warnings()
            .iter()
            .any(|w| w.contains("skipped 10 corrupt frame(s)") && w.contains("32x32")),
        "{:?}",
        video.warnings()
    );
    let all: Vec<usize> = (0..video.len()).collect();
    assert_eq!(video.rgb_frames(&all).unwrap().shape(), [40, 240, 320, 3]);
    let clips = load_clips(&path, &Preset::video_resnet()).unwrap();
    assert_eq!(clips.frames_decoded, 40);
    assert!(clips.warnings.iter().any(|w| w.contains("corrupt")));
    // A stream that stays at another size changed resolution: still refused, as before.
    let err = decode_video(&size_stretch_videos().join("change.avi"))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("change.avi") && err.contains("resolution changes mid-stream"),
        "{err}"
    );
}

#[test]
fn truncated_jpeg_gets_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let full = dir.path().join("full.jpg");
    common::ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=320x240",
        "-frames:v",
        "1",
        "-q:v",
        "3",
        full.to_str().unwrap(),
    ]);
    let bytes = std::fs::read(&full).unwrap();
    let cut = dir.path().join("cut.jpg");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    assert!(decode_video(&full).unwrap().warnings().is_empty());
    let video = decode_video(&cut).unwrap();
    assert_eq!(video.len(), 1);
    assert!(
        video
            .warnings()
            .iter()
            .any(|w| w.contains("truncated JPEG")),
        "{:?}",
        video.warnings()
    );
    // Image mode passes it on (it becomes a note of the report).
    let preset = Preset::imagenet(256, 224, gradtrust_video::preset::Interpolation::Bilinear);
    let image = gradtrust_video::images::load_image(&cut, &preset).unwrap();
    assert!(image.warnings.iter().any(|w| w.contains("truncated JPEG")));
}

#[test]
fn percent_and_glob_characters_in_a_file_name_are_that_file() {
    use gradtrust_video::decode::{media_kind, MediaKind};
    let dir = tempfile::tempdir().unwrap();
    for name in ["shot%d.png", "shot%03d.png", "shot*.png", "100%.png"] {
        let path = dir.path().join(name);
        common::ffmpeg(&[
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=64x48",
            "-frames:v",
            "1",
            "-update",
            "1",
            path.to_str().unwrap(),
        ]);
        assert_eq!(media_kind(&path).unwrap(), MediaKind::Image, "{name}");
        let video = decode_video(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(video.len(), 1, "{name}");
    }
    let odd = dir.path().join("clip%d.mp4");
    std::fs::copy(video("h264_short_0.5s.mp4"), &odd).unwrap();
    assert_eq!(decode_video(&odd).unwrap().len(), 15);
}

// ---- seeking decode skips unwanted non-reference frames ----

/// In H.264, frames between a keyframe and the frames wanted that are not references
/// (nal_ref_idc 0: most B-frames) are not decoded, and the wanted frames stay identical to
/// a full decode's, wherever they sit in the GOP.
#[test]
fn seeking_skips_unwanted_non_reference_frames() {
    use gradtrust_video::decode::decode_video_keeping;
    let path = seeking_videos().join("h264_gop60_bframes.mp4");
    let full = decode_video(&path).unwrap();
    // Frame 50 alone: decoding starts at keyframe 0; a decoder that ran every packet up to
    // frame 50's would give at least 51 frames.
    for wanted in [vec![50], vec![50, 52, 54], vec![59, 61, 119, 200]] {
        let select = |_: usize, _: f64| wanted.clone();
        let video = decode_video_keeping(&path, &select).unwrap();
        assert!(video.seeks() >= 1, "{wanted:?}: not decoded by seeking");
        println!("{wanted:?}: {} frames decoded", video.frames_run());
        if wanted == [50] {
            assert!(
                video.frames_run() < 45,
                "{wanted:?}: {} frames decoded, non-reference frames were not skipped",
                video.frames_run()
            );
        }
        assert_eq!(
            video.rgb_frames(&wanted).unwrap(),
            full.rgb_frames(&wanted).unwrap(),
            "{wanted:?}: frames differ from the full decode"
        );
    }
}

// ---- seeking runs shared among decoding workers ----

/// The runs of a seeking decode are shared among worker threads (one per core, the longest
/// run first, each worker with its own input and decoder): with many runs of different
/// lengths, every wanted frame still comes out of its own run, equal to the full decode's.
#[test]
fn seeking_runs_on_several_workers_match_full_decoding() {
    use gradtrust_video::decode::decode_video_keeping;
    let path = seeking_videos().join("h264_gop60_bframes.mp4");
    let full = decode_video(&path).unwrap();
    // Frames at varying depths in most GOPs: runs of different lengths.
    let wanted: Vec<usize> = (0..full.len())
        .filter(|f| f % 37 == 5 || f % 53 == 50)
        .collect();
    let select = |_: usize, _: f64| wanted.clone();
    let video = decode_video_keeping(&path, &select).unwrap();
    assert!(
        video.seeks() >= 4,
        "{} runs: too few to share",
        video.seeks()
    );
    assert_eq!(
        video.rgb_frames(&wanted).unwrap(),
        full.rgb_frames(&wanted).unwrap(),
        "frames differ from the full decode"
    );
}

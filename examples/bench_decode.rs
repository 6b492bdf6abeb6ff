//! Times the decoding stage, `clips::load_clips` (decode → sample → RGB → preset transform),
//! on one clip; scripts/bench_decode.sh runs it next to the Python reference.
//!
//!     bench_decode CLIP [ITERATIONS] [PRESET: r3d|s3d|mvit|swin3d]
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use gradtrust_video::clips::{clips_from_video, load_clips, windows_for};
use gradtrust_video::decode::decode_video_keeping;
use gradtrust_video::preset::Preset;
use gradtrust_video::sampling::sample_clips;

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let Some(clip) = args.get(1).map(PathBuf::from) else {
        bail!("usage: bench_decode CLIP [ITERATIONS] [PRESET]");
    };
    let iterations: usize = match args.get(2) {
        Some(s) => s
            .parse()
            .with_context(|| format!("ITERATIONS: not a number: {s}"))?,
        None => 10,
    };
    let preset = match args.get(3).map(String::as_str).unwrap_or("r3d") {
        "r3d" => Preset::video_resnet(),
        "s3d" => Preset::s3d(),
        "mvit" => Preset::mvit(),
        "swin3d" => Preset::swin3d(),
        other => bail!("unknown preset {other}"),
    };
    if iterations == 0 {
        bail!("ITERATIONS must be at least 1");
    }

    // Warm-up (page cache, libtorch and FFmpeg initialization).
    let first = load_clips(&clip, &preset)?;
    let mut total = Vec::new();
    let mut decode = Vec::new();
    let mut rest = Vec::new();
    for _ in 0..iterations {
        let start = Instant::now();
        let clips = load_clips(&clip, &preset)?;
        total.push(start.elapsed());
        assert_eq!(clips.clips.len(), first.clips.len());
    }
    let mut rgb = Vec::new();
    for _ in 0..iterations {
        let start = Instant::now();
        // What load_clips does, in two timed halves.
        let needed = |frames: usize, fps: f64| -> Vec<usize> {
            sample_clips(
                frames,
                fps,
                preset.frame_rate,
                preset.clip_len,
                preset.clips_per_video,
            )
            .map(|ws| ws.into_iter().flat_map(|w| w.frame_indices).collect())
            .unwrap_or_default()
        };
        let video = decode_video_keeping(&clip, &needed)?;
        let decoded = Instant::now();
        let clips = clips_from_video(&video, &preset)?;
        rest.push(decoded.elapsed());
        decode.push(decoded - start);
        drop(clips);
        // RGB conversion alone, of the frames the clips use.
        let windows = windows_for(&video, &preset)?;
        let mut unique: Vec<usize> = windows
            .iter()
            .flat_map(|w| w.frame_indices.clone())
            .collect();
        unique.sort_unstable();
        unique.dedup();
        let start = Instant::now();
        let frames = video.rgb_frames(&unique)?;
        rgb.push(start.elapsed());
        drop(frames);
    }
    let per_video = median(total);
    let clips_per_sec = first.clips.len() as f64 / per_video.as_secs_f64();
    println!(
        "rust load_clips: {} frames ({} {}x{}), {} clips; median {:.1} ms per video \
         (decode {:.1} ms; RGB + transform {:.1} ms, of which RGB {:.1} ms); \
         {clips_per_sec:.1} clips/s",
        first.frames_decoded,
        first.info.codec,
        first.info.width,
        first.info.height,
        first.clips.len(),
        per_video.as_secs_f64() * 1e3,
        median(decode.clone()).as_secs_f64() * 1e3,
        median(rest).as_secs_f64() * 1e3,
        median(rgb).as_secs_f64() * 1e3,
    );
    println!("clips_per_sec={clips_per_sec:.3}");
    println!("decode_ms={:.3}", median(decode).as_secs_f64() * 1e3);
    Ok(())
}

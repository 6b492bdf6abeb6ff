//! `gradtrust-video score` end to end, and every kind of bad input: non-zero exit, a message
//! naming the file and the problem, never a panic.
mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::{cached_fixture, ffmpeg};

/// Every score, the default set of `score`.
const ALL_SCORES: [&str; 13] = [
    "gradtrust",
    "softmax",
    "entropy",
    "margin",
    "log_likelihood",
    "energy",
    "neg_brier",
    "grad_norm",
    "doctor",
    "mc_dropout",
    "odin",
    "purview_initial",
    "purview_final",
];

/// Seeded r3d_18 weights (the model parity fixture) and a few clips.
fn fixtures() -> PathBuf {
    let weights = common::model_fixture("r3d_18", 2, 8, 112);
    let mc3 = common::model_fixture("mc3_18", 2, 8, 112);
    cached_fixture("cli-inputs", |dir| {
        let p = |name: &str| dir.join(name).to_str().unwrap().to_string();
        std::fs::create_dir_all(dir.join("models")).unwrap();
        std::fs::copy(
            weights.join("state_zip.pth"),
            dir.join("models/r3d_18-b3b3357e.pth"),
        )
        .unwrap();
        std::fs::copy(mc3.join("state_zip.pth"), dir.join("mc3.pth")).unwrap();
        let good = std::fs::read(weights.join("state_zip.pth")).unwrap();
        std::fs::write(dir.join("truncated.pth"), &good[..good.len() / 3]).unwrap();
        ffmpeg(&[
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=340x256:rate=30",
            "-t",
            "3",
            "-c:v",
            "libx264",
            "-pix_fmt",
            "yuv420p",
            &p("clip.mp4"),
        ]);
        ffmpeg(&[
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=160x120:rate=25",
            "-t",
            "0.4",
            "-c:v",
            "libx264",
            "-pix_fmt",
            "yuv420p",
            &p("short.mp4"),
        ]);
        ffmpeg(&[
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=440:duration=1",
            "-c:a",
            "aac",
            &p("audio.mp4"),
        ]);
        let clip = std::fs::read(dir.join("clip.mp4")).unwrap();
        // The moov atom is at the end: cutting the file loses the index.
        std::fs::write(dir.join("truncated.mp4"), &clip[..clip.len() / 2]).unwrap();
        std::fs::write(dir.join("empty.mp4"), b"").unwrap();
        std::fs::write(dir.join("notes.mp4"), "this is a text file, not a video\n").unwrap();
    })
}

fn score(args: &[&str], cwd: &Path) -> Output {
    Command::new(common::bin())
        .arg("score")
        .args(args)
        .args(["--device", "cpu", "--weights-url", "http://127.0.0.1:9/"])
        .current_dir(cwd)
        .output()
        .unwrap()
}

fn assert_fails_naming(out: &Output, file: &str, problem: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "expected failure for {file}: {stderr}"
    );
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(
        stderr.contains(file),
        "message does not name {file}: {stderr}"
    );
    assert!(
        stderr.to_lowercase().contains(problem),
        "message for {file} does not say {problem:?}: {stderr}"
    );
}

#[test]
fn score_text_names_every_field() {
    let dir = fixtures();
    let out = score(&["clip.mp4"], &dir);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("model r3d_18"), "{stdout}");
    assert!(stdout.contains("video (clip-averaged logits)"), "{stdout}");
    assert!(stdout.contains("top-5 by summed clip softmax"), "{stdout}");
    for name in ALL_SCORES {
        // Once for the video and once per clip (5 clips).
        assert_eq!(
            stdout.matches(&format!("  {name} ")).count(),
            6,
            "{name}\n{stdout}"
        );
    }
    for clip in 0..5 {
        assert!(
            stdout.contains(&format!("clip {clip} (frames ")),
            "{stdout}"
        );
    }
}

#[test]
fn score_json_carries_every_field() {
    let dir = fixtures();
    let out = score(&["clip.mp4", "--json"], &dir);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["model"], "r3d_18");
    assert_eq!(v["path"], "clip.mp4");
    // 3 s at 30 fps.
    assert_eq!(v["frames_decoded"], 90);
    let check_level = |level: &serde_json::Value| {
        let top5 = level["top5"].as_array().unwrap();
        assert_eq!(top5.len(), 5);
        let mut last = f64::INFINITY;
        for t in top5 {
            let index = t["index"].as_u64().unwrap() as usize;
            assert!(index < 400);
            let label = t["label"].as_str().unwrap();
            assert_eq!(
                gradtrust_video::labels::LabelSet::Kinetics400.index_of(label),
                Some(index)
            );
            let prob = t["prob"].as_f64().unwrap();
            assert!(prob > 0.0 && prob <= last);
            last = prob;
        }
        for name in ALL_SCORES {
            assert!(
                level["scores"][name].as_f64().unwrap().is_finite(),
                "{name}"
            );
        }
        let gt = level["scores"]["gradtrust"].as_f64().unwrap();
        assert!((1.0..=400.0).contains(&gt), "gradtrust {gt} outside [1, N]");
    };
    check_level(&v["video"]);
    assert_eq!(v["video"]["top5_softmax_sum"].as_array().unwrap().len(), 5);
    let clips = v["clips"].as_array().unwrap();
    assert_eq!(clips.len(), 5);
    for (i, clip) in clips.iter().enumerate() {
        assert_eq!(clip["index"], i);
        let frames = clip["frames"].as_array().unwrap();
        let (first, last) = (frames[0].as_u64().unwrap(), frames[1].as_u64().unwrap());
        // 16 frames at 15 fps from 30 fps: every other frame.
        assert_eq!(last - first, 30, "clip {i}: {frames:?}");
        assert_eq!(clip["padded"], false);
        check_level(clip);
    }
    // Clips are picked uniformly: the first starts at 0, the last ends at the last window.
    assert_eq!(clips[0]["frames"][0], 0);
    assert_eq!(clips[4]["frames"][1], 88);
}

#[test]
fn short_clip_is_padded_and_says_so() {
    let dir = fixtures();
    let out = score(&["short.mp4", "--json", "--scores", "fast"], &dir);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["frames_decoded"], 10);
    assert!(v["clips"]
        .as_array()
        .unwrap()
        .iter()
        .all(|c| c["padded"] == true));
    assert!(v["notes"][0].as_str().unwrap().contains("padded"), "{v}");
}

#[test]
fn missing_path() {
    let dir = fixtures();
    assert_fails_naming(
        &score(&["nowhere.mp4"], &dir),
        "nowhere.mp4",
        "no such file",
    );
}

#[test]
fn zero_byte_file() {
    let dir = fixtures();
    assert_fails_naming(&score(&["empty.mp4"], &dir), "empty.mp4", "empty");
}

#[test]
fn text_file_named_mp4() {
    let dir = fixtures();
    assert_fails_naming(&score(&["notes.mp4"], &dir), "notes.mp4", "not a");
}

#[test]
fn truncated_mp4() {
    let dir = fixtures();
    assert_fails_naming(
        &score(&["truncated.mp4"], &dir),
        "truncated.mp4",
        "truncated",
    );
}

#[test]
fn audio_only_file() {
    let dir = fixtures();
    assert_fails_naming(&score(&["audio.mp4"], &dir), "audio.mp4", "no video stream");
}

#[test]
fn weights_of_another_model() {
    let dir = fixtures();
    let out = score(&["clip.mp4", "--weights", "mc3.pth"], &dir);
    assert_fails_naming(&out, "mc3.pth", "does not fit model r3d_18");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("shape mismatch for layer2.0.conv1.0.weight")
    );
}

#[test]
fn truncated_weight_file() {
    let dir = fixtures();
    let out = score(&["clip.mp4", "--weights", "truncated.pth"], &dir);
    assert_fails_naming(&out, "truncated.pth", "not a readable pytorch weight file");
}

#[test]
fn missing_weights_offline() {
    let dir = fixtures();
    let out = score(&["clip.mp4", "--model", "mc3_18"], &dir);
    assert_fails_naming(
        &out,
        "mc3_18-a90a0ba3.pth",
        "put it at models/mc3_18-a90a0ba3.pth",
    );
}

#[test]
fn models_lists_every_model_and_which_weights_are_present() {
    let dir = fixtures();
    let out = Command::new(common::bin())
        .args(["models", "--models-dir", "models"])
        .current_dir(&dir)
        .output()
        .unwrap();
    assert!(out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    for spec in gradtrust_video::models::all() {
        assert!(
            stdout.lines().any(|l| l == spec.name),
            "{} missing:\n{stdout}",
            spec.name
        );
        assert!(stdout.contains(&format!("parameters {} ", common::published(spec.name).0)));
        assert!(stdout.contains(spec.weight_file));
    }
    assert!(
        stdout.contains("r3d_18-b3b3357e.pth (present in models)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("mc3_18-a90a0ba3.pth (absent in models)"),
        "{stdout}"
    );
    assert!(stdout.contains("swin3d_b_22k-7c6ae6fa.pth"), "{stdout}");
    assert!(
        stdout.contains("classifier classifier.1.weight [400, 1024, 1, 1, 1]"),
        "{stdout}"
    );
}

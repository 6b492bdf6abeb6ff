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

/// Seeded r3d_18 weights (the model parity fixture) as the user's own `r3d_18-seeded.pth`,
/// the same bytes under torchvision's name in `models/` (a file that lies: its SHA-256 is
/// not the one the name promises), and a few clips.
fn fixtures() -> PathBuf {
    let weights = common::model_fixture("r3d_18", 2, 8, 112);
    let mc3 = common::model_fixture("mc3_18", 2, 8, 112);
    cached_fixture("cli-inputs-v2", |dir| {
        let p = |name: &str| dir.join(name).to_str().unwrap().to_string();
        std::fs::create_dir_all(dir.join("models")).unwrap();
        std::fs::copy(weights.join("state_zip.pth"), dir.join("r3d_18-seeded.pth")).unwrap();
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

/// `score` on the seeded r3d_18 weights, unless `args` name other weights or another model.
fn score(args: &[&str], cwd: &Path) -> Output {
    let mut cmd = Command::new(common::bin());
    cmd.arg("score").args(args);
    if !args.contains(&"--weights") && !args.contains(&"--model") {
        cmd.args(["--weights", "r3d_18-seeded.pth"]);
    }
    cmd.args(["--device", "cpu", "--weights-url", "http://127.0.0.1:9/"])
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
    assert!(
        stdout.contains("video: the clip-averaged model"),
        "{stdout}"
    );
    // The video's top-5 once: torchvision's summed-softmax ranking is at most one line.
    assert!(
        stdout.matches("summed clip softmax").count() <= 1,
        "{stdout}"
    );
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
    // The library names no flag; the binary adds it as a hint.
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("\nhint: score and batch take a weight file with --weights FILE"),
        "{stderr}"
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

/// The seeded weights under torchvision's name in `models/`, found there as the default:
/// their SHA-256 is not the `b3b3357e…` the name promises, so they are refused (they used to
/// load and give confident predictions), with the command that downloads the real file.
#[test]
fn weights_under_torchvision_name_that_do_not_match_it_are_refused() {
    let dir = fixtures();
    let out = Command::new(common::bin())
        .args(["score", "clip.mp4", "--device", "cpu"])
        .args(["--weights-url", "http://127.0.0.1:9/"])
        .current_dir(&dir)
        .env("XDG_CACHE_HOME", dir.join("no-cache"))
        .output()
        .unwrap();
    assert_fails_naming(
        &out,
        "models/r3d_18-b3b3357e.pth",
        "does not start with b3b3357e",
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("delete it and download it again")
            && stderr.contains("\nhint: download it again with `gradtrust-video fetch r3d_18`"),
        "{stderr}"
    );
}

/// Finite weights whose logits overflow (`fc.weight` all 1e38): `score` exits 1 naming the
/// clip and saying the logits are not finite, instead of printing softmax NaN or 1.0.
#[test]
fn non_finite_logits_are_an_error_naming_the_clip() {
    let dir = fixtures();
    let huge = common::weight_variants().join("huge_fc.pth");
    let out = score(
        &[
            "clip.mp4",
            "--weights",
            huge.to_str().unwrap(),
            "--scores",
            "fast",
        ],
        &dir,
    );
    assert_fails_naming(
        &out,
        "clip.mp4",
        "logits are not finite (infinite) for clip(s) 0, 1, 2, 3, 4 of 5",
    );
    assert!(String::from_utf8_lossy(&out.stdout).is_empty());
}

// ---------------------------------------------------------------------------------------------
// Timelines and streams: `score --timeline` over a file, standard input and HTTP; SIGINT and
// SIGTERM during a run.

/// The segments of the timeline video: a colour and its length in frames (30 fps, 3600
/// frames, 120 s). The boundaries (frames 751, 1410, 2401, 3030) fall inside windows, two of
/// them on frames the 15 fps resampling skips.
const SEGMENTS: [(&str, usize); 5] = [
    ("red", 751),
    ("green", 659),
    ("blue", 991),
    ("yellow", 629),
    ("white", 570),
];

/// A small scripted 3-D CNN (`own_model_fixture.py custom`, 7 classes: cheap enough to run
/// every window of two minutes) and the segmented video, losslessly encoded so every frame of
/// a segment decodes to the same pixels.
fn timeline_fixtures() -> PathBuf {
    let hash = common::own_model_generator_hash();
    cached_fixture(&format!("timeline-v1-{hash:016x}"), |dir| {
        common::run_python(
            "own_model_fixture.py",
            &["custom", "--out", dir.to_str().unwrap()],
        );
        let mut args: Vec<String> = Vec::new();
        let mut graph = String::new();
        for (i, (colour, frames)) in SEGMENTS.iter().enumerate() {
            args.extend(["-f", "lavfi", "-i"].map(String::from));
            args.push(format!("color=c={colour}:s=64x48:r=30"));
            graph.push_str(&format!("[{i}]trim=end_frame={frames}[s{i}];"));
        }
        for i in 0..SEGMENTS.len() {
            graph.push_str(&format!("[s{i}]"));
        }
        graph.push_str(&format!("concat=n={}:v=1[v]", SEGMENTS.len()));
        let out = dir.join("segments.mp4");
        args.extend(
            [
                "-filter_complex",
                &graph,
                "-map",
                "[v]",
                "-c:v",
                "libx264",
                "-qp",
                "0",
            ]
            .map(String::from),
        );
        args.extend(["-pix_fmt", "yuv420p", "-g", "60", out.to_str().unwrap()].map(String::from));
        ffmpeg(&args.iter().map(String::as_str).collect::<Vec<_>>());
        std::fs::create_dir_all(dir.join("runs")).unwrap();
    })
}

/// `score … --timeline` with the scripted model (or `model` args), run in `dir`.
fn timeline_cmd(dir: &Path, input: &str, extra: &[&str]) -> Command {
    let mut cmd = Command::new(common::bin());
    cmd.args(["score", input, "--timeline", "--device", "cpu"])
        .args(extra)
        .current_dir(dir);
    if !extra.contains(&"--weights") {
        cmd.args(["--model", "torchscript", "--preset", "r3d_18"])
            .args(["--weights", "scripted.pt"]);
    }
    cmd
}

/// How long a timeline test's command may run before it counts as hung (the runs take
/// seconds to a minute alone, several times that on a loaded machine).
const HANG_GUARD_S: u64 = 900;

/// Runs `cmd` to its end, killing it (and failing) after `secs`.
fn output_within(mut cmd: Command, secs: u64) -> Output {
    use std::io::Read;
    use std::process::Stdio;
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let out = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = out.read_to_end(&mut v);
        v
    });
    let err = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = err.read_to_end(&mut v);
        v
    });
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{cmd:?} still running after {secs} s");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    Output {
        status,
        stdout: out.join().unwrap(),
        stderr: err.join().unwrap(),
    }
}

fn ok_stdout(out: &Output) -> String {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    String::from_utf8(out.stdout.clone()).unwrap()
}

/// The JSON Lines of `--timeline --json`.
fn json_rows(stdout: &str) -> Vec<serde_json::Value> {
    stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l:?}")))
        .collect()
}

/// A row without its timing (which differs from run to run).
fn untimed(row: &serde_json::Value) -> serde_json::Value {
    let mut row = row.clone();
    row.as_object_mut().unwrap().remove("seconds");
    row
}

/// Which segment time `t` (seconds) lies in.
fn segment_at(t: f64) -> usize {
    let mut end = 0usize;
    for (i, (_, frames)) in SEGMENTS.iter().enumerate() {
        end += frames;
        if t < end as f64 / 30.0 {
            return i;
        }
    }
    SEGMENTS.len() - 1
}

fn scores_of(row: &serde_json::Value) -> Vec<(String, f64)> {
    row["scores"]
        .as_object()
        .unwrap()
        .iter()
        .filter_map(|(k, v)| v.as_f64().map(|v| (k.clone(), v)))
        .collect()
}

fn same_scores(a: &serde_json::Value, b: &serde_json::Value, tol: f64) -> bool {
    let (a, b) = (scores_of(a), scores_of(b));
    a.len() == b.len()
        && a.iter()
            .zip(&b)
            .all(|((ka, va), (kb, vb))| ka == kb && common::close(*va, *vb, tol))
}

/// The whole two-minute video, every window: the timeline covers it with windows whose
/// times are right (every window that lies inside one segment, by its times, scores as that
/// segment's frames do), and text, JSON, the CSV and JSON Lines files agree; the chart is a
/// real picture.
#[test]
fn timeline_covers_a_segmented_video_with_right_times() {
    let dir = timeline_fixtures();
    let runs = dir.join("runs");
    let (csv_path, png) = (runs.join("all.csv"), runs.join("all.png"));
    let _ = std::fs::remove_file(&csv_path);
    let out = output_within(
        timeline_cmd(
            &dir,
            "segments.mp4",
            &[
                "--json",
                "--out",
                csv_path.to_str().unwrap(),
                "--plot",
                png.to_str().unwrap(),
            ],
        ),
        HANG_GUARD_S,
    );
    let rows = json_rows(&ok_stdout(&out));
    // 120 s at 15 fps: 1800 frames, 112 windows of 16 and one moved back to end with the video.
    assert_eq!(rows.len(), 113);
    let close = |a: f64, b: f64| (a - b).abs() < 1e-9;
    for (k, row) in rows.iter().enumerate() {
        assert_eq!(row["index"], k);
        let (start, end) = (
            row["start_s"].as_f64().unwrap(),
            row["end_s"].as_f64().unwrap(),
        );
        if k < 112 {
            assert_eq!(row["window"], 16 * k);
            assert_eq!(row["kind"], "regular");
            assert_eq!(row["frames"], serde_json::json!([32 * k, 32 * k + 30]));
            assert!(close(start, 32.0 * k as f64 / 30.0), "{row}");
            assert!(close(end, 32.0 * (k + 1) as f64 / 30.0), "{row}");
            assert!(close(end, rows[k + 1]["start_s"].as_f64().unwrap()) || k == 111);
        }
        assert_eq!(row["top5"].as_array().unwrap().len(), 5);
    }
    let tail = &rows[112];
    assert_eq!(
        (&tail["window"], &tail["kind"], &tail["frames"]),
        (
            &serde_json::json!(1784),
            &serde_json::json!("tail"),
            &serde_json::json!([3568, 3598])
        )
    );
    assert!(close(rows[0]["start_s"].as_f64().unwrap(), 0.0));
    assert!(close(tail["start_s"].as_f64().unwrap(), 3568.0 / 30.0));
    assert!(close(tail["end_s"].as_f64().unwrap(), 120.0));

    // A window inside one segment by its times holds that segment's frames only: it scores
    // exactly as every other such window of the segment (to libtorch's batch rounding).
    let mut reference: Vec<Option<&serde_json::Value>> = vec![None; SEGMENTS.len()];
    let mut inside = vec![0usize; SEGMENTS.len()];
    for row in &rows {
        let (start, end) = (
            row["start_s"].as_f64().unwrap(),
            row["end_s"].as_f64().unwrap(),
        );
        let seg = segment_at(start);
        if seg != segment_at(end - 1e-6) {
            continue;
        }
        inside[seg] += 1;
        match reference[seg] {
            None => reference[seg] = Some(row),
            Some(r) => assert!(
                same_scores(row, r, 1e-4) && row["top5"][0]["index"] == r["top5"][0]["index"],
                "window {} ({start}–{end} s, segment {seg}) does not score as its segment:\n{row}\n{r}",
                row["index"]
            ),
        }
    }
    assert!(inside.iter().all(|&n| n >= 15), "{inside:?}");
    // The segments do score differently, so a window holding a frame of another would show.
    for a in 0..SEGMENTS.len() {
        for b in a + 1..SEGMENTS.len() {
            let (ra, rb) = (reference[a].unwrap(), reference[b].unwrap());
            assert!(
                !same_scores(ra, rb, 1e-3),
                "segments {a} and {b} score alike"
            );
        }
    }

    // The CSV: batch's clip rows with start_s and end_s after frames, the JSON's values.
    let mut reader = csv::Reader::from_path(&csv_path).unwrap();
    let header: Vec<String> = reader.headers().unwrap().iter().map(String::from).collect();
    let at = |name: &str| header.iter().position(|h| h == name).unwrap();
    assert_eq!(at("start_s"), at("frames") + 1);
    assert_eq!(at("end_s"), at("frames") + 2);
    let records: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(records.len(), rows.len());
    for (rec, row) in records.iter().zip(&rows) {
        assert_eq!(&rec[at("id")], "segments");
        assert_eq!(&rec[at("path")], "segments.mp4");
        assert_eq!(&rec[at("level")], "clip");
        assert_eq!(&rec[at("status")], "ok");
        assert_eq!(rec[at("clip")].parse::<u64>().unwrap(), row["index"]);
        assert_eq!(rec[at("window")].parse::<u64>().unwrap(), row["window"]);
        let frames = &row["frames"];
        assert_eq!(&rec[at("frames")], format!("{}-{}", frames[0], frames[1]));
        // serde_json reads floats to within an ulp (its exact parser is a feature not on).
        let same = |cell: &str, v: f64| common::close(cell.parse::<f64>().unwrap(), v, 1e-15);
        for key in ["start_s", "end_s"] {
            assert!(same(&rec[at(key)], row[key].as_f64().unwrap()), "{key}");
        }
        let top5: Vec<u64> = row["top5"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["index"].as_u64().unwrap())
            .collect();
        let csv_top5: Vec<u64> = rec[at("top5")]
            .split(' ')
            .map(|i| i.parse().unwrap())
            .collect();
        assert_eq!(csv_top5, top5);
        assert_eq!(rec[at("pred")], format!("class_{}", top5[0]));
        for (name, value) in row["scores"].as_object().unwrap() {
            let cell = &rec[at(name)];
            match value.as_f64() {
                Some(v) => assert!(same(cell, v), "{name}: {cell} vs {v}"),
                None => assert_eq!(cell, "", "{name}"),
            }
        }
    }

    // The chart: a PNG of the expected size with a picture in it.
    let decoder = png::Decoder::new(std::fs::File::open(&png).unwrap());
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap();
    assert_eq!(info.width, 1200);
    let pixels: Vec<&[u8]> = buf[..info.buffer_size()]
        .chunks(info.color_type.samples())
        .collect();
    let inked = pixels.iter().filter(|p| p[..3] != [255, 255, 255]).count();
    let mut colours: Vec<&[u8]> = pixels.clone();
    colours.sort_unstable();
    colours.dedup();
    assert!(
        inked * 50 > pixels.len(),
        "{inked} of {} pixels drawn",
        pixels.len()
    );
    assert!(colours.len() >= 8, "{} colours", colours.len());

    // Every eighth window (a stride of eight windows) as text and JSON Lines: the same values.
    let jsonl = runs.join("every-eighth.jsonl");
    let svg = runs.join("every-eighth.svg");
    let _ = std::fs::remove_file(&jsonl);
    let out = output_within(
        timeline_cmd(
            &dir,
            "segments.mp4",
            &[
                "--stride",
                "8.5333333",
                "--out",
                jsonl.to_str().unwrap(),
                "--plot",
                svg.to_str().unwrap(),
            ],
        ),
        HANG_GUARD_S,
    );
    let text = ok_stdout(&out);
    let mut lines = text.lines();
    let head = lines.next().unwrap();
    assert!(
        head.contains("windows of 16 frames at 15 fps every 128 frames (8.533 s)"),
        "{head}"
    );
    let columns: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    let score_names: Vec<String> = rows[0]["scores"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    let shown: Vec<&str> = columns[4..columns.len() - 1].to_vec();
    let text_rows: Vec<&str> = lines.collect();
    let file_rows: Vec<serde_json::Value> = json_rows(&std::fs::read_to_string(&jsonl).unwrap());
    // Windows 0, 8, …, 104 of the first run, then the same window moved back to the end.
    let picked: Vec<&serde_json::Value> = (0..14).map(|k| &rows[8 * k]).chain([tail]).collect();
    assert_eq!(text_rows.len(), picked.len(), "{text}");
    assert_eq!(file_rows.len(), picked.len());
    for (k, ((line, want), file_row)) in text_rows.iter().zip(&picked).zip(&file_rows).enumerate() {
        let mut rest = *line;
        let mut tokens = Vec::new();
        for _ in 0..4 + shown.len() {
            rest = rest.trim_start();
            let end = rest.find(' ').unwrap_or(rest.len());
            tokens.push(&rest[..end]);
            rest = &rest[end..];
        }
        assert_eq!(tokens[0].parse::<usize>().unwrap(), k);
        let num = |s: &str| s.parse::<f64>().unwrap();
        assert!(
            (num(tokens[1]) - want["start_s"].as_f64().unwrap()).abs() < 6e-4,
            "{line}"
        );
        assert!(
            (num(tokens[2]) - want["end_s"].as_f64().unwrap()).abs() < 6e-4,
            "{line}"
        );
        let frames = &want["frames"];
        assert_eq!(tokens[3], format!("{}-{}", frames[0], frames[1]));
        for (name, token) in shown.iter().zip(&tokens[4..]) {
            assert!(score_names.iter().any(|n| n == name), "{name}");
            match want["scores"][*name].as_f64() {
                Some(v) => assert!(
                    // Four significant digits.
                    (num(token) - v).abs() <= 6e-4 * v.abs() + 1e-12,
                    "{name}: {token} vs {v}"
                ),
                None => assert_eq!(*token, "n/a"),
            }
        }
        let top5: Vec<(String, f64)> = rest
            .trim()
            .split(" | ")
            .map(|t| {
                let (name, pct) = t.rsplit_once(" (").unwrap();
                (name.to_string(), num(pct.trim_end_matches(')')))
            })
            .collect();
        for ((name, pct), t) in top5.iter().zip(want["top5"].as_array().unwrap()) {
            assert_eq!(name, t["label"].as_str().unwrap());
            assert!(
                // A fraction, four significant digits.
                (pct - t["prob"].as_f64().unwrap()).abs() <= 6e-4 * pct,
                "{line}"
            );
        }
        // The JSON Lines file: the row schema, same window.
        assert_eq!(file_row["clip"], k);
        assert_eq!(file_row["window"], want["window"]);
        assert_eq!(file_row["start_s"], want["start_s"]);
        assert_eq!(file_row["end_s"], want["end_s"]);
        assert_eq!(
            file_row["top5"]
                .as_str()
                .unwrap()
                .split(' ')
                .next()
                .unwrap(),
            want["top5"][0]["index"].to_string()
        );
        assert!(common::close(
            file_row["gradtrust"].as_f64().unwrap(),
            want["scores"]["gradtrust"].as_f64().unwrap(),
            1e-5
        ));
    }
    let svg_text = std::fs::read_to_string(&svg).unwrap();
    assert!(svg_text.starts_with("<svg") && svg_text.contains("gradtrust"));
}

/// Serves `file` over HTTP on 127.0.0.1 until dropped (at most 100 connections and 120 s):
/// each connection in its own thread, one request each, `Range: bytes=A-[B]` answered with
/// 206 (FFmpeg's http protocol seeks with ranges: an MP4 whose index is at the end needs it).
struct HttpServer {
    url: String,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl HttpServer {
    fn serve(file: &Path) -> HttpServer {
        use std::sync::atomic::{AtomicBool, Ordering};
        let data = std::sync::Arc::new(std::fs::read(file).unwrap());
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let url = format!(
            "http://{}/{}",
            listener.local_addr().unwrap(),
            file.file_name().unwrap().to_str().unwrap()
        );
        let stop = std::sync::Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
            let mut connections = 0;
            while !flag.load(Ordering::SeqCst)
                && std::time::Instant::now() < deadline
                && connections < 100
            {
                match listener.accept() {
                    Ok((stream, _)) => {
                        connections += 1;
                        let data = data.clone();
                        std::thread::spawn(move || {
                            let _ = Self::answer(stream, &data);
                        });
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                        std::thread::sleep(std::time::Duration::from_millis(5))
                    }
                    Err(_) => break,
                }
            }
        });
        HttpServer {
            url,
            stop,
            thread: Some(thread),
        }
    }

    fn answer(mut stream: std::net::TcpStream, data: &[u8]) -> std::io::Result<()> {
        use std::io::{BufRead, Write};
        stream.set_nonblocking(false)?;
        stream.set_read_timeout(Some(std::time::Duration::from_secs(10)))?;
        stream.set_write_timeout(Some(std::time::Duration::from_secs(10)))?;
        let mut reader = std::io::BufReader::new(stream.try_clone()?);
        let mut range = None;
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line)? == 0 || line.trim().is_empty() {
                break;
            }
            let lower = line.to_ascii_lowercase();
            if let Some(spec) = lower.strip_prefix("range: bytes=") {
                let (a, b) = spec.trim().split_once('-').unwrap_or((spec.trim(), ""));
                let start: usize = a.parse().unwrap_or(0);
                let end: usize = b.parse().unwrap_or(data.len() - 1);
                range = Some((start.min(data.len()), end.min(data.len() - 1)));
            }
        }
        let head = match range {
            Some((start, _)) if start >= data.len() => {
                let head = format!(
                    "HTTP/1.1 416 Range Not Satisfiable\r\nContent-Range: bytes */{}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                    data.len()
                );
                return stream.write_all(head.as_bytes());
            }
            Some((start, end)) => (
                format!(
                    "HTTP/1.1 206 Partial Content\r\nContent-Range: bytes {start}-{end}/{}\r\n",
                    data.len()
                ),
                &data[start..=end],
            ),
            None => ("HTTP/1.1 200 OK\r\n".to_string(), data),
        };
        let (status, body) = head;
        stream.write_all(
            format!(
                "{status}Content-Type: video/mp4\r\nAccept-Ranges: bytes\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            )
            .as_bytes(),
        )?;
        // The client stops reading when it seeks elsewhere: an error here is expected.
        stream.write_all(body)
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The same rows from the file, from a loopback HTTP server serving it, and from an MPEG-TS
/// remux of it on standard input (other container, other time base, timestamps starting at
/// 1.4 s).
#[test]
fn timeline_from_http_and_stdin_equals_the_file() {
    use std::process::Stdio;
    let dir = timeline_fixtures();
    let args = ["--json", "--stride", "10"];
    let file = json_rows(&ok_stdout(&output_within(
        timeline_cmd(&dir, "segments.mp4", &args),
        HANG_GUARD_S,
    )));
    // 10 s = 150 frames at 15 fps: 12 windows.
    assert_eq!(file.len(), 12);
    let file: Vec<serde_json::Value> = file.iter().map(untimed).collect();

    let server = HttpServer::serve(&dir.join("segments.mp4"));
    let http = json_rows(&ok_stdout(&output_within(
        timeline_cmd(&dir, &server.url, &args),
        HANG_GUARD_S,
    )));
    drop(server);
    assert_eq!(http.iter().map(untimed).collect::<Vec<_>>(), file, "HTTP");

    let mut remux = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-i", "segments.mp4"])
        .args(["-c", "copy", "-f", "mpegts", "-"])
        .current_dir(&dir)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut cmd = timeline_cmd(&dir, "-", &args);
    cmd.stdin(remux.stdout.take().unwrap());
    let stdin = json_rows(&ok_stdout(&output_within(cmd, HANG_GUARD_S)));
    assert!(remux.wait().unwrap().success());
    assert_eq!(stdin.iter().map(untimed).collect::<Vec<_>>(), file, "stdin");
}

/// The timeline's windows at torchvision's five picks (a stride of 446 frames) are the clips
/// `score` scores (seeking decode vs the stream's sequential one, native r3d_18).
#[test]
fn timeline_windows_equal_the_clips_of_score() {
    let dir = timeline_fixtures();
    let weights = common::model_fixture("r3d_18", 2, 8, 112).join("state_zip.pth");
    let weights = weights.to_str().unwrap();
    let mut clips = Command::new(common::bin());
    clips
        .args(["score", "segments.mp4", "--json", "--scores", "fast"])
        .args(["--device", "cpu", "--weights", weights])
        .current_dir(&dir);
    let report: serde_json::Value =
        serde_json::from_str(&ok_stdout(&output_within(clips, HANG_GUARD_S))).unwrap();
    let clips = report["clips"].as_array().unwrap();
    let windows = json_rows(&ok_stdout(&output_within(
        timeline_cmd(
            &dir,
            "segments.mp4",
            &["--json", "--weights", weights, "--stride", "29.733333"],
        ),
        180,
    )));
    assert_eq!(windows.len(), 5);
    for (clip, window) in clips.iter().zip(&windows) {
        assert_eq!(window["frames"], clip["frames"]);
        assert_eq!(window["kind"], "regular");
        assert_eq!(window["start_s"], clip["secs"][0]);
        for (a, b) in window["top5"]
            .as_array()
            .unwrap()
            .iter()
            .zip(clip["top5"].as_array().unwrap())
        {
            assert_eq!(a["index"], b["index"]);
            assert!(common::close(
                a["prob"].as_f64().unwrap(),
                b["prob"].as_f64().unwrap(),
                1e-4
            ));
        }
        assert!(same_scores(window, clip, 1e-4), "{window}\n{clip}");
    }
}

/// Waits until `path` has `rows` complete lines after its header.
fn wait_for_rows(path: &Path, rows: usize, child: &mut std::process::Child) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(HANG_GUARD_S);
    loop {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        if text.matches('\n').count() > rows {
            return;
        }
        if let Some(status) = child.try_wait().unwrap() {
            panic!("ended ({status}) before {rows} rows were written");
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no {rows} rows in time"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

fn signal(child: &std::process::Child, name: &str) {
    let sent = Command::new("kill")
        .args([&format!("-{name}"), &child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
}

/// SIGINT while rows are being written: the run stops, exits 130, and the file holds whole
/// rows only, in order; SIGTERM likewise, for rows streamed to standard output.
#[test]
fn sigint_or_sigterm_during_a_timeline_leaves_complete_rows() {
    use std::io::BufRead;
    use std::process::Stdio;
    let dir = timeline_fixtures();
    let rows = dir.join("runs/interrupted.csv");
    let _ = std::fs::remove_file(&rows);
    let mut child = timeline_cmd(
        &dir,
        "segments.mp4",
        &["--batch-size", "1", "--out", rows.to_str().unwrap()],
    )
    .stdout(Stdio::null())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    wait_for_rows(&rows, 3, &mut child);
    signal(&child, "INT");
    let out = output_within_child(child);
    assert_eq!(
        out.status.code(),
        Some(130),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("interrupted"), "{stderr}");
    let text = std::fs::read_to_string(&rows).unwrap();
    assert!(text.ends_with('\n'));
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let width = reader.headers().unwrap().len();
    let clip = reader
        .headers()
        .unwrap()
        .iter()
        .position(|h| h == "clip")
        .unwrap();
    let records: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert!((3..113).contains(&records.len()), "{} rows", records.len());
    for (k, rec) in records.iter().enumerate() {
        assert_eq!(rec.len(), width);
        assert_eq!(rec[clip].parse::<usize>().unwrap(), k);
        assert_eq!(&rec[width - 2], "ok");
    }

    let mut child = timeline_cmd(&dir, "segments.mp4", &["--batch-size", "1", "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let mut seen = Vec::new();
    for _ in 0..2 {
        seen.push(lines.next().unwrap().unwrap());
    }
    signal(&child, "TERM");
    seen.extend(lines.map(Result::unwrap));
    let out = output_within_child(child);
    assert_eq!(
        out.status.code(),
        Some(130),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(seen.len() < 113);
    for (k, line) in seen.iter().enumerate() {
        let row: serde_json::Value = serde_json::from_str(line).unwrap();
        assert_eq!(row["index"], k);
    }
}

/// Waits for a signalled child (it finishes the batch under way first) and collects what is
/// left of its output.
fn output_within_child(mut child: std::process::Child) -> Output {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(HANG_GUARD_S);
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("still running {HANG_GUARD_S} s after the signal");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

/// Streams without --timeline, and bad timeline flags: exit status 1 (2 for clap's own
/// checks), a message naming the input or the flag.
#[test]
fn streams_need_a_timeline_and_bad_timeline_flags_are_named() {
    let dir = timeline_fixtures();
    let out = output_within(
        {
            let mut cmd = Command::new(common::bin());
            cmd.args(["score", "-", "--device", "cpu"])
                .current_dir(&dir);
            cmd
        },
        HANG_GUARD_S,
    );
    assert_fails_naming(&out, "standard input", "add --timeline");
    for (args, code, want) in [
        // Usage errors (2): found by the value parsers, or once the frame rate is known.
        (&["--stride", "0.01"][..], 2, "--stride 0.01"),
        (&["--stride=-3"][..], 2, "'-3' for '--stride"),
        (&["--plot", "chart.jpg"][..], 2, "'chart.jpg' for '--plot"),
        (&["--batch-size", "0"][..], 2, "'0' for '--batch-size"),
    ] {
        let out = output_within(timeline_cmd(&dir, "segments.mp4", args), HANG_GUARD_S);
        assert_eq!(out.status.code(), Some(code), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(want), "{args:?}: {stderr}");
    }
    // --stride without --timeline: clap's usage error.
    let out = output_within(
        {
            let mut cmd = Command::new(common::bin());
            cmd.args(["score", "segments.mp4", "--stride", "2"])
                .current_dir(&dir);
            cmd
        },
        HANG_GUARD_S,
    );
    assert_eq!(out.status.code(), Some(2));
    // A URL nothing answers: named, exit 1, no rows file left behind.
    let never = dir.join("runs/never.csv");
    let out = output_within(
        timeline_cmd(
            &dir,
            "http://127.0.0.1:9/none.mp4",
            &["--out", never.to_str().unwrap()],
        ),
        HANG_GUARD_S,
    );
    assert_fails_naming(&out, "http://127.0.0.1:9/none.mp4", "cannot open");
    assert!(!never.exists());
}

// ---------------------------------------------------------------------------------------
// Message formatting (issue 11).

/// The OS error of a missing file is printed once: it used to be both part of the message
/// and its `source()`, which the chained print repeated ("No such file or directory (os
/// error 2): No such file or directory (os error 2)").
#[test]
fn missing_file_names_the_os_error_once() {
    let dir = fixtures();
    let out = score(&["nowhere.mp4"], &dir);
    assert_fails_naming(&out, "nowhere.mp4", "no such file");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        stderr.matches("No such file or directory").count(),
        1,
        "{stderr}"
    );
    assert_eq!(stderr.matches("os error 2").count(), 1, "{stderr}");
}

/// A `%` in a file name is part of the name: FFmpeg's image demuxer used to read `shot%d.png`
/// as a numbered sequence, look for `shot0.png`…, and report the existing file as missing.
#[test]
fn percent_in_a_file_name_opens_that_file() {
    let dir = tempfile::tempdir().unwrap();
    let image = dir.path().join("shot%d.png");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=64x48",
        "-frames:v",
        "1",
        "-update",
        "1",
        image.to_str().unwrap(),
    ]);
    // Opened and recognised as an image: the video model refuses it by kind, before weights.
    let out = score(&["shot%d.png", "--model", "r3d_18"], dir.path());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("shot%d.png: is an image, but model r3d_18 is a video model"),
        "{stderr}"
    );
    assert!(!stderr.contains("No such file"), "{stderr}");
}

/// `scripts/gpu_check.sh` on a machine without CUDA says so and exits 0, before building
/// anything (on a GPU machine it is the full check, run by hand: not here).
#[test]
fn gpu_check_without_cuda_says_so_and_exits_0() {
    if tch::Cuda::is_available() {
        eprintln!("a CUDA device is present: scripts/gpu_check.sh is the full check, run by hand");
        return;
    }
    let out = Command::new("bash")
        .arg(common::repo().join("scripts/gpu_check.sh"))
        .arg(std::env::temp_dir().join("gpu_check-never-written.md"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("no CUDA device"), "{stdout}");
    assert!(!stdout.contains("== build"), "nothing is built: {stdout}");
}

// ---- timeline MC-Dropout identity ----

/// A timeline window's MC-Dropout masks follow the input's name and the window's position,
/// not its place in a forward: S3D (head dropout 0.2) gives the same `mc_dropout` per window
/// with one window per forward as with two.
#[test]
fn timeline_mc_dropout_does_not_depend_on_the_batch_size() {
    let dir = tempfile::tempdir().unwrap();
    // Two S3D windows (128 frames at 15 fps each) and a tail.
    let clip = dir.path().join("walk.mp4");
    common::ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=160x120:rate=15",
        "-t",
        "18",
        "-pix_fmt",
        "yuv420p",
        clip.to_str().unwrap(),
    ]);
    let weights = common::model_fixture("s3d", 2, 13, 209).join("state_zip.pth");
    let run = |batch: &str| {
        let mut cmd = Command::new(common::bin());
        cmd.args([
            "score",
            "walk.mp4",
            "--timeline",
            "--json",
            "--device",
            "cpu",
        ])
        .args(["--model", "s3d", "--weights", weights.to_str().unwrap()])
        .args(["--scores", "mc_dropout", "--batch-size", batch])
        .current_dir(dir.path());
        json_rows(&ok_stdout(&output_within(cmd, HANG_GUARD_S)))
    };
    let mc = |rows: &[serde_json::Value]| -> Vec<f64> {
        rows.iter()
            .map(|r| r["scores"]["mc_dropout"].as_f64().unwrap())
            .collect()
    };
    let one = mc(&run("1"));
    let two = mc(&run("2"));
    assert!(one.len() >= 2, "{one:?}");
    // Equal masks: equal up to the forward's batch-size rounding (~1e-11 here); other masks
    // moved it by ~1e-5 (windows sharing masks by batch position, before this was fixed).
    assert_eq!(one.len(), two.len());
    for (a, b) in one.iter().zip(&two) {
        assert!(common::close(*a, *b, 1e-8), "{one:?}\n{two:?}");
    }
}

// ---- progress ----

/// A command run under a pseudo-terminal (util-linux `script`), its terminal output read as
/// it comes.
struct Terminal {
    child: std::process::Child,
    seen: std::sync::Arc<std::sync::Mutex<Vec<u8>>>,
}

impl Terminal {
    /// `args` to the binary in `dir`, `exec`ed by `script`'s shell so that the binary is the
    /// terminal's process (a TERM of `xterm`, which the progress display needs).
    fn start(dir: &Path, args: &[&str]) -> Terminal {
        let line = std::iter::once(common::bin().to_str().unwrap().to_string())
            .chain(args.iter().map(|a| a.to_string()))
            .map(|a| format!("'{}'", a.replace('\'', r"'\''")))
            .collect::<Vec<_>>()
            .join(" ");
        let mut child = Command::new("script")
            .args(["-qefc", &format!("exec {line}"), "/dev/null"])
            .current_dir(dir)
            .env("TERM", "xterm")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            // `script`'s own notes ("Session terminated…" when a test ends it).
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("util-linux `script` runs the command under a pseudo-terminal");
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let mut out = child.stdout.take().unwrap();
        let sink = std::sync::Arc::clone(&seen);
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            loop {
                match std::io::Read::read(&mut out, &mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => sink.lock().unwrap().extend_from_slice(&buf[..n]),
                }
            }
        });
        Terminal { child, seen }
    }

    fn capture(&self) -> String {
        String::from_utf8_lossy(&self.seen.lock().unwrap()).into_owned()
    }

    /// The output once it contains `text` (panics after `secs` or if the run ends first).
    fn wait_for(&mut self, text: &str, secs: u64) -> String {
        let start = std::time::Instant::now();
        loop {
            let seen = self.capture();
            if seen.contains(text) {
                return seen;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("the run ended ({status}) before showing {text:?}:\n{seen}");
            }
            assert!(
                start.elapsed().as_secs() < secs,
                "no {text:?} within {secs} s:\n{seen}"
            );
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    }

    fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Waits for the run to end by itself (panics after `secs`): its exit status and output.
    fn finish(&mut self, secs: u64) -> (Option<i32>, String) {
        let start = std::time::Instant::now();
        while self.running() {
            assert!(
                start.elapsed().as_secs() < secs,
                "not done within {secs} s:\n{}",
                self.capture()
            );
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        // The reader has the last bytes once the terminal closes.
        std::thread::sleep(std::time::Duration::from_millis(300));
        let code = self.child.wait().ok().and_then(|s| s.code());
        (code, self.capture())
    }
}

impl Drop for Terminal {
    /// Pass or fail, the run ends with the test: SIGTERM to `script`, which ends its session
    /// (the binary), then SIGKILL if it is still there.
    fn drop(&mut self) {
        if !self.running() {
            return;
        }
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        for _ in 0..50 {
            if !self.running() {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The last frame a terminal display drew: the last non-empty line between carriage
/// returns and newlines, without escape sequences.
fn last_frame(seen: &str) -> String {
    let mut plain = String::new();
    let mut chars = seen.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // CSI: ESC [ parameters final-byte.
            if chars.peek() == Some(&'[') {
                chars.next();
                for c in chars.by_ref() {
                    if c.is_ascii_alphabetic() {
                        break;
                    }
                }
            }
            continue;
        }
        plain.push(c);
    }
    plain
        .split(['\r', '\n'])
        .map(str::trim)
        .rfind(|l| elapsed_of(l).is_some())
        .unwrap_or_default()
        .to_string()
}

/// The `[hh:mm:ss]` elapsed time a frame shows, in seconds.
fn elapsed_of(frame: &str) -> Option<u64> {
    let at = frame.find('[')?;
    let t = frame.get(at + 1..at + 10)?;
    let b = t.as_bytes();
    if b[2] != b':' || b[5] != b':' || b[8] != b']' {
        return None;
    }
    let n = |r: std::ops::Range<usize>| t[r].parse::<u64>().ok();
    Some(n(0..2)? * 3600 + n(3..5)? * 60 + n(6..8)?)
}

/// Two captures of a live display 1.5 s apart, the run still going: the later one differs
/// and shows a later elapsed time.
fn two_live_captures(term: &mut Terminal, first: String) -> (String, String) {
    std::thread::sleep(std::time::Duration::from_millis(1600));
    let second = term.capture();
    assert!(
        term.running(),
        "the run ended before the second capture: give it more work\n{second}"
    );
    let (a, b) = (last_frame(&first), last_frame(&second));
    assert_ne!(a, b, "the display did not change in 1.5 s:\n{second}");
    let (ta, tb) = (elapsed_of(&a), elapsed_of(&b));
    assert!(
        tb.is_some() && tb > ta,
        "no later elapsed time: {a:?} then {b:?}"
    );
    (a, b)
}

/// `score --scores all` on a terminal names each stage as it runs (down to the engine's
/// backward passes) and redraws with the elapsed time while a stage lasts.
#[test]
fn score_shows_its_stages_live_on_a_terminal() {
    let dir = fixtures();
    let mut term = Terminal::start(
        &dir,
        &[
            "score",
            "clip.mp4",
            "--weights",
            "r3d_18-seeded.pth",
            "--device",
            "cpu",
            "--scores",
            "all",
        ],
    );
    let first = term.wait_for("backward ", 600);
    assert!(first.contains("score: decoding clip.mp4"), "{first}");
    assert!(first.contains("score: loading r3d_18"), "{first}");
    assert!(first.contains("score: forward"), "{first}");
    let (_, later) = two_live_captures(&mut term, first);
    assert!(later.contains("score: "), "{later}");
}

/// `batch` on a terminal: a bar redrawn every second with the elapsed time, the video being
/// scored, the rate, errors and ETA, while one long video is scored.
#[test]
fn batch_bar_redraws_live_on_a_terminal() {
    let fixtures = fixtures();
    let dir = tempfile::tempdir().unwrap();
    let mut list = String::new();
    for i in 1..=3 {
        let copy = dir.path().join(format!("v{i}.mp4"));
        std::fs::copy(fixtures.join("clip.mp4"), copy).unwrap();
        list.push_str(&format!("v{i}.mp4 {i}\n"));
    }
    std::fs::write(dir.path().join("list.txt"), list).unwrap();
    let weights = fixtures.join("r3d_18-seeded.pth");
    let mut term = Terminal::start(
        dir.path(),
        &[
            "batch",
            "--list",
            "list.txt",
            "--out",
            "out.csv",
            "--weights",
            weights.to_str().unwrap(),
            "--devices",
            "cpu",
            "--scores",
            "all",
            "--batch-size",
            "5",
        ],
    );
    let first = term.wait_for("scoring v1.mp4", 600);
    let (_, later) = two_live_captures(&mut term, first);
    for part in ["/3 videos", "error(s)", "ETA "] {
        assert!(later.contains(part), "{part:?} missing: {later:?}");
    }
    assert!(
        later.contains("clips/s") || later.contains("s/clip"),
        "no rate: {later:?}"
    );
    let second = term.capture();
    assert!(second.contains("scoring v1.mp4"), "{second}");
}

/// `-q` on a terminal: no progress display, no `batch:` log lines; results and the summary
/// still print. Without a terminal, `batch` logs plain lines, and `-q` silences them too.
#[test]
fn quiet_shows_no_progress() {
    let fixtures = fixtures();
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(fixtures.join("short.mp4"), dir.path().join("v1.mp4")).unwrap();
    std::fs::write(dir.path().join("list.txt"), "v1.mp4 1\n").unwrap();
    let weights = fixtures.join("r3d_18-seeded.pth");
    let batch: Vec<&str> = vec![
        "batch",
        "--list",
        "list.txt",
        "--out",
        "out.csv",
        "--weights",
        weights.to_str().unwrap(),
        "--devices",
        "cpu",
    ];
    let no_progress = |seen: &str| {
        last_frame(seen).is_empty()
            && !seen.contains("ETA")
            && !seen.contains("batch:")
            && !seen.contains("score: ")
    };

    let quiet = [&["-q"][..], &batch[..]].concat();
    let (code, seen) = Terminal::start(dir.path(), &quiet).finish(600);
    assert_eq!(code, Some(0), "{seen}");
    assert!(seen.contains("videos: 1 ok"), "{seen}");
    assert!(no_progress(&seen), "progress despite -q:\n{seen}");

    let score = [
        "score",
        "v1.mp4",
        "--quiet",
        "--scores",
        "fast",
        "--weights",
        weights.to_str().unwrap(),
        "--device",
        "cpu",
    ];
    let (code, seen) = Terminal::start(dir.path(), &score).finish(600);
    assert_eq!(code, Some(0), "{seen}");
    assert!(seen.contains("gradtrust"), "{seen}");
    assert!(no_progress(&seen), "progress despite --quiet:\n{seen}");

    // No terminal: plain log lines, none with -q.
    let piped = |extra: &[&str]| {
        let out = Command::new(common::bin())
            .args(extra)
            .args(&batch)
            .current_dir(dir.path())
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    std::fs::remove_file(dir.path().join("out.csv")).unwrap();
    let logged = piped(&[]);
    assert!(logged.contains("batch: 1/1 videos"), "{logged}");
    assert!(!logged.contains('\r'), "{logged}");
    std::fs::remove_file(dir.path().join("out.csv")).unwrap();
    let silent = piped(&["-q"]);
    assert!(!silent.contains("batch:"), "{silent}");
}

// ---- CLI conventions ----

/// The binary with `args`, in a directory where nothing it names exists; downloads go
/// nowhere.
fn cli(args: &[&str]) -> Output {
    let dir = tempfile::tempdir().unwrap();
    cli_in(dir.path(), args).output().unwrap()
}

fn cli_in(dir: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(common::bin());
    cmd.args(args)
        .current_dir(dir)
        .env("GRADTRUST_WEIGHTS_URL", "http://127.0.0.1:9/")
        .env("GRADTRUST_MODELS_DIR", dir.join("models"));
    cmd
}

/// Every bad flag value is clap's usage error: exit status 2, the flag named, no panic,
/// before any file is opened.
#[test]
fn every_invalid_flag_value_exits_2_naming_the_flag() {
    let batch: &[&str] = &["batch", "--list", "never.csv", "--out", "never-out.csv"];
    let score: &[&str] = &["score", "never.mp4"];
    let timeline: &[&str] = &["score", "never.mp4", "--timeline"];
    let eval: &[&str] = &["eval", "never.csv"];
    let merge: &[&str] = &["merge", "merged.csv", "never.csv"];
    let cases: &[(&[&str], &[&str], &str)] = &[
        (batch, &["--shard", "3/2"], "--shard"),
        (batch, &["--shard", "1"], "--shard"),
        (batch, &["--shard", "0/0"], "--shard"),
        (batch, &["--devices", "cuda:x"], "--devices"),
        (batch, &["--device", "tpu"], "--devices"),
        (batch, &["--devices", "cuda:4294967296"], "--devices"),
        (batch, &["--devices", ","], "--devices"),
        // Mixed on a machine with CUDA, a missing device on one without: both refused.
        (batch, &["--devices", "cpu,cuda:0"], "--devices"),
        (batch, &["--batch-size", "0"], "--batch-size"),
        (
            batch,
            &["--batch-size", "99999999999999999999"],
            "--batch-size",
        ),
        (batch, &["--threads", "4294967296"], "--threads"),
        (batch, &["--threads", "0"], "--threads"),
        (batch, &["--clips-per-video", "0"], "--clips-per-video"),
        (
            batch,
            &["--decode-workers", "4294967296"],
            "--decode-workers",
        ),
        (batch, &["--limit", "0"], "--limit"),
        (batch, &["--limit=-1"], "--limit"),
        (batch, &["--mc-passes", "0"], "--mc-passes"),
        (batch, &["--backward-chunk", "0"], "--backward-chunk"),
        (batch, &["--odin-temperature", "0"], "--odin-temperature"),
        (batch, &["--odin-temperature", "nan"], "--odin-temperature"),
        (batch, &["--odin-epsilon=-0.1"], "--odin-epsilon"),
        (batch, &["--odin-epsilon", "inf"], "--odin-epsilon"),
        (batch, &["--scores", "softmax,trust"], "--scores"),
        (batch, &["--scores", ","], "--scores"),
        (batch, &["--model", "r3d18"], "--model"),
        (batch, &["--format", "tsv"], "--format"),
        (batch, &["--gradtrust", "exact"], "--gradtrust"),
        (score, &["--device", "cuda:x"], "--device"),
        (score, &["--devices", "gpu"], "--device"),
        (score, &["--batch-size", "0"], "--batch-size"),
        (score, &["--scores", "nope"], "--scores"),
        (score, &["--mc-passes", "0"], "--mc-passes"),
        (score, &["--model", "resnet"], "--model"),
        (timeline, &["--stride", "0"], "--stride"),
        (timeline, &["--stride", "inf"], "--stride"),
        (timeline, &["--stride=-3"], "--stride"),
        (timeline, &["--plot", "chart.pdf"], "--plot"),
        (timeline, &["--batch-size", "0"], "--batch-size"),
        (eval, &["--bootstrap=-1"], "--bootstrap"),
        (eval, &["--bootstrap", "99999999999"], "--bootstrap"),
        (eval, &["--metric", "auc"], "--metric"),
        (eval, &["--level", "frame"], "--level"),
        (eval, &["--scores", "trust"], "--scores"),
        (merge, &["--limit", "0"], "--limit"),
        (&["fetch", "r3d18"], &[], "<MODEL>"),
        (&["completions", "tcsh"], &[], "<SHELL>"),
    ];
    // All at once: each spends its time starting (loading libtorch), not parsing.
    let dir = tempfile::tempdir().unwrap();
    let runs: Vec<_> = cases
        .iter()
        .map(|(command, extra, flag)| {
            let args = [*command, *extra].concat();
            let child = cli_in(dir.path(), &args)
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap();
            (args, child, flag)
        })
        .collect();
    for (args, child, flag) in runs {
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        assert!(
            stderr.contains(flag),
            "{args:?} does not name {flag}: {stderr}"
        );
        assert!(stderr.contains("invalid value"), "{args:?}: {stderr}");
    }
}

/// A flag value wrong only for the model it is given with is a usage error too.
#[test]
fn flag_values_wrong_for_the_model_exit_2() {
    let batch = ["batch", "--list", "never.csv", "--out", "o.csv"];
    let preset_of_registry_model =
        [&batch[..], &["--model", "r3d_18", "--preset", "r3d_18"]].concat();
    // A --preset naming nothing: the library's message, the flag added by the CLI.
    let unknown_preset = [
        &batch[..],
        &[
            "--model",
            "torchscript",
            "--weights",
            "module.pt",
            "--preset",
            "r3d",
        ],
    ]
    .concat();
    let cases: [(&[&str], &str); 4] = [
        (
            &preset_of_registry_model,
            "--preset and --classifier are for --model torchscript",
        ),
        (
            &unknown_preset,
            "--preset: preset \"r3d\": not a model or family name",
        ),
        (
            &[
                "batch",
                "--list",
                "l.csv",
                "--out",
                "o.csv",
                "--model",
                "torchscript",
            ],
            "--preset",
        ),
        (
            &["fetch", "swin3d_b", "--weights-file", "swin3d_b_33k.pth"],
            "--weights-file",
        ),
    ];
    for (args, want) in cases {
        let out = cli(args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(want), "{args:?}: {stderr}");
    }
}

/// `--model` with a typo: clap suggests the registry's name; the list is in `--help`.
#[test]
fn model_typo_suggests_the_name_and_help_lists_every_model() {
    for command in [
        &["score", "never.mp4"][..],
        &["batch", "--list", "l.csv", "--out", "o.csv"],
    ] {
        let out = cli(&[command, &["--model", "r3d18"]].concat());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains("'r3d_18'"), "{stderr}");
        assert!(stderr.contains("similar"), "{stderr}");
    }
    let out = cli(&["score", "--help"]);
    let help = String::from_utf8_lossy(&out.stdout);
    for spec in gradtrust_video::models::all() {
        assert!(
            help.contains(&format!("- {}:", spec.name)),
            "{}: {help}",
            spec.name
        );
    }
    assert!(help.contains("- torchscript:"), "{help}");
    // fetch downloads torchvision files: no torchscript there.
    let out = cli(&["fetch", "--help"]);
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(
        help.contains("- r3d_18:") && !help.contains("torchscript"),
        "{help}"
    );
}

/// `score` takes `--devices` and `batch` takes `--device` (the same flag under both names):
/// each gets past parsing to the missing input (exit 1, named), not a usage error.
#[test]
fn device_and_devices_are_accepted_by_score_and_batch() {
    for args in [
        &["score", "never.mp4", "--devices", "cpu"][..],
        &["score", "never.mp4", "--device", "cpu,cpu"],
        &[
            "batch",
            "--list",
            "never.csv",
            "--out",
            "o.csv",
            "--device",
            "cpu",
        ],
        &[
            "batch",
            "--list",
            "never.csv",
            "--out",
            "o.csv",
            "--devices",
            "cpu,cpu",
        ],
    ] {
        let out = cli(args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(stderr.contains("never."), "{args:?}: {stderr}");
    }
}

#[test]
fn every_subcommand_help_has_examples() {
    for sub in [
        "score",
        "batch",
        "merge",
        "eval",
        "models",
        "fetch",
        "completions",
    ] {
        for flag in ["--help", "-h"] {
            let out = cli(&[sub, flag]);
            let help = String::from_utf8_lossy(&out.stdout);
            assert_eq!(out.status.code(), Some(0), "{sub} {flag}");
            let examples = help
                .split_once("Examples:")
                .map(|(_, e)| e)
                .unwrap_or_else(|| panic!("{sub} {flag}: no examples: {help}"));
            assert!(
                examples.contains(&format!("gradtrust-video {sub}")),
                "{sub}: {examples}"
            );
        }
    }
}

/// `models --json`: one object per registry model, in order, with whether its file is
/// present in the models directory.
#[test]
fn models_json_has_one_object_per_model() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("r3d_18-b3b3357e.pth"), b"").unwrap();
    let out = Command::new(common::bin())
        .args(["models", "--json", "--models-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let models = json.as_array().expect("an array");
    let names: Vec<&str> = models.iter().map(|m| m["name"].as_str().unwrap()).collect();
    let registry: Vec<&str> = gradtrust_video::models::all().map(|s| s.name).collect();
    assert_eq!(names, registry);
    for (m, spec) in models.iter().zip(gradtrust_video::models::all()) {
        assert_eq!(m["family"], spec.family);
        assert_eq!(m["weights_file"], spec.weight_file);
        assert_eq!(m["classifier"], spec.classifier_key);
        assert_eq!(m["classes"], spec.num_classes());
        assert_eq!(m["gflops"], spec.gflops);
        assert!(m["params"].as_u64().unwrap() > 0, "{m}");
        assert_eq!(m["weights_present"], spec.name == "r3d_18", "{m}");
        assert_eq!(m["classifier_shape"][0], spec.num_classes());
    }
}

#[test]
fn completions_generate_for_bash_zsh_and_fish() {
    for shell in ["bash", "zsh", "fish"] {
        let out = cli(&["completions", shell]);
        let script = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(0), "{shell}");
        assert!(script.contains("batch"), "{shell}: {script}");
        assert!(script.contains("shard"), "{shell}: {script}");
        assert!(script.contains("r3d_18"), "{shell}: model names: {script}");
    }
}

/// A missing list or results file: the path and the OS error, once.
#[test]
fn missing_inputs_print_the_os_error_once() {
    for (args, path) in [
        (
            &[
                "batch",
                "--list",
                "nowhere.csv",
                "--out",
                "o.csv",
                "--device",
                "cpu",
            ][..],
            "nowhere.csv",
        ),
        (&["eval", "nowhere-results.csv"], "nowhere-results.csv"),
        (&["score", "nowhere.mp4", "--device", "cpu"], "nowhere.mp4"),
    ] {
        let out = cli(args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(stderr.contains(path), "{stderr}");
        assert_eq!(stderr.matches("os error 2").count(), 1, "{stderr}");
        assert_eq!(stderr.matches("No such file").count(), 1, "{stderr}");
    }
}

// ---- score output ----

/// `score`'s JSON and text on the seeded r3d_18: keys in the README's order, float32 scores
/// as their shortest decimals, one video top-5 with torchvision's summed-softmax top-1 only
/// where it differs, fractions and four significant digits, the legend and the note that
/// MC-Dropout reduces to entropy on a model without head dropout.
#[test]
fn score_output_reads_as_documented() {
    let dir = fixtures();
    let json_out = score(&["clip.mp4", "--json", "--scores", "fast"], &dir);
    let json_text = String::from_utf8_lossy(&json_out.stdout).into_owned();
    assert!(
        json_out.status.success(),
        "{}",
        String::from_utf8_lossy(&json_out.stderr)
    );
    // Top-level keys in the documented order (positions in the text, whatever the parser).
    let at = |key: &str| {
        json_text
            .find(&format!("\"{key}\":"))
            .unwrap_or_else(|| panic!("no {key}: {json_text}"))
    };
    let order = [
        "model",
        "kind",
        "path",
        "frames_decoded",
        "fps",
        "video",
        "top5_softmax_sum",
        "clips",
    ];
    for pair in order.windows(2) {
        assert!(at(pair[0]) < at(pair[1]), "{pair:?}: {json_text}");
    }
    assert!(json_text.rfind("\"notes\":").unwrap() > at("clips"));
    let v: serde_json::Value = serde_json::from_str(&json_text).unwrap();
    // GradTrust comes from float32 logits: its shortest float32 decimal, at most 9 digits.
    for level in std::iter::once(&v["video"]).chain(v["clips"].as_array().unwrap()) {
        let gt = level["scores"]["gradtrust"].to_string();
        let digits = gt.chars().filter(char::is_ascii_digit).count();
        assert!(digits <= 9, "gradtrust {gt} is not float32's shortest form");
        let x: f64 = gt.parse().unwrap();
        assert_eq!((x as f32).to_string(), gt.trim_end_matches(".0"));
    }
    let note = "mc_dropout: r3d_18 has no dropout";
    assert!(v["notes"].to_string().contains(note), "{}", v["notes"]);

    let text_out = score(&["clip.mp4", "--scores", "fast"], &dir);
    let text = String::from_utf8_lossy(&text_out.stdout).into_owned();
    assert!(text_out.status.success());
    assert!(!text.contains('%'), "probabilities are fractions: {text}");
    assert!(
        text.contains("log_likelihood") && text.contains("the top logit"),
        "{text}"
    );
    assert!(text.contains("reduces to entropy"), "{text}");
    // The summed-softmax top-1 is said only where it differs from the video's top-1.
    let differs = v["video"]["top5"][0]["index"] != v["video"]["top5_softmax_sum"][0]["index"];
    assert_eq!(
        text.contains("summed clip softmax puts"),
        differs,
        "{}\n{text}",
        v["video"]
    );
    // The video's top-1 line once, with each clip's own: 1 + 5 lines "  1. ".
    assert_eq!(text.matches("\n  1. ").count(), 6, "{text}");
    // Each score value to four significant digits.
    let video_scores = v["video"]["scores"].as_object().unwrap();
    let mut checked = 0;
    for line in text
        .lines()
        .skip_while(|l| !l.starts_with("video:"))
        .take_while(|l| !l.starts_with("clip "))
    {
        let mut words = line.split_whitespace();
        let (Some(name), Some(value)) = (words.next(), words.next()) else {
            continue;
        };
        let Some(want) = video_scores.get(name).and_then(|v| v.as_f64()) else {
            continue;
        };
        let mantissa = value.split('e').next().unwrap();
        let digits = mantissa
            .trim_start_matches(['-', '0', '.'])
            .chars()
            .filter(char::is_ascii_digit)
            .count();
        assert_eq!(digits, 4, "{line}");
        let got: f64 = value.parse().unwrap();
        assert!((got - want).abs() <= 6e-4 * want.abs(), "{line} vs {want}");
        checked += 1;
    }
    assert_eq!(checked, video_scores.len(), "{text}");
}

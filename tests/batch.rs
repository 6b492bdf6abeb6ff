//! `gradtrust-video batch` and `merge` end to end on a generated Kinetics-like tree: rows equal
//! `score`'s, error rows for missing and corrupt files, resume after SIGKILL, shards + merge,
//! the three list formats, and `eval` reading the output.
mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use common::{cached_fixture, ffmpeg};

const LABELS: [&str; 5] = [
    "abseiling",
    "passing American football (in game)",
    "massaging person's head",
    "tai chi",
    "air drumming",
];
const GOOD: usize = 30;
const SOURCES: [&str; 7] = [
    "testsrc2",
    "testsrc",
    "smptebars",
    "rgbtestsrc",
    "mandelbrot",
    "cellauto",
    "life",
];

fn yt(i: usize) -> String {
    format!("yt-{i:02}_Qz")
}

fn kinetics_id(i: usize) -> String {
    format!("{}_{:06}_{:06}", yt(i), i, i + 10)
}

/// `root/…` path of good video `i`: flat, in `<label>/`, or in `<label with _>/`; mostly mp4.
fn rel_path(i: usize) -> String {
    let label = LABELS[i % LABELS.len()];
    let ext = if i % 7 == 3 {
        "mkv"
    } else if i % 11 == 5 {
        "avi"
    } else {
        "mp4"
    };
    let name = format!("{}.{ext}", kinetics_id(i));
    match i % 3 {
        0 => name,
        1 => format!("{label}/{name}"),
        _ => format!("{}/{name}", label.replace(' ', "_")),
    }
}

/// The tree, seeded r3d_18 weights as the user's own `r3d_18-seeded.pth` (under torchvision's
/// name they would be refused: their SHA-256 is not the one the name promises) and the three
/// lists.
fn fixtures() -> PathBuf {
    let weights = common::model_fixture("r3d_18", 2, 8, 112);
    let dir = cached_fixture("batch-tree-v3", |dir| {
        std::fs::copy(weights.join("state_zip.pth"), dir.join("r3d_18-seeded.pth")).unwrap();
        let root = dir.join("root");
        let mut kinetics = String::from("label,youtube_id,time_start,time_end,split,is_cc\n");
        let mut csv_list = String::from("path,label\n");
        let mut space_list = String::new();
        for i in 0..GOOD {
            // A corrupt file and a missing one, early in the list (so --limit runs have them).
            if i == 4 {
                let corrupt = "corrupt-vid_000001_000011.mp4";
                std::fs::write(root.join(corrupt), vec![0x5au8; 4096]).unwrap();
                kinetics.push_str("abseiling,corrupt-vid,1,11,val,0\n");
                csv_list.push_str(&format!("{corrupt},abseiling\n"));
                space_list.push_str(&format!("{corrupt} 0\n"));
            }
            if i == 8 {
                let label = "massaging person's head";
                let index = gradtrust_video::labels::LabelSet::Kinetics400
                    .index_of(label)
                    .unwrap();
                kinetics.push_str(&format!("\"{label}\",missing-vid,2,12,val,0\n"));
                csv_list.push_str(&format!("missing-vid_000002_000012.mp4,{label}\n"));
                space_list.push_str(&format!("missing-vid_000002_000012.mp4 {index}\n"));
            }
            let label = LABELS[i % LABELS.len()];
            let rel = rel_path(i);
            let path = root.join(&rel);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            let src = SOURCES[i % SOURCES.len()];
            let secs = format!("{:.1}", 1.2 + 0.2 * (i % 4) as f64);
            let input = format!("{src}=size=160x120:rate=25");
            let codec: &[&str] = if rel.ends_with(".avi") {
                &["-c:v", "mpeg4"]
            } else {
                &["-c:v", "libx264", "-pix_fmt", "yuv420p"]
            };
            let mut args = vec!["-f", "lavfi", "-i", &input, "-t", &secs];
            // Different content for repeated sources: a hue shift.
            let hue = format!("hue=h={}", i * 37);
            args.extend(["-vf", &hue]);
            args.extend(codec);
            let out = path.to_str().unwrap().to_string();
            args.push(&out);
            ffmpeg(&args);
            kinetics.push_str(&format!("\"{label}\",{},{i},{},val,0\n", yt(i), i + 10));
            // Labels by name, a few by index.
            let label_cell = if i % 4 == 0 {
                format!(
                    "{}",
                    gradtrust_video::labels::LabelSet::Kinetics400
                        .index_of(label)
                        .unwrap()
                )
            } else {
                format!("\"{label}\"")
            };
            csv_list.push_str(&format!("\"{rel}\",{label_cell}\n"));
            space_list.push_str(&format!(
                "{rel} {}\n",
                gradtrust_video::labels::LabelSet::Kinetics400
                    .index_of(label)
                    .unwrap()
            ));
        }
        std::fs::write(dir.join("kinetics.csv"), kinetics).unwrap();
        std::fs::write(dir.join("list.csv"), csv_list).unwrap();
        std::fs::write(dir.join("list.txt"), space_list).unwrap();
    });
    // Where the tests write their runs and lists, whichever test comes first.
    std::fs::create_dir_all(dir.join("runs")).unwrap();
    dir
}

fn batch_cmd(dir: &Path, list: &str, out: &Path, extra: &[&str]) -> Command {
    let mut cmd = Command::new(common::bin());
    cmd.arg("batch")
        .args(["--list", list, "--root", "root", "--out"])
        .arg(out)
        .args(["--weights-url", "http://127.0.0.1:9/"])
        .args(extra)
        .current_dir(dir);
    if !extra.contains(&"--weights") {
        cmd.args(["--weights", "r3d_18-seeded.pth"]);
    }
    if !extra.contains(&"--devices") {
        cmd.args(["--devices", "cpu"]);
    }
    cmd
}

fn batch(dir: &Path, list: &str, out: &Path, extra: &[&str]) -> Output {
    batch_cmd(dir, list, out, extra).output().unwrap()
}

/// The quick protocol the tests run with (one clip per video), except where rows are compared
/// with `score`.
const QUICK: [&str; 2] = ["--clips-per-video", "1"];

/// Rows of a results CSV keyed by (id, level, clip), without the `seconds` column.
type Rows = BTreeMap<(String, String, String), BTreeMap<String, String>>;

fn read_rows(path: &Path) -> Rows {
    let mut reader = csv::Reader::from_path(path).unwrap();
    let header: Vec<String> = reader.headers().unwrap().iter().map(String::from).collect();
    let mut rows = Rows::new();
    for record in reader.records() {
        let record = record.unwrap();
        let mut row: BTreeMap<String, String> = header
            .iter()
            .cloned()
            .zip(record.iter().map(String::from))
            .collect();
        row.remove("seconds");
        let key = (row["id"].clone(), row["level"].clone(), row["clip"].clone());
        assert!(
            rows.insert(key.clone(), row).is_none(),
            "{}: row {key:?} doubled",
            path.display()
        );
    }
    rows
}

/// The ids of the Kinetics list in order (the first `n`).
fn list_ids(n: usize) -> Vec<String> {
    let mut ids = Vec::new();
    for i in 0..GOOD {
        if i == 4 {
            ids.push("corrupt-vid_000001_000011".to_string());
        }
        if i == 8 {
            ids.push("missing-vid_000002_000012".to_string());
        }
        ids.push(kinetics_id(i));
    }
    ids.truncate(n);
    ids
}

/// `rows` restricted to the videos `ids`.
fn only(rows: &Rows, ids: &[String]) -> Rows {
    rows.iter()
        .filter(|((id, _, _), _)| ids.contains(id))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// The same rows, cell by cell. Numbers agree to float rounding: libtorch's CPU kernels are
/// not bitwise invariant to how many clips share a forward, and batches form as videos
/// arrive; everything else (predictions, labels, statuses) is equal.
fn assert_same_rows(got: &Rows, want: &Rows, what: &str) {
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        want.keys().collect::<Vec<_>>(),
        "{what}: not the same rows"
    );
    for (key, want_row) in want {
        let got_row = &got[key];
        assert_eq!(
            got_row.keys().collect::<Vec<_>>(),
            want_row.keys().collect::<Vec<_>>(),
            "{what} {key:?}: columns"
        );
        for (column, w) in want_row {
            let g = &got_row[column];
            let same = g == w
                || matches!((g.parse::<f64>(), w.parse::<f64>()),
                    (Ok(a), Ok(b)) if (a - b).abs() <= 1e-4 * b.abs() + 1e-6);
            assert!(same, "{what} {key:?} {column}: {g:?} vs {w:?}");
        }
    }
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// One uninterrupted run over the Kinetics list (shared by the tests that compare with it).
fn reference() -> &'static (PathBuf, Output) {
    static REF: OnceLock<(PathBuf, Output)> = OnceLock::new();
    REF.get_or_init(|| {
        let dir = fixtures();
        let out = dir.join("runs/reference.csv");
        let _ = std::fs::remove_file(&out);
        let output = batch(&dir, "kinetics.csv", &out, &QUICK);
        (out, output)
    })
}

#[test]
fn single_run_rows_errors_and_exit_status() {
    let (out, output) = reference();
    let err = stderr(output);
    assert_eq!(output.status.code(), Some(3), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    let rows = read_rows(out);
    let videos: Vec<_> = rows.values().filter(|r| r["level"] == "video").collect();
    assert_eq!(videos.len(), GOOD + 2);
    let clips = rows.values().filter(|r| r["level"] == "clip").count();
    assert_eq!(clips, GOOD);
    let by_id = |id: &str| {
        rows.get(&(id.to_string(), "video".to_string(), String::new()))
            .unwrap_or_else(|| panic!("no video row for {id}"))
    };
    let missing = by_id("missing-vid_000002_000012");
    assert!(
        missing["status"].contains("missing-vid_000002_000012: no video file under"),
        "{missing:?}"
    );
    assert_eq!(missing["label"], "massaging person's head");
    assert_eq!(missing["pred_index"], "");
    let corrupt = by_id("corrupt-vid_000001_000011");
    assert!(
        corrupt["status"].contains("corrupt-vid_000001_000011.mp4"),
        "{corrupt:?}"
    );
    assert_ne!(corrupt["status"], "ok");
    for i in 0..GOOD {
        let row = by_id(&kinetics_id(i));
        assert_eq!(row["status"], "ok", "{row:?}");
        assert_eq!(row["path"], format!("root/{}", rel_path(i)));
        assert_eq!(row["label"], LABELS[i % LABELS.len()]);
        assert_eq!(row["top5"].split(' ').count(), 5);
        assert!(row["gradtrust"].parse::<f64>().unwrap() >= 1.0);
        assert!(!row["correct"].is_empty() && !row["correct_softmax_sum"].is_empty());
    }
    let summary = String::from_utf8_lossy(&output.stdout);
    assert!(
        summary.contains(&format!("videos: {GOOD} ok, 2 failed")),
        "{summary}"
    );
    assert!(summary.contains("video accuracy"), "{summary}");

    // eval reads what batch writes.
    let table = gradtrust_video::eval::run(&gradtrust_video::eval::EvalOptions {
        results: vec![out.clone()],
        level: gradtrust_video::eval::Level::Clip,
        out: None,
        metric: gradtrust_video::eval::Metric::Auroc,
        ..Default::default()
    });
    assert!(table.is_ok(), "{:?}", table.err());
}

/// Every row is what `score --json --scores fast` gives for that clip and video (the model's
/// full protocol: 5 clips per video, several videos per forward).
#[test]
fn rows_equal_score() {
    let dir = fixtures();
    let out = dir.join("runs/score-compare.csv");
    let _ = std::fs::remove_file(&out);
    let output = batch(
        &dir,
        "kinetics.csv",
        &out,
        &["--limit", "3", "--batch-size", "15"],
    );
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let rows = read_rows(&out);
    for i in 0..3 {
        let score = Command::new(common::bin())
            .args(["score", &format!("root/{}", rel_path(i))])
            .args(["--json", "--scores", "fast", "--device", "cpu"])
            .args(["--weights", "r3d_18-seeded.pth"])
            .args(["--weights-url", "http://127.0.0.1:9/"])
            .current_dir(&dir)
            .output()
            .unwrap();
        assert!(score.status.success(), "{}", stderr(&score));
        let v: serde_json::Value = serde_json::from_slice(&score.stdout).unwrap();
        let id = kinetics_id(i);
        let check = |row: &BTreeMap<String, String>, level: &serde_json::Value, what: &str| {
            let top5: Vec<String> = level["top5"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t["index"].to_string())
                .collect();
            assert_eq!(row["top5"], top5.join(" "), "{id} {what}");
            assert_eq!(row["pred_index"], top5[0], "{id} {what}");
            assert_eq!(
                row["pred"],
                level["top5"][0]["label"].as_str().unwrap(),
                "{id} {what}"
            );
            for (name, want) in level["scores"].as_object().unwrap() {
                let got: f64 = row[name].parse().unwrap();
                let want = want.as_f64().unwrap();
                assert!(
                    (got - want).abs() <= 1e-4 * want.abs() + 1e-6,
                    "{id} {what} {name}: batch {got} vs score {want}"
                );
            }
        };
        let clips = v["clips"].as_array().unwrap();
        assert_eq!(clips.len(), 5);
        for (k, clip) in clips.iter().enumerate() {
            let row = &rows[&(id.clone(), "clip".into(), k.to_string())];
            assert_eq!(row["window"], clip["window"].to_string());
            assert_eq!(
                row["frames"],
                format!("{}-{}", clip["frames"][0], clip["frames"][1])
            );
            check(row, clip, &format!("clip {k}"));
        }
        let video = &rows[&(id.clone(), "video".into(), String::new())];
        check(video, &v["video"], "video");
        let fused: Vec<String> = v["video"]["top5_softmax_sum"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["index"].to_string())
            .collect();
        assert_eq!(video["top5_softmax_sum"], fused.join(" "));
    }
}

/// SIGKILL midway, then `--resume`: the same rows as one uninterrupted run.
#[test]
fn resume_after_sigkill_equals_single_run() {
    let dir = fixtures();
    let (reference, _) = reference();
    let out = dir.join("runs/killed.csv");
    let _ = std::fs::remove_file(&out);
    // One decode worker and small batches, so rows come out steadily.
    let slow = [
        "--clips-per-video",
        "1",
        "--batch-size",
        "1",
        "--limit",
        "20",
    ];
    let quick_resume = [&QUICK[..], &["--limit", "20", "--resume"]].concat();
    let want = only(&read_rows(reference), &list_ids(20));
    let mut child = batch_cmd(&dir, "kinetics.csv", &out, &slow)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    loop {
        let videos = std::fs::read_to_string(&out)
            .map(|t| t.matches(",video,").count())
            .unwrap_or(0);
        if videos >= 8 {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "no rows after 2 min"
        );
        if let Some(status) = child.try_wait().unwrap() {
            panic!("batch ended before it could be killed: {status}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let partial = read_rows(&out);
    let done = partial.values().filter(|r| r["level"] == "video").count();
    assert!(done < 20, "the run finished before the kill");
    // Without --resume the file is not clobbered.
    let refused = batch(&dir, "kinetics.csv", &out, &QUICK);
    assert_eq!(refused.status.code(), Some(1));
    // The library says it can be continued; the binary names the flag.
    assert!(
        stderr(&refused).contains("\nhint: pass --resume to continue it"),
        "{}",
        stderr(&refused)
    );
    let resumed = batch(&dir, "kinetics.csv", &out, &quick_resume);
    assert_eq!(resumed.status.code(), Some(3), "{}", stderr(&resumed));
    assert!(
        String::from_utf8_lossy(&resumed.stdout).contains("already complete (resumed)"),
        "{}",
        String::from_utf8_lossy(&resumed.stdout)
    );
    assert_same_rows(&read_rows(&out), &want, "killed + resumed");
    // Resuming a complete file adds nothing; its error rows stay, so the status is still 3.
    let again = batch(&dir, "kinetics.csv", &out, &quick_resume);
    assert_eq!(again.status.code(), Some(3), "{}", stderr(&again));
    assert!(
        String::from_utf8_lossy(&again.stdout).contains("2 earlier error row(s) remain"),
        "{}",
        String::from_utf8_lossy(&again.stdout)
    );
    assert_same_rows(&read_rows(&out), &want, "resumed again");

    // One damaged line in the middle: only its video runs again, every other row is kept.
    let text = std::fs::read_to_string(&out).unwrap();
    let mut lines: Vec<&str> = text.lines().collect();
    let victim = lines
        .iter()
        .position(|l| l.starts_with(&kinetics_id(5)) && l.contains(",clip,"))
        .unwrap();
    let half = &lines[victim][..lines[victim].len() / 2];
    lines[victim] = half;
    std::fs::write(&out, lines.join("\n") + "\n").unwrap();
    let repaired = batch(&dir, "kinetics.csv", &out, &quick_resume);
    let err = stderr(&repaired);
    assert_eq!(repaired.status.code(), Some(3), "{err}");
    assert!(
        err.contains("dropped 1 damaged stretch(es)")
            // The halved clip row and its video row form one damaged stretch.
            && err.contains(&format!("lines {}-{}", victim + 1, victim + 2)),
        "{err}"
    );
    assert!(
        err.contains("batch: 1 of "),
        "only the damaged video runs again: {err}"
    );
    assert_same_rows(&read_rows(&out), &want, "repaired");
}

/// Twenty SIGKILLs at random moments of one run, each followed by `--resume` (itself killed
/// the next time): the file ends equal to an uninterrupted run, no row missing or doubled.
#[test]
fn twenty_sigkills_then_resume_equal_one_run() {
    let dir = fixtures();
    let (reference, _) = reference();
    let out = dir.join("runs/killed-20.csv");
    let _ = std::fs::remove_file(&out);
    let args = [
        &QUICK[..],
        &["--batch-size", "1", "--limit", "16", "--resume"],
    ]
    .concat();
    let want = only(&read_rows(reference), &list_ids(16));
    // A seeded generator: the same moments on every run of the test.
    let mut state: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next_ms = || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (state >> 33) % 1500
    };
    let size = |p: &Path| std::fs::metadata(p).map_or(0, |m| m.len());
    let mut killed_with_rows = 0;
    for _ in 0..20 {
        let before = size(&out);
        let mut child = batch_cmd(&dir, "kinetics.csv", &out, &args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // Each kill lands a random moment after the run has made progress (its start-up,
        // which loads the weights, would otherwise swallow most of them), so the kills walk
        // through the list: mid-video, mid-line and between videos.
        let start = Instant::now();
        while size(&out) == before
            && child.try_wait().unwrap().is_none()
            && start.elapsed() < Duration::from_secs(120)
        {
            std::thread::sleep(Duration::from_millis(10));
        }
        std::thread::sleep(Duration::from_millis(next_ms()));
        let finished = child.try_wait().unwrap().is_some();
        child.kill().ok(); // SIGKILL
        child.wait().unwrap();
        if finished {
            break;
        }
        let videos = std::fs::read_to_string(&out)
            .unwrap_or_default()
            .matches(",video,")
            .count();
        killed_with_rows += usize::from(videos > 0);
    }
    let last = batch(&dir, "kinetics.csv", &out, &args);
    assert_eq!(last.status.code(), Some(3), "{}", stderr(&last));
    assert!(
        killed_with_rows >= 3,
        "only {killed_with_rows} kills after rows were written"
    );
    assert_same_rows(&read_rows(&out), &want, "20 kills + resumes");
}

/// A second writer on a file in use is refused, naming the first one's pid; `--resume` with
/// other weights, clips per video or scores is refused, naming each difference; a file that
/// is not a results file of this tool is never touched.
#[test]
fn resume_refuses_other_writers_runs_and_files() {
    let dir = fixtures();
    let out = dir.join("runs/guarded.csv");
    let _ = std::fs::remove_file(&out);
    let slow = [&QUICK[..], &["--batch-size", "1", "--limit", "20"]].concat();
    let mut child = batch_cmd(&dir, "kinetics.csv", &out, &slow)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while !out.exists() {
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "no output after 2 min"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let second = batch(
        &dir,
        "kinetics.csv",
        &out,
        &[&QUICK[..], &["--resume"]].concat(),
    );
    let still_running = child.try_wait().unwrap().is_none();
    child.kill().ok();
    child.wait().unwrap();
    if still_running {
        assert_eq!(second.status.code(), Some(1), "{}", stderr(&second));
        assert!(
            stderr(&second).contains(&format!("being written by process {}", child.id())),
            "{}",
            stderr(&second)
        );
    }
    let resume = |extra: &[&str]| {
        batch(
            &dir,
            "kinetics.csv",
            &out,
            &[&["--limit", "20", "--resume"][..], extra].concat(),
        )
    };
    let other_clips = resume(&["--clips-per-video", "2", "--batch-size", "1"]);
    assert_eq!(other_clips.status.code(), Some(1));
    assert!(
        stderr(&other_clips).contains("clips_per_video: 1 vs 2"),
        "{}",
        stderr(&other_clips)
    );
    let other_scores = resume(&[&QUICK[..], &["--scores", "softmax,margin"]].concat());
    assert_eq!(other_scores.status.code(), Some(1));
    assert!(
        stderr(&other_scores).contains("scores: "),
        "{}",
        stderr(&other_scores)
    );
    let copy = dir.join("runs/other-weights.pth");
    std::fs::copy(dir.join("r3d_18-seeded.pth"), &copy).unwrap();
    let other_weights = resume(&[&QUICK[..], &["--weights", copy.to_str().unwrap()]].concat());
    assert_eq!(other_weights.status.code(), Some(1));
    assert!(
        stderr(&other_weights)
            .contains("weights_file: \"r3d_18-seeded.pth\" vs \"other-weights.pth\""),
        "{}",
        stderr(&other_weights)
    );
    // Not a results file: refused, and left as it was.
    let notes = dir.join("runs/notes.jsonl");
    std::fs::write(&notes, "{\"note\": \"mine\"}\n").unwrap();
    let foreign = batch(
        &dir,
        "kinetics.csv",
        &notes,
        &[&QUICK[..], &["--resume"]].concat(),
    );
    assert_eq!(foreign.status.code(), Some(1));
    assert!(
        stderr(&foreign).contains("not a results file of gradtrust-video"),
        "{}",
        stderr(&foreign)
    );
    assert_eq!(
        std::fs::read_to_string(&notes).unwrap(),
        "{\"note\": \"mine\"}\n"
    );
}

/// `--resume --retry-errors` runs the error videos again (a file that has appeared since),
/// replacing their rows; plain `--resume` keeps them, and its status says so.
#[test]
fn retry_errors_replaces_error_rows() {
    let dir = fixtures();
    let tmp = tempfile::tempdir().unwrap();
    let late = tmp.path().join("late.mp4");
    let list = tmp.path().join("list.csv");
    std::fs::write(
        &list,
        format!(
            "path,label\n\"{}\",abseiling\n\"{}\",abseiling\n\"{}\",tai chi\n",
            dir.join("root").join(rel_path(0)).display(),
            late.display(),
            dir.join("root").join(rel_path(3)).display(),
        ),
    )
    .unwrap();
    let out = tmp.path().join("rows.csv");
    let list = list.to_str().unwrap();
    let first = batch(&dir, list, &out, &QUICK);
    assert_eq!(first.status.code(), Some(3), "{}", stderr(&first));
    std::fs::copy(dir.join("root").join(rel_path(6)), &late).unwrap();
    let kept = batch(&dir, list, &out, &[&QUICK[..], &["--resume"]].concat());
    assert_eq!(kept.status.code(), Some(3), "{}", stderr(&kept));
    let retried = batch(
        &dir,
        list,
        &out,
        &[&QUICK[..], &["--resume", "--retry-errors"]].concat(),
    );
    assert_eq!(retried.status.code(), Some(0), "{}", stderr(&retried));
    assert!(stderr(&retried).contains("removed 1 error video(s) to run again"));
    let rows = read_rows(&out);
    assert_eq!(rows.len(), 6, "{rows:?}");
    assert!(rows.values().all(|r| r["status"] == "ok"), "{rows:?}");
    // --retry-errors without --resume is a flag error.
    let flag = batch(&dir, list, &out, &["--retry-errors"]);
    assert_eq!(flag.status.code(), Some(2), "{}", stderr(&flag));
}

#[test]
fn shards_then_merge_equal_single_run() {
    let dir = fixtures();
    let (reference, _) = reference();
    let mut shards = Vec::new();
    for i in 0..3 {
        let out = dir.join(format!("runs/shard-{i}.csv"));
        let _ = std::fs::remove_file(&out);
        let shard = format!("{i}/3");
        let args = [&QUICK[..], &["--shard", &shard, "--limit", "15"]].concat();
        let output = batch(&dir, "kinetics.csv", &out, &args);
        assert!(
            matches!(output.status.code(), Some(0 | 3)),
            "{}",
            stderr(&output)
        );
        shards.push(out);
    }
    let merged = dir.join("runs/merged.csv");
    let _ = std::fs::remove_file(&merged);
    let run_merge = |files: &[PathBuf]| {
        Command::new(common::bin())
            .arg("merge")
            .arg(&merged)
            .args(files)
            .args(["--list", "kinetics.csv", "--root", "root", "--limit", "15"])
            .current_dir(&dir)
            .output()
            .unwrap()
    };
    // The output name forgotten: the first shard would be the output; it exists, so refused.
    let before = std::fs::read(&shards[0]).unwrap();
    let forgot = Command::new(common::bin())
        .arg("merge")
        .args(&shards)
        .current_dir(&dir)
        .output()
        .unwrap();
    assert_eq!(forgot.status.code(), Some(1), "{}", stderr(&forgot));
    assert!(
        stderr(&forgot).contains("\nhint: pass --force to replace it"),
        "{}",
        stderr(&forgot)
    );
    assert_eq!(std::fs::read(&shards[0]).unwrap(), before);
    let output = run_merge(&shards);
    assert!(output.status.success(), "{}", stderr(&output));
    let provenance = std::fs::read_to_string(dir.join("runs/merged.csv.provenance.json")).unwrap();
    assert!(provenance.contains("merged: 0/3, 1/3, 2/3"), "{provenance}");
    let want = only(&read_rows(reference), &list_ids(15));
    assert_same_rows(&read_rows(&merged), &want, "merged shards");
    // Rows follow the list order.
    let mut ids: Vec<String> = csv::Reader::from_path(&merged)
        .unwrap()
        .records()
        .map(|r| r.unwrap()[0].to_string())
        .collect();
    ids.dedup();
    assert_eq!(ids[0], kinetics_id(0));
    assert_eq!(ids[1], kinetics_id(1));
    // A shard left out, or given twice: refused, naming the problem.
    let _ = std::fs::remove_file(&merged);
    let output = run_merge(&shards[..2]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("of the list missing"),
        "{}",
        stderr(&output)
    );
    assert!(!merged.exists(), "a refused merge writes nothing");
    let output = run_merge(&[
        shards[0].clone(),
        shards[1].clone(),
        shards[2].clone(),
        shards[1].clone(),
    ]);
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr(&output).contains("doubled"), "{}", stderr(&output));
}

/// The Kinetics CSV, the `path,label` CSV and the `path label_index` list give the same rows
/// (error statuses may word the problem differently; everything else is equal).
#[test]
fn list_formats_give_the_same_rows() {
    let dir = fixtures();
    let (reference, _) = reference();
    let want = only(&read_rows(reference), &list_ids(12));
    for (list, ext) in [("list.csv", "csv"), ("list.txt", "jsonl")] {
        let out = dir.join(format!("runs/format-{list}.{ext}"));
        let _ = std::fs::remove_file(&out);
        let output = batch(&dir, list, &out, &[&QUICK[..], &["--limit", "12"]].concat());
        assert_eq!(output.status.code(), Some(3), "{list}: {}", stderr(&output));
        let got = if ext == "jsonl" {
            let csv_path = dir.join(format!("runs/format-{list}.as.csv"));
            jsonl_to_csv(&out, &csv_path);
            read_rows(&csv_path)
        } else {
            read_rows(&out)
        };
        // Error rows: both say it failed; the wording of the problem may differ by format.
        let strip = |rows: &Rows| -> Rows {
            rows.iter()
                .map(|(k, r)| {
                    let mut r = r.clone();
                    if r["status"] != "ok" {
                        r.insert("status".into(), "error".into());
                        r.remove("path");
                    }
                    (k.clone(), r)
                })
                .collect()
        };
        assert_same_rows(&strip(&got), &strip(&want), list);
    }
}

/// The JSON Lines rows rewritten as the CSV batch writes (lists joined by spaces, null empty).
fn jsonl_to_csv(jsonl: &Path, csv_path: &Path) {
    let text = std::fs::read_to_string(jsonl).unwrap();
    let mut w = csv::Writer::from_path(csv_path).unwrap();
    let mut header: Option<Vec<String>> = None;
    for line in text.lines() {
        let v: serde_json::Map<String, serde_json::Value> = serde_json::from_str(line).unwrap();
        if header.is_none() {
            let h: Vec<String> = v.keys().cloned().collect();
            w.write_record(&h).unwrap();
            header = Some(h);
        }
        let cells = header.as_ref().unwrap().iter().map(|k| match &v[k] {
            serde_json::Value::Null => String::new(),
            serde_json::Value::String(s) => s.clone(),
            serde_json::Value::Array(a) => a
                .iter()
                .map(|x| x.to_string())
                .collect::<Vec<_>>()
                .join(" "),
            other => other.to_string(),
        });
        w.write_record(cells).unwrap();
    }
    w.flush().unwrap();
}

#[test]
fn bad_flags_and_lists_fail_naming_them() {
    let dir = fixtures();
    let out = dir.join("runs/never.csv");
    let cases: [(&[&str], &str, &str); 4] = [
        (&["--shard", "3/3"], "kinetics.csv", "shard \"3/3\""),
        (
            &["--devices", "gpu"],
            "kinetics.csv",
            "'gpu' for '--devices",
        ),
        (
            &["--batch-size", "0"],
            "kinetics.csv",
            "'0' for '--batch-size",
        ),
        (&[], "no-such-list.csv", "no-such-list.csv"),
    ];
    for (extra, list, want) in cases {
        let output = batch(&dir, list, &out, extra);
        // A bad flag value is a usage error (2), a missing list an input error (1).
        let code = if extra.is_empty() { 1 } else { 2 };
        assert_eq!(output.status.code(), Some(code), "{extra:?}");
        assert!(
            stderr(&output).contains(want),
            "{extra:?}: {}",
            stderr(&output)
        );
        assert!(!out.exists());
    }
}

/// `eval` on a batch run's output writes every table and plot. Labels are chosen so that
/// half the videos are predicted right (the seeded model knows no Kinetics classes): each
/// video of the reference run is relisted with its own prediction or another class.
#[test]
fn eval_on_batch_output_writes_every_file() {
    let dir = fixtures();
    let (reference, _) = reference();
    let rows = read_rows(reference);
    let mut list = String::from("path,label\n");
    let mut n = 0;
    for row in rows
        .values()
        .filter(|r| r["level"] == "video" && r["status"] == "ok")
    {
        let pred: usize = row["pred_index"].parse().unwrap();
        let label = if n % 2 == 0 { pred } else { (pred + 1) % 400 };
        let path = dir.join(&row["path"]);
        list.push_str(&format!("\"{}\",{label}\n", path.display()));
        n += 1;
    }
    assert!(n >= 20, "{n} ok videos");
    std::fs::write(dir.join("eval-list.csv"), list).unwrap();
    let out = dir.join("runs/eval.csv");
    let _ = std::fs::remove_file(&out);
    let output = batch(&dir, "eval-list.csv", &out, &QUICK);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));

    let report = dir.join("runs/eval-report");
    let _ = std::fs::remove_dir_all(&report);
    let eval = Command::new(common::bin())
        .arg("eval")
        .arg(&out)
        .arg("--out")
        .arg(&report)
        .output()
        .unwrap();
    assert!(eval.status.success(), "{}", stderr(&eval));
    let table = String::from_utf8_lossy(&eval.stdout);
    assert!(
        table.contains("gradtrust") && table.contains("r3d_18"),
        "{table}"
    );
    let mut files = vec![
        "metrics.csv".to_string(),
        "metrics.json".to_string(),
        "report.md".to_string(),
    ];
    for plot in ["scatter", "risk_coverage", "roc", "histograms"] {
        for ext in ["svg", "png"] {
            files.push(format!("r3d_18_{plot}.{ext}"));
        }
    }
    for f in &files {
        let path = report.join(f);
        let len = std::fs::metadata(&path)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
            .len();
        assert!(len > 100, "{f}: {len} bytes");
        if f.ends_with(".png") {
            let decoder = png::Decoder::new(std::fs::File::open(&path).unwrap());
            let mut reader = decoder.read_info().unwrap();
            let mut buf = vec![0; reader.output_buffer_size()];
            let info = reader.next_frame(&mut buf).unwrap();
            let mut colours: Vec<&[u8]> = buf[..info.buffer_size()]
                .chunks(info.color_type.samples())
                .collect();
            colours.sort_unstable();
            colours.dedup();
            assert!(colours.len() > 50, "{f}: only {} colours", colours.len());
        }
    }
    let md = std::fs::read_to_string(report.join("report.md")).unwrap();
    assert!(md.contains("AUROC") && md.contains("r3d_18"), "{md}");
}

/// Finite weights whose logits overflow (`fc.weight` all 1e38): each video is an error row
/// that says so (never a row of NaN or 1.0 scores marked ok), and the run completes with
/// exit status 3. Several videos share a forward; the failed batch is retried video by
/// video, so each gets its own row.
#[test]
fn non_finite_logits_give_error_rows() {
    let dir = fixtures();
    let huge = common::weight_variants().join("huge_fc.pth");
    let out = dir.join("runs/non-finite.csv");
    let _ = std::fs::remove_file(&out);
    let output = batch(
        &dir,
        "kinetics.csv",
        &out,
        &[
            &QUICK[..],
            &["--limit", "3", "--weights", huge.to_str().unwrap()],
        ]
        .concat(),
    );
    assert_eq!(output.status.code(), Some(3), "{}", stderr(&output));
    let rows = read_rows(&out);
    assert_eq!(rows.len(), 3, "{rows:?}");
    for ((id, level, _), row) in &rows {
        assert_eq!(level, "video", "{id}");
        assert!(
            row["status"].contains("scoring failed")
                && row["status"].contains("logits are not finite (infinite) for clip(s) 0 of 1"),
            "{id}: {}",
            row["status"]
        );
        assert_eq!(row["pred_index"], "", "{id}");
    }
}

/// The numbers of a `logits` cell.
fn logits_of(cell: &str) -> Vec<f64> {
    cell.split(' ').map(|v| v.parse().unwrap()).collect()
}

/// Softmax of `z` in f64, the largest logit subtracted first.
fn softmax_f64(z: &[f64]) -> Vec<f64> {
    let m = z.iter().fold(f64::NEG_INFINITY, |a, &b| a.max(b));
    let e: Vec<f64> = z.iter().map(|v| (v - m).exp()).collect();
    let s: f64 = e.iter().sum();
    e.iter().map(|v| v / s).collect()
}

/// `batch --logits` end to end: every ok row carries the model's 400 logits (the video row
/// the mean of its clips') and `prob_label` = softmax(logits)[label] (the `softmax` score
/// where the prediction is right), in CSV and JSON Lines; error rows leave both empty; a run
/// without `--logits` cannot resume the file; `eval --fit-temperature` on it fills NLL and
/// Brier, fits a temperature, and report.md has the per-class, confusion and provenance
/// sections of this run.
#[test]
fn batch_logits_feed_calibration_and_the_report() {
    let dir = fixtures();
    let (reference, _) = reference();
    let rows = read_rows(reference);
    // Relisted so half the videos are predicted right (the seeded model knows no Kinetics
    // classes), plus the missing file as an error row.
    let mut list = String::from("path,label\n");
    for (n, row) in rows
        .values()
        .filter(|r| r["level"] == "video" && r["status"] == "ok")
        .enumerate()
    {
        let pred: usize = row["pred_index"].parse().unwrap();
        let label = if n % 2 == 0 {
            pred
        } else {
            (pred + 1 + n % 3) % 400
        };
        let path = dir.join(&row["path"]);
        list.push_str(&format!("\"{}\",{label}\n", path.display()));
    }
    list.push_str("root/no-such-video.mp4,abseiling\n");
    std::fs::write(dir.join("logits-list.csv"), list).unwrap();
    let out = dir.join("runs/logits.csv");
    let _ = std::fs::remove_file(&out);
    let args = ["--logits", "--clips-per-video", "1"];
    let output = batch(&dir, "logits-list.csv", &out, &args);
    assert_eq!(output.status.code(), Some(3), "{}", stderr(&output));

    let header = csv::Reader::from_path(&out)
        .unwrap()
        .headers()
        .unwrap()
        .clone();
    assert_eq!(header.iter().next_back(), Some("logits"), "{header:?}");
    assert!(header.iter().any(|h| h == "prob_label"), "{header:?}");
    let rows = read_rows(&out);
    let mut checked = (0, 0);
    for ((id, level, clip), row) in &rows {
        if row["status"] != "ok" {
            assert_eq!(
                (row["prob_label"].as_str(), row["logits"].as_str()),
                ("", "")
            );
            continue;
        }
        let z = logits_of(&row["logits"]);
        assert_eq!(z.len(), 400, "{id} {level}");
        let label: usize = row["label_index"].parse().unwrap();
        let p = softmax_f64(&z);
        let prob: f64 = row["prob_label"].parse().unwrap();
        assert!(
            (prob - p[label]).abs() <= 1e-12 * p[label].max(1e-300),
            "{id} {level} {clip}: prob_label {prob} vs softmax(logits)[{label}] {}",
            p[label]
        );
        let top = (0..400).fold(0, |b, j| if z[j] > z[b] { j } else { b });
        assert_eq!(row["pred_index"], top.to_string(), "{id} {level}: argmax");
        if row["correct"] == "1" {
            let softmax: f64 = row["softmax"].parse().unwrap();
            assert!((prob - softmax).abs() <= 1e-5, "{id}: {prob} vs {softmax}");
            checked.1 += 1;
        }
        checked.0 += usize::from(level == "video");
    }
    assert!(checked.0 >= 20 && checked.1 >= 10, "{checked:?}");

    // JSON Lines, two clips per video: logits as the CSV's space-separated text; the video
    // row's are the clip-averaged model's, the mean of its clips'.
    let jsonl = dir.join("runs/logits.jsonl");
    let _ = std::fs::remove_file(&jsonl);
    let j = batch(
        &dir,
        "logits-list.csv",
        &jsonl,
        &["--logits", "--clips-per-video", "2", "--limit", "3"],
    );
    assert_eq!(j.status.code(), Some(0), "{}", stderr(&j));
    let mut clips: Vec<Vec<f64>> = Vec::new();
    let mut videos_seen = 0;
    for line in std::fs::read_to_string(&jsonl).unwrap().lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let z: Vec<f64> = logits_of(v["logits"].as_str().unwrap());
        let label = v["label_index"].as_u64().unwrap() as usize;
        let prob = v["prob_label"].as_f64().unwrap();
        assert!((prob - softmax_f64(&z)[label]).abs() <= 1e-12, "{line}");
        if v["level"] == "clip" {
            clips.push(z);
            continue;
        }
        assert_eq!(clips.len(), 2);
        for c in 0..400 {
            let mean = (clips[0][c] + clips[1][c]) / 2.0;
            assert!((z[c] - mean).abs() <= 1e-5 * mean.abs() + 1e-6, "class {c}");
        }
        clips.clear();
        videos_seen += 1;
    }
    assert_eq!(videos_seen, 3);

    // The columns are part of the run: without --logits it cannot resume this file.
    let plain = batch(
        &dir,
        "logits-list.csv",
        &out,
        &[&QUICK[..], &["--resume"]].concat(),
    );
    assert_eq!(plain.status.code(), Some(1), "{}", stderr(&plain));
    assert!(
        stderr(&plain).contains("columns: only the file has logits"),
        "{}",
        stderr(&plain)
    );

    let report = dir.join("runs/logits-report");
    let _ = std::fs::remove_dir_all(&report);
    let eval = Command::new(common::bin())
        .arg("eval")
        .arg(&out)
        .args(["--fit-temperature", "--bootstrap", "50", "--out"])
        .arg(&report)
        .output()
        .unwrap();
    assert!(eval.status.success(), "{}", stderr(&eval));
    let text = String::from_utf8_lossy(&eval.stdout);
    assert!(text.contains("temperature scaling: T = "), "{text}");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(report.join("metrics.json")).unwrap())
            .unwrap();
    let model = &json["models"][0];
    let c = &model["calibration"];
    assert!(c["nll"].as_f64().unwrap() > 0.0, "NLL filled: {c}");
    assert!(c["brier"].as_f64().unwrap() > 0.0, "Brier filled: {c}");
    assert!(
        c["temperature"]["temperature"].as_f64().unwrap() > 0.0,
        "{c}"
    );
    // NLL is the mean −ln prob_label of the evaluated video rows.
    let videos: Vec<&BTreeMap<String, String>> = rows
        .values()
        .filter(|r| r["level"] == "video" && r["status"] == "ok")
        .collect();
    let nll = videos
        .iter()
        .map(|r| -r["prob_label"].parse::<f64>().unwrap().ln())
        .sum::<f64>()
        / videos.len() as f64;
    let got = c["nll"].as_f64().unwrap();
    assert!((got - nll).abs() <= 1e-9 * nll, "NLL {got} vs {nll}");
    let weights = dir.join("r3d_18-seeded.pth");
    let sha = gradtrust_video::results::provenance::sha256_file(&weights).unwrap();
    assert_eq!(model["provenance"]["weights_sha256"], sha.as_str());
    assert_eq!(model["provenance"]["clips_per_video"], 1);

    let md = std::fs::read_to_string(report.join("report.md")).unwrap();
    let escape = |s: &str| {
        s.replace('|', "\\|")
            .replace('*', "\\*")
            .replace('_', "\\_")
    };
    assert!(md.contains("### Per class"), "{md}");
    // The most frequent confusion, recomputed from the rows, names and counts.
    let mut pairs: BTreeMap<(usize, usize), (usize, String, String)> = BTreeMap::new();
    let mut class_rows: BTreeMap<usize, usize> = BTreeMap::new();
    for r in &videos {
        let (t, p): (usize, usize) = (
            r["label_index"].parse().unwrap(),
            r["pred_index"].parse().unwrap(),
        );
        *class_rows.entry(t).or_default() += 1;
        if t != p {
            let e = pairs
                .entry((t, p))
                .or_insert((0, r["label"].clone(), r["pred"].clone()));
            e.0 += 1;
        }
    }
    let (&(t, p), (n, tn, pn)) = pairs
        .iter()
        .max_by(|a, b| a.1 .0.cmp(&b.1 .0).then(b.0.cmp(a.0)))
        .unwrap();
    let line = format!(
        "| {} ({t}) | {} ({p}) | {n} | {n}/{} |",
        escape(tn),
        escape(pn),
        class_rows[&t]
    );
    let confusions = &md[md.find("Most frequent confusions").expect("confusions")..];
    let first = confusions
        .lines()
        .find(|l| l.starts_with("| ") && !l.starts_with("| true class") && !l.starts_with("|---"))
        .unwrap();
    assert_eq!(first, line, "{confusions}");
    let provenance = &md[md.find("### Provenance").expect("provenance")..];
    for want in [
        format!("| weights | `r3d_18-seeded.pth` (SHA-256 `{sha}`) |"),
        "| clips per video | 1 |".to_string(),
        "| logits column | yes (`batch --logits`) |".to_string(),
        "| shard | none (the whole list) |".to_string(),
        "| list | `logits-list.csv` (SHA-256 `".to_string(),
    ] {
        assert!(provenance.contains(&want), "{want}\n{provenance}");
    }
}

// ---- Shards on Slurm: the README's job array (examples/slurm/batch.sbatch) run on a
// one-node cluster of this host (scripts/slurm-local.sh), and merge's refusals. ----

/// Where the test's cluster keeps its state: a fixed path, so a run killed midway is cleaned
/// up by the next one's `start`.
fn slurm_state() -> PathBuf {
    std::env::temp_dir().join("gradtrust-slurm-test")
}

/// A one-node Slurm cluster for one test: `scripts/slurm-local.sh start` (it installs Slurm
/// when missing and first ends whatever an earlier, killed run left), and `stop` when dropped,
/// whether the test passed or failed.
struct SlurmCluster {
    state: PathBuf,
}

impl SlurmCluster {
    fn script(&self, verb: &str) -> Output {
        Command::new("bash")
            .arg(common::repo().join("scripts/slurm-local.sh"))
            .arg(verb)
            .env("GRADTRUST_SLURM_DIR", &self.state)
            .output()
            .unwrap_or_else(|e| panic!("cannot run scripts/slurm-local.sh {verb}: {e}"))
    }

    fn start(state: PathBuf) -> SlurmCluster {
        let cluster = SlurmCluster { state };
        let t = Instant::now();
        let out = cluster.script("start");
        assert!(
            out.status.success(),
            "no Slurm cluster (scripts/slurm-local.sh start needs root and Debian's slurmctld, \
             slurmd, slurm-client and munge, which it installs with apt-get; CI has them):\n{}",
            stderr(&out)
        );
        eprintln!(
            "slurm: cluster started in {:.1} s",
            t.elapsed().as_secs_f64()
        );
        cluster
    }

    /// A Slurm client command talking to this cluster.
    fn cmd(&self, program: &str) -> Command {
        let mut cmd = Command::new(program);
        cmd.env("SLURM_CONF", self.state.join("slurm.conf"));
        cmd
    }

    /// Runs a client command; panics with its stderr when it fails.
    fn run(&self, program: &str, args: &[&str]) -> String {
        let out = self
            .cmd(program)
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
        assert!(out.status.success(), "{program} {args:?}: {}", stderr(&out));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

impl Drop for SlurmCluster {
    fn drop(&mut self) {
        let out = self.script("stop");
        if !out.status.success() {
            eprintln!("slurm: stop failed: {}", stderr(&out));
        }
    }
}

/// `scontrol show job` of an array: one `key=value` map per record (a task, or the pending
/// rest of the array).
fn slurm_jobs(text: &str) -> Vec<BTreeMap<String, String>> {
    text.split("\n\n")
        .filter(|r| r.contains("JobId="))
        .map(|r| {
            r.split_whitespace()
                .filter_map(|kv| kv.split_once('='))
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        })
        .collect()
}

/// `batch: K of L listed videos to run (shard I/N), M already complete, …` of a task's log:
/// (K, M) per attempt.
fn attempts(log: &str) -> Vec<(usize, usize)> {
    log.lines()
        .filter_map(|l| l.strip_prefix("batch: "))
        .filter(|l| l.contains(" listed videos to run"))
        .map(|l| {
            let to_run = l.split(' ').next().unwrap().parse().unwrap();
            // ", M already complete" follows the shard when the attempt resumed.
            let done = l
                .split_once(", ")
                .and_then(|(_, rest)| rest.split(' ').next()?.parse().ok())
                .unwrap_or(0);
            (to_run, done)
        })
        .collect()
}

/// The README's recipe on a real Slurm: the job array of examples/slurm/batch.sbatch over the
/// Kinetics list (a missing file, a corrupt one, labels with spaces) in N = 4 shards, one task
/// requeued (`scontrol requeue`) after it has written rows, so it resumes its shard; then
/// `merge --list`: the same rows, in the same order, as one `batch` over the list (numbers to
/// float rounding: batches form differently).
#[test]
fn slurm_job_array_with_a_requeue_equals_one_run() {
    let dir = fixtures();
    let (reference, ref_out) = reference();
    assert_eq!(ref_out.status.code(), Some(3), "{}", stderr(ref_out));
    let t0 = Instant::now();
    let cluster = SlurmCluster::start(slurm_state());
    // After `start`, which ended the jobs of any earlier run: nothing writes here now.
    let runs = dir.join("runs/slurm");
    let _ = std::fs::remove_dir_all(&runs);
    std::fs::create_dir_all(&runs).unwrap();
    let shards = 4;
    // Its shard has the missing file.
    let requeued = 1;
    // The script as a user submits it; only PATH is the test's (where cargo put the binary).
    let path = format!(
        "{}:{}",
        common::bin().parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let submitted = cluster
        .cmd("sbatch")
        .args([
            "--parsable",
            "--array=0-3",
            "--cpus-per-task=1",
            "--output=runs/slurm/slurm-%A_%a.out",
        ])
        .arg(common::repo().join("examples/slurm/batch.sbatch"))
        .current_dir(&dir)
        .env("PATH", path)
        .env("BATCH_LIST", "kinetics.csv")
        .env("BATCH_ROOT", "root")
        .env("BATCH_MODEL", "r3d_18")
        .env("BATCH_WEIGHTS", "r3d_18-seeded.pth")
        .env("BATCH_OUT", "runs/slurm/r3d_18")
        .env("BATCH_SHARDS", shards.to_string())
        .env(
            "BATCH_ARGS",
            // One clip per forward: rows come out steadily, so the task is requeued midway.
            [&QUICK[..], &["--devices", "cpu", "--batch-size", "1"]]
                .concat()
                .join(" "),
        )
        .output()
        .unwrap();
    assert!(submitted.status.success(), "sbatch: {}", stderr(&submitted));
    let job = String::from_utf8_lossy(&submitted.stdout)
        .trim()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let task = format!("{job}_{requeued}");
    let shard_file = |i: usize| runs.join(format!("r3d_18.shard-{i}.csv"));
    let log_of = |i: usize| {
        std::fs::read_to_string(runs.join(format!("slurm-{job}_{i}.out"))).unwrap_or_default()
    };
    let per_shard = list_ids(usize::MAX).len().div_ceil(shards);
    let limit = Duration::from_secs(600);
    let show = || slurm_jobs(&cluster.run("scontrol", &["show", "job", &job]));
    let finished = |j: &BTreeMap<String, String>| {
        !matches!(
            j["JobState"].as_str(),
            "PENDING" | "RUNNING" | "COMPLETING" | "CONFIGURING" | "REQUEUED" | "SUSPENDED"
        )
    };
    let logs = || {
        (0..shards)
            .map(|i| format!("task {i}:\n{}", log_of(i)))
            .collect::<Vec<_>>()
            .join("\n")
    };

    // The chosen task, running, with some of its videos written: requeued.
    let before = loop {
        let jobs = show();
        let videos = std::fs::read_to_string(shard_file(requeued))
            .map(|t| t.matches(",video,").count())
            .unwrap_or(0);
        // (Tasks not started yet share one record, `ArrayTaskId=1-3`.)
        let mine = jobs
            .iter()
            .find(|j| j.get("ArrayTaskId") == Some(&requeued.to_string()));
        if let Some(j) = mine {
            assert!(
                !finished(j) && videos < per_shard,
                "task {task} ended before it could be requeued: {j:?}\n{}",
                logs()
            );
            if j["JobState"] == "RUNNING" && videos >= 1 {
                break videos;
            }
        }
        assert!(
            t0.elapsed() < limit,
            "task {task} not running with rows after {limit:?}: {jobs:?}\n{}",
            logs()
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    cluster.run("scontrol", &["requeue", &task]);

    // Every task done, within the time bound.
    let jobs = loop {
        let jobs = show();
        if jobs.len() == shards && jobs.iter().all(finished) {
            break jobs;
        }
        assert!(
            t0.elapsed() < limit,
            "the array did not finish in {limit:?}: {jobs:?}\n{}",
            logs()
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    let array_secs = t0.elapsed().as_secs_f64();
    for j in &jobs {
        let i: usize = j["ArrayTaskId"].parse().unwrap();
        assert_eq!(
            (j["JobState"].as_str(), j["ExitCode"].as_str()),
            ("COMPLETED", "0:0"),
            "task {i}:\n{}",
            log_of(i)
        );
        let restarts = if i == requeued { "1" } else { "0" };
        assert_eq!(j["Restarts"], restarts, "task {i}: {j:?}");
    }
    // The requeued task was stopped midway and its second attempt resumed the shard: it kept
    // what the first had written and ran only the rest.
    let log = log_of(requeued);
    assert!(log.contains("DUE TO JOB REQUEUE"), "{log}");
    let tries = attempts(&log);
    assert_eq!(tries.len(), 2, "{log}");
    assert_eq!(tries[0], (per_shard, 0), "{log}");
    let (to_run, done) = tries[1];
    assert!(
        done >= before && to_run >= 1 && to_run + done == per_shard,
        "{tries:?}: {log}"
    );
    assert!(log.contains("already complete (resumed)"), "{log}");

    // merge, as the README says: the output, the shards, the list.
    let merged = runs.join("r3d_18.csv");
    let merge = Command::new(common::bin())
        .arg("merge")
        .arg(&merged)
        .args((0..shards).map(shard_file))
        .args(["--list", "kinetics.csv"])
        .current_dir(&dir)
        .output()
        .unwrap();
    assert!(merge.status.success(), "{}", stderr(&merge));
    assert_same_rows(
        &read_rows(&merged),
        &read_rows(reference),
        "Slurm array + merge",
    );
    let order = |p: &Path| -> Vec<String> {
        let mut ids: Vec<String> = csv::Reader::from_path(p)
            .unwrap()
            .records()
            .map(|r| r.unwrap()[0].to_string())
            .collect();
        ids.dedup();
        ids
    };
    assert_eq!(order(&merged), order(reference), "rows in the list's order");
    let provenance = std::fs::read_to_string(runs.join("r3d_18.csv.provenance.json")).unwrap();
    assert!(
        provenance.contains("merged: 0/4, 1/4, 2/4, 3/4"),
        "{provenance}"
    );
    drop(cluster);
    eprintln!(
        "slurm: cluster start + array of {shards} (one requeue) {array_secs:.1} s; with merge, \
         checks and stop {:.1} s",
        t0.elapsed().as_secs_f64()
    );
    assert!(!slurm_state().exists(), "stop leaves no state behind");
}

/// The README's Slurm section quotes examples/slurm/batch.sbatch, the file the test above
/// runs, exactly.
#[test]
fn readme_quotes_the_slurm_script() {
    let script =
        std::fs::read_to_string(common::repo().join("examples/slurm/batch.sbatch")).unwrap();
    let readme = std::fs::read_to_string(common::repo().join("README.md")).unwrap();
    assert!(
        readme.contains(&format!("```sh\n{script}```\n")),
        "README.md's Slurm section must quote examples/slurm/batch.sbatch as it is"
    );
}

/// `merge` refuses a shard of another run (another weights file, another score set), naming
/// the shard and the field that differs, and writes nothing.
#[test]
fn merge_refuses_shards_of_another_run() {
    let dir = fixtures();
    let runs = dir.join("runs/other-run");
    let _ = std::fs::remove_dir_all(&runs);
    std::fs::create_dir_all(&runs).unwrap();
    let copy = runs.join("r3d_18-copy.pth");
    std::fs::copy(dir.join("r3d_18-seeded.pth"), &copy).unwrap();
    let shard = |name: &str, shard: &str, extra: &[&str]| {
        let out = runs.join(name);
        let args = [&QUICK[..], &["--limit", "8", "--shard", shard], extra].concat();
        let output = batch(&dir, "kinetics.csv", &out, &args);
        assert!(
            matches!(output.status.code(), Some(0 | 3)),
            "{}",
            stderr(&output)
        );
        out
    };
    let first = shard("s0.csv", "0/4", &[]);
    let scores = shard("s1-scores.csv", "1/4", &["--scores", "softmax,margin"]);
    let weights = shard(
        "s1-weights.csv",
        "1/4",
        &["--weights", copy.to_str().unwrap()],
    );
    let merged = runs.join("merged.csv");
    for (other, field) in [(&scores, "scores: "), (&weights, "weights_file: ")] {
        let output = Command::new(common::bin())
            .arg("merge")
            .arg(&merged)
            .args([&first, other])
            .current_dir(&dir)
            .output()
            .unwrap();
        let err = stderr(&output);
        assert_eq!(output.status.code(), Some(1), "{err}");
        assert!(
            err.contains(&format!("{}: made by another run", other.display()))
                && err.contains(field),
            "{err}"
        );
        assert!(!merged.exists(), "a refused merge writes nothing");
    }
}

// ---------------------------------------------------------------------------------------
// Containers that declare absurd values (issue 11): each costs at most its own row, never
// the run.

/// Hand-made files between good videos: an AVI declaring 2^31 − 1 frames (30 real ones) and
/// an MP4 whose timestamp gap makes its frame rate ~1.5e-8 fps. Either made the sampler
/// allocate tens of gigabytes and abort, losing every row of the run and aborting every
/// `--resume` again. Now the AVI is scored from the frames it has and the MP4 is an error
/// row naming the implausible frame rate; a run stopped after the first two videos resumes
/// to the rows of one uninterrupted run.
#[test]
fn absurd_containers_in_a_list_cost_only_their_own_rows() {
    let dir = fixtures();
    let tmp = tempfile::tempdir().unwrap();
    let count = tmp.path().join("count_2e31.avi");
    let gap = tmp.path().join("gap.mp4");
    common::avi_declaring_absurd_frame_count(&count);
    common::mp4_with_timestamp_gap(&gap);
    let good = |i: usize| dir.join("root").join(rel_path(i));
    let paths = [good(0), count.clone(), gap.clone(), good(3)];
    let mut text = String::from("path,label\n");
    for (path, label) in paths
        .iter()
        .zip(["abseiling", "tai chi", "abseiling", "tai chi"])
    {
        text.push_str(&format!("\"{}\",{label}\n", path.display()));
    }
    let list = tmp.path().join("list.csv");
    std::fs::write(&list, text).unwrap();
    let list = list.to_str().unwrap();

    let whole = tmp.path().join("whole.csv");
    let one_run = batch(&dir, list, &whole, &QUICK);
    let err = stderr(&one_run);
    assert_eq!(one_run.status.code(), Some(3), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    let rows = read_rows(&whole);
    let video = |path: &Path| {
        let path = path.display().to_string();
        rows.values()
            .find(|r| r["level"] == "video" && r["path"] == path)
            .unwrap_or_else(|| panic!("no video row for {path}: {rows:?}"))
            .clone()
    };
    for path in [good(0), good(3), count.clone()] {
        let row = video(&path);
        assert_eq!(row["status"], "ok", "{row:?}");
        assert!(!row["pred_index"].is_empty(), "{row:?}");
    }
    let row = video(&gap);
    assert!(
        row["status"].contains("gap.mp4") && row["status"].contains("implausible frame rate"),
        "{row:?}"
    );
    assert_eq!(row["pred_index"], "");

    // A run stopped after the first video (its rows only), resumed over the whole list:
    // the lying files run in the resume.
    let out = whole;
    let later: Vec<String> = paths[1..].iter().map(|p| p.display().to_string()).collect();
    let kept: String = std::fs::read_to_string(&out)
        .unwrap()
        .lines()
        .filter(|line| !later.iter().any(|p| line.contains(p.as_str())))
        .map(|line| format!("{line}\n"))
        .collect();
    std::fs::write(&out, kept).unwrap();
    assert_eq!(
        read_rows(&out).len(),
        2,
        "video and clip row of the first video"
    );
    let resumed = batch(&dir, list, &out, &[&QUICK[..], &["--resume"]].concat());
    let err = stderr(&resumed);
    assert_eq!(resumed.status.code(), Some(3), "{err}");
    assert!(err.contains("batch: 3 of "), "the three others run: {err}");
    assert_same_rows(&read_rows(&out), &rows, "stopped after 1 + resumed");
    // Resuming the complete file runs nothing; the error row stays.
    let again = batch(&dir, list, &out, &[&QUICK[..], &["--resume"]].concat());
    assert_eq!(again.status.code(), Some(3), "{}", stderr(&again));
    assert!(
        String::from_utf8_lossy(&again.stdout).contains("1 earlier error row(s) remain"),
        "{}",
        String::from_utf8_lossy(&again.stdout)
    );
    assert_same_rows(&read_rows(&out), &rows, "resumed again");
}

/// The stage lines of a batch summary: (device, batches, clips) per stage, and the seconds
/// during which stages scored at the same time (several stages).
fn stage_lines(summary: &str) -> (Vec<(String, usize, usize)>, Option<f64>) {
    let mut stages = Vec::new();
    let mut overlap = None;
    for line in summary.lines() {
        // "stage 0 (cpu): 3 batches, 4 clips, busy 1.2s (80% of the run)"
        if let Some(rest) = line.strip_prefix("stage ") {
            let device = rest
                .split(['(', ')'])
                .nth(1)
                .unwrap_or_default()
                .to_string();
            let numbers: Vec<usize> = rest
                .split(": ")
                .nth(1)
                .unwrap_or_default()
                .split(", ")
                .take(2)
                .map(|part| part.split(' ').next().unwrap().parse().unwrap())
                .collect();
            stages.push((device, numbers[0], numbers[1]));
        }
        if let Some(secs) = line.strip_prefix("stages scoring at the same time: ") {
            overlap = Some(secs.trim_end_matches(" s").parse().unwrap());
        }
    }
    (stages, overlap)
}

/// `--devices cpu,cpu`: two CPU model stages (one libtorch thread each) give the rows of one
/// stage, and they score at the same time: the summary's overlap, computed from the
/// intervals each stage timed for its own batches, is not zero (stages that took turns, as
/// when MC-Dropout reseeded libtorch's global generator under a lock, give exactly 0). The
/// default `fast` set includes MC-Dropout.
#[test]
fn two_cpu_stages_give_one_stages_rows_and_score_at_once() {
    let (reference_out, _) = reference();
    let dir = fixtures();
    let out = dir.join("runs/two-cpu-stages.csv");
    let _ = std::fs::remove_file(&out);
    let n = 8;
    let output = batch(
        &dir,
        "kinetics.csv",
        &out,
        &[
            &QUICK[..],
            &[
                "--limit",
                &n.to_string(),
                "--devices",
                "cpu,cpu",
                "--threads",
                "1",
                "--batch-size",
                "1",
            ],
        ]
        .concat(),
    );
    let summary = String::from_utf8_lossy(&output.stdout);
    // The corrupt file is among the first 8 entries: exit 3.
    assert_eq!(
        output.status.code(),
        Some(3),
        "{}{summary}",
        stderr(&output)
    );
    assert_same_rows(
        &read_rows(&out),
        &only(&read_rows(reference_out), &list_ids(n)),
        "two CPU stages",
    );
    let (stages, overlap) = stage_lines(&summary);
    assert_eq!(stages.len(), 2, "{summary}");
    for (device, batches, clips) in &stages {
        assert_eq!(device, "cpu", "{summary}");
        assert!(*batches > 0 && *clips > 0, "both stages scored: {summary}");
    }
    // 7 decodable videos of one clip each.
    assert_eq!(
        stages.iter().map(|s| s.2).sum::<usize>(),
        n - 1,
        "{summary}"
    );
    let overlap = overlap.unwrap_or_else(|| panic!("no overlap line: {summary}"));
    assert!(overlap > 0.0, "the stages took turns: {summary}");
}

/// A batch of two videos whose forward fails inside the stage for one of them: weights whose
/// class-0 row turns one video's features (a larger Σh) into an infinite logit and leaves the
/// other's finite. The batch fails, is retried one video at a time, and only the overflowing
/// video becomes an error row; the other's rows are ok. (A CUDA out-of-memory takes the same
/// path: any error of a batch of several videos.)
#[test]
fn a_failing_batch_is_retried_alone_and_only_the_bad_video_is_an_error_row() {
    use gradtrust_video::models::{self, Arch, Model, ModelRequest};
    let dir = fixtures();
    let state = common::weights(
        &common::model_fixture("r3d_18", 2, 8, 112),
        "state.safetensors",
    );
    let request = |weights: PathBuf| ModelRequest {
        arch: Arch::Registry(models::spec("r3d_18").unwrap()),
        weights: weights.into(),
        weights_key: None,
        labels: None,
    };
    let model = Model::load(&request(state.clone()), tch::Device::Cpu).unwrap();
    let mut preset = model.info().preset.clone();
    preset.clips_per_video = 1;
    // Σh of the first clip of the first four listed videos.
    let sums: Vec<(usize, f64)> = (0..4)
        .map(|i| {
            let clips =
                gradtrust_video::clips::load_clips(&dir.join("root").join(rel_path(i)), &preset)
                    .unwrap();
            let h = tch::no_grad(|| model.forward(&clips.tensor))
                .unwrap()
                .features;
            (i, h.sum(tch::Kind::Double).double_value(&[]))
        })
        .collect();
    let &(bad, big) = sums.iter().max_by(|a, b| a.1.total_cmp(&b.1)).unwrap();
    let &(good, small) = sums
        .iter()
        .filter(|(i, _)| *i != bad)
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .unwrap();
    assert!(big > small * 1.01, "features too alike: {sums:?}");
    // logit_0 = c·Σh: past f32::MAX for the bad video, below it for the good one.
    let c = f64::from(f32::MAX) / (big * small).sqrt();
    let tmp = tempfile::tempdir().unwrap();
    let weights = tmp.path().join("overflow-one.safetensors");
    let tensors: Vec<(String, tch::Tensor)> = tch::Tensor::read_safetensors(&state)
        .unwrap()
        .into_iter()
        .map(|(name, t)| {
            let t = match name.as_str() {
                "fc.weight" => {
                    let t = t.copy();
                    let _ = t.narrow(0, 0, 1).fill_(c);
                    t
                }
                "fc.bias" => {
                    let t = t.copy();
                    let _ = t.narrow(0, 0, 1).fill_(0.0);
                    t
                }
                _ => t,
            };
            (name, t)
        })
        .collect();
    tch::Tensor::write_safetensors(&tensors, &weights).unwrap();
    let list = tmp.path().join("two.csv");
    std::fs::write(
        &list,
        format!(
            "path,label\n\"{}\",abseiling\n\"{}\",abseiling\n",
            dir.join("root").join(rel_path(bad)).display(),
            dir.join("root").join(rel_path(good)).display()
        ),
    )
    .unwrap();
    let out = tmp.path().join("rows.csv");
    let output = batch(
        &dir,
        list.to_str().unwrap(),
        &out,
        &[&QUICK[..], &["--weights", weights.to_str().unwrap()]].concat(),
    );
    let summary = String::from_utf8_lossy(&output.stdout);
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(3), "{err}{summary}");
    assert!(!err.contains("panicked"), "{err}");
    // Both videos went through the stage in one batch (the stage loads its model while
    // the workers decode the two short clips).
    let (stages, _) = stage_lines(&summary);
    assert_eq!(
        stages,
        vec![("cpu".to_string(), 1, 2)],
        "one batch of both: {summary}"
    );
    let rows = read_rows(&out);
    let video_row = |i: usize| {
        let path = dir.join("root").join(rel_path(i)).display().to_string();
        rows.values()
            .find(|r| r["level"] == "video" && r["path"] == path)
            .unwrap_or_else(|| panic!("no video row for {path}: {rows:?}"))
            .clone()
    };
    let failed = video_row(bad);
    assert!(
        failed["status"].contains("scoring failed")
            && failed["status"].contains("logits are not finite (infinite) for clip(s) 0 of 1"),
        "{failed:?}"
    );
    assert_eq!(failed["pred_index"], "");
    let ok = video_row(good);
    assert_eq!(ok["status"], "ok", "{ok:?}");
    assert_eq!(ok["pred_index"], "0", "the huge class-0 row wins: {ok:?}");
    assert_eq!(
        rows.len(),
        3,
        "the good video's clip and video rows, the error row"
    );
}

// ---- pandas ----

/// The CSV and the JSON Lines file of the same run give pandas the same frame: every column
/// the same dtype under `pd.read_csv` and `pd.read_json(lines=True)` (flags 1/0, lists as
/// text, empty cells null in both, error rows included), the same values, and the README's
/// recipe (video rows, ok rows, a score against `correct`) the same answers.
#[test]
fn csv_and_jsonl_give_pandas_equal_frames() {
    let dir = fixtures();
    // Labels the seeded model gets right on some videos and wrong on others, a corrupt file
    // and a missing one.
    let mut list = String::from("path,label\n");
    for i in 0..6 {
        list.push_str(&format!(
            "\"{}\",{}\n",
            rel_path(i),
            if i % 2 == 0 { 295 } else { 108 }
        ));
    }
    list.push_str("corrupt-vid_000001_000011.mp4,abseiling\n");
    list.push_str("nowhere_000000_000010.mp4,abseiling\n");
    std::fs::write(dir.join("runs/pandas-list.csv"), list).unwrap();
    let mut files = Vec::new();
    for ext in ["csv", "jsonl"] {
        let out = dir.join(format!("runs/pandas.{ext}"));
        let _ = std::fs::remove_file(&out);
        let output = batch(&dir, "runs/pandas-list.csv", &out, &QUICK);
        assert_eq!(output.status.code(), Some(3), "{ext}: {}", stderr(&output));
        files.push(out);
    }
    let found = common::run_python(
        "pandas_frames.py",
        &[files[0].to_str().unwrap(), files[1].to_str().unwrap()],
    );
    let found: serde_json::Value = serde_json::from_str(&found).unwrap();
    // 6 clip rows, 6 video rows, 2 error rows.
    assert_eq!(found["rows"], 14, "{found}");
    for (column, dtype) in [
        ("correct", "float64"),
        ("clip", "float64"),
        ("label_index", "int64"),
        ("top5", "str"),
        ("gradtrust", "float64"),
    ] {
        assert_eq!(found["dtypes"][column], dtype, "{column}: {found}");
    }
    for name in ["csv", "jsonl"] {
        let r = &found[name];
        assert_eq!(r["videos"], 8, "{r}");
        assert_eq!(r["ok"], 6, "{r}");
        assert_eq!(r["errors"], 2, "{r}");
        if let Some(auroc) = r["auroc_gradtrust"].as_f64() {
            assert!((0.0..=1.0).contains(&auroc), "{r}");
        }
    }
    assert_eq!(found["csv"]["accuracy"], found["jsonl"]["accuracy"]);
}

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

/// The tree, seeded r3d_18 weights under `models/` and the three lists.
fn fixtures() -> PathBuf {
    let weights = common::model_fixture("r3d_18", 2, 8, 112);
    cached_fixture("batch-tree-v2", |dir| {
        std::fs::create_dir_all(dir.join("models")).unwrap();
        std::fs::copy(
            weights.join("state_zip.pth"),
            dir.join("models/r3d_18-b3b3357e.pth"),
        )
        .unwrap();
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
    })
}

fn batch_cmd(dir: &Path, list: &str, out: &Path, extra: &[&str]) -> Command {
    let mut cmd = Command::new(common::bin());
    cmd.arg("batch")
        .args(["--list", list, "--root", "root", "--out"])
        .arg(out)
        .args(["--weights-url", "http://127.0.0.1:9/"])
        .args(extra)
        .current_dir(dir);
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
    assert!(
        stderr(&refused).contains("--resume"),
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
    // Resuming a complete file adds nothing (its error rows stay; the exit status says so).
    let again = batch(&dir, "kinetics.csv", &out, &quick_resume);
    assert_eq!(again.status.code(), Some(0), "{}", stderr(&again));
    assert_same_rows(&read_rows(&out), &want, "resumed again");
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
    let output = run_merge(&shards);
    assert!(output.status.success(), "{}", stderr(&output));
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
    let output = run_merge(&shards[..2]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("of the list missing"),
        "{}",
        stderr(&output)
    );
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
        (&["--devices", "gpu"], "kinetics.csv", "--devices gpu"),
        (&["--batch-size", "0"], "kinetics.csv", "--batch-size 0"),
        (&[], "no-such-list.csv", "no-such-list.csv"),
    ];
    for (extra, list, want) in cases {
        let output = batch(&dir, list, &out, extra);
        assert_eq!(output.status.code(), Some(1), "{extra:?}");
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

//! The results format end to end: rows written, read back by eval, resumed after kills and
//! damage, merged, refused when they are another run's.
use std::collections::HashSet;
use std::path::{Path, PathBuf};

use super::*;
use crate::labels::{LabelSet, Labels};

fn info(id: &str) -> VideoInfo {
    VideoInfo {
        id: id.into(),
        path: format!("/d/{id}, \"quoted\".mp4"),
        model: "r3d_18".into(),
        label_index: Some(1),
        label: Some("air drumming".into()),
    }
}

/// Two clip rows and the video row of video `id`.
fn rows(id: &str) -> Vec<Row> {
    let clip = |k: usize| Row {
        video: info(id),
        clip: Some(ClipPos {
            clip: k,
            window: 3 + k,
            frames: [6, 36],
        }),
        pred: Some(Prediction {
            top5: vec![1, 2, 3, 4, 5],
        }),
        pred_softmax_sum: None,
        scores: vec![Some(0.5), None],
        prob_label: Some(0.125),
        logits: Some(vec![0.5, -1.25, 3.0]),
        status: "ok".into(),
        seconds: Some(0.25),
    };
    let mut video = clip(0);
    video.clip = None;
    video.pred = Some(Prediction {
        top5: vec![2, 1, 3, 4, 5],
    });
    video.pred_softmax_sum = Some(Prediction {
        top5: vec![1, 2, 3, 4, 5],
    });
    vec![clip(0), clip(1), video]
}

const S: [ScoreName; 2] = [ScoreName::GradTrust, ScoreName::Softmax];

fn labels() -> Labels {
    Labels::builtin(LabelSet::Kinetics400)
}

fn prov() -> Provenance {
    Provenance {
        tool: "gradtrust-video test".into(),
        model: "r3d_18".into(),
        weights_file: "r3d_18-b3b3357e.pth".into(),
        weights_sha256: "b3b3357e".repeat(8),
        labels: "Kinetics-400 (built in)".into(),
        labels_sha256: None,
        preset: "p".into(),
        clips_per_video: 2,
        scores: S.iter().map(|s| s.as_str().to_string()).collect(),
        score_options: "o".into(),
        seed: 0,
        list_file: "val.csv".into(),
        list_sha256: "00".repeat(32),
        limit: None,
        shard: None,
        columns: columns(&S, false),
    }
}

fn open(path: &Path, mode: WriteMode) -> Result<(ResultsWriter, Resumed)> {
    ResultsWriter::open(path, &prov(), &labels(), mode)
}

const RESUME: WriteMode = WriteMode::Resume {
    retry_errors: false,
};

/// A file of videos `ids` ("e…" ids are error rows), written by the writer.
fn write(path: &Path, ids: &[&str]) -> Vec<u8> {
    let (mut w, _) = open(path, WriteMode::Create).unwrap();
    for id in ids {
        if id.starts_with('e') {
            w.write_video(&[error_row(&info(id), &S, "no such file", 0.1)])
                .unwrap();
        } else {
            w.write_video(&rows(id)).unwrap();
        }
    }
    drop(w);
    std::fs::read(path).unwrap()
}

fn ids(done: &HashSet<String>) -> Vec<String> {
    let mut v: Vec<String> = done.iter().cloned().collect();
    v.sort();
    v
}

#[test]
fn csv_rows_are_what_eval_reads() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r.csv");
    let (mut w, done) = open(&path, WriteMode::Create).unwrap();
    assert!(done.done.is_empty());
    w.write_video(&rows("a")).unwrap();
    let mut bad = error_row(&info("b"), &S, "b.mp4: no\nvideo stream", 0.1);
    bad.video.label_index = None;
    w.write_video(&[bad]).unwrap();
    drop(w);
    let text = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], columns(&S, false).join(","));
    assert!(
        lines[1].contains(
            ",clip,0,3,6-36,1,air drumming,1,air drumming,1 2 3 4 5,1,1,,,,,0.125,0.5,,ok,0.25"
        ),
        "{}",
        lines[1]
    );
    assert!(
        lines[3].contains(",video,,,,1,air drumming,2,"),
        "{}",
        lines[3]
    );
    assert!(lines[3].contains(",0,1,1,1 2 3 4 5,1,1,"), "{}", lines[3]);
    assert!(
        lines[4].ends_with(",b.mp4: no video stream,0.1"),
        "{}",
        lines[4]
    );
    let f = samples::read(&path, Level::Video).unwrap();
    assert_eq!((f.rows, f.error_rows, f.samples.len()), (2, 1, 1));
    assert_eq!(f.samples[0].correct_softmax_sum, Some(true));
    assert_eq!(f.samples[0].prob_label, Some(0.125));
    assert_eq!(
        f.samples[0].logits, None,
        "no logits column without --logits"
    );
    assert_eq!(f.provenance, Some(prov()), "eval sees the provenance");
}

#[test]
fn jsonl_rows_keep_types_and_order() {
    let bytes = encode(
        &rows("a"),
        &columns(&S, false),
        RowFormat::JsonLines,
        &labels(),
    );
    let text = String::from_utf8(bytes).unwrap();
    let first: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    // The CSV cell's value in the type pandas gives the CSV column: lists as the CSV's
    // text, flags 1/0, empty text null.
    assert_eq!(first["top5"], serde_json::json!("1 2 3 4 5"));
    assert_eq!(first["correct"], serde_json::json!(1));
    assert_eq!(first["softmax"], serde_json::Value::Null);
    assert!(text.starts_with("{\"id\":\"a\",\"path\":"));
}

fn resume_case(name: &str) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    let whole = write(&path, &["a", "b"]);
    // A killed run: c's first clip row written, and half of the next.
    let tail = encode(
        &rows("c"),
        &columns(&S, false),
        RowFormat::of(&path),
        &labels(),
    );
    let first = tail.iter().position(|&b| b == b'\n').unwrap() + 1;
    let second = tail[first..].iter().position(|&b| b == b'\n').unwrap() + 1;
    let mut killed = whole.clone();
    killed.extend_from_slice(&tail[..first + second / 2]);
    std::fs::write(&path, &killed).unwrap();
    // Refused, saying it can be continued (the binary names the flag): the library names none.
    let err = open(&path, WriteMode::Create).unwrap_err();
    assert_eq!(err.remedy(), Some(&crate::error::Remedy::Resume));
    let msg = err.to_string();
    assert!(
        msg.contains("already exists; continue it") && !msg.contains("--"),
        "{msg}"
    );
    let (mut w, r) = open(&path, RESUME).unwrap();
    assert_eq!(ids(&r.done), ["a", "b"]);
    assert_eq!(r.tail_rows, 2);
    assert!(r.damaged.is_empty(), "{:?}", r.damaged);
    assert_eq!(std::fs::read(&path).unwrap(), whole);
    w.write_video(&rows("c")).unwrap();
    drop(w);
    let mut want = whole.clone();
    want.extend_from_slice(&tail);
    assert_eq!(std::fs::read(&path).unwrap(), want);
}

#[test]
fn resume_truncates_incomplete_tail_csv() {
    resume_case("r.csv");
}

#[test]
fn resume_truncates_incomplete_tail_jsonl() {
    resume_case("r.jsonl");
}

/// One damaged line in the middle drops only the video it belongs to; every complete video
/// before and after it is kept, and the file is rewritten without the damage.
#[test]
fn damaged_middle_line_drops_only_its_video() {
    for name in ["d.csv", "d.jsonl"] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(name);
        let whole = write(&path, &["a", "b", "c", "d", "e1", "f"]);
        let text = String::from_utf8(whole).unwrap();
        // Garble c's second clip row.
        let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
        let at = lines
            .iter()
            .position(|l| l.contains("\"c\"") || l.starts_with("c,"))
            .unwrap()
            + 1;
        lines[at] = lines[at][..lines[at].len() / 2].to_string();
        std::fs::write(&path, lines.join("\n") + "\n").unwrap();
        let (w, r) = open(&path, RESUME).unwrap();
        drop(w);
        assert_eq!(ids(&r.done), ["a", "b", "d", "e1", "f"], "{name}");
        assert_eq!(r.damaged.len(), 1, "{name}: {:?}", r.damaged);
        assert!(r.damaged[0].contains("lines"), "{:?}", r.damaged);
        assert_eq!(r.kept_errors, 1);
        let clean = std::fs::read_to_string(&path).unwrap();
        assert!(
            !clean.contains(&lines[at]),
            "{name}: the damaged line is gone"
        );
        let again = samples::read(&path, Level::Video).unwrap();
        assert_eq!(again.rows, 5, "{name}");
    }
}

#[test]
fn retry_errors_replaces_error_rows() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r.csv");
    write(&path, &["a", "e1", "b"]);
    let (_, r) = open(&path, RESUME).unwrap();
    assert_eq!((r.kept_errors, r.retried), (1, 0));
    let (mut w, r) = open(&path, WriteMode::Resume { retry_errors: true }).unwrap();
    assert_eq!(ids(&r.done), ["a", "b"]);
    assert_eq!((r.kept_errors, r.retried), (0, 1));
    w.write_video(&rows("e1")).unwrap();
    drop(w);
    let f = samples::read(&path, Level::Video).unwrap();
    assert_eq!((f.rows, f.error_rows), (3, 0));
}

/// A file without this tool's provenance, or with another run's, is refused.
#[test]
fn resume_refuses_other_files_and_runs() {
    let dir = tempfile::tempdir().unwrap();
    let notes = dir.path().join("notes.jsonl");
    std::fs::write(&notes, "{\"note\": \"keep me\"}\n").unwrap();
    let err = open(&notes, RESUME).unwrap_err().to_string();
    assert!(
        err.contains("not a results file of gradtrust-video"),
        "{err}"
    );
    assert_eq!(
        std::fs::read_to_string(&notes).unwrap(),
        "{\"note\": \"keep me\"}\n"
    );
    let path = dir.path().join("r.csv");
    write(&path, &["a"]);
    let mut other = prov();
    other.weights_sha256 = "ff".repeat(32);
    other.clips_per_video = 5;
    let err = ResultsWriter::open(&path, &other, &labels(), RESUME)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("weights_sha256") && err.contains("clips_per_video: 2 vs 5"),
        "{err}"
    );
    let mut model = prov();
    model.model = "mc3_18".into();
    let err = ResultsWriter::open(&path, &model, &labels(), RESUME)
        .unwrap_err()
        .to_string();
    assert!(err.contains("model: \"r3d_18\" vs \"mc3_18\""), "{err}");
}

/// A second writer on the same file is refused while the first holds it.
#[test]
fn one_writer_at_a_time() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r.csv");
    let (w, _) = open(&path, WriteMode::Create).unwrap();
    let err = open(&path, RESUME).unwrap_err().to_string();
    assert!(
        err.contains(&format!("process {}", std::process::id())),
        "{err}"
    );
    drop(w);
    assert!(open(&path, RESUME).is_ok());
}

#[test]
fn merge_checks_missing_doubled_runs_and_output() {
    let dir = tempfile::tempdir().unwrap();
    let shard = |name: &str, ids: &[&str], index: usize| {
        let path = dir.path().join(name);
        let mut p = prov();
        p.shard = Some(format!("{index}/3"));
        let (mut w, _) = ResultsWriter::open(&path, &p, &labels(), WriteMode::Create).unwrap();
        for id in ids {
            w.write_video(&rows(id)).unwrap();
        }
        path
    };
    let a = shard("a.csv", &["x", "z"], 0);
    let b = shard("b.csv", &["y"], 1);
    let out = dir.path().join("m.csv");
    let list: Vec<String> = ["x", "y", "z"].map(String::from).to_vec();
    let s = merge(&out, &[a.clone(), b.clone()], Some(&list), false).unwrap();
    assert_eq!(s, MergeSummary { videos: 3, rows: 9 });
    let merged = samples::read(&out, Level::Video).unwrap();
    let order: Vec<&str> = merged.samples.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(order, ["x", "y", "z"]);
    assert_eq!(
        merged.provenance.unwrap().shard.as_deref(),
        Some("merged: 0/3, 1/3")
    );
    // The output exists now: refused without --force (a forgotten output name).
    let err = merge(&out, &[a.clone(), b.clone()], None, false).unwrap_err();
    assert_eq!(err.remedy(), Some(&crate::error::Remedy::Force));
    let err = err.to_string();
    assert!(
        err.contains("already exists")
            && err.contains("replaced only when asked")
            && !err.contains("--"),
        "{err}"
    );
    assert!(merge(&out, &[a.clone(), b.clone()], None, true).is_ok());
    let c = shard("c.csv", &["y"], 2);
    let err = merge(&out, &[a.clone(), b.clone(), c], None, true)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("y: doubled: in") && err.contains("c.csv"),
        "{err}"
    );
    let more: Vec<String> = ["x", "y", "z", "w"].map(String::from).to_vec();
    let err = merge(&out, &[a.clone(), b.clone()], Some(&more), true)
        .unwrap_err()
        .to_string();
    assert!(err.contains("1 video(s) of the list missing: w"), "{err}");
    // Another model's shard.
    let d = dir.path().join("d.csv");
    let mut p = prov();
    p.model = "mc3_18".into();
    drop(ResultsWriter::open(&d, &p, &labels(), WriteMode::Create).unwrap());
    let err = merge(&out, &[a, d], None, true).unwrap_err().to_string();
    assert!(
        err.contains("made by another run") && err.contains("model"),
        "{err}"
    );
}

/// A tiny deterministic generator (xorshift64*), so the property test needs no crate.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Random truncations and byte corruptions of a valid file: reading for resume and for eval
/// never panics, and every video whose rows all precede the damage is kept, byte for byte.
#[test]
fn damage_never_loses_a_preceding_video() {
    let names: Vec<String> = (0..12).map(|i| format!("v{i:02}")).collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for name in ["p.csv", "p.jsonl"] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(name);
        let whole = write(&path, &refs);
        let provenance = std::fs::read(Provenance::path_of(&path)).unwrap();
        // Where each video's rows end.
        let text = String::from_utf8(whole.clone()).unwrap();
        let mut ends: Vec<(String, usize)> = Vec::new();
        let mut offset = 0;
        for line in text.split_inclusive('\n') {
            offset += line.len();
            if line.contains(",video,") || line.contains("\"level\":\"video\"") {
                let id = names.iter().find(|n| line.contains(n.as_str())).unwrap();
                ends.push((id.clone(), offset));
            }
        }
        let header = if name.ends_with(".csv") {
            text.find('\n').unwrap() + 1
        } else {
            0
        };
        for case in 0..300 {
            let mut bytes = whole.clone();
            let at = header + rng.below(bytes.len() - header);
            match case % 3 {
                0 => bytes.truncate(at),
                1 => bytes[at] = rng.next() as u8,
                _ => {
                    let glyphs = b"\n,\"{}x0 ";
                    bytes[at] = glyphs[rng.below(glyphs.len())];
                }
            }
            std::fs::write(&path, &bytes).unwrap();
            std::fs::write(Provenance::path_of(&path), &provenance).unwrap();
            let _ = samples::read(&path, Level::Video);
            let _ = samples::read(&path, Level::Clip);
            let (w, r) = open(&path, RESUME).unwrap_or_else(|e| panic!("{name} case {case}: {e}"));
            drop(w);
            let after = std::fs::read(&path).unwrap();
            for (id, end) in &ends {
                if *end <= at {
                    assert!(
                        r.done.contains(id),
                        "{name} case {case} (at {at}): lost {id}"
                    );
                }
            }
            // What is kept is a prefix-free copy of whole videos: a valid file again.
            let (w, again) = open(&path, RESUME).unwrap();
            drop(w);
            assert_eq!(
                again.done, r.done,
                "{name} case {case}: a second resume agrees"
            );
            assert!(again.damaged.is_empty() && again.tail_rows == 0);
            assert_eq!(std::fs::read(&path).unwrap(), after);
        }
    }
}

/// The sidecar's name.
#[test]
fn provenance_sits_beside_the_file() {
    assert_eq!(
        Provenance::path_of(Path::new("runs/k400.csv")),
        PathBuf::from("runs/k400.csv.provenance.json")
    );
}

/// A run with logits: the `logits` column is last (space-separated, in CSV and JSON Lines
/// alike), eval reads it and `prob_label` back, resume checks it, and a run with other
/// columns can neither resume nor merge the file.
#[test]
fn logits_rows_round_trip_resume_and_refuse_other_columns() {
    let with_logits = || {
        let mut p = prov();
        p.columns = columns(&S, true);
        p
    };
    assert_eq!(
        with_logits().columns.last().map(String::as_str),
        Some(LOGITS)
    );
    for name in ["l.csv", "l.jsonl"] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(name);
        let (mut w, _) =
            ResultsWriter::open(&path, &with_logits(), &labels(), WriteMode::Create).unwrap();
        w.write_video(&rows("a")).unwrap();
        w.write_video(&[error_row(&info("e1"), &S, "no such file", 0.1)])
            .unwrap();
        drop(w);
        let text = std::fs::read_to_string(&path).unwrap();
        if name.ends_with(".csv") {
            let lines: Vec<&str> = text.lines().collect();
            assert!(lines[0].ends_with(",status,seconds,logits"), "{}", lines[0]);
            assert!(lines[1].ends_with(",ok,0.25,0.5 -1.25 3"), "{}", lines[1]);
            assert!(lines[4].ends_with(",no such file,0.1,"), "{}", lines[4]);
        } else {
            let first: serde_json::Value =
                serde_json::from_str(text.lines().next().unwrap()).unwrap();
            assert_eq!(first["logits"], serde_json::json!("0.5 -1.25 3"));
            assert_eq!(first["prob_label"], serde_json::json!(0.125));
            assert!(text.lines().last().unwrap().ends_with("\"logits\":null}"));
        }
        let f = samples::read(&path, Level::Video).unwrap();
        assert_eq!(f.samples[0].logits, Some(vec![0.5, -1.25, 3.0]), "{name}");
        assert_eq!(f.samples[0].prob_label, Some(0.125), "{name}");
        // Resume keeps the intact videos, with their logits.
        let (w, r) = ResultsWriter::open(&path, &with_logits(), &labels(), RESUME).unwrap();
        drop(w);
        assert_eq!(ids(&r.done), ["a", "e1"], "{name}");
        assert!(r.damaged.is_empty(), "{name}: {:?}", r.damaged);
        // A run without --logits cannot resume it, nor one with it a file without.
        let err = ResultsWriter::open(&path, &prov(), &labels(), RESUME)
            .unwrap_err()
            .to_string();
        assert!(err.contains("columns: only the file has logits"), "{err}");
        let plain = dir.path().join(format!("p-{name}"));
        write_to(&plain, &prov());
        let err = ResultsWriter::open(&plain, &with_logits(), &labels(), RESUME)
            .unwrap_err()
            .to_string();
        assert!(err.contains("columns: only this run has logits"), "{err}");
        // Nor can the two be merged.
        let err = merge(
            &dir.path().join(format!("m-{name}")),
            &[path.clone(), plain],
            None,
            false,
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("made by another run") && err.contains("logits"),
            "{err}"
        );
        // A logit that is not a number: that video is damaged and runs again.
        let garbled = text.replacen("0.5 -1.25 3", "0.5 x 3", 1);
        assert_ne!(garbled, text);
        std::fs::write(&path, garbled).unwrap();
        let (w, r) = ResultsWriter::open(&path, &with_logits(), &labels(), RESUME).unwrap();
        drop(w);
        assert_eq!(ids(&r.done), ["e1"], "{name}");
        assert!(
            r.damaged[0].contains("logits that are not finite numbers"),
            "{name}: {:?}",
            r.damaged
        );
    }
}

/// A file of video "a" by a run with provenance `p`.
fn write_to(path: &Path, p: &Provenance) {
    let (mut w, _) = ResultsWriter::open(path, p, &labels(), WriteMode::Create).unwrap();
    w.write_video(&rows("a")).unwrap();
}

/// `prob_label` is the softmax of the logits exactly as the row writes them (each the
/// shortest decimal of its f32), so a reader's softmax of the cell gives it back.
#[test]
fn prob_label_is_the_softmax_of_the_written_logits() {
    let z: [f32; 4] = [0.1, -2.345_678_9, 7.25, 1e-7];
    let (logits, p) = probabilities(&z, Some(2));
    let logits = logits.unwrap();
    let text = Cell::Numbers(logits.clone()).text();
    // f32's shortest decimals, not the longer f64 expansions of the f32 values.
    assert_eq!(text, "0.1 -2.3456788 7.25 0.0000001");
    for (cell, x) in text.split(' ').zip(z) {
        assert_eq!(
            cell.parse::<f32>().unwrap(),
            x,
            "reads back as the same f32"
        );
    }
    let read: Vec<f64> = text.split(' ').map(|v| v.parse().unwrap()).collect();
    assert_eq!(read, logits);
    let m = 7.25f64;
    let sum: f64 = read.iter().map(|v| (v - m).exp()).sum();
    assert_eq!(p, Some((read[2] - m).exp() / sum));
    assert_eq!(probabilities(&z, None).1, None, "no label, no prob_label");
    let (none, p) = probabilities(&[1.0, f32::NAN], Some(0));
    assert_eq!((none, p), (None, None), "a non-finite logit: both empty");
}

/// Files of earlier versions wrote flags as `true`/`false` and JSON Lines lists as arrays:
/// eval still reads them, and resume still accepts their rows.
#[test]
fn earlier_flags_and_arrays_still_read() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.jsonl");
    let mut p = prov();
    p.columns = columns(&S, true);
    let (mut w, _) = ResultsWriter::open(&path, &p, &labels(), WriteMode::Create).unwrap();
    w.write_video(&rows("a")).unwrap();
    drop(w);
    let mut text = std::fs::read_to_string(&path).unwrap();
    for (new, old) in [
        ("\"correct\":1", "\"correct\":true"),
        ("\"correct_top5\":1", "\"correct_top5\":true"),
        ("\"correct\":0", "\"correct\":false"),
        ("\"top5\":\"1 2 3 4 5\"", "\"top5\":[1,2,3,4,5]"),
        ("\"logits\":\"0.5 -1.25 3\"", "\"logits\":[0.5,-1.25,3.0]"),
    ] {
        text = text.replace(new, old);
    }
    assert!(text.contains("\"top5\":[1,2,3,4,5]") && text.contains("\"correct\":false"));
    std::fs::write(&path, &text).unwrap();
    let f = samples::read(&path, Level::Video).unwrap();
    assert_eq!(f.samples.len(), 1);
    assert!(!f.samples[0].correct, "video row: label 1, predicted 2");
    assert_eq!(f.samples[0].correct_top5, Some(true));
    assert_eq!(f.samples[0].logits, Some(vec![0.5, -1.25, 3.0]));
    let (w, r) = ResultsWriter::open(&path, &p, &labels(), RESUME).unwrap();
    drop(w);
    assert_eq!(ids(&r.done), ["a"]);
    assert!(r.damaged.is_empty(), "{:?}", r.damaged);
}

// ---- a lock released at once ----

/// A lock released within the retry window is waited for, not reported as another writer:
/// a writer's lock outlives it for a moment in any child process between fork and exec
/// (util-linux `flock` stands in for that child, holding the lock for 0.2 s).
#[test]
fn a_lock_released_at_once_is_waited_for() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r.csv");
    let ready = dir.path().join("ready");
    let mut holder = std::process::Command::new("flock")
        .arg(format!("{}.lock", path.display()))
        .args(["-c", &format!("touch {} && sleep 0.2", ready.display())])
        .spawn()
        .expect("util-linux flock");
    while !ready.exists() {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let opened = open(&path, WriteMode::Create);
    assert!(holder.wait().unwrap().success());
    let (w, _) = opened.unwrap();
    drop(w);
}

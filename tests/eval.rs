//! `eval`: the metrics against scikit-learn and the Python reference (tests/py/
//! metrics_reference.py) on random data with ties; every output file from generated result
//! rows; edge cases as clear messages.
mod common;

use std::path::{Path, PathBuf};

use gradtrust_video::eval::metrics::DetectionMetrics;
use gradtrust_video::eval::{self, EvalOptions, Level, Metric};
use serde_json::{json, Value};

use common::{read_json, run_python};

/// splitmix64: a seeded generator, so failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    fn uniform(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    fn normal(&mut self) -> f64 {
        let u = self.uniform().max(1e-300);
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * self.uniform()).cos()
    }

    fn below(&mut self, n: usize) -> usize {
        (self.uniform() * n as f64) as usize
    }
}

/// A random case: `n` samples, accuracy `acc`, scores informative to `signal`, rounded to
/// `levels` distinct values when given (ties).
fn case(
    rng: &mut Rng,
    n: usize,
    acc: f64,
    signal: f64,
    levels: Option<usize>,
) -> (Vec<f64>, Vec<bool>) {
    let correct: Vec<bool> = (0..n).map(|_| rng.uniform() < acc).collect();
    let scores = correct
        .iter()
        .map(|&c| {
            let s = signal * f64::from(u8::from(c)) + rng.normal();
            match levels {
                Some(l) => (s * l as f64 / 4.0).round(),
                None => s,
            }
        })
        .collect();
    (scores, correct)
}

#[test]
fn metrics_equal_sklearn_and_the_reference() {
    let mut rng = Rng(7);
    let mut cases: Vec<(Vec<f64>, Vec<bool>)> = Vec::new();
    for &n in &[2usize, 3, 5, 20, 57, 200, 1000] {
        for &levels in &[None, Some(2), Some(5), Some(40)] {
            for &(acc, signal) in &[(0.5, 1.0), (0.8, 2.0), (0.1, 0.5), (0.97, 1.5)] {
                let c = case(&mut rng, n, acc, signal, levels);
                if c.1.iter().any(|&x| x) && c.1.iter().any(|&x| !x) {
                    cases.push(c);
                }
            }
        }
    }
    // Hand-picked ties: a constant score, and ties straddling the 95% threshold.
    cases.push((
        vec![1.0; 9],
        vec![true, true, false, true, false, true, true, true, true],
    ));
    cases.push((
        (0..40).map(|i| f64::from(i / 4)).collect(),
        (0..40).map(|i| i % 3 != 0).collect(),
    ));
    // One class only: detection metrics undefined, risk metrics still defined.
    cases.push((vec![0.3, 0.1, 0.3], vec![true; 3]));
    cases.push((vec![0.3, 0.1, 0.3], vec![false; 3]));
    assert!(cases.len() > 80);

    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("cases.json");
    let output = dir.path().join("reference.json");
    let as_json: Vec<Value> = cases
        .iter()
        .map(|(s, c)| json!({"scores": s, "correct": c}))
        .collect();
    std::fs::write(&input, serde_json::to_string(&as_json).unwrap()).unwrap();
    run_python(
        "metrics_reference.py",
        &[
            "--cases",
            input.to_str().unwrap(),
            "--out",
            output.to_str().unwrap(),
        ],
    );
    let reference = read_json(&output);
    let reference = reference.as_array().unwrap();
    assert_eq!(reference.len(), cases.len());

    let mut worst = 0.0f64;
    for (i, ((scores, correct), want)) in cases.iter().zip(reference).enumerate() {
        let got = DetectionMetrics::compute(scores, correct);
        for m in Metric::ALL {
            let g = m.value(&got);
            let w = want[m.as_str()].as_f64();
            match (g, w) {
                (Some(g), Some(w)) => {
                    let err = (g - w).abs();
                    worst = worst.max(err);
                    assert!(
                        err <= 1e-9,
                        "case {i} (n={}): {m}: {g} vs reference {w}",
                        scores.len()
                    );
                }
                (None, None) => {}
                _ => panic!("case {i}: {m}: {g:?} vs reference {w:?}"),
            }
        }
        // Input order never matters: reversed rows give the same numbers.
        let rev_s: Vec<f64> = scores.iter().rev().copied().collect();
        let rev_c: Vec<bool> = correct.iter().rev().copied().collect();
        let again = DetectionMetrics::compute(&rev_s, &rev_c);
        for m in Metric::ALL {
            match (m.value(&got), m.value(&again)) {
                (Some(a), Some(b)) => {
                    assert!((a - b).abs() <= 1e-12, "case {i}: {m} depends on order")
                }
                (a, b) => assert_eq!(a, b),
            }
        }
    }
    eprintln!("{} cases, largest difference {worst:e}", cases.len());
}

const SCORES: [&str; 6] = [
    "gradtrust",
    "softmax",
    "entropy",
    "margin",
    "energy",
    "mc_dropout",
];

const HEADER: [&str; 26] = [
    "id",
    "path",
    "model",
    "level",
    "clip",
    "frames",
    "label_index",
    "label",
    "pred_index",
    "pred",
    "top5",
    "correct",
    "correct_top5",
    "pred_index_softmax_sum",
    "top5_softmax_sum",
    "correct_softmax_sum",
    "correct_top5_softmax_sum",
    "gradtrust",
    "softmax",
    "entropy",
    "margin",
    "energy",
    "mc_dropout",
    "unknown_extra",
    "status",
    "seconds",
];

const LABELS: [&str; 4] = [
    "passing American football (in game)",
    "tying bow tie",
    "dunking basketball",
    "jumping into pool, \"cannonball\"",
];

/// Result rows as batch writes them: per video 3 clip rows then its video row. Video 3 is a
/// missing file (one error row), every 11th video has no label, and mc_dropout is empty on
/// every 7th row.
fn results_rows(model: &str, videos: usize, accuracy: f64, seed: u64) -> Vec<Vec<String>> {
    let mut rng = Rng(seed);
    let mut rows = Vec::new();
    let b = |x: bool| x.to_string();
    for v in 0..videos {
        let id = format!("vid{v:04}");
        let path = format!("val/{}/{id}.mp4", LABELS[v % 4]);
        let row = |level: &str, clip: Option<usize>, fields: &[(&str, String)]| {
            let mut r: Vec<String> = HEADER.iter().map(|_| String::new()).collect();
            let mut set = |k: &str, val: String| {
                let i = HEADER.iter().position(|h| *h == k).unwrap();
                r[i] = val;
            };
            set("id", id.clone());
            set("path", path.clone());
            set("model", model.to_string());
            set("level", level.to_string());
            set("clip", clip.map_or_else(String::new, |c| c.to_string()));
            set("status", "ok".to_string());
            set("seconds", "0.25".to_string());
            set("unknown_extra", "ignored".to_string());
            for (k, val) in fields {
                set(k, val.clone());
            }
            r
        };
        if v == 3 {
            rows.push(row(
                "video",
                None,
                &[("status", format!("{path}: No such file or directory"))],
            ));
            continue;
        }
        let labelled = v % 11 != 5;
        let label = v % 4;
        let trust = rng.normal();
        let mut level_fields = |clip: Option<usize>| -> Vec<(&'static str, String)> {
            let noise = rng.normal() * 0.7;
            let right = rng.uniform() < accuracy + 0.15 * (trust + noise).tanh();
            let pred = if right {
                label
            } else {
                (label + 1 + rng.below(3)) % 4
            };
            let top5 = (0..4)
                .map(|k| ((pred + k) % 4).to_string())
                .collect::<Vec<_>>()
                .join(" ");
            let t = trust + noise + if right { 0.8 } else { -0.3 };
            let softmax = 1.0 / (1.0 + (-1.5 * t).exp());
            let mut f = vec![
                ("pred_index", pred.to_string()),
                ("pred", LABELS[pred].to_string()),
                ("top5", top5),
                ("gradtrust", format!("{}", 20.0 + 6.0 * t + rng.normal())),
                ("softmax", format!("{softmax}")),
                (
                    "entropy",
                    format!("{}", -(1.0 - softmax) * 3.0 + 0.2 * rng.normal()),
                ),
                // Rounded: many ties.
                (
                    "margin",
                    format!(
                        "{}",
                        ((softmax - 0.3 * rng.uniform()).max(0.0) * 10.0).round() / 10.0
                    ),
                ),
                ("energy", format!("{}", 5.0 + t + 0.8 * rng.normal())),
            ];
            if rng.below(7) != 0 {
                f.push((
                    "mc_dropout",
                    format!("{}", -(1.0 - softmax) + 0.3 * rng.normal()),
                ));
            }
            if labelled {
                f.push(("label_index", label.to_string()));
                f.push(("label", LABELS[label].to_string()));
                f.push(("correct", b(right)));
                f.push(("correct_top5", b(true)));
            }
            if let Some(c) = clip {
                f.push(("frames", format!("{}-{}", c * 16, c * 16 + 15)));
            } else {
                f.push(("pred_index_softmax_sum", pred.to_string()));
                f.push(("top5_softmax_sum", "0 1 2 3".to_string()));
                if labelled {
                    f.push(("correct_softmax_sum", b(right)));
                    f.push(("correct_top5_softmax_sum", b(true)));
                }
            }
            f
        };
        for c in 0..3 {
            let f = level_fields(Some(c));
            rows.push(row("clip", Some(c), &f));
        }
        let f = level_fields(None);
        rows.push(row("video", None, &f));
    }
    rows
}

fn write_csv(path: &Path, rows: &[Vec<String>]) {
    let mut w = csv::Writer::from_path(path).unwrap();
    w.write_record(HEADER).unwrap();
    for r in rows {
        w.write_record(r).unwrap();
    }
    w.flush().unwrap();
}

fn write_jsonl(path: &Path, rows: &[Vec<String>]) {
    let mut text = String::new();
    for r in rows {
        let mut map = serde_json::Map::new();
        for (k, v) in HEADER.iter().zip(r) {
            let value = if v.is_empty() {
                Value::Null
            } else if *k == "correct" || k.starts_with("correct_") {
                Value::Bool(v == "true")
            } else if let (true, Ok(i)) = (k.ends_with("index") || *k == "clip", v.parse::<u64>()) {
                json!(i)
            } else if let (false, Ok(x)) = (*k == "id" || *k == "path", v.parse::<f64>()) {
                json!(x)
            } else {
                Value::String(v.clone())
            };
            map.insert(k.to_string(), value);
        }
        text.push_str(&Value::Object(map).to_string());
        text.push('\n');
    }
    std::fs::write(path, text).unwrap();
}

fn opts(results: Vec<PathBuf>, out: Option<&Path>) -> EvalOptions {
    EvalOptions {
        results,
        out: out.map(Path::to_path_buf),
        ..EvalOptions::default()
    }
}

/// Number of distinct colours in a PNG, and its size.
fn png_colours(path: &Path) -> (usize, u32, u32) {
    let decoder = png::Decoder::new(std::fs::File::open(path).unwrap());
    let mut reader = decoder
        .read_info()
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap();
    let channels = info.color_type.samples();
    let mut colours: Vec<&[u8]> = buf[..info.buffer_size()].chunks(channels).collect();
    colours.sort_unstable();
    colours.dedup();
    (colours.len(), info.width, info.height)
}

#[test]
fn eval_writes_every_file() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("r2plus1d_18.csv");
    let b = dir.path().join("mc3_18.jsonl");
    write_csv(&a, &results_rows("r2plus1d_18", 120, 0.7, 1));
    write_jsonl(&b, &results_rows("mc3_18", 90, 0.6, 2));
    // GRADTRUST_EVAL_KEEP=DIR keeps the output there, to look at the plots.
    let out = std::env::var_os("GRADTRUST_EVAL_KEEP")
        .map_or_else(|| dir.path().join("eval"), PathBuf::from);
    let text = eval::run(&opts(vec![a.clone(), b.clone()], Some(&out))).unwrap();
    eprintln!("{text}");

    // 120 videos: one error row, 11 unlabeled (v % 11 == 5), 108 evaluated.
    assert!(text.contains("120 video rows: 108 evaluated"), "{text}");
    assert!(
        text.contains("left out 1 with an error status, 11 without a label"),
        "{text}"
    );
    assert!(
        text.contains("AUROC (higher is better; * best, + second)"),
        "{text}"
    );

    let mut expected = vec![
        "metrics.csv".to_string(),
        "metrics.json".into(),
        "report.md".into(),
    ];
    for model in ["r2plus1d_18", "mc3_18"] {
        for kind in ["scatter", "risk_coverage", "roc", "histograms"] {
            for ext in ["svg", "png"] {
                expected.push(format!("{model}_{kind}.{ext}"));
            }
        }
    }
    for name in &expected {
        let p = out.join(name);
        assert!(
            p.is_file() && p.metadata().unwrap().len() > 0,
            "{name} missing"
        );
        if name.ends_with(".png") {
            let (colours, w, h) = png_colours(&p);
            assert!(w >= 800 && h >= 600, "{name}: {w}x{h}");
            assert!(colours >= 50, "{name}: only {colours} colours: blank?");
        }
        if name.ends_with(".svg") {
            let svg = std::fs::read_to_string(&p).unwrap();
            assert!(svg.contains("<svg") && svg.contains("<text"), "{name}");
        }
    }

    // metrics.json: the numbers equal the metrics of the rows, computed directly.
    let json = read_json(&out.join("metrics.json"));
    assert_eq!(json["level"], "video");
    let models = json["models"].as_array().unwrap();
    assert_eq!(models.len(), 2);
    assert_eq!(models[0]["model"], "r2plus1d_18");
    assert_eq!(models[0]["error_rows"], 1);
    assert_eq!(models[0]["unlabeled_rows"], 11);
    let scores: Vec<&str> = models[0]["scores"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["score"].as_str().unwrap())
        .collect();
    assert_eq!(scores, SCORES, "score order, and unknown_extra ignored");
    let mc = &models[0]["scores"][5];
    assert!(
        mc["missing"].as_u64().unwrap() > 0,
        "mc_dropout has empty cells"
    );
    assert_eq!(
        mc["n"].as_u64().unwrap() + mc["missing"].as_u64().unwrap(),
        108
    );
    assert!(models[0]["top1_softmax_sum"]["n"].as_u64().unwrap() == 108);

    // Clip level: 3 clips per video that has a file.
    let clip_out = dir.path().join("eval-clip");
    let text = eval::run(&EvalOptions {
        level: Level::Clip,
        metric: Metric::Aurc,
        ..opts(vec![a.clone()], Some(&clip_out))
    })
    .unwrap();
    assert!(text.contains("357 clip rows: 324 evaluated"), "{text}");
    let report = std::fs::read_to_string(clip_out.join("report.md")).unwrap();
    assert!(report.contains("AURC of each score"), "{report}");

    // report.md: main table with the best two of each row marked, counts, plots, no AUAC.
    let report = std::fs::read_to_string(out.join("report.md")).unwrap();
    let table: Vec<&str> = report
        .lines()
        .filter(|l| l.starts_with("| r2plus1d") || l.starts_with("| mc3"))
        .collect();
    assert!(
        table[0].contains("**") && table[0].matches('*').count() == 6,
        "{}",
        table[0]
    );
    assert!(
        report
            .contains("| model | gradtrust | softmax | entropy | margin | energy | mc\\_dropout |"),
        "{report}"
    );
    assert!(report.contains("left out: error status"));
    assert!(report.contains("![r2plus1d_18: risk–coverage"));
    assert!(!report.contains("AUAC:") && !report.contains("| AUAC"));

    // metrics.csv: one row per model and score.
    let mut r = csv::Reader::from_path(out.join("metrics.csv")).unwrap();
    let header = r.headers().unwrap().clone();
    assert!(header.iter().any(|h| h == "fpr95tpr") && header.iter().any(|h| h == "augrc"));
    assert_eq!(r.records().count(), 12);
}

#[test]
fn eval_equals_direct_metrics_of_the_rows() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("r.csv");
    let rows = results_rows("r3d_18", 60, 0.6, 3);
    write_csv(&a, &rows);
    let out = dir.path().join("o");
    eval::run(&opts(vec![a], Some(&out))).unwrap();
    let json = read_json(&out.join("metrics.json"));
    // Recompute gradtrust's metrics from the rows by hand.
    let col = |k: &str| HEADER.iter().position(|h| *h == k).unwrap();
    let (mut s, mut c) = (Vec::new(), Vec::new());
    for r in &rows {
        if r[col("level")] == "video" && r[col("status")] == "ok" && !r[col("correct")].is_empty() {
            s.push(r[col("gradtrust")].parse::<f64>().unwrap());
            c.push(r[col("correct")] == "true");
        }
    }
    let want = DetectionMetrics::compute(&s, &c);
    let got = &json["models"][0]["scores"][0];
    assert_eq!(got["score"], "gradtrust");
    for m in Metric::ALL {
        assert_eq!(got[m.as_str()].as_f64(), m.value(&want), "{m}");
    }
}

fn eval_err(files: Vec<PathBuf>) -> String {
    eval::run(&opts(files, None)).unwrap_err().to_string()
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

#[test]
fn no_wrong_predictions() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(
        dir.path(),
        "allright.csv",
        "model,level,correct,softmax,status\nm,video,true,0.9,ok\nm,video,true,0.8,ok\nm,video,true,0.7,ok\n",
    );
    let out = dir.path().join("o");
    let text = eval::run(&opts(vec![p], Some(&out))).unwrap();
    assert!(
        text.contains("every one of the 3 evaluated predictions is correct: AUROC, AUPR-Error, AUPR-Success and FPR@95TPR need wrong predictions too"),
        "{text}"
    );
    let json = read_json(&out.join("metrics.json"));
    let s = &json["models"][0]["scores"][0];
    assert!(s["auroc"].is_null() && s["fpr95tpr"].is_null());
    assert_eq!(s["aurc"], 0.0);
    let report = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(report.contains("- Note: every one of the 3"), "{report}");
    assert!(out.join("m_risk_coverage.png").is_file());
    assert!(
        !out.join("m_roc.png").exists(),
        "no ROC without wrong predictions"
    );
}

#[test]
fn no_correct_predictions() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(
        dir.path(),
        "allwrong.csv",
        "level,label_index,pred_index,energy\nvideo,1,2,0.9\nvideo,3,2,0.8\n",
    );
    let text = eval::run(&opts(vec![p], None)).unwrap();
    assert!(
        text.contains("none of the 2 evaluated predictions is correct"),
        "{text}"
    );
    assert!(text.contains("allwrong (")); // model named after the file without a model column
}

#[test]
fn constant_score() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(
        dir.path(),
        "flat.csv",
        "level,correct,softmax,gradtrust\nvideo,true,0.5,1\nvideo,false,0.5,2\nvideo,true,0.5,3\nvideo,false,0.5,0\n",
    );
    let out = dir.path().join("o");
    let text = eval::run(&opts(vec![p], Some(&out))).unwrap();
    assert!(
        text.contains(
            "score softmax is constant (0.5) over its 4 rows: it ranks nothing, so AUROC is 0.5"
        ),
        "{text}"
    );
    let json = read_json(&out.join("metrics.json"));
    let soft = &json["models"][0]["scores"][1];
    assert_eq!(soft["score"], "softmax");
    assert_eq!(soft["auroc"], 0.5);
    assert_eq!(soft["distinct_values"], 1);
}

#[test]
fn missing_labels() {
    let dir = tempfile::tempdir().unwrap();
    let none = write(
        dir.path(),
        "nolabels.csv",
        "level,label_index,pred_index,correct,softmax,status\nvideo,,3,,0.9,ok\nvideo,,2,,0.4,ok\nvideo,,,,,decode failed\n",
    );
    let err = eval_err(vec![none.clone()]);
    assert!(
        err.contains("no ok, labelled video rows to evaluate")
            && err.contains(
                "nolabels.csv: 3 video rows, 1 with an error status, 2 ok but without a label"
            )
            && err.contains("eval needs the label"),
        "{err}"
    );
    // Alongside a labelled file: counted, noted, not fatal.
    let some = write(
        dir.path(),
        "ok.csv",
        "level,correct,softmax\nvideo,true,0.9\nvideo,false,0.1\n",
    );
    let text = eval::run(&opts(vec![none, some], None)).unwrap();
    assert!(
        text.contains("left out 2 ok video rows without a label"),
        "{text}"
    );
    assert!(
        text.contains("no ok, labelled video rows: nothing to evaluate"),
        "{text}"
    );
}

#[test]
fn bad_files_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        ("empty.csv", "", "empty.csv: empty results file"),
        ("header.jsonl", "\n\n", "header.jsonl: no rows"),
        (
            "garbled.csv",
            "level,correct\nvideo,true\nvideo,true,1,2\n",
            "garbled.csv:3: garbled CSV",
        ),
        (
            "garbled.jsonl",
            "{\"level\":\"video\"}\nnot json\n",
            "garbled.jsonl:2: garbled JSON Lines",
        ),
        (
            "binary.csv",
            "\u{0}\u{1}PK\u{3}\u{4}",
            "binary.csv: not a results file",
        ),
        (
            "clips.csv",
            "level,correct\nclip,true\n",
            "clips.csv: no video rows (found 1 clip); evaluate them with level clip",
        ),
    ];
    for (name, text, want) in cases {
        let p = write(dir.path(), name, text);
        let err = eval_err(vec![p]);
        assert!(err.contains(want), "{name}: {err:?} lacks {want:?}");
    }
    let err = eval_err(vec![dir.path().join("absent.csv")]);
    assert!(err.contains("absent.csv"), "{err}");
    assert!(eval_err(vec![]).contains("no results files"));
}

#[test]
fn unknown_columns_are_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(
        dir.path(),
        "extra.csv",
        "my_score,level,note,correct,softmax,AUAC\n1,video,x,true,0.9,3\n2,video,y,false,0.2,4\n",
    );
    let out = dir.path().join("o");
    let text = eval::run(&opts(vec![p], Some(&out))).unwrap();
    assert!(
        !text.contains("my_score") && !text.contains("AUAC"),
        "{text}"
    );
    let json = read_json(&out.join("metrics.json"));
    assert_eq!(json["models"][0]["scores"].as_array().unwrap().len(), 1);
    assert_eq!(json["models"][0]["scores"][0]["auroc"], 1.0);
}

#[test]
fn same_model_in_two_files_stays_distinct() {
    let dir = tempfile::tempdir().unwrap();
    let body = "model,level,correct,softmax\nr3d_18,video,true,0.9\nr3d_18,video,false,0.1\n";
    let a = write(dir.path(), "run1.csv", body);
    let b = write(dir.path(), "run2.csv", body);
    let out = dir.path().join("o");
    eval::run(&opts(vec![a, b], Some(&out))).unwrap();
    assert!(out.join("r3d_18__run1__risk_coverage.png").is_file());
    assert!(out.join("r3d_18__run2__risk_coverage.png").is_file());
}

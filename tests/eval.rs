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
        // Working points: the target's number and its threshold.
        let groups = gradtrust_video::eval::metrics::TieGroups::new(scores, correct);
        for t in gradtrust_video::eval::metrics::Target::ALL {
            let wp = groups.working_point(t).unwrap();
            let w = &want["working_points"][t.name()];
            let v = wp.value().unwrap();
            assert!(
                (v - w[0].as_f64().unwrap()).abs() <= 1e-12,
                "case {i}: {}: {v} vs {}",
                t.name(),
                w[0]
            );
            // serde_json's default float parsing may be off by one ulp: compare to 1e-12.
            match (wp.threshold, w[1].as_f64()) {
                (Some(a), Some(b)) => assert!(
                    (a - b).abs() <= 1e-12 * b.abs().max(1.0),
                    "case {i}: {} threshold {a} vs {b}",
                    t.name()
                ),
                (a, b) => assert_eq!(a, b, "case {i}: {} threshold", t.name()),
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
        for kind in [
            "scatter",
            "risk_coverage",
            "roc",
            "reliability",
            "histograms",
        ] {
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

/// per_class.csv: one class's numbers are the metrics of that class's rows alone.
#[test]
fn per_class_rows_are_the_metrics_of_each_class() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("r.csv");
    let rows = results_rows("r3d_18", 120, 0.6, 4);
    write_csv(&a, &rows);
    let out = dir.path().join("o");
    eval::run(&EvalOptions {
        bootstrap: bootstrap(0, 0),
        ..opts(vec![a], Some(&out))
    })
    .unwrap();
    let col = |k: &str| HEADER.iter().position(|h| *h == k).unwrap();
    let mut r = csv::Reader::from_path(out.join("per_class.csv")).unwrap();
    let header = r.headers().unwrap().clone();
    let at = |rec: &csv::StringRecord, k: &str| {
        rec[header.iter().position(|h| h == k).unwrap()].to_string()
    };
    let recs: Vec<csv::StringRecord> = r.records().map(Result::unwrap).collect();
    assert_eq!(recs.len(), 4, "four classes");
    for rec in &recs {
        let label = at(rec, "label_index");
        let (mut s, mut c) = (Vec::new(), Vec::new());
        let mut wrong_preds = std::collections::BTreeMap::<String, usize>::new();
        for r in rows.iter().filter(|r| {
            r[col("level")] == "video" && r[col("status")] == "ok" && r[col("label_index")] == label
        }) {
            s.push(r[col("energy")].parse::<f64>().unwrap());
            c.push(r[col("correct")] == "true");
            if r[col("correct")] == "false" {
                *wrong_preds.entry(r[col("pred_index")].clone()).or_default() += 1;
            }
        }
        let want = DetectionMetrics::compute(&s, &c);
        assert_eq!(at(rec, "rows"), s.len().to_string());
        let acc = c.iter().filter(|&&x| x).count() as f64 / c.len() as f64;
        assert_eq!(at(rec, "accuracy").parse::<f64>().unwrap(), acc);
        assert_eq!(
            at(rec, "energy_auroc").parse::<f64>().ok(),
            want.auroc,
            "class {label}"
        );
        assert_eq!(
            at(rec, "energy_aurc").parse::<f64>().ok(),
            want.aurc,
            "class {label}"
        );
        let most = wrong_preds.values().max().copied().unwrap_or(0);
        assert_eq!(
            at(rec, "its_count"),
            if most > 0 {
                most.to_string()
            } else {
                String::new()
            }
        );
    }
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

/// Writes `level,correct,<columns…>` rows (video level) to `path`.
fn write_simple(path: &Path, columns: &[&str], rows: &[Vec<String>]) {
    let mut w = csv::Writer::from_path(path).unwrap();
    let mut header = vec!["model", "level"];
    header.extend(columns);
    w.write_record(&header).unwrap();
    for r in rows {
        let mut rec = vec!["m".to_string(), "video".to_string()];
        rec.extend(r.iter().cloned());
        w.write_record(&rec).unwrap();
    }
    w.flush().unwrap();
}

fn bootstrap(resamples: usize, seed: u64) -> eval::bootstrap::Bootstrap {
    eval::bootstrap::Bootstrap { resamples, seed }
}

#[test]
fn bootstrap_intervals_reproduce_and_reach_every_file() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("r.csv");
    write_csv(&a, &results_rows("r3d_18", 80, 0.65, 5));
    let run = |seed: u64, name: &str| {
        let out = dir.path().join(name);
        eval::run(&EvalOptions {
            bootstrap: bootstrap(300, seed),
            ..opts(vec![a.clone()], Some(&out))
        })
        .unwrap();
        out
    };
    let (one, two, other) = (run(3, "one"), run(3, "two"), run(4, "other"));
    let json = |d: &Path| read_json(&d.join("metrics.json"));
    assert_eq!(json(&one), json(&two), "same seed, same intervals");
    assert_ne!(
        json(&one)["models"][0]["scores"],
        json(&other)["models"][0]["scores"]
    );
    let m = &json(&one)["models"][0];
    assert_eq!(m["bootstrap_resamples"], 300);
    for s in m["scores"].as_array().unwrap() {
        for metric in Metric::ALL {
            let v = s[metric.as_str()].as_f64().unwrap();
            let i = &s["intervals"][metric.as_str()];
            let (lo, hi) = (i["lower"].as_f64().unwrap(), i["upper"].as_f64().unwrap());
            assert!(lo <= hi, "{metric}: [{lo}, {hi}]");
            // A percentile interval need not hold the estimate, but it lies near it.
            assert!(
                lo - 0.2 <= v && v <= hi + 0.2,
                "{metric}: {v} vs [{lo}, {hi}]"
            );
        }
    }
    let top1 = &m["top1"]["interval"];
    assert!(top1["lower"].as_f64().unwrap() < m["top1"]["value"].as_f64().unwrap());
    // metrics.csv carries value, lower, upper of every metric; report.md shows intervals.
    let mut r = csv::Reader::from_path(one.join("metrics.csv")).unwrap();
    let header = r.headers().unwrap().clone();
    for metric in Metric::ALL {
        for suffix in ["", "_lower", "_upper"] {
            let col = format!("{metric}{suffix}");
            assert!(header.iter().any(|h| h == col), "metrics.csv lacks {col}");
        }
    }
    let rec = r.records().next().unwrap().unwrap();
    let at = |c: &str| rec[header.iter().position(|h| h == c).unwrap()].to_string();
    assert_eq!(
        at("auroc_lower").parse::<f64>().unwrap(),
        m["scores"][0]["intervals"]["auroc"]["lower"]
            .as_f64()
            .unwrap()
    );
    let report = std::fs::read_to_string(one.join("report.md")).unwrap();
    assert!(
        report.contains("95% percentile bootstrap interval"),
        "{report}"
    );
    let row = report
        .lines()
        .find(|l| l.starts_with("| gradtrust |"))
        .unwrap();
    assert!(row.matches(" [").count() >= Metric::ALL.len(), "{row}");
    // --bootstrap 0: no intervals anywhere.
    let none = dir.path().join("none");
    eval::run(&EvalOptions {
        bootstrap: bootstrap(0, 0),
        ..opts(vec![a.clone()], Some(&none))
    })
    .unwrap();
    let j = json(&none);
    assert!(j["models"][0]["scores"][0]["intervals"]
        .as_object()
        .unwrap()
        .is_empty());
}

/// 200 simulated runs whose score has a known population AUROC: correct predictions score
/// 0.3 + U(0, 1), wrong ones U(0, 1), so AUROC = 1 − 0.7²/2 = 0.755. The 95% interval must
/// hold it in 90–99% of the runs.
#[test]
fn bootstrap_interval_covers_a_known_auroc() {
    let truth = 1.0 - 0.7f64.powi(2) / 2.0;
    let dir = tempfile::tempdir().unwrap();
    let mut rng = Rng(11);
    let (mut covered, sets) = (0, 200);
    for k in 0..sets {
        let rows: Vec<Vec<String>> = (0..200)
            .map(|_| {
                let correct = rng.uniform() < 0.7;
                let s = rng.uniform() + if correct { 0.3 } else { 0.0 };
                vec![correct.to_string(), s.to_string()]
            })
            .collect();
        let p = dir.path().join(format!("sim{k}.csv"));
        write_simple(&p, &["correct", "energy"], &rows);
        let out = dir.path().join(format!("o{k}"));
        eval::run(&EvalOptions {
            bootstrap: bootstrap(1000, k as u64),
            ..opts(vec![p], Some(&out))
        })
        .unwrap();
        let j = read_json(&out.join("metrics.json"));
        let i = &j["models"][0]["scores"][0]["intervals"]["auroc"];
        let (lo, hi) = (i["lower"].as_f64().unwrap(), i["upper"].as_f64().unwrap());
        covered += usize::from(lo <= truth && truth <= hi);
    }
    let rate = covered as f64 / sets as f64;
    eprintln!("95% bootstrap intervals hold the true AUROC {truth} in {covered}/{sets} runs");
    assert!((0.90..=0.99).contains(&rate), "coverage {rate}");
}

/// Softmax of `z` in f64.
fn softmax(z: &[f64]) -> Vec<f64> {
    let m = z.iter().fold(f64::NEG_INFINITY, |a, &b| a.max(b));
    let e: Vec<f64> = z.iter().map(|v| (v - m).exp()).collect();
    let s: f64 = e.iter().sum();
    e.iter().map(|v| v / s).collect()
}

#[test]
fn calibration_equals_sklearn_and_the_reference() {
    let mut rng = Rng(21);
    // (confidence, correct, probs+labels) cases: rows from random logits rounded to a few
    // levels (ties: identical rows), and hand-made confidences on the bin edges.
    struct Case {
        conf: Vec<f64>,
        correct: Vec<bool>,
        probs: Option<(Vec<Vec<f64>>, Vec<usize>)>,
    }
    let mut cases = Vec::new();
    for &(n, classes, levels, scale) in &[
        (30usize, 3usize, 3.0, 1.0),
        (200, 5, 2.0, 2.0),
        (500, 10, 4.0, 3.0),
        (1000, 4, 1.0, 4.0),
        (57, 2, 8.0, 1.5),
    ] {
        let mut probs = Vec::new();
        let (mut labels, mut conf, mut correct) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..n {
            let z: Vec<f64> = (0..classes)
                .map(|_| (rng.normal() * scale * levels).round() / levels)
                .collect();
            let p = softmax(&z);
            let top = (0..classes).fold(0, |b, j| if p[j] > p[b] { j } else { b });
            // Labels follow a sharper distribution than p: the model is miscalibrated.
            let y = if rng.uniform() < 0.6 {
                top
            } else {
                rng.below(classes)
            };
            conf.push(p[top]);
            correct.push(y == top);
            labels.push(y);
            probs.push(p);
        }
        cases.push(Case {
            conf,
            correct,
            probs: Some((probs, labels)),
        });
    }
    let step = 1.0 / 15.0;
    let edges: Vec<f64> = (0..=15).map(|b| f64::from(b) * step).collect();
    let mut conf = Vec::new();
    let mut correct = Vec::new();
    for i in 0..120 {
        conf.push(match i % 4 {
            0 => edges[rng.below(16)],
            1 => (rng.uniform() * 20.0).round() / 20.0,
            _ => rng.uniform(),
        });
        correct.push(rng.uniform() < conf[i]);
    }
    cases.push(Case {
        conf,
        correct,
        probs: None,
    });

    let dir = tempfile::tempdir().unwrap();
    let mut want_input = Vec::new();
    let mut got = Vec::new();
    for (k, c) in cases.iter().enumerate() {
        // Through eval's real path: rows with softmax, doctor and prob_label columns.
        let rows: Vec<Vec<String>> = (0..c.conf.len())
            .map(|i| {
                let (doctor, prob_label) = match &c.probs {
                    Some((p, y)) => {
                        let g: f64 = p[i].iter().map(|v| v * v).sum();
                        ((-(1.0 - g) / g).to_string(), p[i][y[i]].to_string())
                    }
                    None => (String::new(), String::new()),
                };
                vec![
                    c.correct[i].to_string(),
                    c.conf[i].to_string(),
                    doctor,
                    prob_label,
                ]
            })
            .collect();
        let p = dir.path().join(format!("c{k}.csv"));
        write_simple(&p, &["correct", "softmax", "doctor", "prob_label"], &rows);
        let out = dir.path().join(format!("o{k}"));
        eval::run(&EvalOptions {
            bootstrap: bootstrap(0, 0),
            ..opts(vec![p], Some(&out))
        })
        .unwrap();
        got.push(read_json(&out.join("metrics.json"))["models"][0]["calibration"].clone());
        want_input.push(json!({
            "confidence": c.conf,
            "correct": c.correct,
            "probs": c.probs.as_ref().map(|p| &p.0),
            "labels": c.probs.as_ref().map(|p| &p.1),
        }));
    }
    let input = dir.path().join("cases.json");
    let output = dir.path().join("reference.json");
    std::fs::write(&input, json!({ "calibration": want_input }).to_string()).unwrap();
    run_python(
        "calibration_reference.py",
        &[
            "--cases",
            input.to_str().unwrap(),
            "--out",
            output.to_str().unwrap(),
        ],
    );
    let reference = read_json(&output);
    let close = |a: f64, b: f64, what: &str| {
        assert!((a - b).abs() <= 1e-9, "{what}: {a} vs reference {b}");
    };
    let mut worst = 0.0f64;
    for (k, (g, w)) in got
        .iter()
        .zip(reference["calibration"].as_array().unwrap())
        .enumerate()
    {
        for key in ["ece", "adaptive_ece", "mce", "nll", "brier"] {
            match (g[key].as_f64(), w[key].as_f64()) {
                (Some(a), Some(b)) => {
                    worst = worst.max((a - b).abs());
                    close(a, b, &format!("case {k} {key}"));
                }
                (None, None) => {}
                other => panic!("case {k} {key}: {other:?}"),
            }
        }
        for (key, sk) in [("nll", "sklearn_nll"), ("brier", "sklearn_brier")] {
            if let Some(b) = w[sk].as_f64() {
                close(
                    g[key].as_f64().unwrap(),
                    b,
                    &format!("case {k} {key} vs scikit-learn"),
                );
            }
        }
        // The reliability diagram: every bin's count, confidence and accuracy.
        let bins = g["reliability"].as_array().unwrap();
        let wbins = w["reliability"].as_array().unwrap();
        assert_eq!(bins.len(), 15);
        for (b, (x, y)) in bins.iter().zip(wbins).enumerate() {
            assert_eq!(x["count"], y["count"], "case {k} bin {b}");
            for f in ["confidence", "accuracy"] {
                match (x[f].as_f64(), y[f].as_f64()) {
                    (Some(a), Some(b2)) => close(a, b2, &format!("case {k} bin {b} {f}")),
                    (None, None) => {}
                    other => panic!("case {k} bin {b} {f}: {other:?}"),
                }
            }
        }
        // scikit-learn's calibration_curve: the non-empty bins, equal-width and equal-mass.
        if let Some(sk) = w.get("sklearn_uniform") {
            let non_empty: Vec<&Value> = bins.iter().filter(|b| b["count"] != 0).collect();
            let acc = sk["accuracy"].as_array().unwrap();
            assert_eq!(non_empty.len(), acc.len(), "case {k}: non-empty bins");
            for (b, a) in non_empty.iter().zip(acc) {
                close(
                    b["accuracy"].as_f64().unwrap(),
                    a.as_f64().unwrap(),
                    "sklearn uniform",
                );
            }
            for (b, c) in non_empty.iter().zip(sk["confidence"].as_array().unwrap()) {
                close(
                    b["confidence"].as_f64().unwrap(),
                    c.as_f64().unwrap(),
                    "sklearn uniform",
                );
            }
            // (The reference checks its equal-mass bins against calibration_curve's
            // "quantile" strategy itself.)
        }
    }
    eprintln!(
        "{} calibration cases, largest difference {worst:e}",
        got.len()
    );
}

/// A deliberately over-confident run (logits 3× what the labels follow): temperature scaling
/// lowers the held-out NLL, and its T equals torch's LBFGS fit on the same half to 1e-4.
#[test]
fn temperature_scaling_fixes_an_overconfident_run() {
    let mut rng = Rng(31);
    let classes = 6;
    let mut rows = Vec::new();
    let mut all = Vec::new();
    for _ in 0..600 {
        let base: Vec<f64> = (0..classes).map(|_| 1.5 * rng.normal()).collect();
        let p = softmax(&base);
        let r = rng.uniform();
        let mut acc = 0.0;
        let y = p
            .iter()
            .position(|&q| {
                acc += q;
                r < acc
            })
            .unwrap_or(classes - 1);
        let z: Vec<f64> = base.iter().map(|v| 3.0 * v).collect();
        let top = (0..classes).fold(0, |b, j| if z[j] > z[b] { j } else { b });
        let q = softmax(&z);
        rows.push(vec![
            y.to_string(),
            top.to_string(),
            (y == top).to_string(),
            q[top].to_string(),
            z.iter().map(f64::to_string).collect::<Vec<_>>().join(" "),
        ]);
        all.push((z, y));
    }
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("overconfident.csv");
    write_simple(
        &p,
        &["label_index", "pred_index", "correct", "softmax", "logits"],
        &rows,
    );
    let out = dir.path().join("o");
    let seed = 5;
    let text = eval::run(&EvalOptions {
        bootstrap: bootstrap(100, seed),
        fit_temperature: true,
        ..opts(vec![p], Some(&out))
    })
    .unwrap();
    assert!(text.contains("temperature scaling: T = "), "{text}");
    let json = read_json(&out.join("metrics.json"));
    let t = &json["models"][0]["calibration"]["temperature"];
    let temperature = t["temperature"].as_f64().unwrap();
    let (before, after) = (
        t["before"]["nll"].as_f64().unwrap(),
        t["after"]["nll"].as_f64().unwrap(),
    );
    assert!(after < before, "held-out NLL {before} → {after}");
    assert!(
        t["after"]["ece"].as_f64().unwrap() < t["before"]["ece"].as_f64().unwrap(),
        "{t}"
    );
    assert!((2.0..4.5).contains(&temperature), "T = {temperature}");

    // The reference fits the same half.
    let (fit, held) = eval::calibration::temperature_split(all.len(), seed);
    assert_eq!(t["fit_rows"], fit.len());
    assert_eq!(t["held_out_rows"], held.len());
    let case = json!({
        "temperature": [{
            "logits": fit.iter().map(|&i| &all[i].0).collect::<Vec<_>>(),
            "labels": fit.iter().map(|&i| all[i].1).collect::<Vec<_>>(),
        }, {
            "logits": held.iter().map(|&i| &all[i].0).collect::<Vec<_>>(),
            "labels": held.iter().map(|&i| all[i].1).collect::<Vec<_>>(),
        }]
    });
    let input = dir.path().join("t.json");
    let output = dir.path().join("t_ref.json");
    std::fs::write(&input, case.to_string()).unwrap();
    run_python(
        "calibration_reference.py",
        &[
            "--cases",
            input.to_str().unwrap(),
            "--out",
            output.to_str().unwrap(),
        ],
    );
    let reference = read_json(&output);
    let t_ref = reference["temperature"][0]["temperature"].as_f64().unwrap();
    eprintln!(
        "temperature: rust {temperature}, torch LBFGS {t_ref}; held-out NLL {before} → {after}"
    );
    assert!(
        (temperature - t_ref).abs() <= 1e-4,
        "T {temperature} vs LBFGS {t_ref}"
    );
    // The held-out NLL before scaling is the reference's cross-entropy at T = 1.
    let held_ref = reference["temperature"][1]["nll_before"].as_f64().unwrap();
    assert!((before - held_ref).abs() <= 1e-9, "{before} vs {held_ref}");
}

/// Three runs: Table I as Markdown, CSV and LaTeX, sorted by accuracy, best two marked.
#[test]
fn three_runs_give_table_one_in_three_forms() {
    let dir = tempfile::tempdir().unwrap();
    let runs = [("mc3_18", 0.5, 7), ("r3d_18", 0.8, 8), ("s3d", 0.65, 9)];
    let files: Vec<PathBuf> = runs
        .iter()
        .map(|&(m, acc, seed)| {
            let p = dir.path().join(format!("{m}.csv"));
            write_csv(&p, &results_rows(m, 150, acc, seed));
            p
        })
        .collect();
    let out = dir.path().join("o");
    eval::run(&EvalOptions {
        bootstrap: bootstrap(50, 0),
        ..opts(files, Some(&out))
    })
    .unwrap();
    let json = read_json(&out.join("metrics.json"));
    let mut by_acc: Vec<(String, f64)> = json["models"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["model"].as_str().unwrap().to_string(),
                m["top1"]["value"].as_f64().unwrap(),
            )
        })
        .collect();
    by_acc.sort_by(|a, b| b.1.total_cmp(&a.1));
    let order: Vec<&str> = by_acc.iter().map(|m| m.0.as_str()).collect();

    let mut r = csv::Reader::from_path(out.join("table.csv")).unwrap();
    let header = r.headers().unwrap().clone();
    let recs: Vec<csv::StringRecord> = r.records().map(Result::unwrap).collect();
    assert_eq!(recs.iter().map(|r| &r[0]).collect::<Vec<_>>(), order);
    for rec in &recs {
        let ranks: Vec<&str> = header
            .iter()
            .zip(rec.iter())
            .filter(|(h, _)| h.ends_with("_rank"))
            .map(|(_, v)| v)
            .collect();
        assert_eq!(ranks.len(), SCORES.len());
        assert!(ranks.contains(&"1") && ranks.iter().filter(|r| !r.is_empty()).count() >= 2);
        assert!(!rec[header.iter().position(|h| h == "gradtrust_lower").unwrap()].is_empty());
    }
    let tex = std::fs::read_to_string(out.join("table.tex")).unwrap();
    assert!(
        tex.contains("\\begin{tabular}") && tex.contains("\\bottomrule"),
        "{tex}"
    );
    let tex_rows: Vec<&str> = tex
        .lines()
        .filter(|l| l.ends_with("\\\\") && !l.starts_with("model"))
        .collect();
    assert_eq!(tex_rows.len(), 3, "{tex}");
    for (row, model) in tex_rows.iter().zip(&order) {
        assert!(row.starts_with(&model.replace('_', "\\_")), "{row}");
        assert_eq!(row.matches("\\textbf{").count(), 1, "{row}");
        assert!(row.contains("\\underline{"), "{row}");
    }
    let report = std::fs::read_to_string(out.join("report.md")).unwrap();
    let md_rows: Vec<&str> = report
        .lines()
        .take_while(|l| !l.starts_with("## "))
        .filter(|l| l.starts_with("| ") && !l.starts_with("| model"))
        .collect();
    assert_eq!(md_rows.len(), 3, "{report}");
    for (row, model) in md_rows.iter().zip(&order) {
        assert!(
            row.starts_with(&format!("| {}", model.replace('_', "\\_"))),
            "{row}"
        );
        assert!(row.contains("**"), "{row}");
    }
}

/// The section of report.md about `model` (from its `## ` heading to the next one).
fn md_section<'a>(report: &'a str, model: &str) -> &'a str {
    let head = format!("\n## {}\n", model.replace('_', "\\_"));
    let start = report
        .find(&head)
        .unwrap_or_else(|| panic!("no section {head:?}"));
    let rest = &report[start + head.len()..];
    &rest[..rest.find("\n## ").unwrap_or(rest.len())]
}

/// report.md per run: the classes each score separates worst (lowest per-class AUROC of the
/// classes with both outcomes, recomputed here from the rows), the most frequent confusions
/// with names and counts, and the provenance block (or "no provenance file"); metrics.json
/// carries the provenance.
#[test]
fn report_md_has_per_class_confusions_and_provenance() {
    use gradtrust_video::results::Provenance;
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("r3d_18.csv");
    let b = dir.path().join("mc3_18.csv");
    let rows_a = results_rows("r3d_18", 160, 0.55, 41);
    write_csv(&a, &rows_a);
    write_csv(&b, &results_rows("mc3_18", 80, 0.6, 42));
    let provenance = Provenance {
        tool: "gradtrust-video 9.9.9".into(),
        model: "mc3_18".into(),
        weights_file: "mc3_18-a90a0ba3.pth".into(),
        weights_sha256: "a90a0ba3".repeat(8),
        labels: "Kinetics-400 (built in)".into(),
        labels_sha256: None,
        preset: "Preset { clip_len: 16, frame_rate: 15 }".into(),
        clips_per_video: 3,
        scores: vec!["gradtrust".into(), "softmax".into()],
        score_options: "odin_temperature=100 mc_passes=10".into(),
        seed: 7,
        list_file: "validate.csv".into(),
        list_sha256: "5e".repeat(32),
        limit: Some(100),
        shard: Some("2/4".into()),
        columns: gradtrust_video::results::columns(
            &[
                gradtrust_video::scores::ScoreName::GradTrust,
                gradtrust_video::scores::ScoreName::Softmax,
            ],
            true,
        ),
    };
    provenance.write(&b).unwrap();
    let out = dir.path().join("o");
    eval::run(&EvalOptions {
        bootstrap: bootstrap(0, 0),
        ..opts(vec![a.clone(), b.clone()], Some(&out))
    })
    .unwrap();
    let report = std::fs::read_to_string(out.join("report.md")).unwrap();

    // Per class, recomputed from run a's evaluated video rows.
    let col = |k: &str| HEADER.iter().position(|h| *h == k).unwrap();
    let evaluated: Vec<&Vec<String>> = rows_a
        .iter()
        .filter(|r| {
            r[col("level")] == "video" && r[col("status")] == "ok" && !r[col("correct")].is_empty()
        })
        .collect();
    let name = |i: usize| format!("{} ({i})", LABELS[i]);
    let section = md_section(&report, "r3d_18");
    let per_class = &section[section.find("### Per class").expect("per-class section")..];
    assert!(
        per_class.contains("4 classes among the evaluated rows; 4 of them have both"),
        "{per_class}"
    );
    for score in SCORES {
        // (AUROC, class, rows, accuracy) of every class with both outcomes.
        let mut classes: Vec<(f64, usize, usize, f64)> = (0..4)
            .filter_map(|c| {
                let (mut s, mut k) = (Vec::new(), Vec::new());
                let mut n = 0;
                let mut right = 0;
                for r in evaluated
                    .iter()
                    .filter(|r| r[col("label_index")] == c.to_string())
                {
                    n += 1;
                    right += usize::from(r[col("correct")] == "true");
                    if let Ok(v) = r[col(score)].parse::<f64>() {
                        s.push(v);
                        k.push(r[col("correct")] == "true");
                    }
                }
                let auroc = DetectionMetrics::compute(&s, &k).auroc?;
                Some((auroc, c, n, right as f64 / n as f64))
            })
            .collect();
        classes.sort_by(|x, y| x.0.total_cmp(&y.0).then(x.1.cmp(&y.1)));
        let want: Vec<String> = classes
            .iter()
            .take(3)
            .map(|(auroc, c, n, acc)| {
                format!("{}: {auroc:.4} ({n} rows, {:.1}%)", name(*c), 100.0 * acc)
            })
            .collect();
        let line = format!("| {} | {} |", score.replace('_', "\\_"), want.join("; "));
        assert!(per_class.contains(&line), "{score}: {line}\n{per_class}");
    }
    // Confusions: (true, predicted) pairs by count, most frequent first.
    let mut pairs = std::collections::BTreeMap::<(usize, usize), usize>::new();
    let mut class_rows = [0usize; 4];
    for r in &evaluated {
        let t: usize = r[col("label_index")].parse().unwrap();
        class_rows[t] += 1;
        if r[col("correct")] == "false" {
            *pairs
                .entry((t, r[col("pred_index")].parse().unwrap()))
                .or_default() += 1;
        }
    }
    let mut pairs: Vec<((usize, usize), usize)> = pairs.into_iter().collect();
    pairs.sort_by(|x, y| y.1.cmp(&x.1).then(x.0.cmp(&y.0)));
    let table: Vec<&str> = per_class
        .lines()
        .skip_while(|l| !l.starts_with("| true class | predicted class | count |"))
        .skip(2)
        .take_while(|l| l.starts_with("| "))
        .collect();
    assert_eq!(table.len(), pairs.len().min(10), "{per_class}");
    for (line, ((t, p), n)) in table.iter().zip(&pairs) {
        assert_eq!(
            *line,
            format!(
                "| {} | {} | {n} | {n}/{} |",
                name(*t),
                name(*p),
                class_rows[*t]
            )
        );
    }

    // Provenance: none beside a, the recorded run beside b.
    let prov_a = &section[section.find("### Provenance").expect("provenance section")..];
    assert!(
        prov_a.contains("No provenance file (`") && prov_a.contains("r3d_18.csv.provenance.json"),
        "{prov_a}"
    );
    let section = md_section(&report, "mc3_18");
    let prov_b = &section[section.find("### Provenance").expect("provenance section")..];
    for want in [
        "| tool | gradtrust-video 9.9.9 |".to_string(),
        format!(
            "| weights | `mc3_18-a90a0ba3.pth` (SHA-256 `{}`) |",
            "a90a0ba3".repeat(8)
        ),
        "| labels | Kinetics-400 (built in) |".to_string(),
        "| preset | `Preset { clip_len: 16, frame_rate: 15 }` |".to_string(),
        "| clips per video | 3 |".to_string(),
        "| scores | gradtrust, softmax |".to_string(),
        "| score options | `odin_temperature=100 mc_passes=10` |".to_string(),
        "| seed | 7 |".to_string(),
        format!(
            "| list | `validate.csv` (SHA-256 `{}`), its first 100 entries |",
            "5e".repeat(32)
        ),
        "| shard | 2/4 |".to_string(),
        "| logits column | yes (`batch --logits`) |".to_string(),
    ] {
        assert!(prov_b.contains(&want), "{want}\n{prov_b}");
    }
    let json = read_json(&out.join("metrics.json"));
    assert_eq!(json["models"][0]["provenance"], Value::Null);
    let p = &json["models"][1]["provenance"];
    assert_eq!(p["weights_sha256"], "a90a0ba3".repeat(8));
    assert_eq!(p["shard"], "2/4");
    assert_eq!(p["list_sha256"], "5e".repeat(32));
    assert_eq!(
        serde_json::from_value::<Provenance>(p.clone()).unwrap(),
        provenance,
        "metrics.json carries the whole provenance"
    );
}

/// `scores` chooses what is measured, tabled and plotted; calibration still uses the
/// softmax column; a chosen score no file has is an error naming it; on the command line an
/// unknown name is a flag error (exit 2).
#[test]
fn eval_scores_choose_what_is_plotted_and_tabled() {
    use gradtrust_video::scores::ScoreName;
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("r3d_18.csv");
    write_csv(&a, &results_rows("r3d_18", 90, 0.6, 51));
    let out = dir.path().join("o");
    let chosen = |scores: Vec<ScoreName>, out: &Path| {
        eval::run(&EvalOptions {
            bootstrap: bootstrap(0, 0),
            scores: Some(scores),
            ..opts(vec![a.clone()], Some(out))
        })
    };
    chosen(vec![ScoreName::Energy, ScoreName::GradTrust], &out).unwrap();
    let json = read_json(&out.join("metrics.json"));
    let names: Vec<&str> = json["models"][0]["scores"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["score"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["gradtrust", "energy"], "the project's score order");
    assert!(
        json["models"][0]["calibration"]["ece"].is_number(),
        "calibration does not depend on the scores chosen"
    );
    let report = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(
        report.contains("| model | gradtrust | energy |"),
        "{report}"
    );
    assert!(!report.contains("| softmax |"), "{report}");
    let per_class = std::fs::read_to_string(out.join("per_class.csv")).unwrap();
    let header = per_class.lines().next().unwrap();
    assert!(
        header.ends_with("gradtrust_auroc,gradtrust_aurc,energy_auroc,energy_aurc"),
        "{header}"
    );
    assert_eq!(
        std::fs::read_to_string(out.join("metrics.csv"))
            .unwrap()
            .lines()
            .count(),
        3
    );
    assert!(out.join("r3d_18_risk_coverage.svg").is_file());
    assert!(
        !out.join("r3d_18_scatter.svg").exists(),
        "softmax not chosen: no GradTrust-vs-softmax scatter"
    );
    let svg = std::fs::read_to_string(out.join("r3d_18_histograms.svg")).unwrap();
    assert!(
        svg.contains("energy") && !svg.contains("mc_dropout") && !svg.contains("margin"),
        "only the chosen scores are drawn"
    );
    let out2 = dir.path().join("o2");
    chosen(vec![ScoreName::GradTrust, ScoreName::Softmax], &out2).unwrap();
    assert!(out2.join("r3d_18_scatter.svg").is_file());

    let err = chosen(vec![ScoreName::GradTrust, ScoreName::PurviewFinal], &out)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("purview_final") && err.contains("in none of the results files"),
        "{err}"
    );

    // The command line: a comma list; an unknown name is a flag error.
    let cli = |scores: &str| {
        std::process::Command::new(common::bin())
            .arg("eval")
            .arg(&a)
            .args(["--bootstrap", "0", "--scores", scores])
            .output()
            .unwrap()
    };
    let ok = cli("gradtrust,energy");
    let text = String::from_utf8_lossy(&ok.stdout);
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert!(
        text.contains("  gradtrust") && text.contains("  energy") && !text.contains("  margin"),
        "{text}"
    );
    let bad = cli("gradtrust,trust");
    assert_eq!(bad.status.code(), Some(2));
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(
        err.contains("--scores") && err.contains("\"trust\""),
        "{err}"
    );
}

/// Rows as batch makes them (`results::video_rows` from reports with f32 logits), written by
/// the results writer with the logits column in CSV and JSON Lines: `prob_label` is the
/// softmax of the row's logits cell, and eval's NLL, Brier and temperature scaling are those
/// of the logits.
#[test]
fn rows_with_logits_give_nll_brier_and_temperature() {
    use gradtrust_video::models::InputKind;
    use gradtrust_video::prediction::Ranked;
    use gradtrust_video::results::{self, ResultsWriter, VideoInfo, WriteMode};
    use gradtrust_video::scores::{SampleScores, ScoreName};
    use gradtrust_video::scoring::{ClipReport, Level as Sample, VideoReport};

    let classes = 5;
    let mut rng = Rng(61);
    let level = |z: &[f32]| {
        let z64: Vec<f64> = z.iter().map(|&v| f64::from(v)).collect();
        let p = softmax(&z64);
        let mut order: Vec<usize> = (0..classes).collect();
        order.sort_by(|&x, &y| p[y].total_cmp(&p[x]));
        Sample {
            top5: order
                .iter()
                .map(|&i| Ranked {
                    index: i,
                    prob: p[i],
                })
                .collect(),
            scores: SampleScores::from_values([(ScoreName::Softmax, Some(p[order[0]]))]),
            logits: z.to_vec(),
        }
    };
    let mut videos = Vec::new();
    for v in 0..240 {
        // Overconfident: the labels follow a flatter distribution than the logits.
        let base: Vec<f64> = (0..classes).map(|_| 1.2 * rng.normal()).collect();
        let p = softmax(&base);
        let r = rng.uniform();
        let mut acc = 0.0;
        let y = p
            .iter()
            .position(|&q| {
                acc += q;
                r < acc
            })
            .unwrap_or(classes - 1);
        let clips: Vec<Vec<f32>> = (0..2)
            .map(|_| {
                base.iter()
                    .map(|b| (3.0 * b + 0.3 * rng.normal()) as f32)
                    .collect()
            })
            .collect();
        let mean: Vec<f32> = (0..classes)
            .map(|c| (clips[0][c] + clips[1][c]) / 2.0)
            .collect();
        let info = VideoInfo {
            id: format!("v{v:03}"),
            path: format!("v{v:03}.mp4"),
            model: "r3d_18".into(),
            label_index: Some(y),
            label: Some(format!("class_{y}")),
        };
        let report = VideoReport {
            model: "r3d_18".into(),
            kind: InputKind::Video,
            path: PathBuf::from(&info.path),
            frames_decoded: 32,
            fps: 25.0,
            video: level(&mean),
            video_top5_softmax_sum: level(&mean).top5,
            clips: clips
                .iter()
                .enumerate()
                .map(|(k, z)| ClipReport {
                    index: k,
                    window: k,
                    secs: [0.0, 0.6],
                    frames: [16 * k, 16 * k + 15],
                    padded: false,
                    level: level(z),
                })
                .collect(),
            notes: Vec::new(),
        };
        videos.push((info, report, mean, y));
    }
    let scores = [ScoreName::Softmax];
    let labels = gradtrust_video::labels::Labels::generic(classes);
    let dir = tempfile::tempdir().unwrap();
    for name in ["rows.csv", "rows.jsonl"] {
        let path = dir.path().join(name);
        let provenance = results::Provenance {
            tool: "t".into(),
            model: "r3d_18".into(),
            weights_file: "w.pth".into(),
            weights_sha256: "00".repeat(32),
            labels: "generic".into(),
            labels_sha256: None,
            preset: "p".into(),
            clips_per_video: 2,
            scores: vec!["softmax".into()],
            score_options: "o".into(),
            seed: 0,
            list_file: "l.csv".into(),
            list_sha256: "00".repeat(32),
            limit: None,
            shard: None,
            columns: results::columns(&scores, true),
        };
        let (mut w, _) =
            ResultsWriter::open(&path, &provenance, &labels, WriteMode::Create).unwrap();
        for (info, report, _, _) in &videos {
            w.write_video(&results::video_rows(info, report, &scores, 0.5))
                .unwrap();
        }
        drop(w);

        // Every row: prob_label = softmax(logits cell)[label], to the last bits.
        for level in [Level::Clip, Level::Video] {
            let f = gradtrust_video::results::samples::read(&path, level).unwrap();
            assert_eq!(
                f.samples.len(),
                if level == Level::Video { 240 } else { 480 }
            );
            for s in &f.samples {
                let z = s.logits.as_ref().expect("a logits cell");
                assert_eq!(z.len(), classes);
                let want = softmax(z)[s.label.unwrap()];
                let got = s.prob_label.expect("a prob_label cell");
                assert!(
                    (got - want).abs() <= 1e-15,
                    "{name} {}: {got} vs {want}",
                    s.id
                );
            }
        }

        let out = dir.path().join(format!("o-{name}"));
        let text = eval::run(&EvalOptions {
            bootstrap: bootstrap(0, 0),
            fit_temperature: true,
            ..opts(vec![path.clone()], Some(&out))
        })
        .unwrap();
        assert!(text.contains("temperature scaling: T = "), "{text}");
        let json = read_json(&out.join("metrics.json"));
        let c = &json["models"][0]["calibration"];
        // NLL and Brier of the video rows: the clip-averaged logits, as f32.
        let (mut nll, mut brier) = (0.0, 0.0);
        for (_, _, mean, y) in &videos {
            let p = softmax(&mean.iter().map(|&v| f64::from(v)).collect::<Vec<_>>());
            nll -= p[*y].ln();
            brier += p
                .iter()
                .enumerate()
                .map(|(c, q)| (q - f64::from(u8::from(c == *y))).powi(2))
                .sum::<f64>();
        }
        let n = videos.len() as f64;
        let (nll, brier) = (nll / n, brier / n);
        let got_nll = c["nll"].as_f64().expect("NLL filled");
        let got_brier = c["brier"].as_f64().expect("Brier filled");
        assert!(
            (got_nll - nll).abs() <= 1e-6 * nll,
            "{name}: NLL {got_nll} vs {nll}"
        );
        assert!(
            (got_brier - brier).abs() <= 1e-6 * brier,
            "{name}: Brier {got_brier} vs {brier}"
        );
        let t = &c["temperature"];
        let temperature = t["temperature"].as_f64().expect("a temperature");
        assert!(
            temperature > 1.5,
            "{name}: overconfident logits, T = {temperature}"
        );
        assert!(
            t["after"]["nll"].as_f64().unwrap() < t["before"]["nll"].as_f64().unwrap(),
            "{name}: {t}"
        );
    }
}

//! Formatting results: the only module that knows how a report looks as text or JSON.
use std::fmt::Write as _;

use serde_json::{json, Map, Value};

use crate::labels::Labels;
use crate::models::InputKind;
use crate::prediction::Ranked;
use crate::scores::{SampleScores, ScoreName};
use crate::scoring::{Level, VideoReport};

/// `v` with `digits` significant digits: fixed notation from 1e-5 to 1e7 (`33.70`,
/// `-0.0001210`, `123456`), scientific outside (`1.295e-7`). A table of scores reads better
/// than six fixed decimals, which show `0.000000` for a small score and seven digits of
/// noise for a large one.
pub fn significant(v: f64, digits: usize) -> String {
    let digits = digits.max(1);
    if !v.is_finite() {
        return v.to_string();
    }
    if v == 0.0 {
        return "0".into();
    }
    // The exponent after rounding to `digits` (9.9996 is 1.000e1).
    let sci = format!("{:.*e}", digits - 1, v);
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if (-5..7).contains(&exp) {
        let decimals = (digits as i32 - 1 - exp).max(0) as usize;
        format!("{v:.decimals$}")
    } else {
        format!("{mantissa}e{exp}")
    }
}

/// `30.0000` as `30`, `29.9700` as `29.97`: a rate, not a measurement to four digits.
fn trim_zeros(s: &str) -> &str {
    if s.contains('.') && !s.contains('e') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        s
    }
}

/// The significant digits of the text output.
const DIGITS: usize = 4;

/// A JSON number: a value that is exactly a `float32` (the scores the model's float32
/// tensors give, widened) as the shortest decimal of that `float32` (`0.1`, not
/// `0.10000000149011612`); any other value as the shortest decimal of the `f64`.
pub fn json_number(v: f64) -> Value {
    Value::from(crate::results::shortest(v))
}

fn top5_json(top: &[Ranked], labels: &Labels) -> Value {
    Value::Array(
        top.iter()
            .map(|r| {
                let mut m = Map::new();
                m.insert("index".into(), json!(r.index));
                m.insert("label".into(), json!(labels.name(r.index)));
                m.insert("prob".into(), json_number(r.prob));
                Value::Object(m)
            })
            .collect(),
    )
}

fn scores_json(scores: &SampleScores) -> Value {
    let map: Map<String, Value> = scores
        .values()
        .into_iter()
        .map(|(name, v)| (name.to_string(), v.map_or(Value::Null, json_number)))
        .collect();
    Value::Object(map)
}

/// `top5`, then (the video: `top5_softmax_sum`), `scores`, `notes`: the README's order.
fn level_json(
    level: &Level,
    softmax_sum: Option<&[Ranked]>,
    labels: &Labels,
) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("top5".into(), top5_json(&level.top5, labels));
    if let Some(fused) = softmax_sum {
        m.insert("top5_softmax_sum".into(), top5_json(fused, labels));
    }
    m.insert("scores".into(), scores_json(&level.scores));
    m.insert("notes".into(), json!(level.scores.notes()));
    m
}

/// The `--json` object of `score`, its keys in the README's order: `model`, `kind`, `path`,
/// `frames_decoded`, `fps`, `video`, `clips`, `notes`.
pub fn report_json(report: &VideoReport, labels: &Labels) -> Value {
    let video = level_json(&report.video, Some(&report.video_top5_softmax_sum), labels);
    let clips: Vec<Value> = report
        .clips
        .iter()
        .map(|c| {
            let mut m = Map::new();
            m.insert("index".into(), json!(c.index));
            m.insert("window".into(), json!(c.window));
            m.insert("frames".into(), json!(c.frames));
            m.insert("secs".into(), json!(c.secs));
            m.insert("padded".into(), json!(c.padded));
            m.extend(level_json(&c.level, None, labels));
            Value::Object(m)
        })
        .collect();
    let kind = match report.kind {
        InputKind::Video => "video",
        InputKind::Image => "image",
    };
    let mut m = Map::new();
    m.insert("model".into(), json!(report.model));
    m.insert("kind".into(), json!(kind));
    m.insert("path".into(), json!(report.path.display().to_string()));
    m.insert("frames_decoded".into(), json!(report.frames_decoded));
    m.insert("fps".into(), json!(report.fps));
    m.insert("video".into(), Value::Object(video));
    m.insert("clips".into(), Value::Array(clips));
    m.insert("notes".into(), json!(report.notes));
    Value::Object(m)
}

/// What each score is, in a few words, for the legend beside the video's scores (the
/// README's "Reading the scores" has the rest). `n` is the class count.
fn legend(name: ScoreName, n: usize) -> String {
    match name {
        ScoreName::GradTrust => {
            format!("in [1, {n}]: spread of counterfactual gradients (this model only)")
        }
        ScoreName::Softmax => "top-1 probability, in [0, 1]".into(),
        ScoreName::Entropy => format!("Σ p log p (negative entropy), in [−ln {n}, 0]"),
        ScoreName::Margin => "top-1 minus top-2 probability, in [0, 1]".into(),
        ScoreName::LogLikelihood => "the top logit (MaxLogit), not a log-probability".into(),
        ScoreName::Energy => "logsumexp of the logits".into(),
        ScoreName::NegBrier => format!("−mean (p − one-hot of top-1)², in (−1/{n}, 0]"),
        ScoreName::GradNorm => "−‖classifier gradient of KL(uniform ‖ p)‖, ≤ 0".into(),
        ScoreName::Doctor => format!("DOCTOR −(1 − Σp²)/Σp², in [−{}, 0]", n.saturating_sub(1)),
        ScoreName::McDropout => "Σ p̄ log(p̄ + 1e-4), p̄ the mean of dropout passes".into(),
        ScoreName::Odin => "top-1 probability at temperature T after an input step".into(),
        ScoreName::PurviewInitial => "−mean squared gradient, first half of the layers".into(),
        ScoreName::PurviewFinal => "−mean squared gradient, second half of the layers".into(),
    }
}

/// One top-5 line: rank, name, probability (a fraction, as the `softmax` score), class.
fn write_top5(out: &mut String, top: &[Ranked], labels: &Labels, indent: &str) {
    for (rank, r) in top.iter().enumerate() {
        let label = labels.name(r.index).unwrap_or("?");
        let _ = writeln!(
            out,
            "{indent}{}. {label:<40} {:>9}  (class {})",
            rank + 1,
            significant(r.prob, DIGITS),
            r.index
        );
    }
}

/// Top-5, then the scores (with the legend on the video's level only: the clips' scores
/// are the same quantities), then the scores' notes.
fn write_level(out: &mut String, level: &Level, labels: &Labels, legend_of: Option<usize>) {
    write_top5(out, &level.top5, labels, "  ");
    if legend_of.is_some() {
        let _ = writeln!(out, "  scores (every one: higher = more trust):");
    } else {
        let _ = writeln!(out, "  scores:");
    }
    for (name, v) in level.scores.values() {
        let value = v.map_or_else(|| "n/a".to_string(), |v| significant(v, DIGITS));
        match legend_of {
            Some(n) => {
                let _ = writeln!(
                    out,
                    "    {:<15} {value:<11} {}",
                    name.as_str(),
                    legend(name, n)
                );
            }
            None => {
                let _ = writeln!(out, "    {:<15} {value}", name.as_str());
            }
        }
    }
    for note in level.scores.notes() {
        let _ = writeln!(out, "  note: {note}");
    }
}

/// The human-readable report of `score`: the video (the clip-averaged model, which the
/// scores describe) with its top-5 once, then each clip (an image: its one prediction).
/// Probabilities are fractions throughout, as the `softmax` score; numbers have four
/// significant digits.
pub fn report_text(report: &VideoReport, labels: &Labels) -> String {
    let mut out = String::new();
    let n = report.video.logits.len().max(labels.len());
    if report.kind == InputKind::Image {
        let _ = writeln!(
            out,
            "{}  model {}  image",
            report.path.display(),
            report.model
        );
        for note in &report.notes {
            let _ = writeln!(out, "note: {note}");
        }
        let _ = writeln!(out);
        write_level(&mut out, &report.video, labels, Some(n));
        return out;
    }
    let _ = writeln!(
        out,
        "{}  model {}  {} frames decoded at {} fps, {} clips",
        report.path.display(),
        report.model,
        report.frames_decoded,
        trim_zeros(&significant(report.fps, 6)),
        report.clips.len()
    );
    for note in &report.notes {
        let _ = writeln!(out, "note: {note}");
    }
    let _ = writeln!(
        out,
        "\nvideo: the clip-averaged model (mean of the {} clips' logits), which the scores describe",
        report.clips.len()
    );
    write_top5(&mut out, &report.video.top5, labels, "  ");
    if let Some(line) = softmax_sum_line(report, labels) {
        let _ = writeln!(out, "  {line}");
    }
    let mut scores_only = report.video.clone();
    scores_only.top5.clear();
    write_level(&mut out, &scores_only, labels, Some(n));
    for clip in &report.clips {
        let _ = writeln!(
            out,
            "\nclip {} (frames {}–{}, {:.2}–{:.2} s{}):",
            clip.index,
            clip.frames[0],
            clip.frames[1],
            clip.secs[0],
            clip.secs[1],
            if clip.padded { ", padded" } else { "" }
        );
        write_level(&mut out, &clip.level, labels, None);
    }
    out
}

/// torchvision's video prediction (the class with the largest sum of clip softmaxes), said
/// only where its top-1 differs from the clip-averaged model's: published accuracies use it,
/// but the scores describe the clip-averaged model.
fn softmax_sum_line(report: &VideoReport, labels: &Labels) -> Option<String> {
    let fused = report.video_top5_softmax_sum.first()?;
    if report.video.top5.first().map(|r| r.index) == Some(fused.index) {
        return None;
    }
    Some(format!(
        "torchvision's summed clip softmax puts {} first instead (mean clip probability {}, class {}); the scores describe the clip-averaged top-1",
        labels.name(fused.index).unwrap_or("?"),
        significant(fused.prob, DIGITS),
        fused.index
    ))
}

/// The `models` listing: one block per registry entry.
pub fn models_table(models_dir: &std::path::Path) -> String {
    let mut out = String::new();
    for spec in crate::models::all() {
        let preset = (spec.preset)();
        let facts = spec.facts();
        let resize = match preset.resize {
            crate::preset::Resize::Exact { height, width } => format!("{height}×{width}"),
            crate::preset::Resize::ShortSide(s) => format!("short side {s}"),
        };
        let files: Vec<String> = std::iter::once(spec.weight_file)
            .chain(spec.alt_weight_files.iter().copied())
            .map(|f| {
                let present = if models_dir.join(f).is_file() {
                    "present"
                } else {
                    "absent"
                };
                format!("{f} ({present} in {})", models_dir.display())
            })
            .collect();
        let sampling = match spec.input {
            InputKind::Video => format!(
                "clip_len {}, frame_rate {}, clips_per_video {}, ",
                preset.clip_len, preset.frame_rate, preset.clips_per_video
            ),
            InputKind::Image => format!(
                "{:?}{}, ",
                preset.interpolation,
                if preset.antialias { " antialiased" } else { "" }
            ),
        };
        let input = match spec.input {
            InputKind::Video => format!(
                "T ≥ {}, H ≥ {}, W ≥ {}",
                spec.min_input[0], spec.min_input[1], spec.min_input[2]
            ),
            InputKind::Image => format!(
                "image (one frame), H ≥ {}, W ≥ {}",
                spec.min_input[1], spec.min_input[2]
            ),
        };
        let _ = writeln!(
            out,
            "{}\n  parameters {}  GFLOPs {}  acc@1/acc@5 {:.3}/{:.3}  classes {}\n  weights {}\n  classifier {} {:?}\n  preset: resize {resize}, crop {}×{}, {sampling}mean {:?}, std {:?}\n  input: {input}{}",
            spec.name,
            facts.num_params,
            spec.gflops,
            spec.acc1,
            spec.acc5,
            spec.num_classes(),
            files.join(", "),
            spec.classifier_key,
            facts.classifier_shape,
            preset.crop.0,
            preset.crop.1,
            preset.mean,
            preset.std,
            spec.input_note.map(|n| format!(" ({n})")).unwrap_or_default(),
        );
    }
    out
}

/// A number of seconds as `1h02m03s`, `2m03s` or `4.5s`.
pub fn duration(secs: f64) -> String {
    if !secs.is_finite() {
        return "?".into();
    }
    let s = secs.round() as u64;
    match s {
        0..=59 => format!("{secs:.1}s"),
        60..=3599 => format!("{}m{:02}s", s / 60, s % 60),
        _ => format!("{}h{:02}m{:02}s", s / 3600, s / 60 % 60, s % 60),
    }
}

/// The end-of-run summary of `batch`.
pub fn batch_summary(
    stats: &crate::pipeline::Stats,
    out: &std::path::Path,
    skipped: usize,
) -> String {
    let mut text = String::new();
    let pct = |n: usize, d: usize| {
        if d == 0 {
            "n/a".to_string()
        } else {
            format!("{:.2}% ({n}/{d})", 100.0 * n as f64 / d as f64)
        }
    };
    let secs = stats.elapsed.as_secs_f64().max(1e-9);
    let _ = writeln!(
        text,
        "videos: {} ok, {} failed{}; rows in {}",
        stats.videos_ok,
        stats.videos_failed,
        if skipped > 0 {
            format!(", {skipped} already complete (resumed)")
        } else {
            String::new()
        },
        out.display()
    );
    for e in &stats.error_examples {
        let _ = writeln!(text, "  error: {e}");
    }
    let _ = writeln!(
        text,
        "clip accuracy: top-1 {}, top-5 {}",
        pct(stats.clips_correct, stats.clips_labelled),
        pct(stats.clips_correct_top5, stats.clips_labelled)
    );
    let _ = writeln!(
        text,
        "video accuracy (clip-averaged logits): top-1 {}, top-5 {}; by summed clip softmax: top-1 {}",
        pct(stats.videos_correct, stats.videos_labelled),
        pct(stats.videos_correct_top5, stats.videos_labelled),
        pct(stats.videos_correct_softmax_sum, stats.videos_labelled)
    );
    let _ = writeln!(
        text,
        "throughput: {:.2} videos/s, {:.1} clips/s ({} in {})",
        stats.videos_done as f64 / secs,
        stats.clips as f64 / secs,
        stats.videos_done,
        duration(secs)
    );
    // Each model stage's own timing of its batches: how busy it was, and (several stages)
    // how long they scored at the same time.
    for (i, stage) in stats.stages.iter().enumerate() {
        let busy = stage.busy().as_secs_f64();
        let _ = writeln!(
            text,
            "stage {i} ({}): {} batches, {} clips, busy {} ({:.0}% of the run)",
            stage.device,
            stage.batches,
            stage.clips,
            duration(busy),
            100.0 * busy / secs
        );
    }
    if stats.stages.len() > 1 {
        let _ = writeln!(
            text,
            "stages scoring at the same time: {:.3} s",
            stats.stages_overlap().as_secs_f64()
        );
    }
    text
}

/// What a timeline's text header says about the run.
pub struct TimelineHead<'a> {
    pub source: &'a str,
    pub model: &'a str,
    pub fps: f64,
    pub clip_len: usize,
    pub frame_rate: f64,
    /// Resampled frames between window starts.
    pub stride: usize,
    pub scores: &'a [crate::scores::ScoreName],
}

/// Width of a score column of the timeline's text.
fn score_width(name: crate::scores::ScoreName) -> usize {
    name.as_str().len().max(12)
}

/// The text timeline's first lines: the run, then the column names.
pub fn timeline_header(head: &TimelineHead<'_>) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{}  model {}  {:.3} fps; windows of {} frames at {} fps every {} frames ({:.3} s)",
        head.source,
        head.model,
        head.fps,
        head.clip_len,
        head.frame_rate,
        head.stride,
        head.stride as f64 / head.frame_rate
    );
    let _ = write!(
        out,
        "{:>7} {:>10} {:>10}  {:<13}",
        "window", "start_s", "end_s", "frames"
    );
    for &name in head.scores {
        let _ = write!(out, " {:>w$}", name.as_str(), w = score_width(name));
    }
    let _ = writeln!(out, "  top-5");
    out
}

/// One window of the text timeline, on one line: position, span, decoded frames, each score
/// of `scores` to four significant digits (`n/a` where not computable), then the top-5 as
/// `name (0.1235)` (probabilities as fractions, as the `softmax` score) separated by
/// ` | `.
pub fn timeline_text_row(
    row: &crate::timeline::WindowRow,
    scores: &[crate::scores::ScoreName],
    labels: &Labels,
) -> String {
    let mut out = format!(
        "{:>7} {:>10.3} {:>10.3}  {:<13}",
        row.position,
        row.secs[0],
        row.secs[1],
        format!("{}-{}", row.frames[0], row.frames[1])
    );
    for &name in scores {
        let value = row
            .level
            .scores
            .get(name)
            .map_or_else(|| "n/a".to_string(), |v| significant(v, DIGITS));
        let _ = write!(out, " {value:>w$}", w = score_width(name));
    }
    let top: Vec<String> = row
        .level
        .top5
        .iter()
        .map(|r| {
            format!(
                "{} ({})",
                labels.name(r.index).unwrap_or("?"),
                significant(r.prob, DIGITS)
            )
        })
        .collect();
    let _ = writeln!(out, "  {}", top.join(" | "));
    out
}

/// One window of `score --timeline --json` (one JSON object per line): `index`, `window`
/// (first resampled frame), `frames`, `start_s`, `end_s`, `kind`, `top5`, `scores`, `notes`,
/// `seconds`.
pub fn timeline_json_row(row: &crate::timeline::WindowRow, labels: &Labels) -> Value {
    let mut m = Map::new();
    m.insert("index".into(), json!(row.position));
    m.insert("window".into(), json!(row.start));
    m.insert("frames".into(), json!(row.frames));
    m.insert("start_s".into(), json!(row.secs[0]));
    m.insert("end_s".into(), json!(row.secs[1]));
    m.insert("kind".into(), json!(row.kind.as_str()));
    m.extend(level_json(&row.level, None, labels));
    m.insert("seconds".into(), json!(row.seconds));
    Value::Object(m)
}

/// `models --json`: one object per registry model, in `models` order, with what the text
/// table shows (and whether each weight file is present in `models_dir`).
pub fn models_json(models_dir: &std::path::Path) -> serde_json::Value {
    let entries = crate::models::all().map(|spec| {
        let preset = (spec.preset)();
        let facts = spec.facts();
        let files: Vec<serde_json::Value> = std::iter::once(spec.weight_file)
            .chain(spec.alt_weight_files.iter().copied())
            .map(|f| {
                serde_json::json!({
                    "file": f,
                    "present": models_dir.join(f).is_file(),
                })
            })
            .collect();
        serde_json::json!({
            "name": spec.name,
            "family": spec.family,
            "input": match spec.input {
                InputKind::Video => "video",
                InputKind::Image => "image",
            },
            "params": facts.num_params,
            "gflops": spec.gflops,
            "acc1": spec.acc1,
            "acc5": spec.acc5,
            "classes": spec.num_classes(),
            "weights_file": spec.weight_file,
            "weights_present": models_dir.join(spec.weight_file).is_file(),
            "weights_files": files,
            "classifier": spec.classifier_key,
            "classifier_shape": facts.classifier_shape,
            "preset": {
                "crop": [preset.crop.0, preset.crop.1],
                "clip_len": preset.clip_len,
                "frame_rate": preset.frame_rate,
                "clips_per_video": preset.clips_per_video,
                "mean": preset.mean.map(crate::results::widen_shortest),
                "std": preset.std.map(crate::results::widen_shortest),
            },
            "min_input": spec.min_input,
            "input_note": spec.input_note,
        })
    });
    serde_json::Value::Array(entries.collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::labels::LabelSet;
    use crate::scoring::ClipReport;

    fn level(top: &[(usize, f64)], scores: &[(ScoreName, Option<f64>)]) -> Level {
        Level {
            top5: top
                .iter()
                .map(|&(index, prob)| Ranked { index, prob })
                .collect(),
            scores: SampleScores::from_values(scores.iter().copied()),
            logits: vec![0.0; 400],
        }
    }

    /// A two-clip video whose summed-softmax top-1 is `fused_top1`.
    fn report(fused_top1: usize) -> VideoReport {
        let scores = [
            (ScoreName::GradTrust, Some(f64::from(33.695_11f32))),
            (ScoreName::Softmax, Some(f64::from(0.1f32))),
            (ScoreName::LogLikelihood, Some(9.084)),
            (ScoreName::NegBrier, Some(-0.000_121_04)),
            (ScoreName::McDropout, Some(-3.185)),
        ];
        let top = [
            (295, 0.25),
            (108, 0.125),
            (91, 0.0625),
            (303, 0.05),
            (291, 0.03),
        ];
        let clip = |index: usize| ClipReport {
            index,
            window: index,
            secs: [index as f64, index as f64 + 1.0],
            frames: [30 * index, 30 * index + 29],
            padded: false,
            level: level(&top, &scores),
        };
        VideoReport {
            model: "r3d_18".into(),
            kind: InputKind::Video,
            path: "clip.mp4".into(),
            frames_decoded: 60,
            fps: 30.0,
            video: level(&top, &scores),
            video_top5_softmax_sum: vec![Ranked {
                index: fused_top1,
                prob: 0.2,
            }],
            clips: vec![clip(0), clip(1)],
            notes: vec!["mc_dropout: reduces to entropy".into()],
        }
    }

    fn labels() -> Labels {
        Labels::builtin(LabelSet::Kinetics400)
    }

    #[test]
    fn significant_digits_not_fixed_decimals() {
        assert_eq!(significant(33.695_11, 4), "33.70");
        assert_eq!(significant(-0.000_121_04, 4), "-0.0001210");
        assert_eq!(significant(9.9996, 4), "10.00");
        assert_eq!(significant(0.0, 4), "0");
        assert_eq!(significant(123_456.0, 4), "123456");
        assert_eq!(significant(1.295e-7, 4), "1.295e-7");
        assert_eq!(significant(-2.5e9, 4), "-2.500e9");
        assert_eq!(trim_zeros(&significant(30.0, 6)), "30");
        assert_eq!(trim_zeros(&significant(29.97, 6)), "29.97");
        assert_eq!(trim_zeros(&significant(1e6, 6)), "1000000");
    }

    #[test]
    fn float32_values_print_as_their_shortest_form() {
        assert_eq!(json_number(f64::from(0.1f32)).to_string(), "0.1");
        assert_eq!(json_number(f64::from(33.695_11f32)).to_string(), "33.69511");
        // A float64 that is no float32 keeps its own digits.
        assert_eq!(json_number(0.1).to_string(), "0.1");
        assert_eq!(json_number(1.0 / 3.0).to_string(), "0.3333333333333333");
        let v = report_json(&report(295), &labels());
        assert_eq!(v["video"]["scores"]["softmax"].to_string(), "0.1");
        assert_eq!(v["video"]["scores"]["gradtrust"].to_string(), "33.69511");
    }

    #[test]
    fn json_keys_in_the_documented_order() {
        let v = report_json(&report(295), &labels());
        let keys = |v: &Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
        assert_eq!(
            keys(&v),
            [
                "model",
                "kind",
                "path",
                "frames_decoded",
                "fps",
                "video",
                "clips",
                "notes"
            ]
        );
        assert_eq!(
            keys(&v["video"]),
            ["top5", "top5_softmax_sum", "scores", "notes"]
        );
        assert_eq!(
            keys(&v["clips"][0]),
            ["index", "window", "frames", "secs", "padded", "top5", "scores", "notes"]
        );
        assert_eq!(keys(&v["video"]["top5"][0]), ["index", "label", "prob"]);
        // Scores in output order, as the README lists them.
        assert_eq!(
            keys(&v["video"]["scores"]),
            [
                "gradtrust",
                "softmax",
                "log_likelihood",
                "neg_brier",
                "mc_dropout"
            ]
        );
    }

    #[test]
    fn text_has_one_video_top5_and_the_fused_top1_only_where_it_differs() {
        let same = report_text(&report(295), &labels());
        // The video's top-5 once (with each of two clips' own): three "1." lines.
        assert_eq!(same.matches("  1. shining shoes").count(), 3, "{same}");
        assert!(!same.contains("summed clip softmax"), "{same}");
        let differs = report_text(&report(108), &labels());
        let line = differs
            .lines()
            .find(|l| l.contains("summed clip softmax"))
            .unwrap_or_else(|| panic!("{differs}"));
        assert!(line.contains("dying hair first instead"), "{line}");
        assert_eq!(differs.matches("summed clip softmax").count(), 1);
    }

    #[test]
    fn text_uses_fractions_significant_digits_and_explains_scores() {
        let text = report_text(&report(295), &labels());
        assert!(!text.contains('%'), "probabilities are fractions: {text}");
        assert!(text.contains("shining shoes"), "{text}");
        assert!(text.contains("0.2500  (class 295)"), "{text}");
        assert!(text.contains("    gradtrust       33.70 "), "{text}");
        assert!(text.contains("    neg_brier       -0.0001210"), "{text}");
        // The legend: once, on the video's scores.
        assert_eq!(text.matches("the top logit").count(), 1, "{text}");
        assert!(text.contains("in [1, 400]"), "{text}");
        assert!(
            text.contains("note: mc_dropout: reduces to entropy"),
            "{text}"
        );
        // Clips carry values only.
        assert_eq!(text.matches("    gradtrust ").count(), 3, "{text}");
    }
}

//! Formatting results: the only module that knows how a report looks as text or JSON.
use std::fmt::Write as _;

use serde_json::{json, Map, Value};

use crate::labels::Labels;
use crate::models::InputKind;
use crate::prediction::Ranked;
use crate::scores::SampleScores;
use crate::scoring::{Level, VideoReport};

fn top5_json(top: &[Ranked], labels: &Labels) -> Value {
    Value::Array(
        top.iter()
            .map(|r| json!({"index": r.index, "label": labels.name(r.index), "prob": r.prob}))
            .collect(),
    )
}

fn scores_json(scores: &SampleScores) -> Value {
    let map: Map<String, Value> = scores
        .values()
        .into_iter()
        .map(|(name, v)| (name.to_string(), v.map_or(Value::Null, Value::from)))
        .collect();
    Value::Object(map)
}

fn level_json(level: &Level, labels: &Labels) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("top5".into(), top5_json(&level.top5, labels));
    m.insert("scores".into(), scores_json(&level.scores));
    m.insert("notes".into(), json!(level.scores.notes()));
    m
}

/// The `--json` object of `score`.
pub fn report_json(report: &VideoReport, labels: &Labels) -> Value {
    let mut video = level_json(&report.video, labels);
    video.insert(
        "top5_softmax_sum".into(),
        top5_json(&report.video_top5_softmax_sum, labels),
    );
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
            m.extend(level_json(&c.level, labels));
            Value::Object(m)
        })
        .collect();
    let kind = match report.kind {
        InputKind::Video => "video",
        InputKind::Image => "image",
    };
    json!({
        "model": report.model,
        "kind": kind,
        "path": report.path.display().to_string(),
        "frames_decoded": report.frames_decoded,
        "fps": report.fps,
        "video": video,
        "clips": clips,
        "notes": report.notes,
    })
}

fn write_level(out: &mut String, level: &Level, labels: &Labels, indent: &str) {
    for (rank, r) in level.top5.iter().enumerate() {
        let label = labels.name(r.index).unwrap_or("?");
        let _ = writeln!(
            out,
            "{indent}{}. {label:<40} {:>7.3}%  (class {})",
            rank + 1,
            r.prob * 100.0,
            r.index
        );
    }
    let _ = writeln!(out, "{indent}scores:");
    for (name, v) in level.scores.values() {
        let value = v.map_or_else(|| "n/a".to_string(), |v| format!("{v:.6}"));
        let _ = writeln!(out, "{indent}  {:<15} {value}", name.as_str());
    }
    for note in level.scores.notes() {
        let _ = writeln!(out, "{indent}note: {note}");
    }
}

/// The human-readable report of `score`: video first, then each clip (an image: its one
/// prediction).
pub fn report_text(report: &VideoReport, labels: &Labels) -> String {
    let mut out = String::new();
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
        write_level(&mut out, &report.video, labels, "  ");
        return out;
    }
    let _ = writeln!(
        out,
        "{}  model {}  {} frames decoded at {:.3} fps, {} clips",
        report.path.display(),
        report.model,
        report.frames_decoded,
        report.fps,
        report.clips.len()
    );
    for note in &report.notes {
        let _ = writeln!(out, "note: {note}");
    }
    let _ = writeln!(out, "\nvideo (clip-averaged logits):");
    write_level(&mut out, &report.video, labels, "  ");
    let fused: Vec<String> = report
        .video_top5_softmax_sum
        .iter()
        .map(|r| {
            format!(
                "{} {:.3}%",
                labels.name(r.index).unwrap_or("?"),
                r.prob * 100.0
            )
        })
        .collect();
    let _ = writeln!(out, "  top-5 by summed clip softmax: {}", fused.join(", "));
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
        write_level(&mut out, &clip.level, labels, "  ");
    }
    out
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
/// of `scores` (`n/a` where not computable), then the top-5 as `name (12.345%)` separated by
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
            .map_or_else(|| "n/a".to_string(), |v| format!("{v:.6}"));
        let _ = write!(out, " {value:>w$}", w = score_width(name));
    }
    let top: Vec<String> = row
        .level
        .top5
        .iter()
        .map(|r| {
            format!(
                "{} ({:.3}%)",
                labels.name(r.index).unwrap_or("?"),
                r.prob * 100.0
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
    m.extend(level_json(&row.level, labels));
    m.insert("seconds".into(), json!(row.seconds));
    Value::Object(m)
}

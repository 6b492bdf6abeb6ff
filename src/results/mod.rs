//! Results files: the one module that knows their format. The schema (one column list), the
//! row type and its CSV / JSON Lines encoding, the format detector, the rule for "correct",
//! reading (`table`: every line, damaged ones marked, never trusted), the run's provenance
//! (`provenance`), writing and resuming under a lock (`store`), merging shards (`merge`) and
//! reading for eval (`samples`).
//!
//! Invariants: a video's rows (its clips, then its video row) are appended by one write and
//! flushed; a video is complete when its rows, ending with its video row, are all intact; a
//! file is only ever replaced whole (temporary file, then rename) or cut back to the end of
//! its last complete video, so no reader sees half a rewrite and no row is doubled.
use std::fmt;
use std::path::Path;
use std::str::FromStr;

use serde_json::Value;

use crate::labels::Labels;
use crate::prediction::Ranked;
use crate::scores::{SampleScores, ScoreName};
use crate::scoring::VideoReport;
use crate::{Error, Result};

pub mod merge;
pub mod provenance;
pub mod samples;
pub mod store;
pub mod table;

pub use merge::{merge, MergeSummary};
pub use provenance::Provenance;
pub use store::{ResultsWriter, Resumed, WriteMode};

/// Which rows: one per clip, or one per video (the clip-averaged model).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Level {
    Clip,
    #[default]
    Video,
}

impl Level {
    pub const ALL: [Level; 2] = [Level::Clip, Level::Video];

    /// The value of the rows' `level` column.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Clip => "clip",
            Level::Video => "video",
        }
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Level {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        Level::ALL
            .into_iter()
            .find(|l| l.as_str() == s)
            .ok_or_else(|| Error::Invalid(format!("unknown level {s:?}; known: clip, video")))
    }
}

/// Columns before the scores.
pub(crate) const HEAD: [&str; 19] = [
    "id",
    "path",
    "model",
    "level",
    "clip",
    "window",
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
    PROB_LABEL,
];
/// Columns after the scores.
pub(crate) const TAIL: [&str; 2] = ["status", "seconds"];
/// The true label's softmax probability under the row's logits (NLL and Brier need it).
pub const PROB_LABEL: &str = "prob_label";
/// Every class's logit, last (hundreds of numbers; `batch --logits` only).
pub const LOGITS: &str = "logits";

/// The columns of a run with `scores` (in [`ScoreName::ALL`] order), and with every class's
/// logit when `logits`.
pub fn columns(scores: &[ScoreName], logits: bool) -> Vec<String> {
    let mut names: Vec<ScoreName> = scores.to_vec();
    names.sort();
    names.dedup();
    HEAD.iter()
        .map(|s| s.to_string())
        .chain(names.iter().map(|s| s.as_str().to_string()))
        .chain(TAIL.iter().map(|s| s.to_string()))
        .chain(logits.then(|| LOGITS.to_string()))
        .collect()
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RowFormat {
    Csv,
    JsonLines,
}

impl RowFormat {
    /// JSON Lines for `.jsonl` / `.ndjson`, CSV otherwise.
    pub fn of(path: &Path) -> RowFormat {
        match path
            .extension()
            .map(|e| e.to_string_lossy().to_ascii_lowercase())
            .as_deref()
        {
            Some("jsonl" | "ndjson") => RowFormat::JsonLines,
            _ => RowFormat::Csv,
        }
    }
}

/// What a row says about the video it belongs to.
#[derive(Clone, Debug, PartialEq)]
pub struct VideoInfo {
    pub id: String,
    pub path: String,
    pub model: String,
    pub label_index: Option<usize>,
    pub label: Option<String>,
}

/// One output row. `None` / empty is an empty cell (JSON null).
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    pub video: VideoInfo,
    /// `None` on the video row.
    pub clip: Option<ClipPos>,
    pub pred: Option<Prediction>,
    /// Video rows only: torchvision's fusion (sum of clip softmaxes).
    pub pred_softmax_sum: Option<Prediction>,
    /// One per score column, in column order.
    pub scores: Vec<Option<f64>>,
    /// The true label's softmax probability under `logits` (empty without a label).
    pub prob_label: Option<f64>,
    /// Every class's logit as written (the video row: the clip-averaged logits); empty on an
    /// error row, or where a logit is not finite.
    pub logits: Option<Vec<f64>>,
    pub status: String,
    pub seconds: Option<f64>,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ClipPos {
    /// Position among the video's clips.
    pub clip: usize,
    /// Candidate window index.
    pub window: usize,
    pub frames: [usize; 2],
}

/// Top-5 class indices, best first.
#[derive(Clone, Debug, PartialEq)]
pub struct Prediction {
    pub top5: Vec<usize>,
}

impl Prediction {
    fn of(top: &[Ranked]) -> Option<Prediction> {
        (!top.is_empty()).then(|| Prediction {
            top5: top.iter().map(|r| r.index).collect(),
        })
    }
}

/// A logit as the row writes it: the shortest decimal that reads back as the same `f32`, as
/// an `f64`. `prob_label` is computed from these values, so it is exactly the softmax of the
/// `logits` cell a reader parses.
fn as_written(z: &[f32]) -> Option<Vec<f64>> {
    z.iter()
        .map(|&x| x.is_finite().then(|| widen_shortest(x)))
        .collect()
}

/// `x` as the shortest decimal that reads back as the same `f32`, widened to `f64` (`0.1`,
/// not `0.10000000149011612`).
pub fn widen_shortest(x: f32) -> f64 {
    // Rust prints an f32 as its shortest round-trip decimal, which an f64 parse reads.
    x.to_string().parse().unwrap_or(f64::from(x))
}

/// `v` as written: a value that is exactly a `float32` (a score from the model's float32
/// tensors, widened) becomes the shortest decimal of that `float32` (`0.1`, not
/// `0.10000000149011612`: the digits beyond carry nothing); any other value is itself.
/// Rows, `score --json` and timelines all print a score this way, so a value reads the same
/// everywhere.
pub fn shortest(v: f64) -> f64 {
    if v.is_finite() && f64::from(v as f32) == v {
        return widen_shortest(v as f32);
    }
    v
}

/// The logits and true-label probability of one row.
fn probabilities(z: &[f32], label: Option<usize>) -> (Option<Vec<f64>>, Option<f64>) {
    let logits = as_written(z).filter(|z| !z.is_empty());
    let prob = logits
        .as_deref()
        .zip(label)
        .and_then(|(z, l)| crate::prediction::probability(z, l));
    (logits, prob)
}

/// The rows of one scored video: its clips, then the video.
pub fn video_rows(
    info: &VideoInfo,
    report: &VideoReport,
    scores: &[ScoreName],
    seconds: f64,
) -> Vec<Row> {
    let values = |s: &SampleScores| scores.iter().map(|&n| s.get(n)).collect::<Vec<_>>();
    let label = info.label_index;
    let n = report.clips.len().max(1) as f64;
    let mut rows: Vec<Row> = report
        .clips
        .iter()
        .map(|c| {
            let (logits, prob_label) = probabilities(&c.level.logits, label);
            Row {
                video: info.clone(),
                clip: Some(ClipPos {
                    clip: c.index,
                    window: c.window,
                    frames: c.frames,
                }),
                pred: Prediction::of(&c.level.top5),
                pred_softmax_sum: None,
                scores: values(&c.level.scores),
                prob_label,
                logits,
                status: "ok".into(),
                seconds: Some(seconds / n),
            }
        })
        .collect();
    let (logits, prob_label) = probabilities(&report.video.logits, label);
    rows.push(Row {
        video: info.clone(),
        clip: None,
        pred: Prediction::of(&report.video.top5),
        pred_softmax_sum: Prediction::of(&report.video_top5_softmax_sum),
        scores: values(&report.video.scores),
        prob_label,
        logits,
        status: "ok".into(),
        seconds: Some(seconds),
    });
    rows
}

/// The single row of a video that failed.
pub fn error_row(info: &VideoInfo, scores: &[ScoreName], status: &str, seconds: f64) -> Row {
    Row {
        video: info.clone(),
        clip: None,
        pred: None,
        pred_softmax_sum: None,
        scores: vec![None; scores.len()],
        prob_label: None,
        logits: None,
        // One line per row, whatever the error text.
        status: status.split_whitespace().collect::<Vec<_>>().join(" "),
        seconds: Some(seconds),
    }
}

impl Row {
    pub fn is_ok(&self) -> bool {
        self.status == "ok"
    }

    /// The cells in column order, the `logits` cell last when the file has that column.
    pub fn cells(&self, labels: &Labels, logits: bool) -> Vec<Cell> {
        let v = &self.video;
        let label = v.label_index;
        let name = |i: usize| labels.name(i).map(str::to_string);
        let idx = |p: &Option<Prediction>| p.as_ref().and_then(|p| p.top5.first().copied());
        let list = |p: &Option<Prediction>| p.as_ref().map(|p| Cell::List(p.top5.clone()));
        let correct = |p: &Option<Prediction>| match (label, idx(p)) {
            (Some(l), Some(i)) => Some(Cell::Bool(l == i)),
            _ => None,
        };
        let correct5 = |p: &Option<Prediction>| match (label, p) {
            (Some(l), Some(p)) => Some(Cell::Bool(p.top5.contains(&l))),
            _ => None,
        };
        let mut cells = vec![
            Some(Cell::Text(v.id.clone())),
            Some(Cell::Text(v.path.clone())),
            Some(Cell::Text(v.model.clone())),
            Some(Cell::Text(
                if self.clip.is_some() { "clip" } else { "video" }.into(),
            )),
            self.clip.map(|c| Cell::Int(c.clip)),
            self.clip.map(|c| Cell::Int(c.window)),
            self.clip
                .map(|c| Cell::Text(format!("{}-{}", c.frames[0], c.frames[1]))),
            label.map(Cell::Int),
            v.label.clone().map(Cell::Text),
            idx(&self.pred).map(Cell::Int),
            idx(&self.pred).and_then(name).map(Cell::Text),
            list(&self.pred),
            correct(&self.pred),
            correct5(&self.pred),
            idx(&self.pred_softmax_sum).map(Cell::Int),
            list(&self.pred_softmax_sum),
            correct(&self.pred_softmax_sum),
            correct5(&self.pred_softmax_sum),
            self.prob_label.map(Cell::Float),
        ]
        .into_iter()
        .map(|c| c.unwrap_or(Cell::Empty))
        .collect::<Vec<_>>();
        cells.extend(
            self.scores
                .iter()
                .map(|s| s.map_or(Cell::Empty, Cell::Float)),
        );
        cells.push(Cell::Text(self.status.clone()));
        cells.push(
            self.seconds
                .map_or(Cell::Empty, |s| Cell::Float((s * 1e4).round() / 1e4)),
        );
        if logits {
            cells.push(
                self.logits
                    .as_ref()
                    .map_or(Cell::Empty, |z| Cell::Numbers(z.clone())),
            );
        }
        cells
    }
}

/// One cell of a row.
#[derive(Clone, Debug, PartialEq)]
pub enum Cell {
    Empty,
    Text(String),
    Int(usize),
    Float(f64),
    Bool(bool),
    /// Class indices: space-separated in CSV, an array in JSON Lines.
    List(Vec<usize>),
    /// Numbers (logits): space-separated in CSV, an array in JSON Lines.
    Numbers(Vec<f64>),
}

impl Cell {
    fn text(&self) -> String {
        match self {
            Cell::Empty => String::new(),
            Cell::Text(s) => s.clone(),
            Cell::Int(i) => i.to_string(),
            // Rust's shortest round-trip form: parses back to the same f64 (a float32's
            // shortest decimal for a float32 value).
            Cell::Float(x) => shortest(*x).to_string(),
            Cell::Bool(b) => u8::from(*b).to_string(),
            Cell::List(l) => l.iter().map(usize::to_string).collect::<Vec<_>>().join(" "),
            Cell::Numbers(v) => v.iter().map(f64::to_string).collect::<Vec<_>>().join(" "),
        }
    }

    /// The same value as [`Cell::text`] in the type a JSON reader gives the CSV cell, so
    /// pandas' `read_csv` and `read_json(lines=True)` give equal frames: an empty cell
    /// (an empty text too) is `null`, a flag is 1 or 0 (bools with nulls would turn to
    /// floats in one reader and objects in the other), a list is the CSV's space-separated
    /// text.
    fn json(&self) -> Value {
        match self {
            Cell::Empty => Value::Null,
            Cell::Text(s) if s.is_empty() => Value::Null,
            Cell::Text(s) => Value::from(s.as_str()),
            Cell::Int(i) => Value::from(*i),
            Cell::Float(x) => Value::from(shortest(*x)),
            Cell::Bool(b) => Value::from(u8::from(*b)),
            Cell::List(_) | Cell::Numbers(_) => Value::from(self.text()),
        }
    }
}

/// Encodes rows as the bytes appended to a results file.
pub fn encode(rows: &[Row], columns: &[String], format: RowFormat, labels: &Labels) -> Vec<u8> {
    let mut out = Vec::new();
    let logits = columns.iter().any(|c| c == LOGITS);
    for row in rows {
        let cells = row.cells(labels, logits);
        match format {
            RowFormat::Csv => out.extend(csv_line(cells.iter().map(Cell::text))),
            RowFormat::JsonLines => {
                out.extend_from_slice(&json_line(
                    columns.iter().map(String::as_str),
                    cells.iter().map(Cell::json),
                ));
            }
        }
    }
    out
}

/// Timeline files (`score --timeline --out`): the batch schema's clip rows, one per window of
/// the video (`clip` its position, `window` its first resampled frame), with the window's
/// span in seconds since the first frame right after `frames`. No video row: a timeline is
/// its windows.
pub const TIMES: [&str; 2] = ["start_s", "end_s"];

/// Where [`TIMES`] go: right after `frames`.
fn times_at() -> usize {
    HEAD.iter()
        .position(|c| *c == "frames")
        .map_or(HEAD.len(), |i| i + 1)
}

/// The columns of a timeline file with `scores`: [`columns`] (no logits) with [`TIMES`].
pub fn timeline_columns(scores: &[ScoreName]) -> Vec<String> {
    let mut cols = columns(scores, false);
    let at = times_at();
    cols.splice(at..at, TIMES.iter().map(|s| s.to_string()));
    cols
}

/// Encodes timeline rows, each with its window's `[start_s, end_s]`, for a file with
/// [`timeline_columns`].
pub fn encode_timed(
    rows: &[(Row, [f64; 2])],
    columns: &[String],
    format: RowFormat,
    labels: &Labels,
) -> Vec<u8> {
    let mut out = Vec::new();
    let at = times_at();
    for (row, secs) in rows {
        let mut cells = row.cells(labels, false);
        cells.splice(at..at, secs.iter().map(|&s| Cell::Float(s)));
        match format {
            RowFormat::Csv => out.extend(csv_line(cells.iter().map(Cell::text))),
            RowFormat::JsonLines => out.extend_from_slice(&json_line(
                columns.iter().map(String::as_str),
                cells.iter().map(Cell::json),
            )),
        }
    }
    out
}

/// `{"k":v,…}\n` in the given key order.
fn json_line<'a>(
    keys: impl Iterator<Item = &'a str>,
    values: impl Iterator<Item = Value>,
) -> Vec<u8> {
    let mut line = String::from("{");
    for (i, (k, v)) in keys.zip(values).enumerate() {
        if i > 0 {
            line.push(',');
        }
        line.push_str(&Value::from(k).to_string());
        line.push(':');
        line.push_str(&v.to_string());
    }
    line.push_str("}\n");
    line.into_bytes()
}

pub(crate) fn header_bytes(columns: &[String], format: RowFormat) -> Vec<u8> {
    match format {
        RowFormat::Csv => csv_line(columns),
        RowFormat::JsonLines => Vec::new(),
    }
}

/// One CSV record with its line end (quoted where needed).
pub(crate) fn csv_line<I, T>(fields: I) -> Vec<u8>
where
    I: IntoIterator<Item = T>,
    T: AsRef<[u8]>,
{
    let mut out = Vec::new();
    {
        let mut w = csv::WriterBuilder::new()
            .has_headers(false)
            .from_writer(&mut out);
        // Writing to memory cannot fail.
        let _ = w.write_record(fields);
        let _ = w.flush();
    }
    out
}

#[cfg(test)]
mod tests;

//! Result rows of a batch run (shared/spec/data-and-eval.md): the row type, its CSV and JSON
//! Lines form (the only place that formats rows), appending whole videos with a flush,
//! resuming a file a killed run left, and merging shard files.
//!
//! Invariants: a video's rows (its clips, then its video row) are appended by one write and
//! flushed; a video is complete when its video row is in the file; on resume everything
//! after the last complete video row (a half-written line, the clip rows of an unfinished
//! video) is truncated away, so a rerun never duplicates a row.
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::labels::Labels;
use crate::prediction::Ranked;
use crate::scores::{SampleScores, ScoreName};
use crate::scoring::VideoReport;
use crate::{Error, Result};

/// Columns before the scores.
const HEAD: [&str; 18] = [
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
];
/// Columns after the scores.
const TAIL: [&str; 2] = ["status", "seconds"];

/// The columns of a run with `scores` (in [`ScoreName::ALL`] order).
pub fn columns(scores: &[ScoreName]) -> Vec<String> {
    let mut names: Vec<ScoreName> = scores.to_vec();
    names.sort();
    names.dedup();
    HEAD.iter()
        .map(|s| s.to_string())
        .chain(names.iter().map(|s| s.as_str().to_string()))
        .chain(TAIL.iter().map(|s| s.to_string()))
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

/// The rows of one scored video: its clips, then the video.
pub fn video_rows(
    info: &VideoInfo,
    report: &VideoReport,
    scores: &[ScoreName],
    seconds: f64,
) -> Vec<Row> {
    let values = |s: &SampleScores| scores.iter().map(|&n| s.get(n)).collect::<Vec<_>>();
    let n = report.clips.len().max(1) as f64;
    let mut rows: Vec<Row> = report
        .clips
        .iter()
        .map(|c| Row {
            video: info.clone(),
            clip: Some(ClipPos {
                clip: c.index,
                window: c.window,
                frames: c.frames,
            }),
            pred: Prediction::of(&c.level.top5),
            pred_softmax_sum: None,
            scores: values(&c.level.scores),
            status: "ok".into(),
            seconds: Some(seconds / n),
        })
        .collect();
    rows.push(Row {
        video: info.clone(),
        clip: None,
        pred: Prediction::of(&report.video.top5),
        pred_softmax_sum: Prediction::of(&report.video_top5_softmax_sum),
        scores: values(&report.video.scores),
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
        // One line per row, whatever the error text.
        status: status.split_whitespace().collect::<Vec<_>>().join(" "),
        seconds: Some(seconds),
    }
}

impl Row {
    pub fn is_ok(&self) -> bool {
        self.status == "ok"
    }

    /// The cells in column order (`None` = empty), as text.
    pub fn cells(&self, labels: &Labels) -> Vec<Cell> {
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
}

impl Cell {
    fn text(&self) -> String {
        match self {
            Cell::Empty => String::new(),
            Cell::Text(s) => s.clone(),
            Cell::Int(i) => i.to_string(),
            // Rust's shortest round-trip form: parses back to the same f64.
            Cell::Float(x) => x.to_string(),
            Cell::Bool(b) => b.to_string(),
            Cell::List(l) => l.iter().map(usize::to_string).collect::<Vec<_>>().join(" "),
        }
    }

    fn json(&self) -> Value {
        match self {
            Cell::Empty => Value::Null,
            Cell::Text(s) => Value::from(s.as_str()),
            Cell::Int(i) => Value::from(*i),
            Cell::Float(x) => Value::from(*x),
            Cell::Bool(b) => Value::from(*b),
            Cell::List(l) => Value::from(l.clone()),
        }
    }
}

/// Encodes rows as the bytes appended to a results file.
pub fn encode(rows: &[Row], columns: &[String], format: RowFormat, labels: &Labels) -> Vec<u8> {
    let mut out = Vec::new();
    for row in rows {
        let cells = row.cells(labels);
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

fn header_bytes(columns: &[String], format: RowFormat) -> Vec<u8> {
    match format {
        RowFormat::Csv => csv_line(columns),
        RowFormat::JsonLines => Vec::new(),
    }
}

/// One CSV record with its line end (quoted where needed).
fn csv_line<I, T>(fields: I) -> Vec<u8>
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

/// The parsed rows of an existing results file, as far as they are complete.
#[derive(Debug, Default)]
pub struct Existing {
    /// The header, CSV only (`None` for JSON Lines or an empty file).
    pub columns: Option<Vec<String>>,
    /// Every complete row: its cells by column name (JSON values as CSV text would hold them).
    pub rows: Vec<RawRow>,
    /// Byte length of the file up to the end of the last complete video row (or the header).
    pub complete_len: u64,
    /// Total byte length.
    pub len: u64,
}

#[derive(Clone, Debug, PartialEq)]
pub struct RawRow {
    pub line: usize,
    pub id: String,
    pub level: String,
    pub model: String,
    pub status: String,
    /// The row as it will be written again: a CSV record or a JSON object line.
    pub raw: RawData,
}

#[derive(Clone, Debug, PartialEq)]
pub enum RawData {
    Csv(Vec<String>),
    Json(String),
}

/// Reads `path` (which must exist), keeping the rows up to the last complete video: rows of
/// a video whose video row is missing, and a half-written last line, are left out.
pub fn read_existing(path: &Path) -> Result<Existing> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let len = bytes.len() as u64;
    let mut out = Existing {
        len,
        ..Existing::default()
    };
    let mut rows = Vec::new();
    match RowFormat::of(path) {
        RowFormat::Csv => {
            let mut reader = csv::ReaderBuilder::new()
                .has_headers(false)
                .flexible(true)
                .from_reader(&bytes[..]);
            let mut record = csv::StringRecord::new();
            let mut header: Option<Vec<String>> = None;
            // A garbled record can only be a half-written tail: stop there.
            while let Ok(true) = reader.read_record(&mut record) {
                let end = reader.position().byte();
                if end == 0 || bytes.get(end as usize - 1) != Some(&b'\n') {
                    break; // no line end: half written
                }
                let fields: Vec<String> = record.iter().map(str::to_string).collect();
                let Some(h) = &header else {
                    if fields.first().map(String::as_str) != Some("id") {
                        return Err(Error::Invalid(format!(
                            "{}: not a results file of batch (first line is not a header starting with `id`)",
                            path.display()
                        )));
                    }
                    header = Some(fields);
                    out.complete_len = end;
                    continue;
                };
                if fields.len() != h.len() {
                    break;
                }
                let get = |name: &str| {
                    h.iter()
                        .position(|c| c == name)
                        .map(|i| fields[i].clone())
                        .unwrap_or_default()
                };
                rows.push((
                    end,
                    RawRow {
                        line: record.position().map_or(0, |p| p.line() as usize),
                        id: get("id"),
                        level: get("level"),
                        model: get("model"),
                        status: get("status"),
                        raw: RawData::Csv(fields),
                    },
                ));
            }
            out.columns = header;
        }
        RowFormat::JsonLines => {
            let mut start = 0usize;
            for (i, line) in bytes.split_inclusive(|&b| b == b'\n').enumerate() {
                let end = start + line.len();
                start = end;
                if line.last() != Some(&b'\n') {
                    break;
                }
                let Ok(Value::Object(map)) = serde_json::from_slice::<Value>(line) else {
                    if line.iter().all(u8::is_ascii_whitespace) {
                        continue;
                    }
                    break;
                };
                let get = |name: &str| match map.get(name) {
                    Some(Value::String(s)) => s.clone(),
                    Some(Value::Null) | None => String::new(),
                    Some(v) => v.to_string(),
                };
                let text = String::from_utf8_lossy(line).trim_end().to_string();
                rows.push((
                    end as u64,
                    RawRow {
                        line: i + 1,
                        id: get("id"),
                        level: get("level"),
                        model: get("model"),
                        status: get("status"),
                        raw: RawData::Json(text),
                    },
                ));
            }
        }
    }
    // Keep up to the last video row: a video's rows end with it.
    let last_video = rows.iter().rposition(|(_, r)| r.level == "video");
    if let Some(i) = last_video {
        out.complete_len = rows[i].0;
        rows.truncate(i + 1);
    } else {
        rows.clear();
    }
    out.rows = rows.into_iter().map(|(_, r)| r).collect();
    Ok(out)
}

/// Appends rows to a results file, a whole video at a time, flushed.
#[derive(Debug)]
pub struct RowWriter {
    path: PathBuf,
    file: File,
    columns: Vec<String>,
    format: RowFormat,
    labels: Labels,
}

impl RowWriter {
    /// Creates `path`, or with `resume` continues it: returns the ids of the videos already
    /// complete in it (their video rows), after truncating any incomplete tail. The file must
    /// have this run's columns and model.
    pub fn open(
        path: &Path,
        scores: &[ScoreName],
        model: &str,
        labels: &Labels,
        resume: bool,
    ) -> Result<(RowWriter, HashSet<String>)> {
        let columns = columns(scores);
        let format = RowFormat::of(path);
        let mut done = HashSet::new();
        let exists = path.exists();
        if exists && !resume {
            return Err(Error::Invalid(format!(
                "{}: already exists; pass --resume to continue it, or remove it",
                path.display()
            )));
        }
        let file = if exists {
            let existing = read_existing(path)?;
            if let Some(h) = &existing.columns {
                if *h != columns {
                    return Err(Error::Invalid(format!(
                        "{}: its columns ({}) are not this run's ({}); resume with the same --scores, or write another --out",
                        path.display(),
                        h.join(","),
                        columns.join(",")
                    )));
                }
            }
            if let Some(r) = existing.rows.iter().find(|r| r.model != model) {
                return Err(Error::Invalid(format!(
                    "{}:{}: rows of model {} (this run is {model}); write another --out",
                    path.display(),
                    r.line,
                    r.model
                )));
            }
            done.extend(
                existing
                    .rows
                    .iter()
                    .filter(|r| r.level == "video")
                    .map(|r| r.id.clone()),
            );
            let file = OpenOptions::new()
                .write(true)
                .open(path)
                .map_err(|e| Error::io(path, e))?;
            // Drop the incomplete tail (a half line, an unfinished video's clip rows).
            file.set_len(existing.complete_len)
                .map_err(|e| Error::io(path, e))?;
            let mut file = OpenOptions::new()
                .append(true)
                .open(path)
                .map_err(|e| Error::io(path, e))?;
            if existing.complete_len == 0 {
                file.write_all(&header_bytes(&columns, format))
                    .map_err(|e| Error::io(path, e))?;
            }
            file
        } else {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
            }
            let mut file = File::create(path).map_err(|e| Error::io(path, e))?;
            file.write_all(&header_bytes(&columns, format))
                .map_err(|e| Error::io(path, e))?;
            file
        };
        let mut w = RowWriter {
            path: path.to_path_buf(),
            file,
            columns,
            format,
            labels: labels.clone(),
        };
        w.flush()?;
        Ok((w, done))
    }

    pub fn columns(&self) -> &[String] {
        &self.columns
    }

    /// Appends one video's rows (clips, then the video row) and flushes.
    pub fn write_video(&mut self, rows: &[Row]) -> Result<()> {
        let bytes = encode(rows, &self.columns, self.format, &self.labels);
        self.file
            .write_all(&bytes)
            .map_err(|e| Error::io(&self.path, e))?;
        self.flush()
    }

    fn flush(&mut self) -> Result<()> {
        self.file.flush().map_err(|e| Error::io(&self.path, e))
    }
}

/// What [`merge`] did.
#[derive(Debug, PartialEq)]
pub struct MergeSummary {
    pub videos: usize,
    pub rows: usize,
}

/// Joins shard outputs into `out`: every file must have the same columns (and format), no
/// video may be in two files or twice in one, and every video must be complete. With
/// `expected` ids (the list), none may be missing and none extra; rows then follow its order.
pub fn merge(out: &Path, shards: &[PathBuf], expected: Option<&[String]>) -> Result<MergeSummary> {
    if shards.is_empty() {
        return Err(Error::Invalid("merge: no shard files given".into()));
    }
    let same_file = |a: &Path, b: &Path| match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    };
    if let Some(s) = shards.iter().find(|s| same_file(s, out)) {
        return Err(Error::Invalid(format!(
            "merge: {} is both the output and a shard file",
            s.display()
        )));
    }
    let format = RowFormat::of(out);
    let mut columns: Option<(PathBuf, Vec<String>)> = None;
    // id → (file index, rows)
    let mut videos: BTreeMap<String, (usize, Vec<RawRow>)> = BTreeMap::new();
    let mut order: Vec<String> = Vec::new();
    let mut problems = Vec::new();
    for (fi, shard) in shards.iter().enumerate() {
        if RowFormat::of(shard) != format {
            return Err(Error::Invalid(format!(
                "{}: not the format of {} (CSV and JSON Lines cannot be merged; use the same extension)",
                shard.display(),
                out.display()
            )));
        }
        let existing = read_existing(shard)?;
        if existing.complete_len < existing.len {
            problems.push(format!(
                "{}: ends with an unfinished video or a half-written line (bytes {}..{}); finish that shard with --resume",
                shard.display(),
                existing.complete_len,
                existing.len
            ));
        }
        if let Some(h) = existing.columns.clone() {
            match &columns {
                None => columns = Some((shard.clone(), h)),
                Some((first, c)) if *c != h => {
                    return Err(Error::Invalid(format!(
                        "{}: columns differ from {}'s ({} vs {})",
                        shard.display(),
                        first.display(),
                        h.join(","),
                        c.join(",")
                    )))
                }
                Some(_) => {}
            }
        }
        let mut pending: HashMap<String, Vec<RawRow>> = HashMap::new();
        for row in existing.rows {
            let id = row.id.clone();
            let is_video = row.level == "video";
            pending.entry(id.clone()).or_default().push(row);
            if is_video {
                let rows = pending.remove(&id).unwrap_or_default();
                if let Some((other, _)) = videos.get(&id) {
                    problems.push(format!(
                        "{id}: doubled: in {} and in {}",
                        shards[*other].display(),
                        shard.display()
                    ));
                    continue;
                }
                videos.insert(id.clone(), (fi, rows));
                order.push(id);
            }
        }
        for (id, rows) in pending {
            problems.push(format!(
                "{}:{}: video {id} has clip rows but no video row",
                shard.display(),
                rows[0].line
            ));
        }
    }
    if let Some(expected) = expected {
        let missing: Vec<&String> = expected
            .iter()
            .filter(|id| !videos.contains_key(*id))
            .collect();
        if !missing.is_empty() {
            problems.push(format!(
                "{} video(s) of the list missing: {}{}",
                missing.len(),
                missing
                    .iter()
                    .take(10)
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
                if missing.len() > 10 { ", …" } else { "" }
            ));
        }
        let listed: HashSet<&String> = expected.iter().collect();
        let extra: Vec<&String> = order.iter().filter(|id| !listed.contains(id)).collect();
        if !extra.is_empty() {
            problems.push(format!(
                "{} video(s) not in the list: {}",
                extra.len(),
                extra
                    .iter()
                    .take(10)
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        order = expected
            .iter()
            .filter(|id| videos.contains_key(*id))
            .cloned()
            .collect();
    }
    if !problems.is_empty() {
        return Err(Error::Invalid(format!(
            "merge into {}: {} problem(s), nothing written:\n{}",
            out.display(),
            problems.len(),
            problems.join("\n")
        )));
    }
    let mut bytes = Vec::new();
    let mut n_rows = 0;
    if let Some((_, c)) = &columns {
        bytes.extend(header_bytes(c, format));
    }
    for id in &order {
        for row in &videos[id].1 {
            n_rows += 1;
            match &row.raw {
                RawData::Csv(fields) => bytes.extend(csv_line(fields)),
                RawData::Json(line) => {
                    bytes.extend_from_slice(line.as_bytes());
                    bytes.push(b'\n');
                }
            }
        }
    }
    // Written whole, then renamed: a merge never leaves half a file.
    let tmp = out.with_extension("merging");
    std::fs::write(&tmp, &bytes).map_err(|e| Error::io(&tmp, e))?;
    std::fs::rename(&tmp, out).map_err(|e| Error::io(out, e))?;
    Ok(MergeSummary {
        videos: order.len(),
        rows: n_rows,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(id: &str) -> VideoInfo {
        VideoInfo {
            id: id.into(),
            path: format!("/d/{id}, \"quoted\".mp4"),
            model: "r3d_18".into(),
            label_index: Some(1),
            label: Some("air drumming".into()),
        }
    }

    fn rows(id: &str) -> Vec<Row> {
        let clip = Row {
            video: info(id),
            clip: Some(ClipPos {
                clip: 0,
                window: 3,
                frames: [6, 36],
            }),
            pred: Some(Prediction {
                top5: vec![1, 2, 3, 4, 5],
            }),
            pred_softmax_sum: None,
            scores: vec![Some(0.5), None],
            status: "ok".into(),
            seconds: Some(0.25),
        };
        let mut video = clip.clone();
        video.clip = None;
        video.pred = Some(Prediction {
            top5: vec![2, 1, 3, 4, 5],
        });
        video.pred_softmax_sum = Some(Prediction {
            top5: vec![1, 2, 3, 4, 5],
        });
        vec![clip, video]
    }

    const S: [ScoreName; 2] = [ScoreName::GradTrust, ScoreName::Softmax];

    #[test]
    fn csv_rows_are_what_eval_reads() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.csv");
        let (mut w, done) = RowWriter::open(
            &path,
            &S,
            "r3d_18",
            &Labels::builtin(crate::labels::LabelSet::Kinetics400),
            false,
        )
        .unwrap();
        assert!(done.is_empty());
        w.write_video(&rows("a")).unwrap();
        let mut bad = error_row(&info("b"), &S, "b.mp4: no\nvideo stream", 0.1);
        bad.video.label_index = None;
        w.write_video(&[bad]).unwrap();
        drop(w);
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], columns(&S).join(","));
        assert!(
            lines[1].contains(
                ",clip,0,3,6-36,1,air drumming,1,air drumming,1 2 3 4 5,true,true,,,,,0.5,,ok,0.25"
            ),
            "{}",
            lines[1]
        );
        assert!(
            lines[2].contains(",video,,,,1,air drumming,2,"),
            "{}",
            lines[2]
        );
        assert!(
            lines[2].contains(",false,true,1,1 2 3 4 5,true,true,"),
            "{}",
            lines[2]
        );
        assert!(
            lines[3].ends_with(",b.mp4: no video stream,0.1"),
            "{}",
            lines[3]
        );
        let f = crate::eval::rows::read(&path, crate::eval::Level::Video).unwrap();
        assert_eq!((f.rows, f.error_rows, f.samples.len()), (2, 1, 1));
        assert_eq!(f.samples[0].correct_softmax_sum, Some(true));
    }

    #[test]
    fn jsonl_rows_keep_types_and_order() {
        let bytes = encode(
            &rows("a"),
            &columns(&S),
            RowFormat::JsonLines,
            &Labels::builtin(crate::labels::LabelSet::Kinetics400),
        );
        let text = String::from_utf8(bytes).unwrap();
        let first: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
        assert_eq!(first["top5"], serde_json::json!([1, 2, 3, 4, 5]));
        assert_eq!(first["correct"], serde_json::json!(true));
        assert_eq!(first["softmax"], serde_json::Value::Null);
        assert!(text.starts_with("{\"id\":\"a\",\"path\":"));
    }

    fn resume_case(name: &str) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(name);
        let open = |resume| {
            RowWriter::open(
                &path,
                &S,
                "r3d_18",
                &Labels::builtin(crate::labels::LabelSet::Kinetics400),
                resume,
            )
        };
        let (mut w, _) = open(false).unwrap();
        w.write_video(&rows("a")).unwrap();
        w.write_video(&rows("b")).unwrap();
        drop(w);
        let whole = std::fs::read(&path).unwrap();
        // A killed run: c's clip row written, and half of its video row.
        let tail = encode(
            &rows("c"),
            &columns(&S),
            RowFormat::of(&path),
            &Labels::builtin(crate::labels::LabelSet::Kinetics400),
        );
        let mut killed = whole.clone();
        killed.extend_from_slice(&tail[..tail.len() - 20]);
        std::fs::write(&path, &killed).unwrap();
        assert!(open(false).unwrap_err().to_string().contains("--resume"));
        let (mut w, done) = open(true).unwrap();
        assert_eq!(done, HashSet::from(["a".to_string(), "b".to_string()]));
        assert_eq!(std::fs::read(&path).unwrap(), whole);
        w.write_video(&rows("c")).unwrap();
        drop(w);
        let mut want = whole.clone();
        want.extend_from_slice(&tail);
        assert_eq!(std::fs::read(&path).unwrap(), want);
        // Another model's file is refused.
        let err = RowWriter::open(
            &path,
            &S,
            "mc3_18",
            &Labels::builtin(crate::labels::LabelSet::Kinetics400),
            true,
        )
        .err()
        .unwrap()
        .to_string();
        assert!(err.contains("rows of model r3d_18"), "{err}");
        let err = RowWriter::open(
            &path,
            &S[..1],
            "r3d_18",
            &Labels::builtin(crate::labels::LabelSet::Kinetics400),
            true,
        )
        .err()
        .map(|e| e.to_string());
        if name.ends_with(".csv") {
            assert!(err.unwrap().contains("columns"));
        }
    }

    #[test]
    fn resume_truncates_incomplete_tail_csv() {
        resume_case("r.csv");
    }

    #[test]
    fn resume_truncates_incomplete_tail_jsonl() {
        resume_case("r.jsonl");
    }

    #[test]
    fn merge_checks_missing_and_doubled() {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, ids: &[&str]| {
            let path = dir.path().join(name);
            let (mut w, _) = RowWriter::open(
                &path,
                &S,
                "r3d_18",
                &Labels::builtin(crate::labels::LabelSet::Kinetics400),
                false,
            )
            .unwrap();
            for id in ids {
                w.write_video(&rows(id)).unwrap();
            }
            path
        };
        let a = write("a.csv", &["x", "z"]);
        let b = write("b.csv", &["y"]);
        let out = dir.path().join("m.csv");
        let ids: Vec<String> = ["x", "y", "z"].map(String::from).to_vec();
        let s = merge(&out, &[a.clone(), b.clone()], Some(&ids)).unwrap();
        assert_eq!(s, MergeSummary { videos: 3, rows: 6 });
        let merged = read_existing(&out).unwrap();
        let order: Vec<&str> = merged.rows.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(order, ["x", "x", "y", "y", "z", "z"]);
        let c = write("c.csv", &["y"]);
        let err = merge(&out, &[a.clone(), b.clone(), c], None)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("y: doubled: in") && err.contains("c.csv"),
            "{err}"
        );
        let more: Vec<String> = ["x", "y", "z", "w"].map(String::from).to_vec();
        let err = merge(&out, &[a, b], Some(&more)).unwrap_err().to_string();
        assert!(err.contains("1 video(s) of the list missing: w"), "{err}");
    }
}

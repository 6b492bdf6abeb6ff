//! Writing a results file: created with its provenance, or resumed after a kill; one writer
//! at a time (an OS lock on `<file>.lock`, released by the OS if the process dies); a whole
//! video appended and flushed at a time.
//!
//! Resume trusts nothing it reads: every line is checked against the schema (field count or
//! keys, id, level, model, status, numbers, clip order), and a video counts as done only if
//! all its rows, ending with its video row, are intact. A damaged stretch drops just the
//! videos it touches (they run again) and says so; the unfinished tail of a killed run is cut
//! off. A file that changes in the middle is replaced whole (temporary file, then rename).
use std::collections::HashSet;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::ops::Range;
use std::path::{Path, PathBuf};

use super::provenance::{write_atomically, Provenance};
use super::table::{Body, Record, Table};
use super::{encode, header_bytes, Row, RowFormat, LOGITS};
use crate::error::Remedy;
use crate::labels::Labels;
use crate::scores::ScoreName;
use crate::{Error, Result};

/// How [`ResultsWriter::open`] treats an existing file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WriteMode {
    /// A new file; an existing one is refused.
    Create,
    /// Continue the file (or create it): skip its complete videos; with `retry_errors`,
    /// also run again the videos whose rows are errors (their old rows replaced).
    Resume { retry_errors: bool },
}

/// What resuming found in the file.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Resumed {
    /// Ids of the complete videos kept (not to be run again).
    pub done: HashSet<String>,
    /// Kept videos whose row is an error.
    pub kept_errors: usize,
    /// Error videos removed to run again (`retry_errors`).
    pub retried: usize,
    /// Damaged stretches dropped, each `lines A-B: why`; their videos run again.
    pub damaged: Vec<String>,
    /// Rows of an unfinished last video cut off.
    pub tail_rows: usize,
}

/// Appends rows to a results file, a whole video at a time, flushed.
#[derive(Debug)]
pub struct ResultsWriter {
    path: PathBuf,
    file: File,
    columns: Vec<String>,
    format: RowFormat,
    labels: Labels,
    /// Held for the writer's life; the OS releases it when the process ends, however.
    _lock: File,
}

impl ResultsWriter {
    /// Opens `path` for a run with `provenance`, writing the columns it records and naming
    /// classes by `labels`. Returns what an existing file already holds (empty when created).
    pub fn open(
        path: &Path,
        provenance: &Provenance,
        labels: &Labels,
        mode: WriteMode,
    ) -> Result<(ResultsWriter, Resumed)> {
        let columns = provenance.columns.clone();
        if columns.is_empty() {
            return Err(Error::Invalid(format!(
                "{}: the run's provenance records no columns to write",
                path.display()
            )));
        }
        let format = RowFormat::of(path);
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        }
        let lock = lock(path)?;
        let exists = path.exists();
        let resumed = match (exists, mode) {
            (true, WriteMode::Create) => {
                return Err(Error::Invalid(format!(
                    "{}: already exists; continue it, or remove it",
                    path.display()
                ))
                .with_remedy(Remedy::Resume))
            }
            (true, WriteMode::Resume { retry_errors }) => {
                resume(path, provenance, &columns, format, retry_errors)?
            }
            (false, _) => {
                provenance.write(path)?;
                std::fs::write(path, header_bytes(&columns, format))
                    .map_err(|e| Error::io(path, e))?;
                Resumed::default()
            }
        };
        let file = OpenOptions::new()
            .append(true)
            .open(path)
            .map_err(|e| Error::io(path, e))?;
        Ok((
            ResultsWriter {
                path: path.to_path_buf(),
                file,
                columns,
                format,
                labels: labels.clone(),
                _lock: lock,
            },
            resumed,
        ))
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
        self.file.flush().map_err(|e| Error::io(&self.path, e))
    }
}

/// The lock file of results file `path`.
fn lock_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_os_string();
    name.push(".lock");
    PathBuf::from(name)
}

/// Takes the exclusive lock of `path`, or says which process holds it.
fn lock(path: &Path) -> Result<File> {
    let lp = lock_path(path);
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&lp)
        .map_err(|e| Error::io(&lp, e))?;
    // A lock released a moment ago can still be held by a child process between its fork
    // and its exec (the child has a copy of the descriptor until exec closes it): retry
    // briefly before naming the holder.
    let deadline = std::time::Instant::now() + std::time::Duration::from_millis(500);
    loop {
        match file.try_lock() {
            Ok(()) => break,
            Err(std::fs::TryLockError::WouldBlock) if std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            Err(std::fs::TryLockError::WouldBlock) => {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                let holder = holder.trim();
                let who = if holder.is_empty() {
                    "another process".to_string()
                } else {
                    format!("process {holder}")
                };
                return Err(Error::Invalid(format!(
                "{}: being written by {who} (lock {}); wait for it to finish, or write another file",
                path.display(),
                lp.display()
            ))
            .with_remedy(Remedy::AnotherOut));
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(Error::io(&lp, e)),
        }
    }
    // Ours now: say who holds it, for the next one to ask.
    let _ = file.set_len(0);
    let _ = file.rewind();
    let _ = write!(file, "{}", std::process::id());
    let _ = file.flush();
    Ok(file)
}

/// Checks an existing file against this run, keeps its intact complete videos, and leaves it
/// ready for appending.
fn resume(
    path: &Path,
    provenance: &Provenance,
    columns: &[String],
    format: RowFormat,
    retry_errors: bool,
) -> Result<Resumed> {
    let p = path.display();
    let Some(theirs) = Provenance::read(path)? else {
        return Err(Error::Invalid(format!(
            "{p}: not a results file of gradtrust-video (no {} beside it); write another file",
            Provenance::path_of(path).display()
        ))
        .with_remedy(Remedy::AnotherOut));
    };
    let diffs = theirs.differences(provenance, false);
    if !diffs.is_empty() {
        return Err(Error::Invalid(format!(
            "{p}: made by another run (file vs this run): {}; resume with the same settings, or write another file",
            diffs.join("; ")
        ))
        .with_remedy(Remedy::SameSettings));
    }
    let table = Table::read(path)?;
    if format == RowFormat::Csv && table.header_len > 0 && table.columns != columns {
        return Err(Error::Invalid(format!(
            "{p}: its columns ({}) are not this run's ({}); resume with the same scores and logits choice, or write another file",
            table.columns.join(","),
            columns.join(",")
        ))
        .with_remedy(Remedy::SameColumns));
    }
    let scan = scan(&table, columns, &provenance.model);
    let mut out = Resumed {
        damaged: scan.damaged.iter().map(|d| d.to_string()).collect(),
        tail_rows: scan.tail_rows,
        ..Resumed::default()
    };
    let mut kept: Vec<&Video> = Vec::new();
    for v in &scan.videos {
        if !v.ok && retry_errors {
            out.retried += 1;
            continue;
        }
        out.kept_errors += usize::from(!v.ok);
        out.done.insert(v.id.clone());
        kept.push(v);
    }
    let header_intact = format == RowFormat::JsonLines || table.header_len > 0;
    let end = kept.last().map_or(table.header_len, |v| v.bytes.end);
    let prefix = header_intact
        && scan.damaged.is_empty()
        && kept.len() == scan.videos.len()
        && kept.last().map(|v| v.bytes.end) == scan.videos.last().map(|v| v.bytes.end);
    if prefix {
        // Only the tail changes: cut it off (what a killed run leaves).
        let file = OpenOptions::new()
            .write(true)
            .open(path)
            .map_err(|e| Error::io(path, e))?;
        file.set_len(end).map_err(|e| Error::io(path, e))?;
    } else {
        let mut bytes = header_bytes(columns, format);
        for v in &kept {
            bytes.extend_from_slice(&table.bytes[v.bytes.start as usize..v.bytes.end as usize]);
        }
        write_atomically(path, &bytes)?;
    }
    Ok(out)
}

/// One complete, intact video of a file.
#[derive(Debug)]
pub(crate) struct Video {
    pub id: String,
    /// Whether its video row's status is ok.
    pub ok: bool,
    /// Its rows' bytes (contiguous: a video is written by one write).
    pub bytes: Range<u64>,
    /// Its rows, as indices into the table's lines.
    pub lines: Range<usize>,
}

/// A stretch of lines that is not whole videos.
#[derive(Debug)]
pub(crate) struct Damage {
    pub lines: Range<usize>,
    pub why: String,
}

impl std::fmt::Display for Damage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.lines.end - self.lines.start <= 1 {
            write!(f, "line {}: {}", self.lines.start, self.why)
        } else {
            write!(
                f,
                "lines {}-{}: {}",
                self.lines.start,
                self.lines.end - 1,
                self.why
            )
        }
    }
}

/// A file's lines sorted into intact videos, damaged stretches, and an unfinished tail.
#[derive(Debug, Default)]
pub(crate) struct Scan {
    pub videos: Vec<Video>,
    pub damaged: Vec<Damage>,
    /// Rows after the last complete video (a killed run's unfinished video).
    pub tail_rows: usize,
}

/// What a checked row says.
struct RowView {
    id: String,
    video: bool,
    clip: Option<usize>,
    ok: bool,
}

/// The column indices a check needs.
struct Cols {
    id: Option<usize>,
    level: Option<usize>,
    model: Option<usize>,
    clip: Option<usize>,
    status: Option<usize>,
    /// Columns that hold a number when not empty.
    numbers: Vec<(usize, &'static str)>,
    /// Columns that hold class indices separated by spaces.
    lists: Vec<usize>,
    /// Columns that hold finite numbers separated by spaces (`logits`).
    number_lists: Vec<usize>,
    flags: Vec<usize>,
}

/// Sorts `table`'s lines (a file of this tool with `columns`, rows of `model`).
pub(crate) fn scan(table: &Table, columns: &[String], model: &str) -> Scan {
    let col = |n: &str| table.column(n);
    let mut numbers: Vec<(usize, &'static str)> = Vec::new();
    for name in [
        "window",
        "label_index",
        "pred_index",
        "pred_index_softmax_sum",
        super::PROB_LABEL,
        "seconds",
    ] {
        if let Some(i) = col(name) {
            numbers.push((i, "number"));
        }
    }
    for s in ScoreName::ALL {
        if let Some(i) = col(s.as_str()) {
            numbers.push((i, "number"));
        }
    }
    let cols = Cols {
        id: col("id"),
        level: col("level"),
        model: col("model"),
        clip: col("clip"),
        status: col("status"),
        numbers,
        lists: ["top5", "top5_softmax_sum"]
            .iter()
            .filter_map(|n| col(n))
            .collect(),
        number_lists: col(LOGITS).into_iter().collect(),
        flags: [
            "correct",
            "correct_top5",
            "correct_softmax_sum",
            "correct_top5_softmax_sum",
        ]
        .iter()
        .filter_map(|n| col(n))
        .collect(),
    };
    let mut sorted_columns: Vec<&str> = columns.iter().map(String::as_str).collect();
    sorted_columns.sort_unstable();

    let mut out = Scan::default();
    let mut seen: HashSet<String> = HashSet::new();
    // The current video's lines: (line index, checked row or why not).
    let mut open: Vec<(usize, std::result::Result<RowView, String>)> = Vec::new();
    let number = |i: usize| table.lines[i].number;
    for (i, line) in table.lines.iter().enumerate() {
        let checked = match &line.body {
            _ if !line.ended => Err("unfinished line (no line end)".to_string()),
            Body::Damaged(why) => Err(why.clone()),
            Body::Record(r) => check(r, &cols, &sorted_columns, model),
        };
        let closes = matches!(&checked, Ok(v) if v.video);
        open.push((i, checked));
        if !closes {
            continue;
        }
        let lines = open[0].0..i + 1;
        let range = number(lines.start)..number(i) + 1;
        let video = open
            .last()
            .and_then(|(_, r)| r.as_ref().ok())
            .map(|v| (v.id.clone(), v.ok));
        let problem = whole_video(&open);
        open.clear();
        let (id, ok) = video.unwrap_or_default();
        match problem {
            Some(why) => out.damaged.push(Damage { lines: range, why }),
            None if !seen.insert(id.clone()) => out.damaged.push(Damage {
                lines: range,
                why: format!("video {id} is already in the file (doubled)"),
            }),
            None => out.videos.push(Video {
                id,
                ok,
                bytes: table.lines[lines.start].span.start..table.lines[i].span.end,
                lines,
            }),
        }
    }
    out.tail_rows = open.len();
    out
}

/// Why the rows of one video (ending with its video row) are not a whole video, if so.
fn whole_video(rows: &[(usize, std::result::Result<RowView, String>)]) -> Option<String> {
    for (_, r) in rows {
        if let Err(why) = r {
            return Some(why.clone());
        }
    }
    let views: Vec<&RowView> = rows.iter().filter_map(|(_, r)| r.as_ref().ok()).collect();
    let video = views.last()?;
    if let Some(other) = views.iter().find(|v| v.id != video.id) {
        return Some(format!(
            "rows of video {} among those of {} (mixed)",
            other.id, video.id
        ));
    }
    let clips = &views[..views.len() - 1];
    if !video.ok && !clips.is_empty() {
        return Some(format!("video {} is an error but has clip rows", video.id));
    }
    if video.ok && clips.is_empty() {
        return Some(format!("video {} has no clip rows", video.id));
    }
    if clips.iter().enumerate().any(|(k, c)| c.clip != Some(k)) {
        return Some(format!(
            "video {}: clip rows missing or out of order",
            video.id
        ));
    }
    None
}

/// A row of this tool's file, or why not.
fn check(
    r: &Record,
    cols: &Cols,
    sorted_columns: &[&str],
    model: &str,
) -> std::result::Result<RowView, String> {
    // Compared as sets: serde_json keeps a line's key order (preserve_order), which is the
    // writer's column order, not sorted.
    let mut keys: Vec<&str> = r.keys.iter().map(String::as_str).collect();
    keys.sort_unstable();
    if !keys.is_empty() && keys != sorted_columns {
        return Err("not this run's columns".into());
    }
    let id = r.get(cols.id).ok_or("no id")?;
    let level = r.get(cols.level).ok_or("no level")?;
    let status = r.get(cols.status).ok_or("no status")?;
    let row_model = r.get(cols.model).ok_or("no model")?;
    if row_model != model {
        return Err(format!("a row of model {row_model} (this run is {model})"));
    }
    let clip = match r.get(cols.clip) {
        None => None,
        Some(c) => Some(
            c.parse::<usize>()
                .map_err(|_| format!("clip {c:?} is not a number"))?,
        ),
    };
    let video = match level {
        "video" => true,
        "clip" if clip.is_some() => false,
        other => return Err(format!("level {other:?} (clip rows need a clip number)")),
    };
    for &(i, _) in &cols.numbers {
        if let Some(v) = r.get(Some(i)) {
            v.parse::<f64>()
                .map_err(|_| format!("{v:?} where a number belongs"))?;
        }
    }
    for &i in &cols.lists {
        if let Some(v) = r.get(Some(i)) {
            if v.split(' ').any(|x| x.parse::<usize>().is_err()) {
                return Err(format!("{v:?} where class indices belong"));
            }
        }
    }
    for &i in &cols.number_lists {
        if let Some(v) = r.get(Some(i)) {
            if v.split(' ')
                .any(|x| !x.parse::<f64>().is_ok_and(f64::is_finite))
            {
                // Not the cell itself: it holds hundreds of numbers.
                return Err("logits that are not finite numbers separated by spaces".into());
            }
        }
    }
    for &i in &cols.flags {
        if let Some(v) = r.get(Some(i)) {
            // 1/0 as written; true/false in files of earlier versions.
            if !matches!(v, "1" | "0" | "true" | "false") {
                return Err(format!("{v:?} where 1 or 0 belongs"));
            }
        }
    }
    Ok(RowView {
        id: id.to_string(),
        video,
        clip,
        ok: status == "ok",
    })
}

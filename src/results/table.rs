//! A results file's lines, read without trusting them: CSV (header first) or JSON Lines, each
//! line either a record (its cells by column) or damaged (with why). Nothing here fails on
//! what a line holds; only an unreadable file is an error. Resume, merge and eval decide what
//! a damaged line means to them.
use std::ops::Range;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::RowFormat;
use crate::{Error, Result};

/// Every line of a results file.
#[derive(Debug)]
pub struct Table {
    pub path: PathBuf,
    pub format: RowFormat,
    /// CSV: the header's fields (empty when the header line is missing or unfinished);
    /// JSON Lines: every key, in order of first appearance.
    pub columns: Vec<String>,
    /// Byte length of the header line (0 for JSON Lines, or without a whole header).
    pub header_len: u64,
    pub lines: Vec<Line>,
    /// The file's bytes, so a rewrite copies kept lines exactly.
    pub bytes: Vec<u8>,
}

/// One line (one CSV record, which a quoted field may spread over several text lines).
#[derive(Debug)]
pub struct Line {
    /// 1-based number of its first text line.
    pub number: usize,
    /// Its bytes in the file, line end included.
    pub span: Range<u64>,
    /// Whether it ends with a line end (a writer killed mid-line leaves one that does not;
    /// a hand-written file may lack the last one).
    pub ended: bool,
    pub body: Body,
}

#[derive(Debug)]
pub enum Body {
    Record(Record),
    /// Not a row: why (a field count, not JSON, no line end, …).
    Damaged(String),
}

/// A line's cells, one per column of the table (`None`: empty, JSON null, or absent).
#[derive(Debug)]
pub struct Record {
    pub cells: Vec<Option<String>>,
    /// JSON Lines: the line's keys, sorted (a results file of this tool has exactly its
    /// columns on every line); empty for CSV, whose cells follow the header by construction.
    pub keys: Vec<String>,
}

impl Table {
    /// Reads `path`; the format is [`RowFormat::of`] its name.
    pub fn read(path: &Path) -> Result<Table> {
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        let format = RowFormat::of(path);
        let mut table = Table {
            path: path.to_path_buf(),
            format,
            columns: Vec::new(),
            header_len: 0,
            lines: Vec::new(),
            bytes: Vec::new(),
        };
        match format {
            RowFormat::Csv => table.read_csv(&bytes),
            RowFormat::JsonLines => table.read_jsonl(&bytes),
        }
        table.bytes = bytes;
        Ok(table)
    }

    /// Index of a column.
    pub fn column(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c == name)
    }

    /// The bytes of a line as written.
    pub fn raw(&self, line: &Line) -> &[u8] {
        &self.bytes[line.span.start as usize..line.span.end as usize]
    }

    fn read_csv(&mut self, bytes: &[u8]) {
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .from_reader(bytes);
        let mut record = csv::ByteRecord::new();
        let mut header_seen = false;
        loop {
            let start = reader.position().byte();
            let number = reader.position().line() as usize;
            match reader.read_byte_record(&mut record) {
                Ok(false) => break,
                Ok(true) => {}
                // The csv crate only fails on I/O, which memory cannot have; stop if it does.
                Err(_) => break,
            }
            let end = reader.position().byte();
            let span = start..end;
            let ended = end > 0 && bytes.get(end as usize - 1) == Some(&b'\n');
            let fields: Option<Vec<String>> = record
                .iter()
                .map(|f| std::str::from_utf8(f).ok().map(str::to_string))
                .collect();
            if !header_seen {
                header_seen = true;
                if ended {
                    if let Some(f) = fields {
                        self.columns = f.iter().map(|h| h.trim().to_string()).collect();
                        self.header_len = end;
                        continue;
                    }
                }
                // An unfinished or undecodable header: no columns, and the line is damaged.
                self.lines.push(Line {
                    number,
                    span,
                    ended,
                    body: Body::Damaged("the header line is unfinished or not UTF-8".into()),
                });
                continue;
            }
            let body = match fields {
                None => Body::Damaged("not UTF-8 text".into()),
                Some(f) if f.len() != self.columns.len() => Body::Damaged(format!(
                    "a row has {} fields where the header has {}",
                    f.len(),
                    self.columns.len()
                )),
                Some(f) => Body::Record(Record {
                    cells: f
                        .into_iter()
                        .map(|v| {
                            let v = v.trim();
                            (!v.is_empty()).then(|| v.to_string())
                        })
                        .collect(),
                    keys: Vec::new(),
                }),
            };
            self.lines.push(Line {
                number,
                span,
                ended,
                body,
            });
        }
    }

    fn read_jsonl(&mut self, bytes: &[u8]) {
        let mut start = 0u64;
        type Parsed = std::result::Result<serde_json::Map<String, Value>, String>;
        let mut parsed: Vec<(usize, Range<u64>, Parsed)> = Vec::new();
        for (i, line) in bytes.split_inclusive(|&b| b == b'\n').enumerate() {
            let span = start..start + line.len() as u64;
            start = span.end;
            if line.iter().all(u8::is_ascii_whitespace) && line.last() == Some(&b'\n') {
                continue;
            }
            let value = match serde_json::from_slice::<Value>(line) {
                Ok(Value::Object(map)) => Ok(map),
                Ok(_) => Err("a row must be a JSON object".to_string()),
                Err(e) => Err(format!("not JSON: {e}")),
            };
            if let Ok(map) = &value {
                for k in map.keys() {
                    if !self.columns.iter().any(|c| c == k) {
                        self.columns.push(k.clone());
                    }
                }
            }
            parsed.push((i + 1, span, value));
        }
        for (number, span, value) in parsed {
            let ended = span.end > 0 && bytes.get(span.end as usize - 1) == Some(&b'\n');
            let body = match value {
                Err(why) => Body::Damaged(why),
                Ok(map) => Body::Record(Record {
                    cells: self
                        .columns
                        .iter()
                        .map(|c| map.get(c).and_then(text))
                        .collect(),
                    keys: map.keys().cloned().collect(),
                }),
            };
            self.lines.push(Line {
                number,
                span,
                ended,
                body,
            });
        }
    }
}

/// A JSON value as the CSV cell that would hold it: strings trimmed, lists space-separated,
/// null and "" empty.
fn text(v: &Value) -> Option<String> {
    let t = match v {
        Value::Null => return None,
        Value::String(s) => s.trim().to_string(),
        Value::Array(items) => items
            .iter()
            .map(|v| match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            })
            .collect::<Vec<_>>()
            .join(" "),
        other => other.to_string(),
    };
    (!t.is_empty()).then_some(t)
}

impl Record {
    /// The cell of column `index`, if any.
    pub fn get(&self, index: Option<usize>) -> Option<&str> {
        index.and_then(|i| self.cells.get(i)?.as_deref())
    }
}

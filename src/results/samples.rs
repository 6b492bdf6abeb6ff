//! A results file (CSV, or JSON Lines for `.jsonl`/`.ndjson`) as the samples `eval`
//! measures. Unknown columns are ignored; every problem names the file, and
//! the line and column where there is one.
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use ndarray::{Array2, ArrayView1};

use super::table::{Body, Table};
use super::{Level, Provenance, RowFormat};
use crate::scores::ScoreName;
use crate::{Error, Result};

const STATUS: &str = "status";

/// How many error statuses the report quotes.
const ERROR_EXAMPLES: usize = 3;

/// One ok, labelled row of the evaluated level (its score values are a row of
/// [`ResultsFile::values`]).
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    /// The row's `id` (or `path`, or `line N` when neither is there).
    pub id: String,
    pub correct: bool,
    pub correct_top5: Option<bool>,
    pub correct_softmax_sum: Option<bool>,
    pub correct_top5_softmax_sum: Option<bool>,
    /// `label_index` and `pred_index` where the row has them.
    pub label: Option<usize>,
    pub pred: Option<usize>,
    /// The true label's predicted probability (`prob_label`), for NLL and Brier.
    pub prob_label: Option<f64>,
    /// Every class's logit (`logits`), for temperature scaling.
    pub logits: Option<Vec<f64>>,
}

/// One results file, reduced to the rows of one level.
#[derive(Clone, Debug)]
pub struct ResultsFile {
    pub path: PathBuf,
    pub model: String,
    pub level: Level,
    /// The score columns present, in the project's score order.
    pub scores: Vec<ScoreName>,
    /// Rows of this level.
    pub rows: usize,
    /// Rows of this level whose status is not ok.
    pub error_rows: usize,
    /// The first few of them: (id, status).
    pub error_examples: Vec<(String, String)>,
    /// Ok rows of this level without a label.
    pub unlabeled_rows: usize,
    pub samples: Vec<Sample>,
    /// Class names by index, as the rows give them (`label` beside `label_index`, `pred`
    /// beside `pred_index`), for the per-class report; `eval --labels` replaces them.
    pub class_names: BTreeMap<usize, String>,
    /// What made the file (its sidecar), when it has one.
    pub provenance: Option<Provenance>,
    /// Score values: one row per sample, one column per score; NaN where empty or not finite.
    pub values: Array2<f64>,
}

impl ResultsFile {
    /// The values of `score` over the samples (NaN = missing), if the file has the column.
    pub fn column(&self, score: ScoreName) -> Option<ArrayView1<'_, f64>> {
        let j = self.scores.iter().position(|&s| s == score)?;
        Some(self.values.column(j))
    }

    /// Whether each sample's prediction is right.
    pub fn correct(&self) -> Vec<bool> {
        self.samples.iter().map(|s| s.correct).collect()
    }
}

/// A column's values as options: `None` for a missing (NaN) entry.
pub fn present(column: ArrayView1<'_, f64>) -> impl Iterator<Item = Option<f64>> + '_ {
    column.into_iter().map(|&v| v.is_finite().then_some(v))
}

/// A row as read: the known fields that are present and not empty (JSON null = empty).
struct RawRow {
    line: usize,
    fields: BTreeMap<&'static str, String>,
}

impl RawRow {
    fn get(&self, name: &str) -> Option<&str> {
        self.fields.get(name).map(String::as_str)
    }
}

/// Reads `path` and keeps the rows of `level`. Lenient where a results file from elsewhere
/// may differ (extra columns, pandas' float indices, no last line end); strict about damage:
/// a garbled line is an error naming it.
pub fn read(path: &Path, level: Level) -> Result<ResultsFile> {
    let table = Table::read(path)?;
    let p = path.display();
    let garbled = match table.format {
        RowFormat::Csv => "garbled CSV",
        RowFormat::JsonLines => "garbled JSON Lines",
    };
    if table.format == RowFormat::Csv && table.columns.iter().all(String::is_empty) {
        if table.bytes.iter().all(u8::is_ascii_whitespace) {
            return Err(Error::Invalid(format!(
                "{p}: empty results file (no header line)"
            )));
        }
        // Control bytes (NUL, …) where a header belongs: binary data, not a damaged CSV.
        let head = &table.bytes[..table.bytes.len().min(4096)];
        if head
            .iter()
            .any(|&b| b.is_ascii_control() && !b.is_ascii_whitespace())
        {
            return Err(Error::Invalid(format!(
                "{p}: not a results file (binary data, not CSV text)"
            )));
        }
        if let Some(l) = table.lines.first() {
            if let Body::Damaged(why) = &l.body {
                return Err(Error::Invalid(format!(
                    "{p}:{}: {garbled}: {why}",
                    l.number
                )));
            }
        }
    }
    let index: Vec<(&'static str, usize)> = known_names()
        .filter_map(|name| table.column(name).map(|i| (name, i)))
        .collect();
    let mut rows = Vec::new();
    for l in &table.lines {
        let r = match &l.body {
            Body::Record(r) => r,
            Body::Damaged(why) => {
                let why = if why.starts_with("not UTF-8") {
                    "not UTF-8 text (is this a results file?)"
                } else {
                    why
                };
                return Err(Error::Invalid(format!(
                    "{p}:{}: {garbled}: {why}",
                    l.number
                )));
            }
        };
        let fields = index
            .iter()
            .filter_map(|&(name, i)| r.get(Some(i)).map(|v| (name, v.to_string())))
            .collect();
        rows.push(RawRow {
            line: l.number,
            fields,
        });
    }
    let columns: BTreeSet<String> = table.columns.iter().cloned().collect();
    let mut file = interpret(path, level, &columns, rows)?;
    file.provenance = Provenance::read(path)?;
    Ok(file)
}

/// Every column this tool writes (the one list in `results`), scores included.
fn known_names() -> impl Iterator<Item = &'static str> {
    super::HEAD
        .into_iter()
        .chain(super::TAIL)
        .chain([super::LOGITS])
        .chain(ScoreName::ALL.into_iter().map(ScoreName::as_str))
}

fn interpret(
    path: &Path,
    level: Level,
    columns: &BTreeSet<String>,
    rows: Vec<RawRow>,
) -> Result<ResultsFile> {
    let p = path.display();
    let has = |c: &str| columns.contains(c);
    let listed = || {
        let mut names: Vec<&str> = columns.iter().map(String::as_str).take(12).collect();
        if columns.len() > 12 {
            names.push("…");
        }
        names.join(", ")
    };
    if rows.is_empty() && columns.is_empty() {
        return Err(Error::Invalid(format!(
            "{p}: no rows (an empty results file)"
        )));
    }
    if !has("level") && !has("clip") {
        return Err(Error::Invalid(format!(
            "{p}: not a results file: no `level` (or `clip`) column; columns: {}",
            listed()
        )));
    }
    if !(has("correct") || (has("label_index") && has("pred_index"))) {
        return Err(Error::Invalid(format!(
            "{p}: not a results file: no `correct` column (nor `label_index` and `pred_index`) \
             to tell correct from wrong predictions; columns: {}",
            listed()
        )));
    }
    if rows.is_empty() {
        return Err(Error::Invalid(format!(
            "{p}: no rows, only the header (an empty results file)"
        )));
    }
    let scores: Vec<ScoreName> = ScoreName::ALL
        .into_iter()
        .filter(|s| has(s.as_str()))
        .collect();

    let mut models = BTreeSet::new();
    let mut levels: BTreeMap<String, usize> = BTreeMap::new();
    let mut out = ResultsFile {
        path: path.to_path_buf(),
        model: String::new(),
        level,
        scores,
        rows: 0,
        error_rows: 0,
        error_examples: Vec::new(),
        unlabeled_rows: 0,
        samples: Vec::new(),
        class_names: BTreeMap::new(),
        provenance: None,
        values: Array2::zeros((0, 0)),
    };
    let mut values: Vec<f64> = Vec::new();
    for row in &rows {
        let at = || format!("{p}:{}", row.line);
        if let Some(m) = row.get("model") {
            models.insert(m.to_string());
        }
        let row_level = match (row.get("level"), has("level")) {
            (Some(l), _) => l.to_ascii_lowercase(),
            (None, true) => {
                return Err(Error::Invalid(format!("{}: empty `level`", at())));
            }
            (None, false) => if row.get("clip").is_some() {
                "clip"
            } else {
                "video"
            }
            .to_string(),
        };
        if row_level != level.as_str() {
            *levels.entry(row_level).or_default() += 1;
            continue;
        }
        out.rows += 1;
        let id = row
            .get("id")
            .or_else(|| row.get("path"))
            .map_or_else(|| format!("line {}", row.line), str::to_string);
        match row.get(STATUS) {
            None => {}
            Some(s) if s.eq_ignore_ascii_case("ok") => {}
            Some(s) => {
                out.error_rows += 1;
                if out.error_examples.len() < ERROR_EXAMPLES {
                    out.error_examples.push((id, s.to_string()));
                }
                continue;
            }
        }
        let label = parse_index(row, "label_index", &at)?;
        let correct = match row.get("correct") {
            Some(v) => Some(parse_bool(v, "correct", &at)?),
            None => match (label, parse_index(row, "pred_index", &at)?) {
                (Some(l), Some(p)) => Some(l == p),
                _ => None,
            },
        };
        let Some(correct) = correct else {
            out.unlabeled_rows += 1;
            continue;
        };
        let correct_top5 = flag_or_derived(row, "correct_top5", "top5", label, &at)?;
        let correct_softmax_sum = match row.get("correct_softmax_sum") {
            Some(v) => Some(parse_bool(v, "correct_softmax_sum", &at)?),
            None => match (label, parse_index(row, "pred_index_softmax_sum", &at)?) {
                (Some(l), Some(p)) => Some(l == p),
                _ => None,
            },
        };
        let correct_top5_softmax_sum = flag_or_derived(
            row,
            "correct_top5_softmax_sum",
            "top5_softmax_sum",
            label,
            &at,
        )?;
        for s in &out.scores {
            values.push(parse_score(row, s.as_str(), &at)?.unwrap_or(f64::NAN));
        }
        let prob_label = parse_score(row, super::PROB_LABEL, &at)?;
        if let Some(p) = prob_label.filter(|p| !(0.0..=1.0).contains(p)) {
            return Err(Error::Invalid(format!(
                "{}: column prob_label: a probability must lie in [0, 1], got {p}",
                at()
            )));
        }
        let logits = parse_logits(row, &at)?;
        if let (Some(z), Some(l)) = (&logits, label) {
            if l >= z.len() {
                return Err(Error::Invalid(format!(
                    "{}: label_index {l} is outside the row's {} logits",
                    at(),
                    z.len()
                )));
            }
        }
        let pred = parse_index(row, "pred_index", &at)?;
        for (index, name) in [(label, row.get("label")), (pred, row.get("pred"))] {
            if let (Some(i), Some(n)) = (index, name) {
                out.class_names.entry(i).or_insert_with(|| n.to_string());
            }
        }
        out.samples.push(Sample {
            id,
            correct,
            correct_top5,
            correct_softmax_sum,
            correct_top5_softmax_sum,
            label,
            pred,
            prob_label,
            logits,
        });
    }
    out.values = Array2::from_shape_vec((out.samples.len(), out.scores.len()), values)
        .expect("one value per sample and score");
    if out.rows == 0 {
        let found = levels
            .iter()
            .map(|(l, n)| format!("{n} {l}"))
            .collect::<Vec<_>>()
            .join(", ");
        let hint = levels
            .keys()
            .find(|l| l.parse::<Level>().is_ok())
            .map(|l| format!("; evaluate them with level {l}"))
            .unwrap_or_default();
        return Err(Error::Invalid(format!(
            "{p}: no {level} rows (found {found}){hint}"
        )));
    }
    if models.len() > 1 {
        return Err(Error::Invalid(format!(
            "{p}: rows of several models ({}); eval takes one model per results file",
            models.into_iter().collect::<Vec<_>>().join(", ")
        )));
    }
    out.model = models.into_iter().next().unwrap_or_else(|| {
        path.file_stem()
            .map_or_else(|| "model".to_string(), |s| s.to_string_lossy().into_owned())
    });
    Ok(out)
}

fn parse_bool(v: &str, column: &str, at: &dyn Fn() -> String) -> Result<bool> {
    match v.to_ascii_lowercase().as_str() {
        "true" | "1" => Ok(true),
        "false" | "0" => Ok(false),
        _ => Err(Error::Invalid(format!(
            "{}: column {column}: expected 1 or 0 (or true or false), got {v:?}",
            at()
        ))),
    }
}

/// A class index; a negative one (some tools write -1 for "no label") counts as absent.
fn parse_index(row: &RawRow, column: &str, at: &dyn Fn() -> String) -> Result<Option<usize>> {
    let Some(v) = row.get(column) else {
        return Ok(None);
    };
    // pandas writes an integer column with empty cells as floats ("3.0").
    let parsed = v.parse::<i64>().ok().or_else(|| {
        v.parse::<f64>()
            .ok()
            .filter(|x| x.fract() == 0.0 && x.abs() < 1e15)
            .map(|x| x as i64)
    });
    match parsed {
        Some(i) if i < 0 => Ok(None),
        Some(i) => Ok(Some(i as usize)),
        None => Err(Error::Invalid(format!(
            "{}: column {column}: expected a class index, got {v:?}",
            at()
        ))),
    }
}

/// `flag` if the row has it, else whether `label` is among the indices in `list`.
fn flag_or_derived(
    row: &RawRow,
    flag: &str,
    list: &str,
    label: Option<usize>,
    at: &dyn Fn() -> String,
) -> Result<Option<bool>> {
    if let Some(v) = row.get(flag) {
        return parse_bool(v, flag, at).map(Some);
    }
    let (Some(label), Some(items)) = (label, row.get(list)) else {
        return Ok(None);
    };
    let mut found = false;
    for item in items
        .split(|c: char| c.is_whitespace() || c == ',' || c == ';')
        .filter(|s| !s.is_empty())
    {
        let i = item.parse::<usize>().or_else(|_| {
            item.parse::<f64>()
                .ok()
                .filter(|x| x.fract() == 0.0 && *x >= 0.0 && *x < 1e15)
                .map(|x| x as usize)
                .ok_or(())
        });
        let i = i.map_err(|_| {
            Error::Invalid(format!(
                "{}: column {list}: expected class indices separated by spaces, got {items:?}",
                at()
            ))
        })?;
        found |= i == label;
    }
    Ok(Some(found))
}

/// The `logits` list (space-separated in CSV, an array in JSON Lines); every entry finite.
fn parse_logits(row: &RawRow, at: &dyn Fn() -> String) -> Result<Option<Vec<f64>>> {
    let Some(items) = row.get(super::LOGITS) else {
        return Ok(None);
    };
    let z = items
        .split(|c: char| c.is_whitespace() || c == ',' || c == ';')
        .filter(|s| !s.is_empty())
        .map(|v| v.parse::<f64>().ok().filter(|x| x.is_finite()))
        .collect::<Option<Vec<f64>>>()
        .filter(|z| z.len() >= 2)
        .ok_or_else(|| {
            Error::Invalid(format!(
                "{}: column logits: expected two or more finite numbers separated by spaces",
                at()
            ))
        })?;
    Ok(Some(z))
}

/// A score value; empty, `nan` or infinite is `None` (counted as missing).
fn parse_score(row: &RawRow, column: &str, at: &dyn Fn() -> String) -> Result<Option<f64>> {
    let Some(v) = row.get(column) else {
        return Ok(None);
    };
    let x = v.parse::<f64>().map_err(|_| {
        Error::Invalid(format!(
            "{}: column {column}: expected a number, got {v:?}",
            at()
        ))
    })?;
    Ok(x.is_finite().then_some(x))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(name: &str, text: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        (dir, path)
    }

    const CSV: &str = "\
id,path,model,level,clip,label_index,pred_index,top5,correct,correct_top5,softmax,extra,status
a,a.mp4,m,clip,0,1,1,1 2 3 4 5,true,true,0.9,x,ok
a,a.mp4,m,video,,1,1,1 2 3 4 5,true,true,0.8,x,ok
b,b.mp4,m,video,,2,3,3 4 5 6 7,,,0.4,x,ok
c,\"c, quoted.mp4\",m,video,,,,,,,,,no such file
d,d.mp4,m,video,,,7,,,,0.5,,ok
";

    #[test]
    fn csv_rows() {
        let (_d, path) = write("r.csv", CSV);
        let f = read(&path, Level::Video).unwrap();
        assert_eq!(f.model, "m");
        assert_eq!(f.scores, vec![ScoreName::Softmax]);
        assert_eq!((f.rows, f.error_rows, f.unlabeled_rows), (4, 1, 1));
        assert_eq!(
            f.error_examples,
            vec![("c".to_string(), "no such file".to_string())]
        );
        assert_eq!(f.samples.len(), 2);
        // b: correct derived from label_index/pred_index, top-5 from the list
        assert!(!f.samples[1].correct);
        assert_eq!(f.samples[1].correct_top5, Some(false));
        assert_eq!(f.values.row(1).to_vec(), vec![0.4]);
        assert_eq!((f.samples[1].label, f.samples[1].pred), (Some(2), Some(3)));
        let clips = read(&path, Level::Clip).unwrap();
        assert_eq!(clips.samples.len(), 1);
    }

    #[test]
    fn jsonl_rows_match_csv() {
        let jsonl = r#"{"id":"a","model":"m","level":"video","label_index":1,"pred_index":1,"top5":[1,2],"correct":true,"softmax":0.8,"status":"ok"}

{"id":"b","model":"m","level":"video","label_index":2,"pred_index":3,"top5":"3 4","correct":false,"softmax":null,"gradtrust":2.5,"status":"ok"}
"#;
        let (_d, path) = write("r.jsonl", jsonl);
        let f = read(&path, Level::Video).unwrap();
        assert_eq!(f.scores, vec![ScoreName::GradTrust, ScoreName::Softmax]);
        let col = |s| present(f.column(s).unwrap()).collect::<Vec<_>>();
        assert_eq!(col(ScoreName::GradTrust), vec![None, Some(2.5)]);
        assert_eq!(col(ScoreName::Softmax), vec![Some(0.8), None]);
        assert_eq!(f.samples[0].correct_top5, Some(true));
    }

    #[test]
    fn problems_name_file_and_line() {
        let cases = [
            ("e.csv", "", "empty results file"),
            ("h.csv", "id,level,correct\n", "no rows"),
            (
                "g.csv",
                "id,level,correct\na,video,true\nb,video\n",
                "e.csv",
            ),
            ("n.csv", "foo,bar\n1,2\n", "not a results file"),
            (
                "b.csv",
                "id,level,correct\na,video,maybe\n",
                ":2: column correct",
            ),
            (
                "s.csv",
                "id,level,correct,softmax\na,video,true,high\n",
                "expected a number",
            ),
            ("j.jsonl", "{\"id\": 1,\n", "j.jsonl:1: garbled JSON Lines"),
            (
                "l.csv",
                "id,level,correct\na,clip,true\n",
                "no video rows (found 1 clip)",
            ),
            (
                "m.csv",
                "model,level,correct\nx,video,true\ny,video,false\n",
                "several models (x, y)",
            ),
        ];
        for (name, text, want) in cases {
            let (_d, path) = write(name, text);
            let err = read(&path, Level::Video).unwrap_err().to_string();
            let want = if want == "e.csv" {
                "g.csv:3: garbled CSV"
            } else {
                want
            };
            assert!(err.contains(want), "{name}: {err:?} lacks {want:?}");
            assert!(err.contains(name), "{name}: {err:?} does not name the file");
        }
    }

    #[test]
    fn pandas_float_indices() {
        let (_d, path) = write(
            "p.csv",
            "level,label_index,pred_index,top5\nvideo,3.0,3.0,3.0 1.0\nvideo,,2.0,2.0\nvideo,1.5,1,1\n",
        );
        let err = read(&path, Level::Video).unwrap_err().to_string();
        assert!(err.contains("p.csv:4: column label_index"), "{err}");
        std::fs::write(
            &path,
            "level,label_index,pred_index,top5\nvideo,3.0,3.0,2.0 3.0\nvideo,,2.0,2.0\n",
        )
        .unwrap();
        let f = read(&path, Level::Video).unwrap();
        assert_eq!((f.samples.len(), f.unlabeled_rows), (1, 1));
        assert_eq!(
            (f.samples[0].correct, f.samples[0].correct_top5),
            (true, Some(true))
        );
    }

    #[test]
    fn non_finite_scores_are_missing() {
        let (_d, path) = write(
            "r.csv",
            "level,correct,energy\nvideo,true,nan\nvideo,false,inf\nvideo,true,-1e3\n",
        );
        let f = read(&path, Level::Video).unwrap();
        let got: Vec<_> = present(f.values.column(0)).collect();
        assert_eq!(got, vec![None, None, Some(-1000.0)]);
        assert_eq!(f.model, "r");
    }
}

//! Lists of videos to run (shared/spec/data-and-eval.md): the Kinetics annotation CSV, a
//! `path,label` CSV, the space-separated `path label_index` list and ImageNet's validation
//! ground-truth file, and where each entry's file is. Reading never stops at a bad row: the row becomes an [`Entry`] with an error,
//! which the batch run reports as an output row.
use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use crate::labels::Labels;
use crate::{Error, Result};

/// Containers the Kinetics downloads use, in the order they are looked for.
pub const VIDEO_EXTENSIONS: [&str; 4] = ["mp4", "mkv", "webm", "avi"];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ListFormat {
    /// `label,youtube_id,time_start,time_end,split[,…]` with a header.
    Kinetics,
    /// `path,label` (label = class name or index), header optional.
    Csv,
    /// `path label_index`, one per line.
    Space,
    /// ImageNet validation ground truth: line k is the class of `ILSVRC2012_val_{k:08}.JPEG`
    /// (a 1-based devkit ILSVRC2012_ID mapped through a synset file when one is given, else
    /// torchvision's 0-based class index).
    Imagenet,
}

impl ListFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            ListFormat::Kinetics => "kinetics",
            ListFormat::Csv => "csv",
            ListFormat::Space => "space",
            ListFormat::Imagenet => "imagenet",
        }
    }
}

impl fmt::Display for ListFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ListFormat {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        [
            ListFormat::Kinetics,
            ListFormat::Csv,
            ListFormat::Space,
            ListFormat::Imagenet,
        ]
        .into_iter()
        .find(|f| f.as_str() == s)
        .ok_or_else(|| {
            Error::Invalid(format!(
                "unknown list format {s:?}; known: kinetics, csv, space, imagenet"
            ))
        })
    }
}

/// One video of a list.
#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    /// 0-based position among the list's entries (what `--shard` and `--limit` count).
    pub position: usize,
    /// 1-based line of the list file.
    pub line: usize,
    /// Kinetics `{youtube_id}_{time_start:06}_{time_end:06}`, else the file stem (the path as
    /// written where two entries share a stem).
    pub id: String,
    /// The file to decode; `None` when none was found.
    pub path: Option<PathBuf>,
    pub label_index: Option<usize>,
    /// The label as written (a name, or the index's name).
    pub label: Option<String>,
    /// Why the entry cannot be run (missing file, unknown label, garbled row).
    pub error: Option<String>,
}

/// Reads `list` (format detected from its first line unless given). Relative paths and
/// Kinetics file names are resolved under `root`, by default the list's directory.
pub fn read_list(
    list: &Path,
    format: Option<ListFormat>,
    root: Option<&Path>,
    labels: &Labels,
    synsets: Option<&Path>,
) -> Result<(ListFormat, Vec<Entry>)> {
    let bytes = std::fs::read(list).map_err(|e| Error::io(list, e))?;
    let text = String::from_utf8(bytes)
        .map_err(|_| Error::Invalid(format!("{}: not UTF-8 text", list.display())))?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
    let root = match root {
        Some(r) => r.to_path_buf(),
        None => list.parent().map(Path::to_path_buf).unwrap_or_default(),
    };
    let format = match format {
        Some(f) => f,
        None => detect(text).ok_or_else(|| {
            Error::Invalid(format!("{}: empty list (no entries)", list.display()))
        })?,
    };
    let mut entries = match format {
        ListFormat::Kinetics => parse_kinetics(list, text, &root, labels)?,
        ListFormat::Csv => parse_csv(text, &root, labels),
        ListFormat::Space => parse_space(text, &root, labels),
        ListFormat::Imagenet => parse_imagenet(text, &root, labels, synsets)?,
    };
    dedup_ids(&mut entries);
    Ok((format, entries))
}

/// The format a list's first non-empty line says.
pub fn detect(text: &str) -> Option<ListFormat> {
    let first = text.lines().find(|l| !l.trim().is_empty())?;
    let fields = csv_fields(first);
    let names: Vec<String> = fields.iter().map(|f| f.trim().to_lowercase()).collect();
    if names.iter().any(|n| n == "youtube_id") {
        return Some(ListFormat::Kinetics);
    }
    if fields.len() >= 2 {
        return Some(ListFormat::Csv);
    }
    if first.trim().parse::<u32>().is_ok() {
        return Some(ListFormat::Imagenet);
    }
    Some(ListFormat::Space)
}

fn csv_fields(line: &str) -> Vec<String> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(line.as_bytes());
    reader
        .records()
        .next()
        .and_then(|r| r.ok())
        .map(|r| r.iter().map(str::to_string).collect())
        .unwrap_or_default()
}

/// CSV records with their 1-based line numbers; a garbled record is an `Err` with its text.
fn csv_records(text: &str) -> Vec<(usize, std::result::Result<Vec<String>, String>)> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(text.as_bytes());
    let mut out = Vec::new();
    let mut record = csv::StringRecord::new();
    loop {
        let line = reader.position().line() as usize;
        match reader.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {
                let line = record.position().map_or(line, |p| p.line() as usize);
                let fields: Vec<String> = record.iter().map(str::to_string).collect();
                if fields.iter().all(|f| f.trim().is_empty()) {
                    continue;
                }
                out.push((line, Ok(fields)));
            }
            Err(e) => out.push((line, Err(format!("garbled CSV row: {e}")))),
        }
    }
    out
}

fn entry(position: usize, line: usize, id: String) -> Entry {
    Entry {
        position,
        line,
        id,
        path: None,
        label_index: None,
        label: None,
        error: None,
    }
}

/// torchvision's index of each devkit ILSVRC2012_ID (1-based, the file's line order): the
/// rank of its WordNet id among all of them, torchvision's classes being the sorted ids.
fn devkit_to_torchvision(synsets: &Path) -> Result<Vec<usize>> {
    let text = std::fs::read_to_string(synsets).map_err(|e| Error::io(synsets, e))?;
    let wnids: Vec<&str> = text
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    if wnids.len() != 1000 || !wnids.iter().all(|w| w.starts_with('n')) {
        return Err(Error::Invalid(format!(
            "{}: expected 1000 lines starting with a WordNet id (n01440764 …), found {} ids",
            synsets.display(),
            wnids.len()
        )));
    }
    let mut sorted = wnids.clone();
    sorted.sort_unstable();
    Ok(wnids
        .iter()
        .map(|w| sorted.binary_search(w).unwrap_or(0))
        .collect())
}

fn parse_imagenet(
    text: &str,
    root: &Path,
    labels: &Labels,
    synsets: Option<&Path>,
) -> Result<Vec<Entry>> {
    let mapping = synsets.map(devkit_to_torchvision).transpose()?;
    let mut entries = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            continue;
        }
        let id = format!("ILSVRC2012_val_{line:08}");
        let mut e = entry(entries.len(), line, id.clone());
        let class = trimmed.parse::<usize>().ok().and_then(|v| match &mapping {
            Some(m) => v.checked_sub(1).and_then(|k| m.get(k).copied()),
            None => (v < labels.len()).then_some(v),
        });
        match class {
            Some(c) => {
                e.label_index = Some(c);
                e.label = labels.name(c).map(str::to_string);
            }
            None => {
                e.error = Some(format!(
                    "line {line}: class {trimmed:?} is not {}",
                    if mapping.is_some() {
                        "a devkit ILSVRC2012_ID in 1..=1000"
                    } else {
                        "a class index in 0..1000 (devkit IDs need the devkit's synset mapping)"
                    }
                ))
            }
        }
        let found = ["JPEG", "jpeg", "jpg", "JPG", "png", "PNG"]
            .iter()
            .map(|ext| root.join(format!("{id}.{ext}")))
            .find(|p| p.is_file());
        match found {
            Some(p) => e.path = Some(p),
            None if e.error.is_none() => {
                e.error = Some(format!("{}: no {id}.JPEG", root.display()))
            }
            None => {}
        }
        entries.push(e);
    }
    Ok(entries)
}

fn parse_kinetics(list: &Path, text: &str, root: &Path, labels: &Labels) -> Result<Vec<Entry>> {
    let records = csv_records(text);
    let Some((_, Ok(header))) = records.first() else {
        return Err(Error::Invalid(format!(
            "{}: no Kinetics header line (label,youtube_id,time_start,time_end,split)",
            list.display()
        )));
    };
    let col = |name: &str| {
        header
            .iter()
            .position(|h| h.trim().eq_ignore_ascii_case(name))
            .ok_or_else(|| {
                Error::Invalid(format!(
                    "{}:1: Kinetics header lacks column {name:?} (header: {})",
                    list.display(),
                    header.join(",")
                ))
            })
    };
    let (c_label, c_yt, c_start, c_end) = (
        col("label")?,
        col("youtube_id")?,
        col("time_start")?,
        col("time_end")?,
    );
    let mut entries = Vec::new();
    for (line, record) in records.into_iter().skip(1) {
        let position = entries.len();
        let fields = match record {
            Ok(f) => f,
            Err(e) => {
                let mut e_ = entry(position, line, format!("line-{line}"));
                e_.error = Some(format!("line {line}: {e}"));
                entries.push(e_);
                continue;
            }
        };
        let get = |i: usize| fields.get(i).map(|s| s.trim()).filter(|s| !s.is_empty());
        let yt = get(c_yt);
        let mut e = entry(
            position,
            line,
            yt.map_or_else(|| format!("line-{line}"), str::to_string),
        );
        e.label = get(c_label).map(str::to_string);
        let times = (get(c_start).map(parse_secs), get(c_end).map(parse_secs));
        let (Some(yt), (Some(Some(start)), Some(Some(end)))) = (yt, times) else {
            e.error = Some(format!(
                "line {line}: expected youtube_id, time_start and time_end (integer seconds), got {:?}",
                fields.join(",")
            ));
            entries.push(e);
            continue;
        };
        e.id = format!("{yt}_{start:06}_{end:06}");
        if let Err(why) = set_label(&mut e, labels) {
            e.error = Some(why);
        }
        let candidates = kinetics_candidates(root, &e.id, e.label.as_deref());
        match candidates.iter().find(|p| p.is_file()) {
            Some(p) => e.path = Some(p.clone()),
            None if e.error.is_none() => {
                e.error = Some(format!(
                    "{}: no video file under {} (looked for {}.{{{}}} flat{})",
                    e.id,
                    root.display(),
                    e.id,
                    VIDEO_EXTENSIONS.join(","),
                    if e.label.is_some() {
                        " and in the label's folder"
                    } else {
                        ""
                    }
                ))
            }
            None => {}
        }
        entries.push(e);
    }
    Ok(entries)
}

/// Integer seconds as the annotations write them (`14`, also `14.0`).
fn parse_secs(s: &str) -> Option<u64> {
    s.parse::<u64>().ok().or_else(|| {
        s.parse::<f64>()
            .ok()
            .filter(|x| *x >= 0.0 && x.fract() == 0.0 && *x < 1e12)
            .map(|x| x as u64)
    })
}

/// Where a Kinetics clip may be: flat under `root`, or under `root/<label>/` with the label
/// as written or with spaces replaced by `_`; each with every container extension.
pub fn kinetics_candidates(root: &Path, id: &str, label: Option<&str>) -> Vec<PathBuf> {
    let mut dirs = vec![root.to_path_buf()];
    if let Some(label) = label {
        dirs.push(root.join(label));
        let underscored = label.replace(' ', "_");
        if underscored != label {
            dirs.push(root.join(underscored));
        }
    }
    dirs.iter()
        .flat_map(|d| VIDEO_EXTENSIONS.map(|ext| d.join(format!("{id}.{ext}"))))
        .collect()
}

/// Sets `label_index` from `label` (a class name, or an index when `numeric_ok`).
fn set_label(e: &mut Entry, labels: &Labels) -> std::result::Result<(), String> {
    let Some(label) = e.label.clone() else {
        return Ok(());
    };
    if let Some(i) = labels.index_of(&label) {
        e.label_index = Some(i);
        return Ok(());
    }
    if let Ok(i) = label.parse::<usize>() {
        return set_index(e, i, labels);
    }
    // Some copies of the lists write labels with `_` for spaces.
    if let Some(i) = labels.index_of(&label.replace('_', " ")) {
        e.label_index = Some(i);
        return Ok(());
    }
    Err(format!(
        "unknown label {label:?} (not a Kinetics-400 class name)"
    ))
}

fn set_index(e: &mut Entry, i: usize, labels: &Labels) -> std::result::Result<(), String> {
    match labels.name(i) {
        Some(name) => {
            e.label_index = Some(i);
            e.label = Some(name.to_string());
            Ok(())
        }
        None => Err(format!(
            "unknown label index {i} (classes are 0..{})",
            labels.len()
        )),
    }
}

fn resolve(root: &Path, written: &str) -> PathBuf {
    let p = Path::new(written);
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        root.join(p)
    }
}

fn stem(written: &str) -> String {
    Path::new(written)
        .file_stem()
        .map_or_else(|| written.to_string(), |s| s.to_string_lossy().into_owned())
}

fn parse_csv(text: &str, root: &Path, labels: &Labels) -> Vec<Entry> {
    let mut records = csv_records(text).into_iter().peekable();
    // A header names the columns; without one, path and label are the first two.
    let (mut c_path, mut c_label) = (0, 1);
    if let Some((_, Ok(first))) = records.peek() {
        let names: Vec<String> = first.iter().map(|f| f.trim().to_lowercase()).collect();
        if let (Some(p), Some(l)) = (
            names.iter().position(|n| n == "path"),
            names
                .iter()
                .position(|n| n == "label" || n == "label_index"),
        ) {
            (c_path, c_label) = (p, l);
            records.next();
        }
    }
    let mut entries = Vec::new();
    for (line, record) in records {
        let position = entries.len();
        let mut e = entry(position, line, format!("line-{line}"));
        let fields = match record {
            Ok(f) => f,
            Err(why) => {
                e.error = Some(format!("line {line}: {why}"));
                entries.push(e);
                continue;
            }
        };
        let path = fields.get(c_path).map(|s| s.trim()).unwrap_or_default();
        if path.is_empty() {
            e.error = Some(format!("line {line}: no path"));
            entries.push(e);
            continue;
        }
        e.id = stem(path);
        e.path = Some(resolve(root, path));
        e.label = fields
            .get(c_label)
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty());
        if let Err(why) = set_label(&mut e, labels) {
            e.error = Some(format!("line {line}: {why}"));
        }
        entries.push(e);
    }
    entries
}

fn parse_space(text: &str, root: &Path, labels: &Labels) -> Vec<Entry> {
    let mut entries = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        let trimmed = raw.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let position = entries.len();
        let mut e = entry(position, line, format!("line-{line}"));
        // The label is the last field, so a path may contain spaces.
        let (path, label) = match trimmed.rsplit_once(char::is_whitespace) {
            Some((p, l)) => (p.trim_end(), Some(l)),
            None => (trimmed, None),
        };
        e.id = stem(path);
        e.path = Some(resolve(root, path));
        match label.map(str::parse::<usize>) {
            Some(Ok(i)) => {
                if let Err(why) = set_index(&mut e, i, labels) {
                    e.error = Some(format!("line {line}: {why}"));
                }
            }
            Some(Err(_)) | None => {
                e.error = Some(format!(
                    "line {line}: expected `path label_index`, got {trimmed:?}"
                ));
            }
        }
        entries.push(e);
    }
    entries
}

/// Ids must be unique (resume and merge key on them): entries sharing a file stem use the
/// path as written; a true duplicate is an error row with the line in its id.
fn dedup_ids(entries: &mut [Entry]) {
    let mut count: HashMap<String, usize> = HashMap::new();
    for e in entries.iter() {
        *count.entry(e.id.clone()).or_default() += 1;
    }
    let mut first: HashMap<String, usize> = HashMap::new();
    for e in entries.iter_mut() {
        if count[&e.id] > 1 {
            if let Some(p) = &e.path {
                e.id = p.display().to_string();
            }
        }
        if let Some(&line) = first.get(&e.id) {
            e.error = Some(format!(
                "line {}: duplicate of line {line} ({})",
                e.line, e.id
            ));
            e.id = format!("{}#line-{}", e.id, e.line);
        } else {
            first.insert(e.id.clone(), e.line);
        }
    }
}

/// `--shard I/N`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    pub index: usize,
    pub count: usize,
}

impl Shard {
    /// Whether the entry at `position` belongs to this shard (`position % N == I`).
    pub fn contains(self, position: usize) -> bool {
        position % self.count == self.index
    }
}

impl FromStr for Shard {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        let bad = || {
            Error::Invalid(format!(
                "shard {s:?}: expected I/N with 0 <= I < N, e.g. 0/4"
            ))
        };
        let (i, n) = s.split_once('/').ok_or_else(bad)?;
        let (index, count) = (
            i.trim().parse::<usize>().map_err(|_| bad())?,
            n.trim().parse::<usize>().map_err(|_| bad())?,
        );
        if count == 0 || index >= count {
            return Err(bad());
        }
        Ok(Shard { index, count })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::labels::LabelSet;

    fn k() -> Labels {
        Labels::builtin(LabelSet::Kinetics400)
    }

    fn tree() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let r = dir.path();
        std::fs::create_dir_all(r.join("passing American football (in game)")).unwrap();
        std::fs::create_dir_all(r.join("massaging_person's_head")).unwrap();
        std::fs::write(r.join("abc_000001_000011.mp4"), b"x").unwrap();
        std::fs::write(
            r.join("passing American football (in game)/def_000002_000012.mkv"),
            b"x",
        )
        .unwrap();
        std::fs::write(
            r.join("massaging_person's_head/ghi_000000_000010.webm"),
            b"x",
        )
        .unwrap();
        dir
    }

    fn list(dir: &Path, name: &str, text: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    #[test]
    fn kinetics_rows_and_layouts() {
        let dir = tree();
        let r = dir.path();
        let text = "label,youtube_id,time_start,time_end,split,is_cc\n\
            abseiling,abc,1,11,val,0\n\
            \"passing American football (in game)\",def,2,12,val,0\n\
            massaging person's head,ghi,0,10,val,1\n\
            \n\
            abseiling,zzz,5,15,val,0\n\
            not a class,abc2,1,11,val,0\n\
            abseiling,short\n";
        let l = list(r, "val.csv", text);
        let (format, e) = read_list(&l, None, None, &k(), None).unwrap();
        assert_eq!(format, ListFormat::Kinetics);
        assert_eq!(e.len(), 6);
        assert_eq!(e[0].id, "abc_000001_000011");
        assert_eq!(
            e[0].path.as_deref(),
            Some(r.join("abc_000001_000011.mp4").as_path())
        );
        assert_eq!(e[0].label_index, k().index_of("abseiling"));
        assert_eq!(e[0].error, None);
        assert_eq!(
            e[1].path.as_deref(),
            Some(
                r.join("passing American football (in game)/def_000002_000012.mkv")
                    .as_path()
            )
        );
        assert_eq!(
            e[1].label.as_deref(),
            Some("passing American football (in game)")
        );
        assert!(e[1].label_index.is_some());
        assert_eq!(
            e[2].path.as_deref(),
            Some(
                r.join("massaging_person's_head/ghi_000000_000010.webm")
                    .as_path()
            )
        );
        assert!(e[2].label_index.is_some() && e[2].error.is_none());
        // missing file
        assert!(e[3].path.is_none());
        assert!(e[3]
            .error
            .as_deref()
            .unwrap()
            .contains("zzz_000005_000015: no video file"));
        // unknown label
        assert!(e[4]
            .error
            .as_deref()
            .unwrap()
            .contains("unknown label \"not a class\""));
        // short row: an error entry, not a crash
        assert_eq!(e[5].line, 8);
        assert!(e[5].error.as_deref().unwrap().starts_with("line 8:"));
        assert_eq!(
            e.iter().map(|x| x.position).collect::<Vec<_>>(),
            [0, 1, 2, 3, 4, 5]
        );
    }

    #[test]
    fn kinetics_header_required_columns() {
        let dir = tempfile::tempdir().unwrap();
        let l = list(
            dir.path(),
            "k.csv",
            "label,youtube_id,split\nabseiling,abc,val\n",
        );
        let err = read_list(&l, Some(ListFormat::Kinetics), None, &k(), None)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("k.csv:1") && err.contains("time_start"),
            "{err}"
        );
    }

    #[test]
    fn csv_and_space_lists() {
        let dir = tree();
        let r = dir.path();
        let csv_text = "path,label\n\
            abc_000001_000011.mp4,abseiling\n\
            \"passing American football (in game)/def_000002_000012.mkv\",\"passing American football (in game)\"\n\
            massaging_person's_head/ghi_000000_000010.webm,massaging person's head\n\
            x.mp4,3\n\
            y.mp4,400\n\
            ,abseiling\n";
        let l = list(r, "l.csv", csv_text);
        let (format, e) = read_list(&l, None, None, &k(), None).unwrap();
        assert_eq!(format, ListFormat::Csv);
        assert_eq!(e.len(), 6);
        assert_eq!(e[1].id, "def_000002_000012");
        assert!(e[1].path.as_ref().unwrap().is_file());
        assert_eq!(e[2].label_index, k().index_of("massaging person's head"));
        assert_eq!(e[3].label_index, Some(3));
        assert_eq!(e[3].label.as_deref(), k().name(3));
        assert!(e[4]
            .error
            .as_deref()
            .unwrap()
            .contains("unknown label index 400"));
        assert!(e[5].error.as_deref().unwrap().contains("line 7: no path"));

        let space = "abc_000001_000011.mp4 0\n\
            dir with space/v.mp4 12\n\
            # a comment\n\
            lonely.mp4\n";
        let l = list(r, "l.txt", space);
        let (format, e) = read_list(&l, None, Some(Path::new("/data")), &k(), None).unwrap();
        assert_eq!(format, ListFormat::Space);
        assert_eq!(
            e[0].path.as_deref(),
            Some(Path::new("/data/abc_000001_000011.mp4"))
        );
        assert_eq!(
            e[1].path.as_deref(),
            Some(Path::new("/data/dir with space/v.mp4"))
        );
        assert_eq!(e[1].label_index, Some(12));
        assert!(e[2].error.as_deref().unwrap().contains("line 4"));
    }

    #[test]
    fn duplicate_ids_stay_unique() {
        let dir = tempfile::tempdir().unwrap();
        let l = list(dir.path(), "l.txt", "a/v.mp4 1\nb/v.mp4 2\na/v.mp4 3\n");
        let (_, e) = read_list(&l, None, None, &k(), None).unwrap();
        let ids: std::collections::HashSet<_> = e.iter().map(|x| x.id.clone()).collect();
        assert_eq!(ids.len(), 3);
        assert!(e[2]
            .error
            .as_deref()
            .unwrap()
            .contains("duplicate of line 1"));
    }

    #[test]
    fn shards_partition() {
        let s: Vec<Shard> = ["0/3", "1/3", "2/3"].map(|s| s.parse().unwrap()).to_vec();
        for p in 0..10 {
            assert_eq!(s.iter().filter(|x| x.contains(p)).count(), 1);
        }
        for bad in ["3/3", "1", "a/2", "0/0"] {
            assert!(bad.parse::<Shard>().is_err(), "{bad}");
        }
    }
}

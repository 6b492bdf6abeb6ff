//! Class names. A model's classes are a value ([`Labels`]): the two lists shipped with the
//! crate (Kinetics-400, class index = position in the sorted list, torchvision's order;
//! ImageNet-1k, torchvision's category order; both written from `torchvision.models._meta`,
//! torchvision 0.28), a user's label file, or generic `class_<i>` names for a checkpoint
//! whose class count no list matches. Everything that shows a class name (text, JSON, rows,
//! list parsing, eval) takes one of these, so a fine-tuned model's names flow everywhere.
use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use crate::{Error, Result};

const KINETICS400: &str = include_str!("labels/kinetics400.txt");
const IMAGENET1K: &str = include_str!("labels/imagenet1k.txt");

/// The lists shipped with the crate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LabelSet {
    Kinetics400,
    ImageNet1k,
}

impl LabelSet {
    pub fn names(self) -> &'static [&'static str] {
        static K: OnceLock<Vec<&'static str>> = OnceLock::new();
        static I: OnceLock<Vec<&'static str>> = OnceLock::new();
        let (cell, text) = match self {
            LabelSet::Kinetics400 => (&K, KINETICS400),
            LabelSet::ImageNet1k => (&I, IMAGENET1K),
        };
        cell.get_or_init(|| text.lines().collect())
    }

    pub fn len(self) -> usize {
        self.names().len()
    }

    pub fn is_empty(self) -> bool {
        self.names().is_empty()
    }

    pub fn name(self, index: usize) -> Option<&'static str> {
        self.names().get(index).copied()
    }

    /// Index of a class name as written in the annotation files (exact match).
    pub fn index_of(self, name: &str) -> Option<usize> {
        self.names().iter().position(|n| *n == name)
    }

    pub fn title(self) -> &'static str {
        match self {
            LabelSet::Kinetics400 => "Kinetics-400",
            LabelSet::ImageNet1k => "ImageNet-1k",
        }
    }
}

/// Where a model's class names come from (recorded in reports).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LabelSource {
    BuiltIn(LabelSet),
    File(PathBuf),
    /// `class_<i>`: the checkpoint's class count matches no list and none was given.
    Generic,
}

impl fmt::Display for LabelSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LabelSource::BuiltIn(set) => write!(f, "{} (built in)", set.title()),
            LabelSource::File(path) => write!(f, "{}", path.display()),
            LabelSource::Generic => f.write_str("class_<i> (no label file)"),
        }
    }
}

/// A model's class names, index = class. Cheap to clone (shared).
#[derive(Clone, Debug)]
pub struct Labels {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    names: Vec<String>,
    index: HashMap<String, usize>,
    source: LabelSource,
}

impl PartialEq for Labels {
    fn eq(&self, other: &Self) -> bool {
        self.inner.names == other.inner.names && self.inner.source == other.inner.source
    }
}

impl Labels {
    fn new(names: Vec<String>, source: LabelSource) -> Labels {
        let index = names
            .iter()
            .enumerate()
            .map(|(i, n)| (n.clone(), i))
            .collect();
        Labels {
            inner: Arc::new(Inner {
                names,
                index,
                source,
            }),
        }
    }

    pub fn builtin(set: LabelSet) -> Labels {
        Labels::new(
            set.names().iter().map(|s| s.to_string()).collect(),
            LabelSource::BuiltIn(set),
        )
    }

    /// `class_0` … `class_{n-1}`.
    pub fn generic(n: usize) -> Labels {
        Labels::new(
            (0..n).map(|i| format!("class_{i}")).collect(),
            LabelSource::Generic,
        )
    }

    /// Reads a label file: one class name per line (MMAction2/torchvision style), `index name`
    /// lines (UCF101's `classInd.txt`; 0- or 1-based, taken from the first index), or a JSON
    /// array of names. Trailing blank lines are fine; a blank line between names, a repeated
    /// name, or fewer than two classes is an error naming the line.
    pub fn read(path: &Path) -> Result<Labels> {
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        let text = String::from_utf8(bytes).map_err(|_| Error::Labels {
            path: path.to_path_buf(),
            reason: "not UTF-8 text".into(),
        })?;
        let names = parse(&text).map_err(|reason| Error::Labels {
            path: path.to_path_buf(),
            reason,
        })?;
        Ok(Labels::new(names, LabelSource::File(path.to_path_buf())))
    }

    pub fn len(&self) -> usize {
        self.inner.names.len()
    }

    pub fn is_empty(&self) -> bool {
        self.inner.names.is_empty()
    }

    pub fn names(&self) -> &[String] {
        &self.inner.names
    }

    pub fn name(&self, index: usize) -> Option<&str> {
        self.inner.names.get(index).map(String::as_str)
    }

    /// Index of a class name as written (exact match).
    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.inner.index.get(name).copied()
    }

    pub fn source(&self) -> &LabelSource {
        &self.inner.source
    }
}

/// The names of a label file's text, or why it is not one (naming the 1-based line).
fn parse(text: &str) -> std::result::Result<Vec<String>, String> {
    let trimmed = text.trim_start_matches('\u{feff}').trim();
    let names: Vec<String> = if trimmed.starts_with('[') {
        let values: Vec<serde_json::Value> = serde_json::from_str(trimmed)
            .map_err(|e| format!("not a JSON array of class names: {e}"))?;
        values
            .into_iter()
            .enumerate()
            .map(|(i, v)| match v {
                serde_json::Value::String(s) if !s.trim().is_empty() => Ok(s.trim().to_string()),
                serde_json::Value::String(_) => {
                    Err(format!("entry {i} of the JSON array is blank"))
                }
                other => Err(format!(
                    "entry {i} of the JSON array is {other}, not a class name"
                )),
            })
            .collect::<std::result::Result<_, _>>()?
    } else {
        let lines: Vec<&str> = text
            .trim_start_matches('\u{feff}')
            .trim_end()
            .lines()
            .map(str::trim)
            .collect();
        if let Some(blank) = lines.iter().position(|l| l.is_empty()) {
            return Err(format!(
                "line {} is blank (one class name per line; only trailing blank lines are allowed)",
                blank + 1
            ));
        }
        indexed_names(&lines)?.unwrap_or_else(|| lines.iter().map(|l| l.to_string()).collect())
    };
    if names.len() < 2 {
        return Err(format!(
            "holds {} class name(s); a classifier has at least 2 classes",
            names.len()
        ));
    }
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for (i, name) in names.iter().enumerate() {
        if let Some(first) = seen.insert(name, i) {
            return Err(format!(
                "class name {name:?} appears twice (entries {} and {})",
                first + 1,
                i + 1
            ));
        }
    }
    Ok(names)
}

/// `index name` lines (UCF101's classInd.txt): `Some(names)` when the first line starts with
/// 0 or 1 followed by a name; then every line must continue the count.
fn indexed_names(lines: &[&str]) -> std::result::Result<Option<Vec<String>>, String> {
    let split = |line: &str| -> Option<(usize, String)> {
        let (index, name) = line.split_once(char::is_whitespace)?;
        let name = name.trim();
        (!name.is_empty()).then_some((index.parse().ok()?, name.to_string()))
    };
    let base = match lines.first().and_then(|l| split(l)) {
        Some((base @ (0 | 1), _)) => base,
        _ => return Ok(None),
    };
    // A plain list whose names merely start with a number ("1 kick", "7 up"…) continues
    // without consecutive indices: only a file numbered throughout is an indexed one.
    if !lines
        .iter()
        .enumerate()
        .all(|(i, l)| split(l).is_some_and(|(k, _)| k == base + i))
    {
        return Ok(None);
    }
    Ok(Some(
        lines
            .iter()
            .filter_map(|l| split(l))
            .map(|(_, n)| n)
            .collect(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinetics_is_sorted_400() {
        let names = LabelSet::Kinetics400.names();
        assert_eq!(names.len(), 400);
        assert!(names.windows(2).all(|w| w[0] < w[1]));
        let k = Labels::builtin(LabelSet::Kinetics400);
        assert_eq!(k.index_of("passing American football (in game)"), Some(208));
        assert_eq!(k.name(0), Some("abseiling"));
    }

    #[test]
    fn imagenet_has_1000() {
        assert_eq!(LabelSet::ImageNet1k.len(), 1000);
        assert_eq!(Labels::builtin(LabelSet::ImageNet1k).name(0), Some("tench"));
    }

    #[test]
    fn label_file_formats() {
        let plain = parse("walk\nrun\njump\n\n").unwrap();
        assert_eq!(plain, ["walk", "run", "jump"]);
        let ucf = parse("1 ApplyEyeMakeup\r\n2 ApplyLipstick\r\n3 Archery\r\n").unwrap();
        assert_eq!(ucf, ["ApplyEyeMakeup", "ApplyLipstick", "Archery"]);
        let zero = parse("0 a b\n1 c\n").unwrap();
        assert_eq!(zero, ["a b", "c"]);
        let json = parse(r#"["a", "b c"]"#).unwrap();
        assert_eq!(json, ["a", "b c"]);
        // Names that start with a number are names when the numbers do not count up.
        assert_eq!(parse("1 kick\n7 up\n").unwrap(), ["1 kick", "7 up"]);
    }

    #[test]
    fn label_file_errors() {
        assert!(parse("a\n\nb\n").unwrap_err().contains("line 2 is blank"));
        assert!(parse("a\nb\na\n").unwrap_err().contains("appears twice"));
        assert!(parse("only\n").unwrap_err().contains("at least 2"));
        assert!(parse("[1, 2]").unwrap_err().contains("not a class name"));
        assert!(parse("[\"a\", \" \"]").unwrap_err().contains("blank"));
    }

    #[test]
    fn generic_names() {
        let g = Labels::generic(3);
        assert_eq!(g.names(), ["class_0", "class_1", "class_2"]);
        assert_eq!(g.source(), &LabelSource::Generic);
    }
}

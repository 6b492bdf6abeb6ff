//! What made a results file, kept beside it as `<file>.provenance.json` (a sidecar, so the
//! results stay a plain CSV / JSON Lines file that pandas and spreadsheets read as is).
//! `--resume` and `merge` refuse a file whose provenance differs from theirs, naming each
//! field and both values; `eval` shows it.
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{Error, Result};

/// The run behind a results file. Every field is compared on resume; merge compares all but
/// `shard`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Provenance {
    /// `gradtrust-video <version>`.
    pub tool: String,
    pub model: String,
    /// The weight file's name and SHA-256.
    pub weights_file: String,
    pub weights_sha256: String,
    /// Where the class names came from, and the label file's SHA-256 when there is one.
    pub labels: String,
    pub labels_sha256: Option<String>,
    /// The preset as run: resize, crop, normalization, clip length, frame rate.
    pub preset: String,
    pub clips_per_video: usize,
    pub scores: Vec<String>,
    /// ODIN's temperature and ε, MC-Dropout's passes, the GradTrust method.
    pub score_options: String,
    /// MC-Dropout's seed.
    pub seed: u64,
    /// The list's file name and SHA-256, and how much of it was run.
    pub list_file: String,
    pub list_sha256: String,
    pub limit: Option<usize>,
    /// `I/N` of a `--shard` run; for a merge, the shards it joined.
    pub shard: Option<String>,
    /// The results file's columns, in order (the scores, and `logits` for `batch --logits`),
    /// so a run cannot resume or merge a file whose rows hold other columns. Empty in a
    /// sidecar written before columns were recorded: such a file cannot be resumed.
    #[serde(default)]
    pub columns: Vec<String>,
}

/// What a batch run is, in the terms [`Provenance::of_run`] records.
pub struct Run<'a> {
    pub model: &'a crate::models::ModelInfo,
    /// The preset as run (clips per video overridden where asked).
    pub preset: &'a crate::preset::Preset,
    pub scores: &'a [crate::scores::ScoreName],
    pub options: &'a crate::scores::ScoreOptions,
    pub list: &'a Path,
    pub limit: Option<usize>,
    pub shard: Option<crate::lists::Shard>,
    /// Whether the rows carry every class's logit.
    pub logits: bool,
}

/// Fields merge does not compare (each shard has its own).
const PER_SHARD: [&str; 1] = ["shard"];

impl Provenance {
    /// The provenance of `run`: hashes the weight, label and list files.
    pub fn of_run(run: &Run<'_>) -> Result<Provenance> {
        let labels_sha256 = match run.model.labels.source() {
            crate::labels::LabelSource::File(p) => Some(sha256_file(p)?),
            _ => None,
        };
        let o = run.options;
        Ok(Provenance {
            tool: format!("gradtrust-video {}", env!("CARGO_PKG_VERSION")),
            model: run.model.name.clone(),
            // Untrained weights: `untrained:SEED` and no hash (there is no file).
            weights_file: run.model.weights.name(),
            weights_sha256: match run.model.weights.path() {
                Some(path) => sha256_file(path)?,
                None => String::new(),
            },
            labels: run.model.labels.source().to_string(),
            labels_sha256,
            preset: format!("{:?}", run.preset),
            clips_per_video: run.preset.clips_per_video,
            scores: run.scores.iter().map(|s| s.as_str().to_string()).collect(),
            score_options: format!(
                "odin_temperature={} odin_epsilon={} mc_passes={} gradtrust={:?}",
                o.odin_temperature, o.odin_epsilon, o.mc_passes, o.gradtrust
            ),
            seed: o.seed,
            list_file: crate::file_name(run.list),
            list_sha256: sha256_file(run.list)?,
            limit: run.limit,
            shard: run.shard.map(|s| format!("{}/{}", s.index, s.count)),
            columns: super::columns(run.scores, run.logits),
        })
    }

    /// The sidecar of results file `path`.
    pub fn path_of(results: &Path) -> PathBuf {
        let mut name = results.as_os_str().to_os_string();
        name.push(".provenance.json");
        PathBuf::from(name)
    }

    /// The provenance of results file `results`, if it has one.
    pub fn read(results: &Path) -> Result<Option<Provenance>> {
        let path = Provenance::path_of(results);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::io(&path, e)),
        };
        serde_json::from_str(&text).map(Some).map_err(|e| {
            Error::Invalid(format!(
                "{}: not a provenance file of gradtrust-video: {e}",
                path.display()
            ))
        })
    }

    /// Writes the sidecar of `results` (a temporary file, then a rename).
    pub fn write(&self, results: &Path) -> Result<()> {
        let path = Provenance::path_of(results);
        let text = serde_json::to_string_pretty(self)
            .map_err(|e| Error::Invalid(format!("{}: {e}", path.display())))?;
        write_atomically(&path, (text + "\n").as_bytes())
    }

    /// The fields where `self` (a file's) and `run` differ: `field: file has A, this run B`.
    pub fn differences(&self, run: &Provenance, skip_shard: bool) -> Vec<String> {
        let (Ok(Value::Object(a)), Ok(Value::Object(b))) =
            (serde_json::to_value(self), serde_json::to_value(run))
        else {
            return vec!["provenance cannot be compared".into()];
        };
        a.iter()
            .filter(|(k, _)| !(skip_shard && PER_SHARD.contains(&k.as_str())))
            .filter(|(k, v)| b.get(*k) != Some(*v))
            .map(|(k, v)| {
                let other = b.get(k).cloned().unwrap_or(Value::Null);
                match (v, &other) {
                    (Value::Array(x), Value::Array(y)) => list_difference(k, x, y),
                    _ => format!("{k}: {v} vs {other}"),
                }
            })
            .collect()
    }

    /// `key: value` lines, for reports.
    pub fn lines(&self) -> Vec<(String, String)> {
        let Ok(Value::Object(map)) = serde_json::to_value(self) else {
            return Vec::new();
        };
        map.into_iter()
            .map(|(k, v)| {
                let v = match v {
                    Value::String(s) => s,
                    Value::Null => "-".into(),
                    Value::Array(items) => items
                        .iter()
                        .map(|i| i.as_str().map_or_else(|| i.to_string(), str::to_string))
                        .collect::<Vec<_>>()
                        .join(", "),
                    other => other.to_string(),
                };
                (k, v)
            })
            .collect()
    }
}

/// Two lists that differ (a file's, then this run's), by what only one of them has; in full
/// when they hold the same items in another order.
fn list_difference(key: &str, file: &[Value], run: &[Value]) -> String {
    let show = |items: Vec<&Value>| {
        items
            .iter()
            .map(|i| i.as_str().map_or_else(|| i.to_string(), str::to_string))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let only_file: Vec<&Value> = file.iter().filter(|v| !run.contains(v)).collect();
    let only_run: Vec<&Value> = run.iter().filter(|v| !file.contains(v)).collect();
    if only_file.is_empty() && only_run.is_empty() {
        return format!(
            "{key}: [{}] vs [{}]",
            show(file.iter().collect()),
            show(run.iter().collect())
        );
    }
    let mut parts = Vec::new();
    if !only_file.is_empty() {
        parts.push(format!("only the file has {}", show(only_file)));
    }
    if !only_run.is_empty() {
        parts.push(format!("only this run has {}", show(only_run)));
    }
    format!("{key}: {}", parts.join(", "))
}

pub use crate::weights::checksum::sha256_file;

/// Replaces `path` with `bytes` whole: written to a temporary file in the same directory,
/// synced, then renamed over it, so a reader or a crash never sees half of it.
pub(crate) fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(|e| Error::io(dir, e))?;
    tmp.write_all(bytes).map_err(|e| Error::io(tmp.path(), e))?;
    tmp.as_file()
        .sync_all()
        .map_err(|e| Error::io(tmp.path(), e))?;
    tmp.persist(path).map_err(|e| Error::io(path, e.error))?;
    Ok(())
}

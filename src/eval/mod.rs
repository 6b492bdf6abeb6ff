//! `eval`: the trust scores as misprediction detectors (shared/spec/data-and-eval.md).
//!
//! Reads the result rows of one or more batch runs (one model per file, CSV or JSON Lines),
//! keeps the rows of one level (clip or video) whose status is ok and whose label is known,
//! and measures for every score column how well it ranks the wrong predictions below the
//! correct ones ([`metrics`]). Writes a terminal table and, with an output directory,
//! `metrics.csv`, `metrics.json`, `report.md` (the paper's Table I form: one row per model,
//! one column per score, the best two marked) and the plots ([`plots`]).
//!
//! Code map: [`rows`] reads and validates result files; [`metrics`] is the arithmetic;
//! [`report`] formats tables and files; [`plots`] draws SVG and PNG charts.
pub mod metrics;
pub mod plots;
pub mod report;
pub mod rows;

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::Serialize;

use crate::{Error, Result};
use metrics::DetectionMetrics;
use rows::ResultsFile;

/// Which rows are evaluated: one per clip, or one per video (the clip-averaged model).
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

/// A misprediction-detection metric, as named in `metrics.csv` and on the command line.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Metric {
    #[default]
    Auroc,
    AuprError,
    AuprSuccess,
    Fpr95Tpr,
    Aurc,
    EAurc,
    Augrc,
}

impl Metric {
    pub const ALL: [Metric; 7] = [
        Metric::Auroc,
        Metric::AuprError,
        Metric::AuprSuccess,
        Metric::Fpr95Tpr,
        Metric::Aurc,
        Metric::EAurc,
        Metric::Augrc,
    ];

    /// Machine name: the `metrics.csv` column and the command-line value.
    pub fn as_str(self) -> &'static str {
        match self {
            Metric::Auroc => "auroc",
            Metric::AuprError => "aupr_error",
            Metric::AuprSuccess => "aupr_success",
            Metric::Fpr95Tpr => "fpr95tpr",
            Metric::Aurc => "aurc",
            Metric::EAurc => "e_aurc",
            Metric::Augrc => "augrc",
        }
    }

    /// Name for tables and plots.
    pub fn title(self) -> &'static str {
        match self {
            Metric::Auroc => "AUROC",
            Metric::AuprError => "AUPR-Error",
            Metric::AuprSuccess => "AUPR-Success",
            Metric::Fpr95Tpr => "FPR@95TPR",
            Metric::Aurc => "AURC",
            Metric::EAurc => "E-AURC",
            Metric::Augrc => "AUGRC",
        }
    }

    pub fn higher_is_better(self) -> bool {
        matches!(
            self,
            Metric::Auroc | Metric::AuprError | Metric::AuprSuccess
        )
    }

    pub fn value(self, m: &DetectionMetrics) -> Option<f64> {
        match self {
            Metric::Auroc => m.auroc,
            Metric::AuprError => m.aupr_error,
            Metric::AuprSuccess => m.aupr_success,
            Metric::Fpr95Tpr => m.fpr95tpr,
            Metric::Aurc => m.aurc,
            Metric::EAurc => m.e_aurc,
            Metric::Augrc => m.augrc,
        }
    }
}

impl fmt::Display for Metric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Metric {
    type Err = Error;

    /// Accepts the machine name or the title, case-insensitively, `-` for `_`
    /// (`auroc`, `AUPR-Error`, `e-aurc`, `FPR@95TPR`; also `fpr95`).
    fn from_str(s: &str) -> Result<Self> {
        let key = s.trim().to_ascii_lowercase().replace('-', "_");
        let alias = match key.as_str() {
            "fpr95" | "fpr@95" => Some(Metric::Fpr95Tpr),
            "eaurc" => Some(Metric::EAurc),
            _ => None,
        };
        Metric::ALL
            .into_iter()
            .find(|m| key == m.as_str() || key == m.title().to_ascii_lowercase().replace('-', "_"))
            .or(alias)
            .ok_or_else(|| {
                Error::Invalid(format!(
                    "unknown metric {s:?}; known: {}",
                    Metric::ALL.map(|m| m.as_str()).join(", ")
                ))
            })
    }
}

/// What `eval` reads and where it writes.
#[derive(Clone, Debug, Default)]
pub struct EvalOptions {
    /// Result files of batch runs (`.jsonl` = JSON Lines, anything else CSV), one model each.
    pub results: Vec<PathBuf>,
    pub level: Level,
    /// Directory for metrics.csv, metrics.json, report.md and the plots; created if absent.
    pub out: Option<PathBuf>,
    /// The metric of report.md's main table.
    pub metric: Metric,
}

/// An accuracy: `correct` of `n` rows.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Accuracy {
    pub correct: usize,
    pub n: usize,
    pub value: f64,
}

impl Accuracy {
    fn of(flags: impl Iterator<Item = Option<bool>>) -> Option<Accuracy> {
        let (mut correct, mut n) = (0, 0);
        for c in flags.flatten() {
            n += 1;
            correct += usize::from(c);
        }
        (n > 0).then(|| Accuracy {
            correct,
            n,
            value: correct as f64 / n as f64,
        })
    }
}

/// One score's metrics over one model's rows.
#[derive(Clone, Debug, Serialize)]
pub struct ScoreEval {
    pub score: String,
    /// Evaluated rows (ok, labelled) where this score is empty or not finite: left out of
    /// its metrics.
    pub missing: usize,
    #[serde(flatten)]
    pub metrics: DetectionMetrics,
}

/// Everything measured on one results file.
#[derive(Clone, Debug, Serialize)]
pub struct ModelEval {
    /// The `model` column, made unique across files by the file name where two files share it.
    pub model: String,
    pub file: PathBuf,
    pub level: String,
    /// Rows of this level in the file.
    pub rows: usize,
    /// Rows left out because their status is not ok.
    pub error_rows: usize,
    /// Ok rows left out because their label is unknown.
    pub unlabeled_rows: usize,
    /// Ok, labelled rows: the ones measured.
    pub evaluated: usize,
    pub correct: usize,
    pub wrong: usize,
    pub top1: Option<Accuracy>,
    pub top5: Option<Accuracy>,
    /// Video level only: torchvision's protocol, classes by the sum of clip softmaxes.
    pub top1_softmax_sum: Option<Accuracy>,
    pub top5_softmax_sum: Option<Accuracy>,
    pub scores: Vec<ScoreEval>,
    /// Edge cases and left-out rows, in words.
    pub notes: Vec<String>,
}

impl ModelEval {
    pub fn score(&self, name: &str) -> Option<&ScoreEval> {
        self.scores.iter().find(|s| s.score == name)
    }
}

/// Measures one results file.
pub fn evaluate(file: &ResultsFile) -> ModelEval {
    let samples = &file.samples;
    let correct = samples.iter().filter(|s| s.correct).count();
    let mut notes = Vec::new();
    if file.error_rows > 0 {
        let examples = file
            .error_examples
            .iter()
            .map(|(id, status)| format!("{id}: {status}"))
            .collect::<Vec<_>>()
            .join("; ");
        notes.push(format!(
            "left out {} of {} {} rows whose status is not ok (e.g. {examples})",
            file.error_rows, file.rows, file.level
        ));
    }
    if file.unlabeled_rows > 0 {
        notes.push(format!(
            "left out {} ok {} rows without a label (correct unknown)",
            file.unlabeled_rows, file.level
        ));
    }
    let n = samples.len();
    if n == 0 {
        notes.push(format!(
            "no ok, labelled {} rows: nothing to evaluate",
            file.level
        ));
    } else if correct == n {
        notes.push(format!(
            "every one of the {n} evaluated predictions is correct: AUROC, AUPR-Error, \
             AUPR-Success and FPR@95TPR need wrong predictions too and are left empty"
        ));
    } else if correct == 0 {
        notes.push(format!(
            "none of the {n} evaluated predictions is correct: AUROC, AUPR-Error, \
             AUPR-Success and FPR@95TPR need correct predictions too and are left empty"
        ));
    }
    if file.scores.is_empty() {
        notes.push(format!(
            "no score columns (known: {}): accuracy only",
            crate::scores::ScoreName::ALL.map(|s| s.as_str()).join(", ")
        ));
    }

    let mut scores = Vec::new();
    for (i, name) in file.scores.iter().enumerate() {
        let (values, flags): (Vec<f64>, Vec<bool>) = samples
            .iter()
            .filter_map(|s| s.scores[i].map(|v| (v, s.correct)))
            .unzip();
        let missing = n - values.len();
        let metrics = DetectionMetrics::compute(&values, &flags);
        if n > 0 && values.is_empty() {
            notes.push(format!(
                "score {name}: no values in the {n} evaluated rows; its metrics are left empty"
            ));
        } else if missing > 0 {
            notes.push(format!(
                "score {name}: empty or not finite in {missing} of the {n} evaluated rows, \
                 left out of its metrics (computed on {})",
                values.len()
            ));
        }
        if metrics.is_constant() {
            let consequence = if metrics.auroc.is_some() {
                ", so AUROC is 0.5 and risk–coverage is that of a random order"
            } else {
                ""
            };
            notes.push(format!(
                "score {name} is constant ({}) over its {} rows: it ranks nothing{consequence}",
                values[0],
                values.len()
            ));
        }
        if metrics.n > 0
            && (metrics.n_correct == 0 || metrics.n_wrong == 0)
            && (correct > 0 && correct < n)
        {
            notes.push(format!(
                "score {name}: its {} rows with a value are all {}: detection metrics left empty",
                metrics.n,
                if metrics.n_wrong == 0 {
                    "correct"
                } else {
                    "wrong"
                }
            ));
        }
        scores.push(ScoreEval {
            score: name.as_str().to_string(),
            missing,
            metrics,
        });
    }

    let level_video = file.level == Level::Video;
    ModelEval {
        model: file.model.clone(),
        file: file.path.clone(),
        level: file.level.to_string(),
        rows: file.rows,
        error_rows: file.error_rows,
        unlabeled_rows: file.unlabeled_rows,
        evaluated: n,
        correct,
        wrong: n - correct,
        top1: Accuracy::of(samples.iter().map(|s| Some(s.correct))),
        top5: Accuracy::of(samples.iter().map(|s| s.correct_top5)),
        top1_softmax_sum: Accuracy::of(
            samples
                .iter()
                .map(|s| s.correct_softmax_sum.filter(|_| level_video)),
        ),
        top5_softmax_sum: Accuracy::of(
            samples
                .iter()
                .map(|s| s.correct_top5_softmax_sum.filter(|_| level_video)),
        ),
        scores,
        notes,
    }
}

/// Runs `eval`: returns the terminal table; with `out`, writes the files and plots there.
pub fn run(opts: &EvalOptions) -> Result<String> {
    if opts.results.is_empty() {
        return Err(Error::Invalid("eval: no results files given".into()));
    }
    let mut files = opts
        .results
        .iter()
        .map(|p| rows::read(p, opts.level))
        .collect::<Result<Vec<_>>>()?;
    disambiguate_models(&mut files);
    let evals: Vec<ModelEval> = files.iter().map(evaluate).collect();
    if evals.iter().all(|e| e.evaluated == 0) {
        let why = evals
            .iter()
            .map(|e| {
                format!(
                    "{}: {} {} rows, {} with an error status, {} ok but without a label",
                    e.file.display(),
                    e.rows,
                    e.level,
                    e.error_rows,
                    e.unlabeled_rows
                )
            })
            .collect::<Vec<_>>()
            .join("; ");
        return Err(Error::Invalid(format!(
            "no ok, labelled {} rows to evaluate ({why}); eval needs the label of each video \
             (run batch with a list that gives labels)",
            opts.level
        )));
    }

    let mut text = report::terminal(&evals, opts.metric);
    if let Some(out) = &opts.out {
        let written = write_outputs(out, &files, &evals, opts)?;
        text.push_str(&format!(
            "\nwrote {} files to {}: {}\n",
            written.len(),
            out.display(),
            written.join(", ")
        ));
    }
    Ok(text)
}

fn write_outputs(
    out: &Path,
    files: &[ResultsFile],
    evals: &[ModelEval],
    opts: &EvalOptions,
) -> Result<Vec<String>> {
    std::fs::create_dir_all(out).map_err(|e| Error::io(out, e))?;
    let write = |name: &str, contents: &str| -> Result<String> {
        let path = out.join(name);
        std::fs::write(&path, contents).map_err(|e| Error::io(&path, e))?;
        Ok(name.to_string())
    };
    let mut written = Vec::new();
    let mut plot_files = Vec::new();
    for (file, eval) in files.iter().zip(evals) {
        plot_files.push(plots::draw_all(out, file, eval)?);
    }
    written.push(write("metrics.csv", &report::metrics_csv(evals)?)?);
    let json = report::metrics_json(evals, opts.level, opts.metric);
    let json = serde_json::to_string_pretty(&json)
        .map_err(|e| Error::Invalid(format!("metrics.json: {e}")))?;
    written.push(write("metrics.json", &(json + "\n"))?);
    written.push(write(
        "report.md",
        &report::report_md(evals, opts.level, opts.metric, &plot_files),
    )?);
    for p in &plot_files {
        written.extend(p.files());
    }
    Ok(written)
}

/// Two files of the same model get the file stem appended, so table rows stay distinct.
fn disambiguate_models(files: &mut [ResultsFile]) {
    let names: Vec<String> = files.iter().map(|f| f.model.clone()).collect();
    for (i, f) in files.iter_mut().enumerate() {
        if names.iter().filter(|n| **n == names[i]).count() > 1 {
            let stem = f
                .path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            f.model = format!("{} ({stem})", names[i]);
        }
    }
    // Same model and same stem (dir1/r.csv, dir2/r.csv): number them.
    let names: Vec<String> = files.iter().map(|f| f.model.clone()).collect();
    for (i, f) in files.iter_mut().enumerate() {
        if names.iter().filter(|n| **n == names[i]).count() > 1 {
            f.model = format!("{} #{}", names[i], i + 1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse() {
        for m in Metric::ALL {
            assert_eq!(m.as_str().parse::<Metric>().unwrap(), m);
            assert_eq!(m.title().parse::<Metric>().unwrap(), m);
        }
        assert_eq!("fpr95".parse::<Metric>().unwrap(), Metric::Fpr95Tpr);
        assert_eq!("E-AURC".parse::<Metric>().unwrap(), Metric::EAurc);
        let err = "auac".parse::<Metric>().unwrap_err().to_string();
        assert!(
            err.contains("unknown metric \"auac\"") && err.contains("augrc"),
            "{err}"
        );
        assert_eq!("clip".parse::<Level>().unwrap(), Level::Clip);
        assert!("frame".parse::<Level>().is_err());
        assert_eq!(EvalOptions::default().level, Level::Video);
        assert_eq!(EvalOptions::default().metric, Metric::Auroc);
    }

    #[test]
    fn accuracy_skips_unknown() {
        let a = Accuracy::of([Some(true), None, Some(false), Some(true)].into_iter()).unwrap();
        assert_eq!((a.correct, a.n), (2, 3));
        assert!(Accuracy::of([None, None].into_iter()).is_none());
    }
}

//! `eval`: the trust scores as misprediction detectors (shared/spec/data-and-eval.md).
//!
//! Reads the result rows of one or more batch runs (one model per file, CSV or JSON Lines),
//! keeps the rows of one level (clip or video) whose status is ok and whose label is known,
//! and measures for every score column how well it ranks the wrong predictions below the
//! correct ones ([`metrics`]). Writes a terminal table and, with an output directory,
//! `metrics.csv`, `metrics.json`, `report.md` (the paper's Table I form: one row per model,
//! one column per score, the best two marked; then per run its metrics, calibration, the
//! classes each score separates worst, the most frequent confusions and the run's
//! provenance) and the plots ([`plots`]). `EvalOptions::scores` narrows the scores measured.
//!
//! Code map: `crate::results::samples` reads and validates result files (the results module
//! owns their format); [`metrics`] is the arithmetic; [`bootstrap`] the intervals;
//! [`calibration`] ECE, NLL, Brier and temperature scaling; [`report`] formats tables and
//! files; [`plots`] draws SVG and PNG charts.
pub mod bootstrap;
pub mod calibration;
pub mod metrics;
pub mod plots;
pub mod report;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::Serialize;

use crate::results::samples::{self as rows, ResultsFile};
pub use crate::results::Level;
use crate::scores::ScoreName;
use crate::{Error, Result};
use bootstrap::{Bootstrap, Interval};
use calibration::{Bin, Calibration, CalibrationInputs};
use metrics::{DetectionMetrics, Ranking, Target, WorkingPoint};

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
    /// Confidence intervals: resamples (0 = none) and seed.
    pub bootstrap: Bootstrap,
    /// Fit a temperature on a seeded half of the rows with logits (the bootstrap's seed) and
    /// report calibration of the other half before and after.
    pub fit_temperature: bool,
    /// Class names for the per-class report, instead of the names the rows carry.
    pub labels: Option<crate::labels::Labels>,
    /// The scores to measure, plot and table (those a file has); `None`: every score column.
    pub scores: Option<Vec<ScoreName>>,
}

/// An accuracy: `correct` of `n` rows.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Accuracy {
    pub correct: usize,
    pub n: usize,
    pub value: f64,
    /// 95 % bootstrap interval of `value`.
    pub interval: Option<Interval>,
}

impl Accuracy {
    fn of(flags: impl Iterator<Item = Option<bool>>) -> Option<Accuracy> {
        Self::weighted(flags, None)
    }

    /// With `weights[i]` copies of row `i` (a bootstrap resample).
    fn weighted(
        flags: impl Iterator<Item = Option<bool>>,
        weights: Option<&[u32]>,
    ) -> Option<Accuracy> {
        let (mut correct, mut n) = (0, 0);
        for (i, c) in flags.enumerate() {
            let Some(c) = c else { continue };
            let k = weights.map_or(1, |w| w[i] as usize);
            n += k;
            correct += usize::from(c) * k;
        }
        (n > 0).then(|| Accuracy {
            correct,
            n,
            value: correct as f64 / n as f64,
            interval: None,
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
    /// 95 % bootstrap intervals, by metric name (`auroc`, …); absent where undefined.
    pub intervals: BTreeMap<&'static str, Interval>,
    /// Risk at 80/90/95 % coverage, coverage at 5/10 % risk, and the threshold of each.
    pub working_points: Vec<WorkingPoint>,
}

impl ScoreEval {
    pub fn interval(&self, metric: Metric) -> Option<Interval> {
        self.intervals.get(metric.as_str()).copied()
    }
}

/// A calibration number, as named in `metrics.csv` / `metrics.json`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CalibrationMetric {
    Ece,
    AdaptiveEce,
    Mce,
    Nll,
    Brier,
}

impl CalibrationMetric {
    pub const ALL: [CalibrationMetric; 5] = [
        CalibrationMetric::Ece,
        CalibrationMetric::AdaptiveEce,
        CalibrationMetric::Mce,
        CalibrationMetric::Nll,
        CalibrationMetric::Brier,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            CalibrationMetric::Ece => "ece",
            CalibrationMetric::AdaptiveEce => "adaptive_ece",
            CalibrationMetric::Mce => "mce",
            CalibrationMetric::Nll => "nll",
            CalibrationMetric::Brier => "brier",
        }
    }

    pub fn title(self) -> &'static str {
        match self {
            CalibrationMetric::Ece => "ECE",
            CalibrationMetric::AdaptiveEce => "adaptive ECE",
            CalibrationMetric::Mce => "MCE",
            CalibrationMetric::Nll => "NLL",
            CalibrationMetric::Brier => "Brier",
        }
    }

    pub fn value(self, c: &Calibration) -> Option<f64> {
        match self {
            CalibrationMetric::Ece => c.ece,
            CalibrationMetric::AdaptiveEce => c.adaptive_ece,
            CalibrationMetric::Mce => c.mce,
            CalibrationMetric::Nll => c.nll,
            CalibrationMetric::Brier => c.brier,
        }
    }
}

/// Temperature scaling: fitted on one seeded half of the rows with logits, measured on the
/// other half.
#[derive(Clone, Debug, Serialize)]
pub struct TemperatureEval {
    pub temperature: f64,
    pub fit_rows: usize,
    pub held_out_rows: usize,
    /// Calibration of the held-out rows with the logits as they are (T = 1) and at T.
    pub before: Calibration,
    pub after: Calibration,
}

/// Calibration of the predicted probabilities of one model's rows.
#[derive(Clone, Debug, Serialize)]
pub struct CalibrationEval {
    #[serde(flatten)]
    pub metrics: Calibration,
    /// 95 % bootstrap intervals by name (`ece`, `adaptive_ece`, `mce`, `nll`, `brier`).
    pub intervals: BTreeMap<&'static str, Interval>,
    /// The reliability diagram: 15 equal-width bins of the top-1 probability.
    pub reliability: Vec<Bin>,
    pub temperature: Option<TemperatureEval>,
}

impl CalibrationEval {
    pub fn interval(&self, metric: CalibrationMetric) -> Option<Interval> {
        self.intervals.get(metric.as_str()).copied()
    }
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
    /// Resamples behind every interval (0: no intervals) and their seed.
    pub bootstrap_resamples: usize,
    pub bootstrap_seed: u64,
    pub scores: Vec<ScoreEval>,
    /// `None` without a `softmax` (top-1 probability) column or logits.
    pub calibration: Option<CalibrationEval>,
    /// Edge cases and left-out rows, in words.
    pub notes: Vec<String>,
    /// What made the file (its `.provenance.json` sidecar); `None` for a file without one.
    pub provenance: Option<crate::results::Provenance>,
}

impl ModelEval {
    pub fn score(&self, name: &str) -> Option<&ScoreEval> {
        self.scores.iter().find(|s| s.score == name)
    }
}

/// The calibration inputs of a file's samples: the confidence from the `softmax` column, the
/// true label's probability from `prob_label`, `Σ p²` from `doctor`; each from the row's
/// logits where its column is absent.
fn calibration_inputs(file: &ResultsFile) -> CalibrationInputs {
    let from_logits = |s: &rows::Sample| -> Option<(f64, f64, f64)> {
        Some(calibration::probabilities(
            s.logits.as_ref()?,
            s.label?,
            1.0,
        ))
    };
    let softmax: Vec<Option<f64>> = file
        .column(ScoreName::Softmax)
        .map(|c| rows::present(c).collect())
        .unwrap_or_else(|| vec![None; file.samples.len()]);
    let doctor: Vec<Option<f64>> = file
        .column(ScoreName::Doctor)
        .map(|c| rows::present(c).collect())
        .unwrap_or_else(|| vec![None; file.samples.len()]);
    let mut inputs = CalibrationInputs::default();
    for (i, s) in file.samples.iter().enumerate() {
        let derived = from_logits(s);
        inputs.correct.push(s.correct);
        inputs.confidence.push(softmax[i].or(derived.map(|d| d.0)));
        inputs
            .prob_label
            .push(s.prob_label.or(derived.map(|d| d.1)));
        // −D_α = 1 − 1/g, so g = 1 / (1 − value).
        inputs
            .sum_sq
            .push(doctor[i].map(|d| 1.0 / (1.0 - d)).or(derived.map(|d| d.2)));
    }
    inputs
}

/// Temperature scaling on the rows with logits and a label.
fn temperature_eval(
    file: &ResultsFile,
    seed: u64,
    notes: &mut Vec<String>,
) -> Option<TemperatureEval> {
    let rows: Vec<(&[f64], usize)> = file
        .samples
        .iter()
        .filter_map(|s| Some((s.logits.as_deref()?, s.label?)))
        .collect();
    if rows.len() < 2 {
        notes.push(format!(
            "temperature fit: needs rows with a `logits` column (a batch run that kept the \
             logits) and a label; {} of the {} evaluated rows have both",
            rows.len(),
            file.samples.len()
        ));
        return None;
    }
    let (fit, held) = calibration::temperature_split(rows.len(), seed);
    let logits: Vec<&[f64]> = fit.iter().map(|&i| rows[i].0).collect();
    let labels: Vec<usize> = fit.iter().map(|&i| rows[i].1).collect();
    let Some(t) = calibration::fit_temperature(&logits, &labels) else {
        notes.push(
            "temperature fit: the NLL of the fit rows keeps falling as T → 0 (every fit row \
             is predicted right): no temperature fitted"
                .to_string(),
        );
        return None;
    };
    let measure = |t: f64| {
        let mut inputs = CalibrationInputs::default();
        for &i in &held {
            let (z, y) = rows[i];
            let (conf, p_y, sq) = calibration::probabilities(z, y, t);
            let top = z
                .iter()
                .enumerate()
                .fold(0, |b, (j, &v)| if v > z[b] { j } else { b });
            inputs.correct.push(top == y);
            inputs.confidence.push(Some(conf));
            inputs.prob_label.push(Some(p_y));
            inputs.sum_sq.push(Some(sq));
        }
        inputs.compute(None)
    };
    Some(TemperatureEval {
        temperature: t,
        fit_rows: fit.len(),
        held_out_rows: held.len(),
        before: measure(1.0),
        after: measure(t),
    })
}

/// Measures one results file.
pub fn evaluate(file: &ResultsFile, opts: &EvalOptions) -> ModelEval {
    let samples = &file.samples;
    let correct_flags = file.correct();
    let correct = correct_flags.iter().filter(|&&c| c).count();
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

    // The chosen score columns: (column of `file.values`, name).
    let chosen: Vec<(usize, ScoreName)> = file
        .scores
        .iter()
        .copied()
        .enumerate()
        .filter(|(_, s)| opts.scores.as_ref().is_none_or(|c| c.contains(s)))
        .collect();
    if let Some(wanted) = &opts.scores {
        let absent: Vec<&str> = wanted
            .iter()
            .filter(|s| !file.scores.contains(s))
            .map(|s| s.as_str())
            .collect();
        if !absent.is_empty() {
            notes.push(format!(
                "scores chosen but not in this file: {}",
                absent.join(", ")
            ));
        }
    }
    let rankings: Vec<Ranking> = chosen
        .iter()
        .map(|&(j, _)| Ranking::new(rows::present(file.values.column(j))))
        .collect();
    let mut scores = Vec::new();
    for (k, &(j, ref name)) in chosen.iter().enumerate() {
        let g = rankings[k].tie_groups(&correct_flags, None);
        let metrics = DetectionMetrics::from_groups(&g);
        let present = rankings[k].len();
        let missing = n - present;
        if n > 0 && present == 0 {
            notes.push(format!(
                "score {name}: no values in the {n} evaluated rows; its metrics are left empty"
            ));
        } else if missing > 0 {
            notes.push(format!(
                "score {name}: empty or not finite in {missing} of the {n} evaluated rows, \
                 left out of its metrics (computed on {present})"
            ));
        }
        if metrics.is_constant() {
            let consequence = if metrics.auroc.is_some() {
                ", so AUROC is 0.5 and risk–coverage is that of a random order"
            } else {
                ""
            };
            let value = rows::present(file.values.column(j))
                .flatten()
                .next()
                .unwrap_or(f64::NAN);
            notes.push(format!(
                "score {name} is constant ({value}) over its {present} rows: it ranks nothing{consequence}"
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
            intervals: BTreeMap::new(),
            working_points: Target::ALL
                .into_iter()
                .filter_map(|t| g.working_point(t))
                .collect(),
        });
    }

    let cal_inputs = calibration_inputs(file);
    let has_calibration = cal_inputs.confidence.iter().any(Option::is_some);
    let mut calibration = has_calibration.then(|| {
        let conf: Vec<f64> = cal_inputs.confidence.iter().flatten().copied().collect();
        let ok: Vec<bool> = cal_inputs
            .confidence
            .iter()
            .zip(&cal_inputs.correct)
            .filter_map(|(c, &k)| c.map(|_| k))
            .collect();
        CalibrationEval {
            metrics: cal_inputs.compute(None),
            intervals: BTreeMap::new(),
            reliability: calibration::reliability(&conf, &ok, None),
            temperature: None,
        }
    });
    if let Some(c) = &calibration {
        if c.metrics.n_nll == 0 {
            notes.push(
                "calibration: NLL and Brier need each row's true-label probability \
                 (`prob_label` or `logits` column); left empty"
                    .to_string(),
            );
        } else if c.metrics.n_brier == 0 {
            notes.push(
                "calibration: the Brier score needs Σ p² (the `doctor` score, or the `logits` \
                 column of `batch --logits`); left empty"
                    .to_string(),
            );
        }
        if c.metrics.nll == Some(f64::INFINITY) {
            notes.push("calibration: a true-label probability is 0, so NLL is infinite".into());
        }
    }
    if opts.fit_temperature {
        match calibration.as_mut() {
            Some(c) => c.temperature = temperature_eval(file, opts.bootstrap.seed, &mut notes),
            None => notes.push(
                "temperature fit: no probabilities in the rows (no softmax or logits column)"
                    .to_string(),
            ),
        }
    }

    let level_video = file.level == Level::Video;
    let mut eval = ModelEval {
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
        bootstrap_resamples: opts.bootstrap.resamples,
        bootstrap_seed: opts.bootstrap.seed,
        scores,
        calibration,
        notes,
        provenance: file.provenance.clone(),
    };
    add_intervals(&mut eval, file, &rankings, &cal_inputs, opts.bootstrap);
    eval
}

/// Fills in every interval of `eval` from one paired bootstrap over the evaluated rows.
fn add_intervals(
    eval: &mut ModelEval,
    file: &ResultsFile,
    rankings: &[Ranking],
    cal_inputs: &CalibrationInputs,
    opts: Bootstrap,
) {
    let correct = file.correct();
    let n_metric = Metric::ALL.len();
    let n_scores = rankings.len();
    // Statistic layout: per score its metrics, then top-1, top-5, then calibration.
    let acc_at = n_scores * n_metric;
    let cal_at = acc_at + 2;
    let n_stats = cal_at + CalibrationMetric::ALL.len();
    let with_calibration = eval.calibration.is_some();
    let intervals = bootstrap::intervals(file.samples.len(), opts, n_stats, |w, out| {
        for (j, r) in rankings.iter().enumerate() {
            let m = DetectionMetrics::from_groups(&r.tie_groups(&correct, Some(w)));
            for (k, metric) in Metric::ALL.into_iter().enumerate() {
                out[j * n_metric + k] = metric.value(&m);
            }
        }
        out[acc_at] = Accuracy::weighted(file.samples.iter().map(|s| Some(s.correct)), Some(w))
            .map(|a| a.value);
        out[acc_at + 1] = Accuracy::weighted(file.samples.iter().map(|s| s.correct_top5), Some(w))
            .map(|a| a.value);
        if with_calibration {
            let c = cal_inputs.compute(Some(w));
            for (k, metric) in CalibrationMetric::ALL.into_iter().enumerate() {
                out[cal_at + k] = metric.value(&c);
            }
        }
    });
    let mut partial = false;
    for (j, s) in eval.scores.iter_mut().enumerate() {
        for (k, metric) in Metric::ALL.into_iter().enumerate() {
            if let Some(i) = intervals[j * n_metric + k] {
                partial |= i.resamples < opts.resamples;
                s.intervals.insert(metric.as_str(), i);
            }
        }
    }
    if let Some(a) = eval.top1.as_mut() {
        a.interval = intervals[acc_at];
    }
    if let Some(a) = eval.top5.as_mut() {
        a.interval = intervals[acc_at + 1];
    }
    if let Some(c) = eval.calibration.as_mut() {
        for (k, metric) in CalibrationMetric::ALL.into_iter().enumerate() {
            if let Some(i) = intervals[cal_at + k] {
                c.intervals.insert(metric.as_str(), i);
            }
        }
    }
    if partial {
        eval.notes.push(format!(
            "some resamples of the {} rows lack correct or wrong predictions, where the \
             detection metrics are undefined: those intervals use the resamples where they \
             are defined (`resamples` in metrics.json)",
            file.samples.len()
        ));
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
    if let Some(labels) = &opts.labels {
        for f in &mut files {
            name_classes(f, labels)?;
        }
    }
    if let Some(wanted) = &opts.scores {
        check_chosen_scores(wanted, &files)?;
    }
    disambiguate_models(&mut files);
    let evals: Vec<ModelEval> = files.iter().map(|f| evaluate(f, opts)).collect();
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
    written.push(write("table.csv", &report::table_csv(evals, opts.metric)?)?);
    written.push(write(
        "per_class.csv",
        &report::per_class_csv(evals, files)?,
    )?);
    written.push(write("table.tex", &report::table_tex(evals, opts.metric))?);
    let json = report::metrics_json(evals, opts.level, opts.metric);
    let json = serde_json::to_string_pretty(&json)
        .map_err(|e| Error::Invalid(format!("metrics.json: {e}")))?;
    written.push(write("metrics.json", &(json + "\n"))?);
    written.push(write(
        "report.md",
        &report::report_md(evals, files, opts.level, opts.metric, &plot_files),
    )?);
    for p in &plot_files {
        written.extend(p.files());
    }
    Ok(written)
}

/// Every chosen score must be a column of at least one file.
fn check_chosen_scores(wanted: &[ScoreName], files: &[ResultsFile]) -> Result<()> {
    if wanted.is_empty() {
        return Err(Error::Invalid("eval: no scores chosen".into()));
    }
    let absent: Vec<&str> = wanted
        .iter()
        .filter(|s| files.iter().all(|f| !f.scores.contains(s)))
        .map(|s| s.as_str())
        .collect();
    if absent.is_empty() {
        return Ok(());
    }
    let mut present: Vec<ScoreName> = files.iter().flat_map(|f| f.scores.clone()).collect();
    present.sort();
    present.dedup();
    Err(Error::Invalid(format!(
        "eval: the chosen score(s) {} are in none of the results files (they have: {})",
        absent.join(", "),
        if present.is_empty() {
            "no score columns".to_string()
        } else {
            present
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        }
    )))
}

/// Names `file`'s classes from `labels`, which must cover every class index its rows use.
fn name_classes(file: &mut ResultsFile, labels: &crate::labels::Labels) -> Result<()> {
    let highest = file
        .samples
        .iter()
        .flat_map(|s| s.label.into_iter().chain(s.pred))
        .max();
    if let Some(i) = highest.filter(|&i| i >= labels.len()) {
        return Err(Error::Invalid(format!(
            "{}: its rows use class index {i}, but {} has {} class names",
            file.path.display(),
            labels.source(),
            labels.len()
        )));
    }
    file.class_names = labels.names().iter().cloned().enumerate().collect();
    Ok(())
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

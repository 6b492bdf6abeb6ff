//! Formatting `eval`'s results: the terminal table, `metrics.csv`, `metrics.json` and
//! `report.md` (the paper's Table I form: one row per model, one column per score).
use std::fmt::Write as _;

use serde::Serialize;

use super::bootstrap::Interval;
use super::metrics::Target;
use super::plots::PlotFiles;
use super::{Accuracy, CalibrationMetric, Level, Metric, ModelEval};
use crate::results::samples::ResultsFile;
use crate::scores::ScoreName;
use crate::{Error, Result};

/// Score columns over all models, in the project's score order.
fn score_columns(evals: &[ModelEval]) -> Vec<&'static str> {
    ScoreName::ALL
        .into_iter()
        .map(ScoreName::as_str)
        .filter(|s| evals.iter().any(|e| e.score(s).is_some()))
        .collect()
}

fn fmt_value(v: Option<f64>) -> String {
    v.map_or_else(|| "–".to_string(), |v| format!("{v:.4}"))
}

/// `0.8123 [0.7901, 0.8350]`: the value and its 95 % interval where there is one.
fn fmt_with_interval(v: Option<f64>, i: Option<Interval>) -> String {
    match (v, i) {
        (Some(v), Some(i)) => format!("{v:.4} [{:.4}, {:.4}]", i.lower, i.upper),
        _ => fmt_value(v),
    }
}

fn fmt_interval(i: Option<Interval>) -> String {
    i.map_or_else(String::new, |i| format!("[{:.3}, {:.3}]", i.lower, i.upper))
}

fn fmt_accuracy(a: Option<Accuracy>) -> String {
    a.map_or_else(
        || "–".to_string(),
        |a| {
            let ci = a.interval.map_or_else(String::new, |i| {
                format!(" [{:.2}, {:.2}]", 100.0 * i.lower, 100.0 * i.upper)
            });
            format!("{:.2}%{ci} ({}/{})", 100.0 * a.value, a.correct, a.n)
        },
    )
}

/// Rank marks for one row of the main table: 1 for the best value (all tied for best), 2 for
/// the next distinct value when only one score is best, 0 otherwise.
pub fn best_two(values: &[Option<f64>], higher_is_better: bool) -> Vec<u8> {
    let better = |a: f64, b: f64| if higher_is_better { a > b } else { a < b };
    let mut distinct: Vec<f64> = Vec::new();
    for v in values.iter().flatten() {
        if !distinct.contains(v) {
            distinct.push(*v);
        }
    }
    distinct.sort_by(|a, b| {
        if better(*a, *b) {
            std::cmp::Ordering::Less
        } else if better(*b, *a) {
            std::cmp::Ordering::Greater
        } else {
            std::cmp::Ordering::Equal
        }
    });
    let best = distinct.first().copied();
    let n_best = values
        .iter()
        .filter(|v| **v == best && best.is_some())
        .count();
    let second = if n_best == 1 {
        distinct.get(1).copied()
    } else {
        None
    };
    values
        .iter()
        .map(|v| match *v {
            Some(x) if Some(x) == best => 1,
            Some(x) if Some(x) == second => 2,
            _ => 0,
        })
        .collect()
}

fn counts_line(e: &ModelEval) -> String {
    format!(
        "{} {} rows: {} evaluated ({} correct, {} wrong); left out {} with an error status, {} without a label",
        e.rows, e.level, e.evaluated, e.correct, e.wrong, e.error_rows, e.unlabeled_rows
    )
}

fn accuracy_line(e: &ModelEval) -> String {
    let mut s = format!(
        "top-1 accuracy {}, top-5 {}",
        fmt_accuracy(e.top1),
        fmt_accuracy(e.top5)
    );
    if e.top1_softmax_sum.is_some() || e.top5_softmax_sum.is_some() {
        let _ = write!(
            s,
            "; by summed clip softmax: top-1 {}, top-5 {}",
            fmt_accuracy(e.top1_softmax_sum),
            fmt_accuracy(e.top5_softmax_sum)
        );
    }
    s
}

/// The terminal output: per model its counts, accuracies and a score × metric table, then,
/// for several models, the main table of `metric`.
pub fn terminal(evals: &[ModelEval], metric: Metric) -> String {
    let mut out = String::new();
    for e in evals {
        let _ = writeln!(out, "{} ({})", e.model, e.file.display());
        let _ = writeln!(out, "  {}", counts_line(e));
        let _ = writeln!(out, "  {}", accuracy_line(e));
        if !e.scores.is_empty() {
            let _ = write!(out, "  {:<16}{:>7}", "score", "n");
            for m in Metric::ALL {
                let _ = write!(out, "{:>14}", m.title());
            }
            let with_ci = e.bootstrap_resamples > 0;
            if with_ci {
                let _ = write!(out, "  {} 95% interval", metric.title());
            }
            out.push('\n');
            for s in &e.scores {
                let _ = write!(out, "  {:<16}{:>7}", s.score, s.metrics.n);
                for m in Metric::ALL {
                    let _ = write!(out, "{:>14}", fmt_value(m.value(&s.metrics)));
                }
                if with_ci {
                    let _ = write!(out, "  {}", fmt_interval(s.interval(metric)));
                }
                out.push('\n');
            }
        }
        if let Some(c) = &e.calibration {
            let _ = writeln!(out, "  calibration: {}", calibration_line(c));
            if let Some(t) = &c.temperature {
                let _ = writeln!(out, "  {}", temperature_line(t));
            }
        }
        for note in &e.notes {
            let _ = writeln!(out, "  note: {note}");
        }
        out.push('\n');
    }
    if evals.len() > 1 {
        let cols = score_columns(evals);
        let _ = writeln!(
            out,
            "{} ({} is better; * best, + second):",
            metric.title(),
            if metric.higher_is_better() {
                "higher"
            } else {
                "lower"
            }
        );
        let width = evals
            .iter()
            .map(|e| e.model.len())
            .max()
            .unwrap_or(5)
            .max(5)
            + 2;
        let _ = write!(out, "  {:<width$}", "model");
        for c in &cols {
            let _ = write!(out, "{:>16}", c);
        }
        out.push('\n');
        for e in evals {
            let values = row_values(e, &cols, metric);
            let marks = best_two(&values, metric.higher_is_better());
            let _ = write!(out, "  {:<width$}", e.model);
            for (v, m) in values.iter().zip(marks) {
                let mark = ["", "*", "+"][m as usize];
                let _ = write!(out, "{:>16}", format!("{}{mark}", fmt_value(*v)));
            }
            out.push('\n');
        }
    }
    out
}

fn row_values(e: &ModelEval, cols: &[&str], metric: Metric) -> Vec<Option<f64>> {
    cols.iter()
        .map(|c| e.score(c).and_then(|s| metric.value(&s.metrics)))
        .collect()
}

/// `metrics.csv`: one row per model and score, every metric, counts and accuracies repeated
/// on each row so the file stands alone in pandas.
pub fn metrics_csv(evals: &[ModelEval]) -> Result<String> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let err = |e: csv::Error| Error::Invalid(format!("metrics.csv: {e}"));
    let mut header = vec![
        "model",
        "file",
        "level",
        "score",
        "n",
        "n_correct",
        "n_wrong",
        "missing",
    ];
    let ci_names: Vec<String> = Metric::ALL
        .iter()
        .flat_map(|m| [format!("{m}_lower"), format!("{m}_upper")])
        .collect();
    let cal_names: Vec<String> = CalibrationMetric::ALL
        .iter()
        .flat_map(|m| {
            let m = m.as_str();
            [m.to_string(), format!("{m}_lower"), format!("{m}_upper")]
        })
        .collect();
    header.extend(Metric::ALL.map(Metric::as_str));
    header.extend(ci_names.iter().map(String::as_str));
    header.extend([
        "constant",
        "rows",
        "error_rows",
        "unlabeled_rows",
        "evaluated",
        "top1_accuracy",
        "top5_accuracy",
        "top1_accuracy_softmax_sum",
        "top5_accuracy_softmax_sum",
        "top1_accuracy_lower",
        "top1_accuracy_upper",
    ]);
    header.extend(cal_names.iter().map(String::as_str));
    let wp_names: Vec<String> = Target::ALL
        .iter()
        .flat_map(|t| [t.name(), format!("{}_threshold", t.name())])
        .collect();
    header.extend(wp_names.iter().map(String::as_str));
    header.extend(["temperature", "bootstrap_resamples", "bootstrap_seed"]);
    w.write_record(&header).map_err(err)?;
    let num = |v: Option<f64>| v.map_or_else(String::new, |v| v.to_string());
    for e in evals {
        for s in &e.scores {
            let mut rec = vec![
                e.model.clone(),
                e.file.display().to_string(),
                e.level.clone(),
                s.score.clone(),
                s.metrics.n.to_string(),
                s.metrics.n_correct.to_string(),
                s.metrics.n_wrong.to_string(),
                s.missing.to_string(),
            ];
            rec.extend(Metric::ALL.map(|m| num(m.value(&s.metrics))));
            for m in Metric::ALL {
                let i = s.interval(m);
                rec.push(num(i.map(|i| i.lower)));
                rec.push(num(i.map(|i| i.upper)));
            }
            rec.extend([
                s.metrics.is_constant().to_string(),
                e.rows.to_string(),
                e.error_rows.to_string(),
                e.unlabeled_rows.to_string(),
                e.evaluated.to_string(),
                num(e.top1.map(|a| a.value)),
                num(e.top5.map(|a| a.value)),
                num(e.top1_softmax_sum.map(|a| a.value)),
                num(e.top5_softmax_sum.map(|a| a.value)),
            ]);
            let top1_ci = e.top1.and_then(|a| a.interval);
            rec.push(num(top1_ci.map(|i| i.lower)));
            rec.push(num(top1_ci.map(|i| i.upper)));
            for m in CalibrationMetric::ALL {
                let c = e.calibration.as_ref();
                let i = c.and_then(|c| c.interval(m));
                rec.push(num(c.and_then(|c| m.value(&c.metrics))));
                rec.push(num(i.map(|i| i.lower)));
                rec.push(num(i.map(|i| i.upper)));
            }
            for t in Target::ALL {
                let wp = s.working_points.iter().find(|w| w.target == t);
                rec.push(num(wp.and_then(|w| w.value())));
                rec.push(num(wp.and_then(|w| w.threshold)));
            }
            rec.push(num(e
                .calibration
                .as_ref()
                .and_then(|c| c.temperature.as_ref())
                .map(|t| t.temperature)));
            rec.push(e.bootstrap_resamples.to_string());
            rec.push(e.bootstrap_seed.to_string());
            w.write_record(&rec).map_err(err)?;
        }
    }
    let bytes = w
        .into_inner()
        .map_err(|e| Error::Invalid(format!("metrics.csv: {e}")))?;
    String::from_utf8(bytes).map_err(|e| Error::Invalid(format!("metrics.csv: {e}")))
}

/// `metrics.json`: the level, the main table's metric and every model's [`ModelEval`].
#[derive(Serialize)]
pub struct MetricsJson<'a> {
    pub level: &'static str,
    pub main_metric: &'static str,
    pub models: &'a [ModelEval],
}

pub fn metrics_json(evals: &[ModelEval], level: Level, metric: Metric) -> MetricsJson<'_> {
    MetricsJson {
        level: level.as_str(),
        main_metric: metric.as_str(),
        models: evals,
    }
}

fn md_escape(s: &str) -> String {
    s.replace('|', "\\|")
        .replace('*', "\\*")
        .replace('_', "\\_")
}

/// `report.md`: the main table (the paper's Table I form), counts and left-out rows, every
/// metric per model, notes, plots and the definitions used.
pub fn report_md(
    evals: &[ModelEval],
    files: &[ResultsFile],
    level: Level,
    metric: Metric,
    plots: &[PlotFiles],
) -> String {
    let mut out = String::new();
    let cols = score_columns(evals);
    let _ = writeln!(
        out,
        "# Misprediction detection by trust score ({level} level)\n"
    );
    let _ = writeln!(
        out,
        "{} of each score as a detector of wrong predictions ({} is better). Per model, the \
         best score is in **bold** and the second best in *italic*.\n",
        metric.title(),
        if metric.higher_is_better() {
            "higher"
        } else {
            "lower"
        }
    );
    let _ = writeln!(
        out,
        "| model | {} |",
        cols.iter()
            .map(|c| md_escape(c))
            .collect::<Vec<_>>()
            .join(" | ")
    );
    let _ = writeln!(out, "|---|{}", "---:|".repeat(cols.len()));
    for e in by_accuracy(evals) {
        let values = row_values(e, &cols, metric);
        let marks = best_two(&values, metric.higher_is_better());
        let cells: Vec<String> = values
            .iter()
            .zip(marks)
            .zip(&cols)
            .map(|((v, m), c)| {
                let ci = fmt_interval(e.score(c).and_then(|s| s.interval(metric)));
                let ci = if ci.is_empty() { ci } else { format!(" {ci}") };
                match (v, m) {
                    (Some(_), 1) => format!("**{}**{ci}", fmt_value(*v)),
                    (Some(_), 2) => format!("*{}*{ci}", fmt_value(*v)),
                    _ => format!("{}{ci}", fmt_value(*v)),
                }
            })
            .collect();
        let _ = writeln!(out, "| {} | {} |", md_escape(&e.model), cells.join(" | "));
    }

    let _ = writeln!(out, "\n## Rows and accuracy\n");
    let _ = writeln!(
        out,
        "| model | file | {level} rows | evaluated | correct | wrong | left out: error status | left out: no label | top-1 | top-5 |"
    );
    let _ = writeln!(out, "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    for e in evals {
        let _ = writeln!(
            out,
            "| {} | `{}` | {} | {} | {} | {} | {} | {} | {} | {} |",
            md_escape(&e.model),
            e.file.display(),
            e.rows,
            e.evaluated,
            e.correct,
            e.wrong,
            e.error_rows,
            e.unlabeled_rows,
            fmt_accuracy(e.top1),
            fmt_accuracy(e.top5)
        );
    }
    if evals.iter().any(|e| e.top1_softmax_sum.is_some()) {
        let _ = writeln!(
            out,
            "\nVideo accuracy by torchvision's protocol (classes by the sum of clip softmaxes):\n"
        );
        for e in evals {
            let _ = writeln!(
                out,
                "- {}: top-1 {}, top-5 {}",
                md_escape(&e.model),
                fmt_accuracy(e.top1_softmax_sum),
                fmt_accuracy(e.top5_softmax_sum)
            );
        }
    }

    for (i, e) in evals.iter().enumerate() {
        let _ = writeln!(out, "\n## {}\n", md_escape(&e.model));
        let _ = writeln!(out, "{}.\n", counts_line(e));
        if !e.scores.is_empty() {
            let _ = writeln!(
                out,
                "| score | n | missing | {} |",
                Metric::ALL.map(Metric::title).join(" | ")
            );
            let _ = writeln!(out, "|---|---:|---:|{}", "---:|".repeat(Metric::ALL.len()));
            for s in &e.scores {
                let _ = writeln!(
                    out,
                    "| {} | {} | {} | {} |",
                    md_escape(&s.score),
                    s.metrics.n,
                    s.missing,
                    Metric::ALL
                        .map(|m| fmt_with_interval(m.value(&s.metrics), s.interval(m)))
                        .join(" | ")
                );
            }
        }
        if !e.scores.is_empty() {
            let _ = writeln!(
                out,
                "\n### Working points\n\nAccept a prediction when its score is at least the \
                 threshold (in parentheses); a tie is accepted whole.\n"
            );
            let _ = writeln!(
                out,
                "| score | {} |",
                Target::ALL.map(|t| t.title()).join(" | ")
            );
            let _ = writeln!(out, "|---|{}", "---:|".repeat(Target::ALL.len()));
            for s in &e.scores {
                let cells: Vec<String> = Target::ALL
                    .iter()
                    .map(|t| match s.working_points.iter().find(|w| w.target == *t) {
                        Some(w) => match w.threshold {
                            Some(th) => format!("{} ({th:.4})", fmt_value(w.value())),
                            None => "none reaches it".to_string(),
                        },
                        None => "–".to_string(),
                    })
                    .collect();
                let _ = writeln!(out, "| {} | {} |", md_escape(&s.score), cells.join(" | "));
            }
        }
        if let Some(c) = &e.calibration {
            let _ = writeln!(out, "\n### Calibration\n");
            let _ = writeln!(
                out,
                "| rows | {} |",
                CalibrationMetric::ALL.map(|m| m.title()).join(" | ")
            );
            let _ = writeln!(
                out,
                "|---:|{}",
                "---:|".repeat(CalibrationMetric::ALL.len())
            );
            let _ = writeln!(
                out,
                "| {} | {} |",
                c.metrics.n,
                CalibrationMetric::ALL
                    .map(|m| fmt_with_interval(m.value(&c.metrics), c.interval(m)))
                    .join(" | ")
            );
            if let Some(t) = &c.temperature {
                let _ = writeln!(out, "\n{}.", temperature_line(t));
                let _ = writeln!(
                    out,
                    "\n| held-out rows | {} |",
                    CalibrationMetric::ALL.map(|m| m.title()).join(" | ")
                );
                let _ = writeln!(out, "|---|{}", "---:|".repeat(CalibrationMetric::ALL.len()));
                for (what, m) in [("before (T = 1)", &t.before), ("after", &t.after)] {
                    let _ = writeln!(
                        out,
                        "| {what} | {} |",
                        CalibrationMetric::ALL
                            .map(|k| fmt_value(k.value(m)))
                            .join(" | ")
                    );
                }
            }
        }
        if let Some(f) = files.get(i).filter(|_| e.evaluated > 0) {
            per_class_md(&mut out, e, f);
        }
        provenance_md(&mut out, e);
        if !e.notes.is_empty() {
            out.push('\n');
            for note in &e.notes {
                let _ = writeln!(out, "- Note: {note}");
            }
        }
        if let Some(p) = plots.get(i) {
            out.push('\n');
            for (title, png) in p.pngs() {
                let _ = writeln!(out, "![{title}]({png})\n");
            }
        }
    }

    let _ = writeln!(
        out,
        "\n## Definitions\n\n\
         Higher score = more trust. A row counts when its status is `ok` and its label is \
         known; a score's metrics use the rows where that score has a finite value. Ties in a \
         score are one threshold throughout.\n\n\
         - **AUROC**: probability that a correct prediction scores above a wrong one, ties \
         counting ½ (scikit-learn's `roc_auc_score`, correct = positive).\n\
         - **AUPR-Error / AUPR-Success**: scikit-learn's `average_precision_score` with wrong = \
         positive ranked by −score / correct = positive ranked by the score.\n\
         - **FPR@95TPR**: the fraction of wrong predictions accepted by the strictest threshold \
         `score ≥ t` that accepts at least 95% of the correct ones.\n\
         - **AURC**: mean over k = 1..n of the error rate of the k most trusted rows (a tie group \
         spreads its errors evenly over its positions). **E-AURC**: AURC minus the AURC of the \
         oracle ranking. **AUGRC**: mean over k of (errors among the k most trusted) / n.\n\
         - **Intervals**: `[lower, upper]` is the 95% percentile bootstrap interval (rows \
         resampled with replacement, every metric recomputed on each resample; the resamples \
         and seed are in metrics.json).\n\
         - **Calibration** of the top-1 probability (the `softmax` column): **ECE** over 15 \
         equal-width bins (right-closed, the first closed at 0), `Σ_b |B_b|/n · |acc − conf|`; \
         **adaptive ECE** over 15 equal-mass bins (edges at the confidences' quantiles, tied \
         confidences in one bin); **MCE** the largest bin gap; **NLL** the mean of −ln p(label); \
         **Brier** the mean of Σ_c (p_c − [c = label])² over the full distribution.\n\
         - The paper's AUAC and AUFC have no public definition and are not reported."
    );
    out
}

fn calibration_line(c: &super::CalibrationEval) -> String {
    CalibrationMetric::ALL
        .iter()
        .map(|&m| {
            format!(
                "{} {}",
                m.title(),
                fmt_with_interval(m.value(&c.metrics), c.interval(m))
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn temperature_line(t: &super::TemperatureEval) -> String {
    format!(
        "temperature scaling: T = {:.4} fitted on {} rows; on the other {}: NLL {} → {}, ECE {} → {}",
        t.temperature,
        t.fit_rows,
        t.held_out_rows,
        fmt_value(t.before.nll),
        fmt_value(t.after.nll),
        fmt_value(t.before.ece),
        fmt_value(t.after.ece)
    )
}

/// One true class of one run: a row of `per_class.csv`, and what report.md's per-class
/// section picks from.
#[derive(Clone, Debug, PartialEq)]
pub struct ClassStats {
    pub label: usize,
    /// As the rows or `eval --labels` name it.
    pub name: Option<String>,
    pub rows: usize,
    pub correct: usize,
    /// Wrong predictions by predicted class: (class, count), most frequent first, the
    /// smallest index among equals.
    pub confusions: Vec<(usize, usize)>,
    /// Per score asked for: its AUROC over this class's rows (`None` unless the class has
    /// both correct and wrong predictions with a value) and AURC; both `None` where the file
    /// lacks the score.
    pub scores: Vec<(&'static str, Option<f64>, Option<f64>)>,
}

impl ClassStats {
    pub fn accuracy(&self) -> f64 {
        self.correct as f64 / self.rows as f64
    }
}

/// The classes of `file`'s evaluated rows with a label index, in index order, measured by
/// the scores `cols`.
pub fn per_class(file: &ResultsFile, cols: &[&'static str]) -> Vec<ClassStats> {
    use super::metrics::Ranking;
    use std::collections::BTreeMap;
    let mut classes: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for (i, s) in file.samples.iter().enumerate() {
        if let Some(l) = s.label {
            classes.entry(l).or_default().push(i);
        }
    }
    classes
        .into_iter()
        .map(|(label, rows)| {
            let correct: Vec<bool> = rows.iter().map(|&i| file.samples[i].correct).collect();
            let mut wrong: BTreeMap<usize, usize> = BTreeMap::new();
            for &i in &rows {
                let s = &file.samples[i];
                if let (false, Some(p)) = (s.correct, s.pred) {
                    *wrong.entry(p).or_default() += 1;
                }
            }
            let mut confusions: Vec<(usize, usize)> = wrong.into_iter().collect();
            confusions.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
            let scores = cols
                .iter()
                .map(|&c| {
                    let column = file
                        .scores
                        .iter()
                        .position(|s| s.as_str() == c)
                        .map(|j| file.values.column(j));
                    match column {
                        Some(col) => {
                            let values = rows.iter().map(|&i| {
                                let v = col[i];
                                v.is_finite().then_some(v)
                            });
                            let g = Ranking::new(values).tie_groups(&correct, None);
                            (c, g.auroc(), g.aurc())
                        }
                        None => (c, None, None),
                    }
                })
                .collect();
            ClassStats {
                label,
                name: file.class_names.get(&label).cloned(),
                rows: rows.len(),
                correct: correct.iter().filter(|&&c| c).count(),
                confusions,
                scores,
            }
        })
        .collect()
}

/// `per_class.csv`: per run and true class (rows with a label index), named as the rows or
/// `eval --labels` name it: rows, accuracy, the most frequent wrong prediction, and
/// per score AUROC and AURC over that class's rows (AUROC empty unless the class has both
/// correct and wrong predictions).
pub fn per_class_csv(evals: &[ModelEval], files: &[ResultsFile]) -> Result<String> {
    let err = |e: csv::Error| Error::Invalid(format!("per_class.csv: {e}"));
    let mut w = csv::Writer::from_writer(Vec::new());
    let cols = score_columns(evals);
    let mut header = vec![
        "model".to_string(),
        "label_index".to_string(),
        "label".to_string(),
        "rows".to_string(),
        "accuracy".to_string(),
        "most_frequent_wrong_prediction".to_string(),
        "its_label".to_string(),
        "its_count".to_string(),
    ];
    for c in &cols {
        header.extend([format!("{c}_auroc"), format!("{c}_aurc")]);
    }
    w.write_record(&header).map_err(err)?;
    let num = |v: Option<f64>| v.map_or_else(String::new, |v| v.to_string());
    for (e, f) in evals.iter().zip(files) {
        let name = |i: usize| f.class_names.get(&i).cloned().unwrap_or_default();
        for class in per_class(f, &cols) {
            let top = class.confusions.first();
            let mut rec = vec![
                e.model.clone(),
                class.label.to_string(),
                name(class.label),
                class.rows.to_string(),
                class.accuracy().to_string(),
                top.map_or_else(String::new, |t| t.0.to_string()),
                top.map_or_else(String::new, |t| name(t.0)),
                top.map_or_else(String::new, |t| t.1.to_string()),
            ];
            for (_, auroc, aurc) in &class.scores {
                rec.push(num(*auroc));
                rec.push(num(*aurc));
            }
            w.write_record(&rec).map_err(err)?;
        }
    }
    let bytes = w
        .into_inner()
        .map_err(|e| Error::Invalid(format!("per_class.csv: {e}")))?;
    String::from_utf8(bytes).map_err(|e| Error::Invalid(format!("per_class.csv: {e}")))
}

/// Classes per score in report.md's "separates errors worst" table.
const WORST_CLASSES: usize = 3;
/// Confusions in report.md's list.
const TOP_CONFUSIONS: usize = 10;

/// `abseiling (0)`, or `class 7` without a name.
fn class_md(index: usize, names: &std::collections::BTreeMap<usize, String>) -> String {
    match names.get(&index) {
        Some(n) => format!("{} ({index})", md_escape(n)),
        None => format!("class {index}"),
    }
}

/// report.md's per-class section of one run: per score the classes it separates worst
/// (lowest AUROC among classes with both outcomes), and the most frequent confusions.
fn per_class_md(out: &mut String, e: &ModelEval, file: &ResultsFile) {
    let cols: Vec<&'static str> = ScoreName::ALL
        .into_iter()
        .map(ScoreName::as_str)
        .filter(|s| e.score(s).is_some())
        .collect();
    let classes = per_class(file, &cols);
    let _ = writeln!(out, "\n### Per class\n");
    if classes.is_empty() {
        let _ = writeln!(out, "No evaluated row has a class index.");
        return;
    }
    let both = classes
        .iter()
        .filter(|c| c.correct > 0 && c.correct < c.rows)
        .count();
    let _ = writeln!(
        out,
        "{} classes among the evaluated rows; {both} of them have both correct and wrong \
         predictions (a class's AUROC needs both). Every class is in `per_class.csv`.\n",
        classes.len()
    );
    if !cols.is_empty() {
        let _ = writeln!(
            out,
            "Where each score separates errors worst (lowest per-class AUROC, up to \
             {WORST_CLASSES} classes):\n"
        );
        let _ = writeln!(out, "| score | classes: AUROC (rows, accuracy) |");
        let _ = writeln!(out, "|---|---|");
        for (k, c) in cols.iter().enumerate() {
            let mut worst: Vec<(&ClassStats, f64)> = classes
                .iter()
                .filter_map(|cl| cl.scores[k].1.map(|a| (cl, a)))
                .collect();
            worst.sort_by(|a, b| a.1.total_cmp(&b.1).then(a.0.label.cmp(&b.0.label)));
            let cell = if worst.is_empty() {
                "no class with both outcomes and values".to_string()
            } else {
                worst
                    .iter()
                    .take(WORST_CLASSES)
                    .map(|(cl, a)| {
                        format!(
                            "{}: {a:.4} ({} rows, {:.1}%)",
                            class_md(cl.label, &file.class_names),
                            cl.rows,
                            100.0 * cl.accuracy()
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("; ")
            };
            let _ = writeln!(out, "| {} | {cell} |", md_escape(c));
        }
        out.push('\n');
    }
    let mut confusions: Vec<(&ClassStats, usize, usize)> = classes
        .iter()
        .flat_map(|cl| cl.confusions.iter().map(move |&(p, n)| (cl, p, n)))
        .collect();
    if confusions.is_empty() {
        let _ = writeln!(out, "No wrong predictions, so no confusions.");
        return;
    }
    confusions.sort_by(|a, b| {
        b.2.cmp(&a.2)
            .then(a.0.label.cmp(&b.0.label))
            .then(a.1.cmp(&b.1))
    });
    let _ = writeln!(
        out,
        "Most frequent confusions (true → predicted, up to {TOP_CONFUSIONS}):\n"
    );
    let _ = writeln!(
        out,
        "| true class | predicted class | count | of the class's rows |"
    );
    let _ = writeln!(out, "|---|---|---:|---:|");
    for (cl, p, n) in confusions.into_iter().take(TOP_CONFUSIONS) {
        let _ = writeln!(
            out,
            "| {} | {} | {n} | {n}/{} |",
            class_md(cl.label, &file.class_names),
            class_md(p, &file.class_names),
            cl.rows
        );
    }
}

/// `text` as Markdown code inside a table cell.
fn md_code(text: &str) -> String {
    format!("`{}`", text.replace('`', "'").replace('|', "\\|"))
}

/// report.md's provenance block of one run: what made its results file.
fn provenance_md(out: &mut String, e: &ModelEval) {
    let _ = writeln!(out, "\n### Provenance\n");
    let sidecar = crate::results::Provenance::path_of(&e.file);
    let Some(p) = &e.provenance else {
        let _ = writeln!(
            out,
            "No provenance file ({} not found): a results file made by hand or elsewhere; \
             what made it is unknown.",
            md_code(&sidecar.display().to_string())
        );
        return;
    };
    let sha = |file: &str, sha: &str| format!("{} (SHA-256 {})", md_code(file), md_code(sha));
    let list = match p.limit {
        Some(n) => format!(
            "{}, its first {n} entries",
            sha(&p.list_file, &p.list_sha256)
        ),
        None => sha(&p.list_file, &p.list_sha256),
    };
    let logits = if p.columns.iter().any(|c| c == crate::results::LOGITS) {
        "yes (`batch --logits`)"
    } else if p.columns.is_empty() {
        "not recorded"
    } else {
        "no"
    };
    let rows: [(&str, String); 13] = [
        ("tool", md_escape(&p.tool)),
        ("model", md_escape(&p.model)),
        ("weights", sha(&p.weights_file, &p.weights_sha256)),
        ("labels", {
            let l = md_escape(&p.labels);
            match &p.labels_sha256 {
                Some(h) => format!("{l} (SHA-256 {})", md_code(h)),
                None => l,
            }
        }),
        ("preset", md_code(&p.preset)),
        ("clips per video", p.clips_per_video.to_string()),
        ("scores", md_escape(&p.scores.join(", "))),
        ("score options", md_code(&p.score_options)),
        ("seed", p.seed.to_string()),
        ("list", list),
        (
            "shard",
            p.shard
                .as_deref()
                .map_or_else(|| "none (the whole list)".to_string(), md_escape),
        ),
        ("logits column", logits.to_string()),
        (
            "file",
            format!(
                "{} beside the results",
                md_code(&sidecar.display().to_string())
            ),
        ),
    ];
    let _ = writeln!(out, "| | |\n|---|---|");
    for (k, v) in rows {
        let _ = writeln!(out, "| {k} | {v} |");
    }
}

/// The runs sorted by top-1 accuracy, best first (the paper's Table I order); ties and runs
/// without an accuracy keep their order.
pub fn by_accuracy(evals: &[ModelEval]) -> Vec<&ModelEval> {
    let mut v: Vec<&ModelEval> = evals.iter().collect();
    let acc = |e: &ModelEval| e.top1.map_or(f64::NEG_INFINITY, |a| a.value);
    v.sort_by(|a, b| acc(b).total_cmp(&acc(a)));
    v
}

/// `table.csv`: Table I as data, one row per run sorted by accuracy; per score the value,
/// interval and rank mark (1 best, 2 second, empty otherwise).
pub fn table_csv(evals: &[ModelEval], metric: Metric) -> Result<String> {
    let cols = score_columns(evals);
    let err = |e: csv::Error| Error::Invalid(format!("table.csv: {e}"));
    let mut w = csv::Writer::from_writer(Vec::new());
    let mut header = vec![
        "model".to_string(),
        "metric".to_string(),
        "top1_accuracy".to_string(),
    ];
    for c in &cols {
        header.extend([
            c.to_string(),
            format!("{c}_lower"),
            format!("{c}_upper"),
            format!("{c}_rank"),
        ]);
    }
    w.write_record(&header).map_err(err)?;
    let num = |v: Option<f64>| v.map_or_else(String::new, |v| v.to_string());
    for e in by_accuracy(evals) {
        let values = row_values(e, &cols, metric);
        let marks = best_two(&values, metric.higher_is_better());
        let mut rec = vec![
            e.model.clone(),
            metric.as_str().to_string(),
            num(e.top1.map(|a| a.value)),
        ];
        for ((c, v), m) in cols.iter().zip(&values).zip(marks) {
            let i = e.score(c).and_then(|s| s.interval(metric));
            rec.extend([
                num(*v),
                num(i.map(|i| i.lower)),
                num(i.map(|i| i.upper)),
                if m == 0 { String::new() } else { m.to_string() },
            ]);
        }
        w.write_record(&rec).map_err(err)?;
    }
    let bytes = w
        .into_inner()
        .map_err(|e| Error::Invalid(format!("table.csv: {e}")))?;
    String::from_utf8(bytes).map_err(|e| Error::Invalid(format!("table.csv: {e}")))
}

fn tex_escape(s: &str) -> String {
    s.replace('\\', "\\textbackslash{}")
        .replace('_', "\\_")
        .replace('&', "\\&")
        .replace('%', "\\%")
        .replace('#', "\\#")
}

/// `table.tex`: Table I as a LaTeX `tabular` (booktabs), best in bold, second underlined,
/// intervals in brackets below the value's line.
pub fn table_tex(evals: &[ModelEval], metric: Metric) -> String {
    let cols = score_columns(evals);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "% {} ({} is better); best bold, second underlined; 95% bootstrap intervals.",
        metric.title(),
        if metric.higher_is_better() {
            "higher"
        } else {
            "lower"
        }
    );
    let _ = writeln!(
        out,
        "\\begin{{tabular}}{{l r {}}}",
        "r ".repeat(cols.len()).trim_end()
    );
    let _ = writeln!(out, "\\toprule");
    let _ = writeln!(
        out,
        "model & top-1 & {} \\\\",
        cols.iter()
            .map(|c| tex_escape(c))
            .collect::<Vec<_>>()
            .join(" & ")
    );
    let _ = writeln!(out, "\\midrule");
    for e in by_accuracy(evals) {
        let values = row_values(e, &cols, metric);
        let marks = best_two(&values, metric.higher_is_better());
        let cells: Vec<String> = values
            .iter()
            .zip(marks)
            .zip(&cols)
            .map(|((v, m), c)| {
                let text = fmt_value(*v).replace('–', "--");
                let text = match (v, m) {
                    (Some(_), 1) => format!("\\textbf{{{text}}}"),
                    (Some(_), 2) => format!("\\underline{{{text}}}"),
                    _ => text,
                };
                match e.score(c).and_then(|s| s.interval(metric)) {
                    Some(i) => format!("{text} {{\\scriptsize [{:.3}, {:.3}]}}", i.lower, i.upper),
                    None => text,
                }
            })
            .collect();
        let acc = e.top1.map_or_else(
            || "--".to_string(),
            |a| format!("{:.2}\\%", 100.0 * a.value),
        );
        let _ = writeln!(
            out,
            "{} & {acc} & {} \\\\",
            tex_escape(&e.model),
            cells.join(" & ")
        );
    }
    let _ = writeln!(out, "\\bottomrule");
    let _ = writeln!(out, "\\end{{tabular}}");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn best_two_marks() {
        let v = [Some(0.7), Some(0.9), None, Some(0.8), Some(0.6)];
        assert_eq!(best_two(&v, true), vec![0, 1, 0, 2, 0]);
        assert_eq!(best_two(&v, false), vec![2, 0, 0, 0, 1]);
        // two tied for best: both bold, no second
        assert_eq!(
            best_two(&[Some(1.0), Some(1.0), Some(0.5)], true),
            vec![1, 1, 0]
        );
        // a tie for second: both italic
        assert_eq!(
            best_two(&[Some(2.0), Some(1.0), Some(1.0)], true),
            vec![1, 2, 2]
        );
        assert_eq!(best_two(&[None, None], true), vec![0, 0]);
    }
}

//! Formatting `eval`'s results: the terminal table, `metrics.csv`, `metrics.json` and
//! `report.md` (the paper's Table I form: one row per model, one column per score).
use std::fmt::Write as _;

use serde::Serialize;

use super::bootstrap::Interval;
use super::metrics::Target;
use super::plots::PlotFiles;
use super::{Accuracy, CalibrationMetric, Level, Metric, ModelEval};
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
pub fn report_md(evals: &[ModelEval], level: Level, metric: Metric, plots: &[PlotFiles]) -> String {
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

/// `per_class.csv`: per run and true class (rows with a label index): rows, accuracy, and
/// per score AUROC and AURC over that class's rows (AUROC empty unless the class has both
/// correct and wrong predictions).
pub fn per_class_csv(evals: &[ModelEval], files: &[super::rows::ResultsFile]) -> Result<String> {
    use super::metrics::Ranking;
    use std::collections::BTreeMap;
    let err = |e: csv::Error| Error::Invalid(format!("per_class.csv: {e}"));
    let mut w = csv::Writer::from_writer(Vec::new());
    let cols = score_columns(evals);
    let mut header = vec![
        "model".to_string(),
        "label_index".to_string(),
        "rows".to_string(),
        "accuracy".to_string(),
        "most_frequent_wrong_prediction".to_string(),
        "its_count".to_string(),
    ];
    for c in &cols {
        header.extend([format!("{c}_auroc"), format!("{c}_aurc")]);
    }
    w.write_record(&header).map_err(err)?;
    let num = |v: Option<f64>| v.map_or_else(String::new, |v| v.to_string());
    for (e, f) in evals.iter().zip(files) {
        let mut classes: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
        for (i, s) in f.samples.iter().enumerate() {
            if let Some(l) = s.label {
                classes.entry(l).or_default().push(i);
            }
        }
        for (label, rows) in classes {
            let correct: Vec<bool> = rows.iter().map(|&i| f.samples[i].correct).collect();
            let right = correct.iter().filter(|&&c| c).count();
            let mut confusions: BTreeMap<usize, usize> = BTreeMap::new();
            for &i in &rows {
                let s = &f.samples[i];
                if let (false, Some(p)) = (s.correct, s.pred) {
                    *confusions.entry(p).or_default() += 1;
                }
            }
            // Most frequent, the smallest index among equals.
            let top = confusions
                .iter()
                .max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(a.0)));
            let mut rec = vec![
                e.model.clone(),
                label.to_string(),
                rows.len().to_string(),
                (right as f64 / rows.len() as f64).to_string(),
                top.map_or_else(String::new, |t| t.0.to_string()),
                top.map_or_else(String::new, |t| t.1.to_string()),
            ];
            for c in &cols {
                let column = f
                    .scores
                    .iter()
                    .position(|s| s.as_str() == *c)
                    .map(|j| f.values.column(j));
                match column {
                    Some(col) => {
                        let values = rows.iter().map(|&i| {
                            let v = col[i];
                            v.is_finite().then_some(v)
                        });
                        let g = Ranking::new(values).tie_groups(&correct, None);
                        rec.push(num(g.auroc()));
                        rec.push(num(g.aurc()));
                    }
                    None => rec.extend([String::new(), String::new()]),
                }
            }
            w.write_record(&rec).map_err(err)?;
        }
    }
    let bytes = w
        .into_inner()
        .map_err(|e| Error::Invalid(format!("per_class.csv: {e}")))?;
    String::from_utf8(bytes).map_err(|e| Error::Invalid(format!("per_class.csv: {e}")))
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

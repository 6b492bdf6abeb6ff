//! `eval`'s charts, each as SVG and PNG, per model: GradTrust vs softmax scatter (the paper's
//! first figure), risk–coverage curves of every score, ROC curves, and per-score histograms
//! split by correct/wrong. Text uses the embedded DejaVu Sans, so no system font is needed.
use std::path::Path;
use std::sync::Once;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use plotters::style::{register_font, FontStyle};

use super::calibration::Bin;
use super::metrics::TieGroups;
use super::{Metric, ModelEval};
use crate::results::samples::{present, ResultsFile};
use crate::scores::ScoreName;
use crate::{Error, Result};

pub(crate) const FONT: &str = "sans-serif";
const CORRECT: RGBColor = RGBColor(0x2c, 0xa0, 0x2c);
const WRONG: RGBColor = RGBColor(0xd6, 0x27, 0x28);
/// Points per curve: enough for a smooth line, few enough for a small SVG.
const CURVE_POINTS: usize = 600;
const HIST_BINS: usize = 30;

type DrawResult<DB> =
    std::result::Result<(), DrawingAreaErrorKind<<DB as DrawingBackend>::ErrorType>>;

/// The files drawn for one model: `(title, base name)` per chart, each as `.svg` and `.png`.
#[derive(Clone, Debug, Default)]
pub struct PlotFiles {
    pub charts: Vec<(String, String)>,
    /// Charts not drawn and why (e.g. no gradtrust column for the scatter).
    pub skipped: Vec<String>,
}

impl PlotFiles {
    pub fn files(&self) -> Vec<String> {
        self.charts
            .iter()
            .flat_map(|(_, base)| [format!("{base}.svg"), format!("{base}.png")])
            .collect()
    }

    pub fn pngs(&self) -> Vec<(String, String)> {
        self.charts
            .iter()
            .map(|(title, base)| (title.clone(), format!("{base}.png")))
            .collect()
    }
}

/// One colour per score, the same in every chart; GradTrust's line is also the thickest.
pub(crate) fn score_color(score: ScoreName) -> RGBColor {
    match score {
        ScoreName::GradTrust => RGBColor(0x1f, 0x4e, 0xc4),
        ScoreName::Softmax => RGBColor(0xff, 0x7f, 0x0e),
        ScoreName::Entropy => RGBColor(0x2c, 0xa0, 0x2c),
        ScoreName::Margin => RGBColor(0x94, 0x67, 0xbd),
        ScoreName::LogLikelihood => RGBColor(0x8c, 0x56, 0x4b),
        ScoreName::Energy => RGBColor(0xe3, 0x77, 0xc2),
        ScoreName::NegBrier => RGBColor(0x7f, 0x7f, 0x7f),
        ScoreName::GradNorm => RGBColor(0xbc, 0xbd, 0x22),
        ScoreName::Doctor => RGBColor(0x6b, 0x8e, 0x23),
        ScoreName::McDropout => RGBColor(0x17, 0xbe, 0xcf),
        ScoreName::Odin => RGBColor(0xd6, 0x27, 0x28),
        ScoreName::PurviewInitial => RGBColor(0x39, 0x3b, 0x79),
        ScoreName::PurviewFinal => RGBColor(0xff, 0xbb, 0x78),
    }
}

fn line_style(score: ScoreName) -> ShapeStyle {
    let width = if score == ScoreName::GradTrust { 4 } else { 2 };
    score_color(score).stroke_width(width)
}

pub(crate) fn register_fonts() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // Only fails on a corrupt font, which the embedded one is not; drawing would then
        // report "FontUnavailable" naming the chart.
        let _ = register_font(FONT, FontStyle::Normal, dejavu::sans::regular());
        let _ = register_font(FONT, FontStyle::Bold, dejavu::sans::bold());
    });
}

/// A file-name-safe form of a model name.
fn file_stem(model: &str) -> String {
    model
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Draws `$f(&root, args…)` into `$base.svg` and `$base.png` under `$out`.
macro_rules! render {
    ($out:expr, $base:expr, $size:expr, $f:ident ( $($arg:expr),* )) => {{
        let svg = $out.join(format!("{}.svg", $base));
        {
            let root = SVGBackend::new(&svg, $size).into_drawing_area();
            $f(&root, $($arg),*)
                .and_then(|_| root.present())
                .map_err(|e| plot_error(&svg, e))?;
        }
        let png = $out.join(format!("{}.png", $base));
        {
            let root = BitMapBackend::new(&png, $size).into_drawing_area();
            $f(&root, $($arg),*)
                .and_then(|_| root.present())
                .map_err(|e| plot_error(&png, e))?;
        }
    }};
}

fn plot_error(path: &Path, e: impl std::fmt::Display) -> Error {
    Error::Invalid(format!("{}: cannot draw the chart: {e}", path.display()))
}

/// One score's values on the evaluated rows that have it.
struct Series {
    score: ScoreName,
    values: Vec<f64>,
    correct: Vec<bool>,
}

/// Draws every chart of one model into `out`.
pub fn draw_all(out: &Path, file: &ResultsFile, eval: &ModelEval) -> Result<PlotFiles> {
    register_fonts();
    let mut files = PlotFiles::default();
    let stem = file_stem(&eval.model);
    let model = eval.model.as_str();
    let level = eval.level.as_str();
    // The scores eval measured (`eval --scores` chooses them).
    let series: Vec<Series> = file
        .scores
        .iter()
        .enumerate()
        .filter(|(_, s)| eval.score(s.as_str()).is_some())
        .map(|(j, &score)| {
            let (values, correct) = present(file.values.column(j))
                .zip(&file.samples)
                .filter_map(|(v, s)| Some((v?, s.correct)))
                .unzip();
            Series {
                score,
                values,
                correct,
            }
        })
        .filter(|s| !s.values.is_empty())
        .collect();
    if series.is_empty() {
        files
            .skipped
            .push(format!("{model}: no score values, no charts"));
        return Ok(files);
    }

    // Scatter: rows with both GradTrust and softmax.
    let chosen = |s: ScoreName| eval.score(s.as_str()).and(file.column(s));
    let gradtrust = chosen(ScoreName::GradTrust);
    let softmax = chosen(ScoreName::Softmax);
    if let (Some(gt), Some(sm)) = (gradtrust, softmax) {
        let points: Vec<(f64, f64, bool)> = present(gt)
            .zip(present(sm))
            .zip(&file.samples)
            .filter_map(|((g, p), s)| Some((g?, p?, s.correct)))
            .collect();
        if !points.is_empty() {
            let title = format!("{model}: GradTrust vs softmax confidence ({level} level)");
            let base = format!("{stem}_scatter");
            render!(out, base, (1000, 750), draw_scatter(&title, &points));
            files.charts.push((title, base));
        }
    } else {
        files.skipped.push(format!(
            "{model}: scatter needs the gradtrust and softmax scores"
        ));
    }

    let groups: Vec<(ScoreName, TieGroups, f64, f64)> = series
        .iter()
        .map(|s| {
            let g = TieGroups::new(&s.values, &s.correct);
            let aurc = g.aurc().unwrap_or(f64::NAN);
            let auroc = g.auroc().unwrap_or(f64::NAN);
            (s.score, g, aurc, auroc)
        })
        .collect();

    let title = format!("{model}: risk–coverage by trust score ({level} level)");
    let base = format!("{stem}_risk_coverage");
    let all = TieGroups::new(
        &vec![0.0; file.samples.len()],
        &file.samples.iter().map(|s| s.correct).collect::<Vec<_>>(),
    );
    render!(
        out,
        base,
        (1200, 750),
        draw_risk_coverage(&title, &groups, &all)
    );
    files.charts.push((title, base));

    if groups
        .iter()
        .any(|(_, g, _, _)| g.n_correct() > 0 && g.n_wrong() > 0)
    {
        let title = format!("{model}: ROC, correct vs wrong predictions ({level} level)");
        let base = format!("{stem}_roc");
        render!(out, base, (1150, 800), draw_roc(&title, &groups));
        files.charts.push((title, base));
    } else {
        files.skipped.push(format!(
            "{model}: ROC curves need both correct and wrong predictions"
        ));
    }

    if let Some(c) = &eval.calibration {
        if c.metrics.n > 0 {
            let ece = c.metrics.ece.unwrap_or(f64::NAN);
            let title = format!("{model}: reliability of the top-1 probability ({level} level)");
            let base = format!("{stem}_reliability");
            render!(
                out,
                base,
                (900, 800),
                draw_reliability(&title, &c.reliability, ece)
            );
            files.charts.push((title, base));
        }
    }

    let title = format!("{model}: score distributions, correct vs wrong ({level} level)");
    let base = format!("{stem}_histograms");
    let cols = series.len().min(3);
    let rows = series.len().div_ceil(cols);
    let size = (cols as u32 * 440, 70 + rows as u32 * 320);
    render!(out, base, size, draw_histograms(&title, &series));
    files.charts.push((title, base));
    Ok(files)
}

fn padded(lo: f64, hi: f64) -> (f64, f64) {
    if hi > lo {
        let pad = (hi - lo) * 0.04;
        (lo - pad, hi + pad)
    } else {
        let pad = if lo == 0.0 { 0.5 } else { lo.abs() * 0.1 };
        (lo - pad, hi + pad)
    }
}

fn min_max(values: impl Iterator<Item = f64>) -> (f64, f64) {
    values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
        (lo.min(v), hi.max(v))
    })
}

/// The scatter shows at most this many points (a fixed pseudo-random subset): more only
/// blot the chart and bloat the SVG.
const SCATTER_MAX: usize = 20_000;

/// A fixed pseudo-random key per index (splitmix64), for subsets and draw orders that do
/// not depend on the row order's patterns and are the same on every run.
fn shuffle_key(i: usize) -> u64 {
    let mut z = (i as u64).wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The points the scatter draws, in drawing order. Up to a few thousand: correct first,
/// then wrong on top, so every wrong one shows. Beyond that the classes overlap in dense
/// clouds and whichever came last would hide the other: a pseudo-random order, capped at
/// [`SCATTER_MAX`].
fn scatter_points(points: &[(f64, f64, bool)]) -> Vec<(f64, f64, bool)> {
    let mut order: Vec<usize> = (0..points.len()).collect();
    if points.len() <= 5000 {
        order.sort_by_key(|&i| !points[i].2);
    } else {
        order.sort_by_key(|&i| shuffle_key(i));
        order.truncate(SCATTER_MAX);
    }
    order.into_iter().map(|i| points[i]).collect()
}

fn draw_scatter<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
    points: &[(f64, f64, bool)],
) -> DrawResult<DB> {
    root.fill(&WHITE)?;
    // Both axes fit the data: softmax confidences often sit in a narrow band.
    let (x0, x1) = padded_range(points.iter().map(|p| p.0));
    let (y0, y1) = padded_range(points.iter().map(|p| p.1));
    let mut chart = ChartBuilder::on(root)
        .caption(title, (FONT, 26))
        .margin(20)
        .x_label_area_size(60)
        .y_label_area_size(80)
        .build_cartesian_2d(x0..x1, y0..y1)?;
    chart
        .configure_mesh()
        .x_desc("GradTrust (higher = more trust)")
        .y_desc("softmax confidence (top-1 probability)")
        .axis_desc_style((FONT, 20))
        .label_style((FONT, 16))
        .light_line_style(RGBColor(235, 235, 235))
        .max_light_lines(1)
        .draw()?;
    let shown = scatter_points(points);
    let (radius, alpha) = if points.len() > 5000 {
        (2, 0.4)
    } else {
        (4, 0.6)
    };
    let color = |c: bool| if c { CORRECT } else { WRONG };
    chart.draw_series(
        shown
            .iter()
            .map(|p| Circle::new((p.0, p.1), radius, color(p.2).mix(alpha).filled())),
    )?;
    // Legend entries: empty series carrying the labels.
    for (is_correct, what) in [(true, "correct"), (false, "wrong")] {
        let n = points.iter().filter(|p| p.2 == is_correct).count();
        let n_shown = shown.iter().filter(|p| p.2 == is_correct).count();
        let label = if n_shown < n {
            format!("{what} prediction ({n}; {n_shown} shown)")
        } else {
            format!("{what} prediction ({n})")
        };
        let c = color(is_correct);
        chart
            .draw_series(std::iter::empty::<Circle<(f64, f64), i32>>())?
            .label(label)
            .legend(move |(x, y)| Circle::new((x + 10, y), 6, c.filled()));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK)
        .label_font((FONT, 18))
        .draw()?;
    Ok(())
}

/// Drops curve points closer than `step` (in x + y) to the last kept one, keeping the ends:
/// a ROC curve of 200k thresholds becomes a few thousand points that draw the same.
fn thin(points: Vec<(f64, f64)>, step: f64) -> Vec<(f64, f64)> {
    let n = points.len();
    let mut out: Vec<(f64, f64)> = Vec::with_capacity(n.min(4096));
    for (i, p) in points.into_iter().enumerate() {
        match out.last() {
            Some(q) if i + 1 < n && (p.0 - q.0).abs() + (p.1 - q.1).abs() < step => {}
            _ => out.push(p),
        }
    }
    out
}

fn padded_range(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (lo, hi) = min_max(values);
    padded(lo, hi)
}

/// A legend entry beside a chart: label, line style, dashed.
type LegendEntry = (String, ShapeStyle, bool);

/// Width of the legend panel beside the line charts.
const LEGEND_WIDTH: u32 = 300;

/// Splits a figure into its title, the chart and a legend panel on the right (so the legend
/// never hides a curve).
type Areas<DB> = (DrawingArea<DB, Shift>, DrawingArea<DB, Shift>);
type DrawError<DB> = DrawingAreaErrorKind<<DB as DrawingBackend>::ErrorType>;

fn titled_with_legend<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
) -> std::result::Result<Areas<DB>, DrawError<DB>> {
    root.fill(&WHITE)?;
    let body = root.margin(10, 0, 0, 0).titled(title, (FONT, 26))?;
    let (w, _) = body.dim_in_pixel();
    Ok(body.split_horizontally(w.saturating_sub(LEGEND_WIDTH)))
}

fn draw_side_legend<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    heading: &str,
    entries: &[LegendEntry],
) -> DrawResult<DB> {
    let text = TextStyle::from((FONT, 16).into_font())
        .color(&BLACK)
        .pos(Pos::new(HPos::Left, VPos::Center));
    let row = 26;
    let top = 40;
    area.draw(&Text::new(
        heading.to_string(),
        (8, top - 4),
        TextStyle::from((FONT, 16).into_font().style(FontStyle::Bold))
            .color(&BLACK)
            .pos(Pos::new(HPos::Left, VPos::Center)),
    ))?;
    for (i, (label, style, dashed)) in entries.iter().enumerate() {
        let y = top + row * (i as i32 + 1);
        if *dashed {
            for x in (8..44).step_by(12) {
                area.draw(&PathElement::new([(x, y), (x + 7, y)], *style))?;
            }
        } else {
            area.draw(&PathElement::new([(8, y), (44, y)], *style))?;
        }
        area.draw(&Text::new(label.clone(), (52, y), text.clone()))?;
    }
    Ok(())
}

/// For each curve, the first curve equal to it (itself if none before): curves that coincide
/// (scores ranking the rows alike, e.g. softmax and margin with two classes) are drawn once,
/// under one legend entry naming them all.
fn coinciding(curves: &[Vec<(f64, f64)>]) -> Vec<usize> {
    let same = |a: &[(f64, f64)], b: &[(f64, f64)]| {
        a.len() == b.len()
            && a.iter()
                .zip(b)
                .all(|(p, q)| (p.0 - q.0).abs() <= 1e-12 && (p.1 - q.1).abs() <= 1e-12)
    };
    (0..curves.len())
        .map(|i| (0..i).find(|&j| same(&curves[j], &curves[i])).unwrap_or(i))
        .collect()
}

/// `softmax = margin = …`: the scores whose curve is `leader`'s.
fn joined_names(groups: &[(ScoreName, TieGroups, f64, f64)], leader: &[usize], i: usize) -> String {
    groups
        .iter()
        .zip(leader)
        .filter(|(_, &l)| l == i)
        .map(|(g, _)| g.0.as_str())
        .collect::<Vec<_>>()
        .join(" = ")
}

/// Drawing order: GradTrust last, so it lies on top.
fn gradtrust_last(groups: &[(ScoreName, TieGroups, f64, f64)]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..groups.len()).collect();
    order.sort_by_key(|&i| groups[i].0 == ScoreName::GradTrust);
    order
}

fn draw_risk_coverage<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
    groups: &[(ScoreName, TieGroups, f64, f64)],
    all: &TieGroups,
) -> DrawResult<DB> {
    let (plot, legend_area) = titled_with_legend(root, title)?;
    let curves: Vec<Vec<(f64, f64)>> = groups
        .iter()
        .map(|(_, g, _, _)| g.risk_coverage_curve(CURVE_POINTS))
        .collect();
    // The first few points (one or two samples accepted) are 0 or 1 and would squash the
    // rest: the y range covers coverage ≥ 5%, and the curves are clipped above it.
    let y_max = curves
        .iter()
        .flatten()
        .filter(|p| p.0 >= 0.05)
        .map(|p| p.1)
        .fold(0.0f64, f64::max);
    let y_max = if y_max > 0.0 {
        (y_max * 1.1).min(1.0)
    } else {
        0.1
    };
    let mut chart = ChartBuilder::on(&plot)
        .margin(20)
        .x_label_area_size(60)
        .y_label_area_size(80)
        .build_cartesian_2d(0.0..1.0, 0.0..y_max)?;
    chart
        .configure_mesh()
        .x_desc("coverage (fraction accepted, most trusted first)")
        .y_desc("risk (error rate among the accepted)")
        .axis_desc_style((FONT, 20))
        .label_style((FONT, 16))
        .light_line_style(RGBColor(238, 238, 238))
        .max_light_lines(1)
        .draw()?;
    let clip = |c: &[(f64, f64)]| -> Vec<(f64, f64)> {
        c.iter().map(|&(x, y)| (x, y.min(y_max))).collect()
    };
    let mut legend: Vec<LegendEntry> = Vec::new();
    let leader = coinciding(&curves);
    for (i, (score, _, aurc, _)) in groups.iter().enumerate() {
        if leader[i] == i {
            let names = joined_names(groups, &leader, i);
            legend.push((format!("{names} ({aurc:.4})"), line_style(*score), false));
        }
    }
    // References first, so the scores draw over them. `all` is every evaluated row with one
    // score value: its curve is random order's.
    if all.n_correct() > 0 && all.n_wrong() > 0 {
        let error_rate = all.n_wrong() as f64 / all.len() as f64;
        let gray = RGBColor(150, 150, 150).stroke_width(2);
        chart.draw_series(DashedLineSeries::new(
            [(0.0, error_rate), (1.0, error_rate)],
            8,
            6,
            gray,
        ))?;
        let oracle = BLACK.stroke_width(2);
        let oracle_curve = all.oracle_risk_coverage_curve(CURVE_POINTS);
        let oracle_aurc = all
            .aurc()
            .zip(all.e_aurc())
            .map_or(f64::NAN, |(a, e)| a - e);
        chart.draw_series(DashedLineSeries::new(clip(&oracle_curve), 8, 6, oracle))?;
        legend.push((format!("random order ({error_rate:.4})"), gray, true));
        legend.push((format!("oracle ({oracle_aurc:.4})"), oracle, true));
    }
    for i in gradtrust_last(groups) {
        if leader[i] == i {
            chart.draw_series(LineSeries::new(clip(&curves[i]), line_style(groups[i].0)))?;
        }
    }
    draw_side_legend(&legend_area, "score (AURC, lower = better)", &legend)?;
    Ok(())
}

fn draw_roc<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
    groups: &[(ScoreName, TieGroups, f64, f64)],
) -> DrawResult<DB> {
    let (plot, legend_area) = titled_with_legend(root, title)?;
    let mut chart = ChartBuilder::on(&plot)
        .margin(20)
        .x_label_area_size(60)
        .y_label_area_size(80)
        .build_cartesian_2d(0.0..1.0, 0.0..1.0)?;
    chart
        .configure_mesh()
        .x_desc("wrong predictions accepted (false positive rate)")
        .y_desc("correct predictions accepted (true positive rate)")
        .axis_desc_style((FONT, 20))
        .label_style((FONT, 16))
        .light_line_style(RGBColor(238, 238, 238))
        .max_light_lines(1)
        .draw()?;
    let gray = RGBColor(150, 150, 150).stroke_width(2);
    chart.draw_series(DashedLineSeries::new([(0.0, 0.0), (1.0, 1.0)], 8, 6, gray))?;
    let mut legend: Vec<LegendEntry> = Vec::new();
    let rocs: Vec<Vec<(f64, f64)>> = groups
        .iter()
        .map(|(_, g, _, _)| thin(g.roc_curve(), 1e-3))
        .collect();
    let leader = coinciding(&rocs);
    for (i, (score, g, _, auroc)) in groups.iter().enumerate() {
        if g.n_correct() > 0 && g.n_wrong() > 0 && leader[i] == i {
            let names = joined_names(groups, &leader, i);
            legend.push((format!("{names} ({auroc:.4})"), line_style(*score), false));
        }
    }
    legend.push(("chance (0.5)".to_string(), gray, true));
    for i in gradtrust_last(groups) {
        let (score, g, _, _) = &groups[i];
        if g.n_correct() > 0 && g.n_wrong() > 0 && leader[i] == i {
            chart.draw_series(LineSeries::new(rocs[i].clone(), line_style(*score)))?;
        }
    }
    draw_side_legend(
        &legend_area,
        &format!("score ({}, higher = better)", Metric::Auroc.title()),
        &legend,
    )?;
    Ok(())
}

/// The reliability diagram: per equal-width bin of the top-1 probability, the accuracy of its
/// rows (bar) against the diagonal of perfect calibration, and its mean confidence (dot).
fn draw_reliability<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
    bins: &[Bin],
    ece: f64,
) -> DrawResult<DB> {
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(root)
        .caption(title, (FONT, 24))
        .margin(20)
        .x_label_area_size(60)
        .y_label_area_size(80)
        .build_cartesian_2d(0.0..1.0, 0.0..1.0)?;
    chart
        .configure_mesh()
        .x_desc("top-1 probability (confidence)")
        .y_desc("accuracy of the rows in the bin")
        .axis_desc_style((FONT, 20))
        .label_style((FONT, 16))
        .light_line_style(RGBColor(238, 238, 238))
        .max_light_lines(1)
        .draw()?;
    let bar = RGBColor(0x1f, 0x4e, 0xc4);
    chart
        .draw_series(bins.iter().filter_map(|b| {
            let a = b.accuracy?;
            Some(Rectangle::new(
                [(b.lower, 0.0), (b.upper, a)],
                bar.mix(0.55).filled(),
            ))
        }))?
        .label(format!("accuracy per bin (ECE {ece:.4})"))
        .legend(move |(x, y)| {
            Rectangle::new([(x, y - 6), (x + 16, y + 6)], bar.mix(0.55).filled())
        });
    let gray = RGBColor(150, 150, 150).stroke_width(2);
    chart
        .draw_series(DashedLineSeries::new([(0.0, 0.0), (1.0, 1.0)], 8, 6, gray))?
        .label("perfect calibration")
        .legend(move |(x, y)| PathElement::new([(x, y), (x + 16, y)], gray));
    chart
        .draw_series(
            bins.iter()
                .filter_map(|b| Some(Circle::new((b.confidence?, b.accuracy?), 5, WRONG.filled()))),
        )?
        .label("mean confidence of the bin")
        .legend(move |(x, y)| Circle::new((x + 8, y), 5, WRONG.filled()));
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK)
        .label_font((FONT, 18))
        .draw()?;
    Ok(())
}

/// Bin fractions of `values` in `HIST_BINS` bins over `[lo, hi]`.
fn histogram(values: impl Iterator<Item = f64>, lo: f64, hi: f64) -> Vec<f64> {
    let mut counts = vec![0usize; HIST_BINS];
    let mut n = 0usize;
    for v in values {
        let t = ((v - lo) / (hi - lo) * HIST_BINS as f64).floor();
        counts[(t.max(0.0) as usize).min(HIST_BINS - 1)] += 1;
        n += 1;
    }
    counts
        .into_iter()
        .map(|c| if n > 0 { c as f64 / n as f64 } else { 0.0 })
        .collect()
}

fn draw_histograms<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
    series: &[Series],
) -> DrawResult<DB> {
    root.fill(&WHITE)?;
    let body = root.margin(10, 0, 0, 0).titled(title, (FONT, 26))?;
    let (top, panels) = body.split_vertically(34);
    // One legend for all panels, under the title.
    let style = TextStyle::from((FONT, 18).into_font()).color(&BLACK);
    let (w, _) = top.dim_in_pixel();
    let parts = [
        (
            "bars: fraction of each class per bin (overlap is brown).   ",
            BLACK,
        ),
        ("■ correct predictions   ", CORRECT),
        ("■ wrong predictions", WRONG),
    ];
    let widths: Vec<i32> = parts
        .iter()
        .map(|(t, _)| top.estimate_text_size(t, &style).map_or(0, |s| s.0 as i32))
        .collect();
    let mut x = (w as i32 - widths.iter().sum::<i32>()) / 2;
    for ((text, color), width) in parts.iter().zip(widths) {
        top.draw_text(text, &style.color(color), (x, 6))?;
        x += width;
    }
    let cols = series.len().min(3);
    let rows = series.len().div_ceil(cols);
    for (panel, s) in panels.split_evenly((rows, cols)).iter().zip(series) {
        let (lo, hi) = padded_range(s.values.iter().copied());
        let correct = histogram(
            s.values
                .iter()
                .zip(&s.correct)
                .filter(|p| *p.1)
                .map(|p| *p.0),
            lo,
            hi,
        );
        let wrong = histogram(
            s.values
                .iter()
                .zip(&s.correct)
                .filter(|p| !*p.1)
                .map(|p| *p.0),
            lo,
            hi,
        );
        let y_max = correct.iter().chain(&wrong).fold(0.0f64, |a, &b| a.max(b));
        let y_max = if y_max > 0.0 { y_max * 1.08 } else { 1.0 };
        let n_correct = s.correct.iter().filter(|&&c| c).count();
        let mut chart = ChartBuilder::on(panel)
            .caption(
                format!(
                    "{} ({} correct, {} wrong)",
                    s.score,
                    n_correct,
                    s.correct.len() - n_correct
                ),
                (FONT, 17),
            )
            .margin(8)
            .margin_right(24)
            .x_label_area_size(28)
            .y_label_area_size(48)
            .build_cartesian_2d(lo..hi, 0.0..y_max)?;
        chart
            .configure_mesh()
            .label_style((FONT, 12))
            .x_labels(5)
            .y_labels(5)
            .light_line_style(RGBColor(240, 240, 240))
            .max_light_lines(1)
            .draw()?;
        let bin = (hi - lo) / HIST_BINS as f64;
        for (counts, color) in [(&correct, CORRECT), (&wrong, WRONG)] {
            chart.draw_series(counts.iter().enumerate().filter(|(_, &f)| f > 0.0).map(
                |(i, &f)| {
                    let x0 = lo + i as f64 * bin;
                    Rectangle::new([(x0, 0.0), (x0 + bin, f)], color.mix(0.45).filled())
                },
            ))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_bins_cover_the_range() {
        let h = histogram([0.0, 0.5, 1.0, 1.0].into_iter(), 0.0, 1.0);
        assert_eq!(h.len(), HIST_BINS);
        assert_eq!(h[0], 0.25);
        assert_eq!(h[HIST_BINS / 2], 0.25);
        assert_eq!(h[HIST_BINS - 1], 0.5);
    }

    #[test]
    fn thin_keeps_ends_and_shape() {
        let pts: Vec<(f64, f64)> = (0..=10_000)
            .map(|i| (i as f64 / 1e4, i as f64 / 1e4))
            .collect();
        let t = thin(pts, 1e-2);
        assert!(t.len() <= 202, "{}", t.len());
        assert_eq!((t[0], *t.last().unwrap()), ((0.0, 0.0), (1.0, 1.0)));
    }

    #[test]
    fn scatter_draws_wrong_last_or_caps() {
        let small: Vec<_> = (0..10).map(|i| (i as f64, 0.5, i % 3 == 0)).collect();
        let shown = scatter_points(&small);
        assert_eq!(shown.len(), 10);
        assert!(shown[..4].iter().all(|p| p.2) && shown[4..].iter().all(|p| !p.2));
        let big: Vec<_> = (0..50_000).map(|i| (i as f64, 0.5, i % 2 == 0)).collect();
        let shown = scatter_points(&big);
        assert_eq!(shown.len(), SCATTER_MAX);
        assert!(shown[..100].iter().any(|p| p.2) && shown[..100].iter().any(|p| !p.2));
    }

    #[test]
    fn coinciding_curves_are_grouped() {
        let a = vec![(0.0, 0.0), (0.5, 0.25), (1.0, 0.5)];
        let b = vec![(0.0, 0.0), (0.5, 0.3), (1.0, 0.5)];
        let leader = coinciding(&[a.clone(), b.clone(), a.clone(), b]);
        assert_eq!(leader, vec![0, 1, 0, 1]);
        let g = |s| (s, TieGroups::new(&[1.0], &[true]), 0.0, 0.0);
        let groups = [
            g(ScoreName::Softmax),
            g(ScoreName::Energy),
            g(ScoreName::Margin),
            g(ScoreName::Doctor),
        ];
        assert_eq!(joined_names(&groups, &leader, 0), "softmax = margin");
    }

    #[test]
    fn ranges_never_collapse() {
        assert_eq!(padded(2.0, 2.0), (1.8, 2.2));
        assert_eq!(padded(0.0, 0.0), (-0.5, 0.5));
        let (a, b) = padded(0.0, 1.0);
        assert!(a < 0.0 && b > 1.0);
        assert_eq!(file_stem("r3d_18 (run 2)"), "r3d_18__run_2_");
    }
}

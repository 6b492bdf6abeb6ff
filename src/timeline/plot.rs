//! The timeline's chart (`score --timeline --plot FILE.png|.svg`): a band of the top-1 label
//! over time, then one panel per score, each window's value held over its span; every change
//! of the top-1 label is a grey line through all panels (up to 150 of them; past that the
//! band alone shows them). Drawn with `eval`'s fonts and score colours.
use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::{Sink, WindowRow};
use crate::eval::plots::{register_fonts, score_color, FONT};
use crate::labels::Labels;
use crate::scores::ScoreName;
use crate::{Error, Result};

/// What the chart needs of each window: a few numbers, so a long video's trace stays small.
#[derive(Clone, Debug)]
pub struct Trace {
    scores: Vec<ScoreName>,
    points: Vec<Point>,
}

#[derive(Clone, Debug)]
struct Point {
    secs: [f64; 2],
    top1: Option<usize>,
    values: Vec<Option<f64>>,
}

impl Trace {
    /// An empty trace of the scores `scores`.
    pub fn new(scores: &[ScoreName]) -> Trace {
        Trace {
            scores: scores.to_vec(),
            points: Vec::new(),
        }
    }

    pub fn len(&self) -> usize {
        self.points.len()
    }

    pub fn is_empty(&self) -> bool {
        self.points.is_empty()
    }

    /// Runs of windows with the same top-1 class: `(from, to, class)`.
    fn runs(&self) -> Vec<(f64, f64, Option<usize>)> {
        let mut runs: Vec<(f64, f64, Option<usize>)> = Vec::new();
        for p in &self.points {
            match runs.last_mut() {
                Some(run) if run.2 == p.top1 => run.1 = run.1.max(p.secs[1]),
                _ => runs.push((p.secs[0], p.secs[1], p.top1)),
            }
        }
        runs
    }
}

impl Sink for Trace {
    fn window(&mut self, row: &WindowRow) -> Result<()> {
        self.points.push(Point {
            secs: row.secs,
            top1: row.level.top5.first().map(|r| r.index),
            values: self
                .scores
                .iter()
                .map(|&n| row.level.scores.get(n))
                .collect(),
        });
        Ok(())
    }
}

const WIDTH: u32 = 1200;
const BAND: u32 = 130;
const PANEL: u32 = 150;
const AXIS: u32 = 45;
const Y_LABELS: u32 = 110;
/// Top-1 changes drawn as lines through the panels, at most (about one per 7 px).
const MAX_CHANGE_LINES: usize = 150;

/// Draws `trace` into `path`: SVG for `.svg`, PNG otherwise (the CLI allows only these two).
pub fn draw(trace: &Trace, path: &Path, labels: &Labels, title: &str) -> Result<()> {
    register_fonts();
    let panels = trace.scores.len().max(1) as u32;
    let size = (WIDTH, BAND + PANEL * panels + AXIS);
    let svg = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("svg"));
    let error =
        |e: String| Error::Invalid(format!("{}: cannot draw the chart: {e}", path.display()));
    if svg {
        let root = SVGBackend::new(path, size).into_drawing_area();
        chart(&root, trace, labels, title)
            .and_then(|()| root.present())
            .map_err(|e| error(e.to_string()))?;
    } else {
        let root = BitMapBackend::new(path, size).into_drawing_area();
        chart(&root, trace, labels, title)
            .and_then(|()| root.present())
            .map_err(|e| error(e.to_string()))?;
    }
    Ok(())
}

type DrawResult<DB> =
    std::result::Result<(), DrawingAreaErrorKind<<DB as DrawingBackend>::ErrorType>>;

/// A colour per class, cycling through a categorical palette.
fn class_color(class: Option<usize>) -> RGBColor {
    const PALETTE: [RGBColor; 10] = [
        RGBColor(0x4e, 0x79, 0xa7),
        RGBColor(0xf2, 0x8e, 0x2b),
        RGBColor(0xe1, 0x57, 0x59),
        RGBColor(0x76, 0xb7, 0xb2),
        RGBColor(0x59, 0xa1, 0x4f),
        RGBColor(0xed, 0xc9, 0x48),
        RGBColor(0xb0, 0x7a, 0xa1),
        RGBColor(0xff, 0x9d, 0xa7),
        RGBColor(0x9c, 0x75, 0x5f),
        RGBColor(0xba, 0xb0, 0xac),
    ];
    class.map_or(RGBColor(0xdd, 0xdd, 0xdd), |c| PALETTE[c % PALETTE.len()])
}

fn chart<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    trace: &Trace,
    labels: &Labels,
    title: &str,
) -> DrawResult<DB> {
    root.fill(&WHITE)?;
    let root = root.titled(title, (FONT, 22))?;
    let (band, rest) = root.split_vertically(BAND - 40);
    let x_end = trace
        .points
        .iter()
        .map(|p| p.secs[1])
        .fold(0.0f64, f64::max)
        .max(1e-3);
    let runs = trace.runs();
    // More lines than this would grey out the panels; the band still shows every change.
    let changes: Vec<f64> = if runs.len() <= MAX_CHANGE_LINES + 1 {
        runs.iter().skip(1).map(|r| r.0).collect()
    } else {
        Vec::new()
    };

    // The top-1 band: one coloured stretch per run, named where there is room.
    let mut chart = ChartBuilder::on(&band)
        .margin_left(10)
        .margin_right(20)
        .y_label_area_size(Y_LABELS)
        .build_cartesian_2d(0.0..x_end, 0.0..1.0)?;
    chart
        .configure_mesh()
        .disable_mesh()
        .disable_x_axis()
        .y_labels(0)
        .y_desc("top-1")
        .axis_desc_style((FONT, 15))
        .draw()?;
    chart.draw_series(runs.iter().map(|&(from, to, class)| {
        Rectangle::new([(from, 0.05), (to, 0.95)], class_color(class).filled())
    }))?;
    let px_per_sec = f64::from(WIDTH - Y_LABELS - 30) / x_end;
    let centred = Pos::new(HPos::Center, VPos::Center);
    chart.draw_series(runs.iter().filter_map(|&(from, to, class)| {
        let name = match class {
            Some(c) => labels
                .name(c)
                .map_or_else(|| format!("class {c}"), str::to_owned),
            None => "?".to_owned(),
        };
        // About 7 px a character at this size.
        ((to - from) * px_per_sec >= 7.0 * name.chars().count() as f64 + 6.0).then(|| {
            Text::new(
                name,
                ((from + to) / 2.0, 0.5),
                (FONT, 13).into_font().color(&BLACK).pos(centred),
            )
        })
    }))?;

    let n = trace.scores.len();
    if n == 0 {
        return Ok(());
    }
    let panels = rest.split_evenly((n, 1));
    for (k, (area, &score)) in panels.iter().zip(&trace.scores).enumerate() {
        let last = k + 1 == n;
        let values: Vec<f64> = trace.points.iter().filter_map(|p| p.values[k]).collect();
        let (lo, hi) = values
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| {
                (a.min(v), b.max(v))
            });
        let (lo, hi) = if lo.is_finite() && hi > lo {
            let pad = (hi - lo) * 0.08;
            (lo - pad, hi + pad)
        } else if lo.is_finite() {
            (lo - 0.5 * lo.abs().max(1e-6), lo + 0.5 * lo.abs().max(1e-6))
        } else {
            (0.0, 1.0)
        };
        let mut chart = ChartBuilder::on(area)
            .margin_left(10)
            .margin_right(20)
            .margin_top(6)
            .x_label_area_size(if last { AXIS } else { 0 })
            .y_label_area_size(Y_LABELS)
            .build_cartesian_2d(0.0..x_end, lo..hi)?;
        let mut mesh = chart.configure_mesh();
        mesh.disable_x_mesh()
            .light_line_style(WHITE.mix(0.0))
            .y_desc(score.as_str())
            .y_labels(4)
            .axis_desc_style((FONT, 15))
            .label_style((FONT, 12));
        if last {
            mesh.x_desc("seconds");
        } else {
            mesh.x_labels(0);
        }
        mesh.draw()?;
        for &x in &changes {
            chart.draw_series(LineSeries::new(
                [(x, lo), (x, hi)],
                RGBColor(0xaa, 0xaa, 0xaa).stroke_width(1),
            ))?;
        }
        // Each window's value over its span, joined to the next where that one starts as it
        // ends; a window without a value, a gap (a stride past the window) or an overlap
        // (the last window moved back, a short stride) starts a new line.
        let mut stretch: Vec<(f64, f64)> = Vec::new();
        let style = score_color(score).stroke_width(2);
        for p in &trace.points {
            let joins = stretch
                .last()
                .is_some_and(|&(end, _)| (end - p.secs[0]).abs() < 1e-9);
            if !joins && !stretch.is_empty() {
                chart.draw_series(LineSeries::new(std::mem::take(&mut stretch), style))?;
            }
            if let Some(v) = p.values[k] {
                stretch.extend([(p.secs[0], v), (p.secs[1], v)]);
            }
        }
        if !stretch.is_empty() {
            chart.draw_series(LineSeries::new(stretch, style))?;
        }
        if values.is_empty() {
            chart.draw_series(std::iter::once(Text::new(
                "n/a (not computable for this model)",
                (x_end / 2.0, 0.5),
                (FONT, 14).into_font().color(&BLACK).pos(centred),
            )))?;
        }
    }
    Ok(())
}

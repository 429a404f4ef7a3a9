//! RSA as a scatter: the Q similarity (x) against the K similarity (y) of every word pair,
//! with Pearson r in the title, as the lecture plots it (`'ks'` markers, dashed light grid).

use std::ops::Range;

use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::element::ComposedElement;
use plotters::prelude::*;

use super::drawing_error;
use super::palette::GRID_GREY;

pub struct RsaScatterSpec<'a> {
    /// Q similarities of the upper-triangle pairs (i < j, row-major).
    pub q: &'a [f64],
    /// K similarities of the same pairs.
    pub k: &'a [f64],
    /// Pearson r of `q` and `k` (None when undefined).
    pub r: Option<f64>,
    /// Index (into `q`/`k`) of a pair to mark, e.g. the one under the pointer elsewhere.
    pub highlight: Option<usize>,
}

pub(crate) type ScatterChart<'a, DB> = ChartContext<'a, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

/// The lecture's marker face, `[.9, .7, .7, .5]`.
const FACE: RGBAColor = RGBAColor(230, 179, 179, 0.5);
pub(crate) const MARKER: i32 = 3;

/// "Correlation (RSA score): r = 0.824", or "… r = n/a".
pub fn rsa_title(prefix: &str, r: Option<f64>) -> String {
    match r {
        Some(r) => format!("{prefix}: r = {r:.3}"),
        None => format!("{prefix}: r = n/a"),
    }
}

/// The values' extent with a 5% margin (a unit range around a single value; 0..1 when empty).
pub(crate) fn padded_range(values: &[f64]) -> Range<f64> {
    let (lo, hi) = values
        .iter()
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &v| (lo.min(v), hi.max(v)));
    if lo > hi {
        0.0..1.0
    } else if lo == hi {
        lo - 0.5..hi + 0.5
    } else {
        let pad = 0.05 * (hi - lo);
        lo - pad..hi + pad
    }
}

/// Axes labelled as the lecture's and a dashed light grid at the tick positions.
pub(crate) fn scatter_chart<'a, DB: DrawingBackend>(
    area: &'a DrawingArea<DB, Shift>,
    title: &str,
    x: Range<f64>,
    y: Range<f64>,
) -> Result<ScatterChart<'a, DB>, String> {
    let ticks = 6;
    let mut chart = ChartBuilder::on(area)
        .caption(title, ("sans-serif", 15))
        .margin(10)
        .x_label_area_size(44)
        .y_label_area_size(54)
        .build_cartesian_2d(x.clone(), y.clone())
        .map_err(drawing_error)?;
    chart
        .configure_mesh()
        .disable_mesh()
        .x_labels(ticks)
        .y_labels(ticks)
        .x_label_formatter(&|v| format!("{v:.2}"))
        .y_label_formatter(&|v| format!("{v:.2}"))
        .x_desc("Q cosine similarities")
        .y_desc("K cosine similarities")
        .label_style(("sans-serif", 12))
        .axis_desc_style(("sans-serif", 13))
        .draw()
        .map_err(drawing_error)?;
    let style = GRID_GREY.stroke_width(1);
    let xs = chart.as_coord_spec().x_spec().key_points(ticks);
    let ys = chart.as_coord_spec().y_spec().key_points(ticks);
    for gx in xs {
        chart
            .draw_series(DashedLineSeries::new(vec![(gx, y.start), (gx, y.end)], 4, 3, style))
            .map_err(drawing_error)?;
    }
    for gy in ys {
        chart
            .draw_series(DashedLineSeries::new(vec![(x.start, gy), (x.end, gy)], 4, 3, style))
            .map_err(drawing_error)?;
    }
    Ok(chart)
}

pub(crate) type Square<DB> = ComposedElement<(f64, f64), DB, Rectangle<(i32, i32)>, Rectangle<(i32, i32)>>;

/// A square marker: `face` filled, with an `edge` outline unless None.
pub(crate) fn square<DB: DrawingBackend>(at: (f64, f64), face: RGBAColor, edge: Option<RGBColor>) -> Square<DB> {
    let corners = [(-MARKER, -MARKER), (MARKER, MARKER)];
    // A transparent edge is not drawn at all.
    let edge = edge.map_or(TRANSPARENT, |c| c.to_rgba());
    EmptyElement::at(at) + Rectangle::new(corners, face.filled()) + Rectangle::new(corners, edge.stroke_width(1))
}

/// Draws the scatter; returns each point's position in the backend's pixels (for hover).
pub fn draw_rsa_scatter<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    spec: &RsaScatterSpec,
) -> Result<Vec<(i32, i32)>, String> {
    if spec.q.len() != spec.k.len() {
        return Err(format!(
            "RSA scatter: {} Q values but {} K values",
            spec.q.len(),
            spec.k.len()
        ));
    }
    area.fill(&WHITE).map_err(drawing_error)?;
    let title = rsa_title("Correlation (RSA score)", spec.r);
    let mut chart = scatter_chart(area, &title, padded_range(spec.q), padded_range(spec.k))?;
    chart
        .draw_series(
            spec.q
                .iter()
                .zip(spec.k)
                .map(|(&x, &y)| square::<DB>((x, y), FACE, Some(BLACK))),
        )
        .map_err(drawing_error)?;
    if let Some(at) = spec.highlight.and_then(|i| Some((*spec.q.get(i)?, *spec.k.get(i)?))) {
        chart.draw_series(std::iter::once(mark::<DB>(at))).map_err(drawing_error)?;
    }
    Ok(spec
        .q
        .iter()
        .zip(spec.k)
        .map(|(&x, &y)| chart.backend_coord(&(x, y)))
        .collect())
}

/// The index of the point nearest to pixel (x, y), if one lies within `radius` pixels.
pub fn nearest_point(points: &[(i32, i32)], x: f64, y: f64, radius: f64) -> Option<usize> {
    points
        .iter()
        .enumerate()
        .map(|(i, &(px, py))| (i, (px as f64 - x).powi(2) + (py as f64 - y).powi(2)))
        .filter(|&(_, d2)| d2 <= radius * radius)
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .map(|(i, _)| i)
}

/// A pair picked elsewhere: a ring around its point.
pub(crate) fn mark<DB: DrawingBackend>(at: (f64, f64)) -> Ring<DB> {
    EmptyElement::at(at) + Circle::new((0, 0), 9, RED.stroke_width(3)) + Circle::new((0, 0), 11, WHITE.stroke_width(1))
}

pub(crate) type Ring<DB> = ComposedElement<(f64, f64), DB, Circle<(i32, i32), i32>, Circle<(i32, i32), i32>>;

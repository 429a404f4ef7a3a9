//! What the two RSA scatters share: axes labelled as the lecture's with a dashed light grid,
//! square markers, the ring that marks a picked pair, and the "r = …" title. A leaf: it imports
//! no figure.

use std::ops::Range;

use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::element::ComposedElement;
use plotters::prelude::*;

use super::drawing::drawing_error;
use super::look::{font, inked};
use super::palette::GRID_GREY;

pub(crate) type ScatterChart<'a, DB> = ChartContext<'a, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

pub(crate) const MARKER: i32 = 3;

/// "Correlation (RSA score): r = 0.824", or "… r = n/a".
pub fn rsa_title(prefix: &str, r: Option<f64>) -> String {
    match r {
        Some(r) => format!("{prefix}: r = {r:.3}"),
        None => format!("{prefix}: r = n/a"),
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
        .caption(title, font(15))
        .margin(10)
        .x_label_area_size(44)
        .y_label_area_size(54)
        .build_cartesian_2d(x.clone(), y.clone())
        .map_err(drawing_error)?;
    inked(&mut chart.configure_mesh())
        .disable_mesh()
        .x_labels(ticks)
        .y_labels(ticks)
        .x_label_formatter(&|v| format!("{v:.2}"))
        .y_label_formatter(&|v| format!("{v:.2}"))
        .x_desc("Q cosine similarities")
        .y_desc("K cosine similarities")
        .label_style(font(12))
        .axis_desc_style(font(13))
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

/// A pair picked elsewhere: a ring around its point.
pub(crate) fn mark<DB: DrawingBackend>(at: (f64, f64)) -> Ring<DB> {
    EmptyElement::at(at) + Circle::new((0, 0), 9, RED.stroke_width(3)) + Circle::new((0, 0), 11, WHITE.stroke_width(1))
}

pub(crate) type Ring<DB> = ComposedElement<(f64, f64), DB, Circle<(i32, i32), i32>, Circle<(i32, i32), i32>>;

//! The vertical colour bar beside a heatmap, labelled with the limits' values. A leaf: it imports
//! no figure.

use plotters::coord::Shift;
use plotters::prelude::*;

use super::drawing::{drawing_error, DrawResult};
use super::look::{font, inked};
use super::scale::colour;

/// A colour bar with the word-grid figures' margins.
pub(crate) fn draw_colour_bar<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, lo: f64, hi: f64) -> DrawResult {
    draw_colour_bar_between(area, lo, hi, (28, 76))
}

/// A colour bar with `margins` (top, bottom) pixels above and below it.
pub(crate) fn draw_colour_bar_between<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    lo: f64,
    hi: f64,
    margins: (u32, u32),
) -> DrawResult {
    let mut chart = ChartBuilder::on(area)
        .margin_top(margins.0)
        .margin_bottom(margins.1)
        .margin_left(6)
        .margin_right(2)
        .right_y_label_area_size(40)
        .build_cartesian_2d(0f64..1.0, lo..hi)
        .map_err(drawing_error)?;
    let steps = 64;
    let dv = (hi - lo) / steps as f64;
    chart
        .draw_series((0..steps).map(|s| {
            let v = lo + s as f64 * dv;
            Rectangle::new([(0.0, v), (1.0, v + dv)], colour(v + dv / 2.0, lo, hi).filled())
        }))
        .map_err(drawing_error)?;
    inked(&mut chart.configure_mesh())
        .disable_mesh()
        .disable_x_axis()
        .y_labels(6)
        .y_label_formatter(&|v| format!("{v:.2}"))
        .label_style(font(11))
        .draw()
        .map_err(drawing_error)?;
    Ok(())
}

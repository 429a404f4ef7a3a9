//! The similarity distributions of Q and K overlaid, as the lecture plots them:
//! `plt.plot(edges[:-1], counts)` per representation, legend Q/K, counts from 0; V as a third
//! series when the run has it.

use plotters::coord::Shift;
use plotters::prelude::*;

use super::drawing::{drawing_error, DrawResult};
use super::look::{font, inked, paper};
use super::palette::{GRID_GREY, K_COLOUR, Q_COLOUR, V_COLOUR};
use crate::analysis::Histogram;

pub struct HistogramSpec<'a> {
    pub title: &'a str,
    pub q: &'a Histogram,
    pub k: &'a Histogram,
}

/// The lecture's points: each count at the left edge of its bin.
fn points(h: &Histogram) -> Vec<(f64, f64)> {
    h.edges.iter().zip(&h.counts).map(|(&x, &c)| (x, c as f64)).collect()
}

pub fn draw_similarity_histograms<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, spec: &HistogramSpec) -> DrawResult {
    draw_histogram_series(area, spec.title, &[("Q", spec.q, Q_COLOUR), ("K", spec.k, K_COLOUR)])
}

/// Q, K and V overlaid (V in its own colour).
pub fn draw_qkv_histograms<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, spec: &HistogramSpec, v: &Histogram) -> DrawResult {
    draw_histogram_series(
        area,
        spec.title,
        &[("Q", spec.q, Q_COLOUR), ("K", spec.k, K_COLOUR), ("V", v, V_COLOUR)],
    )
}

/// Any number of named histograms overlaid, one line each.
pub fn draw_histogram_series<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    title: &str,
    series: &[(&str, &Histogram, RGBColor)],
) -> DrawResult {
    area.fill(&paper()).map_err(drawing_error)?;
    let (mut x_lo, mut x_hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for (_, h, _) in series {
        for &e in h.edges.iter().filter(|e| e.is_finite()) {
            x_lo = x_lo.min(e);
            x_hi = x_hi.max(e);
        }
    }
    if x_lo >= x_hi {
        (x_lo, x_hi) = if x_lo.is_finite() {
            (x_lo - 0.5, x_lo + 0.5)
        } else {
            (0.0, 1.0)
        };
    }
    let pad = (x_hi - x_lo) * 0.02;
    let top = series
        .iter()
        .flat_map(|(_, h, _)| h.counts.iter().copied())
        .max()
        .unwrap_or(0);
    let y_hi = (top as f64 * 1.08).max(1.0);
    let mut chart = ChartBuilder::on(area)
        .caption(title, font(16))
        .margin(10)
        .x_label_area_size(44)
        .y_label_area_size(52)
        .build_cartesian_2d(x_lo - pad..x_hi + pad, 0f64..y_hi)
        .map_err(drawing_error)?;
    inked(&mut chart.configure_mesh())
        .light_line_style(TRANSPARENT)
        .bold_line_style(GRID_GREY.mix(0.6))
        .x_labels(6)
        .y_labels(6)
        .x_label_formatter(&|v| format!("{v:.2}"))
        // Counts are whole: no label on fractional ticks.
        .y_label_formatter(&|v| if v.fract() == 0.0 { format!("{v:.0}") } else { String::new() })
        .x_desc("Similarity")
        .y_desc("Count")
        .label_style(font(12))
        .axis_desc_style(font(14))
        .draw()
        .map_err(drawing_error)?;
    for &(name, h, colour) in series {
        chart
            .draw_series(LineSeries::new(points(h), colour.stroke_width(2)))
            .map_err(drawing_error)?
            .label(name)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], colour.stroke_width(2)));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(paper().mix(0.9))
        .border_style(GRID_GREY)
        .label_font(font(13))
        .draw()
        .map_err(drawing_error)?;
    Ok(())
}

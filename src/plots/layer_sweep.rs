//! The layer sweep: the selectivity of Q, K and V against layer (top panel) and RSA r of Q vs K
//! against layer (bottom panel, same x axis), with the analysed layer marked. A point whose
//! permutation p is below 0.05 is filled, others hollow.

use std::ops::Range;

use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::drawing::{drawing_error, DrawResult};
use super::hits::{LayerColumns, PixelRect};
use super::legend::{draw_legend, legend_width, Mark};
use super::look::{font, inked, paper};
use super::palette::{GRID_GREY, K_COLOUR, Q_COLOUR, V_COLOUR};
use super::scale::padded_range;
use crate::analysis::sweep::LayerSummary;

pub struct LayerSweepSpec<'a> {
    pub layers: &'a [LayerSummary],
    /// The layer the rest of the page analyses.
    pub analysed: usize,
}

/// The significance level of the filled points.
pub const ALPHA: f64 = 0.05;
const MARKER_GREY: RGBColor = RGBColor(90, 90, 90);

/// One line: its name, colour and (layer, value, p) points.
struct Line {
    name: &'static str,
    colour: RGBColor,
    points: Vec<(f64, Option<f64>, Option<f64>)>,
}

type Chart<'a, DB> = ChartContext<'a, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

fn panel<'a, DB: DrawingBackend>(
    area: &'a DrawingArea<DB, Shift>,
    title: &str,
    x: Range<f64>,
    y: Range<f64>,
    y_desc: &str,
    x_axis: bool,
) -> Result<Chart<'a, DB>, String> {
    let mut chart = ChartBuilder::on(area)
        .caption(title, font(15))
        .margin(10)
        .x_label_area_size(if x_axis { 40 } else { 20 })
        .y_label_area_size(58)
        .build_cartesian_2d(x.clone(), y)
        .map_err(drawing_error)?;
    let n_labels = ((x.end - x.start) as usize + 1).min(13);
    inked(&mut chart.configure_mesh())
        .disable_x_mesh()
        .light_line_style(TRANSPARENT)
        .bold_line_style(GRID_GREY.mix(0.6))
        .x_labels(n_labels)
        .y_labels(5)
        .x_label_formatter(&|v| if v.fract() == 0.0 { format!("{v:.0}") } else { String::new() })
        .y_label_formatter(&|v| format!("{v:.2}"))
        .x_desc(if x_axis { "Layer" } else { "" })
        .y_desc(y_desc)
        .label_style(font(12))
        .axis_desc_style(font(13))
        .draw()
        .map_err(drawing_error)?;
    Ok(chart)
}

fn draw_lines<DB: DrawingBackend>(chart: &mut Chart<DB>, lines: &[Line], tested: bool) -> DrawResult {
    for line in lines {
        // Segments of consecutive defined values.
        let mut segment: Vec<(f64, f64)> = Vec::new();
        let mut segments = Vec::new();
        for &(x, v, _) in &line.points {
            match v.filter(|v| v.is_finite()) {
                Some(v) => segment.push((x, v)),
                None => segments.push(std::mem::take(&mut segment)),
            }
        }
        segments.push(segment);
        for s in segments.into_iter().filter(|s| s.len() > 1) {
            chart
                .draw_series(LineSeries::new(s, line.colour.stroke_width(2)))
                .map_err(drawing_error)?;
        }
        let colour = line.colour;
        chart
            .draw_series(line.points.iter().filter_map(|&(x, v, p)| {
                let v = v.filter(|v| v.is_finite())?;
                let filled = !tested || p.is_some_and(|p| p < ALPHA);
                let face = if filled { colour.filled() } else { WHITE.filled() };
                Some(EmptyElement::at((x, v)) + Circle::new((0, 0), 4, face) + Circle::new((0, 0), 4, colour.stroke_width(2)))
            }))
            .map_err(drawing_error)?;
    }
    Ok(())
}

fn marker<DB: DrawingBackend>(chart: &mut Chart<DB>, x: f64, y: &Range<f64>) -> DrawResult {
    chart
        .draw_series(DashedLineSeries::new(
            vec![(x, y.start), (x, y.end)],
            5,
            4,
            MARKER_GREY.stroke_width(1),
        ))
        .map_err(drawing_error)?;
    Ok(())
}

fn rect<DB: DrawingBackend>(chart: &Chart<DB>) -> PixelRect {
    let (x, y) = chart.plotting_area().get_pixel_range();
    [(x.start, y.start), (x.end, y.end)]
}

/// The lines of the two panels: selectivity of Q, K and V (top), RSA r (bottom), each point
/// (layer, value, permutation p).
fn lines(spec: &LayerSweepSpec) -> ([Line; 3], [Line; 1]) {
    let at = |f: fn(&LayerSummary) -> (Option<f64>, Option<f64>)| {
        spec.layers
            .iter()
            .map(|l| {
                let (v, p) = f(l);
                (l.layer as f64, v, p)
            })
            .collect::<Vec<_>>()
    };
    let line = |name, colour, points| Line { name, colour, points };
    (
        [
            line("Q", Q_COLOUR, at(|l| (l.q.selectivity, l.q.p))),
            line("K", K_COLOUR, at(|l| (l.k.selectivity, l.k.p))),
            line("V", V_COLOUR, at(|l| (l.v.selectivity, l.v.p))),
        ],
        [line("RSA r", RGBColor(40, 40, 40), at(|l| (l.rsa.r, l.rsa.p)))],
    )
}

/// Draws the two panels; returns where each layer's column is.
pub fn draw_layer_sweep<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    spec: &LayerSweepSpec,
) -> Result<LayerColumns, String> {
    area.fill(&paper()).map_err(drawing_error)?;
    let layers: Vec<usize> = spec.layers.iter().map(|l| l.layer).collect();
    let (lo, hi) = (
        layers.iter().copied().min().unwrap_or(0) as f64,
        layers.iter().copied().max().unwrap_or(0) as f64,
    );
    let x = lo - 0.5..hi + 0.5;
    let (spaces, rsa) = lines(spec);
    let tested = spaces.iter().chain(&rsa).any(|l| l.points.iter().any(|p| p.2.is_some()));

    let mut entries: Vec<(String, Mark)> = spaces.iter().map(|l| (l.name.to_string(), Mark::Line(l.colour))).collect();
    entries.push(("RSA r (Q vs K)".into(), Mark::Line(rsa[0].colour)));
    if tested {
        entries.push((format!("p < {ALPHA}"), Mark::Dot(MARKER_GREY)));
        entries.push((format!("p ≥ {ALPHA}"), Mark::Ring(MARKER_GREY)));
    } else {
        entries.push(("no p-values".into(), Mark::Dot(MARKER_GREY)));
    }
    entries.push((format!("analysed layer {}", spec.analysed), Mark::Dashed(MARKER_GREY)));
    let (w, h) = area.dim_in_pixel();
    let (plots, legend) = area.split_horizontally(w.saturating_sub(legend_width(area, &entries).max(150)));
    let (top, bottom) = plots.split_vertically(h * 11 / 20);

    let values: Vec<f64> = spaces.iter().flat_map(|l| l.points.iter().filter_map(|p| p.1)).collect();
    let y_sel = padded_range(&values);
    let mut chart = panel(
        &top,
        "Selectivity (within / across) by layer",
        x.clone(),
        y_sel.clone(),
        "Selectivity",
        false,
    )?;
    if y_sel.start < 1.0 && 1.0 < y_sel.end {
        // No category structure: within = across.
        chart
            .draw_series(LineSeries::new(vec![(x.start, 1.0), (x.end, 1.0)], GRID_GREY.stroke_width(2)))
            .map_err(drawing_error)?;
    }
    marker(&mut chart, spec.analysed as f64, &y_sel)?;
    draw_lines(&mut chart, &spaces, tested)?;
    let top_rect = rect(&chart);

    let values: Vec<f64> = rsa[0].points.iter().filter_map(|p| p.1).collect();
    let y_r = padded_range(&values);
    let mut chart = panel(&bottom, "RSA r (Q vs K) by layer", x.clone(), y_r.clone(), "Pearson r", true)?;
    marker(&mut chart, spec.analysed as f64, &y_r)?;
    draw_lines(&mut chart, &rsa, tested)?;
    let bottom_rect = rect(&chart);

    draw_legend(&legend, &entries, 40)?;
    if tested {
        let note = font(11).pos(Pos::new(HPos::Left, VPos::Top));
        legend
            .draw_text("permutation p, per test", &note, (4, 40 + 20 * entries.len() as i32))
            .map_err(drawing_error)?;
    }
    Ok(LayerColumns {
        layers,
        x_range: (x.start, x.end),
        panels: vec![top_rect, bottom_rect],
    })
}

//! The permutation null distributions of the analysed layer's statistics as small multiples:
//! selectivity of Q, K and V (category labels permuted), RSA r (Mantel) and Spearman's rho, each
//! with the observed value as a vertical line and its p-value and bootstrap interval in the
//! title; the sixth panel says how they were made.

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::drawing::{drawing_error, DrawResult};
use super::look::{font, inked, paper};
use super::palette::{GRID_GREY, K_COLOUR, Q_COLOUR, V_COLOUR};
use crate::analysis::report::{SelectivityStat, Statistics};
use crate::analysis::Histogram;

/// One panel: a null histogram and the observed value.
pub struct NullPanel<'a> {
    pub title: String,
    pub null: &'a Histogram,
    pub observed: Option<f64>,
    pub colour: RGBColor,
}

fn number(v: Option<f64>) -> String {
    v.map_or("n/a".into(), |v| format!("{v:.3}"))
}

/// A p-value: three decimals, or two significant digits below 0.001.
pub fn format_p(p: Option<f64>) -> String {
    match p {
        Some(p) if p < 0.001 => format!("{p:.1e}"),
        Some(p) => format!("{p:.3}"),
        None => "n/a".into(),
    }
}

/// "95%" (or "97.5%").
pub fn format_confidence(confidence: f64) -> String {
    let pc = 100.0 * confidence;
    if (pc - pc.round()).abs() < 1e-9 {
        format!("{pc:.0}%")
    } else {
        format!("{pc}%")
    }
}

/// "Q selectivity 1.083, p = 0.001, 95% CI [1.050, 1.120]".
pub fn stat_title(what: &str, observed: Option<f64>, p: Option<f64>, ci: Option<[f64; 2]>, confidence: f64) -> String {
    let ci = ci.map_or("n/a".into(), |[a, b]| format!("[{a:.3}, {b:.3}]"));
    format!(
        "{what} {}, p = {}, {} CI {ci}",
        number(observed),
        format_p(p),
        format_confidence(confidence)
    )
}

/// The five panels of a statistics block, in figure order.
pub fn null_panels(s: &Statistics) -> Vec<NullPanel<'_>> {
    let c = s.confidence;
    fn sel<'a>(name: &str, x: &'a SelectivityStat, colour: RGBColor, c: f64) -> NullPanel<'a> {
        NullPanel {
            title: stat_title(&format!("{name} selectivity"), x.observed, x.p, x.ci, c),
            null: &x.null_histogram,
            observed: x.observed,
            colour,
        }
    }
    let (pearson, spearman) = (&s.rsa.pearson, &s.rsa.spearman);
    vec![
        sel("Q", &s.q.selectivity, Q_COLOUR, c),
        sel("K", &s.k.selectivity, K_COLOUR, c),
        sel("V", &s.v.selectivity, V_COLOUR, c),
        NullPanel {
            title: stat_title("RSA r", pearson.r, pearson.p, pearson.ci, c),
            null: &pearson.null_histogram,
            observed: pearson.r,
            colour: RGBColor(90, 90, 90),
        },
        NullPanel {
            title: stat_title("Spearman ρ", spearman.rho, spearman.p, spearman.ci, c),
            null: &spearman.null_histogram,
            observed: spearman.rho,
            colour: RGBColor(140, 140, 140),
        },
    ]
}

fn draw_panel<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, panel: &NullPanel) -> DrawResult {
    let h = panel.null;
    let observed = panel.observed.filter(|v| v.is_finite());
    let (mut lo, mut hi) = h
        .edges
        .iter()
        .chain(observed.as_ref())
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &v| (lo.min(v), hi.max(v)));
    if lo >= hi {
        (lo, hi) = if lo.is_finite() { (lo - 0.5, lo + 0.5) } else { (0.0, 1.0) };
    }
    let pad = 0.04 * (hi - lo);
    let top = h.counts.iter().copied().max().unwrap_or(0) as f64 * 1.1;
    let mut chart = ChartBuilder::on(area)
        .caption(&panel.title, font(12))
        .margin(8)
        .x_label_area_size(34)
        .y_label_area_size(44)
        .build_cartesian_2d(lo - pad..hi + pad, 0f64..top.max(1.0))
        .map_err(drawing_error)?;
    inked(&mut chart.configure_mesh())
        .disable_x_mesh()
        .light_line_style(TRANSPARENT)
        .bold_line_style(GRID_GREY.mix(0.5))
        .x_labels(5)
        .y_labels(4)
        .x_label_formatter(&|v| format!("{v:.3}"))
        .y_label_formatter(&|v| if v.fract() == 0.0 { format!("{v:.0}") } else { String::new() })
        .y_desc("Permutations")
        .label_style(font(10))
        .axis_desc_style(font(11))
        .draw()
        .map_err(drawing_error)?;
    chart
        .draw_series(
            h.counts
                .iter()
                .zip(h.edges.windows(2))
                .map(|(&c, e)| Rectangle::new([(e[0], 0.0), (e[1], c as f64)], panel.colour.mix(0.55).filled())),
        )
        .map_err(drawing_error)?;
    if let Some(v) = observed {
        chart
            .draw_series(LineSeries::new(vec![(v, 0.0), (v, top.max(1.0))], BLACK.stroke_width(2)))
            .map_err(drawing_error)?;
    }
    Ok(())
}

/// The method panel: what the null distributions are.
fn draw_notes<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, s: &Statistics) -> DrawResult {
    let lines = [
        format!("Null distributions, layer {}", s.layer),
        format!("{} permutations, seed {}", s.permutations, s.seed),
        "selectivity: category labels permuted".into(),
        "RSA: Mantel (K's words permuted)".into(),
        "p = (1 + #{null ≥ observed}) / (N + 1)".into(),
        format!(
            "{} CI: bootstrap over words ({})",
            format_confidence(s.confidence),
            s.bootstrap
        ),
        format!("vectors mean-centred: {}", if s.centered { "yes" } else { "no" }),
        "black line: the observed value".into(),
    ];
    let style = font(12).pos(Pos::new(HPos::Left, VPos::Top));
    for (i, line) in lines.iter().enumerate() {
        area.draw_text(line, &style, (20, 30 + 22 * i as i32))
            .map_err(drawing_error)?;
    }
    Ok(())
}

/// Draws the 2 × 3 small multiples.
pub fn draw_null_distributions<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, stats: &Statistics) -> DrawResult {
    area.fill(&paper()).map_err(drawing_error)?;
    let cells = area.split_evenly((2, 3));
    for (panel, cell) in null_panels(stats).iter().zip(&cells) {
        draw_panel(cell, panel)?;
    }
    draw_notes(&cells[5], stats)
}

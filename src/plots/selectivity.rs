//! The selectivity index of Q and K with what it is made of: for each representation, the mean
//! within-category and mean across-category similarity as bars, each category's own within
//! mean as a dot in the category's colour, and the index (within / across) in the title.

use std::ops::Range;

use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::drawing::{drawing_error, DrawResult};
use super::legend::{draw_legend, legend_width, Mark};
use super::look::{font, ink, inked, paper};
use super::palette::{category_colour, GRID_GREY};

/// One representation's numbers; None where undefined (drawn as "n/a").
pub struct SelectivityBars<'a> {
    pub name: &'a str,
    pub index: Option<f64>,
    pub within: Option<f64>,
    pub across: Option<f64>,
    /// The within mean of each category, in category order (None: a category without pairs).
    pub within_by_category: &'a [Option<f64>],
}

pub struct SelectivitySpec<'a> {
    /// Usually Q then K.
    pub spaces: &'a [SelectivityBars<'a>],
    pub category_names: &'a [String],
}

pub const WITHIN_GREY: RGBColor = RGBColor(77, 77, 77);
pub const ACROSS_GREY: RGBColor = RGBColor(189, 189, 189);

fn value(v: Option<f64>) -> String {
    v.map_or("n/a".into(), |v| format!("{v:.3}"))
}

/// "Selectivity index: Q = 0.994, K = 1.000".
pub fn selectivity_title(spaces: &[SelectivityBars]) -> String {
    let parts: Vec<String> = spaces.iter().map(|s| format!("{} = {}", s.name, value(s.index))).collect();
    format!("Selectivity index: {}", parts.join(", "))
}

type Chart<'a, DB> = ChartContext<'a, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

/// Half a bar's width and the gap between a space's two bars, in data units (a space is 1 wide).
const HALF: f64 = 0.18;
const GAP: f64 = 0.02;

pub fn draw_selectivity<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, spec: &SelectivitySpec) -> DrawResult {
    area.fill(&paper()).map_err(drawing_error)?;
    let mut entries = vec![
        ("within mean".to_string(), Mark::Square(WITHIN_GREY)),
        ("across mean".to_string(), Mark::Square(ACROSS_GREY)),
    ];
    entries.extend(
        spec.category_names
            .iter()
            .enumerate()
            .map(|(c, name)| (name.clone(), Mark::Dot(category_colour(c)))),
    );
    let (w, _) = area.dim_in_pixel();
    let (main, legend) = area.split_horizontally(w.saturating_sub(legend_width(area, &entries)));
    let y_range = y_range(spec);
    let n = spec.spaces.len().max(1);
    let mut chart = ChartBuilder::on(&main)
        .caption(selectivity_title(spec.spaces), font(16))
        .margin(10)
        .x_label_area_size(44)
        .y_label_area_size(52)
        .build_cartesian_2d(0f64..n as f64, y_range.clone())
        .map_err(drawing_error)?;
    inked(&mut chart.configure_mesh())
        .disable_x_mesh()
        .x_labels(0)
        .light_line_style(TRANSPARENT)
        .bold_line_style(GRID_GREY.mix(0.6))
        .y_labels(6)
        .y_label_formatter(&|v| format!("{v:.2}"))
        .y_desc("Mean cosine similarity")
        .label_style(font(12))
        .axis_desc_style(font(14))
        .draw()
        .map_err(drawing_error)?;
    for (g, space) in spec.spaces.iter().enumerate() {
        draw_space(&mut chart, g as f64 + 0.5, space, &y_range)?;
    }
    draw_legend(&legend, &entries, 40)
}

/// The y axis: every mean and 0, with room above for the values and below for negative bars.
fn y_range(spec: &SelectivitySpec) -> Range<f64> {
    let values: Vec<f64> = spec
        .spaces
        .iter()
        .flat_map(|s| [s.within, s.across].into_iter().chain(s.within_by_category.iter().copied()))
        .flatten()
        .filter(|v| v.is_finite())
        .collect();
    let lo = values.iter().copied().fold(0.0, f64::min);
    let hi = values.iter().copied().fold(0.0, f64::max);
    let (lo, hi) = if hi > lo { (lo, hi) } else { (0.0, 1.0) };
    lo - (if lo < 0.0 { 0.08 * (hi - lo) } else { 0.0 })..hi + 0.1 * (hi - lo)
}

/// One space's within and across bars, its categories' within means as dots, and its name.
fn draw_space<DB: DrawingBackend>(
    chart: &mut Chart<DB>,
    centre: f64,
    space: &SelectivityBars,
    y_range: &Range<f64>,
) -> DrawResult {
    let below = font(11).pos(Pos::new(HPos::Center, VPos::Top));
    // Text at a data point (x, y), dy pixels down.
    let text_at = |x: f64, y: f64, dy: i32, s: String, style: &TextStyle<'static>| {
        EmptyElement::at((x, y)) + Text::new(s, (0, dy), style.clone())
    };
    let bars = [
        (space.within, WITHIN_GREY, true, centre - GAP - HALF, "within"),
        (space.across, ACROSS_GREY, false, centre + GAP + HALF, "across"),
    ];
    for (v, colour, white_ink, x, what) in bars {
        let v = v.filter(|v| v.is_finite());
        if let Some(v) = v {
            chart
                .draw_series(std::iter::once(Rectangle::new(
                    [(x - HALF, v.max(0.0)), (x + HALF, v.min(0.0))],
                    colour.filled(),
                )))
                .map_err(drawing_error)?;
        }
        // The value inside the bar, at its base (clear of the category dots near the top);
        // above the base in black when the bar is too short to hold it, or missing.
        let tall = v.is_some_and(|v| (chart.backend_coord(&(x, v)).1 - chart.backend_coord(&(x, 0.0)).1).abs() > 20);
        // Inside a bar the ink suits the bar's grey; outside it, the paper.
        let ink = match (tall, white_ink) {
            (true, true) => WHITE,
            (true, false) => BLACK,
            (false, _) => ink(),
        };
        let label = TextStyle {
            color: ink.to_backend_color(),
            ..font(11).pos(Pos::new(HPos::Center, VPos::Bottom))
        };
        let base = if tall && v.is_some_and(|v| v < 0.0) {
            v.unwrap_or(0.0)
        } else {
            0.0f64.max(y_range.start)
        };
        chart
            .draw_series([
                text_at(x, base, -4, value(v), &label),
                text_at(x, y_range.start, 4, what.to_string(), &below),
            ])
            .map_err(drawing_error)?;
    }
    // Each category's within mean, spread across the within bar.
    let k = space.within_by_category.len();
    let x0 = centre - GAP - 2.0 * HALF;
    chart
        .draw_series(space.within_by_category.iter().enumerate().filter_map(|(c, m)| {
            let m = m.filter(|m| m.is_finite())?;
            let x = x0 + 2.0 * HALF * (c + 1) as f64 / (k + 1) as f64;
            Some(
                EmptyElement::at((x, m))
                    + Circle::new((0, 0), 5, category_colour(c).filled())
                    + Circle::new((0, 0), 5, BLACK.stroke_width(1)),
            )
        }))
        .map_err(drawing_error)?;
    let name_style = font(14).pos(Pos::new(HPos::Center, VPos::Top));
    chart
        .draw_series(std::iter::once(text_at(
            centre,
            y_range.start,
            20,
            space.name.to_string(),
            &name_style,
        )))
        .map_err(drawing_error)?;
    Ok(())
}

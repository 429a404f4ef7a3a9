//! RSA per category: one panel per category, side by side. Every pair is drawn in light grey
//! for context and the category's within pairs in the category's colour, r in each title.

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::drawing::{drawing_error, DrawResult};
use super::look::{font, paper};
use super::palette::{category_colour, CONTEXT_GREY};
use super::scale::padded_range;
use super::scatter::{mark, rsa_title, scatter_chart, square};

pub struct RsaCategoriesSpec<'a> {
    /// Q similarities of the upper-triangle pairs (i < j, row-major).
    pub q: &'a [f64],
    /// K similarities of the same pairs.
    pub k: &'a [f64],
    /// Category index (0-based) of each word; pairs are those of these words, in `q`'s order.
    pub categories: &'a [usize],
    pub category_names: &'a [String],
    /// Pearson r over each category's within pairs (None when undefined).
    pub r: &'a [Option<f64>],
    /// Index (into `q`/`k`) of a pair to mark in every panel.
    pub highlight: Option<usize>,
}

pub fn draw_rsa_per_category<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, spec: &RsaCategoriesSpec) -> DrawResult {
    let n = spec.categories.len();
    let pairs: Vec<(usize, usize)> = (0..n).flat_map(|i| (i + 1..n).map(move |j| (i, j))).collect();
    if spec.q.len() != pairs.len() || spec.k.len() != pairs.len() {
        return Err(format!(
            "RSA per category: {n} words make {} pairs, got {} Q and {} K values",
            pairs.len(),
            spec.q.len(),
            spec.k.len()
        ));
    }
    area.fill(&paper()).map_err(drawing_error)?;
    let (x, y) = (padded_range(spec.q), padded_range(spec.k));
    let context = CONTEXT_GREY.mix(0.5);
    let panels = area.split_evenly((1, spec.category_names.len().max(1)));
    for (c, (panel, name)) in panels.iter().zip(spec.category_names).enumerate() {
        let title = rsa_title(&format!("RSA ({name})"), spec.r.get(c).copied().flatten());
        let mut chart = scatter_chart(panel, &title, x.clone(), y.clone())?;
        let points = || spec.q.iter().zip(spec.k).zip(&pairs).map(|((&q, &k), &p)| ((q, k), p));
        chart
            .draw_series(points().map(|(at, _)| square::<DB>(at, context, None)))
            .map_err(drawing_error)?;
        let within = |&(_, (i, j)): &((f64, f64), (usize, usize))| spec.categories[i] == c && spec.categories[j] == c;
        let colour = category_colour(c).mix(0.85);
        chart
            .draw_series(points().filter(within).map(|(at, _)| square::<DB>(at, colour, Some(BLACK))))
            .map_err(drawing_error)?;
        if let Some(at) = spec.highlight.and_then(|i| Some((*spec.q.get(i)?, *spec.k.get(i)?))) {
            chart.draw_series(std::iter::once(mark::<DB>(at))).map_err(drawing_error)?;
        }
        if !points().any(|p| within(&p)) {
            // Say so in the middle of the panel, on a white box over the grey points.
            let text = "no within-category pairs";
            let style = font(13).pos(Pos::new(HPos::Center, VPos::Center));
            let (w, h) = panel.estimate_text_size(text, &style).map_err(drawing_error)?;
            let (w, h) = (w as i32 / 2 + 6, h as i32 / 2 + 4);
            let middle = ((x.start + x.end) / 2.0, (y.start + y.end) / 2.0);
            chart
                .draw_series(std::iter::once(
                    EmptyElement::at(middle)
                        + Rectangle::new([(-w, -h), (w, h)], paper().mix(0.9).filled())
                        + Text::new(text, (0, 0), style),
                ))
                .map_err(drawing_error)?;
        }
    }
    Ok(())
}

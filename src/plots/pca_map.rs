//! 2-D PCA maps of the words: one small scatter per representation (Q, K, V), each word a dot
//! in its category's colour labelled with the word, axes titled with each component's share of
//! the variance; a word pair picked elsewhere ringed.

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::drawing::{drawing_error, DrawResult};
use super::legend::{draw_legend, legend_width, Mark};
use super::look::{font, inked, paper};
use super::palette::{category_colour, GRID_GREY};
use super::scale::padded_range;
use crate::analysis::pca::Pca;

pub struct PcaPanel<'a> {
    /// "Q", "K" or "V".
    pub name: &'a str,
    pub pca: &'a Pca,
}

pub struct PcaMapSpec<'a> {
    pub panels: &'a [PcaPanel<'a>],
    pub labels: &'a [String],
    /// Category index of each word.
    pub categories: &'a [usize],
    pub category_names: &'a [String],
    /// A word pair picked elsewhere: both words ringed in every panel.
    pub highlight: Option<(usize, usize)>,
}

/// "PC1 (43.2 %)": component `pc` (1-based) and its share of the variance.
pub fn pca_axis_title(pc: usize, ratio: f64) -> String {
    format!("PC{pc} ({:.1} %)", 100.0 * ratio)
}

fn draw_panel<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, panel: &PcaPanel, spec: &PcaMapSpec) -> DrawResult {
    let coords = &panel.pca.coords;
    let xs: Vec<f64> = coords.iter().map(|c| c[0]).collect();
    let ys: Vec<f64> = coords.iter().map(|c| c[1]).collect();
    let x = padded_range(&xs);
    // Room on the right for the labels of the rightmost words.
    let x = x.start..x.end + 0.12 * (x.end - x.start);
    let y = padded_range(&ys);
    let ratio = panel.pca.explained_variance_ratio;
    let mut chart = ChartBuilder::on(area)
        .caption(format!("{} (PCA)", panel.name), font(15))
        .margin(8)
        .x_label_area_size(40)
        .y_label_area_size(50)
        .build_cartesian_2d(x, y)
        .map_err(drawing_error)?;
    inked(&mut chart.configure_mesh())
        .light_line_style(TRANSPARENT)
        .bold_line_style(GRID_GREY.mix(0.5))
        .x_labels(5)
        .y_labels(5)
        .x_label_formatter(&|v| format!("{v:.2}"))
        .y_label_formatter(&|v| format!("{v:.2}"))
        .x_desc(pca_axis_title(1, ratio[0]))
        .y_desc(pca_axis_title(2, ratio[1]))
        .label_style(font(11))
        .axis_desc_style(font(12))
        .draw()
        .map_err(drawing_error)?;
    let label = font(9).pos(Pos::new(HPos::Left, VPos::Center));
    chart
        .draw_series(coords.iter().enumerate().map(|(i, c)| {
            let colour = category_colour(spec.categories.get(i).copied().unwrap_or(0));
            let word = spec.labels.get(i).cloned().unwrap_or_default();
            EmptyElement::at((c[0], c[1]))
                + Circle::new((0, 0), 4, colour.filled())
                + Circle::new((0, 0), 4, BLACK.stroke_width(1))
                + Text::new(word, (6, 0), label.clone())
        }))
        .map_err(drawing_error)?;
    if let Some((i, j)) = spec.highlight {
        chart
            .draw_series([i, j].into_iter().filter_map(|k| coords.get(k)).map(|c| {
                EmptyElement::at((c[0], c[1]))
                    + Circle::new((0, 0), 8, RED.stroke_width(2))
                    + Circle::new((0, 0), 10, WHITE.stroke_width(1))
            }))
            .map_err(drawing_error)?;
    }
    Ok(())
}

/// Draws one panel per representation side by side, and the categories' legend.
pub fn draw_pca_map<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, spec: &PcaMapSpec) -> DrawResult {
    area.fill(&paper()).map_err(drawing_error)?;
    let entries: Vec<(String, Mark)> = spec
        .category_names
        .iter()
        .enumerate()
        .map(|(c, name)| (name.clone(), Mark::Dot(category_colour(c))))
        .collect();
    let (w, _) = area.dim_in_pixel();
    let (main, legend) = area.split_horizontally(w.saturating_sub(legend_width(area, &entries)));
    let cells = main.split_evenly((1, spec.panels.len().max(1)));
    for (panel, cell) in spec.panels.iter().zip(&cells) {
        draw_panel(cell, panel, spec)?;
    }
    draw_legend(&legend, &entries, 40)
}

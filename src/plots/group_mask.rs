//! The group mask (the lecture's `np.triu(g.T @ g, 1)`): which word pairs are within-category
//! pairs, drawn as a word × word image coloured by category, with a legend of the categories.

use plotters::coord::Shift;
use plotters::prelude::*;

use super::cells::CellLayer;
use super::drawing::drawing_error;
use super::grid::{draw_grid, Grid};
use super::legend::{draw_legend, legend_width, Mark};
use super::look::paper;
use super::palette::{category_colour, EMPTY_GREY};

/// For every pair i < j: the category index + 1 when both words are in the same category,
/// otherwise (and on and below the diagonal) 0. `labels[i]` is the 0-based category of word i.
pub fn group_mask(labels: &[usize]) -> Vec<Vec<u32>> {
    let n = labels.len();
    (0..n)
        .map(|i| {
            (0..n)
                .map(|j| {
                    if i < j && labels[i] == labels[j] {
                        labels[i] as u32 + 1
                    } else {
                        0
                    }
                })
                .collect()
        })
        .collect()
}

pub struct GroupMaskSpec<'a> {
    pub title: &'a str,
    /// The words, labelling rows and columns.
    pub labels: &'a [String],
    /// Category index (0-based) of each word.
    pub categories: &'a [usize],
    /// Category names, in index order, for the legend.
    pub category_names: &'a [String],
}

/// Draws the group mask but for its cells; returns them for the backend to paint.
pub fn draw_group_mask<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, spec: &GroupMaskSpec) -> Result<CellLayer, String> {
    let mask = group_mask(spec.categories);
    let n = spec.labels.len().min(mask.len());
    area.fill(&paper()).map_err(drawing_error)?;
    let entries: Vec<(String, Mark)> = spec
        .category_names
        .iter()
        .enumerate()
        .map(|(c, name)| (name.clone(), Mark::Square(category_colour(c))))
        .chain(std::iter::once(("other pairs".to_string(), Mark::Square(EMPTY_GREY))))
        .collect();
    let (w, _) = area.dim_in_pixel();
    let (main, legend) = area.split_horizontally(w.saturating_sub(legend_width(area, &entries)));
    let drawn = draw_grid(
        &main,
        &Grid {
            title: spec.title,
            caption_size: 16,
            n,
            labels: spec.labels,
            categories: spec.categories,
            highlight: None,
        },
        |i, j| match mask[i][j] {
            0 => EMPTY_GREY,
            k => category_colour(k as usize - 1),
        },
    )?;
    // Legend: a swatch and a name per category, level with the top of the image.
    draw_legend(&legend, &entries, 32)?;
    Ok(drawn)
}

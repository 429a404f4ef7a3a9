//! Cosine-similarity heatmap with word labels, category separators and a colour bar
//! (the lecture's `imshow` with `vmin`/`vmax`).

use plotters::coord::Shift;
use plotters::prelude::*;

use super::cells::CellLayer;
use super::colour_bar::draw_colour_bar;
use super::drawing::drawing_error;
use super::grid::{draw_grid, Grid};
use super::look::paper;
use super::scale::{colour, ColourRange};

pub struct HeatmapSpec<'a> {
    pub title: &'a str,
    pub matrix: &'a [Vec<f64>],
    pub labels: &'a [String],
    /// Category index of each row, to draw separators between categories.
    pub categories: &'a [usize],
    pub range: ColourRange,
    /// One cell (row, column) to outline, e.g. the pair under the pointer in another figure.
    pub highlight: Option<(usize, usize)>,
}

impl HeatmapSpec<'_> {
    /// The colour limits in force: auto uses the off-diagonal values (the diagonal is 1).
    pub fn limits(&self) -> (f64, f64) {
        self.range.limits(self.matrix)
    }
}

/// Draws the heatmap but for its cells; returns them (with the separators and the highlight) for
/// the backend to paint, and where they are.
pub fn draw_cosine_heatmap<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, spec: &HeatmapSpec) -> Result<CellLayer, String> {
    let n = spec.matrix.len();
    let (lo, hi) = spec.limits();
    area.fill(&paper()).map_err(drawing_error)?;
    let (w, _) = area.dim_in_pixel();
    let (main, bar) = area.split_horizontally(w.saturating_sub(64));
    let cells = draw_grid(
        &main,
        &Grid {
            title: spec.title,
            caption_size: 16,
            n,
            labels: spec.labels,
            categories: spec.categories,
            highlight: spec.highlight,
        },
        |i, j| colour(spec.matrix[i][j], lo, hi),
    )?;
    draw_colour_bar(&bar, lo, hi)?;
    Ok(cells)
}

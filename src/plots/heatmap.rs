//! Cosine-similarity heatmap with word labels, category separators and a colour bar
//! (the lecture's `imshow` with `vmin`/`vmax`).

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::colors::colormaps::ViridisRGB;

use super::grid::{draw_grid, CellGrid, CellLayer, Grid};
use super::{drawing_error, DrawResult};

/// Colour limits: from the data (off-diagonal min..max) or fixed like the lecture's.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ColourRange {
    Auto,
    Fixed(f64, f64),
}

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
        match self.range {
            ColourRange::Fixed(lo, hi) => (lo, hi),
            ColourRange::Auto => {
                let n = self.matrix.len();
                let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
                for i in 0..n {
                    for j in 0..n {
                        if i != j {
                            lo = lo.min(self.matrix[i][j]);
                            hi = hi.max(self.matrix[i][j]);
                        }
                    }
                }
                if lo < hi {
                    (lo, hi)
                } else {
                    (lo - 0.5, lo + 0.5)
                }
            }
        }
    }
}

pub(crate) fn colour(v: f64, lo: f64, hi: f64) -> RGBColor {
    // Values outside the limits are clipped, as imshow does.
    ViridisRGB.get_color_normalized(v.clamp(lo, hi) as f32, lo as f32, hi as f32)
}

/// Draws the heatmap; returns where its cells are, for pointer hit-testing.
pub fn draw_cosine_heatmap<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, spec: &HeatmapSpec) -> Result<CellGrid, String> {
    draw_cosine_heatmap_layered(area, spec, false).map(|(cells, _)| cells)
}

/// `draw_cosine_heatmap`, with the cells of a big grid left to the caller when `cells_as_image`.
pub(crate) fn draw_cosine_heatmap_layered<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    spec: &HeatmapSpec,
    cells_as_image: bool,
) -> Result<(CellGrid, Option<CellLayer>), String> {
    let n = spec.matrix.len();
    let (lo, hi) = spec.limits();
    area.fill(&WHITE).map_err(drawing_error)?;
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
            cells_as_image,
        },
        |i, j| colour(spec.matrix[i][j], lo, hi),
    )?;
    draw_colour_bar(&bar, lo, hi)?;
    Ok(cells)
}

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
    chart
        .configure_mesh()
        .disable_mesh()
        .disable_x_axis()
        .y_labels(6)
        .y_label_formatter(&|v| format!("{v:.2}"))
        .label_style(("sans-serif", 11))
        .draw()
        .map_err(drawing_error)?;
    Ok(())
}

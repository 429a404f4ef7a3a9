//! A word × word grid with word labels on both axes and category separators: the body shared by
//! the cosine heatmaps, the group mask and the Q·K matrix. It draws the frame and the labels and
//! returns the cells, the separators and the highlight as a `CellLayer` for the backend to paint.

use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::cells::{CellLayer, OverlayPath};
use super::drawing::{drawing_error, ring, DrawResult};
use super::look::font;

pub(crate) struct Grid<'a> {
    pub title: &'a str,
    /// Font size of the title.
    pub caption_size: u32,
    pub n: usize,
    pub labels: &'a [String],
    /// Category index of each row; separators go where it changes.
    pub categories: &'a [usize],
    pub highlight: Option<(usize, usize)>,
}

type GridArea<'a, DB> = DrawingArea<DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

const LABEL_PX: i32 = 11;

/// Draws the grid's frame and labels on `main`, row 0 at the top (as imshow draws a matrix), and
/// returns its cells coloured by `cell` with the separators and the highlight to paint over them.
pub(crate) fn draw_grid<DB: DrawingBackend>(
    main: &DrawingArea<DB, Shift>,
    grid: &Grid,
    cell: impl Fn(usize, usize) -> RGBColor,
) -> Result<CellLayer, String> {
    let n = grid.n;
    let chart = ChartBuilder::on(main)
        .caption(grid.title, font(grid.caption_size))
        .margin(6)
        .x_label_area_size(70)
        .y_label_area_size(70)
        .build_cartesian_2d(0f64..n as f64, 0f64..n as f64)
        .map_err(drawing_error)?;
    let plot = chart.plotting_area();
    // Cell edges in the backend's pixels: column j at data x = j, row i at data y = n - i.
    let xs: Vec<i32> = (0..=n).map(|j| plot.map_coordinate(&(j as f64, 0.0)).0).collect();
    let ys: Vec<i32> = (0..=n).map(|i| plot.map_coordinate(&(0.0, (n - i) as f64)).1).collect();
    let colours = (0..n)
        .flat_map(|i| (0..n).map(move |j| (i, j)))
        .map(|(i, j)| cell(i, j))
        .collect();
    draw_labels(main, plot, grid)?;
    let mut overlay = separators(plot, n, grid.categories);
    if let Some((i, j)) = grid.highlight.filter(|&(i, j)| i < n && j < n) {
        // A black outline with a white one inside, visible on any colour.
        let (a, b) = ((xs[j], ys[i]), (xs[j + 1], ys[i + 1]));
        for (d, colour, width) in [(1, BLACK, 2), (-1, WHITE, 1)] {
            overlay.push(OverlayPath {
                points: ring(a, b, d),
                colour,
                width,
            });
        }
    }
    Ok(CellLayer {
        xs,
        ys,
        colours,
        overlay,
    })
}

/// White lines between rows and columns where the category changes, in the backend's pixels.
fn separators<DB: DrawingBackend>(plot: &GridArea<DB>, n: usize, categories: &[usize]) -> Vec<OverlayPath> {
    let cuts = (1..n)
        .filter(|&i| categories.get(i) != categories.get(i - 1))
        .map(|i| i as f64);
    let nf = n as f64;
    cuts.flat_map(|c| [[(c, 0.0), (c, nf)], [(0.0, nf - c), (nf, nf - c)]])
        .map(|line| OverlayPath {
            points: line.iter().map(|p| plot.map_coordinate(p)).collect(),
            colour: WHITE,
            width: 2,
        })
        .collect()
}

/// Every `step`-th word such that labels never overlap: one per cell while cells are at least a
/// label high, else every second, third... (520 words in 500 pixels: every 11th).
pub fn label_step(n: usize, cell_px: f64) -> usize {
    let needed = LABEL_PX as f64 + 1.0;
    if n == 0 || cell_px >= needed {
        1
    } else {
        (needed / cell_px.max(1e-9)).ceil() as usize
    }
}

/// The words on both axes, rotated on x; thinned out where the cells are smaller than a label.
fn draw_labels<DB: DrawingBackend>(main: &DrawingArea<DB, Shift>, plot: &GridArea<DB>, grid: &Grid) -> DrawResult {
    let n = grid.n;
    // Pixel positions from the chart are the backend's; `main` draws relative to its corner.
    let base = main.get_base_pixel();
    let px = |x: f64, y: f64| {
        let (a, b) = plot.map_coordinate(&(x, y));
        (a - base.0, b - base.1)
    };
    let x_style = font(LABEL_PX as u32)
        .transform(FontTransform::Rotate90)
        .pos(Pos::new(HPos::Left, VPos::Center));
    let y_style = font(LABEL_PX as u32).pos(Pos::new(HPos::Right, VPos::Center));
    let cell_px = (px(n as f64, 0.0).0 - px(0.0, 0.0).0).abs() as f64 / n.max(1) as f64;
    let step = label_step(n, cell_px);
    for (i, word) in grid.labels.iter().enumerate().take(n).step_by(step) {
        let (x_px, y_bottom) = px(i as f64 + 0.5, 0.0);
        main.draw_text(word, &x_style, (x_px - LABEL_PX / 2, y_bottom + 4))
            .map_err(drawing_error)?;
        let (x_left, y_px) = px(0.0, (n - i) as f64 - 0.5);
        main.draw_text(word, &y_style, (x_left - 4, y_px)).map_err(drawing_error)?;
    }
    Ok(())
}

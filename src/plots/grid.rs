//! A word × word grid of coloured cells with word labels on both axes and category separators:
//! the body shared by the cosine heatmap and the group mask.

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::drawing_error;

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

/// Where a grid's cells landed, in the backend's pixels: for finding the cell under a pointer.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CellGrid {
    pub n: usize,
    /// Top-left corner of cell (0, 0) and bottom-right corner of cell (n-1, n-1).
    pub top_left: (i32, i32),
    pub bottom_right: (i32, i32),
}

impl CellGrid {
    /// The (row, column) under pixel (x, y), if any.
    pub fn cell_at(&self, x: f64, y: f64) -> Option<(usize, usize)> {
        let (x0, y0) = (self.top_left.0 as f64, self.top_left.1 as f64);
        let (w, h) = (
            (self.bottom_right.0 - self.top_left.0) as f64,
            (self.bottom_right.1 - self.top_left.1) as f64,
        );
        if self.n == 0 || w <= 0.0 || h <= 0.0 || x < x0 || y < y0 || x >= x0 + w || y >= y0 + h {
            return None;
        }
        let col = ((x - x0) / w * self.n as f64) as usize;
        let row = ((y - y0) / h * self.n as f64) as usize;
        Some((row.min(self.n - 1), col.min(self.n - 1)))
    }
}

/// Draws the grid on `main`, row 0 at the top (as imshow draws a matrix).
pub(crate) fn draw_grid<DB: DrawingBackend>(
    main: &DrawingArea<DB, Shift>,
    grid: &Grid,
    cell: impl Fn(usize, usize) -> RGBColor,
) -> Result<CellGrid, String> {
    let n = grid.n;
    let label_px = 11;
    let mut chart = ChartBuilder::on(main)
        .caption(grid.title, ("sans-serif", grid.caption_size))
        .margin(6)
        .x_label_area_size(70)
        .y_label_area_size(70)
        .build_cartesian_2d(0f64..n as f64, 0f64..n as f64)
        .map_err(drawing_error)?;
    let y = |i: usize| (n - i) as f64;
    chart
        .draw_series(
            (0..n)
                .flat_map(|i| (0..n).map(move |j| (i, j)))
                .map(|(i, j)| Rectangle::new([(j as f64, y(i)), (j as f64 + 1.0, y(i + 1))], cell(i, j).filled())),
        )
        .map_err(drawing_error)?;
    // Category separators: lines between rows/columns where the category changes.
    let cuts: Vec<f64> = (1..n)
        .filter(|&i| grid.categories.get(i) != grid.categories.get(i - 1))
        .map(|i| i as f64)
        .collect();
    for &c in &cuts {
        let style = WHITE.stroke_width(2);
        chart
            .draw_series(LineSeries::new(vec![(c, 0.0), (c, n as f64)], style))
            .map_err(drawing_error)?;
        chart
            .draw_series(LineSeries::new(vec![(0.0, n as f64 - c), (n as f64, n as f64 - c)], style))
            .map_err(drawing_error)?;
    }
    // Pixel positions from the chart are the backend's; `main` draws relative to its corner.
    let plot = chart.plotting_area();
    let base = main.get_base_pixel();
    let px = |x: f64, y: f64| {
        let (a, b) = plot.map_coordinate(&(x, y));
        (a - base.0, b - base.1)
    };
    // Word labels: every word on both axes, rotated on x.
    let font = ("sans-serif", label_px).into_font();
    for (i, word) in grid.labels.iter().enumerate().take(n) {
        let (x_px, y_bottom) = px(i as f64 + 0.5, 0.0);
        let x_style = TextStyle::from(font.clone().transform(FontTransform::Rotate90)).pos(Pos::new(HPos::Left, VPos::Center));
        main.draw_text(word, &x_style, (x_px - label_px / 2, y_bottom + 4))
            .map_err(drawing_error)?;
        let (x_left, y_px) = px(0.0, y(i) - 0.5);
        let y_style = TextStyle::from(font.clone()).pos(Pos::new(HPos::Right, VPos::Center));
        main.draw_text(word, &y_style, (x_left - 4, y_px)).map_err(drawing_error)?;
    }
    // The highlighted cell: a black outline with a white one inside, visible on any colour.
    if let Some((i, j)) = grid.highlight.filter(|&(i, j)| i < n && j < n) {
        let (x0, y0) = px(j as f64, y(i));
        let (x1, y1) = px(j as f64 + 1.0, y(i + 1));
        let ring = |d: i32| {
            vec![
                (x0 - d, y0 - d),
                (x1 + d, y0 - d),
                (x1 + d, y1 + d),
                (x0 - d, y1 + d),
                (x0 - d, y0 - d),
            ]
        };
        main.draw(&PathElement::new(ring(1), BLACK.stroke_width(2)))
            .map_err(drawing_error)?;
        main.draw(&PathElement::new(ring(-1), WHITE.stroke_width(1)))
            .map_err(drawing_error)?;
    }
    Ok(CellGrid {
        n,
        top_left: plot.map_coordinate(&(0.0, n as f64)),
        bottom_right: plot.map_coordinate(&(n as f64, 0.0)),
    })
}

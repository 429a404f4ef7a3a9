//! A word × word grid of coloured cells with word labels on both axes and category separators:
//! the body shared by the cosine heatmap and the group mask.

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::{drawing_error, DrawResult};

/// From this many words on, a grid drawn for a backend that paints cell images (the page's
/// canvas, `draw_figure_with_cell_image`) leaves its cells to one image. A cell as a canvas
/// `fillRect` through wasm-bindgen costs ~1.1 µs (headless Chromium, 520 words: ~300 ms a heatmap);
/// the image costs one pass over the cell area's ~420 × 400 pixels and one `putImageData`, a few
/// ms whatever n is: about what 64² rectangles cost. Below it the rectangles stay (≤ 4k calls, cells
/// ≥ 6 px wide), so the canvas gets exactly the calls the SVG export writes; both give the same
/// pixels (see `CellImage`).
pub const IMAGE_MIN_WORDS: usize = 64;

pub(crate) struct Grid<'a> {
    pub title: &'a str,
    /// Font size of the title.
    pub caption_size: u32,
    pub n: usize,
    pub labels: &'a [String],
    /// Category index of each row; separators go where it changes.
    pub categories: &'a [usize],
    pub highlight: Option<(usize, usize)>,
    /// Leave the cells (from `IMAGE_MIN_WORDS` words on) to the caller: see `CellLayer`.
    pub cells_as_image: bool,
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

/// Draws the grid on `main`, row 0 at the top (as imshow draws a matrix). With `cells_as_image`
/// and `IMAGE_MIN_WORDS` words or more, draws neither the cells nor what goes over them (the
/// separators, the highlight) but returns them as a `CellLayer` for the caller to paint.
pub(crate) fn draw_grid<DB: DrawingBackend>(
    main: &DrawingArea<DB, Shift>,
    grid: &Grid,
    cell: impl Fn(usize, usize) -> RGBColor,
) -> Result<(CellGrid, Option<CellLayer>), String> {
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
    let as_image = grid.cells_as_image && n >= IMAGE_MIN_WORDS;
    let mut layer = as_image.then(|| CellLayer {
        image: CellImage::new(chart.plotting_area(), n, &cell),
        overlay: Vec::new(),
    });
    if !as_image {
        chart
            .draw_series(
                (0..n)
                    .flat_map(|i| (0..n).map(move |j| (i, j)))
                    .map(|(i, j)| Rectangle::new([(j as f64, y(i)), (j as f64 + 1.0, y(i + 1))], cell(i, j).filled())),
            )
            .map_err(drawing_error)?;
    }
    // Category separators: lines between rows/columns where the category changes.
    let cuts: Vec<f64> = (1..n)
        .filter(|&i| grid.categories.get(i) != grid.categories.get(i - 1))
        .map(|i| i as f64)
        .collect();
    for &c in &cuts {
        let style = WHITE.stroke_width(2);
        let lines = [
            vec![(c, 0.0), (c, n as f64)],
            vec![(0.0, n as f64 - c), (n as f64, n as f64 - c)],
        ];
        for line in lines {
            match &mut layer {
                // The same path the line series draws, in the backend's pixels.
                Some(layer) => layer.overlay.push(OverlayPath {
                    points: line.iter().map(|p| chart.plotting_area().map_coordinate(p)).collect(),
                    colour: WHITE,
                    width: 2,
                }),
                None => {
                    chart.draw_series(LineSeries::new(line, style)).map_err(drawing_error)?;
                }
            }
        }
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
        let ring = |d: i32| ring((x0, y0), (x1, y1), d);
        for (d, colour, width) in [(1, BLACK, 2), (-1, WHITE, 1)] {
            match &mut layer {
                Some(layer) => layer.overlay.push(OverlayPath {
                    points: ring(d).into_iter().map(|(x, y)| (x + base.0, y + base.1)).collect(),
                    colour,
                    width,
                }),
                None => main
                    .draw(&PathElement::new(ring(d), colour.stroke_width(width)))
                    .map_err(drawing_error)?,
            }
        }
    }
    let cells = CellGrid {
        n,
        top_left: plot.map_coordinate(&(0.0, n as f64)),
        bottom_right: plot.map_coordinate(&(n as f64, 0.0)),
    };
    Ok((cells, layer))
}

/// A grid's cells left to the caller (a backend that paints images faster than n² rectangles):
/// paint `image`, then `draw_overlay` draws the separators and the highlight over it.
#[derive(Clone, Debug, PartialEq)]
pub struct CellLayer {
    pub image: CellImage,
    /// What goes over the cells, in drawing order.
    pub overlay: Vec<OverlayPath>,
}

/// A line drawn over the cells, in the backend's pixels.
#[derive(Clone, Debug, PartialEq)]
pub struct OverlayPath {
    pub points: Vec<(i32, i32)>,
    pub colour: RGBColor,
    pub width: u32,
}

/// Draws the layer's overlay on `area` (the area the figure was drawn on, or the root) once its
/// image is painted.
pub fn draw_overlay<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, layer: &CellLayer) -> DrawResult {
    let base = area.get_base_pixel();
    for path in &layer.overlay {
        let points: Vec<(i32, i32)> = path.points.iter().map(|&(x, y)| (x - base.0, y - base.1)).collect();
        area.draw(&PathElement::new(points, path.colour.stroke_width(path.width)))
            .map_err(drawing_error)?;
    }
    Ok(())
}

/// A grid's cells as one RGBA image (4 bytes a pixel, rows top to bottom, opaque) covering the
/// cells' rectangle pixel for pixel: each pixel has the colour of the cell whose filled
/// `Rectangle` would cover it (a rectangle fills columns x0 ≤ x < x1 and rows y0 ≤ y < y1 between
/// its corners, mapped to pixels as here), so the image and the n² rectangles give the same pixels,
/// cells thinner than a pixel included (one that owns no pixel is not seen either way).
#[derive(Clone, Debug, PartialEq)]
pub struct CellImage {
    /// Top-left pixel of the image, in the backend's pixels.
    pub pos: (i32, i32),
    pub size: (u32, u32),
    pub rgba: Vec<u8>,
}

type GridCoord =
    plotters::coord::cartesian::Cartesian2d<plotters::coord::types::RangedCoordf64, plotters::coord::types::RangedCoordf64>;

impl CellImage {
    /// The image of an n × n grid on `plot` (data x 0..n, y 0..n, row 0 at the top).
    fn new<DB: DrawingBackend>(plot: &DrawingArea<DB, GridCoord>, n: usize, cell: impl Fn(usize, usize) -> RGBColor) -> Self {
        // Cell edges in pixels: column j spans xs[j]..xs[j + 1], row i spans ys[i]..ys[i + 1].
        let xs: Vec<i32> = (0..=n).map(|j| plot.map_coordinate(&(j as f64, 0.0)).0).collect();
        let ys: Vec<i32> = (0..=n).map(|i| plot.map_coordinate(&(0.0, (n - i) as f64)).1).collect();
        Self::from_edges(&xs, &ys, cell)
    }

    /// The image of cells whose edges are `xs` (columns) and `ys` (rows), in pixels.
    pub fn from_edges(xs: &[i32], ys: &[i32], cell: impl Fn(usize, usize) -> RGBColor) -> Self {
        let span = |e: &[i32]| (e.iter().copied().min().unwrap_or(0), e.iter().copied().max().unwrap_or(0));
        let ((x0, x1), (y0, y1)) = (span(xs), span(ys));
        // The cell owning each pixel column (row): a later rectangle would paint over an earlier.
        let owners = |edges: &[i32], origin: i32, len: i32| -> Vec<Option<usize>> {
            let mut owner = vec![None; len.max(0) as usize];
            for k in 0..edges.len().saturating_sub(1) {
                let (a, b) = (edges[k].min(edges[k + 1]), edges[k].max(edges[k + 1]));
                for p in a..b {
                    owner[(p - origin) as usize] = Some(k);
                }
            }
            owner
        };
        let (cols, rows) = (owners(xs, x0, x1 - x0), owners(ys, y0, y1 - y0));
        let (w, h) = (cols.len(), rows.len());
        let mut rgba = vec![255u8; w * h * 4];
        let mut previous: Option<(usize, usize)> = None;
        for (r, row) in rows.iter().enumerate() {
            let Some(i) = *row else { continue };
            let line = r * w * 4;
            // Cells taller than a pixel: the pixel row above shows the same cells.
            if let Some((_, above)) = previous.filter(|&(pi, _)| pi == i) {
                rgba.copy_within(above * w * 4..(above + 1) * w * 4, line);
                continue;
            }
            for (c, col) in cols.iter().enumerate() {
                if let Some(j) = *col {
                    let RGBColor(red, green, blue) = cell(i, j);
                    rgba[line + c * 4..line + c * 4 + 4].copy_from_slice(&[red, green, blue, 255]);
                }
            }
            previous = Some((i, r));
        }
        CellImage {
            pos: (x0, y0),
            size: (w as u32, h as u32),
            rgba,
        }
    }
}

/// The closed outline of the pixel rectangle (x0, y0)..(x1, y1), grown by `d` pixels (shrunk
/// when negative): highlight rings around cells and rows.
pub(crate) fn ring((x0, y0): (i32, i32), (x1, y1): (i32, i32), d: i32) -> Vec<(i32, i32)> {
    vec![
        (x0 - d, y0 - d),
        (x1 + d, y0 - d),
        (x1 + d, y1 + d),
        (x0 - d, y1 + d),
        (x0 - d, y0 - d),
    ]
}

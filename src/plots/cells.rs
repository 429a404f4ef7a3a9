//! A word × word grid's cells as data (`CellLayer`): every grid figure returns its cells instead
//! of drawing them, and the backend paints them its own way, as n² rectangles (SVG exports, small
//! canvases) or as one image (the page's canvas, one `putImageData`). Both give the same pixels
//! (tests/cell_image.rs). A leaf: it imports no figure.

use plotters::coord::Shift;
use plotters::prelude::*;

use super::drawing::{drawing_error, DrawResult};
use super::hits::CellGrid;

/// From this many words on, the page's canvas paints a grid's cells as one image
/// (`CellLayer::wants_image`). A cell as a canvas `fillRect` through wasm-bindgen costs ~1.1 µs
/// (headless Chromium, 520 words: ~300 ms a heatmap); the image costs one pass over the cell
/// area's ~420 × 400 pixels and one `putImageData`, a few ms whatever n is: about what 64²
/// rectangles cost. Below it the rectangles stay (≤ 4k calls, cells ≥ 6 px wide), so the canvas
/// gets exactly the calls the SVG export writes.
pub const IMAGE_MIN_WORDS: usize = 64;

/// A grid's cells and what goes over them (separators, highlight), in the backend's pixels, for
/// the backend to paint: `paint_as_rectangles` or `paint_as_image`.
#[derive(Clone, Debug, PartialEq)]
pub struct CellLayer {
    /// Cell edges: column j spans `xs[j]..xs[j + 1]`, row i spans `ys[i]..ys[i + 1]` (n + 1 each).
    pub xs: Vec<i32>,
    pub ys: Vec<i32>,
    /// The colour of cell (i, j) at i * n + j.
    pub colours: Vec<RGBColor>,
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

impl CellLayer {
    /// The number of words (rows and columns).
    pub fn n(&self) -> usize {
        self.xs.len().saturating_sub(1)
    }

    fn colour(&self, i: usize, j: usize) -> RGBColor {
        self.colours[i * self.n() + j]
    }

    /// Where the cells are, for finding the cell under a pointer.
    pub fn grid(&self) -> CellGrid {
        let n = self.n();
        CellGrid {
            n,
            top_left: (self.xs[0], self.ys[0]),
            bottom_right: (self.xs[n], self.ys[n]),
        }
    }

    /// Whether a canvas paints these cells faster as one image (see `IMAGE_MIN_WORDS`).
    pub fn wants_image(&self) -> bool {
        self.n() >= IMAGE_MIN_WORDS
    }

    /// The cells as one RGBA image (see `CellImage`).
    pub fn image(&self) -> CellImage {
        CellImage::from_edges(&self.xs, &self.ys, |i, j| self.colour(i, j))
    }

    /// Paints the cells as n² filled rectangles, then the overlay, on `area` (the area the figure
    /// was drawn on, or the root): what an SVG export writes.
    pub fn paint_as_rectangles<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> DrawResult {
        let base = area.get_base_pixel();
        let n = self.n();
        for i in 0..n {
            for j in 0..n {
                let corners = [
                    (self.xs[j] - base.0, self.ys[i] - base.1),
                    (self.xs[j + 1] - base.0, self.ys[i + 1] - base.1),
                ];
                area.draw(&Rectangle::new(corners, self.colour(i, j).filled()))
                    .map_err(drawing_error)?;
            }
        }
        self.paint_overlay(area)
    }

    /// Paints the cells as one image with `put_image` (a canvas's `putImageData`), then the
    /// overlay on `area`.
    pub fn paint_as_image<DB: DrawingBackend>(
        &self,
        area: &DrawingArea<DB, Shift>,
        put_image: impl FnOnce(&CellImage) -> DrawResult,
    ) -> DrawResult {
        put_image(&self.image())?;
        self.paint_overlay(area)
    }

    /// Draws the separators and the highlight over the painted cells.
    pub fn paint_overlay<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> DrawResult {
        let base = area.get_base_pixel();
        for path in &self.overlay {
            let points: Vec<(i32, i32)> = path.points.iter().map(|&(x, y)| (x - base.0, y - base.1)).collect();
            area.draw(&PathElement::new(points, path.colour.stroke_width(path.width)))
                .map_err(drawing_error)?;
        }
        Ok(())
    }
}

/// A grid's cells as one RGBA image (4 bytes a pixel, rows top to bottom, opaque) covering the
/// cells' rectangle pixel for pixel: each pixel has the colour of the cell whose filled
/// `Rectangle` would cover it (a rectangle fills columns x0 ≤ x < x1 and rows y0 ≤ y < y1 between
/// its corners), so the image and the n² rectangles give the same pixels, cells thinner than a
/// pixel included (one that owns no pixel is not seen either way).
#[derive(Clone, Debug, PartialEq)]
pub struct CellImage {
    /// Top-left pixel of the image, in the backend's pixels.
    pub pos: (i32, i32),
    pub size: (u32, u32),
    pub rgba: Vec<u8>,
}

impl CellImage {
    /// The image of cells whose edges are `xs` (columns) and `ys` (rows), in pixels.
    pub fn from_edges(xs: &[i32], ys: &[i32], cell: impl Fn(usize, usize) -> RGBColor) -> Self {
        let span = |e: &[i32]| (e.iter().copied().min().unwrap_or(0), e.iter().copied().max().unwrap_or(0));
        let ((x0, x1), (y0, y1)) = (span(xs), span(ys));
        let (cols, rows) = (pixel_owners(xs, x0, x1 - x0), pixel_owners(ys, y0, y1 - y0));
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

/// The cell owning each pixel column (or row) from `origin` on: a later rectangle paints over an
/// earlier one, as on a canvas.
fn pixel_owners(edges: &[i32], origin: i32, len: i32) -> Vec<Option<usize>> {
    let mut owner = vec![None; len.max(0) as usize];
    for k in 0..edges.len().saturating_sub(1) {
        let (a, b) = (edges[k].min(edges[k + 1]), edges[k].max(edges[k + 1]));
        for p in a..b {
            owner[(p - origin) as usize] = Some(k);
        }
    }
    owner
}

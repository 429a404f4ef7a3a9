//! Painting a grid's cells on a canvas: a big grid's as one RGBA image in one call
//! (`putImageData`), which would otherwise be one `fillRect` per cell.

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters_canvas::CanvasBackend;
use wasm_bindgen::{Clamped, JsCast};
use web_sys::{CanvasRenderingContext2d, HtmlCanvasElement, ImageData};

use crate::plots::CellLayer;

/// Paints `cells` on `canvas` (drawn through `area`): one image from `IMAGE_MIN_WORDS` words on
/// (a fillRect per cell through wasm-bindgen took seconds at 520 words), below that the same
/// rectangles the SVG export writes. Both give the same pixels.
pub fn paint_cells(
    canvas: &HtmlCanvasElement,
    area: &DrawingArea<CanvasBackend, Shift>,
    cells: &CellLayer,
) -> Result<(), String> {
    if cells.wants_image() {
        cells.paint_as_image(area, |image| put_rgba(canvas, image.pos, image.size, &image.rgba))
    } else {
        cells.paint_as_rectangles(area)
    }
}

/// Puts `rgba` (`size.0` × `size.1` pixels, 4 bytes each, rows top to bottom) on `canvas` with its
/// top-left pixel at `pos`, replacing what was there, pixel for pixel (no scaling, no smoothing).
pub fn put_rgba(canvas: &HtmlCanvasElement, pos: (i32, i32), size: (u32, u32), rgba: &[u8]) -> Result<(), String> {
    if size.0 == 0 || size.1 == 0 {
        return Ok(());
    }
    if rgba.len() != size.0 as usize * size.1 as usize * 4 {
        return Err(format!("cell image: {} bytes for {} × {} pixels", rgba.len(), size.0, size.1));
    }
    let context: CanvasRenderingContext2d = canvas
        .get_context("2d")
        .ok()
        .flatten()
        .and_then(|c| c.dyn_into().ok())
        .ok_or("no 2-D canvas context")?;
    let image =
        ImageData::new_with_u8_clamped_array_and_sh(Clamped(rgba), size.0, size.1).map_err(|e| format!("cell image: {e:?}"))?;
    context
        .put_image_data(&image, pos.0 as f64, pos.1 as f64)
        .map_err(|e| format!("cell image: {e:?}"))
}

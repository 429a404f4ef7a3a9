//! What every figure draws with: the error type, SVG rendering and pixel outlines. A leaf: it
//! imports no figure.

use plotters::prelude::*;

/// A drawing failure, flattened to text (backend error types differ between canvas and SVG).
pub type DrawResult = Result<(), String>;

pub(crate) fn drawing_error<E: std::error::Error + Send + Sync>(e: DrawingAreaErrorKind<E>) -> String {
    format!("drawing failed: {e}")
}

/// Renders a figure to an SVG string of the given size.
pub fn to_svg(
    size: (u32, u32),
    draw: impl FnOnce(&DrawingArea<SVGBackend, plotters::coord::Shift>) -> DrawResult,
) -> Result<String, String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, size).into_drawing_area();
        draw(&root)?;
        root.present().map_err(drawing_error)?;
    }
    Ok(svg)
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

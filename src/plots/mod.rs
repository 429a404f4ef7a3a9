//! Figures, one function each, generic over plotters' `DrawingBackend`: the page draws them on
//! a canvas, tests and exports render the same code to SVG.

mod extended;
pub mod figure;
mod grid;
pub mod group_mask;
pub mod head_grid;
pub mod heatmap;
pub mod histograms;
mod hits;
pub mod layer_sweep;
mod legend;
pub mod null_distributions;
pub mod palette;
pub mod pca_map;
pub mod qk_matrix;
pub mod rsa_categories;
pub mod rsa_scatter;
pub mod selectivity;

pub use grid::{draw_overlay, CellGrid, CellImage, CellLayer, OverlayPath, IMAGE_MIN_WORDS};
pub use group_mask::{draw_group_mask, group_mask, GroupMaskSpec};
pub use head_grid::{draw_head_grid, HeadGridSpec};
pub use heatmap::{draw_cosine_heatmap, ColourRange, HeatmapSpec};
pub use histograms::{draw_histogram_series, draw_qkv_histograms, draw_similarity_histograms, HistogramSpec};
pub use hits::{HeadCells, HitMap, LayerColumns, PixelRect};
pub use layer_sweep::{draw_layer_sweep, LayerSweepSpec};
pub use null_distributions::{draw_null_distributions, stat_title};
pub use palette::category_colour;
pub use pca_map::{draw_pca_map, pca_axis_title, PcaMapSpec, PcaPanel};
pub use qk_matrix::{draw_qk_matrix, qk_title, QkMatrixSpec};
pub use rsa_categories::{draw_rsa_per_category, RsaCategoriesSpec};
pub use rsa_scatter::{draw_rsa_scatter, rsa_title, RsaScatterSpec};
pub use selectivity::{draw_selectivity, selectivity_title, SelectivityBars, SelectivitySpec};

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

//! Figures, one function each, generic over plotters' `DrawingBackend`: the page draws them on
//! a canvas, tests and exports render the same code to SVG.
//!
//! The modules form a tree, each importing only those below it:
//! - leaves, which import no figure: `drawing` (errors, SVG, outlines), `options` (what the user
//!   chose), `catalogue` (which figures there are), `look` (colour scale and theme), `scale` (colour limits and
//!   axes), `palette`,
//!   `hits` (where things landed), `cells` (a grid's cells as data and their painters),
//!   `colour_bar`, `legend`, `scatter` (the RSA scatters' axes and markers), `grid` (the word ×
//!   word grid's frame and labels);
//! - the figures, each drawing one kind of plot from a spec;
//! - `figure`, the one dispatch from a run's result (or a view of it) to every figure.

mod catalogue;
mod cells;
mod colour_bar;
pub mod describe;
mod drawing;
pub mod figure;
mod grid;
pub mod group_mask;
pub mod head_grid;
pub mod heatmap;
pub mod histograms;
mod hits;
pub mod layer_sweep;
mod legend;
mod look;
pub mod null_distributions;
mod options;
pub mod palette;
pub mod pca_map;
pub mod qk_matrix;
pub mod rsa_categories;
pub mod rsa_scatter;
mod scale;
mod scatter;
pub mod selectivity;

pub use catalogue::Figure;
pub use cells::{CellImage, CellLayer, OverlayPath, IMAGE_MIN_WORDS};
pub use drawing::{to_svg, DrawResult};
pub use figure::{draw_figure, figure_svg, pair_index, DrawnFigure};
pub use group_mask::{draw_group_mask, group_mask, GroupMaskSpec};
pub use head_grid::{draw_head_grid, HeadGridSpec};
pub use heatmap::{draw_cosine_heatmap, HeatmapSpec};
pub use histograms::{draw_histogram_series, draw_qkv_histograms, draw_similarity_histograms, HistogramSpec};
pub use hits::{nearest_point, CellGrid, HeadCells, HitMap, LayerColumns, PixelRect};
pub use layer_sweep::{draw_layer_sweep, LayerSweepSpec};
pub use look::{ColourScale, Look, Theme};
pub use null_distributions::{draw_null_distributions, stat_title};
pub use options::{FigureOptions, Space, LECTURE_K_RANGE, LECTURE_Q_RANGE};
pub use palette::category_colour;
pub use pca_map::{draw_pca_map, pca_axis_title, PcaMapSpec, PcaPanel};
pub use qk_matrix::{draw_qk_matrix, qk_title, QkMatrixSpec};
pub use rsa_categories::{draw_rsa_per_category, RsaCategoriesSpec};
pub use rsa_scatter::{draw_rsa_scatter, RsaScatterSpec};
pub use scale::ColourRange;
pub use scatter::rsa_title;
pub use selectivity::{draw_selectivity, selectivity_title, SelectivityBars, SelectivitySpec};

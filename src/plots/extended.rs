//! The figures beyond the lecture from a run's result: what each takes from the result.

use plotters::coord::Shift;
use plotters::prelude::*;

use super::figure::{Figure, FigureOptions, HitMap};
use super::grid::CellLayer;
use super::head_grid::{draw_head_grid, HeadGridSpec};
use super::layer_sweep::{draw_layer_sweep, LayerSweepSpec};
use super::null_distributions::draw_null_distributions;
use super::pca_map::{draw_pca_map, PcaMapSpec, PcaPanel};
use super::qk_matrix::{draw_qk_matrix_layered, QkMatrixSpec};
use crate::result::RunResult;

/// Draws one of `Figure::EXTENDED` but the V heatmap; the caller checked `figure.available`.
/// With `cells_as_image`, a big Q·K matrix's cells are returned instead of drawn (`CellLayer`).
pub(crate) fn draw_extended<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    figure: Figure,
    result: &RunResult,
    options: &FigureOptions,
    words: &[String],
    categories: &[usize],
    cells_as_image: bool,
) -> Result<(Option<HitMap>, Option<CellLayer>), String> {
    if figure == Figure::QkMatrix {
        let heads = result
            .qk
            .as_deref()
            .ok_or_else(|| format!("{}: not in the result", figure.id()))?;
        let h = options.head.unwrap_or(0);
        let head = heads
            .iter()
            .find(|q| q.head == h)
            .ok_or_else(|| format!("{}: no head {h} in the result ({} heads)", figure.id(), heads.len()))?;
        let spec = QkMatrixSpec {
            head,
            labels: words,
            categories,
            highlight: options.highlight,
        };
        return draw_qk_matrix_layered(area, &spec, cells_as_image).map(|(grid, cells)| (Some(HitMap::QkCells(grid)), cells));
    }
    draw_other(area, figure, result, options, words, categories).map(|hits| (hits, None))
}

fn draw_other<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    figure: Figure,
    result: &RunResult,
    options: &FigureOptions,
    words: &[String],
    categories: &[usize],
) -> Result<Option<HitMap>, String> {
    let absent = || format!("{}: not in the result", figure.id());
    match figure {
        Figure::LayerSweep => {
            let layers = result.layers.as_deref().ok_or_else(absent)?;
            let spec = LayerSweepSpec {
                layers,
                analysed: result.layer,
            };
            draw_layer_sweep(area, &spec).map(|c| Some(HitMap::Layers(c)))
        }
        Figure::HeadGrid => {
            let heads = result.heads.as_deref().ok_or_else(absent)?;
            let spec = HeadGridSpec {
                heads,
                space: options.grid_space,
                analysed: result.layer,
                selected: options.head,
            };
            draw_head_grid(area, &spec).map(|c| Some(HitMap::HeadCells(c)))
        }
        Figure::PcaMap => {
            let pca = result.pca.as_ref().ok_or_else(absent)?;
            let panels: Vec<PcaPanel> = [("Q", &pca.q), ("K", &pca.k), ("V", &pca.v)]
                .into_iter()
                .filter_map(|(name, p)| Some(PcaPanel { name, pca: p.as_ref()? }))
                .collect();
            let names = result.experiment.category_names();
            let spec = PcaMapSpec {
                panels: &panels,
                labels: words,
                categories,
                category_names: &names,
                highlight: options.highlight,
            };
            draw_pca_map(area, &spec).map(|_| None)
        }
        Figure::NullDistributions => {
            let stats = result.statistics.as_ref().ok_or_else(absent)?;
            draw_null_distributions(area, stats).map(|_| None)
        }
        _ => Err(format!("{}: not an extended figure", figure.id())),
    }
}

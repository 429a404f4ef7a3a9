//! Every figure of the lab from a run's result: one dispatch point for the page's canvases and
//! for the SVG/PNG exports, so what is exported is what is shown.

use plotters::coord::Shift;
use plotters::prelude::*;

use super::grid::CellLayer;
use super::group_mask::draw_group_mask_layered;
use super::heatmap::draw_cosine_heatmap_layered;
use super::histograms::draw_qkv_histograms;
use super::{
    draw_rsa_per_category, draw_rsa_scatter, draw_selectivity, draw_similarity_histograms, ColourRange, GroupMaskSpec,
    HeatmapSpec, HistogramSpec, RsaCategoriesSpec, RsaScatterSpec, SelectivityBars, SelectivitySpec,
};
use crate::analysis::upper_triangle;
use crate::result::{RunResult, SpaceResult};

pub use super::hits::{HeadCells, HitMap, LayerColumns, PixelRect};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Figure {
    GroupMask,
    HeatmapQ,
    HeatmapK,
    Histograms,
    Selectivity,
    RsaScatter,
    RsaPerCategory,
    // Beyond the lecture: each needs a part of the result the CLI or page adds on request.
    /// V cosine heatmap (`result.v`).
    HeatmapV,
    /// Selectivity of Q, K, V and RSA r against layer (`result.layers`).
    LayerSweep,
    /// Selectivity of one space and RSA r per layer and head (`result.heads`).
    HeadGrid,
    /// One head's Q·K/√d matrix at the analysed layer (`result.qk`).
    QkMatrix,
    /// 2-D PCA maps of Q, K and V (`result.pca`).
    PcaMap,
    /// Permutation null distributions with the observed values (`result.statistics`).
    NullDistributions,
}

/// A representation: which one the head grid's left heatmap shows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Space {
    #[default]
    Q,
    K,
    V,
}

impl Space {
    pub fn name(self) -> &'static str {
        match self {
            Space::Q => "Q",
            Space::K => "K",
            Space::V => "V",
        }
    }
}

/// The lecture's colour limits for gpt2-medium, layer 5.
pub const LECTURE_Q_RANGE: (f64, f64) = (0.6, 0.85);
pub const LECTURE_K_RANGE: (f64, f64) = (0.82, 0.95);

/// What the user chose for the figures.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct FigureOptions {
    /// Auto limits from the data, or the lecture's fixed ones.
    pub lecture_limits: bool,
    /// A word pair (i, j) picked by the pointer, marked in every figure.
    pub highlight: Option<(usize, usize)>,
    /// The selected head: the Q·K matrix shown (None: head 0) and the cell outlined in the head grid.
    pub head: Option<usize>,
    /// The space of the head grid's left heatmap.
    pub grid_space: Space,
}

impl Figure {
    pub const ALL: [Figure; 7] = [
        Figure::GroupMask,
        Figure::HeatmapQ,
        Figure::HeatmapK,
        Figure::Histograms,
        Figure::Selectivity,
        Figure::RsaScatter,
        Figure::RsaPerCategory,
    ];

    /// The figures beyond the lecture, in page order.
    pub const EXTENDED: [Figure; 6] = [
        Figure::HeatmapV,
        Figure::LayerSweep,
        Figure::HeadGrid,
        Figure::QkMatrix,
        Figure::PcaMap,
        Figure::NullDistributions,
    ];

    /// Stable id: element ids in the page, file names of exports.
    pub fn id(self) -> &'static str {
        match self {
            Figure::GroupMask => "group-mask",
            Figure::HeatmapQ => "heatmap-q",
            Figure::HeatmapK => "heatmap-k",
            Figure::Histograms => "histograms",
            Figure::Selectivity => "selectivity",
            Figure::RsaScatter => "rsa-scatter",
            Figure::RsaPerCategory => "rsa-per-category",
            Figure::HeatmapV => "heatmap-v",
            Figure::LayerSweep => "layer-sweep",
            Figure::HeadGrid => "head-grid",
            Figure::QkMatrix => "qk-matrix",
            Figure::PcaMap => "pca-map",
            Figure::NullDistributions => "null-distributions",
        }
    }

    /// Whether `result` holds what the figure draws (the lecture's figures: always).
    pub fn available(self, result: &RunResult) -> bool {
        let some = |v: Option<usize>| v.is_some_and(|n| n > 0);
        match self {
            Figure::GroupMask
            | Figure::HeatmapQ
            | Figure::HeatmapK
            | Figure::Histograms
            | Figure::Selectivity
            | Figure::RsaScatter
            | Figure::RsaPerCategory => true,
            Figure::HeatmapV => some(result.v.as_ref().map(|v| v.cosine.len())),
            Figure::LayerSweep => some(result.layers.as_ref().map(Vec::len)),
            Figure::HeadGrid => some(result.heads.as_ref().map(Vec::len)),
            Figure::QkMatrix => some(result.qk.as_ref().map(Vec::len)),
            Figure::PcaMap => result
                .pca
                .as_ref()
                .is_some_and(|p| p.q.is_some() || p.k.is_some() || p.v.is_some()),
            Figure::NullDistributions => result.statistics.is_some(),
        }
    }

    /// Pixel size of the figure for this result (the head grid grows with its layers, the PCA
    /// map with its panels).
    pub fn size_for(self, result: &RunResult) -> (u32, u32) {
        match self {
            Figure::HeadGrid => {
                let rows = super::head_grid::layers_of(result.heads.as_deref().unwrap_or(&[])).len();
                super::head_grid::size(rows)
            }
            Figure::PcaMap => {
                let panels = result
                    .pca
                    .as_ref()
                    .map_or(3, |p| [&p.q, &p.k, &p.v].iter().filter(|x| x.is_some()).count());
                (320 * panels.clamp(1, 3) as u32, 360)
            }
            _ => self.size(result.experiment.categories.len()),
        }
    }

    /// Pixel size of the figure (canvas and export).
    pub fn size(self, n_categories: usize) -> (u32, u32) {
        match self {
            Figure::GroupMask | Figure::HeatmapQ | Figure::HeatmapK => (560, 520),
            Figure::Histograms | Figure::Selectivity => (560, 400),
            Figure::RsaScatter => (560, 480),
            Figure::RsaPerCategory => ((330 * n_categories.max(1)).min(1320) as u32, 360),
            Figure::HeatmapV => (560, 520),
            Figure::LayerSweep => (720, 520),
            // Sizes that depend on the result: see `size_for`.
            Figure::HeadGrid => super::head_grid::size(12),
            Figure::QkMatrix => (600, 560),
            Figure::PcaMap => (960, 360),
            Figure::NullDistributions => (1020, 580),
        }
    }
}

/// The index of pair (i, j) in the upper-triangle order (i < j, row-major).
pub fn pair_index(n: usize, i: usize, j: usize) -> Option<usize> {
    let (i, j) = if i < j { (i, j) } else { (j, i) };
    (i != j && j < n).then(|| i * n - i * (i + 1) / 2 + (j - i - 1))
}

fn bars<'a>(name: &'a str, s: &'a SpaceResult, within: &'a [Option<f64>]) -> SelectivityBars<'a> {
    SelectivityBars {
        name,
        index: s.selectivity,
        within: s.within_mean,
        across: s.across_mean,
        within_by_category: within,
    }
}

/// Draws `figure` of `result`; returns where its word pairs are, when it shows them one by one.
/// ", head h" when `result` is the page's view of one head (its vectors are d_head wide), so
/// titles (and exports) say what they show.
fn head_suffix(result: &RunResult, options: &FigureOptions) -> String {
    let d_head = result.model.n_embd / result.model.n_head.max(1);
    let sliced = d_head < result.model.n_embd && result.q.vectors.first().is_some_and(|v| v.len() == d_head);
    match (sliced, options.head) {
        (true, Some(h)) => format!(", head {h}"),
        _ => String::new(),
    }
}

pub fn draw_figure<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    figure: Figure,
    result: &RunResult,
    options: &FigureOptions,
) -> Result<Option<HitMap>, String> {
    draw_figure_layered(area, figure, result, options, false).map(|drawn| drawn.hits)
}

/// A figure drawn by `draw_figure_with_cell_image`.
#[derive(Clone, Debug, PartialEq)]
pub struct DrawnFigure {
    /// Where its word pairs (or layers, or heads) are, as `draw_figure` returns.
    pub hits: Option<HitMap>,
    /// The cells of a word × word grid of `IMAGE_MIN_WORDS` words or more, not drawn: the caller
    /// paints `cells.image` at its position, then `draw_overlay` draws the separators and the
    /// highlight over it. The result is what `draw_figure` draws, pixel for pixel.
    pub cells: Option<CellLayer>,
}

/// `draw_figure` for a backend that paints an image faster than n² rectangles (the page's
/// canvas: one `putImageData` instead of a `fillRect` per cell); see `DrawnFigure::cells`.
pub fn draw_figure_with_cell_image<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    figure: Figure,
    result: &RunResult,
    options: &FigureOptions,
) -> Result<DrawnFigure, String> {
    draw_figure_layered(area, figure, result, options, true)
}

fn draw_figure_layered<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    figure: Figure,
    result: &RunResult,
    options: &FigureOptions,
    cells_as_image: bool,
) -> Result<DrawnFigure, String> {
    let plain = |hits: Option<HitMap>| DrawnFigure { hits, cells: None };
    let cells = |(grid, cells): (super::CellGrid, Option<CellLayer>)| DrawnFigure {
        hits: Some(HitMap::Cells(grid)),
        cells,
    };
    let words: Vec<String> = result.words.iter().map(|w| w.word.clone()).collect();
    let names = result.experiment.category_names();
    let categories = result.category_indices();
    let n = words.len();
    let head = head_suffix(result, options);
    let highlight_pair = options.highlight.and_then(|(i, j)| pair_index(n, i, j));
    let heatmap = |area: &DrawingArea<DB, Shift>, title: &str, matrix: &[Vec<f64>], lecture: (f64, f64)| {
        let range = if options.lecture_limits {
            ColourRange::Fixed(lecture.0, lecture.1)
        } else {
            ColourRange::Auto
        };
        let spec = HeatmapSpec {
            title,
            matrix,
            labels: &words,
            categories: &categories,
            range,
            highlight: options.highlight,
        };
        draw_cosine_heatmap_layered(area, &spec, cells_as_image).map(cells)
    };
    match figure {
        Figure::GroupMask => {
            let spec = GroupMaskSpec {
                title: "Group mask",
                labels: &words,
                categories: &categories,
                category_names: &names,
            };
            draw_group_mask_layered(area, &spec, cells_as_image).map(cells)
        }
        Figure::HeatmapQ => heatmap(area, &format!("Q cosine similarity{head}"), &result.q.cosine, LECTURE_Q_RANGE),
        Figure::HeatmapK => heatmap(area, &format!("K cosine similarity{head}"), &result.k.cosine, LECTURE_K_RANGE),
        Figure::Histograms => {
            let title = format!("Distributions of similarities{head}");
            let spec = HistogramSpec {
                title: &title,
                q: &result.q.histogram,
                k: &result.k.histogram,
            };
            match &result.v {
                Some(v) => draw_qkv_histograms(area, &spec, &v.histogram),
                None => draw_similarity_histograms(area, &spec),
            }
            .map(|_| plain(None))
        }
        Figure::Selectivity => {
            let within = |s: &SpaceResult| -> Vec<Option<f64>> { s.within_means.iter().map(|m| m.mean).collect() };
            let (wq, wk) = (within(&result.q), within(&result.k));
            let wv = result.v.as_ref().map(within).unwrap_or_default();
            let mut spaces = vec![bars("Q", &result.q, &wq), bars("K", &result.k, &wk)];
            if let Some(v) = &result.v {
                spaces.push(bars("V", v, &wv));
            }
            draw_selectivity(
                area,
                &SelectivitySpec {
                    spaces: &spaces,
                    category_names: &names,
                },
            )
            .map(|_| plain(None))
        }
        Figure::RsaScatter => {
            let (q, k) = (upper_triangle(&result.q.cosine), upper_triangle(&result.k.cosine));
            draw_rsa_scatter(
                area,
                &RsaScatterSpec {
                    q: &q,
                    k: &k,
                    r: result.rsa.r,
                    highlight: highlight_pair,
                },
            )
            .map(|points| plain(Some(HitMap::Points { n, points })))
        }
        Figure::RsaPerCategory => {
            let (q, k) = (upper_triangle(&result.q.cosine), upper_triangle(&result.k.cosine));
            let r: Vec<Option<f64>> = result.rsa.per_category.iter().map(|c| c.r).collect();
            let spec = RsaCategoriesSpec {
                q: &q,
                k: &k,
                categories: &categories,
                category_names: &names,
                r: &r,
                highlight: highlight_pair,
            };
            draw_rsa_per_category(area, &spec).map(|_| plain(None))
        }
        Figure::HeatmapV => {
            let v = result.v.as_ref().ok_or_else(|| missing(figure))?;
            // The lecture has no V limits: auto always.
            let title = format!("V cosine similarity{head}");
            let spec = HeatmapSpec {
                title: &title,
                matrix: &v.cosine,
                labels: &words,
                categories: &categories,
                range: ColourRange::Auto,
                highlight: options.highlight,
            };
            draw_cosine_heatmap_layered(area, &spec, cells_as_image).map(cells)
        }
        _ => {
            if !figure.available(result) {
                return Err(missing(figure));
            }
            let (hits, cells) =
                super::extended::draw_extended(area, figure, result, options, &words, &categories, cells_as_image)?;
            Ok(DrawnFigure { hits, cells })
        }
    }
}

fn missing(figure: Figure) -> String {
    let flag = match figure {
        Figure::HeatmapV => "--v",
        Figure::LayerSweep => "--all-layers",
        Figure::HeadGrid => "--heads",
        Figure::QkMatrix => "--qk",
        Figure::PcaMap => "--pca",
        Figure::NullDistributions => "--permutations N",
        _ => "",
    };
    format!("{}: the result has no data for this figure (run with {flag})", figure.id())
}

/// The figure as SVG text (export).
pub fn figure_svg(figure: Figure, result: &RunResult, options: &FigureOptions) -> Result<String, String> {
    let size = figure.size_for(result);
    super::to_svg(size, |area| draw_figure(area, figure, result, options).map(|_| ()))
}

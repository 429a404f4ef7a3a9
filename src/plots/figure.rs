//! Every figure of the lab from a run's result: the one dispatch point for the page's canvases
//! and for the SVG exports, so what is exported is what is shown. Each figure takes what it
//! draws from the result here; the figure modules know nothing of results.

use plotters::coord::Shift;
use plotters::prelude::*;

pub use super::catalogue::Figure;
use super::cells::CellLayer;
use super::drawing::{to_svg, DrawResult};
use super::group_mask::{draw_group_mask, GroupMaskSpec};
use super::head_grid::{self, draw_head_grid, HeadGridSpec};
use super::heatmap::{draw_cosine_heatmap, HeatmapSpec};
use super::histograms::{draw_qkv_histograms, draw_similarity_histograms, HistogramSpec};
pub use super::hits::{HeadCells, HitMap, LayerColumns, PixelRect};
use super::layer_sweep::{draw_layer_sweep, LayerSweepSpec};
use super::look::with_look;
use super::null_distributions::draw_null_distributions;
pub use super::options::{FigureOptions, Space, LECTURE_K_RANGE, LECTURE_Q_RANGE};
use super::pca_map::{draw_pca_map, PcaMapSpec, PcaPanel};
use super::qk_matrix::{draw_qk_matrix, QkMatrixSpec};
use super::rsa_categories::{draw_rsa_per_category, RsaCategoriesSpec};
use super::rsa_scatter::{draw_rsa_scatter, RsaScatterSpec};
use super::scale::ColourRange;
use super::selectivity::{draw_selectivity, SelectivityBars, SelectivitySpec};
use crate::analysis::upper_triangle;
use crate::result::{RunResult, SpaceResult};
use crate::result_view::Shown;

impl Figure {
    /// Pixel size of the figure for this result (the head grid grows with its layers, the PCA
    /// map with its panels).
    pub fn size_for(self, result: &RunResult) -> (u32, u32) {
        match self {
            Figure::HeadGrid => {
                let rows = head_grid::layers_of(result.heads.as_deref().unwrap_or(&[])).len();
                head_grid::size(rows)
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
            Figure::HeadGrid => head_grid::size(12),
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

/// A figure drawn by `draw_figure`.
#[derive(Clone, Debug, PartialEq)]
pub struct DrawnFigure {
    /// Where its word pairs (or layers, or heads) are, for the pointer.
    pub hits: Option<HitMap>,
    /// A word × word grid's cells, not yet painted: the backend paints them its own way
    /// (`CellLayer::paint_as_rectangles` or `paint_as_image`).
    pub cells: Option<CellLayer>,
}

impl DrawnFigure {
    fn plain(hits: Option<HitMap>) -> Self {
        DrawnFigure { hits, cells: None }
    }

    fn grid(cells: CellLayer, hits: fn(super::hits::CellGrid) -> HitMap) -> Self {
        DrawnFigure {
            hits: Some(hits(cells.grid())),
            cells: Some(cells),
        }
    }
}

/// What every figure takes from the result it shows.
struct Source<'a> {
    shown: Shown<'a>,
    options: &'a FigureOptions,
    words: Vec<String>,
    categories: Vec<usize>,
    category_names: Vec<String>,
}

impl Source<'_> {
    fn result(&self) -> &RunResult {
        self.shown.result
    }

    /// The pair picked by the pointer, as an index into the upper triangle.
    fn highlight_pair(&self) -> Option<usize> {
        let n = self.words.len();
        self.options.highlight.and_then(|(i, j)| pair_index(n, i, j))
    }
}

/// Draws `figure` of `shown` (a result, or a view of one) but for a word × word grid's cells,
/// which it returns for the backend to paint (see `DrawnFigure::cells`).
pub fn draw_figure<'a, DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    figure: Figure,
    shown: impl Into<Shown<'a>>,
    options: &FigureOptions,
) -> Result<DrawnFigure, String> {
    let shown = shown.into();
    with_look(options.look, || draw_in_look(area, figure, shown, options))
}

fn draw_in_look<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    figure: Figure,
    shown: Shown,
    options: &FigureOptions,
) -> Result<DrawnFigure, String> {
    let result = shown.result;
    if !figure.available(result) {
        return Err(missing(figure, shown));
    }
    let source = Source {
        shown,
        options,
        words: result.words.iter().map(|w| w.word.clone()).collect(),
        categories: result.category_indices(),
        category_names: result.experiment.category_names(),
    };
    let suffix = shown.view.title_suffix();
    match figure {
        Figure::GroupMask => group_mask(area, &source),
        Figure::HeatmapQ => heatmap(
            area,
            &source,
            &format!("Q cosine similarity{suffix}"),
            &result.q.cosine,
            Some(LECTURE_Q_RANGE),
        ),
        Figure::HeatmapK => heatmap(
            area,
            &source,
            &format!("K cosine similarity{suffix}"),
            &result.k.cosine,
            Some(LECTURE_K_RANGE),
        ),
        // The lecture has no V limits: auto always.
        Figure::HeatmapV => {
            let v = result.v.as_ref().ok_or_else(|| missing(figure, shown))?;
            heatmap(area, &source, &format!("V cosine similarity{suffix}"), &v.cosine, None)
        }
        Figure::Histograms => histograms(area, &source, &format!("Distributions of similarities{suffix}")),
        Figure::Selectivity => selectivity(area, &source),
        Figure::RsaScatter => rsa_scatter(area, &source),
        Figure::RsaPerCategory => rsa_per_category(area, &source),
        Figure::LayerSweep => layer_sweep(area, &source),
        Figure::HeadGrid => head_grid(area, &source),
        Figure::QkMatrix => qk_matrix(area, &source),
        Figure::PcaMap => pca_map(area, &source),
        Figure::NullDistributions => {
            let stats = result.statistics.as_ref().ok_or_else(|| missing(figure, shown))?;
            draw_null_distributions(area, stats).map(|_| DrawnFigure::plain(None))
        }
    }
}

/// The figure as SVG text (export): its cells as rectangles.
pub fn figure_svg<'a>(figure: Figure, shown: impl Into<Shown<'a>>, options: &FigureOptions) -> Result<String, String> {
    let shown = shown.into();
    to_svg(figure.size_for(shown.result), |area| {
        let drawn = draw_figure(area, figure, shown, options)?;
        drawn.cells.map_or(Ok(()), |cells| cells.paint_as_rectangles(area))
    })
}

/// Why a figure cannot be drawn from this run, in the page's words.
fn missing(figure: Figure, shown: Shown) -> String {
    let option = figure.page_option().unwrap_or("the analysis it needs");
    let layer = match shown.view.head {
        Some(h) => format!("head {h} of layer {}", shown.result.layer),
        None => format!("layer {}", shown.result.layer),
    };
    format!(
        "{}: this run has no data for this figure of {layer} (turn on \u{201c}{option}\u{201d} in Beyond the lecture and run again)",
        figure.id()
    )
}

type Drawn = Result<DrawnFigure, String>;

fn group_mask<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, source: &Source) -> Drawn {
    let spec = GroupMaskSpec {
        title: "Group mask",
        labels: &source.words,
        categories: &source.categories,
        category_names: &source.category_names,
    };
    draw_group_mask(area, &spec).map(|cells| DrawnFigure::grid(cells, HitMap::Cells))
}

/// A cosine heatmap, with `lecture` limits when the user asks for them and the lecture has some.
fn heatmap<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    source: &Source,
    title: &str,
    matrix: &[Vec<f64>],
    lecture: Option<(f64, f64)>,
) -> Drawn {
    let range = match lecture.filter(|_| source.options.lecture_limits) {
        Some((lo, hi)) => ColourRange::Fixed(lo, hi),
        None => ColourRange::Auto,
    };
    let spec = HeatmapSpec {
        title,
        matrix,
        labels: &source.words,
        categories: &source.categories,
        range,
        highlight: source.options.highlight,
    };
    draw_cosine_heatmap(area, &spec).map(|cells| DrawnFigure::grid(cells, HitMap::Cells))
}

fn histograms<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, source: &Source, title: &str) -> Drawn {
    let result = source.result();
    let spec = HistogramSpec {
        title,
        q: &result.q.histogram,
        k: &result.k.histogram,
    };
    let drawn: DrawResult = match &result.v {
        Some(v) => draw_qkv_histograms(area, &spec, &v.histogram),
        None => draw_similarity_histograms(area, &spec),
    };
    drawn.map(|_| DrawnFigure::plain(None))
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

fn selectivity<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, source: &Source) -> Drawn {
    let result = source.result();
    let within = |s: &SpaceResult| -> Vec<Option<f64>> { s.within_means.iter().map(|m| m.mean).collect() };
    let (wq, wk) = (within(&result.q), within(&result.k));
    let wv = result.v.as_ref().map(within).unwrap_or_default();
    let mut spaces = vec![bars("Q", &result.q, &wq), bars("K", &result.k, &wk)];
    if let Some(v) = &result.v {
        spaces.push(bars("V", v, &wv));
    }
    let spec = SelectivitySpec {
        spaces: &spaces,
        category_names: &source.category_names,
    };
    draw_selectivity(area, &spec).map(|_| DrawnFigure::plain(None))
}

fn rsa_scatter<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, source: &Source) -> Drawn {
    let result = source.result();
    let (q, k) = (upper_triangle(&result.q.cosine), upper_triangle(&result.k.cosine));
    let spec = RsaScatterSpec {
        q: &q,
        k: &k,
        r: result.rsa.r,
        highlight: source.highlight_pair(),
    };
    let n = source.words.len();
    draw_rsa_scatter(area, &spec).map(|points| DrawnFigure::plain(Some(HitMap::Points { n, points })))
}

fn rsa_per_category<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, source: &Source) -> Drawn {
    let result = source.result();
    let (q, k) = (upper_triangle(&result.q.cosine), upper_triangle(&result.k.cosine));
    let r: Vec<Option<f64>> = result.rsa.per_category.iter().map(|c| c.r).collect();
    let spec = RsaCategoriesSpec {
        q: &q,
        k: &k,
        categories: &source.categories,
        category_names: &source.category_names,
        r: &r,
        highlight: source.highlight_pair(),
    };
    draw_rsa_per_category(area, &spec).map(|_| DrawnFigure::plain(None))
}

fn layer_sweep<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, source: &Source) -> Drawn {
    let result = source.result();
    let spec = LayerSweepSpec {
        layers: result.layers.as_deref().unwrap_or_default(),
        analysed: result.layer,
    };
    draw_layer_sweep(area, &spec).map(|c| DrawnFigure::plain(Some(HitMap::Layers(c))))
}

fn head_grid<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, source: &Source) -> Drawn {
    let result = source.result();
    let spec = HeadGridSpec {
        heads: result.heads.as_deref().unwrap_or_default(),
        space: source.options.grid_space,
        analysed: result.layer,
        selected: source.options.head,
    };
    draw_head_grid(area, &spec).map(|c| DrawnFigure::plain(Some(HitMap::HeadCells(c))))
}

/// The selected head's Q·K matrix (head 0 when none is selected).
fn qk_matrix<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, source: &Source) -> Drawn {
    let heads = source.result().qk.as_deref().unwrap_or_default();
    let h = source.options.head.unwrap_or(0);
    let head = heads
        .iter()
        .find(|q| q.head == h)
        .ok_or_else(|| format!("{}: no head {h} in the result ({} heads)", Figure::QkMatrix.id(), heads.len()))?;
    let spec = QkMatrixSpec {
        head,
        labels: &source.words,
        categories: &source.categories,
        highlight: source.options.highlight,
    };
    draw_qk_matrix(area, &spec).map(|cells| DrawnFigure::grid(cells, HitMap::QkCells))
}

fn pca_map<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, source: &Source) -> Drawn {
    let Some(pca) = source.result().pca.as_ref() else {
        return Err(missing(Figure::PcaMap, source.shown));
    };
    let panels: Vec<PcaPanel> = [("Q", &pca.q), ("K", &pca.k), ("V", &pca.v)]
        .into_iter()
        .filter_map(|(name, p)| Some(PcaPanel { name, pca: p.as_ref()? }))
        .collect();
    let spec = PcaMapSpec {
        panels: &panels,
        labels: &source.words,
        categories: &source.categories,
        category_names: &source.category_names,
        highlight: source.options.highlight,
    };
    draw_pca_map(area, &spec).map(|_| DrawnFigure::plain(None))
}

//! Every figure of the lab from a run's result: one dispatch point for the page's canvases and
//! for the SVG/PNG exports, so what is exported is what is shown.

use plotters::coord::Shift;
use plotters::prelude::*;

use super::{
    draw_cosine_heatmap, draw_group_mask, draw_rsa_per_category, draw_rsa_scatter, draw_selectivity, draw_similarity_histograms,
    CellGrid, ColourRange, GroupMaskSpec, HeatmapSpec, HistogramSpec, RsaCategoriesSpec, RsaScatterSpec, SelectivityBars,
    SelectivitySpec,
};
use crate::analysis::upper_triangle;
use crate::result::{RunResult, SpaceResult};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Figure {
    GroupMask,
    HeatmapQ,
    HeatmapK,
    Histograms,
    Selectivity,
    RsaScatter,
    RsaPerCategory,
}

/// The lecture's colour limits for gpt2-medium, layer 5.
pub const LECTURE_Q_RANGE: (f64, f64) = (0.6, 0.85);
pub const LECTURE_K_RANGE: (f64, f64) = (0.82, 0.95);

/// What the user chose for the figures.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FigureOptions {
    /// Auto limits from the data, or the lecture's fixed ones.
    pub lecture_limits: bool,
    /// A word pair (i, j) picked by the pointer, marked in every figure.
    pub highlight: Option<(usize, usize)>,
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
        }
    }

    /// Pixel size of the figure (canvas and export).
    pub fn size(self, n_categories: usize) -> (u32, u32) {
        match self {
            Figure::GroupMask | Figure::HeatmapQ | Figure::HeatmapK => (560, 520),
            Figure::Histograms | Figure::Selectivity => (560, 400),
            Figure::RsaScatter => (560, 480),
            Figure::RsaPerCategory => ((330 * n_categories.max(1)).min(1320) as u32, 360),
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

/// Where a figure's word pairs are on screen, for finding the pair under the pointer.
#[derive(Clone, Debug, PartialEq)]
pub enum HitMap {
    Cells(CellGrid),
    /// Pixel position of each upper-triangle pair (i < j, row-major).
    Points {
        n: usize,
        points: Vec<(i32, i32)>,
    },
}

impl HitMap {
    /// The word pair (i, j), i != j, under pixel (x, y).
    pub fn pair_at(&self, x: f64, y: f64) -> Option<(usize, usize)> {
        match self {
            HitMap::Cells(grid) => grid.cell_at(x, y).filter(|(i, j)| i != j),
            HitMap::Points { n, points } => {
                let k = super::rsa_scatter::nearest_point(points, x, y, 8.0)?;
                (0..*n).flat_map(|i| (i + 1..*n).map(move |j| (i, j))).nth(k)
            }
        }
    }
}

/// Draws `figure` of `result`; returns where its word pairs are, when it shows them one by one.
pub fn draw_figure<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    figure: Figure,
    result: &RunResult,
    options: &FigureOptions,
) -> Result<Option<HitMap>, String> {
    let words: Vec<String> = result.words.iter().map(|w| w.word.clone()).collect();
    let names = result.experiment.category_names();
    let categories: Vec<usize> = result
        .words
        .iter()
        .map(|w| names.iter().position(|n| *n == w.category).unwrap_or(0))
        .collect();
    let n = words.len();
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
        draw_cosine_heatmap(area, &spec).map(|grid| Some(HitMap::Cells(grid)))
    };
    match figure {
        Figure::GroupMask => {
            let spec = GroupMaskSpec {
                title: "Group mask",
                labels: &words,
                categories: &categories,
                category_names: &names,
            };
            draw_group_mask(area, &spec).map(|_| None)
        }
        Figure::HeatmapQ => heatmap(area, "Q cosine similarity", &result.q.cosine, LECTURE_Q_RANGE),
        Figure::HeatmapK => heatmap(area, "K cosine similarity", &result.k.cosine, LECTURE_K_RANGE),
        Figure::Histograms => {
            let spec = HistogramSpec {
                title: "Distributions of similarities",
                q: &result.q.histogram,
                k: &result.k.histogram,
            };
            draw_similarity_histograms(area, &spec).map(|_| None)
        }
        Figure::Selectivity => {
            let wq: Vec<Option<f64>> = result.q.within_means.iter().map(|m| m.mean).collect();
            let wk: Vec<Option<f64>> = result.k.within_means.iter().map(|m| m.mean).collect();
            let spaces = [bars("Q", &result.q, &wq), bars("K", &result.k, &wk)];
            draw_selectivity(
                area,
                &SelectivitySpec {
                    spaces: &spaces,
                    category_names: &names,
                },
            )
            .map(|_| None)
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
            .map(|points| Some(HitMap::Points { n, points }))
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
            draw_rsa_per_category(area, &spec).map(|_| None)
        }
    }
}

/// The figure as SVG text (export).
pub fn figure_svg(figure: Figure, result: &RunResult, options: &FigureOptions) -> Result<String, String> {
    let size = figure.size(result.experiment.categories.len());
    super::to_svg(size, |area| draw_figure(area, figure, result, options).map(|_| ()))
}

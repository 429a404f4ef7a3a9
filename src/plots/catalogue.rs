//! Which figures there are: their ids, page order and what each needs from a result, in the
//! page's words. A leaf: it imports no figure.

use crate::result::RunResult;

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

    /// The option of "Beyond the lecture" that adds the figure's data to a run (None: the
    /// lecture's figures, always there).
    pub fn page_option(self) -> Option<&'static str> {
        match self {
            Figure::HeatmapV => Some("V"),
            Figure::LayerSweep => Some("Every layer"),
            Figure::HeadGrid => Some("Heads"),
            Figure::QkMatrix => Some("Q·K"),
            Figure::PcaMap => Some("PCA map"),
            Figure::NullDistributions => Some("Statistics"),
            _ => None,
        }
    }
}

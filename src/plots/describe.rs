//! Each figure in words, with its key numbers: the text alternative a screen reader reads for a
//! canvas (`aria-label`), from the same result the figure is drawn from.

use super::catalogue::Figure;
use crate::result::RunResult;

fn fmt3(x: Option<f64>) -> String {
    x.map_or_else(|| "—".to_string(), |x| format!("{x:.3}"))
}

/// What `figure` shows for `result`, in one or two sentences.
pub fn describe(figure: Figure, r: &RunResult) -> String {
    let n = r.words.len();
    let cats = r.experiment.category_names().join(", ");
    let heatmap = |name: &str, s: &crate::analysis::space::SpaceResult| {
        format!(
            "Heatmap of the {name} cosine similarity of every pair of the {n} words, grouped by category ({cats}): mean within categories {}, across {}, selectivity index {}.",
            fmt3(s.within_mean),
            fmt3(s.across_mean),
            fmt3(s.selectivity)
        )
    };
    match figure {
        Figure::GroupMask => {
            format!("The group mask: which of the {n} × {n} word pairs lie within one category ({cats}) and which across.")
        }
        Figure::HeatmapQ => heatmap("query (Q)", &r.q),
        Figure::HeatmapK => heatmap("key (K)", &r.k),
        Figure::HeatmapV => r.v.as_ref().map_or_else(String::new, |v| heatmap("value (V)", v)),
        Figure::Histograms => format!(
            "Histograms of the pair similarities of Q and K in 20 bins: Q from {} to {}, K from {} to {}.",
            fmt3(r.q.histogram.edges.first().copied()),
            fmt3(r.q.histogram.edges.last().copied()),
            fmt3(r.k.histogram.edges.first().copied()),
            fmt3(r.k.histogram.edges.last().copied())
        ),
        Figure::Selectivity => format!(
            "Bars of the selectivity index (mean within / mean across categories): Q {}, K {}.",
            fmt3(r.q.selectivity),
            fmt3(r.k.selectivity)
        ),
        Figure::RsaScatter => format!(
            "Scatter of every word pair's Q similarity against its K similarity: Pearson r = {}.",
            fmt3(r.rsa.r)
        ),
        Figure::RsaPerCategory => {
            let parts: Vec<String> = r
                .rsa
                .per_category
                .iter()
                .map(|c| format!("{} r = {}", c.category, fmt3(c.r)))
                .collect();
            format!("Q against K similarity scatters within each category: {}.", parts.join(", "))
        }
        Figure::LayerSweep => "Selectivity of Q, K and V and RSA r at every layer.".into(),
        Figure::HeadGrid => "Selectivity and RSA r for every layer and head, as a grid of coloured cells.".into(),
        Figure::QkMatrix => "The chosen head's scaled query-key products for every word pair.".into(),
        Figure::PcaMap => {
            "The words' Q, K and V vectors projected on their first two principal components, coloured by category.".into()
        }
        Figure::NullDistributions => {
            "Permutation null distributions of selectivity and RSA r, with the observed values marked.".into()
        }
    }
}

//! RSA as a scatter: the Q similarity (x) against the K similarity (y) of every word pair,
//! with Pearson r in the title, as the lecture plots it (`'ks'` markers, dashed light grid).

use plotters::coord::Shift;
use plotters::prelude::*;

use super::drawing::drawing_error;
use super::look::paper;
use super::scale::padded_range;
use super::scatter::{mark, rsa_title, scatter_chart, square};

pub struct RsaScatterSpec<'a> {
    /// Q similarities of the upper-triangle pairs (i < j, row-major).
    pub q: &'a [f64],
    /// K similarities of the same pairs.
    pub k: &'a [f64],
    /// Pearson r of `q` and `k` (None when undefined).
    pub r: Option<f64>,
    /// Index (into `q`/`k`) of a pair to mark, e.g. the one under the pointer elsewhere.
    pub highlight: Option<usize>,
}

/// The lecture's marker face, `[.9, .7, .7, .5]`.
const FACE: RGBAColor = RGBAColor(230, 179, 179, 0.5);

/// Draws the scatter; returns each point's position in the backend's pixels (for hover).
pub fn draw_rsa_scatter<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    spec: &RsaScatterSpec,
) -> Result<Vec<(i32, i32)>, String> {
    if spec.q.len() != spec.k.len() {
        return Err(format!(
            "RSA scatter: {} Q values but {} K values",
            spec.q.len(),
            spec.k.len()
        ));
    }
    area.fill(&paper()).map_err(drawing_error)?;
    let title = rsa_title("Correlation (RSA score)", spec.r);
    let mut chart = scatter_chart(area, &title, padded_range(spec.q), padded_range(spec.k))?;
    chart
        .draw_series(
            spec.q
                .iter()
                .zip(spec.k)
                .map(|(&x, &y)| square::<DB>((x, y), FACE, Some(BLACK))),
        )
        .map_err(drawing_error)?;
    if let Some(at) = spec.highlight.and_then(|i| Some((*spec.q.get(i)?, *spec.k.get(i)?))) {
        chart.draw_series(std::iter::once(mark::<DB>(at))).map_err(drawing_error)?;
    }
    Ok(spec
        .q
        .iter()
        .zip(spec.k)
        .map(|(&x, &y)| chart.backend_coord(&(x, y)))
        .collect())
}

//! One head's Q·K cross matrix at the analysed layer: `scores[i][j] = q_i·k_j / √d_head`, the
//! attention logits before the softmax (rows: queries, columns: keys; not symmetric, and the
//! diagonal is a score like any other). A sequential colour map over the whole matrix.

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::cells::CellLayer;
use super::colour_bar::draw_colour_bar;
use super::drawing::drawing_error;
use super::grid::{draw_grid, Grid};
use super::look::{font, paper};
use super::scale::{colour, extent};
use crate::analysis::sweep::QkHead;

pub struct QkMatrixSpec<'a> {
    pub head: &'a QkHead,
    pub labels: &'a [String],
    /// Category index of each word, for the separators.
    pub categories: &'a [usize],
    /// A cell (query, key) to outline.
    pub highlight: Option<(usize, usize)>,
}

/// "Q·K/√d, layer 5 head 3 (rows: queries, columns: keys)".
pub fn qk_title(head: &QkHead) -> String {
    format!(
        "Q·K/√d, layer {} head {} (rows: queries, columns: keys)",
        head.layer, head.head
    )
}

fn value(v: Option<f64>) -> String {
    v.map_or("n/a".into(), |v| format!("{v:.3}"))
}

/// "within-category mean 1.234, across 0.987 (i ≠ j)".
pub fn qk_means(head: &QkHead) -> String {
    format!(
        "within-category mean {}, across {} (i ≠ j)",
        value(head.within_mean),
        value(head.across_mean)
    )
}

/// The colour limits: the extent of every score, the diagonal included.
pub fn qk_limits(scores: &[Vec<f64>]) -> (f64, f64) {
    extent(scores.iter().flatten().copied())
}

/// Draws the matrix but for its cells; returns them ((query, key) under the pointer) for the
/// backend to paint.
pub fn draw_qk_matrix<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, spec: &QkMatrixSpec) -> Result<CellLayer, String> {
    let scores = &spec.head.scores;
    let n = scores.len();
    if scores.iter().any(|row| row.len() != n) {
        return Err(format!("Q·K matrix: not square ({n} rows)"));
    }
    let (lo, hi) = qk_limits(scores);
    area.fill(&paper()).map_err(drawing_error)?;
    let (w, _) = area.dim_in_pixel();
    let (head, body) = area.split_vertically(24);
    let style = font(16).pos(Pos::new(HPos::Center, VPos::Top));
    head.draw_text(&qk_title(spec.head), &style, (w as i32 / 2, 6))
        .map_err(drawing_error)?;
    let (main, bar) = body.split_horizontally(w.saturating_sub(64));
    let subtitle = qk_means(spec.head);
    let cells = draw_grid(
        &main,
        &Grid {
            title: &subtitle,
            caption_size: 13,
            n,
            labels: spec.labels,
            categories: spec.categories,
            highlight: spec.highlight,
        },
        |i, j| colour(scores[i][j], lo, hi),
    )?;
    draw_colour_bar(&bar, lo, hi)?;
    Ok(cells)
}

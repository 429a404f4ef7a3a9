//! Value to colour and value to axis: the colour limits (auto or the lecture's fixed ones), the
//! colour map (viridis or cividis) that clips like imshow, and data extents. A leaf: it imports
//! no figure.

use std::ops::Range;

use plotters::prelude::*;

use super::look::current;

/// Colour limits: from the data (off-diagonal min..max) or fixed like the lecture's.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ColourRange {
    Auto,
    Fixed(f64, f64),
}

impl ColourRange {
    /// The limits in force for `matrix`: auto uses the off-diagonal values (the diagonal is 1).
    pub fn limits(self, matrix: &[Vec<f64>]) -> (f64, f64) {
        match self {
            ColourRange::Fixed(lo, hi) => (lo, hi),
            ColourRange::Auto => off_diagonal_extent(matrix),
        }
    }
}

/// min..max of the values off the diagonal; a unit range around a single value.
fn off_diagonal_extent(matrix: &[Vec<f64>]) -> (f64, f64) {
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for (i, row) in matrix.iter().enumerate() {
        for (j, &v) in row.iter().enumerate().take(matrix.len()) {
            if i != j {
                lo = lo.min(v);
                hi = hi.max(v);
            }
        }
    }
    if lo < hi {
        (lo, hi)
    } else {
        (lo - 0.5, lo + 0.5)
    }
}

/// The colour of `v` between `lo` and `hi` on the viewer's scale (viridis unless chosen).
pub(crate) fn colour(v: f64, lo: f64, hi: f64) -> RGBColor {
    // Values outside the limits are clipped, as imshow does.
    current().scale.between(v.clamp(lo, hi), lo, hi)
}

/// Colour limits spanning the finite values (0..1 when there are none, ±0.5 around a single
/// value): the head grid's and the Q·K matrix's.
pub(crate) fn extent(values: impl IntoIterator<Item = f64>) -> (f64, f64) {
    let (lo, hi) = values
        .into_iter()
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| (lo.min(v), hi.max(v)));
    if lo > hi {
        (0.0, 1.0)
    } else if lo == hi {
        (lo - 0.5, hi + 0.5)
    } else {
        (lo, hi)
    }
}

/// The values' extent with a 5% margin (a unit range around a single value; 0..1 when empty):
/// the axes of scatters and line plots.
pub(crate) fn padded_range(values: &[f64]) -> Range<f64> {
    let (lo, hi) = values
        .iter()
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &v| (lo.min(v), hi.max(v)));
    if lo > hi {
        0.0..1.0
    } else if lo == hi {
        lo - 0.5..hi + 0.5
    } else {
        let pad = 0.05 * (hi - lo);
        lo - pad..hi + pad
    }
}

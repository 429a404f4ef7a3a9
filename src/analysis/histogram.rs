//! Histograms with numpy's semantics (`np.histogram(values, bins)`): equal bins over
//! [min, max], the last bin closed; edges and bin indices computed in f64 exactly as numpy does,
//! so a value within an ulp of an edge lands in the same bin.

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Histogram {
    pub counts: Vec<u64>,
    pub edges: Vec<f64>,
}

impl Histogram {
    pub fn new(values: &[f64], bins: usize) -> Self {
        assert!(bins > 0, "a histogram needs at least one bin");
        let finite = values.iter().copied().filter(|v| v.is_finite());
        let (mut lo, mut hi) = finite.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| (lo.min(v), hi.max(v)));
        if lo > hi {
            // No values: numpy uses the range [0, 1].
            (lo, hi) = (0.0, 1.0);
        }
        if lo == hi {
            lo -= 0.5;
            hi += 0.5;
        }
        // np.linspace(lo, hi, bins + 1): i * step + lo, last edge exactly hi.
        let step = (hi - lo) / bins as f64;
        let mut edges: Vec<f64> = (0..=bins).map(|i| i as f64 * step + lo).collect();
        edges[bins] = hi;
        let mut counts = vec![0u64; bins];
        let norm = hi - lo;
        for v in values.iter().copied().filter(|v| v.is_finite()) {
            let mut idx = (((v - lo) / norm) * bins as f64) as usize;
            if idx == bins {
                idx -= 1;
            }
            // numpy's correction for values within an ulp of an edge.
            if v < edges[idx] {
                idx -= 1;
            } else if v >= edges[idx + 1] && idx != bins - 1 {
                idx += 1;
            }
            counts[idx] += 1;
        }
        Histogram { counts, edges }
    }
}

//! Views of a result for the page: one attention head's slice of Q, K and V, and/or the vectors
//! mean-centred over words, analysed by the same functions as the whole layer.

use crate::analysis::vectors::{center, cosine_rows, split_heads, to_f64};
use crate::analysis::Grouping;
use crate::error::{Error, Result};
use crate::result::{rsa_of, space_of, RunResult, SpaceResult};

/// What part of the analysed layer the figures show.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct View {
    /// One head (the slice h*d_head..(h+1)*d_head of q, k and v); None: the whole layer.
    pub head: Option<usize>,
    /// Mean-centre the vectors (over words) before cosine.
    pub centered: bool,
}

impl RunResult {
    /// This result with q, k, v and rsa replaced by those of `view`; everything else (words,
    /// layers, heads, statistics) is kept. The whole, raw layer is the result itself.
    pub fn view(&self, view: View) -> Result<RunResult> {
        if view == View::default() {
            return Ok(self.clone());
        }
        if let Some(h) = view.head.filter(|&h| h >= self.model.n_head) {
            return Err(Error::Analysis(format!(
                "head {h} does not exist: the model has {} heads",
                self.model.n_head
            )));
        }
        let names = self.experiment.category_names();
        let grouping = Grouping::new(self.category_indices(), names.len());
        let vectors = |rows: &[Vec<f32>]| -> Result<Vec<Vec<f64>>> {
            let x = to_f64(rows);
            let x = if view.centered { center(&x) } else { x };
            Ok(match view.head {
                Some(h) => split_heads(&x, self.model.n_head)?.swap_remove(h),
                None => x,
            })
        };
        let space = |s: &SpaceResult| -> Result<SpaceResult> {
            let x = vectors(&s.vectors)?;
            let f32s = x.iter().map(|r| r.iter().map(|&v| v as f32).collect()).collect();
            Ok(space_of(cosine_rows(&x)?, f32s, &grouping, &names))
        };
        let mut out = self.clone();
        out.q = space(&self.q)?;
        out.k = space(&self.k)?;
        out.v = self.v.as_ref().map(space).transpose()?;
        out.rsa = rsa_of(&out.q.cosine, &out.k.cosine, &grouping, &names);
        Ok(out)
    }
}

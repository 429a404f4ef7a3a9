//! Views of a result for the page: one attention head's slice of Q, K and V, and/or the vectors
//! mean-centred over words, analysed by the same functions as the whole layer. A view's result
//! remembers the view (`ViewedResult`), so figures title themselves from it.

use std::ops::Deref;

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

impl View {
    /// The whole, raw layer: the result itself.
    pub const WHOLE_LAYER: View = View {
        head: None,
        centered: false,
    };

    /// What a figure's title adds for this view: ", head 3" for one head, nothing for the layer.
    pub fn title_suffix(&self) -> String {
        self.head.map(|h| format!(", head {h}")).unwrap_or_default()
    }
}

/// A result as one view shows it: the result's q, k, v and rsa are the view's, and `view` says
/// which view that is. Reads as the `RunResult` it holds.
#[derive(Clone, Debug, PartialEq)]
pub struct ViewedResult {
    pub view: View,
    pub result: RunResult,
}

impl From<RunResult> for ViewedResult {
    /// A result as it is: the whole, raw layer.
    fn from(result: RunResult) -> Self {
        ViewedResult {
            view: View::WHOLE_LAYER,
            result,
        }
    }
}

impl Deref for ViewedResult {
    type Target = RunResult;
    fn deref(&self) -> &RunResult {
        &self.result
    }
}

impl PartialEq<RunResult> for ViewedResult {
    fn eq(&self, other: &RunResult) -> bool {
        self.result == *other
    }
}

/// A result and the view it is, borrowed: what the figures draw. A plain `&RunResult` is the
/// whole, raw layer.
#[derive(Clone, Copy, Debug)]
pub struct Shown<'a> {
    pub result: &'a RunResult,
    pub view: View,
}

impl<'a> From<&'a RunResult> for Shown<'a> {
    fn from(result: &'a RunResult) -> Self {
        Shown {
            result,
            view: View::WHOLE_LAYER,
        }
    }
}

impl<'a> From<&'a ViewedResult> for Shown<'a> {
    fn from(viewed: &'a ViewedResult) -> Self {
        Shown {
            result: &viewed.result,
            view: viewed.view,
        }
    }
}

impl RunResult {
    /// This result with q, k, v and rsa replaced by those of `view`; everything else (words,
    /// layers, heads, statistics) is kept. The whole, raw layer is the result itself.
    pub fn view(&self, view: View) -> Result<ViewedResult> {
        if view == View::WHOLE_LAYER {
            return Ok(self.clone().into());
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
        Ok(ViewedResult { view, result: out })
    }
}

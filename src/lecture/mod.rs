//! The guided lab (`?mode=lecture&step=N`): the lecture notebook's steps in its order, each with
//! an explanation for students, the formula with this run's numbers, the notebook's lines that
//! compute it, the live figures, and a question to answer before the reveal. Pure: built from
//! the experiment and the last result, so every number shown is the run's (tests/suite/lecture.rs).

mod code;
mod numbers;
mod steps;

pub use numbers::{fmt3, selectivity_formula};
pub use steps::steps;

use crate::plots::figure::Figure;

/// The number of steps (the last one: what to try next).
pub const STEPS: usize = 11;

/// One page of the guided lab.
#[derive(Clone, Debug, PartialEq)]
pub struct Step {
    /// 1-based, as `&step=N` and `data-step` name it.
    pub number: usize,
    pub title: &'static str,
    /// The explanation, a paragraph each, with this run's numbers where they matter.
    pub text: Vec<String>,
    /// The step's formula with this run's numbers substituted.
    pub formula: Option<String>,
    /// The lecture's PyTorch lines for this step.
    pub code: Option<&'static str>,
    pub figures: Vec<Figure>,
    pub question: Option<Question>,
    /// Step 11: what to try next, each a setup the page can link to.
    pub next: Vec<Suggestion>,
}

/// "Predict first": asked before the reveal; the answer comes from this run's numbers.
#[derive(Clone, Debug, PartialEq)]
pub struct Question {
    pub ask: String,
    pub answer: String,
}

/// A setup to try next: another layer, the layer sweep, heads, or new categories.
#[derive(Clone, Debug, PartialEq)]
pub struct Suggestion {
    pub label: String,
    pub layer: Option<usize>,
    pub all_layers: bool,
    pub heads: bool,
    /// Open the lab's editor (your own categories).
    pub edit: bool,
}

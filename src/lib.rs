//! QK Lens: how GPT-2's attention queries and keys represent semantic categories.
//!
//! The core (experiment, model, analysis, result, plots, page state) is pure and runs natively
//! and in wasm32; `app` and `web` are the browser shell.
//!
//! The entry points a caller needs:
//! - [`Experiment`] (the lab as JSON) in, [`RunResult`] (the result JSON contract) out;
//! - `run::run_local` (native only): a whole run on a model's files in memory (the CLI, the tests);
//! - [`run::run`] over a [`run::RunHost`]: the same run where the bytes, the forward's ranks and
//!   the clock come from elsewhere (the page's engine worker);
//! - [`run::Prepared`]: a run before the weights (what it will download: `needed_bytes`);
//! - [`plots::figure::draw_figure`] / [`plots::figure::figure_svg`]: any figure of a result, on
//!   any plotters backend;
//! - [`page::reduce`]: the page's state and the actions that change it.

pub mod analysis;
pub mod class_view;
pub mod error;
pub mod experiment;
pub mod export;
pub mod lecture;
pub mod model;
pub mod page;
pub mod plots;
pub mod presets;
pub mod protocol;
pub mod result;
pub mod result_view;
pub mod revision;
pub mod run;

#[cfg(target_arch = "wasm32")]
pub mod app;
#[cfg(target_arch = "wasm32")]
pub mod web;

pub use error::{Error, Result};
pub use experiment::{Category, Experiment};
pub use result::RunResult;

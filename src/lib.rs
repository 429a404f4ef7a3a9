//! QK Lens: how GPT-2's attention queries and keys represent semantic categories.
//!
//! The core (experiment, model, analysis, result, plots) is pure and runs natively and in wasm32;
//! `app` and `web` are the browser shell.

pub mod analysis;
pub mod error;
pub mod experiment;
pub mod export;
pub mod model;
pub mod page;
pub mod plots;
pub mod presets;
pub mod protocol;
pub mod result;
pub mod result_view;
pub mod run;

#[cfg(target_arch = "wasm32")]
pub mod app;
#[cfg(target_arch = "wasm32")]
pub mod web;

pub use error::{Error, Result};
pub use experiment::{Category, Experiment};
pub use result::RunResult;

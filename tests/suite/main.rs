//! The native test suite, as one crate (one link of the library instead of one per file): a
//! module per area. The wasm32 build has none of it (it reads fixture files and runs the CLI).
#![cfg(not(target_arch = "wasm32"))]

mod analysis;
mod bad_inputs;
mod cell_image;
mod cli_errors;
mod common;
mod experiment;
mod export;
mod figure_dispatch;
mod figures;
mod fuzz_common;
mod fuzz_experiment;
mod fuzz_header;
mod fuzz_plan;
mod fuzz_tokenizer;
mod golden;
mod matmul;
mod page_state;
mod partial_load;
mod plots;
mod plots_extended;
mod prefix_reuse;
mod query_options;
mod stats;
mod sweep;
mod tensor_parallel;
mod tokenizer;

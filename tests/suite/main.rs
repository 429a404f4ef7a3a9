//! The test suite, as one crate (one link of the library instead of one per file): a module
//! per area. Natively, all of it; on wasm32 (`scripts/test-wasm.sh`: node, through
//! wasm-bindgen-test-runner) the kernel tests, so the simd128 lanes the page runs are checked
//! against f64 too. The rest reads fixture files and runs the CLI: native only.

#[cfg(not(target_arch = "wasm32"))]
mod analysis;
#[cfg(not(target_arch = "wasm32"))]
mod bad_inputs;
#[cfg(not(target_arch = "wasm32"))]
mod cell_image;
#[cfg(not(target_arch = "wasm32"))]
mod class_view;
#[cfg(not(target_arch = "wasm32"))]
mod cli_errors;
#[cfg(not(target_arch = "wasm32"))]
mod common;
#[cfg(not(target_arch = "wasm32"))]
mod experiment;
#[cfg(not(target_arch = "wasm32"))]
mod export;
#[cfg(not(target_arch = "wasm32"))]
mod figure_dispatch;
#[cfg(not(target_arch = "wasm32"))]
mod figures;
#[cfg(not(target_arch = "wasm32"))]
mod fuzz_common;
#[cfg(not(target_arch = "wasm32"))]
mod fuzz_experiment;
#[cfg(not(target_arch = "wasm32"))]
mod fuzz_header;
#[cfg(not(target_arch = "wasm32"))]
mod fuzz_plan;
#[cfg(not(target_arch = "wasm32"))]
mod fuzz_tokenizer;
#[cfg(not(target_arch = "wasm32"))]
mod golden;
#[cfg(not(target_arch = "wasm32"))]
mod lecture;
#[cfg(not(target_arch = "wasm32"))]
mod live;
mod matmul;
#[cfg(not(target_arch = "wasm32"))]
mod notebook;
#[cfg(not(target_arch = "wasm32"))]
mod packed_store;
#[cfg(not(target_arch = "wasm32"))]
mod page_state;
#[cfg(not(target_arch = "wasm32"))]
mod partial_load;
#[cfg(not(target_arch = "wasm32"))]
mod plots;
#[cfg(not(target_arch = "wasm32"))]
mod plots_extended;
#[cfg(not(target_arch = "wasm32"))]
mod prefix_reuse;
#[cfg(not(target_arch = "wasm32"))]
mod protocol;
#[cfg(not(target_arch = "wasm32"))]
mod query_options;
#[cfg(not(target_arch = "wasm32"))]
mod stats;
#[cfg(not(target_arch = "wasm32"))]
mod sweep;
#[cfg(not(target_arch = "wasm32"))]
mod tensor_parallel;
#[cfg(not(target_arch = "wasm32"))]
mod tokenizer;

#!/usr/bin/env bash
# The kernel tests (tests/suite/matmul.rs) built for wasm32 with simd128 (.cargo/config.toml)
# and run in node by wasm-bindgen-test-runner: the lanes the page computes with, against f64.
# In release, as the site is built: after `trunk build --release` most of it is compiled already.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
export CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER=wasm-bindgen-test-runner
cargo test --locked --release --target wasm32-unknown-unknown --test suite

#!/usr/bin/env bash
# The house's habits, as CI checks them: formatting, clippy with every warning an error
# (natively and for wasm32, where the page and the engine live; lints in Cargo.toml's [lints]
# and clippy.toml), and docs without broken links.
#
#   scripts/lint.sh          all of it
#   scripts/lint.sh native   format, native clippy and docs, the fuzz targets
#   scripts/lint.sh wasm     clippy and docs for wasm32 (CI runs it beside the browser tests,
#                            which leave a core idle most of the time)
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
part="${1:-all}"
if [ "$part" != wasm ]; then
  cargo fmt --all -- --check
  cargo clippy --locked --all-targets -- -D warnings
  RUSTDOCFLAGS="-D warnings" cargo doc --locked --no-deps
  # The coverage-guided fuzz targets (fuzz/, `cargo +nightly fuzz run` needs nightly) are kept
  # compiling with the stable toolchain, so an API change cannot leave them behind. In the main
  # target dir with the same dev profile: what clippy checked above is reused (~13 s, not ~35 s).
  CARGO_TARGET_DIR="$PWD/target" cargo check --locked --manifest-path fuzz/Cargo.toml --bins
fi
if [ "$part" != native ]; then
  cargo clippy --locked --target wasm32-unknown-unknown --all-targets -- -D warnings
  RUSTDOCFLAGS="-D warnings" cargo doc --locked --no-deps --target wasm32-unknown-unknown --lib
fi

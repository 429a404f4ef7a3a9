#!/usr/bin/env bash
# Runs every test: the house's habits (format, clippy natively and for wasm32, docs), the
# native core (goldens against PyTorch, analysis, CLI errors, figures), then the built site in
# headless Chromium against the fixture models.
# Installs what it needs when missing (scripts/install-tools.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
step() { printf '\n=== %s (%ss)\n' "$*" "$(( $(date +%s) - start ))"; }

step "tools"
scripts/install-tools.sh test
export PATH="$PWD/.tools/node_modules/.bin:$HOME/.cargo/bin:$PATH"
cargo fetch --locked >/dev/null

step "habits: cargo fmt --check, clippy -D warnings, cargo doc -D warnings (native; wasm32 beside the browser tests)"
scripts/lint.sh native

# cargo-nextest (on the machine, or `cargo install cargo-nextest`) runs each test in its own
# process, both cores busy to the end: ~25 s for the suite where `cargo test` took ~75 s.
if cargo nextest --version >/dev/null 2>&1; then
  step "native tests: cargo nextest run, then the doc tests"
  cargo nextest run --locked --no-fail-fast
  cargo test --locked --doc
else
  step "native tests: cargo test"
  cargo test --locked
fi

step "build the site: trunk build --release"
trunk build --release --offline

step "wasm32 kernel tests: the simd128 matmul in node (release, after the site's build)"
scripts/test-wasm.sh

step "browser tests: headless Chromium against dist/ on 127.0.0.1, then the core cases in Firefox ESR and WebKitGTK, and the wasm32 habits beside them"
# The browser tests mostly wait on the browser: the wasm32 clippy and docs use the idle core.
# Niced, so the page under test keeps its core.
lint_log="$(mktemp)"
nice -n 10 scripts/lint.sh wasm >"$lint_log" 2>&1 &
lint_pid=$!
e2e=0
tests/e2e/run.sh || e2e=$?
lint=0
wait "$lint_pid" || lint=$?
step "habits for wasm32 (clippy -D warnings, cargo doc -D warnings): exit $lint"
cat "$lint_log"
[ "$e2e" -eq 0 ] || { echo "browser tests failed (exit $e2e)"; exit "$e2e"; }
[ "$lint" -eq 0 ] || { echo "wasm32 habits failed (exit $lint)"; exit "$lint"; }

step "all tests passed"

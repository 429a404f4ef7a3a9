#!/usr/bin/env bash
# Builds the app and serves it on http://127.0.0.1:8080 (installs the toolchain when missing).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-tools.sh build
export PATH="$PWD/.tools/node_modules/.bin:$HOME/.cargo/bin:$PATH"
cargo fetch --locked >/dev/null
exec trunk serve --release --offline --address 127.0.0.1 --port 8080

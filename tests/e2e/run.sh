#!/usr/bin/env bash
# Runs the QK Lens end-to-end tests (needs <repo>/dist from `trunk build`, and /usr/bin/chromium
# or CHROMIUM=/path/to/chromium). Exit code is node --test's.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules ]; then
  npm ci --no-audit --no-fund
  touch node_modules
fi
exec node --test --test-reporter=spec server.test.mjs qk.test.mjs lab.test.mjs live.test.mjs lecture.test.mjs faults.test.mjs views.test.mjs heatmaps.test.mjs workers.test.mjs

#!/usr/bin/env bash
# Runs the QK Lens end-to-end tests (needs <repo>/dist from `trunk build`, and /usr/bin/chromium
# or CHROMIUM=/path/to/chromium; engines.test.mjs, last, also Firefox ESR and WebKitGTK: see
# browsers.mjs). Exit code is node --test's.
#   tests/e2e/run.sh                                    # every file
#   QK_ENGINES=webkit tests/e2e/run.sh engines.test.mjs # some files; one engine of engines.test.mjs
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules ]; then
  npm ci --no-audit --no-fund
  touch node_modules
fi
files=("$@")
if [ ${#files[@]} -eq 0 ]; then
  # Chromium's files first, then the core cases in the other engines.
  files=(server.test.mjs qk.test.mjs lab.test.mjs live.test.mjs faults.test.mjs views.test.mjs heatmaps.test.mjs workers.test.mjs
    engines.test.mjs)
fi
exec node --test --test-reporter=spec "${files[@]}"

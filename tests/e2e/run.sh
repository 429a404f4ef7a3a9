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
# node --test runs the files it is given in its own order: Chromium's files first, then the
# core cases in the other engines (engines.test.mjs) as a second run. Exit: the first failure's.
if [ $# -gt 0 ]; then
  exec node --test --test-reporter=spec "$@"
fi
status=0
node --test --test-reporter=spec server.test.mjs qk.test.mjs lab.test.mjs live.test.mjs lecture.test.mjs faults.test.mjs crash.test.mjs \
  hub.test.mjs class.test.mjs views.test.mjs heatmaps.test.mjs workers.test.mjs insecure.test.mjs || status=$?
node --test --test-reporter=spec engines.test.mjs || { rc=$?; [ "$status" -ne 0 ] || status=$rc; }
exit "$status"

#!/usr/bin/env bash
# "Check it in Python", executed: for each fixture model folder and each experiment, the CLI makes
# a result (qk-lens run), exports its notebook (qk-lens notebook, MODEL = the local folder), and
# nbclient runs every cell with PyTorch + transformers; the notebook's last cell asserts that its
# numbers equal the embedded result within 1e-4. A tampered result must make that cell fail (so
# the check can fail). Not in CI (torch is too big to install there).
#
#   scripts/check-notebook.sh [MODEL_DIR...]     (default: every tests/fixtures/models/*)
#
# Python: the venv $QK_NOTEBOOK_VENV (default ~/.cache/qk-goldens-venv) with torch and
# transformers; nbclient, ipykernel, nbformat and matplotlib are pip-installed into it if missing.
# Time taken (2 cores shared with other builds, torch 2.15 CPU, transformers 5.25): 73 s on a
# quiet machine, 183 s under load, for the 4 fixture models x 2 experiments + the extended case +
# the tampered control (5-25 s per notebook), once the release CLI is built (that adds ~1 min).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
VENV="${QK_NOTEBOOK_VENV:-$HOME/.cache/qk-goldens-venv}"
PY="$VENV/bin/python"
EXPERIMENTS=(tests/e2e/experiments/lecture-L1.json tests/e2e/experiments/four-categories-L2.json)
if [ "$#" -gt 0 ]; then MODELS=("$@"); else MODELS=(tests/fixtures/models/*/); fi

[ -x "$PY" ] || { echo "no Python venv at $VENV (needs torch and transformers)" >&2; exit 1; }
"$PY" -c 'import torch, transformers' || { echo "$VENV lacks torch or transformers" >&2; exit 1; }
"$PY" -c 'import nbclient, ipykernel, nbformat, matplotlib' 2>/dev/null ||
  "$PY" -m pip install -q nbclient ipykernel nbformat matplotlib

started=$(date +%s)
cargo build --locked --release --bin qk-lens
CLI=target/release/qk-lens
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

# Executes a notebook; prints its last cell's output; exit status 0 when every cell ran.
cat > "$WORK/execute.py" <<'EOF'
import re
import sys

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

nb = nbformat.read(sys.argv[1], as_version=4)
nbformat.validate(nb)
try:
    NotebookClient(nb, timeout=900, kernel_name="python3", resources={"metadata": {"path": sys.argv[2]}}).execute()
except CellExecutionError as e:
    print(re.sub(r"\x1b\[[0-9;]*m", "", str(e)).strip().splitlines()[-1])
    sys.exit(1)
finally:
    nbformat.write(nb, sys.argv[1])
print("".join(o.get("text", "") for o in nb.cells[-1].outputs).strip().splitlines()[-1])
EOF

# run_case NAME RESULT_JSON MODEL_DIR: exports and executes; 0 when the notebook passed.
run_case() {
  local nb="$WORK/$1.ipynb"
  "$CLI" notebook "$2" --model "$(realpath "$3")" -o "$nb"
  "$PY" "$WORK/execute.py" "$nb" "$WORK" 2> "$WORK/$1.stderr"
}

failures=0
summary=()
for model in "${MODELS[@]}"; do
  model=${model%/}
  for exp in "${EXPERIMENTS[@]}"; do
    name="$(basename "$model")--$(basename "$exp" .json)"
    t0=$(date +%s)
    if ! "$CLI" run "$exp" --model-dir "$model" --out "$WORK/$name.json" 2> "$WORK/$name.cli"; then
      summary+=("FAIL  $name: qk-lens run failed: $(tail -1 "$WORK/$name.cli")")
      failures=$((failures + 1))
      continue
    fi
    if out=$(run_case "$name" "$WORK/$name.json" "$model"); then
      summary+=("pass  $name ($(( $(date +%s) - t0 )) s): $out")
    else
      summary+=("FAIL  $name: $out")
      failures=$((failures + 1))
    fi
  done
done

# Beyond the lecture: V, mean-centred vectors and the statistics' Spearman rho are compared too.
model=${MODELS[0]%/}
name="$(basename "$model")--lecture-L1-v-center-stats"
"$CLI" run "${EXPERIMENTS[0]}" --model-dir "$model" --v --center --stats --permutations 50 --out "$WORK/$name.json" 2> /dev/null
if out=$(run_case "$name" "$WORK/$name.json" "$model"); then
  summary+=("pass  $name: $out")
else
  summary+=("FAIL  $name: $out")
  failures=$((failures + 1))
fi

# The control: the same run with the page's RSA r moved by 0.001 must fail the last cell.
"$CLI" run "${EXPERIMENTS[0]}" --model-dir "$model" --out "$WORK/control.json" 2> /dev/null
"$PY" - "$WORK/control.json" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
r["rsa"]["r"] += 1e-3
json.dump(r, open(sys.argv[1], "w"))
EOF
if out=$(run_case control "$WORK/control.json" "$model"); then
  summary+=("FAIL  control (RSA r of the result moved by 1e-3) passed: $out")
  failures=$((failures + 1))
else
  summary+=("pass  control: a result with RSA r moved by 1e-3 fails the check: ${out:0:160}")
fi

printf '%s\n' "${summary[@]}"
echo "took $(( $(date +%s) - started )) s"
[ "$failures" -eq 0 ] || { echo "$failures check(s) failed" >&2; exit 1; }

#!/usr/bin/env bash
# Regenerates every golden file in tests/fixtures/golden with PyTorch + transformers
# (scripts/goldens/goldens.py), and the bf16 fixture model it needs.
#
#   scripts/make-goldens.sh           write the goldens into tests/fixtures/golden
#   scripts/make-goldens.sh --check   write them into a temporary directory and compare them with
#                                     the committed ones at the tests' tolerances (compare.py)
#
# Uses (and creates once, ~3 GB) a venv outside the repository: $QK_GOLDENS_VENV, default
# ~/.cache/qk-goldens-venv, with torch, transformers, safetensors, tokenizers and numpy.
# CI does not run this: the goldens are committed.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
VENV=${QK_GOLDENS_VENV:-$HOME/.cache/qk-goldens-venv}
if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c 'import torch, transformers, safetensors, tokenizers, numpy' 2>/dev/null; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet torch --index-url https://download.pytorch.org/whl/cpu ||
    "$VENV/bin/pip" install --quiet torch
  "$VENV/bin/pip" install --quiet transformers safetensors tokenizers numpy
fi
PY="$VENV/bin/python"
G=tests/fixtures/golden
W=scripts/goldens/lecture.words.txt
check=0
if [ "${1:-}" = "--check" ]; then
  check=1
  OUT=$(mktemp -d)
  SRC=$G   # the statistics of the committed sources, comparable to 1e-12
else
  OUT=$G
  SRC=$G   # the statistics of the sources just written
fi
gen() { "$PY" scripts/goldens/goldens.py "$@"; }

# The bf16 fixture: the fp32 hub model's tensors rounded to bfloat16.
if [ $check = 0 ] || [ ! -f tests/fixtures/models/tiny-gpt2-hub-bf16/model.safetensors ]; then
  gen bf16 --src tests/fixtures/models/tiny-gpt2-hub --out tests/fixtures/models/tiny-gpt2-hub-bf16
fi
for model in tiny-gpt2-hub tiny-gpt2-hub-fp16 tiny-gpt2-hub-bf16 tiny-gpt2-savepretrained; do
  for layer in 1 3; do
    gen analysis --model $model --layer $layer --words $W --format lecture --out "$OUT/$model.L$layer.json"
  done
done
for layer in 0 2; do
  gen analysis --model tiny-gpt2-hub --layer $layer --words $W --format general --out "$OUT/tiny-gpt2-hub.L$layer.json"
done
gen analysis --model tiny-gpt2-hub --layer 2 --words $G/mixed.words.txt --out "$OUT/tiny-gpt2-hub.mixed.L2.json"
gen analysis --model tiny-gpt2-hub --layer 1 --words $G/single.words.txt --out "$OUT/tiny-gpt2-hub.single.L1.json"
# The live lab's edit (a word removed from interior, one added to fruit) after the lecture run.
gen analysis --model tiny-gpt2-hub --layer 3 --words $G/edited.words.txt --out "$OUT/tiny-gpt2-hub.edited.L3.json"
gen sweep --model tiny-gpt2-hub --words $W --out "$OUT/tiny-gpt2-hub.sweep.json"
gen stats --source $SRC/tiny-gpt2-hub.L2.json --permutations 999 --seed 42 --out "$OUT/stats.L2.json"
gen stats --source $SRC/tiny-gpt2-hub.mixed.L2.json --permutations 500 --seed 7 --out "$OUT/stats.mixed.L2.json"
gen stats --source $SRC/tiny-gpt2-hub.single.L1.json --permutations 300 --seed 123 --out "$OUT/stats.single.L1.json"
if [ $check = 1 ]; then
  "$PY" scripts/goldens/compare.py "$OUT" $G
fi

"""Random-weight GPT-2 models with the real shapes of gpt2 and gpt2-medium, in the hub's layout.

    python bench/make_models.py OUT_DIR [NAME ...]      (names: gpt2, gpt2-medium; default both)

Each OUT_DIR/NAME/ gets config.json (the fixture's config with the real sizes), tokenizer.json
(static/gpt2-tokenizer.json) and model.safetensors named like the hub's files: no `transformer.`
prefix, no lm_head (tied to wte), Conv1D weights [in, out], and the legacy causal-mask buffers
`h.N.attn.bias` [1, 1, n_positions, n_positions], all float32 (gpt2-medium: ~1.52 GB).
Weights ~ N(0, 0.02), biases ~ N(0, 0.02), LayerNorm gains ~ 1 + N(0, 0.02). Seeded: the same
files every time. A model whose folder is complete (marker file) is skipped.
"""
import json
import os
import shutil
import struct
import sys
import time

import numpy as np
from safetensors.numpy import save_file

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURE = os.path.join(REPO, "tests", "fixtures", "models", "tiny-gpt2-hub")
TOKENIZER = os.path.join(REPO, "static", "gpt2-tokenizer.json")
MARKER = ".qk-bench-complete-v1"

# The real configurations (openai-community/gpt2, openai-community/gpt2-medium).
SIZES = {
    "gpt2": dict(n_embd=768, n_layer=12, n_head=12, n_positions=1024, vocab_size=50257),
    "gpt2-medium": dict(n_embd=1024, n_layer=24, n_head=16, n_positions=1024, vocab_size=50257),
}


def header(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        return json.loads(f.read(n))


def tensor_shapes(s):
    """Hub tensor names and shapes for sizes `s` (n_inner = 4 * n_embd, as GPT-2's)."""
    c, p, v = s["n_embd"], s["n_positions"], s["vocab_size"]
    out = {"wte.weight": [v, c], "wpe.weight": [p, c], "ln_f.weight": [c], "ln_f.bias": [c]}
    for i in range(s["n_layer"]):
        h = f"h.{i}."
        out.update({
            h + "attn.bias": [1, 1, p, p],
            h + "ln_1.weight": [c], h + "ln_1.bias": [c],
            h + "attn.c_attn.weight": [c, 3 * c], h + "attn.c_attn.bias": [3 * c],
            h + "attn.c_proj.weight": [c, c], h + "attn.c_proj.bias": [c],
            h + "ln_2.weight": [c], h + "ln_2.bias": [c],
            h + "mlp.c_fc.weight": [c, 4 * c], h + "mlp.c_fc.bias": [4 * c],
            h + "mlp.c_proj.weight": [4 * c, c], h + "mlp.c_proj.bias": [c],
        })
    return out


def check_against_fixture():
    """Our naming must be the fixture's (the hub's) naming: same names and shapes at its sizes."""
    cfg = json.load(open(os.path.join(FIXTURE, "config.json")))
    fixture = {k: v["shape"] for k, v in header(os.path.join(FIXTURE, "model.safetensors")).items()
               if k != "__metadata__"}
    ours = tensor_shapes({k: cfg[k] for k in ("n_embd", "n_layer", "n_positions", "vocab_size")})
    if fixture != ours:
        diff = sorted(set(fixture) ^ set(ours)) or [k for k in ours if ours[k] != fixture[k]]
        sys.exit(f"make_models: naming differs from {FIXTURE}: {diff[:10]}")


def make(out_dir, name):
    s = SIZES[name]
    d = os.path.join(out_dir, name)
    if os.path.exists(os.path.join(d, MARKER)):
        print(f"{name}: present in {d}, skipped")
        return
    t0 = time.time()
    os.makedirs(d, exist_ok=True)
    cfg = json.load(open(os.path.join(FIXTURE, "config.json")))
    cfg.update(s)
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
        f.write("\n")
    shutil.copyfile(TOKENIZER, os.path.join(d, "tokenizer.json"))

    rng = np.random.default_rng(20240 + s["n_layer"])
    p = s["n_positions"]
    mask = np.tril(np.ones((p, p), dtype=np.float32)).reshape(1, 1, p, p)
    tensors = {}
    for key, shape in tensor_shapes(s).items():
        if key.endswith(".attn.bias"):  # the mask buffer, not attn.c_attn.bias
            tensors[key] = mask.copy()
            continue
        x = rng.standard_normal(shape, dtype=np.float32) * np.float32(0.02)
        if ".ln_" in key or key.startswith("ln_f"):
            if key.endswith(".weight"):
                x += np.float32(1.0)
        tensors[key] = x
    assert all(list(t.shape) == tensor_shapes(s)[k] for k, t in tensors.items())
    tmp = os.path.join(d, "model.safetensors.tmp")
    save_file(tensors, tmp, metadata={"format": "pt"})
    os.replace(tmp, os.path.join(d, "model.safetensors"))
    size = os.path.getsize(os.path.join(d, "model.safetensors"))
    open(os.path.join(d, MARKER), "w").write(json.dumps({"bytes": size, **s}) + "\n")
    print(f"{name}: wrote {d}/model.safetensors, {size} bytes, {len(tensors)} tensors, {time.time() - t0:.0f} s")


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    check_against_fixture()
    for name in sys.argv[2:] or list(SIZES):
        make(sys.argv[1], name)

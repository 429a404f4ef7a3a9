"""A gpt2-xl-shaped model.safetensors that is mostly holes: does gpt2-xl at a low layer fit in one tab?

    python bench/sparse_xl.py MODELS_DIR EXPERIMENTS_DIR [LAYER]     (default layer 5)

Writes MODELS_DIR/gpt2-xl/ (config.json with gpt2-xl's real sizes: n_embd 1600, 48 layers,
25 heads; tokenizer.json; model.safetensors with every hub tensor name and shape, 6.4 GB long)
and EXPERIMENTS_DIR/gpt2-xl-L<LAYER>.json (the lecture's words). Only the tensors a capture at
LAYER reads (wte, wpe, blocks 0..LAYER) get random values, the rest of the file is a sparse hole
(zeros, no disk), so the file costs ~0.9 GB of disk and seconds to write. Then run
    node bench/browser.mjs --models MODELS_DIR --experiments EXPERIMENTS_DIR --out OUT --case gpt2-xl:LAYER
"""
import json
import os
import shutil
import struct
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cases import LECTURE  # noqa: E402
from make_models import FIXTURE, TOKENIZER, tensor_shapes  # noqa: E402

XL = dict(n_embd=1600, n_layer=48, n_head=25, n_positions=1024, vocab_size=50257)


def needed(key, layer):
    if key.startswith(("wte.", "wpe.")):
        return True
    if key.startswith("h.") and not key.endswith(".attn.bias"):
        return int(key.split(".")[1]) <= layer
    return False


def main(models, experiments, layer):
    d = os.path.join(models, "gpt2-xl")
    os.makedirs(d, exist_ok=True)
    cfg = json.load(open(os.path.join(FIXTURE, "config.json")))
    cfg.update(XL)
    json.dump(cfg, open(os.path.join(d, "config.json"), "w"), indent=2)
    shutil.copyfile(TOKENIZER, os.path.join(d, "tokenizer.json"))
    shapes = tensor_shapes(XL)
    head, offset = {"__metadata__": {"format": "pt"}}, 0
    for key in sorted(shapes):
        n = int(np.prod(shapes[key])) * 4
        head[key] = {"dtype": "F32", "shape": shapes[key], "data_offsets": [offset, offset + n]}
        offset += n
    text = json.dumps(head, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    rng = np.random.default_rng(48)
    path = os.path.join(d, "model.safetensors")
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text)
        start = f.tell()
        for key in sorted(shapes):
            if not needed(key, layer):
                continue
            a, _ = head[key]["data_offsets"]
            x = rng.standard_normal(shapes[key], dtype=np.float32) * np.float32(0.02)
            if ".ln_" in key and key.endswith(".weight"):
                x += np.float32(1.0)
            f.seek(start + a)
            f.write(x.tobytes())
        f.truncate(start + offset)
    os.makedirs(experiments, exist_ok=True)
    exp = dict(json.load(open(LECTURE)), model="openai-community/gpt2-xl", layer=layer)
    json.dump(exp, open(os.path.join(experiments, f"gpt2-xl-L{layer}.json"), "w"), indent=1)
    used = os.stat(path).st_blocks * 512
    print(f"gpt2-xl: {path}: {start + offset} bytes long, {used} on disk")


if __name__ == "__main__":
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]) if len(sys.argv) > 3 else 5)

"""The lecture's PyTorch cell, timed: the baseline QK Lens is compared with.

    python bench/lecture_cell.py --model-dir DIR --layer L [--threads 1 2] [--reps 5] [--out FILE]

As the lecture notebook does: load GPT-2 with transformers (here GPT2LMHeadModel from a local
hub-layout folder, eager attention, float32), register a forward hook on
model.transformer.h[L].attn.c_attn that splits its output into q, k, v and keeps q and k as numpy
arrays, build the 34 x 5 batch of "The next word is {word}" with the tokenizer, and run
`with torch.no_grad(): model(batch)` -- the whole model with its LM head.

Timed per thread count (torch.set_num_threads): 1 warm-up, then the median of `reps` runs of
  full       the lecture's cell: the whole model, LM head included;
  truncated  the same call, stopped by an exception raised from the hook right after block L's
             c_attn (what a capture at layer L needs at least, in PyTorch).
Prints one JSON object on stdout (or writes it to --out).
"""
import argparse
import json
import os
import statistics
import time

import numpy as np
import torch
import transformers
from transformers import AutoTokenizer, GPT2LMHeadModel, PreTrainedTokenizerFast

WORDS = ['galaxy', 'asteroid', 'comet', 'cosmos', 'space', 'sun', 'planet', 'moon', 'star', 'orbit',
         'ceiling', 'sofa', 'couch', 'carpet', 'door', 'window', 'lamp', 'chair', 'table', 'rug', 'bed', 'floor', 'wall',
         'pear', 'grape', 'banana', 'cherry', 'peach', 'apple', 'seed', 'jelly', 'orange', 'lime', 'fruit']


class StopForward(Exception):
    pass


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model-dir", required=True)
    ap.add_argument("--layer", type=int, required=True)
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--out", help="write the JSON here (default: stdout)")
    args = ap.parse_args()
    transformers.logging.set_verbosity_error()  # no notes on the mask buffers, no progress bars
    transformers.utils.logging.disable_progress_bar()

    t0 = time.perf_counter()
    model = GPT2LMHeadModel.from_pretrained(args.model_dir, attn_implementation="eager", dtype=torch.float32)
    model.eval()
    load_ms = (time.perf_counter() - t0) * 1e3
    try:
        tokenizer = AutoTokenizer.from_pretrained(args.model_dir)
    except Exception:  # a folder with tokenizer.json only
        tokenizer = PreTrainedTokenizerFast(tokenizer_file=os.path.join(args.model_dir, "tokenizer.json"))

    # The lecture's hook: split c_attn's output into q, k, v; keep q and k as numpy arrays.
    activations = {}
    stop = {"on": False}
    n_embd = model.config.n_embd
    layer = args.layer

    def hook(module, inputs, output):
        q, k, v = output.detach().split(n_embd, dim=2)
        activations[f"attn_{layer}_q"] = q.numpy()
        activations[f"attn_{layer}_k"] = k.numpy()
        if stop["on"]:
            raise StopForward()

    model.transformer.h[layer].attn.c_attn.register_forward_hook(hook)

    # The lecture's batch: one row of 5 token ids per word.
    batch = torch.zeros((len(WORDS), 5), dtype=torch.long)
    for i, w in enumerate(WORDS):
        batch[i, :] = torch.tensor(tokenizer.encode(f"The next word is {w}"))

    def full():
        with torch.no_grad():
            model(batch)

    def truncated():
        stop["on"] = True
        try:
            with torch.no_grad():
                model(batch)
        except StopForward:
            pass
        finally:
            stop["on"] = False

    def timed(fn):
        fn()  # warm-up
        runs = []
        for _ in range(args.reps):
            t = time.perf_counter()
            fn()
            runs.append((time.perf_counter() - t) * 1e3)
        return {"median_ms": statistics.median(runs), "runs_ms": runs}

    out = {
        "model_dir": os.path.abspath(args.model_dir),
        "layer": layer,
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "numpy": np.__version__,
        "load_ms": load_ms,
        "batch_shape": list(batch.shape),
        "threads": {},
    }
    for n in args.threads:
        torch.set_num_threads(n)
        out["threads"][str(n)] = {"full": timed(full), "truncated": timed(truncated)}
    out["q_shape"] = list(activations[f"attn_{layer}_q"].shape)
    if args.out:
        with open(args.out, "w") as f:
            json.dump(out, f, indent=1)
            f.write("\n")
    else:
        print(json.dumps(out))


if __name__ == "__main__":
    main()

"""Runs the release CLI on every benchmark case, `reps` times, and keeps the medians.

    python bench/native.py --cli target/release/qk-lens --models DIR --experiments DIR --out FILE [--reps 3]

Each run is `qk-lens run EXPERIMENT --model-dir DIR/MODEL --out R.json`; from R.json's stats it
takes forward_ms, total_ms, load_ms and peak_rss_bytes (the process's VmHWM, which counts the
pages of the memory-mapped model.safetensors that were read). Writes
{cases: [{model, layer, runs: [stats...], median: {...}, token_ids}]}.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cases import CASES, name  # noqa: E402

KEYS = ("forward_ms", "total_ms", "load_ms", "analysis_ms", "peak_rss_bytes", "forward_ranks")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cli", required=True)
    ap.add_argument("--models", required=True)
    ap.add_argument("--experiments", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--reps", type=int, default=3)
    args = ap.parse_args()
    out = {"cases": []}
    with tempfile.TemporaryDirectory() as tmp:
        for model, layer in CASES:
            runs = []
            for i in range(args.reps):
                res_path = os.path.join(tmp, f"{name(model, layer)}.{i}.json")
                t = time.perf_counter()
                subprocess.run(
                    [args.cli, "run", os.path.join(args.experiments, name(model, layer) + ".json"),
                     "--model-dir", os.path.join(args.models, model), "--out", res_path],
                    check=True, stderr=subprocess.DEVNULL)
                wall_ms = (time.perf_counter() - t) * 1e3
                res = json.load(open(res_path))
                runs.append(dict(res["stats"], wall_ms=wall_ms))
            median = {k: statistics.median(r[k] for r in runs) for k in KEYS + ("wall_ms",)}
            print(f"[native] {model} L{layer}: forward {median['forward_ms']:.0f} ms, total "
                  f"{median['total_ms']:.0f} ms, peak RSS {median['peak_rss_bytes'] / 2**20:.0f} MiB", file=sys.stderr)
            out["cases"].append({"model": model, "layer": layer, "runs": runs, "median": median,
                                 "token_ids": [w["token_ids"] for w in res["words"]]})
    with open(args.out, "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()

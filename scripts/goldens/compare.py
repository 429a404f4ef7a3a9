#!/usr/bin/env python3
"""Compares regenerated golden files with the committed ones at the tests' tolerances
(tests/fixtures/README.md): vectors 1e-4 of their largest magnitude, cosines and histogram edges
1e-5, selectivity / r / means 1e-5, Spearman's rho 1e-4 (a rank statistic), Q.K scores and PCA
coordinates 2e-4 / 1e-4 of their largest magnitude; counts, token ids, words, permutations
equal; statistics goldens (stats.*) 1e-12 (they are computed from the committed sources).
Prints the largest deviation per file and key; exit status 1 if any exceeds its tolerance.

usage: compare.py NEW_DIR OLD_DIR
"""
import json
import os
import sys

import numpy as np

SKIP = {"provenance", "versions", "precision", "description", "model_dir", "hook", "upper_triangle_order",
        "selectivity_rule", "rounding", "hist_range", "source"}
EQUAL = {"token_ids", "labels", "words", "prompts", "category_names", "layer", "head", "qk_layer", "config",
         "hist_Q_counts", "hist_K_counts", "hist_V_counts", "null_hist_counts", "exceed", "defined",
         "first_permutations", "first_u64", "first_resample", "permutations", "bootstrap", "seed",
         "groupmask", "within_mask_values", "across_mask_values", "category_pairs", "hist_bins",
         "bootstrap_undefined", "model_safetensors_sha256", "prompt_template"}
RELATIVE = {"Q_last": 1e-4, "K_last": 1e-4, "V_last": 1e-4, "scores": 2e-4, "coords": 1e-4}


def tolerance(key, stats):
    if stats:
        return ("abs", 1e-12)
    if key in RELATIVE:
        return ("rel", RELATIVE[key])
    if key == "rho":
        return ("abs", 1e-4)
    return ("abs", 1e-5)


def leaves(x):
    if isinstance(x, dict):
        for v in x.values():
            yield from leaves(v)
    elif isinstance(x, list):
        for v in x:
            yield from leaves(v)
    else:
        yield x


def walk(new, old, path, key, stats, report):
    """Collect (key -> (max deviation, tolerance, failed)) over the two trees."""
    if key in SKIP:
        return
    if key in EQUAL:
        ok = new == old
        d = report.setdefault(key, [0.0, "equal", False])
        d[2] |= not ok
        if not ok:
            d[0] = float("inf")
        return
    if isinstance(old, dict):
        if not isinstance(new, dict) or set(old) - set(new) - SKIP:
            report.setdefault(f"{path}: keys", [float("inf"), "equal", True])
            return
        for k in old:
            walk(new.get(k), old[k], f"{path}.{k}", k if k not in "QKV" or key is None else key, stats, report)
        return
    if isinstance(old, list) and key in RELATIVE:
        a = np.array(list(leaves(new)), float) if new is not None else np.array([])
        b = np.array(list(leaves(old)), float)
        kind, tol = tolerance(key, stats)
        if a.shape != b.shape:
            report.setdefault(key, [float("inf"), tol, True])[2] = True
            return
        scale = np.abs(b).max() if b.size else 1.0
        dev = float(np.abs(a - b).max() / scale) if b.size else 0.0
        d = report.setdefault(key + " (relative)", [0.0, tol, False])
        d[0] = max(d[0], dev)
        d[2] |= dev > tol
        return
    if isinstance(old, list):
        if not isinstance(new, list) or len(new) != len(old):
            report.setdefault(f"{key}: length", [float("inf"), "equal", True])
            return
        for a, b in zip(new, old):
            walk(a, b, path, key, stats, report)
        return
    kind, tol = tolerance(key, stats)
    if old is None or isinstance(old, (str, bool)):
        ok = new == old
        d = report.setdefault(key, [0.0, tol, False])
        if not ok:
            d[0], d[2] = float("inf"), True
        return
    if new is None:
        report.setdefault(key, [float("inf"), tol, True])[2] = True
        return
    dev = abs(float(new) - float(old))
    d = report.setdefault(key, [0.0, tol, False])
    d[0] = max(d[0], dev)
    d[2] |= dev > tol


def main(new_dir, old_dir):
    failed = False
    for name in sorted(os.listdir(old_dir)):
        if not name.endswith(".json"):
            continue
        new_path = os.path.join(new_dir, name)
        if not os.path.exists(new_path):
            print(f"{name}: NOT REGENERATED")
            failed = True
            continue
        new, old = json.load(open(new_path)), json.load(open(os.path.join(old_dir, name)))
        report = {}
        walk(new, old, "", None, name.startswith("stats."), report)
        bad = [k for k, v in report.items() if v[2]]
        worst = {k: v for k, v in report.items() if v[1] != "equal"}
        print(f"{name}: {'FAIL ' + ', '.join(bad) if bad else 'ok'}")
        for k, (dev, tol, _) in sorted(worst.items()):
            print(f"    {k:32s} max deviation {dev:.3g} (tolerance {tol:g})")
        failed |= bool(bad)
    return 1 if failed else 0


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    sys.exit(main(sys.argv[1], sys.argv[2]))

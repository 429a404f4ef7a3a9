#!/usr/bin/env python3
"""Regenerates QK Lens's golden files (tests/fixtures/golden) with PyTorch + transformers.

Written for this project (scripts/make-goldens.sh runs it in a venv). The model runs in float32
(bf16 / fp16 files are upcast to float32 on load, as transformers does with dtype=float32);
every prompt is run alone (batch 1, no padding); Q, K and V are the output of a forward hook on
transformer.h[L].attn.c_attn split in n_embd chunks, at the last token. Post-processing in
float64 numpy. The statistics reproduce the engine's seeded sequences (xoshiro256** seeded by
SplitMix64, Fisher-Yates from the end, rejection sampling; see src/analysis/rng.rs), so
p-values are equal exactly.

Commands (paths relative to the repository root):
  analysis --model NAME --layer L --words FILE [--format lecture|general] --out FILE
  sweep    --model NAME --words FILE --out FILE        (layers 0..3, heads, Q.K and PCA at 2)
  stats    --source GOLDEN --permutations N --seed S --out FILE
  bf16     --src MODEL_DIR --out MODEL_DIR             (a bf16 copy of a safetensors model)
"""
import argparse
import hashlib
import json
import os
import shutil
import sys

import numpy as np

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
MODELS = os.path.join(ROOT, "tests", "fixtures", "models")
PROMPT = "The next word is {}"


def provenance(argv):
    import torch
    import transformers
    return {
        "script": "scripts/goldens/goldens.py",
        "command": "scripts/make-goldens.sh  (runs: goldens.py " + " ".join(map(repo_path, argv)) + ")",
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "numpy": np.__version__,
    }


def repo_path(arg):
    """An argument as the committed command has it: files outside the repository (a --check
    run's temporary directory) are named by their place in tests/fixtures/golden."""
    if os.path.isabs(arg) and not arg.startswith(ROOT + os.sep):
        return "tests/fixtures/golden/" + os.path.basename(arg)
    return os.path.relpath(arg, ROOT) if os.path.isabs(arg) else arg


def read_words(path):
    """`name: word word ...` per line (category names and words)."""
    names, words, labels = [], [], []
    for line in open(path, encoding="utf-8"):
        if not line.strip():
            continue
        name, rest = line.split(":", 1)
        names.append(name.strip())
        for w in rest.split():
            words.append(w)
            labels.append(len(names))
    return names, words, labels


# ---------------- the model ----------------

def load(model_dir, dtype="float32"):
    import torch
    from transformers import GPT2LMHeadModel
    return GPT2LMHeadModel.from_pretrained(model_dir, attn_implementation="eager",
                                           dtype=getattr(torch, dtype)).eval()


def capture(model, token_ids, layers):
    """{layer: (Q, K, V)} at the last token, each prompt run alone."""
    import torch
    n = model.config.n_embd
    out = {l: ([], [], []) for l in layers}
    store = {}
    hooks = [model.transformer.h[l].attn.c_attn.register_forward_hook(
        (lambda l: lambda m, i, o: store.__setitem__(l, o.detach()))(l)) for l in layers]
    try:
        with torch.no_grad():
            for ids in token_ids:
                model(input_ids=torch.tensor([ids], dtype=torch.long))
                for l in layers:
                    q, k, v = torch.split(store[l][0, -1, :], n)
                    for acc, x in zip(out[l], (q, k, v)):
                        acc.append(x.double().numpy())
    finally:
        for h in hooks:
            h.remove()
    return {l: tuple(np.array(a) for a in out[l]) for l in layers}


def tokenize(model_dir, words):
    from tokenizers import Tokenizer
    tok = Tokenizer.from_file(os.path.join(model_dir, "tokenizer.json"))
    prompts = [PROMPT.format(w) for w in words]
    return prompts, [tok.encode(p).ids for p in prompts]


# ---------------- the analysis (float64) ----------------

def cosine(X):
    X = np.asarray(X, dtype=np.float64)
    Xn = X / np.linalg.norm(X, axis=1, keepdims=True)
    return Xn @ Xn.T


def upper(C):
    i, j = np.triu_indices(len(C), 1)
    return C[i, j]


def pearson(x, y):
    x, y = np.asarray(x, float), np.asarray(y, float)
    if len(x) < 2:
        return None
    xc, yc = x - x.mean(), y - y.mean()
    sxx, syy = (xc * xc).sum(), (yc * yc).sum()
    if sxx <= 0 or syy <= 0 or np.all(x == x[0]) or np.all(y == y[0]):
        return None
    return float(np.clip((xc * yc).sum() / np.sqrt(sxx * syy), -1, 1))


def ranks(x):
    """Average ranks from 1 (scipy.stats.rankdata's default)."""
    x = np.asarray(x, float)
    order = np.argsort(x, kind="mergesort")
    r = np.empty(len(x))
    i = 0
    while i < len(x):
        j = i
        while j + 1 < len(x) and x[order[j + 1]] == x[order[i]]:
            j += 1
        r[order[i:j + 1]] = (i + j) / 2 + 1
        i = j + 1
    return r


def spearman(x, y):
    return pearson(ranks(x), ranks(y))


def pair_means(C, labels):
    """General rule: within[c] over inner pairs (None below 2 words), across over pairs a<b."""
    labels = np.asarray(labels)
    G = int(labels.max())
    i, j = np.triu_indices(len(labels), 1)
    vals, la, lb = C[i, j], labels[i], labels[j]
    within = []
    for c in range(1, G + 1):
        m = (la == c) & (lb == c)
        within.append(float(vals[m].mean()) if m.any() else None)
    across, pairs = [], []
    for a in range(1, G + 1):
        for b in range(a + 1, G + 1):
            m = ((la == a) & (lb == b)) | ((la == b) & (lb == a))
            if m.any():
                across.append(float(vals[m].mean()))
                pairs.append([a, b])
    return within, across, pairs


def selectivity(C, labels):
    within, across, _ = pair_means(C, labels)
    w = [x for x in within if x is not None]
    if not w or not across or np.mean(across) == 0:
        return None
    return float(np.mean(w) / np.mean(across))


def space(X, labels):
    C = cosine(X)
    within, across, pairs = pair_means(C, labels)
    u = upper(C)
    counts, edges = np.histogram(u, bins=20)
    return dict(C=C, sel=selectivity(C, labels), within=within, across=across, pairs=pairs,
                counts=counts.tolist(), edges=edges.tolist(), u=u)


def analysis_dict(vectors, labels, keys):
    spaces = {k: space(vectors[k], labels) for k in keys}
    labels_a = np.asarray(labels)
    i, j = np.triu_indices(len(labels), 1)
    per_cat = []
    for c in range(1, int(labels_a.max()) + 1):
        m = (labels_a[i] == c) & (labels_a[j] == c)
        per_cat.append(pearson(spaces["Q"]["u"][m], spaces["K"]["u"][m]))
    return spaces, pearson(spaces["Q"]["u"], spaces["K"]["u"]), per_cat


def cmd_analysis(a, argv):
    model_dir = os.path.join(MODELS, a.model)
    names, words, labels = read_words(a.words)
    prompts, token_ids = tokenize(model_dir, words)
    general = a.format == "general"
    keys = ["Q", "K", "V"] if general else ["Q", "K"]
    model = load(model_dir)
    cfg = model.config
    Q, K, V = capture(model, token_ids, [a.layer])[a.layer]
    vec = {"Q": Q, "K": K, "V": V}
    spaces, r, per_cat = analysis_dict(vec, labels, keys)
    G = max(labels)
    product_ok = G <= 3  # the lecture's mask-product trick collides from 4 categories on
    g = np.array(labels).reshape(1, -1)
    st = os.path.join(model_dir, "model.safetensors")
    out = {
        "description": "GPT-2 c_attn last-token analysis (scripts/goldens/goldens.py analysis)",
        "provenance": provenance(argv),
        "model_dir": os.path.relpath(model_dir, ROOT),
        "model_safetensors_sha256": hashlib.sha256(open(st, "rb").read()).hexdigest(),
        "config": {k: getattr(cfg, k) for k in ("vocab_size", "n_positions", "n_embd", "n_layer", "n_head",
                                                "layer_norm_epsilon", "activation_function")},
        "layer": a.layer,
        "hook": f"transformer.h[{a.layer}].attn.c_attn output, split(n_embd, dim=-1) -> q,k,v; position -1; "
                "each prompt run alone (batch 1, no padding)",
        "prompt_template": PROMPT,
    }
    if general:
        out["category_names"] = names
    out.update({"words": words, "labels": labels, "prompts": prompts, "token_ids": token_ids})
    for k in keys:
        out[f"{k}_last"] = vec[k].tolist()
    for k in keys:
        out[f"C{k}"] = spaces[k]["C"].tolist()
    out["groupmask"] = np.triu(g.T @ g, 1).tolist()
    out["within_mask_values"] = [(c + 1) ** 2 for c in range(G)] if product_ok else None
    out["across_mask_values"] = sorted({(x + 1) * (y + 1) for x in range(G) for y in range(x + 1, G)}) if product_ok else None
    if general:
        out["selectivity_rule"] = ("general: within = mean over categories with >= 2 words of the mean of their "
                                   "inner pairs; across = mean over category pairs a<b of the mean of their straddling pairs")
        out["category_pairs"] = spaces["Q"]["pairs"]
    for k in keys:
        out[f"selectivity_{k}"] = spaces[k]["sel"]
    for k in keys:
        out[f"within_means_{k}"] = spaces[k]["within"]
        out[f"across_means_{k}"] = spaces[k]["across"]
    out["rsa_r"] = r
    out["rsa_r_per_category"] = per_cat
    out["upper_triangle_order"] = "np.triu_indices(n, 1) = row-major (i<j)"
    out["hist_bins"] = 20
    out["hist_range"] = "np.histogram default: [min, max] of the upper-triangle values"
    for k in keys:
        out[f"hist_{k}_counts"] = spaces[k]["counts"]
        out[f"hist_{k}_edges"] = spaces[k]["edges"]
    # How far the float32 model is from a float64 one (for choosing tolerances).
    m64 = load(model_dir, "float64")
    Q64, K64, V64 = capture(m64, token_ids, [a.layer])[a.layer]
    out["precision"] = {"float64_model_vs_float32_model": {
        "Q_max_abs_diff": float(np.abs(Q64 - Q).max()), "K_max_abs_diff": float(np.abs(K64 - K).max()),
        "V_max_abs_diff": float(np.abs(V64 - V).max()),
        "CQ_max_abs_diff": float(np.abs(cosine(Q64) - spaces["Q"]["C"]).max()),
        "CK_max_abs_diff": float(np.abs(cosine(K64) - spaces["K"]["C"]).max())}}
    write(a.out, out, indent=1)


# ---------------- the sweep ----------------

def summary(vec, labels):
    s = {"selectivity": {k: selectivity(cosine(vec[k]), labels) for k in ("Q", "K", "V")}}
    uq, uk = upper(cosine(vec["Q"])), upper(cosine(vec["K"]))
    s["r"], s["rho"] = pearson(uq, uk), spearman(uq, uk)
    return s


def pca(X):
    Xc = X - X.mean(axis=0)
    U, S, _ = np.linalg.svd(Xc, full_matrices=False)
    coords = U[:, :2] * S[:2]
    for c in range(2):  # the sign that makes the largest-magnitude coordinate positive
        if coords[np.argmax(np.abs(coords[:, c])), c] < 0:
            coords[:, c] = -coords[:, c]
    total = (S ** 2).sum()
    return {"coords": coords.tolist(), "explained_variance_ratio": (S[:2] ** 2 / total).tolist(),
            "singular_value_gap": float(S[1] / S[0]), "third_over_second": float(S[2] / S[1])}


def sig7(x):
    return [[float(f"{v:.7g}") for v in row] for row in np.asarray(x)]


def cmd_sweep(a, argv):
    model_dir = os.path.join(MODELS, a.model)
    names, words, labels = read_words(a.words)
    _, token_ids = tokenize(model_dir, words)
    model = load(model_dir)
    cfg = model.config
    L, H, qk_layer = cfg.n_layer, cfg.n_head, 2
    caps = capture(model, token_ids, list(range(L)))
    d = cfg.n_embd // H
    layers, heads = [], []
    for l in range(L):
        vec = dict(zip("QKV", caps[l]))
        centred = {k: v - v.mean(axis=0) for k, v in vec.items()}
        entry = {"layer": l}
        for k in "QKV":
            entry[f"{k}_last"] = sig7(vec[k])
        for k in "QKV":
            entry[f"upper_C{k}"] = [round(float(x), 10) for x in upper(cosine(vec[k]))]
        entry["summary"] = summary(vec, labels)
        entry["centered"] = summary(centred, labels)
        layers.append(entry)
        for h in range(H):
            hv = {k: v[:, h * d:(h + 1) * d] for k, v in vec.items()}
            heads.append({"layer": l, "head": h, **summary(hv, labels)})
    Q, K, V = caps[qk_layer]
    lab = np.asarray(labels)
    qk = []
    for h in range(H):
        S = Q[:, h * d:(h + 1) * d] @ K[:, h * d:(h + 1) * d].T / np.sqrt(d)
        off = ~np.eye(len(lab), dtype=bool)
        same = (lab[:, None] == lab[None, :]) & off
        diff = (lab[:, None] != lab[None, :])
        qk.append({"head": h, "scores": np.round(S, 10).tolist(),
                   "within_mean": float(S[same].mean()), "across_mean": float(S[diff].mean())})
    out = {
        "description": "layer sweep / heads / V / Q.K / centering / PCA golden (scripts/goldens/goldens.py sweep)",
        "provenance": provenance(argv),
        "config": {"n_embd": cfg.n_embd, "n_layer": L, "n_head": H},
        "prompt_template": PROMPT, "category_names": names, "words": words, "labels": labels,
        "token_ids": token_ids, "layer": L - 1, "qk_layer": qk_layer,
        "rounding": "vectors: 7 significant digits; cosines and Q.K scores rounded to 10 decimals; "
                    "selectivity, r, rho, means, PCA unrounded",
        "layers": layers, "heads": heads, "qk": qk,
        "pca": {k: pca(x) for k, x in zip("QKV", (Q, K, V))},
    }
    write(a.out, out, indent=None)


# ---------------- the statistics (the engine's random sequences) ----------------

M64 = (1 << 64) - 1


class Rng:
    def __init__(self, seed):
        sm = seed & M64
        s = []
        for _ in range(4):
            sm = (sm + 0x9E3779B97F4A7C15) & M64
            z = sm
            z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
            z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
            s.append(z ^ (z >> 31))
        self.s = s

    def next_u64(self):
        s = self.s
        rotl = lambda x, k: ((x << k) | (x >> (64 - k))) & M64
        result = (rotl((s[1] * 5) & M64, 7) * 9) & M64
        t = (s[1] << 17) & M64
        s[2] ^= s[0]; s[3] ^= s[1]; s[1] ^= s[2]; s[0] ^= s[3]; s[2] ^= t
        s[3] = rotl(s[3], 45)
        return result

    def below(self, n):
        limit = ((1 << 64) // n) * n
        while True:
            x = self.next_u64()
            if x < limit:
                return x % n

    def permutation(self, n):
        p = list(range(n))
        for i in range(n - 1, 0, -1):
            j = self.below(i + 1)
            p[i], p[j] = p[j], p[i]
        return p


def at_least(x, observed):
    return x >= observed - 1e-12 * max(abs(observed), 1.0)


def perm_test(observed, null, n):
    defined = [x for x in null if x is not None]
    exceed = int(sum(bool(at_least(x, observed)) for x in defined)) if observed is not None else 0
    counts, edges = np.histogram(defined, bins=20)
    return {"observed": observed, "exceed": exceed, "p": (exceed + 1) / (n + 1), "defined": len(defined),
            "null_mean": float(np.mean(defined)) if defined else None,
            "null_hist_counts": counts.tolist(), "null_hist_edges": edges.tolist()}


def general_index(C, idx_labels, pairs_iter):
    """Selectivity by the general rule over the given (i, j, label_i, label_j) pairs; also the
    shape (which within / across means exist)."""
    G = max(idx_labels) + 1 if idx_labels else 0
    ws, wn = [0.0] * G, [0] * G
    acs, an = {}, {}
    for v, la, lb in pairs_iter:
        if la == lb:
            ws[la] += v; wn[la] += 1
        else:
            key = (min(la, lb), max(la, lb))
            acs[key] = acs.get(key, 0.0) + v; an[key] = an.get(key, 0) + 1
    w = [ws[c] / wn[c] for c in range(G) if wn[c] > 0]
    ac = [acs[k] / an[k] for k in sorted(acs)]
    shape = (tuple(n > 0 for n in wn), tuple(sorted(acs)))
    if not w or not ac:
        return None, shape
    am = sum(ac) / len(ac)
    return (None if am == 0 else (sum(w) / len(w)) / am), shape


def cmd_stats(a, argv):
    src = json.load(open(a.source))
    labels = [l - 1 for l in src["labels"]]
    n, G = len(labels), max(labels) + 1
    N, seed = a.permutations, a.seed
    mats = {k: np.array(src[f"C{k}"]) for k in "QKV"}
    iu, ju = np.triu_indices(n, 1)
    rng = Rng(seed)
    first_u64 = [str(rng.next_u64()) for _ in range(4)]
    rng = Rng(seed)
    perms = [rng.permutation(n) for _ in range(N)]
    bseed = seed ^ 0xB0075743A11D5EED
    members = [[i for i in range(n) if labels[i] == c] for c in range(G)]
    rng = Rng(bseed)
    samples = [[members[c][rng.below(len(members[c]))] for c in labels] for _ in range(N)]

    def sel_with(C, lab):
        return general_index(C, lab, ((C[i, j], lab[i], lab[j]) for i, j in zip(iu, ju)))[0]

    def model_r(u, lab):
        lab = np.asarray(lab)
        return pearson(u, (lab[iu] == lab[ju]).astype(float))

    def interval(vals):
        if not vals:
            return None
        return [float(np.percentile(vals, 2.5)), float(np.percentile(vals, 97.5))]

    def kept(s):
        return [(x, y) for x, y in zip(iu, ju) if s[x] != s[y]]

    out = {"description": "permutation tests and bootstrap (scripts/goldens/goldens.py stats)",
           "provenance": provenance(argv), "source": os.path.basename(a.source),
           "permutations": N, "bootstrap": N, "seed": seed, "first_permutations": perms[:3],
           "first_u64": first_u64}
    lab0 = labels
    for k in "QKV":
        C = mats[k]
        obs = sel_with(C, lab0)
        null = [sel_with(C, [lab0[q] for q in p]) for p in perms]
        t = perm_test(obs, null, N)
        _, shape = general_index(C, lab0, ((C[i, j], lab0[i], lab0[j]) for i, j in zip(iu, ju)))
        boot, undefined = [], 0
        for s in samples:
            v, sh = general_index(C, lab0, ((C[s[x], s[y]], lab0[s[x]], lab0[s[y]]) for x, y in kept(s)))
            if v is None or sh != shape:
                undefined += 1
            else:
                boot.append(v)
        t["ci"], t["bootstrap_undefined"] = interval(boot), undefined
        out[f"selectivity_{k}"] = t
        u = upper(C)
        out[f"category_model_{k}"] = perm_test(model_r(u, lab0), [model_r(u, [lab0[q] for q in p]) for p in perms], N)
    A, B = mats["Q"], mats["K"]
    for name, f in (("pearson", pearson), ("spearman", spearman)):
        ua = upper(A)
        obs = f(ua, upper(B))
        null = [f(ua, B[np.ix_(p, p)][iu, ju]) for p in perms]
        t = perm_test(obs, null, N)
        boot, undefined = [], 0
        for s in samples:
            pairs = kept(s)
            v = f([A[s[x], s[y]] for x, y in pairs], [B[s[x], s[y]] for x, y in pairs])
            if v is None:
                undefined += 1
            else:
                boot.append(v)
        t["ci"], t["bootstrap_undefined"] = interval(boot), undefined
        out[f"rsa_{name}"] = t
    out["first_resample"] = samples[0]
    write(a.out, out, indent=1)


# ---------------- a bf16 copy of a model ----------------

def cmd_bf16(a, argv):
    import torch
    from safetensors import safe_open
    from safetensors.torch import save_file
    os.makedirs(a.out, exist_ok=True)
    tensors = {}
    with safe_open(os.path.join(a.src, "model.safetensors"), "pt") as f:
        meta = f.metadata()
        for name in f.keys():
            t = f.get_tensor(name)
            tensors[name] = t.to(torch.bfloat16) if t.is_floating_point() else t
    save_file(tensors, os.path.join(a.out, "model.safetensors"), metadata=meta)
    cfg = json.load(open(os.path.join(a.src, "config.json")))
    cfg["dtype"] = "bfloat16"
    with open(os.path.join(a.out, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2, sort_keys=True)
        f.write("\n")
    shutil.copy(os.path.join(a.src, "tokenizer.json"), os.path.join(a.out, "tokenizer.json"))


def write(path, obj, indent):
    with open(path, "w") as f:
        json.dump(obj, f, indent=indent, separators=None if indent else (",", ":"))
    print(path, file=sys.stderr)


def main(argv):
    import torch
    torch.set_num_threads(1)
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("analysis")
    p.add_argument("--model", required=True); p.add_argument("--layer", type=int, required=True)
    p.add_argument("--words", required=True); p.add_argument("--out", required=True)
    p.add_argument("--format", choices=["lecture", "general"], default="general")
    p = sub.add_parser("sweep")
    p.add_argument("--model", required=True); p.add_argument("--words", required=True); p.add_argument("--out", required=True)
    p = sub.add_parser("stats")
    p.add_argument("--source", required=True); p.add_argument("--permutations", type=int, required=True)
    p.add_argument("--seed", type=int, required=True); p.add_argument("--out", required=True)
    p = sub.add_parser("bf16")
    p.add_argument("--src", required=True); p.add_argument("--out", required=True)
    a = ap.parse_args(argv)
    {"analysis": cmd_analysis, "sweep": cmd_sweep, "stats": cmd_stats, "bf16": cmd_bf16}[a.cmd](a, argv)


if __name__ == "__main__":
    main(sys.argv[1:])

"""The lecture notebook end to end, as a student runs it: a fresh Python process, timed from outside.

    python bench/notebook_e2e.py --model-dir DIR [--layer 5] [--reps 3] [--out FILE] [--figures DIR]

Each repetition starts a new interpreter (this file with --child) and times it from before the
start to its exit. The child does what the lecture's notebook does, in our own code, in the
notebook's order:
  imports   numpy, matplotlib (Agg backend: figures go to files), torch, transformers;
  load      AutoModelForCausalLM and the tokenizer from the local model folder (float32; the
            library's default attention, as the notebook);
  forward   the hook on transformer.h[L].attn.c_attn (q, k, v split; q and k kept as numpy), the
            check that every prompt is 5 tokens, the 34 x 5 batch of "The next word is {word}",
            the model run once under torch.no_grad() (default thread count, as the notebook);
  analysis  last-token Q and K normalised, cosine matrices, histograms of the upper triangles
            (20 bins), selectivity (mean within-category / mean across-category similarity, each
            the average over categories or category pairs), RSA (Pearson r of Q's and K's upper
            triangles), and per category;
  figures   the notebook's five: category mask, Q and K similarity matrices with the histograms,
            the RSA scatter, the per-category RSA scatters; each drawn and saved as PNG.
The child reports each stage's wall-clock end; the parent writes one JSON object (stdout or --out)
with every repetition and the medians.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

WORDS = {
    "space": ["galaxy", "asteroid", "comet", "cosmos", "space", "sun", "planet", "moon", "star", "orbit"],
    "interior": ["ceiling", "sofa", "couch", "carpet", "door", "window", "lamp", "chair", "table", "rug", "bed",
                 "floor", "wall"],
    "fruit": ["pear", "grape", "banana", "cherry", "peach", "apple", "seed", "jelly", "orange", "lime", "fruit"],
}
TEMPLATE = "The next word is {word}"
STAGES = ["imports", "load", "forward", "analysis", "figures"]


def child(model_dir, layer, fig_dir, out_path):
    """The notebook's work; writes {stage: time.time() at its end, ...} to out_path."""
    marks = {"start": time.time()}
    spent = {s: 0.0 for s in STAGES}
    clock = [time.perf_counter()]

    def done(stage):
        now = time.perf_counter()
        spent[stage] += now - clock[0]
        clock[0] = now

    import numpy as np
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import torch
    import transformers
    from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedTokenizerFast
    done("imports")

    transformers.logging.set_verbosity_error()  # no notes, no progress bars on stderr
    transformers.utils.logging.disable_progress_bar()
    model = AutoModelForCausalLM.from_pretrained(model_dir)
    model.eval()
    try:
        tokenizer = AutoTokenizer.from_pretrained(model_dir)
    except Exception:  # a folder with tokenizer.json only
        tokenizer = PreTrainedTokenizerFast(tokenizer_file=os.path.join(model_dir, "tokenizer.json"))
    done("load")

    figures = []

    def save(fig, name):
        path = os.path.join(fig_dir, f"{name}.png")
        fig.savefig(path, bbox_inches="tight")
        plt.close(fig)
        figures.append(path)

    # The hook keeps the block's query and key projections of every prompt.
    captured = {}
    width = model.config.n_embd

    def keep_qk(_module, _inputs, output):
        q, k, _v = output.detach().split(width, dim=2)
        captured["q"], captured["k"] = q.numpy(), k.numpy()

    model.transformer.h[layer].attn.c_attn.register_forward_hook(keep_qk)
    words = [w for ws in WORDS.values() for w in ws]
    labels = np.array([i for i, ws in enumerate(WORDS.values()) for _ in ws])
    prompts = [tokenizer.encode(TEMPLATE.format(word=w)) for w in words]
    assert all(len(p) == 5 for p in prompts), "every word one token"
    done("forward")

    # The category mask (pairs above the diagonal: same category or which two).
    same = labels[:, None] == labels[None, :]
    upper = np.triu(np.ones((len(words), len(words)), dtype=bool), 1)
    pair_code = np.where(upper, (labels[:, None] + 1) * (labels[None, :] + 1), 0)
    done("analysis")
    fig, ax = plt.subplots()
    ax.imshow(pair_code)
    save(fig, "category_mask")
    done("figures")

    batch = torch.tensor(prompts, dtype=torch.long)
    with torch.no_grad():
        model(batch)
    done("forward")

    def unit_last(a):
        last = a[:, -1, :]
        return last / np.linalg.norm(last, axis=1, keepdims=True)

    q, k = unit_last(captured["q"]), unit_last(captured["k"])
    cos_q, cos_k = q @ q.T, k @ k.T
    pairs_q, pairs_k = cos_q[upper], cos_k[upper]
    hist_q = np.histogram(pairs_q, bins=20)
    hist_k = np.histogram(pairs_k, bins=20)

    def selectivity(cos):
        n_cat = len(WORDS)
        within = [cos[upper & (labels[:, None] == c) & (labels[None, :] == c)].mean() for c in range(n_cat)]
        across = [cos[upper & (labels[:, None] == a) & (labels[None, :] == b)].mean()
                  for a in range(n_cat) for b in range(a + 1, n_cat)]
        return float(np.mean(within) / np.mean(across))

    sel_q, sel_k = selectivity(cos_q), selectivity(cos_k)
    rsa = float(np.corrcoef(pairs_q, pairs_k)[0, 1])
    per_cat = []
    for c in range(len(WORDS)):
        m = upper & same & (labels[:, None] == c)
        per_cat.append((cos_q[m], cos_k[m], float(np.corrcoef(cos_q[m], cos_k[m])[0, 1])))
    done("analysis")

    fig, axs = plt.subplots(1, 3, figsize=(12, 4))
    for ax, cos, title, lim in ((axs[0], cos_q, "Q cosine similarity", (0.6, 0.85)),
                                (axs[1], cos_k, "K cosine similarity", (0.82, 0.95))):
        im = ax.imshow(cos, vmin=lim[0], vmax=lim[1])
        ax.set(xticks=range(0, len(words), 2), xticklabels=words[::2], yticks=range(1, len(words), 2),
               yticklabels=words[1::2], title=title)
        ax.tick_params(axis="x", labelrotation=90)
        fig.colorbar(im, ax=ax, pad=0.02, fraction=0.046)
    for (counts, edges), name in ((hist_q, "Q"), (hist_k, "K")):
        axs[2].plot(edges[:-1], counts, label=name)
    axs[2].set(xlabel="Similarity", ylabel="Count", ylim=[0, None], title="Similarity distributions")
    axs[2].legend()
    fig.tight_layout()
    save(fig, "similarities")

    fig, ax = plt.subplots(figsize=(6, 5))
    ax.plot(pairs_q, pairs_k, "ks", markerfacecolor=[0.9, 0.7, 0.7, 0.5])
    ax.set(xlabel="Q cosine similarities", ylabel="K cosine similarities", title=f"RSA: r = {rsa:.3f}")
    ax.grid(linestyle="--", color=[0.8, 0.8, 0.8])
    save(fig, "rsa")

    fig, axs = plt.subplots(1, 3, figsize=(12, 3.5))
    for c, (ax, name, (xq, xk, r)) in enumerate(zip(axs, WORDS, per_cat)):
        colour = [0.7, 0.7, 0.7, 0.5]
        colour[c] = 0.9
        ax.plot(xq, xk, "ks", markerfacecolor=colour)
        ax.set(xlabel="Q cosine similarities", ylabel="K cosine similarities", title=f"RSA ({name}): r = {r:.3f}")
        ax.grid(linestyle="--", color=[0.8, 0.8, 0.8])
    fig.tight_layout()
    save(fig, "rsa_per_category")
    done("figures")

    marks["end"] = time.time()
    with open(out_path, "w") as f:
        json.dump({"marks": marks, "stage_seconds": spent, "figures": figures,
                   "selectivity_q": sel_q, "selectivity_k": sel_k, "rsa_r": rsa,
                   "rsa_r_per_category": [r for _, _, r in per_cat],
                   "torch_threads": torch.get_num_threads(), "torch": torch.__version__,
                   "transformers": transformers.__version__, "matplotlib": matplotlib.__version__,
                   "attn_implementation": getattr(model.config, "_attn_implementation", None)}, f)


def one_run(args, rep):
    """Runs the child once in a new interpreter; times it from outside."""
    with tempfile.TemporaryDirectory(prefix="qk-notebook-") as tmp:
        fig_dir = os.path.join(args.figures, str(rep)) if args.figures else tmp
        os.makedirs(fig_dir, exist_ok=True)
        report = os.path.join(tmp, "child.json")
        env = dict(os.environ, MPLBACKEND="Agg", PYTHONDONTWRITEBYTECODE="1")
        launched = time.time()
        t0 = time.perf_counter()
        subprocess.run([sys.executable, os.path.abspath(__file__), "--child", "--model-dir", args.model_dir,
                        "--layer", str(args.layer), "--figures", fig_dir, "--out", report], env=env, check=True)
        wall = time.perf_counter() - t0
        with open(report) as f:
            r = json.load(f)
        sizes = [os.path.getsize(p) for p in r["figures"]]
    marks = r["marks"]
    return dict(r, wall_seconds=wall, python_start_seconds=marks["start"] - launched,
                exit_seconds=wall - (marks["end"] - launched), figure_bytes=sizes)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model-dir", required=True)
    ap.add_argument("--layer", type=int, default=5)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--out", help="write the JSON here (default: stdout)")
    ap.add_argument("--figures", help="keep each repetition's figures in DIR/<rep>/ (default: thrown away)")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        return child(os.path.abspath(args.model_dir), args.layer, args.figures, args.out)

    runs = []
    for rep in range(args.reps):
        runs.append(one_run(args, rep))
        r = runs[-1]
        print(f"[notebook] run {rep + 1}/{args.reps}: {r['wall_seconds']:.2f} s (python start "
              f"{r['python_start_seconds']:.2f} s, " + ", ".join(f"{s} {r['stage_seconds'][s]:.2f} s" for s in STAGES)
              + f", exit {r['exit_seconds']:.2f} s)", file=sys.stderr)
    med = lambda xs: statistics.median(xs)  # noqa: E731
    out = {
        "model_dir": os.path.abspath(args.model_dir),
        "layer": args.layer,
        "python": sys.version.split()[0],
        "median_seconds": med([r["wall_seconds"] for r in runs]),
        "median_stage_seconds": dict(
            {"python_start": med([r["python_start_seconds"] for r in runs])},
            **{s: med([r["stage_seconds"][s] for r in runs]) for s in STAGES},
            exit=med([r["exit_seconds"] for r in runs])),
        "runs": runs,
    }
    text = json.dumps(out, indent=1)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text + "\n")
    else:
        print(text)


if __name__ == "__main__":
    main()

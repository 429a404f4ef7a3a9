# The cells of the "Check it in Python" notebook after its parameters cell, in the percent
# format (`# %%` starts a code cell, `# %% [markdown]` a markdown cell whose lines start with
# "# "): the analysis here, then notebook_check.py (the page's result and the comparison, where
# `# %% [page-result]` marks the result's cell). Read by src/export/notebook.rs, which writes
# the title and the parameters cell.

# %% [markdown]
# ## 1. Load the model
#
# `MODEL` may be a hub id (`openai-community/gpt2-medium`), a local folder holding `config.json`,
# `model.safetensors` and `tokenizer.json`, or the folder's URL as the page used it (its three
# files are then downloaded once into a temporary folder). The model runs in float32, like the
# lecture and like the page; the analysis below works in float64.

# %%
import hashlib
import json
import os
import re
import tempfile
import urllib.error
import urllib.request
import warnings

warnings.filterwarnings("ignore", message="IProgress not found")  # tqdm without ipywidgets

import matplotlib.pyplot as plt
import numpy as np
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer
from transformers.utils import logging as transformers_logging

transformers_logging.disable_progress_bar()

HUB_FILE_URL = re.compile(r"^https://huggingface\.co/(?P<repo>[^/]+(?:/[^/]+)?)/resolve/(?P<rev>[^/]+)/?$")


def model_source(model):
    """What from_pretrained can open: a folder or hub id as given; a folder URL is downloaded."""
    if not model:
        raise ValueError(
            "MODEL is empty: the page read the model from files on your disk, so set MODEL to the "
            "folder holding them (config.json, model.safetensors, tokenizer.json)"
        )
    if os.path.isdir(model):
        return model, None
    hub = HUB_FILE_URL.match(model)
    if hub:
        return hub["repo"], hub["rev"]
    if not model.startswith(("http://", "https://")):
        return model, None
    base = model if model.endswith("/") else model + "/"
    folder = os.path.join(tempfile.gettempdir(), "qk-lens-" + hashlib.sha256(base.encode()).hexdigest()[:16])
    os.makedirs(folder, exist_ok=True)
    for name in ("config.json", "model.safetensors", "tokenizer.json"):
        target = os.path.join(folder, name)
        if os.path.exists(target):
            continue
        try:
            urllib.request.urlretrieve(base + name, target + ".part")
            os.replace(target + ".part", target)
        except urllib.error.HTTPError as e:
            if name == "tokenizer.json" and e.code == 404:
                continue  # like the page: GPT-2's own tokenizer is used below
            raise
    return folder, None


source, revision = model_source(MODEL)
model = AutoModelForCausalLM.from_pretrained(
    source, revision=revision, dtype=torch.float32, attn_implementation="eager"
)
model.eval()
try:
    tokenizer = AutoTokenizer.from_pretrained(source, revision=revision)
except (OSError, ValueError):
    # A folder without tokenizer.json: every GPT-2 size shares one tokenizer.
    tokenizer = AutoTokenizer.from_pretrained("openai-community/gpt2")
print(f"{MODEL}: {model.config.n_layer} layers, {model.config.n_embd} dimensions, {model.config.n_head} heads")

# %% [markdown]
# ## 2. The hook: Q and K at the last token
#
# Block `LAYER`'s attention starts with one linear map, `c_attn`, whose output is the queries,
# keys and values side by side (`3 * n_embd` numbers per token). A forward hook on it splits that
# output in three and keeps the last token's slice of each. Prompts may differ in length when a
# word is more than one token, so each prompt runs on its own (no padding that could shift
# positions); the last token is then always the prompt's own last token, as on the page.

# %%
captured = {"q": [], "k": [], "v": []}


def implant_hook(layer_number):
    def hook(module, inputs, output):
        q, k, v = output.detach().split(model.config.n_embd, dim=2)
        for name, x in (("q", q), ("k", k), ("v", v)):
            captured[name].append(x[0, -1, :].numpy().copy())

    return hook


handle = model.transformer.h[LAYER].attn.c_attn.register_forward_hook(implant_hook(LAYER))

words = [w for ws in CATEGORIES.values() for w in ws]
category_names = list(CATEGORIES)
labels = np.array([c for c, ws in enumerate(CATEGORIES.values()) for _ in ws])
prompts = [TEMPLATE.replace("{word}", w) for w in words]
token_ids = [tokenizer(p, add_special_tokens=False)["input_ids"] for p in prompts]

with torch.no_grad():
    for ids in token_ids:
        model(torch.tensor([ids]))
handle.remove()

# float32 as the model computed them; exact in float64.
Q = np.array(captured["q"], dtype=np.float64)
K = np.array(captured["k"], dtype=np.float64)
V = np.array(captured["v"], dtype=np.float64)
for w, ids in list(zip(words, token_ids))[:5]:
    print(f"{w!r}: {ids}")
print("Q:", Q.shape, "K:", K.shape)

# %% [markdown]
# ## 3. Which pairs are "within" a category
#
# Word pairs `i < j` (the strict upper triangle) are the data points. A pair is within
# category `c` when both words belong to `c`. The picture marks each within pair with its
# category's number (1, 2, ...) and every other pair with 0. (The lecture builds this mask as a
# product of labels; that trick only stays unambiguous up to three categories, 1 x 4 = 2 x 2, so
# here the labels are compared directly.)

# %%
n_words = len(words)
upper = np.triu_indices(n_words, 1)  # row-major i < j, the order of np.nonzero(np.triu(C, 1))
same = labels[:, None] == labels[None, :]
groupmask = np.triu(np.where(same, labels[:, None] + 1, 0), 1)

plt.figure(figsize=(5, 4.5))
plt.imshow(groupmask, cmap="viridis")
plt.colorbar(label="category number (0: across)")
plt.title("Within-category pairs")
plt.show()

# %% [markdown]
# ## 4. Cosine similarity of every pair
#
# Each vector is scaled to unit length; the matrix of dot products is then the cosine
# similarity of every pair of words. The colour range is each matrix's 2nd to 98th percentile of
# the pair similarities (the lecture fixed it by hand for gpt2-medium's block 5). On the right,
# the distribution of the pair similarities: 20 bins over the range from the smallest to the
# largest pair (numpy's default).


# %%
def cosine_matrix(X):
    unit = X / np.linalg.norm(X, axis=1, keepdims=True)
    return unit @ unit.T


CQ = cosine_matrix(Q)
CK = cosine_matrix(K)
CV = cosine_matrix(V)


def heatmap(ax, C, title):
    lo, hi = np.percentile(C[upper], [2, 98])
    h = ax.imshow(C, vmin=lo, vmax=hi)
    ax.set(xticks=range(0, n_words, 2), xticklabels=words[::2], yticks=range(1, n_words, 2),
           yticklabels=words[1::2], title=title)
    ax.tick_params(axis="x", labelrotation=90)
    plt.colorbar(h, ax=ax, pad=0.02, fraction=0.046)


_, axs = plt.subplots(1, 3, figsize=(13, 4.2))
heatmap(axs[0], CQ, "Q cosine similarity")
heatmap(axs[1], CK, "K cosine similarity")
hist_q, edges_q = np.histogram(CQ[upper], bins=20)
hist_k, edges_k = np.histogram(CK[upper], bins=20)
axs[2].plot(edges_q[:-1], hist_q, label="Q")
axs[2].plot(edges_k[:-1], hist_k, label="K")
axs[2].set(xlabel="Cosine similarity", ylabel="Pairs", ylim=[0, None], title="Pair similarities")
axs[2].legend()
plt.tight_layout()
plt.show()

# %% [markdown]
# ## 5. Selectivity index
#
# How much more alike two words of one category are than two words of different categories:
#
# - *within* = the average, over categories, of the mean similarity of the pairs inside the
#   category (a one-word category has no pairs and is left out);
# - *across* = the average, over pairs of categories, of the mean similarity of the word pairs
#   that straddle the two;
# - selectivity = within / across (undefined when a side has no pairs).
#
# Every category weighs the same, whatever its size. With three categories this is the lecture's
# formula; the same rule serves any number of categories. The medians of the pooled within
# and across pairs are printed too (the page shows them).


# %%
def mean_or_none(values):
    return float(np.mean(values)) if len(values) else None


def selectivity(C):
    values, li, lj = C[upper], labels[upper[0]], labels[upper[1]]
    g = len(category_names)
    within_means = [mean_or_none(values[(li == c) & (lj == c)]) for c in range(g)]
    across_means = {}
    for a in range(g):
        for b in range(a + 1, g):
            m = ((li == a) & (lj == b)) | ((li == b) & (lj == a))
            if m.any():
                across_means[(a, b)] = float(np.mean(values[m]))
    within = mean_or_none([m for m in within_means if m is not None])
    across = mean_or_none(list(across_means.values()))
    index = within / across if within is not None and across not in (None, 0.0) else None
    return {
        "index": index, "within": within, "across": across,
        "within_means": within_means, "across_means": across_means,
        "within_median": float(np.median(values[li == lj])) if (li == lj).any() else None,
        "across_median": float(np.median(values[li != lj])) if (li != lj).any() else None,
    }


sel_q, sel_k = selectivity(CQ), selectivity(CK)


def fmt(x, digits=4):
    return "undefined" if x is None else f"{x:.{digits}f}"


print(f"Selectivity index: Q {fmt(sel_q['index'])}, K {fmt(sel_k['index'])}")
print(f"  within / across means: Q {fmt(sel_q['within'])} / {fmt(sel_q['across'])}, "
      f"K {fmt(sel_k['within'])} / {fmt(sel_k['across'])}")

_, axs = plt.subplots(1, 2, figsize=(11, 3.6), sharey=True)
for ax, sel, name in ((axs[0], sel_q, "Q"), (axs[1], sel_k, "K")):
    bars = [m if m is not None else np.nan for m in sel["within_means"]]
    bars += list(sel["across_means"].values())
    names = category_names + [f"{category_names[a]} x {category_names[b]}" for a, b in sel["across_means"]]
    colours = ["tab:blue"] * len(category_names) + ["tab:gray"] * len(sel["across_means"])
    ax.bar(range(len(bars)), bars, color=colours)
    ax.set(xticks=range(len(bars)), xticklabels=names, ylabel="Mean cosine similarity",
           title=f"{name}: selectivity {fmt(sel['index'], 3)} (blue within, grey across)")
    ax.tick_params(axis="x", labelrotation=60)
    lo = np.nanmin(bars)
    ax.set_ylim(lo - 0.1 * (1 - lo), 1)
plt.tight_layout()
plt.show()

# %% [markdown]
# ## 6. RSA: do Q and K share a similarity structure?
#
# Representational similarity analysis correlates the two similarity matrices themselves: one
# point per word pair (upper triangle), its Q similarity against its K similarity, and Pearson's
# r over the points. The same is then done per category, with only that category's pairs
# (r needs at least two pairs that are not all equal).


# %%
def pearson(x, y):
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if len(x) < 2 or np.all(x == x[0]) or np.all(y == y[0]):
        return None
    return float(np.clip(np.corrcoef(x, y)[0, 1], -1.0, 1.0))


def rsa(A, B):
    li, lj = labels[upper[0]], labels[upper[1]]
    per_category = []
    for c in range(len(category_names)):
        m = (li == c) & (lj == c)
        per_category.append((pearson(A[upper][m], B[upper][m]), int(m.sum())))
    return pearson(A[upper], B[upper]), per_category


rsa_r, rsa_per_category = rsa(CQ, CK)

plt.figure(figsize=(6, 5))
plt.plot(CQ[upper], CK[upper], "ks", markerfacecolor=[0.9, 0.7, 0.7, 0.5])
plt.gca().set(xlabel="Q cosine similarity", ylabel="K cosine similarity", title=f"RSA: r = {fmt(rsa_r, 3)}")
plt.grid(linestyle="--", color=[0.8, 0.8, 0.8])
plt.show()

n_cat = len(category_names)
cols = min(n_cat, 4)
rows = -(-n_cat // cols)
_, axs = plt.subplots(rows, cols, figsize=(4 * cols, 3.5 * rows), squeeze=False)
for c, name in enumerate(category_names):
    ax = axs[c // cols][c % cols]
    m = (labels[upper[0]] == c) & (labels[upper[1]] == c)
    ax.plot(CQ[upper][m], CK[upper][m], "ks", markerfacecolor=(*plt.cm.tab10(c % 10)[:3], 0.5))
    r, pairs = rsa_per_category[c]
    ax.set(xlabel="Q cosine similarity", ylabel="K cosine similarity", title=f"RSA ({name}): r = {fmt(r, 3)}")
    ax.grid(linestyle="--", color=[0.8, 0.8, 0.8])
for extra in range(n_cat, rows * cols):
    axs[extra // cols][extra % cols].axis("off")
plt.tight_layout()
plt.show()


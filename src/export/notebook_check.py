# %% [markdown]
# ## 7. The page's result
#
# The cell below holds the result the page computed (its JSON, as the page's "Result (JSON)"
# button saves it). Its source is collapsed; it only defines `PAGE_RESULT`.

# %% [page-result]

# %% [markdown]
# ## 8. Does PyTorch agree with the page?
#
# Every number above is compared with the page's. Similarities, means, medians, selectivity
# and r must agree within 1e-4; the raw vectors within 1e-4 of their largest magnitude (at
# least 1); token ids exactly. A histogram count may differ only by pairs lying within 1e-4 of
# a bin edge (a rounding difference can move such a pair to the next bin). When the page ran
# more than the lecture (V, mean-centred vectors, statistics), V, the centred numbers and
# Spearman's rho are compared too; p-values and intervals are not (they come from the page's
# own random draws). If you changed the parameters, the comparison does not apply and is
# skipped.


# %%
def average_ranks(x):
    order = np.argsort(x, kind="mergesort")
    xs = x[order]
    starts = np.flatnonzero(np.r_[True, xs[1:] != xs[:-1], True])
    group = np.cumsum(np.r_[True, xs[1:] != xs[:-1]]) - 1
    ranks = np.empty(len(x))
    ranks[order] = ((starts[:-1] + starts[1:] - 1) / 2 + 1)[group]
    return ranks


def spearman(A, B):
    return pearson(average_ranks(A[upper]), average_ranks(B[upper]))


def centred(X):
    return X - X.mean(axis=0)


results = []


def check(name, ours, page, tol=1e-4, relative=False):
    if ours is None or page is None:
        ok, diff = ours is None and page is None, 0.0
    else:
        ours, page = np.asarray(ours, dtype=np.float64), np.asarray(page, dtype=np.float64)
        if ours.shape != page.shape:
            ok, diff = False, np.inf
        else:
            diff = float(np.max(np.abs(ours - page), initial=0.0))
            scale = max(1.0, float(np.max(np.abs(page), initial=0.0))) if relative else 1.0
            ok = diff <= tol * scale
    results.append((name, ok, diff))


def check_histogram(name, values, page_hist):
    counts, edges = np.histogram(values, bins=20)
    check(name + " edges", edges, page_hist["edges"])
    inner = np.asarray(page_hist["edges"])[1:-1]
    near_edge = int(np.sum(np.min(np.abs(values[:, None] - inner[None, :]), axis=1) <= 1e-4))
    moved = int(np.sum(np.abs(counts - np.asarray(page_hist["counts"]))))
    results.append((name + " counts", moved <= 2 * near_edge, float(moved)))


def check_space(name, X, C, page):
    sel = selectivity(C)
    check(f"{name} vectors", X, page["vectors"], relative=True)
    check(f"{name} cosine", C, page["cosine"])
    check(f"{name} selectivity", sel["index"], page["selectivity"])
    for key in ("within", "across"):
        check(f"{name} {key} mean", sel[key], page[f"{key}_mean"])
        check(f"{name} {key} median", sel[f"{key}_median"], page.get(f"{key}_median"))
    for c, entry in enumerate(page["within_means"]):
        check(f"{name} within mean of {entry['category']}", sel["within_means"][c], entry["mean"])
    for entry in page["across_means"]:
        a, b = (category_names.index(n) for n in entry["categories"])
        check(f"{name} across mean of {' x '.join(entry['categories'])}", sel["across_means"].get((a, b)), entry["mean"])
    check_histogram(f"{name} histogram", C[upper], page["histogram"])


def check_rsa(name, A, B, page):
    r, per_category = rsa(A, B)
    check(f"{name} r", r, page["r"])
    for (r_c, pairs), entry in zip(per_category, page["per_category"]):
        check(f"{name} r of {entry['category']}", r_c, entry["r"])
        results.append((f"{name} pairs of {entry['category']}", pairs == entry["pairs"], 0.0))


page_experiment = PAGE_RESULT["experiment"]
same_run = (
    LAYER == PAGE_RESULT["layer"]
    and TEMPLATE == page_experiment["template"]
    and list(CATEGORIES.items()) == [(c["name"], c["words"]) for c in page_experiment["categories"]]
)
if not same_run:
    print("The parameters differ from the page's run: nothing to compare.")
else:
    page_words = PAGE_RESULT["words"]
    results.append(("words", words == [w["word"] for w in page_words], 0.0))
    results.append(("token ids", token_ids == [w["token_ids"] for w in page_words], 0.0))
    check_space("Q", Q, CQ, PAGE_RESULT["q"])
    check_space("K", K, CK, PAGE_RESULT["k"])
    check_rsa("RSA", CQ, CK, PAGE_RESULT["rsa"])
    if PAGE_RESULT.get("v"):
        check_space("V", V, CV, PAGE_RESULT["v"])
    page_centred = PAGE_RESULT.get("centered")
    if page_centred:
        cq, ck = cosine_matrix(centred(Q)), cosine_matrix(centred(K))
        check_space("centred Q", centred(Q), cq, page_centred["q"])
        check_space("centred K", centred(K), ck, page_centred["k"])
        if page_centred.get("v"):
            check_space("centred V", centred(V), cosine_matrix(centred(V)), page_centred["v"])
        check_rsa("centred RSA", cq, ck, page_centred["rsa"])
    stats = PAGE_RESULT.get("statistics")
    if stats:
        A, B = (cosine_matrix(centred(Q)), cosine_matrix(centred(K))) if stats["centered"] else (CQ, CK)
        check("Spearman rho", spearman(A, B), stats["rsa"]["spearman"]["rho"])
        check("RSA r (statistics)", pearson(A[upper], B[upper]), stats["rsa"]["pearson"]["r"])

    width = max(len(name) for name, _, _ in results)
    for name, ok, diff in results:
        print(f"{name:<{width}}  {'ok  ' if ok else 'FAIL'}  max difference {diff:.2e}")
    failed = [name for name, ok, _ in results if not ok]
    assert not failed, f"{len(failed)} of {len(results)} checks failed: {failed}"
    print(f"All {len(results)} checks passed: PyTorch agrees with the page within 1e-4.")

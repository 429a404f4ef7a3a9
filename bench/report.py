"""Turns one benchmark run's measurements into markdown tables, and writes docs/benchmarks.md.

    python bench/report.py --run RUN_DIR --models DIR --out docs/benchmarks.md --meta META.json

RUN_DIR holds browser.json (bench/browser.mjs), native.json (bench/native.py),
lecture-MODEL-LLAYER.json (bench/lecture_cell.py), and live.json (bench/live.mjs) with
notebook-e2e.json (bench/notebook_e2e.py) for the "Live lab" section (bench/live_report.py);
with --only live, just those two, and only that section of --out is rewritten. META.json: what bench.sh knows of the machine
and the run (date, command, versions, seconds). The tables also go to stdout.

"needed weight bytes" of a case is the sum of the pieces a capture at layer L needs, from the
model.safetensors header: the wte rows of the distinct token ids of the prompts, wpe rows
0..(longest prompt - 1), every tensor of blocks 0..L-1 except the attn.bias mask buffer, and
block L's ln_1 and attn.c_attn.
"""
import argparse
import json
import os
import re
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cases import CASES, TARGET_CASE, name  # noqa: E402
from live_report import LIVE_HEADING, live_section, splice_section  # noqa: E402

DTYPE_BYTES = {"F32": 4, "F16": 2, "BF16": 2}


def header(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        return json.loads(f.read(n))


def tensor_bytes(info):
    a, b = info["data_offsets"]
    return b - a


def needed_bytes(model_dir, layer, token_ids):
    h = header(os.path.join(model_dir, "model.safetensors"))
    wte, wpe = h["wte.weight"], h["wpe.weight"]
    row = lambda t: t["shape"][1] * DTYPE_BYTES[t["dtype"]]  # noqa: E731
    distinct = {t for ids in token_ids for t in ids}
    n_pos = max(len(ids) for ids in token_ids)
    total = len(distinct) * row(wte) + n_pos * row(wpe)
    for key, info in h.items():
        if not key.startswith("h."):
            continue
        block, rest = int(key.split(".")[1]), key.split(".", 2)[2]
        if block < layer and rest != "attn.bias":
            total += tensor_bytes(info)
        elif block == layer and rest.split(".")[0] == "ln_1" or block == layer and rest.startswith("attn.c_attn."):
            total += tensor_bytes(info)
    return total


def mb(n):
    return "–" if n is None else f"{n / 1e6:,.1f} MB"


def ms(x):
    return "–" if x is None else (f"{x:,.0f} ms" if x >= 10 else f"{x:.1f} ms")


def pct(a, b):
    return f"{100 * a / b:.1f} %"


def table(head, rows):
    out = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    out += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(out)


def disturbance(meta):
    """What other processes did to the measurements (bench/cpu_watch.py's files in META.json):
    a line for the machine table, the disturbed phases as text, and their names."""
    watches = meta.get("cpu_watch") or []
    foreign_text, noisy, noisy_phases = "?", [], set()
    seconds = sum(w["seconds"] for w in watches)
    if seconds:
        foreign = sum(w["foreign_cpu_seconds"] for w in watches)
        foreign_share = foreign / (seconds * int(meta["nproc"]))
        by_cmd = {}
        for w in watches:
            for c, s in w["top"]:
                by_cmd[c] = by_cmd.get(c, 0) + s
            if w["foreign_cpu_seconds"] > 0.05 * w["seconds"] * int(meta["nproc"]):
                noisy_phases.add(w["phase"])
                noisy.append(f"{w['phase']} ({100 * w['foreign_cpu_seconds'] / (w['seconds'] * int(meta['nproc'])):.0f} %)")
        top = ", ".join(f"{c} {s:.0f} s" for c, s in sorted(by_cmd.items(), key=lambda kv: -kv[1])[:4] if s >= 0.5)
        foreign_text = (f"{foreign:.1f} CPU s in {seconds:.0f} s of measuring "
                        f"({100 * foreign_share:.1f} % of the cores){': ' + top if top else ''}")
    return foreign_text, noisy, noisy_phases


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--run", required=True)
    ap.add_argument("--models", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--meta", required=True)
    ap.add_argument("--only", choices=["live"],
                    help="live: RUN_DIR holds only live.json and notebook-e2e.json; rewrite the Live lab "
                         "section of --out and keep the rest of the file as it is")
    args = ap.parse_args()
    meta = json.load(open(args.meta))
    if args.only == "live":
        section = live_section(args.run, args.models, meta, disturbance(meta)[2], False, needed_bytes)
        splice_section(args.out, LIVE_HEADING, section)
        print(section)
        return
    browser = {(c["model"], c["layer"]): c
               for f in sorted(os.listdir(args.run)) if f.startswith("browser") and f.endswith(".json")
               for c in json.load(open(os.path.join(args.run, f)))["cases"]}
    native = {(c["model"], c["layer"]): c for c in json.load(open(os.path.join(args.run, "native.json")))["cases"]}
    lecture = {(m, l): json.load(open(os.path.join(args.run, f"lecture-{name(m, l)}.json"))) for m, l in CASES}

    rows = {}
    for m, l in CASES:
        b, n, p = browser[(m, l)], native[(m, l)], lecture[(m, l)]
        cold, warm = b["cold"], b["warm"]
        file_bytes = cold["stats"]["model_file_bytes"]
        need = needed_bytes(os.path.join(args.models, m), l, n["token_ids"])
        fwd = max(cold["stats"]["forward_ms"], warm["stats"]["forward_ms"])
        wasm = max(cold["stats"]["wasm_memory_bytes"], warm["stats"]["wasm_memory_bytes"])
        rows[(m, l)] = dict(
            file=file_bytes, need=need, cold=cold, warm=warm, one=b.get("warm_one_worker"), fwd=fwd, wasm=wasm,
            native=n["median"],
            pt1=p["threads"]["1"]["full"]["median_ms"], pt2=p["threads"]["2"]["full"]["median_ms"],
            pt1t=p["threads"]["1"]["truncated"]["median_ms"], pt2t=p["threads"]["2"]["truncated"]["median_ms"],
            pt_load=p["load_ms"])

    load = meta.get("loadavg", {})
    foreign_text, noisy, noisy_phases = disturbance(meta)

    case = lambda m, l: f"{m} L{l}"  # noqa: E731
    t_bytes = table(
        ["case", "model.safetensors", "cold: bytes sent (server)", "cold: page's bytes_downloaded", "% of file (server)",
         "warm: bytes sent", "needed weight bytes", "requests cold (server / page)"],
        [[case(m, l), mb(r["file"]), mb(r["cold"]["server_weight_bytes"]), mb(r["cold"]["stats"]["bytes_downloaded"]),
          pct(r["cold"]["server_weight_bytes"], r["file"]), mb(r["warm"]["server_weight_bytes"]), mb(r["need"]),
          f'{r["cold"]["server_weight_requests"]} / {r["cold"]["stats"]["http_requests"]}']
         for (m, l), r in rows.items()])
    def one_worker(r):
        one = r.get("one")
        return ms(one["stats"]["forward_ms"]) if one else "–"

    def mark(phase, text):
        return f"{text} †" if phase in noisy_phases else text

    t_time = table(
        ["case", "time to result cold", "time to result warm", "browser forward (cold / warm)",
         "browser forward, one worker (warm)", "native forward (threads)", "native total", "PyTorch lecture cell 1 thread", "PyTorch lecture cell 2 threads",
         "browser forward / PyTorch cell (2 threads)", "PyTorch stopped after block L c_attn (1 / 2 threads)"],
        [[case(m, l), mark(f"browser-{m}-L{l}", ms(r["cold"]["stats"]["total_ms"])),
          mark(f"browser-{m}-L{l}", ms(r["warm"]["stats"]["total_ms"])),
          mark(f"browser-{m}-L{l}", f'{ms(r["cold"]["stats"]["forward_ms"])} / {ms(r["warm"]["stats"]["forward_ms"])}'),
          mark(f"browser-{m}-L{l}", one_worker(r)),
          mark("native", f'{ms(r["native"]["forward_ms"])} ({r["native"].get("forward_ranks", 1):.0f})'),
          mark("native", ms(r["native"]["total_ms"])),
          mark(f"pytorch-{m}-L{l}", ms(r["pt1"])), mark(f"pytorch-{m}-L{l}", ms(r["pt2"])),
          mark(f"pytorch-{m}-L{l}", mark(f"browser-{m}-L{l}", f'{r["fwd"] / r["pt2"]:.2f}')),
          mark(f"pytorch-{m}-L{l}", f'{ms(r["pt1t"])} / {ms(r["pt2t"])}')]
         for (m, l), r in rows.items()])
    if noisy_phases:
        t_time += ("\n\n† measured while other processes used over 5 % of the cores (see the observations): "
                   "inflated, not to be trusted.")
    t_mem = table(
        ["case", "needed weight bytes", "wasm memory", "wasm memory / needed", "renderer peak RSS (cold / warm)",
         "native peak RSS"],
        [[case(m, l), mb(r["need"]), mb(r["wasm"]), f'{r["wasm"] / r["need"]:.2f}',
          f'{mb(r["cold"]["renderer_peak_rss_bytes"])} / {mb(r["warm"]["renderer_peak_rss_bytes"])}',
          mb(r["native"]["peak_rss_bytes"])]
         for (m, l), r in rows.items()])
    t_where = table(
        ["case", "run", "wall: navigation → result", "stats.total_ms", "download_ms", "load_ms", "forward_ms",
         "analysis_ms", "rest (config, tokenizer, prepare)", "bytes from cache"],
        [[case(m, l), k, ms(x["wall_ms"]), ms(x["stats"]["total_ms"]), ms(x["stats"]["download_ms"]),
          ms(x["stats"]["load_ms"]), ms(x["stats"]["forward_ms"]), ms(x["stats"]["analysis_ms"]),
          ms(x["stats"]["total_ms"] - sum(x["stats"][s] for s in ("download_ms", "load_ms", "forward_ms", "analysis_ms"))),
          mb(x["stats"]["bytes_from_cache"])]
         for (m, l), r in rows.items() for k, x in (("cold", r["cold"]), ("warm", r["warm"]))])

    r = rows[TARGET_CASE]
    cold_bytes = max(r["cold"]["server_weight_bytes"], r["cold"]["stats"]["bytes_downloaded"])
    warm_bytes = max(r["warm"]["server_weight_bytes"], r["warm"]["stats"]["bytes_downloaded"])
    targets = [
        ("cold download ≤ 20 % of model.safetensors", f"{pct(cold_bytes, r['file'])} ({mb(cold_bytes)} of {mb(r['file'])})",
         cold_bytes <= 0.20 * r["file"]),
        ("warm download = 0 bytes", f"{warm_bytes} bytes", warm_bytes == 0),
        ("browser forward ≤ 0.33 × PyTorch lecture cell (2 threads)",
         f"{ms(r['fwd'])} / {ms(r['pt2'])} = {r['fwd'] / r['pt2']:.2f}", r["fwd"] <= 0.33 * r["pt2"]),
        ("peak wasm memory ≤ 1.3 × needed weight bytes", f"{mb(r['wasm'])} / {mb(r['need'])} = {r['wasm'] / r['need']:.2f}",
         r["wasm"] <= 1.3 * r["need"]),
    ]
    # Which measurements each target rests on: a disturbed one makes its verdict unreliable.
    m, l = TARGET_CASE
    timing_phases = [[], [], [f"browser-{m}-L{l}", f"pytorch-{m}-L{l}"], []]
    verdicts = []
    for (t, v, ok), phases in zip(targets, timing_phases):
        verdict = "**pass**" if ok else "**MISS**"
        disturbed = [p for p in phases if p in noisy_phases]
        if disturbed:
            verdict += " (unreliable: other processes disturbed " + ", ".join(disturbed) + ")"
        verdicts.append([t, v, verdict])
    t_targets = table(["target (gpt2-medium L5)", "measured", "result"], verdicts)

    w = meta.get("waited_seconds", 0)
    waited_text = f", {w // 60} min {w % 60} s of it waiting for other processes to leave the cores alone" if w >= 30 else ""
    doc = f"""# Benchmarks

Made by `{meta['command']}` on {meta['date']} (the run took {meta['seconds'] // 60} min {meta['seconds'] % 60} s{waited_text}).
Rerun it to replace this file; everything it needs is cached outside git in
`${{QK_BENCH_CACHE:-$HOME/.cache/qk-lens-bench}}`.

## Machine and versions

| | |
|---|---|
| cores (`nproc`) | {meta['nproc']} |
| CPU | {meta['cpu']} |
| memory | {meta['memory']} |
| Chromium | {meta['chromium']} |
| PyTorch / transformers | {meta['torch']} / {meta['transformers']} |
| Node.js / rustc | {meta['node']} / {meta['rustc']} |
| QK Lens source | {meta['source']} |
| load average before / after | {load.get('before', '?')} / {load.get('after', '?')} |
| CPU used by other processes during the measurements | {foreign_text} |

## What is measured

- Models: random weights with the real shapes of `gpt2` (n_embd 768, 12 layers) and `gpt2-medium`
  (n_embd 1024, 24 layers, 16 heads), in the hub's layout: hub tensor names, float32, with the
  legacy `h.N.attn.bias` mask buffers (files of {mb(rows[('gpt2', 5)]['file'])} and
  {mb(rows[('gpt2-medium', 5)]['file'])}, like the hub's). Made by `bench/make_models.py`.
- Experiment: the lecture's 34 words in 3 categories, `The next word is {{word}}`, at layer L.
- Browser: the release site (`trunk build --release`) in headless Chromium (Debian's, playwright-core,
  the e2e tests' flags), served on 127.0.0.1 by `tests/e2e/server.mjs`, which counts the bytes it
  sends. **Cold**: a new browser with an empty profile opens the page URL with `&run=1`.
  **Warm**: the same page reloaded (same profile: Cache Storage keeps what the cold run stored).
  The forward runs on two workers (the engine and a second one it starts, each holding half of
  every weight; `forward_ranks` in the stats); "one worker" is a third, warm run with `&workers=1`.
  Times are the page's own `result.stats`; "time to result" is `stats.total_ms` (from the run's
  start, after the app loaded, to the result); the wall time from navigation to `#qk-result` is
  in the last table. Wasm memory is `stats.wasm_memory_bytes` (both workers' summed; the larger
  of cold and warm);
  renderer peak RSS is the VmHWM of Chromium's renderer processes (reset before each run).
- Native: the release CLI (`qk-lens run`, its forward on as many threads as cores: the number
  in brackets), 3 runs per case, medians; peak RSS is the process's
  VmHWM (it counts the pages of the memory-mapped file that were read).
- PyTorch: the lecture's cell, `bench/lecture_cell.py`: transformers' `GPT2LMHeadModel`
  (eager attention, float32) with the lecture's forward hook on `transformer.h[L].attn.c_attn`,
  the 34 × 5 batch, `with torch.no_grad(): model(batch)` (whole model and LM head, as the lecture),
  `torch.set_num_threads(1)` and `(2)`, median of 5 after 1 warm-up. Also timed for reference: the
  same call stopped by an exception from the hook after block L's c_attn.
- A busy machine inflates every time. Before each measurement the script waits until other
  processes leave the cores alone for 5 s, counts the CPU they use while it measures (processes
  are the benchmark's own by an environment marker or Chromium's process group), repeats a
  measurement they disturbed (over 5 % of the cores) and keeps the least disturbed attempt;
  figures still disturbed are marked † and the targets resting on them "unreliable".
- Needed weight bytes: from the safetensors header, the wte rows of the distinct tokens, wpe rows
  0–4, blocks 0..L-1 without `attn.bias`, block L's ln_1 and attn.c_attn.

## Download (browser)

{t_bytes}

## Time

{t_time}

## Memory

{t_mem}

## Where the time goes in the browser

{t_where}

## The issue's targets (gpt2-medium, layer 5)

{t_targets}
"""
    notes = []
    any_repeats = False
    for (m, l), r in rows.items():
        for k in ("cold", "warm"):
            x = r[k]
            if x["server_weight_bytes"] != x["stats"]["bytes_downloaded"]:
                ranges = x.get("server_weight_ranges") or []
                repeats = len(ranges) - len(set(ranges))
                notes.append(
                    f"- {case(m, l)} {k}: the server sent {mb(x['server_weight_bytes'])} of model.safetensors in "
                    f"{x['server_weight_requests']} requests, the page counts {mb(x['stats']['bytes_downloaded'])} in "
                    f"{x['stats']['http_requests']}" + (f"; {repeats} Range requests repeat an earlier one." if repeats else "."))
                any_repeats = any_repeats or repeats > 0
        if r["cold"]["stats"].get("partial_download") is False:
            notes.append(f"- {case(m, l)}: the page fell back to one full download.")
    if any_repeats:
        notes.append("- Repeated Range requests: Chromium aborted requests under way and sent them again. Its HTTP "
                     "cache does this to parallel Range requests on one URL, with or without QK Lens "
                     "(`node bench/range_probe.mjs MODEL_DIR` shows it); `cache: 'no-store'` on those fetches "
                     "avoids it (the app keeps the bytes in Cache Storage anyway).")
    if noisy:
        notes.insert(0, "- **Noisy measurements**: other processes (builds, tests) used over 5 % of the cores during "
                        + ", ".join(noisy) + "; those times are inflated: rerun on a quiet machine.")
    misses = [t for t, _, ok in targets if not ok]
    if misses:
        notes.append("- Targets missed: " + "; ".join(misses) + ".")
    if notes:
        doc += f"\n{OBSERVATIONS}\n\n" + "\n".join(notes) + "\n"
    if os.path.exists(os.path.join(args.run, "live.json")):
        doc += "\n" + live_section(args.run, args.models, meta, noisy_phases, True, needed_bytes)
    doc += kept_sections(args.out, doc)
    with open(args.out, "w") as f:
        f.write(doc)
    print(doc[doc.index("## Download"):])


OBSERVATIONS = "## Observations (computed from the figures above)"


def kept_sections(path, doc):
    """The `## ` sections of the existing file that this report does not write (hand-written ones:
    the layer sweep, the matmul kernel's figures), in their order, to go after the generated ones."""
    try:
        with open(path) as f:
            old = f.read()
    except FileNotFoundError:
        return ""
    # Sections this report writes, also those it leaves out this time (no observations).
    generated = {line.strip() for line in doc.splitlines() if line.startswith("## ")} | {OBSERVATIONS, LIVE_HEADING}
    kept = [part.rstrip("\n") + "\n" for part in re.split(r"(?m)^(?=## )", old)[1:]
            if part.splitlines()[0].strip() not in generated]
    return "".join("\n" + part for part in kept)


if __name__ == "__main__":
    main()

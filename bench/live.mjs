// Times the live lab (issue 12): with the model resident in the engine worker, how long each
// kind of edit takes from the keystroke (or the slider's release) until every figure shows its
// run, and where the time goes; then a reload with the weights stored, three model switches and
// the wasm memory they leave.
//
//   node bench/live.mjs --models DIR --experiments DIR --out FILE [--dist DIR] [--model gpt2-medium]
//        [--layer 5] [--other gpt2] [--reps 5] [--reloads 5]
//
// Serves like bench/browser.mjs (tests/e2e/server.mjs; DIR/<model>/ at /models/<model>/, the
// experiments at /experiments/) and drives a new headless Chromium with an empty profile
// (bench/chromium.mjs: Debian's Chromium, the e2e tests' flags). Steps, in one page:
//   first      /?model=…/models/<model>/&experiment=/experiments/<model>-L<layer>.json&run=1 (cold)
//   edits      each kind `reps` times, alternating there and back so every one is a real edit:
//                edit_word       a fruit word ("pear") -> a word never seen in this page (mango, …)
//                edit_word_back  that word -> "pear" again (its prompt was seen: no forward)
//                add_word        a word never seen appended to the fruit words
//                remove_word     that word removed again
//                layer_down      the layer slider <layer> -> <layer - 1> (input + change)
//                layer_up        and back
//                template_new    the template -> one never seen ("The next word is {word}.", "…!", …)
//                template_back   the lecture's template again
//   reload     the page reloaded `reloads` times (the weights are in Cache Storage)
//   switches   #qk-model + #qk-run: <other> -> <model> -> <other>, in the last reloaded page
//
// Each edit is timed inside the page (performance.now()): one page.evaluate sets the control's
// value with the native value setter, dispatches `input` (and `change` for the slider), and
// resolves from a MutationObserver once #qk-result, #qk-summary and every canvas carry a run id
// above the one before (canvases get theirs right after they are drawn). It also notes when
// #qk-run turned disabled (the run's start in the page: typed edits wait 100 ms for a pause
// first) and the next animation frame after the figures. A reload is timed from the
// navigation's start (the new document's performance.now()) to the same state.
// Writes {chromium, model, layer, first, edits: [...], reloads: [...], switches: [...]} to --out.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { startServer } from '../tests/e2e/server.mjs';
import { REPO, chromiumVersion, currentRss, launch, rendererPids } from './chromium.mjs';

const { values: opt } = parseArgs({
  options: {
    models: { type: 'string' },
    experiments: { type: 'string' },
    out: { type: 'string' },
    dist: { type: 'string', default: path.join(REPO, 'dist') },
    model: { type: 'string', default: 'gpt2-medium' },
    layer: { type: 'string', default: '5' },
    other: { type: 'string', default: 'gpt2' },
    reps: { type: 'string', default: '5' },
    reloads: { type: 'string', default: '5' },
    timeout: { type: 'string', default: '300' },
  },
});
if (!opt.models || !opt.experiments || !opt.out) {
  console.error('usage: node bench/live.mjs --models DIR --experiments DIR --out FILE [--dist DIR] [--model M] [--layer L] [--other M] [--reps N] [--reloads N]');
  process.exit(2);
}
const LAYER = Number(opt.layer);
const TIMEOUT_MS = Number(opt.timeout) * 1000;
const log = (...a) => console.error('[live]', ...a);

// Words and templates no earlier run of the page has seen (each edit forwards its prompts);
// all single GPT-2 tokens after "The next word is" (checked against the result's single_token).
const NEW_WORDS = ['mango', 'plum', 'lemon', 'coconut', 'olive', 'fig', 'date', 'nut'];
const ADDED_WORDS = ['tomato', 'potato', 'carrot', 'onion', 'pepper', 'bean', 'rice', 'honey'];
const NEW_TEMPLATES = ['.', '!', ',', '?', ';', ':', '-', ')'].map((p) => `The next word is {word}${p}`);
const REPS = Math.min(Number(opt.reps), NEW_WORDS.length);
const RELOADS = Number(opt.reloads);
const SWAPPED = 'pear'; // the fruit word edit_word replaces
const SETTLE_MS = 300; // pause between measurements

/**
 * In the page: resolves when #qk-result, #qk-summary and every canvas carry one run id above
 * `before`, with performance.now() then (`done`), when #qk-run first turned disabled (`start`)
 * and the next animation frame (`frame`). `act` (a function body run at t0) makes the edit.
 * Shared by the edits and the reload (before = 0; act = null; times from the navigation).
 */
function settleInPage({ before, action, timeoutMs }) {
  const idOf = (el) => (el && el.dataset.runId ? Number(el.dataset.runId) : NaN);
  const act = () => {
    if (!action) return;
    const el = document.querySelector(action.selector);
    if (!el) throw new Error(`no ${action.selector} on the page`);
    if (action.value !== undefined) {
      const setter = Object.getOwnPropertyDescriptor(Object.getPrototypeOf(el), 'value').set;
      setter.call(el, action.value);
      el.dispatchEvent(new InputEvent('input', { bubbles: true, inputType: 'insertReplacementText' }));
      if (action.change) el.dispatchEvent(new Event('change', { bubbles: true }));
    }
    if (action.click) el.click();
  };
  return new Promise((resolve, reject) => {
    let start = null;
    let t0 = null;
    let finished = false;
    const end = (f) => {
      if (finished) return;
      finished = true;
      mo.disconnect();
      clearTimeout(timer);
      f();
    };
    const check = () => {
      const now = performance.now();
      const run = document.querySelector('#qk-run');
      if (start === null && run && run.disabled) start = now;
      const error = document.querySelector('#qk-error');
      if (error && error.textContent.trim()) {
        end(() => reject(new Error(`the page shows an error: ${error.textContent.trim()}`)));
        return;
      }
      const r = document.querySelector('#qk-result');
      const id = idOf(r);
      if (!(id > before)) return;
      const canvases = [...document.querySelectorAll('canvas')];
      if (!canvases.length || idOf(document.querySelector('#qk-summary')) !== id) return;
      if (canvases.some((c) => idOf(c) !== id)) return;
      end(() =>
        requestAnimationFrame(() => {
          const frame = performance.now();
          const res = JSON.parse(r.textContent);
          resolve({
            t0,
            done: now,
            start,
            frame,
            run_id: id,
            draw_ms: canvases.map((c) => Number(c.dataset.drawMs)),
            figures: canvases.map((c) => c.id || c.closest('[id]')?.id || ''),
            stats: res.stats,
            layer: res.layer,
            template: res.experiment.template,
            categories: res.experiment.categories,
            single_token: res.words.every((w) => w.single_token),
            token_ids: res.words.map((w) => w.token_ids),
          });
        }),
      );
    };
    const mo = new MutationObserver(check);
    mo.observe(document, { subtree: true, childList: true, attributes: true, characterData: true });
    const timer = setTimeout(() => {
      const r = document.querySelector('#qk-result');
      const tags = [...document.querySelectorAll('canvas')].map((c) => c.dataset.runId ?? '-').join(' ');
      end(() => reject(new Error(`no complete run after ${timeoutMs} ms: result ${r?.dataset.runId}, ` +
        `summary ${document.querySelector('#qk-summary')?.dataset.runId}, canvases ${tags}`)));
    }, timeoutMs);
    t0 = performance.now();
    try {
      act();
    } catch (e) {
      end(() => reject(e));
      return;
    }
    check();
  });
}

/** The run id the page shows now (0 before any result). */
const shownRun = (page) =>
  page.evaluate(() => Number(document.querySelector('#qk-result')?.dataset.runId || 0));

/** One edit (`action`, see settleInPage), timed in the page; checks the result with `expect`. */
async function edit(page, kind, rep, action, expect) {
  await page.waitForTimeout(SETTLE_MS);
  const before = await shownRun(page);
  const x = await page.evaluate(settleInPage, { before, action, timeoutMs: TIMEOUT_MS });
  const problem = expect(x);
  if (problem) throw new Error(`${kind} #${rep}: ${problem}`);
  const m = {
    kind,
    rep,
    value: action.value ?? null,
    ms: x.done - x.t0,
    run_start_ms: x.start === null ? null : x.start - x.t0,
    frame_ms: x.frame - x.t0,
    run_id: x.run_id,
    draw_ms: x.draw_ms,
    figures: x.figures,
    single_token: x.single_token,
    stats: x.stats,
  };
  const s = x.stats;
  log(`${kind} #${rep}: ${m.ms.toFixed(1)} ms (run start at ${m.run_start_ms?.toFixed(1)} ms; engine ${s.total_ms} ms, ` +
    `forward ${s.forward_ms} ms for ${s.prompts_forwarded} prompts; drawing ${m.draw_ms.reduce((a, b) => a + b, 0)} ms)`);
  return m;
}

/** The words of each category as the page's textareas hold them. */
const textareas = (page) =>
  page.$$eval('.category textarea.words', (els) => els.map((e) => ({ i: e.closest('.category').dataset.category, text: e.value })));
const splitWords = (text) => text.split(',').map((w) => w.trim()).filter(Boolean);

async function edits(page) {
  const boxes = await textareas(page);
  const fruit = boxes.find((b) => splitWords(b.text).includes(SWAPPED));
  if (!fruit) throw new Error(`no category holds "${SWAPPED}"`);
  const box = `.category[data-category="${fruit.i}"] textarea.words`;
  const words = splitWords(fruit.text);
  const ci = Number(fruit.i);
  const fruitWords = (x) => x.categories[ci].words;
  const typed = (value) => ({ selector: box, value });
  const out = [];
  for (let i = 0; i < REPS; i++) {
    const w = NEW_WORDS[i];
    out.push(await edit(page, 'edit_word', i, typed(words.map((x) => (x === SWAPPED ? w : x)).join(', ')),
      (x) => (fruitWords(x).includes(w) && !fruitWords(x).includes(SWAPPED) ? null : `words: ${fruitWords(x)}`)));
    out.push(await edit(page, 'edit_word_back', i, typed(words.join(', ')),
      (x) => (fruitWords(x).includes(SWAPPED) && !fruitWords(x).includes(w) ? null : `words: ${fruitWords(x)}`)));
  }
  for (let i = 0; i < REPS; i++) {
    const w = ADDED_WORDS[i];
    out.push(await edit(page, 'add_word', i, typed([...words, w].join(', ')),
      (x) => (fruitWords(x).length === words.length + 1 && fruitWords(x).includes(w) ? null : `words: ${fruitWords(x)}`)));
    out.push(await edit(page, 'remove_word', i, typed(words.join(', ')),
      (x) => (fruitWords(x).length === words.length ? null : `words: ${fruitWords(x)}`)));
  }
  const slider = (layer) => ({ selector: '#qk-layer-slider', value: String(layer), change: true });
  for (let i = 0; i < REPS; i++) {
    out.push(await edit(page, 'layer_down', i, slider(LAYER - 1), (x) => (x.layer === LAYER - 1 ? null : `layer ${x.layer}`)));
    out.push(await edit(page, 'layer_up', i, slider(LAYER), (x) => (x.layer === LAYER ? null : `layer ${x.layer}`)));
  }
  const template = await page.inputValue('#qk-template');
  for (let i = 0; i < REPS; i++) {
    const t = NEW_TEMPLATES[i];
    out.push(await edit(page, 'template_new', i, { selector: '#qk-template', value: t },
      (x) => (x.template === t ? null : `template ${x.template}`)));
    out.push(await edit(page, 'template_back', i, { selector: '#qk-template', value: template },
      (x) => (x.template === template ? null : `template ${x.template}`)));
  }
  return out;
}

/** Navigation (`go`) until the result and every figure; times from the new document's start. */
async function navigate(page, go) {
  const w0 = performance.now();
  await go();
  const x = await page.evaluate(settleInPage, { before: 0, action: null, timeoutMs: TIMEOUT_MS });
  const wall = performance.now() - w0;
  const nav = await page.evaluate(() => {
    const n = performance.getEntriesByType('navigation')[0];
    return n ? { dom_content_loaded_ms: n.domContentLoadedEventEnd, load_ms: n.loadEventEnd } : null;
  });
  return {
    ms: x.done, // from the navigation's start (the document's time origin)
    run_start_ms: x.start,
    frame_ms: x.frame,
    wall_ms: wall,
    navigation: nav,
    run_id: x.run_id,
    draw_ms: x.draw_ms,
    figures: x.figures,
    stats: x.stats,
    token_ids: x.token_ids,
    layer: x.layer,
  };
}

async function switches(srv, page, profile, model, other) {
  const out = [];
  for (const m of [other, model, other]) {
    await page.waitForTimeout(SETTLE_MS);
    // Another model waits for Run: set it, let the page take it in, then time the click.
    await page.fill('#qk-model', `${srv.url}/models/${m}/`);
    await page.waitForTimeout(SETTLE_MS);
    const before = await shownRun(page);
    const x = await page.evaluate(settleInPage, { before, action: { selector: '#qk-run', click: true }, timeoutMs: TIMEOUT_MS });
    const s = x.stats;
    const rss = currentRss(rendererPids(profile));
    out.push({ model: m, ms: x.done - x.t0, run_id: x.run_id, draw_ms: x.draw_ms, stats: s, renderer_rss_bytes: rss });
    log(`switch to ${m}: ${(x.done - x.t0).toFixed(0)} ms, resident ${s.model_resident}, ${s.bytes_downloaded} B downloaded, ` +
      `wasm memory ${s.wasm_memory_bytes} B, resident weights ${s.resident_weight_bytes} B`);
  }
  return out;
}

const srv = await startServer({
  root: opt.dist,
  mounts: { '/models/': opt.models, '/experiments/': opt.experiments },
});
const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'qk-bench-live-'));
const context = await launch(profile);
const out = { chromium: chromiumVersion(), model: opt.model, layer: LAYER, other: opt.other, reps: REPS };
const errors = [];
const save = () => fs.writeFileSync(opt.out, JSON.stringify({ ...out, page_errors: errors }, null, 1) + '\n');
try {
  const page = context.pages()[0] ?? (await context.newPage());
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('crash', () => errors.push('page crashed'));
  const model = opt.model;
  const url = `${srv.url}/?model=${srv.url}/models/${model}/&experiment=/experiments/${model}-L${LAYER}.json&run=1`;
  out.url = url;
  log(`first run (cold): ${url}`);
  out.first = await navigate(page, () => page.goto(url, { waitUntil: 'commit', timeout: 60_000 }));
  out.first.renderer_rss_bytes = currentRss(rendererPids(profile));
  log(`first run: ${out.first.ms.toFixed(0)} ms from navigation, ${out.first.stats.bytes_downloaded} B downloaded`);
  // The page parses its own tokenizer (for the editor's token chips) 250 ms after a `run=1`
  // result; a class looks at the figures longer than that before typing, so the edits start
  // once it is done (the chips show), not on top of it.
  await page.waitForSelector('.category .chip.one', { timeout: 60_000 });
  await page.waitForTimeout(SETTLE_MS);
  out.edits = await edits(page);
  out.after_edits_renderer_rss_bytes = currentRss(rendererPids(profile));
  save();
  out.reloads = [];
  for (let i = 0; i < RELOADS; i++) {
    await page.waitForTimeout(SETTLE_MS);
    const r = await navigate(page, () => page.reload({ waitUntil: 'commit', timeout: 60_000 }));
    r.rep = i;
    out.reloads.push(r);
    log(`reload #${i}: ${r.ms.toFixed(0)} ms navigation -> every figure (run start at ${r.run_start_ms?.toFixed(0)} ms; ` +
      `engine ${r.stats.total_ms} ms; ${r.stats.bytes_from_cache} B from the cache, ${r.stats.bytes_downloaded} B downloaded)`);
  }
  save();
  out.switches = await switches(srv, page, profile, model, opt.other);
} finally {
  save();
  await context.close();
  await srv.stop();
  fs.rmSync(profile, { recursive: true, force: true });
}

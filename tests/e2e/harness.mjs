// Shared plumbing of the end-to-end tests: paths, tolerances, browser launch, waiting for the
// page's outcome, screenshots, diagnostics and the check of a result against a golden file.

import { before, after } from 'node:test';
import { startServer } from './server.mjs';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

export const HERE = path.dirname(fileURLToPath(import.meta.url));
export const REPO = path.resolve(HERE, '..', '..');
export const DIST = path.resolve(process.env.QK_DIST || path.join(REPO, 'dist'));
export const MODELS = path.join(REPO, 'tests', 'fixtures', 'models');
export const GOLDEN = path.join(REPO, 'tests', 'fixtures', 'golden');
export const EXPERIMENTS = path.join(HERE, 'experiments');
export const SHOTS = path.join(REPO, 'target', 'e2e-screenshots');
export const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';

export const RESULT_TIMEOUT_MS = 120_000;
export const ERROR_TIMEOUT_MS = 60_000;

export const TOL_VECTOR_REL = 1e-4; // Q/K vectors, relative to max |golden|
export const TOL_COSINE = 1e-5; // cosine matrices and histogram edges, absolute
export const TOL_SCALAR = 1e-5; // selectivity, RSA r, per-category r, absolute

export const readJson = (p) => JSON.parse(fs.readFileSync(p, 'utf8'));

// ---------- numeric comparison helpers (messages say where the first/worst mismatch is) ----------

export function assertNumber(x, what) {
  assert.ok(typeof x === 'number' && Number.isFinite(x), `${what}: expected a finite number, got ${JSON.stringify(x)}`);
}

export function assertClose(actual, expected, tol, what) {
  assertNumber(actual, what);
  const d = Math.abs(actual - expected);
  assert.ok(d <= tol, `${what}: got ${actual}, golden ${expected}, |diff| ${d.toExponential(3)} > ${tol}`);
}

/** Max |a-b| over two equally shaped 2-D arrays; asserts shapes. */
export function maxAbsDiff2d(actual, expected, what) {
  assert.ok(Array.isArray(actual), `${what}: expected an array, got ${typeof actual}`);
  assert.equal(actual.length, expected.length, `${what}: ${actual.length} rows, golden has ${expected.length}`);
  let worst = { d: -1, i: -1, j: -1 };
  for (let i = 0; i < expected.length; i++) {
    assert.ok(Array.isArray(actual[i]), `${what}[${i}]: expected an array`);
    assert.equal(actual[i].length, expected[i].length, `${what}[${i}]: ${actual[i].length} columns, golden has ${expected[i].length}`);
    for (let j = 0; j < expected[i].length; j++) {
      assertNumber(actual[i][j], `${what}[${i}][${j}]`);
      const d = Math.abs(actual[i][j] - expected[i][j]);
      if (d > worst.d) worst = { d, i, j };
    }
  }
  return worst;
}

export function assertClose2d(actual, expected, tol, what) {
  const w = maxAbsDiff2d(actual, expected, what);
  assert.ok(
    w.d <= tol,
    `${what}: max |diff| ${w.d.toExponential(3)} > ${tol.toExponential(3)} at [${w.i}][${w.j}] ` +
      `(got ${actual[w.i][w.j]}, golden ${expected[w.i][w.j]})`,
  );
  return w.d;
}

export function assertClose1d(actual, expected, tol, what) {
  assert.ok(Array.isArray(actual), `${what}: expected an array`);
  assert.equal(actual.length, expected.length, `${what}: length ${actual.length}, golden ${expected.length}`);
  expected.forEach((e, i) => assertClose(actual[i], e, tol, `${what}[${i}]`));
}

// ---------- the check of one result against its golden file ----------

/** numpy's median: the middle value, or the mean of the two middle ones. */
export function median(values) {
  const v = [...values].sort((a, b) => a - b);
  const m = v.length >> 1;
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
}

export function checkResult(res, golden, experiment, layer) {
  const cats = experiment.categories;
  const catOfWord = cats.flatMap((c) => c.words.map(() => c.name));
  const words = cats.flatMap((c) => c.words);
  assert.deepEqual(words, golden.words, 'experiment words differ from the golden words (fixture problem)');

  // model
  assert.ok(res.model && typeof res.model === 'object', 'result.model missing');
  assert.equal(res.model.n_layer, 4, 'model.n_layer');
  assert.equal(res.model.n_embd, golden.config.n_embd, 'model.n_embd');
  assert.equal(res.model.n_head, golden.config.n_head, 'model.n_head');
  assert.equal(res.layer, layer, 'result.layer');

  // experiment echoed back
  assert.ok(res.experiment && typeof res.experiment === 'object', 'result.experiment missing');
  assert.deepEqual(res.experiment.categories, experiment.categories, 'result.experiment.categories');

  // words: order, categories, token ids
  assert.ok(Array.isArray(res.words), 'result.words missing');
  assert.deepEqual(res.words.map((w) => w.word), words, 'result.words[].word (order)');
  assert.deepEqual(res.words.map((w) => w.category), catOfWord, 'result.words[].category');
  res.words.forEach((w, i) => {
    const g = golden.token_ids[i]; // ids of the whole prompt, e.g. [464, 1306, 1573, 318, 16161]
    assert.ok(Array.isArray(w.token_ids) && w.token_ids.length > 0, `words[${i}] (${w.word}).token_ids missing`);
    // The contract: token_ids are the whole prompt's ids.
    assert.deepEqual(w.token_ids, g, `words[${i}] (${w.word}).token_ids (golden prompt ids ${JSON.stringify(g)})`);
    assert.equal(w.single_token, true, `words[${i}] (${w.word}).single_token`);
  });

  const report = {};
  for (const [key, V, C, S, H] of [
    ['q', 'Q_last', 'CQ', 'selectivity_Q', 'Q'],
    ['k', 'K_last', 'CK', 'selectivity_K', 'K'],
  ]) {
    const side = res[key];
    assert.ok(side && typeof side === 'object', `result.${key} missing`);
    const maxAbs = Math.max(...golden[V].flat().map(Math.abs));
    report[`${key}.vectors`] = assertClose2d(side.vectors, golden[V], TOL_VECTOR_REL * maxAbs, `${key}.vectors vs ${V}`) / maxAbs;
    report[`${key}.cosine`] = assertClose2d(side.cosine, golden[C], TOL_COSINE, `${key}.cosine vs ${C}`);
    assertClose(side.selectivity, golden[S], TOL_SCALAR, `${key}.selectivity vs ${S}`);
    report[`${key}.selectivity`] = Math.abs(side.selectivity - golden[S]);
    assert.ok(side.histogram, `result.${key}.histogram missing`);
    assert.deepEqual(side.histogram.counts, golden[`hist_${H}_counts`], `${key}.histogram.counts vs hist_${H}_counts`);
    assertClose1d(side.histogram.edges, golden[`hist_${H}_edges`], TOL_COSINE, `${key}.histogram.edges vs hist_${H}_edges`);
    // The pooled pair medians, from PyTorch's cosines and the golden's labels.
    const pooled = (same) => golden[C].flatMap((row, i) => row.filter((_, j) => j > i && (golden.labels[i] === golden.labels[j]) === same));
    assertClose(side.within_median, median(pooled(true)), TOL_COSINE, `${key}.within_median`);
    assertClose(side.across_median, median(pooled(false)), TOL_COSINE, `${key}.across_median`);
  }

  assert.ok(res.rsa && typeof res.rsa === 'object', 'result.rsa missing');
  assertClose(res.rsa.r, golden.rsa_r, TOL_SCALAR, 'rsa.r vs rsa_r');
  report['rsa.r'] = Math.abs(res.rsa.r - golden.rsa_r);
  assert.ok(Array.isArray(res.rsa.per_category), 'rsa.per_category missing');
  assert.deepEqual(res.rsa.per_category.map((p) => p.category), cats.map((c) => c.name), 'rsa.per_category[].category (order)');
  res.rsa.per_category.forEach((p, i) => {
    const want = golden.rsa_r_per_category[i];
    if (want === null) assert.equal(p.r, null, `rsa.per_category[${i}] (${p.category}).r is undefined`);
    else assertClose(p.r, want, TOL_SCALAR, `rsa.per_category[${i}] (${p.category}).r`);
  });
  return report;
}

// ---------- browser plumbing ----------

/** Opens a page in a fresh context and records console errors, page errors and failed requests.
 * `options`: more of the context's options (e.g. `serviceWorkers: 'block'`). */
export async function openPage(browser, options = {}) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, ...options });
  const page = await context.newPage();
  const logs = [];
  page.on('console', (m) => {
    if (m.type() === 'error' || m.type() === 'warning') logs.push(`console.${m.type()}: ${m.text()}`);
  });
  page.on('pageerror', (e) => logs.push(`pageerror: ${e && e.stack ? e.stack : e}`));
  page.on('crash', () => logs.push('page crashed'));
  page.on('requestfailed', (r) => logs.push(`requestfailed: ${r.method()} ${r.url()} ${r.failure()?.errorText ?? ''}`));
  return { context, page, logs };
}

/**
 * Waits until #qk-result has text or #qk-error has text. Returns {kind, text}; kind 'timeout'
 * with the page's text when neither comes. The benchmark polls more often (its wall time).
 */
export async function waitForOutcome(page, timeout, { polling = 250 } = {}) {
  try {
    const handle = await page.waitForFunction(
      () => {
        const r = document.querySelector('#qk-result');
        if (r && r.textContent.trim()) return { kind: 'result', text: r.textContent };
        const e = document.querySelector('#qk-error');
        if (e && e.textContent.trim()) return { kind: 'error', text: e.textContent.trim() };
        return false;
      },
      null,
      { timeout, polling },
    );
    return await handle.jsonValue();
  } catch (err) {
    if (!/Timeout/i.test(String(err && err.message))) throw err;
    const body = await page.evaluate(() => document.body?.innerText ?? '').catch(() => '<page gone>');
    return { kind: 'timeout', text: `no #qk-result/#qk-error text after ${timeout / 1000} s; page text:\n${body.slice(0, 2000)}` };
  }
}

export async function screenshot(page, name) {
  fs.mkdirSync(SHOTS, { recursive: true });
  const file = path.join(SHOTS, `${name}.png`);
  try {
    await page.screenshot({ path: file, fullPage: true, timeout: 30_000 });
    return file;
  } catch (e) {
    return `(screenshot failed: ${e.message})`;
  }
}

/** Runs fn; on failure rethrows with the page's console/page errors and the server's requests appended. */
export async function withDiagnostics(logs, requestsSince, fn) {
  try {
    return await fn();
  } catch (err) {
    const diag = [
      '--- browser console errors / page errors ---',
      ...(logs.length ? logs : ['(none)']),
      '--- requests served ---',
      ...requestsSince().map((r) => `${r.method} ${r.url}${r.range ? ` [${r.range}]` : ''} -> ${r.status} ${r.bytes} B`),
    ].join('\n');
    console.error(diag);
    const e = new Error(`${err && err.message}\n${diag}`);
    e.stack = `${e.message}\n${String((err && err.stack) || '').split('\n').slice(1).join('\n')}`;
    throw e;
  }
}


/** Headless Debian Chromium with the flags this machine needs. */
export function launchBrowser() {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

/**
 * One Chromium for the tests of the enclosing describe: launched before them, closed after.
 * Returns a getter (the browser exists only once `before` ran).
 */
export function sharedBrowser() {
  let browser;
  before(async () => {
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
  });
  return () => browser;
}

/** Serves the built site, the fixture models (/models/) and experiments (/experiments/). */
export const serve = () => startServer({ root: DIST, mounts: { '/models/': MODELS, '/experiments/': EXPERIMENTS } });

/** A fresh server and a fresh page for one test; failures carry the page's errors and the requests. */
export async function withServedPage(browser, body, options = {}) {
  const srv = await serve();
  const { context, page, logs } = await openPage(browser, options);
  try {
    await withDiagnostics(logs, () => srv.requests, () => body(srv, page));
  } finally {
    await context.close();
    await srv.stop();
  }
}

// ---------- the user's edit, which no fault may lose ----------

/**
 * Types the edit of the lecture at layer 3 that has its own golden (tiny-gpt2-hub.edited.L3.json):
 * "wall" out of interior, "mango" into fruit. Returns the experiment it makes and the editor's
 * values, for `assertEditKept`.
 */
export async function typeEdit(page, lecture) {
  const edited = JSON.parse(JSON.stringify(lecture));
  edited.categories[1].words = lecture.categories[1].words.filter((w) => w !== 'wall');
  edited.categories[2].words = [...lecture.categories[2].words, 'mango'];
  for (const i of [1, 2]) {
    await page.fill(`.category[data-category="${i}"] textarea.words`, edited.categories[i].words.join(', '));
  }
  return { experiment: edited, editor: await editorValues(page) };
}

/** What the editor holds: every category's words, the template and the layer. */
export const editorValues = (page) =>
  page.evaluate(() => ({
    words: [...document.querySelectorAll('.category textarea.words')].map((t) => t.value),
    template: document.querySelector('#qk-template')?.value,
    layer: document.querySelector('#qk-layer')?.value,
  }));

export async function assertEditKept(page, edit, after) {
  assert.deepEqual(await editorValues(page), edit.editor, `the editor lost what was typed (after ${after})`);
}

/** The packed store's files (folder/file), from the page: the origin's file system. */
export const storedShares = (page) =>
  page.evaluate(async () => {
    const out = [];
    try {
      const top = await (await navigator.storage.getDirectory()).getDirectoryHandle('qk-lens-packed');
      for await (const [folder, dir] of top.entries()) {
        for await (const [name, file] of dir.entries()) {
          if ((await file.getFile()).size > 0) out.push(`${folder}/${name}`);
        }
      }
    } catch {
      // No store yet.
    }
    return out;
  });

/** Waits until the packed store holds `n` files (it is written once a result is out). */
export async function sharesCome(page, n) {
  const deadline = Date.now() + 30_000;
  let files = await storedShares(page);
  while (files.length !== n && Date.now() < deadline) {
    await page.waitForTimeout(200);
    files = await storedShares(page);
  }
  assert.equal(files.length, n, `stored shares: ${JSON.stringify(files)}`);
}

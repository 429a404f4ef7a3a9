// End-to-end tests of the built QK Lens site (dist/) in Debian's Chromium, driven by playwright-core.
//
//   trunk build            # -> <repo>/dist/index.html
//   tests/e2e/run.sh       # or: cd tests/e2e && node --test --test-reporter=spec qk.test.mjs
//
// Environment:
//   CHROMIUM=/path/to/chromium   browser binary (default /usr/bin/chromium)
//   QK_DIST=/path/to/dist        site to serve (default <repo>/dist)
//   QK_E2E_ONLY=tiny-gpt2-hub.L1 run only the cases whose name contains this string
//   QK_E2E_LOG=1                 log every HTTP request the server answers
//
// Each case opens <site>/?model=/models/<model>/&experiment=/experiments/lecture-L<n>.json&run=1,
// waits for <script type="application/json" id="qk-result"> (or #qk-error), and compares the
// result with tests/fixtures/golden/<model>.L<n>.json. Screenshots: <repo>/target/e2e-screenshots/.

import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { startServer } from './server.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const REPO = path.resolve(HERE, '..', '..');
const DIST = path.resolve(process.env.QK_DIST || path.join(REPO, 'dist'));
const MODELS = path.join(REPO, 'tests', 'fixtures', 'models');
const GOLDEN = path.join(REPO, 'tests', 'fixtures', 'golden');
const EXPERIMENTS = path.join(HERE, 'experiments');
const SHOTS = path.join(REPO, 'target', 'e2e-screenshots');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';

const RESULT_TIMEOUT_MS = 120_000;
const ERROR_TIMEOUT_MS = 60_000;

const TOL_VECTOR_REL = 1e-4; // Q/K vectors, relative to max |golden|
const TOL_COSINE = 1e-5; // cosine matrices and histogram edges, absolute
const TOL_SCALAR = 1e-5; // selectivity, RSA r, per-category r, absolute

const CASES = [
  ['tiny-gpt2-hub', 1],
  ['tiny-gpt2-hub', 3],
  ['tiny-gpt2-hub-fp16', 1],
  ['tiny-gpt2-savepretrained', 3],
].filter(([m, l]) => !process.env.QK_E2E_ONLY || `${m}.L${l}`.includes(process.env.QK_E2E_ONLY));

const readJson = (p) => JSON.parse(fs.readFileSync(p, 'utf8'));

// ---------- numeric comparison helpers (messages say where the first/worst mismatch is) ----------

function assertNumber(x, what) {
  assert.ok(typeof x === 'number' && Number.isFinite(x), `${what}: expected a finite number, got ${JSON.stringify(x)}`);
}

function assertClose(actual, expected, tol, what) {
  assertNumber(actual, what);
  const d = Math.abs(actual - expected);
  assert.ok(d <= tol, `${what}: got ${actual}, golden ${expected}, |diff| ${d.toExponential(3)} > ${tol}`);
}

/** Max |a-b| over two equally shaped 2-D arrays; asserts shapes. */
function maxAbsDiff2d(actual, expected, what) {
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

function assertClose2d(actual, expected, tol, what) {
  const w = maxAbsDiff2d(actual, expected, what);
  assert.ok(
    w.d <= tol,
    `${what}: max |diff| ${w.d.toExponential(3)} > ${tol.toExponential(3)} at [${w.i}][${w.j}] ` +
      `(got ${actual[w.i][w.j]}, golden ${expected[w.i][w.j]})`,
  );
  return w.d;
}

function assertClose1d(actual, expected, tol, what) {
  assert.ok(Array.isArray(actual), `${what}: expected an array`);
  assert.equal(actual.length, expected.length, `${what}: length ${actual.length}, golden ${expected.length}`);
  expected.forEach((e, i) => assertClose(actual[i], e, tol, `${what}[${i}]`));
}

// ---------- the check of one result against its golden file ----------

function checkResult(res, golden, experiment, layer) {
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
  }

  assert.ok(res.rsa && typeof res.rsa === 'object', 'result.rsa missing');
  assertClose(res.rsa.r, golden.rsa_r, TOL_SCALAR, 'rsa.r vs rsa_r');
  report['rsa.r'] = Math.abs(res.rsa.r - golden.rsa_r);
  assert.ok(Array.isArray(res.rsa.per_category), 'rsa.per_category missing');
  assert.deepEqual(res.rsa.per_category.map((p) => p.category), cats.map((c) => c.name), 'rsa.per_category[].category (order)');
  res.rsa.per_category.forEach((p, i) =>
    assertClose(p.r, golden.rsa_r_per_category[i], TOL_SCALAR, `rsa.per_category[${i}] (${p.category}).r`),
  );
  return report;
}

// ---------- browser plumbing ----------

/** Opens a page in a fresh context and records console errors, page errors and failed requests. */
async function openPage(browser) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
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

/** Waits until #qk-result has text or #qk-error has text. Returns {kind, text}. */
async function waitForOutcome(page, timeout) {
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
      { timeout, polling: 250 },
    );
    return await handle.jsonValue();
  } catch (err) {
    if (!/Timeout/i.test(String(err && err.message))) throw err;
    const body = await page.evaluate(() => document.body?.innerText ?? '').catch(() => '<page gone>');
    return { kind: 'timeout', text: `no #qk-result/#qk-error text after ${timeout / 1000} s; page text:\n${body.slice(0, 2000)}` };
  }
}

async function screenshot(page, name) {
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
async function withDiagnostics(logs, requestsSince, fn) {
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

// ---------- the tests ----------

describe('QK Lens in Chromium', () => {
  let srv;
  let browser;

  before(async () => {
    if (!fs.existsSync(path.join(DIST, 'index.html'))) {
      throw new Error(`${path.join(DIST, 'index.html')} is missing: run trunk build first`);
    }
    if (!fs.existsSync(CHROMIUM)) {
      throw new Error(`no Chromium at ${CHROMIUM}: apt-get install chromium, or set CHROMIUM=/path/to/chromium`);
    }
    srv = await startServer({
      root: DIST,
      mounts: { '/models/': MODELS, '/experiments/': EXPERIMENTS },
      log: !!process.env.QK_E2E_LOG,
    });
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
  });

  after(async () => {
    await browser?.close();
    await srv?.stop();
  });

  for (const [model, layer] of CASES) {
    const name = `${model}.L${layer}`;
    test(`${name} matches golden`, { timeout: RESULT_TIMEOUT_MS + 60_000 }, async (t) => {
      const golden = readJson(path.join(GOLDEN, `${name}.json`));
      const experiment = readJson(path.join(EXPERIMENTS, `lecture-L${layer}.json`));
      const first = srv.requests.length;
      const { context, page, logs } = await openPage(browser);
      try {
        await withDiagnostics(logs, () => srv.requests.slice(first), async () => {
          const url = `${srv.url}/?model=/models/${model}/&experiment=/experiments/lecture-L${layer}.json&run=1`;
          await page.goto(url, { waitUntil: 'load', timeout: 60_000 });
          const outcome = await waitForOutcome(page, RESULT_TIMEOUT_MS);
          const shot = await screenshot(page, name);
          t.diagnostic(`screenshot: ${shot}`);
          assert.notEqual(outcome.kind, 'error', `page showed #qk-error: ${outcome.text}`);
          assert.equal(outcome.kind, 'result', outcome.text);

          let res;
          try {
            res = JSON.parse(outcome.text);
          } catch (e) {
            assert.fail(`#qk-result is not valid JSON (${e.message}): ${outcome.text.slice(0, 500)}`);
          }
          const report = checkResult(res, golden, experiment, layer);
          t.diagnostic(
            'max diffs: ' +
              Object.entries(report)
                .map(([k, v]) => `${k} ${v.toExponential(2)}`)
                .join(', '),
          );

          const mine = srv.requests.slice(first);
          const weights = mine.filter((r) => r.method === 'GET' && r.path === `/models/${model}/model.safetensors`);
          assert.ok(
            weights.length > 0 && weights.every((r) => r.status === 200 || r.status === 206),
            `expected GET /models/${model}/model.safetensors answered 200/206; saw ` +
              JSON.stringify(weights.map((r) => [r.status, r.range])),
          );
          const bytes = weights.reduce((s, r) => s + r.bytes, 0);
          t.diagnostic(`model.safetensors: ${weights.length} GET(s), ${bytes} bytes sent`);
          // The engine runs in the Web Worker, not in the page.
          assert.ok(mine.some((r) => r.path === '/worker_bg.wasm'), 'the page started the engine worker');
        });
      } finally {
        await context.close();
      }
    });
  }

  /** Runs the lecture experiment at `layer` in `page`; returns the result and the weight bytes served. */
  async function runIn(page, model, layer) {
    const first = srv.requests.length;
    const url = `${srv.url}/?model=/models/${model}/&experiment=/experiments/lecture-L${layer}.json&run=1`;
    await page.goto(url, { waitUntil: 'load', timeout: 60_000 });
    const outcome = await waitForOutcome(page, RESULT_TIMEOUT_MS);
    assert.equal(outcome.kind, 'result', outcome.text);
    const res = JSON.parse(outcome.text);
    checkResult(res, readJson(path.join(GOLDEN, `${model}.L${layer}.json`)), readJson(path.join(EXPERIMENTS, `lecture-L${layer}.json`)), layer);
    const weights = srv.requests.slice(first).filter((r) => r.path === `/models/${model}/model.safetensors`);
    return { res, weights, bytes: weights.reduce((s, r) => s + r.bytes, 0) };
  }

  test('downloads only what the layer needs, caches it, and fetches only the difference later', { timeout: 300_000 }, async (t) => {
    const model = 'tiny-gpt2-hub';
    const fileBytes = fs.statSync(path.join(MODELS, model, 'model.safetensors')).size;
    const first = srv.requests.length;
    const cold3 = await openPage(browser);
    const warm = await openPage(browser);
    try {
      await withDiagnostics([...cold3.logs, ...warm.logs], () => srv.requests.slice(first), async () => {
        const l3 = await runIn(cold3.page, model, 3);
        const l1 = await runIn(warm.page, model, 1);
        t.diagnostic(`cold L1: ${l1.bytes} of ${fileBytes} bytes in ${l1.weights.length} requests; cold L3: ${l3.bytes}`);
        assert.ok(l1.weights.every((r) => r.status === 206), 'every weight request is a Range request');
        assert.ok(l1.bytes < fileBytes / 2, `L1 needs ${l1.bytes} of ${fileBytes} bytes`);
        assert.ok(l1.bytes < l3.bytes, 'a lower layer needs fewer bytes');
        assert.equal(l1.res.stats.bytes_downloaded, l1.bytes, 'stats.bytes_downloaded counts what the server sent');
        assert.equal(l1.res.stats.partial_download, true);

        const again = await runIn(warm.page, model, 1);
        assert.equal(again.bytes, 0, `a repeat run downloads nothing (got ${again.bytes} bytes)`);
        assert.equal(again.res.stats.bytes_downloaded, 0);

        const higher = await runIn(warm.page, model, 3);
        t.diagnostic(`L3 after L1: ${higher.bytes} bytes downloaded, ${higher.res.stats.bytes_from_cache} from cache`);
        assert.ok(higher.res.stats.bytes_from_cache > 0, 'L3 after L1 reuses the cached pieces');
        assert.ok(higher.bytes < l3.bytes, `L3 after L1 downloads ${higher.bytes} < cold ${l3.bytes}`);
      });
    } finally {
      await cold3.context.close();
      await warm.context.close();
    }
  });

  test('a server that ignores Range gets one full download and the right result', { timeout: 180_000 }, async () => {
    const first = srv.requests.length;
    const { context, page, logs } = await openPage(browser);
    srv.options.ignoreRange = true;
    try {
      await withDiagnostics(logs, () => srv.requests.slice(first), async () => {
        const run = await runIn(page, 'tiny-gpt2-hub-fp16', 1);
        assert.equal(run.res.stats.partial_download, false);
        assert.equal(run.weights.filter((r) => r.status === 200 && r.bytes > 0).length, 1, 'one full download');
      });
    } finally {
      srv.options.ignoreRange = false;
      await context.close();
    }
  });

  test('missing model shows #qk-error mentioning 404 / not found', { timeout: ERROR_TIMEOUT_MS + 60_000 }, async (t) => {
    const first = srv.requests.length;
    const { context, page, logs } = await openPage(browser);
    try {
      await withDiagnostics(logs, () => srv.requests.slice(first), async () => {
        const url = `${srv.url}/?model=/models/does-not-exist/&experiment=/experiments/lecture-L1.json&run=1`;
        await page.goto(url, { waitUntil: 'load', timeout: 60_000 });
        const outcome = await waitForOutcome(page, ERROR_TIMEOUT_MS);
        const shot = await screenshot(page, 'does-not-exist');
        t.diagnostic(`screenshot: ${shot}`);
        assert.notEqual(outcome.kind, 'result', `expected #qk-error, but #qk-result has content: ${outcome.text.slice(0, 300)}`);
        assert.equal(outcome.kind, 'error', outcome.text);
        assert.match(outcome.text, /404|not found/i, `#qk-error text should mention 404 or "not found": ${outcome.text}`);
        const resultText = await page.evaluate(() => document.querySelector('#qk-result')?.textContent?.trim() ?? '');
        assert.equal(resultText, '', '#qk-result must stay empty when loading fails');
      });
    } finally {
      await context.close();
    }
  });
});

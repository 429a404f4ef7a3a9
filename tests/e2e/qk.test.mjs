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
import os from 'node:os';
import path from 'node:path';
import { startServer } from './server.mjs';

import {
  CHROMIUM,
  DIST,
  ERROR_TIMEOUT_MS,
  EXPERIMENTS,
  GOLDEN,
  MODELS,
  RESULT_TIMEOUT_MS,
  checkResult,
  launchBrowser,
  openPage,
  readJson,
  screenshot,
  waitForOutcome,
  withDiagnostics,
} from './harness.mjs';

const CASES = [
  ['tiny-gpt2-hub', 1],
  ['tiny-gpt2-hub', 3],
  ['tiny-gpt2-hub-fp16', 1],
  ['tiny-gpt2-savepretrained', 3],
].filter(([m, l]) => !process.env.QK_E2E_ONLY || `${m}.L${l}`.includes(process.env.QK_E2E_ONLY));

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
    browser = await launchBrowser();
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

          // The page's summary shows the medians of this result.
          const fmt = (x) => x.toFixed(4);
          assert.equal(
            (await page.textContent('.median-q')).trim(),
            `${fmt(res.q.within_median)} / ${fmt(res.q.across_median)}`,
            'summary: Q medians',
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
          assert.ok(mine.some((r) => /^\/worker-[0-9a-f]{8,16}_bg\.wasm$/.test(r.path)), 'the page started the engine worker');
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

        const storedAfterL1 = await warm.page.evaluate(async (file) => {
          const cache = await caches.open('qk-lens-weights-v1');
          return (await cache.keys())
            .map((req) => req.url)
            .filter((url) => url.includes(file))
            .map((url) => /qk-bytes=(\d+)-(\d+)$/.exec(url))
            .filter(Boolean)
            .map((m) => [Number(m[1]), Number(m[2]) - 1]); // stored half-open, HTTP ranges inclusive
        }, `/models/${model}/model.safetensors`);
        assert.ok(storedAfterL1.length > 0, 'the L1 run stored its pieces');
        const higher = await runIn(warm.page, model, 3);
        t.diagnostic(`L3 after L1: ${higher.bytes} bytes downloaded, ${higher.res.stats.bytes_from_cache} from cache`);
        assert.ok(higher.res.stats.bytes_from_cache > 0, 'L3 after L1 reuses the cached pieces');
        assert.ok(higher.bytes < l3.bytes, `L3 after L1 downloads ${higher.bytes} < cold ${l3.bytes}`);
        // From the server's log: no piece the page has stored (its Cache Storage entries after
        // the L1 runs) is asked for again. A stored piece may only ride inside a request, in a
        // gap the hub coalesces over (< 64 KiB, cheaper than a second request): a request that
        // starts or ends on stored bytes asked for them.
        const span = (r) => {
          const m = /^bytes=(\d+)-(\d+)$/.exec(r.range ?? '');
          assert.ok(m && r.status === 206, `a Range request answered 206: ${r.range} -> ${r.status}`);
          return [Number(m[1]), Number(m[2])];
        };
        assert.ok(higher.weights.length > 0, 'L3 after L1 fetches the missing layers');
        let carried = 0;
        for (const r of higher.weights) {
          const [s, e] = span(r);
          for (const [a, b] of storedAfterL1.filter(([a, b]) => s <= b && a <= e)) {
            assert.ok(s < a && b < e, `L3 after L1 asked for stored bytes ${a}-${b} again (${r.range})`);
            assert.ok(b - a + 1 < 64 * 1024, `stored piece ${a}-${b} carried in a gap of 64 KiB or more`);
            carried += b - a + 1;
          }
        }
        t.diagnostic(`L3 after L1: ${carried} stored bytes carried again inside coalescing gaps`);
      });
    } finally {
      await cold3.context.close();
      await warm.context.close();
    }
  });

  test('a file larger than 4 GB (gpt2-xl is 6.4 GB): offsets past 2^32 load in 32-bit wasm', { timeout: 180_000 }, async () => {
    // The tiny model behind a 4.4 GB sparse padding tensor, so every real offset is above 2^32.
    const model = 'tiny-gpt2-hub';
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'qk-4gb-'));
    const big = path.join(dir, model);
    fs.mkdirSync(big);
    for (const f of ['config.json', 'tokenizer.json']) fs.copyFileSync(path.join(MODELS, model, f), path.join(big, f));
    const file = fs.readFileSync(path.join(MODELS, model, 'model.safetensors'));
    const n = Number(file.readBigUInt64LE(0));
    const header = JSON.parse(file.subarray(8, 8 + n).toString('utf8'));
    const pad = 1_100_000_000 * 4;
    const shifted = { 'aa.padding': { dtype: 'F32', shape: [1_100_000_000], data_offsets: [0, pad] } };
    for (const [k, v] of Object.entries(header)) {
      shifted[k] = k === '__metadata__' ? v : { ...v, data_offsets: v.data_offsets.map((o) => o + pad) };
    }
    let text = JSON.stringify(shifted);
    text += ' '.repeat((8 - (text.length % 8)) % 8);
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(text.length));
    const out = path.join(big, 'model.safetensors');
    const fd = fs.openSync(out, 'w');
    fs.writeSync(fd, Buffer.concat([len, Buffer.from(text)]));
    fs.writeSync(fd, file.subarray(8 + n), 0, file.length - 8 - n, 8 + text.length + pad);
    fs.closeSync(fd);
    const own = await startServer({ root: DIST, mounts: { '/models/': dir, '/experiments/': EXPERIMENTS } });
    const { context, page, logs } = await openPage(browser);
    try {
      await withDiagnostics(logs, () => own.requests, async () => {
        await page.goto(`${own.url}/?model=/models/${model}/&experiment=/experiments/lecture-L1.json&run=1`);
        const outcome = await waitForOutcome(page, RESULT_TIMEOUT_MS);
        assert.equal(outcome.kind, 'result', outcome.text);
        const res = JSON.parse(outcome.text);
        checkResult(res, readJson(path.join(GOLDEN, `${model}.L1.json`)), readJson(path.join(EXPERIMENTS, 'lecture-L1.json')), 1);
        assert.equal(res.stats.model_file_bytes, fs.statSync(out).size);
        assert.ok(res.stats.model_file_bytes > 2 ** 32);
        assert.ok(res.stats.bytes_downloaded < 2_000_000, `downloaded ${res.stats.bytes_downloaded} bytes`);
      });
    } finally {
      await context.close();
      await own.stop();
      fs.rmSync(dir, { recursive: true, force: true });
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

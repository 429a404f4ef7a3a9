// End-to-end tests of the forward pass on two workers (the engine and a second worker it starts,
// each holding half of every weight): the result equals the one-worker result exactly and
// PyTorch's within the tolerances, with the layer sweep and heads too; the second worker runs
// the engine's compiled module (it downloads no wasm of its own); and when the second
// worker cannot start, the run still succeeds in one worker and says so (and the live lab goes
// on in that worker).

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import {
  EXPERIMENTS,
  GOLDEN,
  RESULT_TIMEOUT_MS,
  checkResult,
  sharedBrowser,
  readJson,
  screenshot,
  waitForOutcome,
  withServedPage,
} from './harness.mjs';

const MODEL = 'tiny-gpt2-hub';
const EXPERIMENT = readJson(path.join(EXPERIMENTS, 'lecture-L3.json'));

async function result(page, url, name) {
  await page.goto(url);
  const outcome = await waitForOutcome(page, RESULT_TIMEOUT_MS);
  await screenshot(page, name);
  assert.equal(outcome.kind, 'result', outcome.text);
  return JSON.parse(outcome.text);
}

/** The result without what differs between runs by nature (timings, bytes, the workers). */
function numbers(res) {
  const { stats, ...rest } = res;
  return rest;
}

const url = (srv, query) =>
  `${srv.url}/?model=/models/${MODEL}/&exp=${encodeURIComponent(JSON.stringify(EXPERIMENT))}&run=1${query}`;

describe('the forward on two workers', () => {
  const browser = sharedBrowser();

  test('equals one worker exactly, and PyTorch', { timeout: 240_000 }, async () => {
    await withServedPage(browser(), async (srv, page) => {
      const cores = await page.evaluate(() => navigator.hardwareConcurrency);
      assert.ok(cores >= 2, `the test machine reports ${cores} core(s): two workers cannot be tested`);
      for (const query of ['', '&all-layers=1&heads=1&v=1']) {
        const two = await result(page, url(srv, query), `workers-two${query ? '-options' : ''}`);
        const one = await result(page, url(srv, `${query}&workers=1`), `workers-one${query ? '-options' : ''}`);
        assert.equal(two.stats.forward_ranks, 2, `forward_ranks with two workers (${query})`);
        assert.equal(one.stats.forward_ranks, 1, `forward_ranks with &workers=1 (${query})`);
        // Bit for bit: every vector, cosine and statistic (see src/model/shard.rs).
        assert.deepEqual(numbers(two), numbers(one), `two workers differ from one (${query})`);
        checkResult(two, readJson(path.join(GOLDEN, `${MODEL}.L3.json`)), EXPERIMENT, 3);
        // The second worker was started from the engine's own script, marked rank=1.
        assert.ok(srv.requests.some((r) => r.url.endsWith('worker_loader.js?rank=1') && [200, 304].includes(r.status)));
      }
    });
  });

  test("the second worker runs the engine's compiled module: it downloads no wasm", { timeout: 180_000 }, async () => {
    // No service worker: every file a worker asks for reaches the server, which notes who asked.
    await withServedPage(
      browser(),
      async (srv, page) => {
        const res = await result(page, url(srv, ''), 'workers-one-compile');
        assert.equal(res.stats.forward_ranks, 2);
        const second = srv.requests.filter((r) => (r.referer ?? '').endsWith('worker_loader.js?rank=1'));
        // Its own requests are seen (its loader imports the engine's script), so a wasm would be.
        assert.ok(
          second.some((r) => /\/worker-[0-9a-f]{8,16}\.js$/.test(r.url)),
          `no request from the second worker: ${JSON.stringify(second)}`,
        );
        const wasm = second.filter((r) => r.url.endsWith('_bg.wasm')).map((r) => r.url);
        assert.deepEqual(wasm, [], 'the second worker downloaded the wasm itself');
      },
      { serviceWorkers: 'block' },
    );
  });

  test('a page that runs at once starts its engine with the page, adopts it, and holds its module', { timeout: 180_000 }, async () => {
    // No service worker: every file reaches the server, in the order the page asked for it.
    await withServedPage(
      browser(),
      async (srv, page) => {
        // Without &run=1 no engine starts before Run.
        await page.goto(`${srv.url}/?model=/models/${MODEL}/&exp=${encodeURIComponent(JSON.stringify(EXPERIMENT))}`);
        await page.waitForSelector('#qk-run');
        await page.waitForTimeout(500);
        // (The server sees the engine's files anyway: the first visit keeps them for offline use.)
        assert.deepEqual(page.workers().map((w) => w.url()), [], 'a worker started with no run asked for');

        // Each worker the page starts, with how far the page was: still being parsed is before
        // the page's wasm could run.
        await page.addInitScript(() => {
          const Started = window.Worker;
          window.qkWorkersStarted = [];
          window.Worker = class extends Started {
            constructor(url, options) {
              super(url, options);
              window.qkWorkersStarted.push({ url: String(url), document: document.readyState });
            }
          };
        });
        const res = await result(page, url(srv, ''), 'workers-early-engine');
        assert.equal(res.stats.forward_ranks, 2);
        const started = await page.evaluate(() => window.qkWorkersStarted);
        assert.deepEqual(started, [{ url: './worker_loader.js', document: 'loading' }], 'the engine did not start with the page');
        // Adopted, not started twice: one engine and its second worker.
        const workers = page.workers().map((w) => new URL(w.url()).pathname + new URL(w.url()).search);
        assert.deepEqual(workers.sort(), ['/worker_loader.js', '/worker_loader.js?rank=1'], `workers: ${workers}`);
        const held = await page.evaluate(() => ({
          early: 'qkEarlyEngine' in window,
          module: window.qkEngineModule instanceof WebAssembly.Module,
        }));
        assert.deepEqual(held, { early: false, module: true });
      },
      { serviceWorkers: 'block' },
    );
  });

  test('a second worker that cannot start leaves the run to one worker', { timeout: 180_000 }, async () => {
    await withServedPage(browser(), async (srv, page) => {
      srv.options.failUrl = { status: 500, times: 1, url: 'worker_loader.js?rank=1' };
      const res = await result(page, url(srv, ''), 'workers-second-fails');
      assert.equal(srv.options.failUrl.times, 0, 'the fault was not met: no second worker was started');
      assert.equal(res.stats.forward_ranks, 1);
      assert.ok(
        res.notes.some((n) => /forward pass ran on one core: the second worker failed/.test(n)),
        `no note says so: ${JSON.stringify(res.notes)}`,
      );
      checkResult(res, readJson(path.join(GOLDEN, `${MODEL}.L3.json`)), EXPERIMENT, 3);
      // Nothing downloaded twice: the weights were read again from the cache.
      const weights = srv.requests.filter((r) => r.path.endsWith('/model.safetensors') && r.status === 206);
      const ranges = weights.map((r) => r.range);
      assert.equal(new Set(ranges).size, ranges.length, `a range was downloaded twice: ${ranges}`);

      // The live lab goes on in the one worker, which holds the whole weights: an edit runs
      // by itself and packs nothing again.
      await page.fill('.category[data-category="2"] textarea.words', [...EXPERIMENT.categories[2].words, 'mango'].join(', '));
      await page.waitForFunction(
        (id) => JSON.parse(document.querySelector('#qk-result').textContent).stats.run_id > id,
        res.stats.run_id,
        { timeout: RESULT_TIMEOUT_MS },
      );
      const live = JSON.parse(await page.textContent('#qk-result'));
      assert.equal(live.stats.forward_ranks, 1);
      assert.equal(live.stats.model_resident, true);
      assert.equal(live.stats.tensors_packed, 0);
      assert.equal(live.stats.prompts_forwarded, 1);
    });
  });
});

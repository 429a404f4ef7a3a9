// Network faults in the page, against a fault-injecting server on 127.0.0.1: every fault ends in
// the right result or a clear message, and a retry after the fault gives the right result.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { startServer } from './server.mjs';
import {
  DIST,
  EXPERIMENTS,
  GOLDEN,
  MODELS,
  RESULT_TIMEOUT_MS,
  assertEditKept,
  checkResult,
  sharedBrowser,
  openPage,
  readJson,
  screenshot,
  sharesCome,
  typeEdit,
  waitForOutcome,
  withDiagnostics,
} from './harness.mjs';

const MODEL = 'tiny-gpt2-hub';
const experiment = readJson(path.join(EXPERIMENTS, 'lecture-L3.json'));
const golden = readJson(path.join(GOLDEN, `${MODEL}.L3.json`));
const editedGolden = readJson(path.join(GOLDEN, `${MODEL}.edited.L3.json`));
const pageUrl = (srv) => `${srv.url}/?model=/models/${MODEL}/&exp=${encodeURIComponent(JSON.stringify(experiment))}`;
/** The page on `srv` with the model at `modelUrl` (on another origin). */
const pageWithModel = (srv, modelUrl) =>
  `${srv.url}/?model=${encodeURIComponent(modelUrl)}&exp=${encodeURIComponent(JSON.stringify(experiment))}`;

describe('network faults', () => {
  const browser = sharedBrowser();
  let srv;

  /** Opens a fresh page on a fresh server, runs `body(page)`, closes both. */
  async function withPage(body) {
    srv = await startServer({ root: DIST, mounts: { '/models/': MODELS } });
    const { context, page, logs } = await openPage(browser());
    try {
      await withDiagnostics(logs, () => srv.requests, () => body(page));
    } finally {
      await context.close();
      await srv.stop();
    }
  }

  async function run(page) {
    await page.click('#qk-run');
    return waitForOutcome(page, RESULT_TIMEOUT_MS);
  }

  function expectResult(outcome) {
    assert.equal(outcome.kind, 'result', outcome.text);
    checkResult(JSON.parse(outcome.text), golden, experiment, 3);
  }

  /** Opens the page, runs it (right), and waits until the workers keep their packed shares. */
  async function runAndKeepShares(page) {
    await page.goto(pageUrl(srv));
    const first = await run(page);
    expectResult(first);
    const s = JSON.parse(first.text).stats;
    await sharesCome(page, (s.forward_ranks ?? 1) * s.tensors_packed);
  }

  /** The result of the edit typed by `typeEdit`, against its golden. */
  function expectEdited(outcome, edit) {
    assert.equal(outcome.kind, 'result', outcome.text);
    const res = JSON.parse(outcome.text);
    checkResult(res, editedGolden, edit.experiment, 3);
    return res;
  }

  /** A second origin serving the fixture models (a model host), with or without CORS. */
  const modelHost = (options) => startServer({ root: MODELS, mounts: { '/models/': MODELS }, ...options });

  test('connections cut mid-download resume from the last byte received', { timeout: 120_000 }, async () => {
    await withPage(async (page) => {
      await page.goto(pageUrl(srv));
      srv.options.drop = { afterBytes: 300_000, times: 1, path: 'model.safetensors' };
      expectResult(await run(page));
      const weights = srv.requests.filter((r) => r.path.endsWith('model.safetensors'));
      const cut = weights.filter((r) => r.dropped);
      assert.equal(cut.length, 1, 'a connection was cut');
      // Each cut range was asked for again from where it stopped, not from its start.
      for (const c of cut) {
        const start = Number(/bytes=(\d+)-/.exec(c.range)[1]);
        const resumed = weights.find((r) => r.time >= c.time && r !== c && r.range && Number(/bytes=(\d+)-/.exec(r.range)[1]) === start + 300_000);
        assert.ok(resumed, `range ${c.range} resumed at ${start + 300_000}`);
      }
    });
  });

  test('server errors (500) are retried with backoff', { timeout: 120_000 }, async () => {
    await withPage(async (page) => {
      await page.goto(pageUrl(srv));
      srv.options.fail = { status: 500, times: 2, path: 'model.safetensors' };
      expectResult(await run(page));
      assert.equal(srv.requests.filter((r) => r.status === 500).length, 2);
    });
  });

  test('a server that keeps failing gets a clear message; Run after the fault works', { timeout: 120_000 }, async () => {
    await withPage(async (page) => {
      await page.goto(pageUrl(srv));
      srv.options.fail = { status: 503, times: 1000, path: 'config.json' };
      const outcome = await run(page);
      await screenshot(page, 'fault-503');
      assert.equal(outcome.kind, 'error', outcome.text);
      assert.match(outcome.text, /config\.json: HTTP 503 .*gave up after 5 attempts/);
      srv.options.fail = null;
      expectResult(await run(page));
    });
  });

  test('going offline mid-download says so; back online, Run finishes from what was kept', { timeout: 120_000 }, async () => {
    await withPage(async (page) => {
      await page.goto(pageUrl(srv));
      srv.options.delayMs = 800;
      await page.click('#qk-run');
      await page.waitForSelector('#qk-cancel');
      await page.waitForTimeout(1200);
      await page.context().setOffline(true);
      const outcome = await waitForOutcome(page, RESULT_TIMEOUT_MS);
      assert.equal(outcome.kind, 'error', outcome.text);
      assert.match(outcome.text, /network error|connection lost/);
      await page.context().setOffline(false);
      srv.options.delayMs = 0;
      expectResult(await run(page));
    });
  });

  test('a corrupt cache entry is detected and fetched again', { timeout: 120_000 }, async () => {
    await withPage(async (page) => {
      // The reload must read the pieces again: the Conv1Ds the workers pack and keep once the
      // result is out (web/packed_store.rs) would spare it a damaged matrix piece. So they are
      // let finish, then removed.
      await runAndKeepShares(page);
      await page.evaluate(async () => (await navigator.storage.getDirectory()).removeEntry('qk-lens-packed', { recursive: true }));
      // Truncate one cached piece, as a full or damaged disk might leave it.
      const key = await page.evaluate(async () => {
        const cache = await caches.open('qk-lens-weights-v1');
        const keys = (await cache.keys()).map((k) => k.url).filter((u) => u.includes('qk-bytes='));
        const victim = keys.find((u) => u.includes('model.safetensors'));
        await cache.put(victim, new Response(new Uint8Array(3)));
        return victim;
      });
      const range = /qk-bytes=(\d+)-(\d+)/.exec(key);
      const before = srv.requests.length;
      await page.reload();
      expectResult(await run(page));
      const again = srv.requests.slice(before).filter((r) => r.path.endsWith('model.safetensors'));
      assert.ok(again.length >= 1, 'the damaged piece was downloaded again');
      assert.ok(again.every((r) => r.status === 206), JSON.stringify(again));
      assert.ok(again.some((r) => Number(/bytes=(\d+)-/.exec(r.range)[1]) <= Number(range[1])), `a request covers ${range[0]}`);
    });
  });

  test('a reload reads its weights\' pieces kept as one entry; a damaged entry is ignored', { timeout: 120_000 }, async () => {
    await withPage(async (page) => {
      await runAndKeepShares(page);
      // The first reload reads each piece from the cache, then keeps them again as one entry.
      await page.reload();
      expectResult(await run(page));
      await page.waitForFunction(async () => {
        const keys = await (await caches.open('qk-lens-weights-v1')).keys();
        return keys.some((k) => k.url.includes('qk-first-load'));
      }, null, { timeout: 10_000, polling: 100 });
      // Without the pieces, the next reload reads that entry alone: nothing is downloaded.
      const dropPieces = () => page.evaluate(async () => {
        const cache = await caches.open('qk-lens-weights-v1');
        const keys = (await cache.keys()).filter((k) => k.url.includes('model.safetensors') && k.url.includes('qk-bytes='));
        await Promise.all(keys.map((k) => cache.delete(k)));
        return keys.length;
      });
      assert.ok((await dropPieces()) > 0, 'pieces to drop');
      const weightRequests = () => srv.requests.filter((r) => r.path.endsWith('model.safetensors')).length;
      let before = weightRequests();
      await page.reload();
      expectResult(await run(page));
      assert.equal(weightRequests() - before, 0, 'the reload read the one entry');
      // A damaged entry (cut short) is not used: the pieces are read (here downloaded) again.
      await page.evaluate(async () => {
        const cache = await caches.open('qk-lens-weights-v1');
        const key = (await cache.keys()).find((k) => k.url.includes('qk-first-load'));
        await cache.put(key, new Response(new Uint8Array(7)));
      });
      before = weightRequests();
      await page.reload();
      expectResult(await run(page));
      assert.ok(weightRequests() - before >= 1, 'the pieces were downloaded again');
    });
  });

  test('a new version of the page\'s wasm replaces the older copy the service worker kept', { timeout: 120_000 }, async () => {
    await withPage(async (page) => {
      await page.goto(pageUrl(srv));
      const shellKeys = () => page.evaluate(async () =>
        (await (await caches.open('qk-lens-shell-v1')).keys()).map((k) => new URL(k.url).pathname));
      const current = await page.evaluate(async () => {
        await navigator.serviceWorker.ready;
        for (let i = 0; i < 100; i++) {
          const keys = (await (await caches.open('qk-lens-shell-v1')).keys()).map((k) => new URL(k.url).pathname);
          const app = keys.find((k) => /^\/app-[0-9a-f]{8,16}_bg\.wasm$/.test(k));
          if (navigator.serviceWorker.controller && app && keys.some((k) => /^\/worker-[0-9a-f]{8,16}_bg\.wasm$/.test(k))) return app;
          await new Promise((r) => setTimeout(r, 100));
        }
        return null;
      });
      assert.ok(current, `the shell is kept: ${await shellKeys()}`);
      // As after a new release: the kept copy is an older version's, the page's is not kept yet.
      const old = '/app-0123456789abcdef_bg.wasm';
      await page.evaluate(async ({ current, old }) => {
        const cache = await caches.open('qk-lens-shell-v1');
        await cache.put(old, new Response(new Uint8Array(8)));
        await cache.delete(current);
      }, { current, old });
      await page.reload();
      let keys = [];
      for (let i = 0; i < 100; i++) {
        keys = await shellKeys();
        if (keys.includes(current) && !keys.includes(old)) break;
        await page.waitForTimeout(100);
      }
      assert.ok(keys.includes(current), `the new version is kept: ${keys}`);
      assert.ok(!keys.includes(old), `the older copy is dropped: ${keys}`);
      assert.ok(keys.some((k) => /^\/worker-[0-9a-f]{8,16}_bg\.wasm$/.test(k)), `other hashed files stay: ${keys}`);
    });
  });

  test('storage full: the run completes from memory, equals the golden and says the model was not stored', { timeout: 120_000 }, async (t) => {
    await withPage(async (page) => {
      // Chromium's quota for this origin, made tiny: every Cache Storage put of a piece fails.
      const cdp = await page.context().newCDPSession(page);
      await cdp.send('Storage.overrideQuotaForOrigin', { origin: srv.url, quotaSize: 1024 });
      await page.goto(pageUrl(srv));
      const edit = await typeEdit(page, experiment);
      const res = expectEdited(await run(page), edit);
      await screenshot(page, 'fault-storage-full');
      const note = /the browser's storage is full: (\d+) downloaded pieces could not be kept, so the next visit downloads them again/;
      const said = res.notes.map((n) => note.exec(n)).find(Boolean);
      assert.ok(said && Number(said[1]) >= 1, `no note says the model was not stored: ${JSON.stringify(res.notes)}`);
      t.diagnostic(said.input);
      assert.match(await page.textContent('#qk-summary .notes'), note);
      const kept = await page.evaluate(async () => (await (await caches.open('qk-lens-weights-v1')).keys()).filter((k) => k.url.includes('model.safetensors')).length);
      assert.equal(kept, 0, 'no piece of the weights was stored');
      await assertEditKept(page, edit, 'a run with the storage full');
    });
  });

  test('a model host without CORS: the message names CORS; once it allows this site, Run works', { timeout: 120_000 }, async (t) => {
    const host = await modelHost({ cors: false });
    try {
      await withPage(async (page) => {
        await page.goto(pageWithModel(srv, `${host.url}/models/${MODEL}/`));
        const edit = await typeEdit(page, experiment);
        const outcome = await run(page);
        await screenshot(page, 'fault-cors');
        t.diagnostic(outcome.text);
        assert.equal(outcome.kind, 'error', outcome.text);
        assert.match(outcome.text, new RegExp(`the server at ${host.url} answered but does not allow this page to read it \\(CORS\\)`));
        assert.ok(host.requests.some((r) => r.path.endsWith('/config.json') && r.status === 200), 'the host answered');
        await assertEditKept(page, edit, 'the CORS error');
        host.options.cors = true;
        expectEdited(await run(page), edit);
        await assertEditKept(page, edit, 'the run after the CORS error');
      });
    } finally {
      await host.stop();
    }
  });

  test('a model host that is down: the message says unreachable, not CORS; back up, Run works', { timeout: 120_000 }, async (t) => {
    let host = await modelHost();
    try {
      await withPage(async (page) => {
        await page.goto(pageWithModel(srv, `${host.url}/models/${MODEL}/`));
        const edit = await typeEdit(page, experiment);
        await host.stop();
        const outcome = await run(page);
        await screenshot(page, 'fault-unreachable');
        t.diagnostic(outcome.text);
        assert.equal(outcome.kind, 'error', outcome.text);
        assert.match(outcome.text, new RegExp(`network error \\(.*\\): the server at ${host.url} is unreachable, or this browser is offline`));
        assert.doesNotMatch(outcome.text, /CORS/);
        await assertEditKept(page, edit, 'the host being down');
        host = await modelHost({ port: host.port });
        expectEdited(await run(page), edit);
        await assertEditKept(page, edit, 'the run after the host came back');
      });
    } finally {
      await host.stop();
    }
  });

  test('the site works from a sub-path of a static host (relative URLs)', { timeout: 120_000 }, async () => {
    srv = await startServer({ root: MODELS, mounts: { '/some/folder/qk/': DIST, '/models/': MODELS } });
    const { context, page, logs } = await openPage(browser());
    try {
      await withDiagnostics(logs, () => srv.requests, async () => {
        await page.goto(`${srv.url}/some/folder/qk/?model=/models/${MODEL}/&exp=${encodeURIComponent(JSON.stringify(experiment))}&run=1`);
        expectResult(await waitForOutcome(page, RESULT_TIMEOUT_MS));
        assert.ok(srv.requests.some((r) => /^\/some\/folder\/qk\/worker-[0-9a-f]{8,16}_bg\.wasm$/.test(r.path)), 'the worker came from the sub-path');
        assert.match(await page.textContent('#qk-storage'), /This site uses .* of .* the browser() allows it/);
      });
    } finally {
      await context.close();
      await srv.stop();
    }
  });

  test('hostile names in a share link are shown as text, never as markup', { timeout: 120_000 }, async () => {
    await withPage(async (page) => {
      const evil = '<img src=x onerror="window.__pwned=1">';
      const exp = { layer: 1, categories: [{ name: evil, words: ['galaxy', '<b>moon</b>'] }, { name: 'fruit', words: ['pear', 'apple'] }] };
      await page.goto(`${srv.url}/?model=/models/${MODEL}/&exp=${encodeURIComponent(JSON.stringify(exp))}&run=1`);
      const outcome = await waitForOutcome(page, RESULT_TIMEOUT_MS);
      assert.equal(outcome.kind, 'result', outcome.text);
      assert.equal(await page.inputValue('.category[data-category="0"] input.name'), evil);
      assert.equal(await page.evaluate(() => document.querySelectorAll('main img, main b').length), 0, 'no element made from the names');
      assert.equal(await page.evaluate(() => window.__pwned), undefined);
      assert.match(await page.textContent('#qk-summary'), /<img src=x onerror=/);
      assert.equal(JSON.parse(outcome.text).words[1].word, '<b>moon</b>');
    });
  });

  test('a malformed share link says what is wrong and keeps the default experiment', { timeout: 60_000 }, async () => {
    await withPage(async (page) => {
      await page.goto(`${srv.url}/?exp=${encodeURIComponent('{"categories": [{"name": 5}]}')}&run=1`);
      const outcome = await waitForOutcome(page, RESULT_TIMEOUT_MS);
      assert.equal(outcome.kind, 'error', outcome.text);
      assert.match(outcome.text, /the experiment could not be loaded: experiment: invalid JSON/);
      assert.equal(await page.inputValue('.category[data-category="0"] input.name'), 'space');
    });
  });

  test('500+ words run and draw', { timeout: 240_000 }, async (t) => {
    await withPage(async (page) => {
      const words = Array.from({ length: 520 }, (_, i) => `w${i}`);
      const exp = { layer: 1, categories: [{ name: 'a', words: words.slice(0, 260) }, { name: 'b', words: words.slice(260) }] };
      await page.goto(`${srv.url}/?model=/models/${MODEL}/&exp=${encodeURIComponent(JSON.stringify(exp))}`);
      const started = Date.now();
      await page.click('#qk-run');
      const outcome = await waitForOutcome(page, RESULT_TIMEOUT_MS);
      assert.equal(outcome.kind, 'result', outcome.text);
      const res = JSON.parse(outcome.text);
      assert.equal(res.words.length, 520);
      assert.equal(res.q.cosine.length, 520);
      t.diagnostic(`520 words: result and figures in ${Date.now() - started} ms; page stats ${JSON.stringify({ forward: res.stats.forward_ms, total: res.stats.total_ms })}`);
      // The figures have ink: every visible canvas has pixels other than its background (the
      // corner pixel's colour), not only the right lengths in the result.
      await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => setTimeout(r, 0))));
      const figures = await page.evaluate(() =>
        [...document.querySelectorAll('canvas')]
          .filter((c) => c.offsetParent !== null && c.width > 0 && c.height > 0)
          .map((c) => {
            const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
            let ink = 0;
            for (let k = 0; k < d.length; k += 4) {
              if (d[k] !== d[0] || d[k + 1] !== d[1] || d[k + 2] !== d[2] || d[k + 3] !== d[3]) ink += 1;
            }
            return { id: c.id, pixels: d.length / 4, ink };
          }),
      );
      t.diagnostic(`figures: ${JSON.stringify(figures)}`);
      const ids = figures.map((f) => f.id);
      for (const id of ['qk-heatmap-q', 'qk-heatmap-k']) assert.ok(ids.includes(id), `${id} is drawn: ${ids}`);
      for (const f of figures) assert.ok(f.ink >= 0.05 * f.pixels, `${f.id} has ink: ${f.ink} of ${f.pixels} pixels`);
    });
  });
});

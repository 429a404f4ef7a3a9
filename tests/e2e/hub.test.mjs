// The page against a stand-in of the Hugging Face hub (hub_server.mjs: the hub's resolve URLs,
// 302s to a CDN on another origin with presigned links that expire, a CDN that refuses CORS
// preflights and answers multi or suffix ranges whole, 429 with Retry-After), through `?hub=`:
// the lecture equals PyTorch with no preflight and no whole-file answer, rate limits are waited
// out as asked, expired links are fetched afresh, and a repository updated under the same URLs
// shows the new model's numbers (the cache is keyed by the commit), offline the newest kept.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { startServer } from './server.mjs';
import { startHub } from './hub_server.mjs';
import { DIST, EXPERIMENTS, GOLDEN, RESULT_TIMEOUT_MS, checkResult, openPage, readJson, screenshot, sharedBrowser, waitForOutcome, withDiagnostics } from './harness.mjs';

const REPO = 'qk/tiny';
const [MODEL_A, MODEL_B] = ['tiny-gpt2-hub', 'tiny-gpt2-savepretrained'];
const experiment = (layer) => readJson(path.join(EXPERIMENTS, `lecture-L${layer}.json`));
const golden = (model, layer) => readJson(path.join(GOLDEN, `${model}.L${layer}.json`));

describe('the hub protocol (a stand-in on 127.0.0.1)', () => {
  const browser = sharedBrowser();

  /** A site server, a hub with `qk/tiny` (model A, then B after update()), a fresh page. */
  async function withHub(t, body) {
    const site = await startServer({ root: DIST });
    const hub = await startHub({ repos: { [REPO]: [MODEL_A, MODEL_B] } });
    const { context, page, logs } = await openPage(browser());
    const pageUrl = (layer, { model = REPO, run = true } = {}) =>
      `${site.url}/?hub=${encodeURIComponent(hub.url)}&model=${encodeURIComponent(model)}&exp=${encodeURIComponent(JSON.stringify(experiment(layer)))}${run ? '&run=1' : ''}`;
    try {
      await withDiagnostics(logs, () => hub.requests, () => body({ hub, page, pageUrl }));
    } finally {
      t.diagnostic(`hub: ${hub.requests.filter((r) => r.origin === 'hub').length} requests, cdn: ${hub.requests.filter((r) => r.origin === 'cdn').length}; ${JSON.stringify(hub.cdn)}`);
      await context.close();
      await Promise.all([site.stop(), hub.stop()]);
    }
  }

  async function result(page, shot) {
    const outcome = await waitForOutcome(page, RESULT_TIMEOUT_MS);
    if (shot) await screenshot(page, shot);
    assert.equal(outcome.kind, 'result', outcome.text);
    return JSON.parse(outcome.text);
  }

  /** Waits until the page's reads before any run (the folder's size) are done at the hub. */
  async function settled(hub) {
    // Quiet for a second: the page has read what it reads before a run (if anything).
    let seen = -1;
    for (let i = 0; i < 30 && seen !== hub.requests.length; i++) {
      seen = hub.requests.length;
      await new Promise((r) => setTimeout(r, 1000));
    }
  }

  test('the lecture through the hub equals PyTorch: no preflight, no whole-file answer', { timeout: 180_000 }, async (t) => {
    await withHub(t, async ({ hub, page, pageUrl }) => {
      await page.goto(pageUrl(3));
      const res = await result(page, 'hub-lecture');
      checkResult(res, golden(MODEL_A, 3), experiment(3), 3);
      const [first] = hub.commits(REPO);
      assert.equal(res.stats.revision, first, 'the run names the commit it read');
      assert.equal(res.stats.revision_source, 'online');
      const cdn = hub.requests.filter((r) => r.origin === 'cdn');
      t.diagnostic(`requests: hub ${hub.requests.length - cdn.length}, cdn ${cdn.length} (${cdn.filter((r) => r.status === 206).length} ranges); stats.http_requests ${res.stats.http_requests}`);
      assert.ok(cdn.length > 0, 'the weights came from the CDN');
      assert.equal(hub.cdn.preflights, 0, 'no CORS preflight reached the CDN');
      assert.equal(hub.cdn.wholeFile, 0, 'no request made the CDN answer the whole file');
      assert.ok(cdn.every((r) => r.status === 206 && /^bytes=\d+-\d+$/.test(r.range)), 'single ranges only');
      // The run read the commit, not the branch: an update mid-run cannot mix two versions.
      const run = hub.requests.filter((r) => r.origin === 'hub' && r.path.includes(`/resolve/${first}/`));
      assert.ok(run.some((r) => r.path.endsWith('model.safetensors')), 'weights asked for at resolve/{commit}/');
    });
  });

  test('a 429 is waited out as Retry-After says, and the page says why', { timeout: 180_000 }, async (t) => {
    await withHub(t, async ({ hub, page, pageUrl }) => {
      await page.goto(pageUrl(1, { run: false }));
      await settled(hub);
      hub.options.rateLimit = { times: 1, retryAfter: 2 };
      const since = hub.requests.length;
      await page.click('#qk-run');
      await page.waitForFunction(() => /the hub asked us to wait 2 s \(429\)/.test(document.querySelector('#qk-progress')?.textContent ?? ''), null, { timeout: 30_000, polling: 100 });
      await screenshot(page, 'hub-429');
      const res = await result(page);
      checkResult(res, golden(MODEL_A, 1), experiment(1), 1);
      const hubRequests = hub.requests.slice(since).filter((r) => r.origin === 'hub');
      const limited = hubRequests.findIndex((r) => r.status === 429);
      assert.ok(limited >= 0, 'a 429 was served');
      const waited = hubRequests[limited + 1].time - hubRequests[limited].time;
      t.diagnostic(`waited ${waited} ms after the 429 (Retry-After: 2)`);
      assert.ok(waited >= 1900, `the next request came ${waited} ms after the 429`);
      assert.ok(waited < 10_000, `waited ${waited} ms: far longer than asked`);
      assert.equal(res.stats.rate_limit_waits, 1);
      assert.equal(res.stats.rate_limit_wait_s, 2);
    });
  });

  test('an expired presigned link is never reused: the app asks the hub for a fresh one', { timeout: 180_000 }, async (t) => {
    await withHub(t, async ({ hub, page, pageUrl }) => {
      hub.options.presignTtlMs = 1000;
      await page.goto(pageUrl(1));
      checkResult(await result(page), golden(MODEL_A, 1), experiment(1), 1);
      await new Promise((r) => setTimeout(r, 1500)); // every link handed out so far has expired
      hub.options.presignTtlMs = 60_000; // links handed out from now on live long
      const since = hub.requests.length;
      hub.options.expireNext = 1; // and the next one expires on its way
      await page.goto(pageUrl(3));
      const res = await result(page);
      checkResult(res, golden(MODEL_A, 3), experiment(3), 3);
      const after = hub.requests.slice(since);
      const denied = after.filter((r) => r.origin === 'cdn' && r.status === 403);
      assert.equal(denied.length, 1, 'exactly the link made to expire was refused');
      for (const d of denied) {
        const again = after.find((r) => r.origin === 'hub' && r.time >= d.time && r.path.endsWith('model.safetensors') && r.range === d.range);
        assert.ok(again, `the refused range ${d.range} was asked for at the hub again`);
      }
      assert.ok(res.stats.expired_links >= 1, `stats.expired_links: ${res.stats.expired_links}`);
    });
  });

  test('an updated repository shows the new model; offline, the newest kept; @commit pins the old', { timeout: 300_000 }, async (t) => {
    await withHub(t, async ({ hub, page, pageUrl }) => {
      const [first, second] = hub.commits(REPO);
      await page.goto(pageUrl(3));
      const a = await result(page);
      checkResult(a, golden(MODEL_A, 3), experiment(3), 3);
      assert.equal(a.stats.revision, first);

      assert.equal(hub.update(REPO), second);
      await page.reload();
      const b = await result(page, 'hub-updated');
      checkResult(b, golden(MODEL_B, 3), experiment(3), 3);
      assert.equal(b.stats.revision, second, 'the new commit');
      assert.equal(b.stats.revision_source, 'online');

      await hub.stop(); // the hub and its CDN are gone: every request to them fails
      await page.reload();
      const offline = await result(page, 'hub-offline');
      checkResult(offline, golden(MODEL_B, 3), experiment(3), 3);
      assert.equal(offline.stats.revision, second, 'the newest revision kept');
      assert.equal(offline.stats.revision_source, 'stored (offline)');
      assert.ok(offline.notes.some((n) => n.includes('offline') && n.includes(second)), `notes: ${offline.notes}`);

      await page.goto(pageUrl(3, { model: `${REPO}@${first}` }));
      const pinned = await result(page, 'hub-pinned');
      checkResult(pinned, golden(MODEL_A, 3), experiment(3), 3);
      assert.equal(pinned.stats.revision, first);
      assert.equal(pinned.stats.revision_source, 'pinned');

      // The storage panel lists both versions; the old one is freed alone.
      await page.click('.cache-panel summary');
      const weightsAt = (commit) => `#qk-cache-list li[data-revision="${commit}"]:has-text("resolve/${commit}/model.safetensors")`;
      await page.waitForSelector(weightsAt(first), { timeout: 10_000 });
      await page.waitForSelector(weightsAt(second), { timeout: 10_000 });
      await page.click(`${weightsAt(first)} .qk-cache-free`);
      await page.waitForSelector(weightsAt(first), { state: 'detached', timeout: 10_000 });
      const kept = await page.evaluate(async () => (await (await caches.open('qk-lens-weights-v1')).keys()).map((k) => k.url));
      assert.ok(!kept.some((u) => u.includes(`resolve/${first}/model.safetensors`)), 'no piece of the old weights is kept');
      assert.ok(kept.some((u) => u.includes(`resolve/${second}/model.safetensors`)), 'the new weights are kept');
    });
  });
});

describe('the hub stand-in itself (no browser)', () => {
  test('CDN: preflights refused and counted, multi and suffix ranges whole, links expire; 429 budget per client', async () => {
    const hub = await startHub({ repos: { [REPO]: [MODEL_A] }, presignTtlMs: 300 });
    try {
      const [commit] = hub.commits(REPO);
      const weights = `${hub.url}/${REPO}/resolve/main/model.safetensors`;
      const redirect = await fetch(weights, { redirect: 'manual' });
      assert.equal(redirect.status, 302);
      assert.equal(redirect.headers.get('x-repo-commit'), commit);
      assert.ok(Number(redirect.headers.get('x-linked-size')) > 0);
      assert.match(redirect.headers.get('access-control-expose-headers'), /X-Repo-Commit/);
      const cdn = redirect.headers.get('location');
      assert.ok(cdn.startsWith(hub.cdnUrl), cdn);
      assert.equal((await fetch(cdn, { headers: { Range: 'bytes=0-7' } })).status, 206);
      const preflight = await fetch(cdn, { method: 'OPTIONS', headers: { 'Access-Control-Request-Headers': 'range' } });
      assert.doesNotMatch(preflight.headers.get('access-control-allow-headers') ?? '', /range/i);
      assert.equal(hub.cdn.preflights, 1);
      assert.equal((await fetch(cdn, { headers: { Range: 'bytes=0-1,4-5' } })).status, 200);
      assert.equal((await fetch(cdn, { headers: { Range: 'bytes=-10' } })).status, 200);
      assert.equal(hub.cdn.wholeFile, 2);
      await new Promise((r) => setTimeout(r, 400));
      assert.equal((await fetch(cdn, { headers: { Range: 'bytes=0-7' } })).status, 403, 'an expired link');
      assert.equal((await fetch(`${hub.url}/${REPO}/resolve/v1/config.json`)).headers.get('x-repo-commit'), commit, 'a tag');
      assert.equal((await fetch(`${hub.url}/${REPO}/resolve/nope/config.json`)).status, 404);

      hub.resetBudget();
      hub.options.budget = { requests: 2, retryAfter: 7 };
      const statuses = [];
      for (let i = 0; i < 3; i++) statuses.push((await fetch(`${hub.url}/${REPO}/resolve/main/config.json`)).status);
      assert.deepEqual(statuses, [200, 200, 429]);
      const limited = await fetch(`${hub.url}/${REPO}/resolve/main/config.json`);
      assert.equal(limited.headers.get('retry-after'), '7');
    } finally {
      await hub.stop();
    }
  });

  test('a gate holds the first requests and answers them together', async () => {
    const hub = await startHub({ repos: { [REPO]: [MODEL_A] } });
    try {
      hub.options.gate = { count: 3, timeoutMs: 10_000 };
      hub.options.budget = { requests: 2, windowMs: 5_000, retryAfter: 1 };
      const ask = () => fetch(`${hub.url}/${REPO}/resolve/main/config.json`).then((r) => r.status);
      const early = [ask(), ask()];
      const answered = await Promise.race([Promise.all(early).then(() => true), new Promise((r) => setTimeout(() => r(false), 300))]);
      assert.equal(answered, false, 'two of three are held');
      const statuses = await Promise.all([...early, ask()]);
      assert.deepEqual(statuses.sort(), [200, 200, 429], 'released together, the budget refuses the third');
      assert.equal(hub.budgetRefusals(), 1);
    } finally {
      await hub.stop();
    }
  });
});

// A page that is not a secure context: a teacher serves the built site from a laptop on the
// room's network (`python3 -m http.server`, http://192.168.x.y:8000). Browsers give such a page
// no Cache Storage, no service worker and no StorageManager. The lab must still run and give
// PyTorch's numbers, and say that nothing was stored and why.
//
// Chromium treats 127.0.0.0/8 as secure, so the page is opened at http://qk-lens.test:PORT,
// mapped to 127.0.0.1 by --host-resolver-rules: a plain host name, as a LAN address would be.

import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { chromium } from 'playwright-core';
import {
  CHROMIUM,
  EXPERIMENTS,
  GOLDEN,
  RESULT_TIMEOUT_MS,
  checkResult,
  openPage,
  readJson,
  screenshot,
  serve,
  waitForOutcome,
  withDiagnostics,
} from './harness.mjs';

const MODEL = 'tiny-gpt2-hub';
const LECTURE = readJson(path.join(EXPERIMENTS, 'lecture-L3.json'));
const HOST = 'qk-lens.test';

describe('a page that is not a secure context (http:// on a LAN address)', () => {
  let browser;
  before(async () => {
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
        '--disable-background-networking', '--disable-component-update', '--disable-sync',
        `--host-resolver-rules=MAP ${HOST} 127.0.0.1`],
    });
  });
  after(async () => browser?.close());

  test('the lecture run equals the golden, and the page says the model was not stored and why', { timeout: 180_000 }, async () => {
    const srv = await serve();
    const { context, page, logs } = await openPage(browser);
    try {
      await withDiagnostics(logs, () => srv.requests, async () => {
        const url = `http://${HOST}:${new URL(srv.url).port}/?model=/models/${MODEL}/&exp=${encodeURIComponent(JSON.stringify(LECTURE))}&run=1`;
        await page.goto(url);
        const ctx = await page.evaluate(() => ({ secure: isSecureContext, caches: typeof caches, storage: typeof navigator.storage }));
        assert.deepEqual(ctx, { secure: false, caches: 'undefined', storage: 'undefined' }, 'the page is not a secure context');
        const outcome = await waitForOutcome(page, RESULT_TIMEOUT_MS);
        assert.equal(outcome.kind, 'result', outcome.text);
        const res = JSON.parse(outcome.text);
        checkResult(res, readJson(path.join(GOLDEN, `${MODEL}.L3.json`)), LECTURE, 3);
        assert.ok(res.notes.some((n) => /no storage/.test(n) && /https/.test(n) && /localhost/.test(n)), `notes: ${JSON.stringify(res.notes)}`);
        // The storage panel says it too.
        await page.click('.cache-panel summary').catch(() => {});
        await page.waitForSelector('#qk-storage', { timeout: 10_000 });
        assert.match(await page.textContent('#qk-storage'), /not a secure context .*qk-lens\.test/);
        await screenshot(page, 'insecure-context');
      });
    } finally {
      await context.close();
      await srv.stop();
    }
  });
});

// Real panics in the engine's workers, provoked through the test hook (src/web/fault.rs:
// `?fault=panic-engine` / `panic-peer` on a page served from 127.0.0.1 makes the first run
// panic in that worker): a crashed engine is reported and replaced, a crashed second worker
// leaves the run to one worker, and what the user typed stays in the editor either way.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import {
  EXPERIMENTS,
  GOLDEN,
  RESULT_TIMEOUT_MS,
  assertEditKept,
  checkResult,
  readJson,
  screenshot,
  sharedBrowser,
  typeEdit,
  waitForOutcome,
  withServedPage,
} from './harness.mjs';

const MODEL = 'tiny-gpt2-hub';
const LECTURE = readJson(path.join(EXPERIMENTS, 'lecture-L3.json'));
const EDITED_GOLDEN = readJson(path.join(GOLDEN, `${MODEL}.edited.L3.json`));

const url = (srv, fault) =>
  `${srv.url}/?model=/models/${MODEL}/&exp=${encodeURIComponent(JSON.stringify(LECTURE))}&fault=${fault}`;

async function run(page) {
  await page.click('#qk-run');
  return waitForOutcome(page, RESULT_TIMEOUT_MS);
}

/** The result of the typed edit, against its golden. */
function expectEdited(outcome, edit) {
  assert.equal(outcome.kind, 'result', outcome.text);
  const res = JSON.parse(outcome.text);
  checkResult(res, EDITED_GOLDEN, edit.experiment, 3);
  return res;
}

/** How many engine workers the page started (the second worker's script is marked rank=1). */
// 304: the browser revalidated its copy (the test server answers so for the site's files).
const enginesStarted = (srv) => srv.requests.filter((r) => r.url.endsWith('/worker_loader.js') && [200, 304].includes(r.status)).length;

describe('crashes in the workers', () => {
  const browser = sharedBrowser();

  test('a panic in the engine worker is reported; Run starts a new engine and works', { timeout: 180_000 }, async (t) => {
    await withServedPage(browser(), async (srv, page) => {
      await page.goto(url(srv, 'panic-engine'));
      const edit = await typeEdit(page, LECTURE);
      const outcome = await run(page);
      await screenshot(page, 'crash-engine');
      t.diagnostic(outcome.text);
      assert.equal(outcome.kind, 'error', outcome.text);
      assert.match(
        outcome.text,
        /^internal error in the engine: it crashed \(please report it; Run to try again\): panicked at src\/web\/fault\.rs:\d+:\d+:\s*test fault PanicEngine/,
      );
      await assertEditKept(page, edit, 'the engine crashed');
      const engines = enginesStarted(srv);
      const res = expectEdited(await run(page), edit);
      assert.equal(enginesStarted(srv), engines + 1, 'Run started a new engine');
      assert.equal(res.stats.model_resident, false, 'the new engine loaded the model afresh');
      await assertEditKept(page, edit, 'the run after the crash');
    });
  });

  test('a panic in the second worker leaves the run to one worker, which is right and says so', { timeout: 180_000 }, async (t) => {
    await withServedPage(browser(), async (srv, page) => {
      await page.goto(url(srv, 'panic-peer'));
      const edit = await typeEdit(page, LECTURE);
      const res = expectEdited(await run(page), edit);
      await screenshot(page, 'crash-second-worker');
      assert.ok(srv.requests.some((r) => r.url.endsWith('worker_loader.js?rank=1')), 'a second worker was started');
      assert.equal(res.stats.forward_ranks, 1);
      const note = /^the forward pass ran on one core: the second worker failed \(panicked at src\/web\/fault\.rs:\d+:\d+:\s*test fault PanicPeer/;
      assert.ok(res.notes.some((n) => note.test(n)), `no note says the second worker failed: ${JSON.stringify(res.notes)}`);
      t.diagnostic(res.notes.find((n) => note.test(n)));
      assert.match(await page.textContent('#qk-summary .notes'), /the second worker failed \(panicked at/);
      await assertEditKept(page, edit, 'the second worker crashed');
      // The engine lives on: Run again uses it, with the model resident.
      const engines = enginesStarted(srv);
      await page.click('#qk-run');
      // The first result stays shown until the next one replaces it.
      await page.waitForFunction(
        (id) => JSON.parse(document.querySelector('#qk-result').textContent).stats.run_id > id,
        res.stats.run_id,
        { timeout: RESULT_TIMEOUT_MS },
      );
      const again = expectEdited(await waitForOutcome(page, RESULT_TIMEOUT_MS), edit);
      assert.equal(again.stats.run_id, res.stats.run_id + 1);
      assert.equal(again.stats.model_resident, true);
      assert.equal(enginesStarted(srv), engines, 'no new engine');
    });
  });
});

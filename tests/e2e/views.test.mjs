// End-to-end tests of the views beyond the lecture: the layer sweep, the layer x head grid, V,
// Q·K, PCA and the statistics, rendered in headless Chromium, their numbers against PyTorch's
// (the oracle's sweep golden), and clicking a head or a layer selects it.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import {
  GOLDEN,
  RESULT_TIMEOUT_MS,
  TOL_SCALAR,
  assertClose,
  sharedBrowser,
  readJson,
  screenshot,
  waitForOutcome,
  withServedPage,
} from './harness.mjs';

const MODEL = 'tiny-gpt2-hub';
const SWEEP = readJson(path.join(GOLDEN, `${MODEL}.sweep.json`));
// Spearman's rho moves by up to ~3e-5 when near-equal cosines swap ranks (see tests/sweep.rs).
const TOL_RHO = 1e-4;
const EXTENDED = ['heatmap-v', 'layer-sweep', 'head-grid', 'qk-matrix', 'pca-map', 'null-distributions'];

/** The golden's experiment at `layer` (its labels count from 1; its template is Python's). */
function experiment(layer) {
  const names = SWEEP.category_names;
  return {
    layer,
    template: SWEEP.prompt_template.replace('{}', '{word}'),
    categories: names.map((name, c) => ({ name, words: SWEEP.words.filter((_, i) => SWEEP.labels[i] === c + 1) })),
  };
}

const pageUrl = (srv, layer, query) =>
  `${srv.url}/?model=/models/${MODEL}/&exp=${encodeURIComponent(JSON.stringify(experiment(layer)))}&${query}`;

async function result(page, name) {
  const outcome = await waitForOutcome(page, RESULT_TIMEOUT_MS);
  await screenshot(page, name);
  assert.equal(outcome.kind, 'result', outcome.text);
  return JSON.parse(outcome.text);
}

function checkSummary(what, got, want) {
  for (const x of ['q', 'k', 'v']) {
    assertClose(got[x].selectivity, want.selectivity[x.toUpperCase()], TOL_SCALAR, `${what} ${x} selectivity`);
  }
  assertClose(got.rsa.r, want.r, TOL_SCALAR, `${what} RSA r`);
  assertClose(got.rsa.rho, want.rho, TOL_RHO, `${what} Spearman rho`);
}

/** Share of a canvas's pixels that are not white (a drawn figure has axes, text and marks). */
const inked = (page, id) =>
  page.$eval(`#qk-${id}`, (c) => {
    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    let n = 0;
    for (let i = 0; i < d.length; i += 4) if (d[i + 3] > 0 && (d[i] < 240 || d[i + 1] < 240 || d[i + 2] < 240)) n++;
    return n / (c.width * c.height);
  });

/** Clicks the target `key` ("L" or "L,H") that the figure lists in data-targets. */
async function clickTarget(page, id, key) {
  const canvas = await page.$(`#qk-${id}`);
  const targets = JSON.parse(await canvas.getAttribute('data-targets'));
  assert.ok(targets[key], `${id} has no click target ${key}: ${Object.keys(targets)}`);
  const [x, y] = targets[key];
  await canvas.scrollIntoViewIfNeeded();
  const box = await canvas.boundingBox();
  const width = await canvas.evaluate((c) => c.width);
  const scale = box.width / width;
  await page.mouse.click(box.x + x * scale, box.y + y * scale);
}

const shownLayer = (page) => page.evaluate(() => JSON.parse(document.querySelector('#qk-result').textContent).layer);

describe('views beyond the lecture', () => {
  const browser = sharedBrowser();

  test('a link with every option renders every view, with PyTorch numbers and valid statistics', { timeout: 180_000 }, async () => {
    await withServedPage(browser(), async (srv, page) => {
      const query = 'run=1&all-layers=1&heads=1&v=1&qk=1&pca=1&permutations=199&seed=3';
      await page.goto(pageUrl(srv, 1, query));
      const res = await result(page, 'views-all-options');
      assert.equal(res.layers.length, SWEEP.layers.length);
      res.layers.forEach((l, i) => checkSummary(`layer ${i}`, l, SWEEP.layers[i].summary));
      assert.equal(res.heads.length, SWEEP.heads.length);
      res.heads.forEach((h, i) => {
        const want = SWEEP.heads[i];
        assert.deepEqual([h.layer, h.head], [want.layer, want.head]);
        checkSummary(`layer ${h.layer} head ${h.head}`, h, want);
      });
      assert.equal(res.qk.length, res.model.n_head);
      assert.deepEqual([res.statistics.permutations, res.statistics.seed], [199, 3]);
      const p = res.statistics.q.selectivity.p;
      assert.ok(p >= 1 / 200 && p <= 1, `p = ${p}`);
      assert.equal(await page.$('.figures-panel .error'), null, 'every figure drew');
      for (const id of EXTENDED) {
        const share = await inked(page, id);
        assert.ok(share > 0.01, `${id} is blank (${share})`);
      }
      // p-values and intervals next to the lecture's numbers.
      const pText = await page.textContent('#qk-sel-p-q');
      assertClose(Number(pText), p, 5e-4, 'shown Q selectivity p');
      assert.match(await page.textContent('#qk-rsa-ci'), /^\[-?\d\.\d{4}, -?\d\.\d{4}\]$/);
      assertClose(Number(await page.textContent('#qk-rho')), res.statistics.rsa.spearman.rho, 1e-4, 'shown rho');
      // The options panel shows what the link asked for.
      for (const id of ['all-layers', 'heads', 'v', 'qk', 'pca', 'stats']) {
        assert.ok(await page.isChecked(`#qk-opt-${id}`), `${id} checked`);
      }
      assert.equal(await page.inputValue('#qk-opt-permutations'), '199');
    });
  });

  test('clicking a head shows that head; clicking a layer runs that layer', { timeout: 180_000 }, async () => {
    await withServedPage(browser(), async (srv, page) => {
      await page.goto(pageUrl(srv, 1, 'run=1&all-layers=1&heads=1'));
      const res = await result(page, 'views-before-click');
      await clickTarget(page, 'head-grid', '1,2');
      await page.waitForFunction(() => document.querySelector('#qk-view').textContent.includes('head 2 of layer 1'));
      await screenshot(page, 'views-head-1-2');
      const numbers = await page.textContent('#qk-view-numbers');
      const [q, k] = [...numbers.matchAll(/[QK] (-?\d+\.\d+)/g)].map((m) => Number(m[1]));
      const want = SWEEP.heads.find((h) => h.layer === 1 && h.head === 2);
      assertClose(q, want.selectivity.Q, 1e-4, 'head 2 Q selectivity shown');
      assertClose(k, want.selectivity.K, 1e-4, 'head 2 K selectivity shown');
      assert.equal(await page.inputValue('#qk-head'), '2');
      await page.click('#qk-whole-layer');
      await page.waitForFunction(() => document.querySelector('#qk-view').textContent.includes('whole layer 1'));
      assertClose(Number((await page.textContent('#qk-view-numbers')).match(/Q (-?\d+\.\d+)/)[1]), res.q.selectivity, 1e-4, 'whole layer');

      // A layer of the sweep: a new run at that layer (its weights are already cached).
      const before = srv.requests.length;
      await clickTarget(page, 'layer-sweep', '3');
      await page.waitForFunction(() => {
        const r = document.querySelector('#qk-result');
        return r && JSON.parse(r.textContent).layer === 3 && !document.querySelector('#qk-run').disabled;
      }, null, { timeout: RESULT_TIMEOUT_MS });
      await screenshot(page, 'views-layer-3');
      assert.equal(await shownLayer(page), 3);
      assert.equal(await page.inputValue('#qk-layer'), '3');
      const after = JSON.parse(await page.textContent('#qk-result'));
      assertClose(after.q.selectivity, SWEEP.layers[3].summary.selectivity.Q, TOL_SCALAR, 'layer 3 Q selectivity');
      const weights = srv.requests.slice(before).filter((r) => r.path.endsWith('/model.safetensors'));
      assert.equal(weights.reduce((s, r) => s + r.bytes, 0), 0, 'the sweep cached every layer');
      // The share link carries the options.
      await page.click('#qk-share');
      const link = await page.inputValue('#qk-share-url');
      assert.match(link, /all-layers=1/);
      assert.match(link, /heads=1/);
    });
  });

  test('options chosen in the panel: heads of the analysed layer, V, Q·K and mean-centring', { timeout: 180_000 }, async () => {
    await withServedPage(browser(), async (srv, page) => {
      await page.goto(pageUrl(srv, 2, ''));
      await page.waitForSelector('#qk-opt-heads');
      for (const id of ['heads', 'v', 'qk', 'center']) await page.check(`#qk-opt-${id}`);
      await page.click('#qk-run');
      const res = await result(page, 'views-panel-options');
      assert.equal(res.layers, undefined);
      assert.deepEqual(res.heads.map((h) => h.layer), Array(res.model.n_head).fill(2));
      // Centring applies to the heads too; the raw keys keep the lecture's meaning.
      const centred = SWEEP.layers[2].centered;
      assertClose(res.centered.q.selectivity, centred.selectivity.Q, TOL_SCALAR, 'centred Q selectivity');
      assertClose(res.centered.rsa.r, centred.r, TOL_SCALAR, 'centred RSA r');
      assertClose(res.q.selectivity, SWEEP.layers[2].summary.selectivity.Q, TOL_SCALAR, 'raw Q selectivity');
      assertClose(Number(await page.textContent('#qk-centered-q')), res.centered.q.selectivity, 1e-4, 'shown centred Q');
      assert.match(await page.textContent('#qk-view'), /mean-centred/);
      const shownQ = Number((await page.textContent('#qk-view-numbers')).match(/Q (-?\d+\.\d+)/)[1]);
      assertClose(shownQ, res.centered.q.selectivity, 1e-4, 'the figures show the centred vectors');
      assert.equal(await page.$('#qk-layer-sweep'), null, 'no sweep without every layer');
      for (const id of ['heatmap-v', 'head-grid', 'qk-matrix']) assert.ok((await inked(page, id)) > 0.01, `${id} drawn`);
      // The head list works without the grid too: head 1's Q·K matrix and heatmaps.
      await page.selectOption('#qk-head', '1');
      await page.waitForFunction(() => document.querySelector('#qk-view').textContent.includes('head 1 of layer 2'));
      await screenshot(page, 'views-head-2-1');
    });
  });
});

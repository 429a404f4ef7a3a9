// Big word × word heatmaps on canvas (520 words: cells smaller than a pixel, drawn as one image):
// the cell pixels have the colours of their values (viridis of the cosine from #qk-result, the
// group mask's category colours), white separators lie on the category boundaries, and hovering
// a cell still names its word pair. Also reports how long the run and its drawing took.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { sharedBrowser, RESULT_TIMEOUT_MS, screenshot, waitForOutcome, withServedPage } from './harness.mjs';

const MODEL = 'tiny-gpt2-hub';
const SIZES = [200, 170, 150]; // three categories: boundaries after words 200 and 370
const N = SIZES.reduce((a, b) => a + b, 0);

// plotters' ViridisRGB: linear between eight stops.
const VIRIDIS = [
  [68, 1, 84], [70, 50, 127], [54, 92, 141], [39, 127, 143],
  [31, 162, 136], [74, 194, 110], [160, 219, 57], [254, 232, 37],
];
function viridis(v, lo, hi) {
  const t = (Math.min(Math.max(v, lo), hi) - lo) / (hi - lo);
  const x = t * (VIRIDIS.length - 1);
  const k = Math.min(Math.floor(x), VIRIDIS.length - 2);
  const r = x - k;
  return VIRIDIS[k].map((c, i) => Math.round((1 - r) * c + r * VIRIDIS[k + 1][i]));
}
const CATEGORY_COLOURS = [[0xe6, 0x9f, 0x00], [0x56, 0xb4, 0xe9], [0x00, 0x9e, 0x73]];
const EMPTY_GREY = [238, 238, 238];

function offDiagonalExtent(m) {
  let lo = Infinity;
  let hi = -Infinity;
  m.forEach((row, i) => row.forEach((v, j) => {
    if (i !== j) { lo = Math.min(lo, v); hi = Math.max(hi, v); }
  }));
  return lo < hi ? [lo, hi] : [lo - 0.5, lo + 0.5];
}
function extent(m) {
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of m.flat()) {
    if (Number.isFinite(v)) { lo = Math.min(lo, v); hi = Math.max(hi, v); }
  }
  return lo < hi ? [lo, hi] : [lo - 0.5, hi + 0.5];
}

/**
 * Cell boundaries in canvas pixels as plotters maps them (data 0..n onto the cell rectangle,
 * `floor(len * v / n + 1e-3)` on x, `ceil(-len * v / n - 1e-3)` from the bottom on y): cell j
 * covers columns xs[j] <= x < xs[j + 1], row i rows ys[i] <= y < ys[i + 1].
 */
function cellEdges([x0, y0, x1, y1], n) {
  const xs = Array.from({ length: n + 1 }, (_, j) => x0 + Math.floor((x1 - x0) * (j / n) + 1e-3));
  const yOf = (v) => y1 + Math.ceil(-(y1 - y0) * (v / n) - 1e-3);
  const ys = Array.from({ length: n + 1 }, (_, i) => yOf(n - i));
  return { xs, ys };
}

/** The canvas's pixels and its cell rectangle (`data-cells`: x0,y0,x1,y1). */
async function canvasPixels(page, id) {
  return page.evaluate((id) => {
    const c = document.getElementById(id);
    const data = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    return { w: c.width, h: c.height, cells: (c.dataset.cells || '').split(',').map(Number), data: Array.from(data) };
  }, id);
}

const rgbAt = (img, x, y) => {
  const k = (y * img.w + x) * 4;
  return [img.data[k], img.data[k + 1], img.data[k + 2]];
};
const near = (a, b, tol) => a.every((c, i) => Math.abs(c - b[i]) <= tol);

/** Samples cells away from the separators; each cell's middle pixel must have `expected(i, j)`. */
function checkCells(img, what, expected, tol = 3) {
  assert.equal(img.cells.length, 4, `${what}: data-cells ${JSON.stringify(img.cells)}`);
  const { xs, ys } = cellEdges(img.cells, N);
  const cuts = [SIZES[0], SIZES[0] + SIZES[1]];
  const awayFromCuts = (k) => cuts.every((c) => Math.abs(k - c) > 4);
  let checked = 0;
  let bad = [];
  for (let s = 0; s < 400; s++) {
    // A deterministic spread over the matrix, the diagonal included.
    const i = (s * 37 + 11) % N;
    const j = s % 5 === 0 ? i : (s * 101 + 7) % N;
    if (!awayFromCuts(i) || !awayFromCuts(j) || xs[j + 1] <= xs[j] || ys[i + 1] <= ys[i]) continue;
    const x = Math.floor((xs[j] + xs[j + 1] - 1) / 2);
    const y = Math.floor((ys[i] + ys[i + 1] - 1) / 2);
    const got = rgbAt(img, x, y);
    const want = expected(i, j);
    checked++;
    if (!near(got, want, tol)) bad.push(`cell (${i}, ${j}) at pixel (${x}, ${y}): ${got} != ${want}`);
  }
  assert.ok(checked > 100, `${what}: only ${checked} cells sampled`);
  assert.deepEqual(bad.slice(0, 5), [], `${what}: ${bad.length} of ${checked} sampled cells have the wrong colour`);
  return checked;
}

/** White 2-px separators at the category boundaries, and none elsewhere. */
function checkSeparators(img, what) {
  const { xs, ys } = cellEdges(img.cells, N);
  const white = (x, y) => near(rgbAt(img, x, y), [255, 255, 255], 0);
  const rows = Array.from({ length: ys[N] - ys[0] }, (_, k) => ys[0] + k);
  const cols = Array.from({ length: xs[N] - xs[0] }, (_, k) => xs[0] + k);
  const whiteColumn = (x) => rows.filter((y) => white(x, y)).length / rows.length;
  const whiteRow = (y) => cols.filter((x) => white(x, y)).length / cols.length;
  for (const c of [SIZES[0], SIZES[0] + SIZES[1]]) {
    const bestX = Math.max(...[-1, 0, 1].map((d) => whiteColumn(xs[c] + d)));
    assert.ok(bestX > 0.97, `${what}: a white column at the boundary after word ${c} (x ${xs[c]}): ${bestX}`);
    const bestY = Math.max(...[-1, 0, 1].map((d) => whiteRow(ys[N - c] + d)));
    // Rows of the image: the boundary between rows c-1 and c is at ys[c].
    const bestYc = Math.max(...[-1, 0, 1].map((d) => whiteRow(ys[c] + d)));
    assert.ok(Math.max(bestY, bestYc) > 0.97, `${what}: a white row at the boundary after word ${c}`);
  }
  for (const k of [50, 100, 300, 450]) {
    assert.ok(whiteColumn(xs[k]) < 0.5, `${what}: no separator inside a category (column of word ${k})`);
    assert.ok(whiteRow(ys[k]) < 0.5, `${what}: no separator inside a category (row of word ${k})`);
  }
}

describe('big heatmaps', () => {
  const browser = sharedBrowser();

  test(`${N} words: every word × word heatmap is drawn with the right colours, separators and hover`, { timeout: 300_000 }, async (t) => {
    await withServedPage(browser(), async (srv, page) => {
      const words = Array.from({ length: N }, (_, i) => `w${i}`);
      let start = 0;
      const categories = SIZES.map((size, c) => {
        const part = words.slice(start, start + size);
        start += size;
        return { name: `c${c}`, words: part };
      });
      const exp = { layer: 1, categories };
      await page.goto(`${srv.url}/?model=/models/${MODEL}/&exp=${encodeURIComponent(JSON.stringify(exp))}&v=1&qk=1`);
      // In the page's clock: when Run was clicked and when each long main-thread task ended.
      await page.evaluate(() => {
        window.__longTasks = [];
        new PerformanceObserver((l) => window.__longTasks.push(...l.getEntries().map((e) => [e.startTime, e.duration]))).observe({ type: 'longtask' });
        document.addEventListener('click', (e) => {
          if (e.target.closest('#qk-run')) window.__clickAt = performance.now();
        }, { capture: true });
      });
      const started = Date.now();
      await page.click('#qk-run');
      const outcome = await waitForOutcome(page, RESULT_TIMEOUT_MS);
      assert.equal(outcome.kind, 'result', outcome.text);
      // The main thread is free again once every canvas is drawn.
      await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => setTimeout(r, 0))));
      const drawn = Date.now() - started;
      const res = JSON.parse(outcome.text);
      const tasks = await page.evaluate(() => {
        const after = window.__longTasks.filter(([start]) => start >= window.__clickAt);
        return {
          idle: Math.max(0, ...after.map(([start, d]) => start + d)) - window.__clickAt,
          busy: after.reduce((sum, [, d]) => sum + d, 0),
          longest: Math.max(0, ...after.map(([, d]) => d)),
        };
      });
      t.diagnostic(`${N} words: Run to main thread idle (all canvases drawn) ${Math.round(tasks.idle)} ms in the page ` +
        `(${drawn} ms seen from the test, with #qk-result's transfer); main thread busy ${Math.round(tasks.busy)} ms in long tasks, ` +
        `longest ${Math.round(tasks.longest)} ms; engine ${JSON.stringify({ forward: res.stats.forward_ms, total: res.stats.total_ms })}`);
      const perFigure = await page.evaluate(() => Object.fromEntries([...document.querySelectorAll('canvas[data-draw-ms]')].map((c) => [c.id.replace(/^qk-/, ''), Number(c.dataset.drawMs)])));
      t.diagnostic(`drawing time per figure (ms): ${JSON.stringify(perFigure)}`);
      assert.equal(res.words.length, N);
      assert.ok(res.v && res.qk && res.qk.length > 0, 'the run has V and the Q·K matrices');
      await screenshot(page, 'heatmaps-520');

      // Cell colours against the values in the result.
      const space = (m) => {
        const [lo, hi] = offDiagonalExtent(m);
        return (i, j) => viridis(m[i][j], lo, hi);
      };
      const counts = {};
      for (const [id, m] of [['qk-heatmap-q', res.q.cosine], ['qk-heatmap-k', res.k.cosine], ['qk-heatmap-v', res.v.cosine]]) {
        const img = await canvasPixels(page, id);
        counts[id] = checkCells(img, id, space(m));
        checkSeparators(img, id);
      }
      const scores = res.qk.find((h) => h.head === 0).scores;
      const [lo, hi] = extent(scores);
      const qk = await canvasPixels(page, 'qk-qk-matrix');
      counts.qk = checkCells(qk, 'qk-matrix', (i, j) => viridis(scores[i][j], lo, hi));
      checkSeparators(qk, 'qk-matrix');
      const cat = (i) => (i < SIZES[0] ? 0 : i < SIZES[0] + SIZES[1] ? 1 : 2);
      const mask = await canvasPixels(page, 'qk-group-mask');
      counts.mask = checkCells(mask, 'group-mask', (i, j) => (i < j && cat(i) === cat(j) ? CATEGORY_COLOURS[cat(i)] : EMPTY_GREY), 0);
      checkSeparators(mask, 'group-mask');
      t.diagnostic(`cells sampled: ${JSON.stringify(counts)}`);

      // Hovering a cell names its pair (the page's hit test: floor((x - x0) / w * n)).
      const q = await canvasPixels(page, 'qk-heatmap-q');
      const box = await page.locator('#qk-heatmap-q').boundingBox();
      const scale = box.width / q.w;
      const [x0, y0, x1, y1] = q.cells;
      for (const [i, j] of [[30, 250], [410, 90], [260, 261]]) {
        const px = Math.floor(x0 + ((j + 0.5) / N) * (x1 - x0));
        const py = Math.floor(y0 + ((i + 0.5) / N) * (y1 - y0));
        await page.locator('#qk-heatmap-q').scrollIntoViewIfNeeded();
        const b = await page.locator('#qk-heatmap-q').boundingBox();
        await page.mouse.move(b.x + (px + 0.5) * scale, b.y + (py + 0.5) * scale);
        await page.waitForFunction(() => document.querySelector('#qk-pair')?.textContent.includes('×'), null, { timeout: 5000 });
        const text = (await page.textContent('#qk-pair')).trim();
        const m = /^(\w+) × (\w+): Q (-?\d\.\d{4}), K (-?\d\.\d{4})$/.exec(text);
        assert.ok(m, `pair line ${JSON.stringify(text)}`);
        const [gi, gj] = [words.indexOf(m[1]), words.indexOf(m[2])];
        // Sub-pixel cells: the pointer's pixel may hold the neighbouring cell.
        assert.ok(Math.abs(gi - i) <= 1 && Math.abs(gj - j) <= 1, `hovering cell (${i}, ${j}) names ${text}`);
        assert.equal(Number(m[3]), Number(res.q.cosine[gi][gj].toFixed(4)), `${text}: Q value`);
        assert.equal(Number(m[4]), Number(res.k.cosine[gi][gj].toFixed(4)), `${text}: K value`);
      }
      // The highlight is drawn over the image: a black ring around the hovered cell.
      const lit = await canvasPixels(page, 'qk-heatmap-k');
      const { xs, ys } = cellEdges(lit.cells, N);
      const text = (await page.textContent('#qk-pair')).trim();
      const [hi_, hj] = /^(\w+) × (\w+)/.exec(text).slice(1).map((w) => words.indexOf(w));
      const ring = [-2, -1].some((d) => near(rgbAt(lit, xs[hj] + d, Math.floor((ys[hi_] + ys[hi_ + 1]) / 2)), [0, 0, 0], 40));
      assert.ok(ring, `the hovered cell (${hi_}, ${hj}) is outlined in the K heatmap`);
      await screenshot(page, 'heatmaps-520-hover');
    });
  });
});

// The guided lab (?mode=lecture&step=N) in the page: every step's text and figures, the
// keyboard, predict-first answers from the run, steps kept by the address and share links,
// presenter mode on a 1280x720 projector, and phones without sideways scrolling.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { EXPERIMENTS, RESULT_TIMEOUT_MS, readJson, screenshot, sharedBrowser, waitForOutcome, withServedPage } from './harness.mjs';

const MODEL = 'tiny-gpt2-hub';
const LECTURE = readJson(path.join(EXPERIMENTS, 'lecture-L3.json'));
const STEPS = 11;
const FIGURE_STEPS = { 4: 1, 6: 2, 7: 1, 8: 1, 9: 1, 10: 1 };

const url = (srv, query) =>
  `${srv.url}/?model=/models/${MODEL}/&exp=${encodeURIComponent(JSON.stringify(LECTURE))}&run=1${query}`;

async function ready(page) {
  const outcome = await waitForOutcome(page, RESULT_TIMEOUT_MS);
  assert.equal(outcome.kind, 'result', outcome.text);
  return JSON.parse(outcome.text);
}

const shownStep = (page) => page.evaluate(() => Number(document.querySelector('[data-step]')?.dataset.step));

/** Waits until the step's `n` figures are drawn: their canvases carry the run's id and are not
 *  blank (a canvas reused for another figure keeps its attributes but loses its pixels). */
async function figuresDrawn(page, n) {
  await page.waitForFunction(
    (n) => {
      const canvases = [...document.querySelectorAll('[data-step] canvas')];
      const drawn = (c) => {
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        let ink = 0;
        for (let i = 0; i < d.length; i += 4 * 97) if (d[i + 3] > 0 && (d[i] < 200 || d[i + 1] < 200 || d[i + 2] < 200)) ink++;
        return ink > 20;
      };
      return canvases.length === n && canvases.every((c) => c.dataset.runId && drawn(c));
    },
    n,
    { timeout: 30_000 },
  );
}

/** Counts the step's canvas pixels that lie on viridis but far from cividis, and the reverse
 *  (each scale sampled at 129 points; text and grey lines are on neither). */
const SCALE_COUNTS = `() => {
  const lerp = (stops, t) => {
    const x = t * (stops.length - 1), i = Math.min(Math.floor(x), stops.length - 2), f = x - i;
    return stops[i].map((a, k) => a + (stops[i + 1][k] - a) * f);
  };
  const VIRIDIS = [[68,1,84],[70,50,127],[54,92,141],[39,127,143],[31,162,136],[74,194,110],[160,219,57],[254,232,37]];
  const CIVIDIS = [[0,34,78],[0,46,106],[26,56,111],[50,67,109],[67,78,108],[83,90,109],[97,101,111],[111,112,115],[125,124,120],
    [140,136,120],[155,148,118],[171,160,114],[188,174,108],[205,187,99],[222,201,88],[240,216,70],[254,232,56]];
  const sample = (stops) => Array.from({ length: 129 }, (_, i) => lerp(stops, i / 128));
  const v = sample(VIRIDIS), c = sample(CIVIDIS);
  const near = (ps, r, g, b) => Math.min(...ps.map(([x, y, z]) => Math.abs(x - r) + Math.abs(y - g) + Math.abs(z - b)));
  const counts = { viridis: 0, cividis: 0 };
  for (const canvas of document.querySelectorAll('[data-step] canvas')) {
    const d = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
    for (let i = 0; i < d.length; i += 4 * 7) {
      const dv = near(v, d[i], d[i + 1], d[i + 2]), dc = near(c, d[i], d[i + 1], d[i + 2]);
      if (dv <= 6 && dc > 30) counts.viridis++;
      if (dc <= 6 && dv > 30) counts.cividis++;
    }
  }
  return counts;
}`;
const scaleCounts = (page) => page.evaluate(`(${SCALE_COUNTS})()`);

/** How much wider than the window the page is (0: no sideways scrolling). */
const overflow = (page) => page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);

describe('the guided lab', () => {
  const browser = sharedBrowser();

  test('every step: its text, its figures, the keyboard and the predict-first answers', { timeout: 240_000 }, async () => {
    await withServedPage(browser(), async (srv, page) => {
      await page.setViewportSize({ width: 1280, height: 900 });
      await page.goto(url(srv, '&mode=lecture&step=1'));
      const res = await ready(page);
      for (let n = 1; n <= STEPS; n++) {
        assert.equal(await shownStep(page), n);
        const text = await page.textContent(`[data-step="${n}"]`);
        assert.ok(text.length > 200, `step ${n} has text`);
        if (FIGURE_STEPS[n]) await figuresDrawn(page, FIGURE_STEPS[n]);
        else assert.equal(await page.locator('[data-step] canvas').count(), 0, `step ${n} has no figure`);
        await screenshot(page, `lecture-step-${n}`);
        if (n < STEPS) await page.keyboard.press('ArrowRight');
        await page.waitForFunction((m) => document.querySelector(`[data-step="${m}"]`), Math.min(n + 1, STEPS));
      }
      await page.keyboard.press('Home');
      assert.equal(await shownStep(page), 1);
      await page.keyboard.press('End');
      assert.equal(await shownStep(page), STEPS);
      await page.keyboard.press('ArrowLeft');
      assert.equal(await shownStep(page), STEPS - 1);
      // Step 8: the answer is the run's own selectivity indices.
      await page.click('#qk-step-prev');
      await page.click('#qk-step-prev');
      assert.equal(await shownStep(page), 8);
      const formula = await page.textContent('[data-step="8"] .formula');
      assert.ok(formula.includes(res.q.selectivity.toFixed(3)) && formula.includes(res.k.selectivity.toFixed(3)), formula);
      assert.equal(await page.locator('#qk-answer').count(), 0, 'the answer waits for the click');
      await page.click('#qk-reveal');
      const answer = await page.textContent('#qk-answer');
      const [hi, lo] = res.q.selectivity > res.k.selectivity ? ['Q', res.q.selectivity] : ['K', res.k.selectivity];
      assert.ok(answer.startsWith(`${hi}:`) && answer.includes(lo.toFixed(3)), answer);
      // Step 9: RSA r as the run computed it.
      await page.keyboard.press('ArrowRight');
      assert.ok((await page.textContent('[data-step="9"] .formula')).includes(res.rsa.r.toFixed(3)));
    });
  });

  test('the step is kept by the address, a reload and a share link', { timeout: 180_000 }, async () => {
    await withServedPage(browser(), async (srv, page) => {
      await page.goto(url(srv, '&mode=lecture&step=6'));
      await ready(page);
      assert.equal(await shownStep(page), 6);
      await page.keyboard.press('ArrowRight');
      assert.match(page.url(), /[?&]step=7\b/);
      await page.reload();
      await ready(page);
      assert.equal(await shownStep(page), 7);
      await page.click('#qk-share');
      const link = await page.inputValue('#qk-share-url');
      assert.match(link, /mode=lecture/);
      assert.match(link, /step=7\b/);
      await page.goto(link);
      await page.waitForSelector('[data-step="7"]');
      // The lecture switch leaves and reopens the guided lab.
      await page.click('#qk-lecture');
      assert.equal(await page.locator('[data-step]').count(), 0);
      assert.doesNotMatch(page.url(), /mode=lecture/);
      await page.click('#qk-lecture');
      assert.equal(await shownStep(page), 1);
    });
  });

  test('presenter mode fills a 1280x720 projector with the step and its figure', { timeout: 180_000 }, async () => {
    await withServedPage(browser(), async (srv, page) => {
      await page.setViewportSize({ width: 1280, height: 720 });
      for (const n of [6, 8, 9]) {
        await page.goto(url(srv, `&mode=lecture&step=${n}&present=1`));
        await ready(page);
        await figuresDrawn(page, FIGURE_STEPS[n]);
        await page.waitForTimeout(200);
        await screenshot(page, `present-step-${n}`);
        const fit = await page.evaluate(() => {
          const vw = innerWidth, vh = innerHeight;
          let area = 0, inside = true;
          for (const c of document.querySelectorAll('[data-step] canvas')) {
            const r = c.getBoundingClientRect();
            inside &&= r.left >= -1 && r.top >= -1 && r.right <= vw + 1 && r.bottom <= vh + 1;
            area += r.width * r.height;
          }
          const body = parseFloat(getComputedStyle(document.querySelector('[data-step] p')).fontSize);
          return { inside, share: area / (vw * vh), body, wide: document.documentElement.scrollWidth - vw };
        });
        assert.ok(fit.inside, `step ${n}: the figure is not inside the viewport`);
        assert.ok(fit.share >= 0.5, `step ${n}: the figure covers ${(fit.share * 100).toFixed(0)} % of the screen`);
        assert.ok(fit.body >= 24, `step ${n}: body text ${fit.body} px`);
        assert.ok(fit.wide <= 0, `step ${n}: ${fit.wide} px wider than the screen`);
        // Scrolled to the end, no line of the step lies under the floating controls.
        const covered = await page.evaluate(() => {
          scrollTo(0, document.documentElement.scrollHeight);
          const bars = [...document.querySelectorAll('.lecture-nav, .look-bar')].map((b) => b.getBoundingClientRect());
          const text = [...document.querySelectorAll('main p, main h2, main summary, main pre, main li, main .formula, main button')]
            .filter((e) => !e.closest('.lecture-nav, .look-bar') && e.getClientRects().length)
            // What a closed <details> holds is not shown (its summary is).
            .filter((e) => e.closest('summary') || !e.closest('details:not([open])'));
          const hit = (a, b) => a.left < b.right && b.left < a.right && a.top < b.bottom && b.top < a.bottom;
          return text.filter((e) => bars.some((b) => hit(e.getBoundingClientRect(), b)))
            .map((e) => `${e.tagName.toLowerCase()} "${e.textContent.trim().slice(0, 40)}"`);
        });
        assert.equal(covered.length, 0, `step ${n}: scrolled to the end, the controls cover ${covered.join('; ')}`);
        await page.evaluate(() => scrollTo(0, 0));
      }
    });
  });

  test('presenter mode: the colour scale (viridis, cividis) and the dark theme, chosen on screen and kept by the address', { timeout: 180_000 }, async () => {
    await withServedPage(browser(), async (srv, page) => {
      await page.setViewportSize({ width: 1280, height: 720 });
      await page.goto(url(srv, '&mode=lecture&step=6&present=1'));
      await ready(page);
      await figuresDrawn(page, FIGURE_STEPS[6]);
      const before = await scaleCounts(page);
      assert.ok(before.viridis > 2000 && before.cividis < before.viridis / 20, `default scale: ${JSON.stringify(before)}`);
      await page.selectOption('#qk-colour-scale', 'cividis');
      await page.waitForFunction(`(${SCALE_COUNTS})().cividis > 2000`, null, { timeout: 20_000 });
      const after = await scaleCounts(page);
      assert.ok(after.viridis < after.cividis / 20, `cividis chosen: ${JSON.stringify(after)}`);
      await page.click('#qk-theme');
      await page.waitForFunction(() => {
        const c = document.querySelector('[data-step] canvas');
        const [r, g, b] = c.getContext('2d').getImageData(2, 2, 1, 1).data;
        return r < 60 && g < 60 && b < 60;
      }, null, { timeout: 20_000 });
      const dark = await page.evaluate(() => ({
        main: document.querySelector('main').classList.contains('dark'),
        body: getComputedStyle(document.body).backgroundColor,
        text: getComputedStyle(document.querySelector('[data-step] p')).color,
        address: location.search,
      }));
      assert.ok(dark.main, 'main is dark');
      assert.equal(dark.body, 'rgb(21, 24, 29)');
      assert.equal(dark.text, 'rgb(232, 234, 237)');
      assert.match(dark.address, /colours=cividis/);
      assert.match(dark.address, /theme=dark/);
      await screenshot(page, 'present-step-6-dark-cividis');
      // A reload (or the copied address) opens the same look.
      await page.reload();
      await ready(page);
      await figuresDrawn(page, FIGURE_STEPS[6]);
      assert.equal(await page.inputValue('#qk-colour-scale'), 'cividis');
      assert.equal(await page.getAttribute('#qk-theme', 'aria-pressed'), 'true');
      const reloaded = await scaleCounts(page);
      assert.ok(reloaded.cividis > 2000 && reloaded.viridis < reloaded.cividis / 20, `after reload: ${JSON.stringify(reloaded)}`);
    });
  });

  test('phones: nothing scrolls sideways, in the lab and the guided lab', { timeout: 180_000 }, async () => {
    await withServedPage(browser(), async (srv, page) => {
      for (const [w, h] of [[360, 740], [390, 844]]) {
        await page.setViewportSize({ width: w, height: h });
        await page.goto(url(srv, ''));
        await ready(page);
        await page.waitForTimeout(300);
        assert.ok((await overflow(page)) <= 0, `lab at ${w}px: ${await overflow(page)} px wider`);
        await screenshot(page, `phone-${w}-lab`);
        for (const n of [3, 6, 8]) {
          await page.goto(url(srv, `&mode=lecture&step=${n}`));
          await ready(page);
          if (FIGURE_STEPS[n]) await figuresDrawn(page, FIGURE_STEPS[n]);
          assert.ok((await overflow(page)) <= 0, `lecture step ${n} at ${w}px: ${await overflow(page)} px wider`);
          await screenshot(page, `phone-${w}-step-${n}`);
        }
      }
    });
  });
});

describe('accessibility', () => {
  const browser = sharedBrowser();
  const AXE = path.join(path.dirname(new URL(import.meta.url).pathname), 'node_modules', 'axe-core', 'axe.min.js');

  /** axe-core's WCAG 2.1 A and AA rules on the page as it is now. */
  async function violations(page) {
    await page.addScriptTag({ path: AXE });
    return page.evaluate(async () => {
      const r = await window.axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] } });
      return r.violations.map((v) => `${v.id} (${v.impact}): ${v.help} — ${v.nodes.slice(0, 3).map((n) => n.target.join(' ')).join(', ')}`);
    });
  }

  test('axe-core finds no WCAG 2.1 A/AA violation in the lab, the guided lab and presenter mode, light and dark', { timeout: 180_000 }, async (t) => {
    await withServedPage(browser(), async (srv, page) => {
      await page.setViewportSize({ width: 1280, height: 900 });
      for (const query of ['', '&mode=lecture&step=6', '&mode=lecture&step=8&present=1', '&theme=dark', '&mode=lecture&step=8&present=1&theme=dark&colours=cividis']) {
        await page.goto(url(srv, query));
        await ready(page);
        await page.waitForTimeout(300);
        const found = await violations(page);
        t.diagnostic(`${query || 'lab'}: ${found.length} violation(s)`);
        assert.deepEqual(found, [], `${query || 'lab'}:\n${found.join('\n')}`);
      }
    });
  });
});

describe('the class view', () => {
  const browser = sharedBrowser();

  test('students\' result files side by side, with their numbers', { timeout: 180_000 }, async () => {
    await withServedPage(browser(), async (srv, page) => {
      await page.goto(url(srv, ''));
      const l3 = await ready(page);
      // A second "student": the same lab at layer 1 (a live run).
      await page.fill('#qk-layer', '1');
      await page.waitForFunction(() => JSON.parse(document.querySelector('#qk-result').textContent).layer === 1, null, { timeout: RESULT_TIMEOUT_MS });
      const l1 = JSON.parse(await page.textContent('#qk-result'));
      await page.click('#qk-class summary');
      await page.setInputFiles('#qk-class-files', [
        { name: 'ada.json', mimeType: 'application/json', buffer: Buffer.from(JSON.stringify(l3)) },
        { name: 'bo.json', mimeType: 'application/json', buffer: Buffer.from(JSON.stringify(l1)) },
        { name: 'broken.json', mimeType: 'application/json', buffer: Buffer.from('{"not": "a result"}') },
      ]);
      await page.waitForSelector('#qk-class-table tbody tr');
      const rows = await page.$$eval('#qk-class-table tbody tr', (trs) => trs.map((tr) => [...tr.children].map((c) => c.textContent.trim())));
      assert.equal(rows.length, 2);
      assert.deepEqual(rows.map((r) => [r[0], r[2]]), [['ada', '3'], ['bo', '1']]);
      assert.equal(rows[0][5], l3.q.selectivity.toFixed(3));
      assert.equal(rows[1][6], l1.k.selectivity.toFixed(3));
      assert.equal(rows[1][7], l1.rsa.r.toFixed(3));
      assert.match(await page.textContent('#qk-class'), /broken\.json: not a QK Lens result/);
      await page.locator('#qk-class').screenshot({ path: path.join(path.dirname(new URL(import.meta.url).pathname), '..', '..', 'target', 'e2e-screenshots', 'class-view.png') });
    });
  });
});

describe('a phone with a touch screen', () => {
  const browser = sharedBrowser();

  test('a tap on a heatmap cell names the pair and its similarities, as hovering does', { timeout: 120_000 }, async () => {
    const { serve } = await import('./harness.mjs');
    const srv = await serve();
    const context = await browser().newContext({ viewport: { width: 390, height: 844 }, hasTouch: true, isMobile: true });
    try {
      const page = await context.newPage();
      await page.goto(url(srv, ''));
      const res = await ready(page);
      await page.locator('#qk-heatmap-q').scrollIntoViewIfNeeded();
      const box = await page.locator('#qk-heatmap-q').boundingBox();
      await page.tap('#qk-heatmap-q', { position: { x: box.width * 0.62, y: box.height * 0.35 } });
      await page.waitForFunction(() => document.querySelector('#qk-pair')?.textContent.includes('×'), null, { timeout: 5000 });
      const text = (await page.textContent('#qk-pair')).trim();
      const m = /^(\w+) × (\w+): Q (-?\d\.\d{4}), K (-?\d\.\d{4})$/.exec(text);
      assert.ok(m, text);
      const words = res.words.map((w) => w.word);
      const [i, j] = [words.indexOf(m[1]), words.indexOf(m[2])];
      assert.equal(Number(m[3]), Number(res.q.cosine[i][j].toFixed(4)));
      await screenshot(page, 'phone-tap');
    } finally {
      await context.close();
      await srv.stop();
    }
  });
});

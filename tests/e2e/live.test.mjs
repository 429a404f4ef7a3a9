// The live lab in the page: once a model has run, every edit runs by itself with the model
// resident (no Run), reads and packs only what no earlier run did, and never shows a mix of
// two runs' numbers.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import {
  EXPERIMENTS,
  TOL_COSINE,
  TOL_SCALAR,
  assertClose,
  assertClose2d,
  GOLDEN,
  RESULT_TIMEOUT_MS,
  checkResult,
  readJson,
  screenshot,
  sharedBrowser,
  sharesCome,
  waitForOutcome,
  withServedPage,
} from './harness.mjs';

const MODEL = 'tiny-gpt2-hub';
const LECTURE = readJson(path.join(EXPERIMENTS, 'lecture-L3.json'));
const words = (exp, i) => exp.categories[i].words;

/** The result, summary and every figure on the page right now, with the run each shows. */
const shown = (page) =>
  page.evaluate(() => {
    const r = document.querySelector('#qk-result');
    const canvases = [...document.querySelectorAll('canvas[data-run-id]')];
    return {
      result: r ? JSON.parse(r.textContent) : null,
      resultTag: r?.dataset.runId,
      summary: document.querySelector('#qk-summary')?.dataset.runId,
      figures: canvases.map((c) => c.dataset.runId),
      error: document.querySelector('#qk-error')?.textContent.trim() || null,
    };
  });

/** Waits until #qk-result holds a result whose experiment satisfies `pred`; returns it. */
async function resultWhere(page, pred, what) {
  const deadline = Date.now() + RESULT_TIMEOUT_MS;
  for (;;) {
    const s = await shown(page);
    if (s.result && pred(s.result)) return s.result;
    assert.ok(!s.error, `${what}: the page shows an error: ${s.error}`);
    assert.ok(Date.now() < deadline, `${what}: no such result; last: ${JSON.stringify(s.result?.experiment)}`);
    await page.waitForTimeout(50);
  }
}

async function setWords(page, i, list) {
  await page.fill(`.category[data-category="${i}"] textarea.words`, list.join(', '));
}

/**
 * Types "wall" out of interior and "mango" into fruit (the golden of the edited lecture) and
 * waits for the live run's result; returns the edited experiment and that result.
 */
async function editWallMango(page) {
  const edited = JSON.parse(JSON.stringify(LECTURE));
  edited.categories[1].words = words(LECTURE, 1).filter((w) => w !== 'wall');
  edited.categories[2].words = [...words(LECTURE, 2), 'mango'];
  await setWords(page, 1, words(edited, 1));
  await setWords(page, 2, words(edited, 2));
  const res = await resultWhere(page, (r) => r.experiment.categories[2].words.includes('mango') &&
    !r.experiment.categories[1].words.includes('wall'), 'the edited experiment');
  return { edited, res };
}

describe('the live lab', () => {
  const browser = sharedBrowser();

  test('an edit redraws without Run, with the model resident, and equals PyTorch', { timeout: 240_000 }, async (t) => {
    await withServedPage(browser(), async (srv, page) => {
      await page.goto(`${srv.url}/?model=/models/${MODEL}/&exp=${encodeURIComponent(JSON.stringify(LECTURE))}&run=1`);
      const first = await waitForOutcome(page, RESULT_TIMEOUT_MS);
      assert.equal(first.kind, 'result', first.text);
      assert.equal(JSON.parse(first.text).stats.model_resident, false);
      const weightRequests = () => srv.requests.filter((r) => r.path.endsWith('/model.safetensors')).length;
      const before = weightRequests();

      const { edited, res } = await editWallMango(page);
      await screenshot(page, 'live-edited');
      checkResult(res, readJson(path.join(GOLDEN, `${MODEL}.edited.L3.json`)), edited, 3);
      const s = res.stats;
      t.diagnostic(`edit: ${JSON.stringify(s)}`);
      assert.equal(s.model_resident, true);
      assert.equal(s.tensors_packed, 0, 'nothing packed again');
      assert.ok(s.prompts_forwarded <= 1, `prompts forwarded: ${s.prompts_forwarded}`);
      // At most mango's embedding row (n_embd floats) was read, from the network or storage.
      assert.ok(s.weight_bytes_read <= 4 * res.model.n_embd, `weight bytes read: ${s.weight_bytes_read}`);
      assert.ok(weightRequests() - before <= 1, `weight requests for the edit: ${weightRequests() - before}`);
      // That row was read while the page waited for the pause in typing, not after it.
      assert.equal(s.weights_read_ahead, true, 'the new word\'s row was read ahead');
      // And its prompt's forward ran then too: the run after the pause found it done.
      assert.equal(s.prompts_forwarded_ahead, 1, 'mango\'s prompt was forwarded ahead');
      assert.equal(s.forward_ms, 0, 'no forward left for the run itself');
      const tags = await shown(page);
      assert.ok(tags.figures.length >= 4, `figures with a run id: ${tags.figures.length}`);
      for (const tag of [tags.resultTag, tags.summary, ...tags.figures]) assert.equal(tag, String(s.run_id));

      // Removing a word: no forward at all.
      const fewer = words(edited, 2).filter((w) => w !== 'lime');
      await setWords(page, 2, fewer);
      const removed = await resultWhere(page, (r) => !r.experiment.categories[2].words.includes('lime'), 'lime removed');
      assert.equal(removed.stats.prompts_forwarded, 0, 'removing a word runs no forward');
      assert.equal(removed.stats.weight_bytes_read, 0);

      // The layer slider down: every layer below was captured on the way up.
      await page.fill('#qk-layer', '1');
      const lower = await resultWhere(page, (r) => r.layer === 1, 'layer 1');
      assert.equal(lower.stats.prompts_forwarded, 0, 'a lower layer runs no forward');
      assert.equal(lower.stats.weight_bytes_read, 0);
    });
  });

  test('after a reload the engine parses no tokenizer: ids remembered, then the page\'s encodings', { timeout: 240_000 }, async (t) => {
    await withServedPage(browser(), async (srv, page) => {
      const url = `${srv.url}/?model=/models/${MODEL}/&exp=${encodeURIComponent(JSON.stringify(LECTURE))}&run=1`;
      await page.goto(url);
      const first = JSON.parse((await waitForOutcome(page, RESULT_TIMEOUT_MS)).text);
      assert.equal(first.stats.tokenizer_parsed, true, 'a first visit parses tokenizer.json');
      // The page's own tokenizer is there once the words show as one token each.
      await page.waitForSelector('.category[data-category="2"] .chip.one', { timeout: 30_000 });
      await page.reload();
      const again = JSON.parse((await waitForOutcome(page, RESULT_TIMEOUT_MS)).text);
      t.diagnostic(`reload: ${JSON.stringify(again.stats)}`);
      assert.equal(again.stats.tokenizer_parsed, false, 'the reload encodes from the remembered ids');
      checkResult(again, readJson(path.join(GOLDEN, `${MODEL}.L3.json`)), LECTURE, 3);
      // A word no run of this engine encoded: the page's tokenizer (the same file) sends its ids.
      await page.waitForSelector('.category[data-category="2"] .chip.one', { timeout: 30_000 });
      const { edited, res } = await editWallMango(page);
      t.diagnostic(`edit: ${JSON.stringify(res.stats)}`);
      assert.equal(res.stats.tokenizer_parsed, false, "the new word's ids came from the page");
      assert.equal(res.stats.model_resident, true);
      checkResult(res, readJson(path.join(GOLDEN, `${MODEL}.edited.L3.json`)), edited, 3);
    });
  });

  test('typing quickly never shows a mix of two runs', { timeout: 240_000 }, async (t) => {
    await withServedPage(browser(), async (srv, page) => {
      await page.goto(`${srv.url}/?model=/models/${MODEL}/&exp=${encodeURIComponent(JSON.stringify(LECTURE))}&run=1`);
      assert.equal((await waitForOutcome(page, RESULT_TIMEOUT_MS)).kind, 'result');
      const box = `.category[data-category="2"] textarea.words`;
      await page.click(box);
      await page.press(box, 'End');
      // Besides samples between tasks: what the page shows at the end of every task that
      // changed it (a MutationObserver's callback runs then, before any frame is painted), on a
      // CPU slowed down so that Yew's renders outlast its 16 ms slice and it yields to the
      // browser between tasks.
      await page.evaluate(() => {
        const tags = () => ({
          result: document.querySelector('#qk-result')?.dataset.runId,
          summary: document.querySelector('#qk-summary')?.dataset.runId,
          figures: [...document.querySelectorAll('canvas')].map((c) => c.dataset.runId),
        });
        window.__qkTags = [];
        new MutationObserver(() => window.__qkTags.push(tags())).observe(document.body, {
          subtree: true,
          childList: true,
          attributes: true,
          characterData: true,
        });
      });
      const cdp = await page.context().newCDPSession(page);
      await cdp.send('Emulation.setCPUThrottlingRate', { rate: 6 });
      let sampling = true;
      const samples = [];
      const sampler = (async () => {
        while (sampling) {
          samples.push(await shown(page));
          await page.waitForTimeout(15);
        }
      })();
      await page.type(box, ', kiwi, plum, fig', { delay: 40 });
      const last = await resultWhere(page, (r) => r.experiment.categories[2].words.includes('fig'), 'typed words');
      await page.waitForTimeout(300);
      sampling = false;
      await sampler;
      await cdp.send('Emulation.setCPUThrottlingRate', { rate: 1 });
      const ends = await page.evaluate(() => window.__qkTags);
      const runs = new Set(samples.map((x) => x.result?.stats.run_id));
      t.diagnostic(`${samples.length} samples over ${runs.size} runs: ${[...runs].join(' ')}; ${ends.length} task ends`);
      for (const x of ends) {
        assert.equal(x.summary, x.result, 'the summary at the end of a task');
        x.figures.forEach((f, i) => assert.equal(f, x.result, `figure ${i} at the end of a task: run ${f} beside result ${x.result}`));
      }
      assert.ok(new Set(ends.map((x) => x.result)).size >= 2, 'the task ends saw the typed words run');
      for (const x of samples) {
        const id = String(x.result.stats.run_id);
        assert.equal(x.resultTag, id, 'the result element');
        assert.equal(x.summary, id, 'the summary');
        x.figures.forEach((f, i) => assert.equal(f, id, `figure ${i} shows run ${f} beside result ${id}`));
      }
      assert.deepEqual(words(last.experiment, 2), [...words(LECTURE, 2), 'kiwi', 'plum', 'fig']);
      assert.ok(last.stats.run_id > 1, 'the typed words ran live');
    });
  });

  test('a failed download and Cancel while live: the last whole result stays, nothing typed is lost, the next edit runs', { timeout: 240_000 }, async () => {
    await withServedPage(browser(), async (srv, page) => {
      await page.goto(`${srv.url}/?model=/models/${MODEL}/&exp=${encodeURIComponent(JSON.stringify(LECTURE))}&run=1`);
      const first = await waitForOutcome(page, RESULT_TIMEOUT_MS);
      assert.equal(first.kind, 'result', first.text);
      const fruit = '.category[data-category="2"] textarea.words';
      const unchangedSince = async (tag, what) => {
        const now = await shown(page);
        assert.equal(now.resultTag, tag, `${what}: the last whole result stays`);
        assert.ok(now.figures.every((f) => f === tag), `${what}: figures ${now.figures}`);
      };

      // The server fails a new word's embedding row: the page says so and keeps the text.
      let tag = (await shown(page)).resultTag;
      srv.options.fail = { status: 404, times: 1000, path: 'model.safetensors' };
      await setWords(page, 2, [...words(LECTURE, 2), 'plum']);
      await page.waitForFunction(() => document.querySelector('#qk-error')?.textContent.trim(), null, { timeout: 60_000 });
      assert.match(await page.textContent('#qk-error'), /404/);
      await unchangedSince(tag, 'after the error');
      assert.match(await page.inputValue(fruit), /plum/, 'the typed word is kept');

      // The fault cleared, the next edit runs live with the model still resident (the failed
      // download changed nothing held), and equals a fresh run of the same experiment.
      srv.options.fail = null;
      await setWords(page, 2, [...words(LECTURE, 2), 'plum', 'kiwi']);
      // The error stays until the next run starts (after the typing pause).
      await page.waitForFunction(() => !document.querySelector('#qk-error')?.textContent.trim(), null, { timeout: 20_000 });
      const live = await resultWhere(page, (r) => r.experiment.categories[2].words.includes('kiwi'), 'kiwi added');
      assert.equal(live.stats.model_resident, true, 'the model stays resident after a failed download');
      // Only the new words' embedding rows (a word may be a few tokens), nothing packed again.
      assert.ok(live.stats.weight_bytes_read <= 8 * 4 * live.model.n_embd, `bytes read: ${live.stats.weight_bytes_read}`);
      assert.equal(live.stats.tensors_packed, 0);
      const fresh = await page.context().newPage();
      try {
        await fresh.goto(`${srv.url}/?model=/models/${MODEL}/&exp=${encodeURIComponent(JSON.stringify(live.experiment))}&run=1`);
        const o = await waitForOutcome(fresh, RESULT_TIMEOUT_MS);
        assert.equal(o.kind, 'result', o.text);
        const want = JSON.parse(o.text);
        assertClose2d(live.q.cosine, want.q.cosine, TOL_COSINE, 'Q cosines, live vs fresh');
        assertClose2d(live.k.cosine, want.k.cosine, TOL_COSINE, 'K cosines, live vs fresh');
        assertClose(live.rsa.r, want.rsa.r, TOL_SCALAR, 'RSA r, live vs fresh');
      } finally {
        await fresh.close();
      }

      // A slow server, and Cancel during a live run: never a partial result, the text kept.
      tag = (await shown(page)).resultTag;
      srv.options.delayMs = 3000;
      await setWords(page, 2, [...words(LECTURE, 2), 'plum', 'kiwi', 'mango']);
      await page.waitForSelector('#qk-cancel', { timeout: 20_000 });
      await page.click('#qk-cancel');
      await page.waitForSelector('#qk-cancelled', { timeout: 20_000 });
      await unchangedSince(tag, 'after Cancel');
      assert.ok(!(await shown(page)).result.experiment.categories[2].words.includes('mango'), 'never a partial result');
      assert.match(await page.inputValue(fruit), /kiwi, mango/, 'the typed word is kept');

      // And the next edit runs (Cancel stopped the engine: it starts again, from the cache).
      srv.options.delayMs = 0;
      await setWords(page, 2, [...words(LECTURE, 2), 'plum', 'kiwi', 'mango', 'melon']);
      const after = await resultWhere(page, (r) => r.experiment.categories[2].words.includes('melon'), 'melon added');
      assert.ok(after.stats.bytes_downloaded <= 12 * 4 * after.model.n_embd, `downloaded: ${after.stats.bytes_downloaded}`);
    });
  });

  test('the second worker failing in a live edit leaves the edit to one worker, right and noted', { timeout: 240_000 }, async (t) => {
    await withServedPage(browser(), async (srv, page) => {
      // Run 3 carries the fault: the second worker panics at its forward.
      await page.goto(`${srv.url}/?model=/models/${MODEL}/&exp=${encodeURIComponent(JSON.stringify(LECTURE))}&run=1&fault=panic-peer&fault_run=3`);
      const first = JSON.parse((await waitForOutcome(page, RESULT_TIMEOUT_MS)).text);
      assert.equal(first.stats.forward_ranks, 2, 'two workers before the fault');
      // Run 2 removes "wall" (no forward); run 3 adds "mango" (one prompt forwarded).
      const edited = JSON.parse(JSON.stringify(LECTURE));
      edited.categories[1].words = words(LECTURE, 1).filter((w) => w !== 'wall');
      edited.categories[2].words = [...words(LECTURE, 2), 'mango'];
      await setWords(page, 1, words(edited, 1));
      const removed = await resultWhere(page, (r) => !r.experiment.categories[1].words.includes('wall'), 'wall removed');
      assert.equal(removed.stats.run_id, 2);
      await setWords(page, 2, words(edited, 2));
      const res = await resultWhere(page, (r) => r.experiment.categories[2].words.includes('mango'), 'mango added');
      t.diagnostic(`edit: ${JSON.stringify(res.stats)}`);
      assert.equal(res.stats.run_id, 3);
      assert.equal(res.stats.forward_ranks, 1);
      assert.ok(res.notes.some((n) => /second worker failed/.test(n)), JSON.stringify(res.notes));
      checkResult(res, readJson(path.join(GOLDEN, `${MODEL}.edited.L3.json`)), edited, 3);
      // The engine goes on alone: back to the lecture's words, right too.
      await setWords(page, 1, words(LECTURE, 1));
      await setWords(page, 2, words(LECTURE, 2));
      const back = await resultWhere(page, (r) => !r.experiment.categories[2].words.includes('mango') &&
        r.experiment.categories[1].words.includes('wall'), 'the lecture again');
      assert.equal(back.stats.forward_ranks ?? 1, 1);
      checkResult(back, readJson(path.join(GOLDEN, `${MODEL}.L3.json`)), LECTURE, 3);
    });
  });

  test('a model switch drops the old model with its engine worker', { timeout: 240_000 }, async () => {
    await withServedPage(browser(), async (srv, page) => {
      // Engine workers started: each loads the worker's loader (the second worker's has ?rank=1).
      const engines = () => srv.requests.filter((r) => r.url === '/worker_loader.js').length;
      await page.goto(`${srv.url}/?model=/models/${MODEL}/&exp=${encodeURIComponent(JSON.stringify(LECTURE))}&run=1`);
      const a = JSON.parse((await waitForOutcome(page, RESULT_TIMEOUT_MS)).text);
      const first = engines();
      assert.ok(first >= 1, 'the engine loaded its script from the server');
      // Another model waits for Run (it downloads); then nothing of the first stays held.
      await page.fill('#qk-model', `${srv.url}/models/tiny-gpt2-hub-fp16/`);
      await page.waitForTimeout(400);
      assert.equal((await shown(page)).result.stats.run_id, a.stats.run_id, 'no live run for a model switch');
      await page.click('#qk-run');
      const b = await resultWhere(page, (r) => r.stats.run_id > a.stats.run_id, 'the fp16 model');
      assert.equal(b.stats.model_resident, false);
      // Wasm memory never shrinks: the first model's goes back to the system with its worker.
      assert.equal(engines(), first + 1, 'another model runs in a new engine worker');
      assert.ok(b.stats.wasm_memory_bytes < a.stats.wasm_memory_bytes, `memory ${b.stats.wasm_memory_bytes} after the switch, ${a.stats.wasm_memory_bytes} before`);
      await page.fill('#qk-model', `${srv.url}/models/${MODEL}/`);
      await page.click('#qk-run');
      const again = await resultWhere(page, (r) => r.stats.run_id > b.stats.run_id, 'back to the first model');
      assert.equal(again.stats.model_resident, false);
      assert.equal(again.stats.resident_weight_bytes, a.stats.resident_weight_bytes, 'the same model holds the same bytes');
      assert.equal(engines(), first + 2, 'and back: a new engine worker again');
    });
  });
  test('a reload with stored packed weights packs nothing, a damaged share is packed again, and the numbers equal PyTorch', { timeout: 240_000 }, async (t) => {
    await withServedPage(browser(), async (srv, page) => {
      const url = `${srv.url}/?model=/models/${MODEL}/&exp=${encodeURIComponent(JSON.stringify(LECTURE))}&run=1`;
      const golden = readJson(path.join(GOLDEN, `${MODEL}.L3.json`));
      await page.goto(url);
      const first = await waitForOutcome(page, RESULT_TIMEOUT_MS);
      assert.equal(first.kind, 'result', first.text);
      const s1 = JSON.parse(first.text).stats;
      t.diagnostic(`first: ${JSON.stringify(s1)}`);
      // Layer 3: blocks 0-2 (4 Conv1Ds each) and block 3's c_attn, on each of two workers.
      assert.equal(s1.forward_ranks, 2);
      assert.equal(s1.tensors_packed, 13);
      assert.equal(s1.tensors_from_store, undefined);
      // Each worker writes its shares once the result is out: 13 files each.
      const expected = 2 * s1.tensors_packed;
      await sharesCome(page, expected);

      await page.reload();
      const again = await waitForOutcome(page, RESULT_TIMEOUT_MS);
      assert.equal(again.kind, 'result', again.text);
      const res = JSON.parse(again.text);
      t.diagnostic(`reload: ${JSON.stringify(res.stats)}`);
      checkResult(res, golden, LECTURE, 3);
      assert.equal(res.stats.tensors_packed, 0, 'a reload packs nothing');
      assert.equal(res.stats.tensors_from_store, 13);
      // Only embedding rows, positions, layer norms (the Conv1Ds' biases are stored with them).
      assert.ok(res.stats.weight_bytes_read < s1.weight_bytes_read / 5,
        `bytes read: ${res.stats.weight_bytes_read} of ${s1.weight_bytes_read}`);

      // A share cut short (a write the tab's closing interrupted) is packed again, alone.
      const cut = await page.evaluate(async (prefix) => {
        const top = await (await navigator.storage.getDirectory()).getDirectoryHandle('qk-lens-packed');
        for await (const [, folder] of top.entries()) {
          for await (const [name, file] of folder.entries()) {
            if (!name.startsWith(prefix)) continue;
            const size = (await file.getFile()).size;
            const w = await file.createWritable({ keepExistingData: true });
            await w.truncate(size - 4);
            await w.close();
            return name;
          }
        }
        return null;
      }, 'h.1.mlp.c_fc.rank1of2');
      assert.ok(cut, 'a share to cut');
      await page.reload();
      const third = await waitForOutcome(page, RESULT_TIMEOUT_MS);
      assert.equal(third.kind, 'result', third.text);
      const res3 = JSON.parse(third.text);
      checkResult(res3, golden, LECTURE, 3);
      assert.equal(res3.stats.tensors_packed, 1, 'only the damaged Conv1D is packed again');
      assert.equal(res3.stats.tensors_from_store, 12);

      // The second worker fails after taking its stored halves: the engine, alone, reads and
      // packs everything itself (halves do not make a whole) and is still right.
      await page.goto(`${url}&fault=panic-peer`);
      const alone = await waitForOutcome(page, RESULT_TIMEOUT_MS);
      assert.equal(alone.kind, 'result', alone.text);
      const res4 = JSON.parse(alone.text);
      t.diagnostic(`second worker failed: ${JSON.stringify(res4.stats)}`);
      checkResult(res4, golden, LECTURE, 3);
      assert.equal(res4.stats.forward_ranks, 1);
      assert.equal(res4.stats.tensors_from_store, 13, 'the store was asked before the failure');
      assert.equal(res4.stats.tensors_packed, 13, 'then the engine alone packed every Conv1D whole');
      assert.ok(res4.stats.weight_bytes_read >= s1.weight_bytes_read, `bytes read: ${res4.stats.weight_bytes_read}`);
      assert.ok(res4.notes.some((n) => /second worker failed/.test(n)), JSON.stringify(res4.notes));

      // The storage panel counts the packed files (26 halves, and the 13 wholes the engine
      // alone kept) and frees them with the rest.
      await sharesCome(page, 39);
      await page.fill('#qk-layer', '1'); // a live run: the panel refreshes after it
      await resultWhere(page, (r) => r.layer === 1, 'layer 1');
      await page.click('.cache-panel summary');
      await page.waitForFunction(() => /in 39 files/.test(document.querySelector('#qk-packed')?.textContent ?? ''), null, { timeout: 10_000 });
      await page.locator('.cache-panel').scrollIntoViewIfNeeded();
      await screenshot(page, 'storage-panel-packed');
      await page.click('#qk-cache-clear');
      await sharesCome(page, 0);
      await page.waitForFunction(() => !document.querySelector('#qk-packed'), null, { timeout: 10_000 });
    });
  });
});

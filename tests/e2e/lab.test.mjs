// End-to-end tests of the lab's page as a teacher uses it: editing the experiment in the UI,
// the cache and offline use, share links, import/export, and local model files.
// Each test serves the built site (dist/) and the fixture models on 127.0.0.1.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import {
  EXPERIMENTS,
  GOLDEN,
  MODELS,
  RESULT_TIMEOUT_MS,
  checkResult,
  sharedBrowser,
  openPage,
  readJson,
  screenshot,
  waitForOutcome,
  withDiagnostics,
  serve,
  withServedPage,
} from './harness.mjs';

const MODEL = 'tiny-gpt2-hub';

const weightRequests = (srv, since) => srv.requests.slice(since).filter((r) => r.path.endsWith('/model.safetensors'));
const sentBytes = (reqs) => reqs.reduce((s, r) => s + r.bytes, 0);

async function result(page, name) {
  const outcome = await waitForOutcome(page, RESULT_TIMEOUT_MS);
  if (name) await screenshot(page, name);
  assert.equal(outcome.kind, 'result', outcome.text);
  return JSON.parse(outcome.text);
}

async function setWords(page, i, text) {
  await page.fill(`.category[data-category="${i}"] textarea.words`, text);
}

describe('the lab in the page', () => {
  const browser = sharedBrowser();

  test('editing words and layer in the UI gives the oracle numbers', { timeout: 180_000 }, async () => {
    await withServedPage(browser(), async (srv, page) => {
      await page.goto(`${srv.url}/?model=/models/${MODEL}/`);
      await page.waitForSelector('.category[data-category="2"] textarea.words');
      await page.fill('#qk-layer', '1');
      await setWords(page, 0, 'galaxy, asteroid, comet, moon');
      await setWords(page, 1, 'sofa');
      await setWords(page, 2, 'pear, grape, banana, apple');
      // Each word shows its tokens as it is typed.
      await page.waitForSelector('.category[data-category="1"] .chip.one');
      await page.click('#qk-run');
      const res = await result(page, 'ui-edited-single');
      const golden = readJson(path.join(GOLDEN, `${MODEL}.single.L1.json`));
      const experiment = { categories: [
        { name: 'space', words: ['galaxy', 'asteroid', 'comet', 'moon'] },
        { name: 'interior', words: ['sofa'] },
        { name: 'fruit', words: ['pear', 'grape', 'banana', 'apple'] },
      ] };
      checkResult(res, golden, experiment, 1);
      assert.equal(res.q.within_means[1].mean, null, 'a one-word category has no within mean');
      assert.ok(res.notes.some((n) => n.includes('interior') && n.includes('one word')), JSON.stringify(res.notes));
      assert.match(await page.textContent('#qk-summary'), /interior: r = —/);
    });
  });

  test('a second visit downloads nothing, and the app works with the server stopped', { timeout: 240_000 }, async (t) => {
    await withServedPage(browser(), async (srv, page) => {
    const exp = JSON.stringify(readJson(path.join(EXPERIMENTS, 'lecture-L1.json')));
    const url = `${srv.url}/?model=/models/${MODEL}/&exp=${encodeURIComponent(exp)}&run=1`;
    const golden = readJson(path.join(GOLDEN, `${MODEL}.L1.json`));
    const experiment = readJson(path.join(EXPERIMENTS, 'lecture-L1.json'));
      await page.goto(url);
      checkResult(await result(page), golden, experiment, 1);
      // The service worker is in charge and the shell is kept for offline use.
      const shellFiles = await page.evaluate(async () => {
        await navigator.serviceWorker.ready;
        for (let i = 0; i < 50 && !navigator.serviceWorker.controller; i++) await new Promise((r) => setTimeout(r, 100));
        const keys = await (await caches.open('qk-lens-shell-v1')).keys();
        return keys.map((k) => new URL(k.url).pathname);
      });
      t.diagnostic(`shell cache: ${shellFiles.join(' ')}`);
      assert.ok(shellFiles.some((f) => /^\/worker-[0-9a-f]{8,16}_bg\.wasm$/.test(f)) && shellFiles.includes('/'), `shell cached: ${shellFiles}`);

      const first = srv.requests.length;
      await page.reload();
      checkResult(await result(page), golden, experiment, 1);
      const again = srv.requests.slice(first).filter((r) => r.path.startsWith('/models/'));
      assert.equal(sentBytes(weightRequests(srv, first)), 0, 'no weight bytes on the second visit');
      assert.deepEqual(again.map((r) => r.path), [], 'no model file requested at all on the second visit');

      await srv.stop();
      await page.reload();
      const offline = await result(page, 'offline');
      checkResult(offline, golden, experiment, 1);
      // The second worker started offline too (its script from the shell), not a fallback.
      assert.equal(offline.stats.forward_ranks, 2, `offline forward on ${offline.stats.forward_ranks} worker(s): ${offline.notes}`);
    });
  });

  test('a share link restores the experiment and the model exactly', { timeout: 180_000 }, async () => {
    const srv = await serve();
    const a = await openPage(browser());
    const b = await openPage(browser());
    try {
      await withDiagnostics([...a.logs, ...b.logs], () => srv.requests, async () => {
        await a.page.goto(`${srv.url}/?model=/models/${MODEL}/`);
        await a.page.waitForSelector('#qk-template');
        await a.page.fill('#qk-layer', '3');
        await a.page.fill('#qk-template', 'My word: {word}');
        await a.page.fill('.category[data-category="0"] input.name', 'cosmos & stars');
        await setWords(a.page, 0, 'galaxy, comet, watermelon');
        await a.page.click('#qk-share');
        const link = await a.page.inputValue('#qk-share-url');
        assert.ok(link.startsWith(`${srv.url}/?`), link);
        await b.page.goto(link);
        await b.page.waitForSelector('.category[data-category="0"] textarea.words');
        assert.equal(await b.page.inputValue('#qk-layer'), '3');
        assert.equal(await b.page.inputValue('#qk-template'), 'My word: {word}');
        assert.equal(await b.page.inputValue('.category[data-category="0"] input.name'), 'cosmos & stars');
        assert.equal(await b.page.inputValue('.category[data-category="0"] textarea.words'), 'galaxy, comet, watermelon');
        assert.equal(await b.page.inputValue('.category[data-category="2"] textarea.words'),
          'pear, grape, banana, cherry, peach, apple, seed, jelly, orange, lime, fruit');
        assert.equal(await b.page.inputValue('#qk-model'), `${srv.url}/models/${MODEL}/`);
        await b.page.click('#qk-run');
        const res = await result(b.page, 'shared-link');
        assert.equal(res.layer, 3);
        assert.equal(res.experiment.template, 'My word: {word}');
        assert.equal(res.words[2].word, 'watermelon');
        assert.equal(res.words[2].single_token, false, 'watermelon is two tokens');
      });
    } finally {
      await a.context.close();
      await b.context.close();
      await srv.stop();
    }
  });

  test('export and import round-trip an experiment; a bad file says why and loses nothing', { timeout: 120_000 }, async () => {
    await withServedPage(browser(), async (srv, page) => {
      await page.goto(`${srv.url}/?model=/models/${MODEL}/`);
      await page.waitForSelector('#qk-export');
      await setWords(page, 1, 'sofa, lamp, rug');
      const [download] = await Promise.all([page.waitForEvent('download'), page.click('#qk-export')]);
      const exported = JSON.parse(fs.readFileSync(await download.path(), 'utf8'));
      assert.deepEqual(exported.categories[1], { name: 'interior', words: ['sofa', 'lamp', 'rug'] });
      assert.equal(exported.layer, 5);

      const changed = { ...exported, layer: 2, categories: [{ name: 'tools', words: ['hammer', 'saw'] }, exported.categories[0]] };
      await page.setInputFiles('#qk-import', { name: 'exp.json', mimeType: 'application/json', buffer: Buffer.from(JSON.stringify(changed)) });
      await page.waitForFunction(() => document.querySelector('.category[data-category="0"] input.name')?.value === 'tools');
      assert.equal(await page.inputValue('.category[data-category="0"] textarea.words'), 'hammer, saw');
      assert.equal(await page.inputValue('#qk-layer'), '2');

      await page.setInputFiles('#qk-import', { name: 'broken.json', mimeType: 'application/json', buffer: Buffer.from('{"categories": [') });
      await page.waitForSelector('#qk-experiment-error');
      assert.match(await page.textContent('#qk-experiment-error'), /import: experiment: invalid JSON/);
      assert.equal(await page.inputValue('.category[data-category="0"] textarea.words'), 'hammer, saw', 'nothing typed is lost');
    });
  });

  test('"Check it in Python" saves a notebook of the shown result, MODEL the folder it ran on', { timeout: 180_000 }, async () => {
    await withServedPage(browser(), async (srv, page) => {
      await page.goto(`${srv.url}/?model=/models/${MODEL}/&experiment=/experiments/four-categories-L2.json&run=1`);
      const shown = await result(page, 'notebook');
      const [download] = await Promise.all([page.waitForEvent('download'), page.click('#qk-export-notebook')]);
      assert.equal(download.suggestedFilename(), 'qk-lens-check-L2.ipynb');
      assert.equal(await page.textContent('#qk-export-notebook'), 'Check it in Python');
      const nb = JSON.parse(fs.readFileSync(await download.path(), 'utf8'));
      assert.equal(nb.nbformat, 4);
      const code = nb.cells.filter((c) => c.cell_type === 'code');
      assert.deepEqual(code[0].metadata.tags, ['parameters']);
      const params = code[0].source.join('');
      assert.ok(params.includes(`MODEL = "${srv.url}/models/${MODEL}/"`), params);
      assert.ok(params.includes('LAYER = 2\n'), params);
      // The result cell: json.loads('...') of the page's result, a Python literal to decode.
      const cell = code.find((c) => (c.metadata.tags ?? []).includes('page-result')).source.join('');
      const literal = cell.slice(cell.indexOf("json.loads('") + 12, cell.lastIndexOf("')"));
      const text = literal.replace(/\\(x[0-9a-f]{2}|u[0-9a-f]{4}|.)/g, (_, e) =>
        e.length > 1 ? String.fromCharCode(parseInt(e.slice(1), 16)) : ({ n: '\n', r: '\r', t: '\t' })[e] ?? e);
      assert.deepEqual(JSON.parse(text), shown, 'the notebook holds the shown result');
    });
  });

  test('model files from disk: the right result, and a bad file shows an error', { timeout: 180_000 }, async () => {
    await withServedPage(browser(), async (srv, page) => {
    const dir = path.join(MODELS, MODEL);
    const exp = JSON.stringify(readJson(path.join(EXPERIMENTS, 'lecture-L1.json')));
      await page.goto(`${srv.url}/?exp=${encodeURIComponent(exp)}`);
      await page.selectOption('#qk-model-choice', 'local');
      await page.setInputFiles('#qk-local-files', ['config.json', 'model.safetensors', 'tokenizer.json'].map((f) => path.join(dir, f)));
      await page.waitForFunction(() => /Using config.json/.test(document.querySelector('.model-picker')?.textContent ?? ''));
      const before = srv.requests.length;
      await page.click('#qk-run');
      const res = await result(page, 'local-files');
      checkResult(res, readJson(path.join(GOLDEN, `${MODEL}.L1.json`)), readJson(path.join(EXPERIMENTS, 'lecture-L1.json')), 1);
      assert.equal(weightRequests(srv, before).length, 0, 'nothing fetched from the server');

      await page.setInputFiles('#qk-local-files', [
        { name: 'config.json', mimeType: 'application/json', buffer: Buffer.from('{"model_type": "llama", "n_embd": 8}') },
        { name: 'model.safetensors', mimeType: 'application/octet-stream', buffer: fs.readFileSync(path.join(dir, 'model.safetensors')) },
      ]);
      const shown = await page.textContent('#qk-result');
      await page.click('#qk-run');
      // Wait for the error itself (waitForOutcome would return at once on the old #qk-result),
      // then check that the old result is still on screen, unchanged.
      await page.waitForFunction(() => document.querySelector('#qk-error')?.textContent.trim(), null, {
        timeout: RESULT_TIMEOUT_MS,
      });
      const error = await page.textContent('#qk-error');
      assert.match(error, /config\.json: model_type is "llama", not "gpt2"/, error);
      assert.ok(shown.trim(), 'a result was shown before the bad files');
      assert.equal(await page.textContent('#qk-result'), shown, 'the previous result is kept');

      await page.setInputFiles('#qk-local-files', [{ name: 'notes.txt', mimeType: 'text/plain', buffer: Buffer.from('hi') }]);
      await page.waitForSelector('#qk-model-error');
      assert.match(await page.textContent('#qk-model-error'), /config\.json is missing/);
    });
  });

  test('a custom folder shows its size and what the run downloads, before downloading it', { timeout: 180_000 }, async () => {
    await withServedPage(browser(), async (srv, page) => {
      const exp = JSON.stringify(readJson(path.join(EXPERIMENTS, 'lecture-L1.json')));
      await page.goto(`${srv.url}/?model=/models/${MODEL}/&exp=${encodeURIComponent(exp)}`);
      await page.waitForSelector('.category[data-category="1"] .chip.one');
      await page.click('#qk-check-model');
      await page.waitForFunction(() => /this run downloads/.test(document.querySelector('#qk-model-size')?.textContent ?? ''));
      const percent = async () => Number((await page.textContent('#qk-model-size')).match(/\((\d+\.\d) %\)/)[1]);
      const atL1 = await percent();
      assert.match(await page.textContent('#qk-model-size'), /4 layers, 4 heads/);
      await page.fill('#qk-layer', '3');
      await page.waitForFunction((p) => !document.querySelector('#qk-model-size').textContent.includes(`(${p} %)`), atL1.toFixed(1));
      const atL3 = await percent();
      assert.ok(atL1 < atL3 && atL3 < 100, `L1 ${atL1} %, L3 ${atL3} %`);
      await screenshot(page, 'custom-folder-size');
      const before = srv.requests.length;
      await page.click('#qk-run');
      const res = await result(page);
      const share = (100 * res.stats.bytes_downloaded) / res.stats.model_file_bytes;
      assert.ok(share >= atL3 - 0.1 && share <= atL3 + 10, `downloaded ${share} %, announced ${atL3} %`);
      // The check's header is cached: the run does not read it again.
      assert.ok(!weightRequests(srv, before).some((r) => r.range === 'bytes=0-7'), 'header read once');
    });
  });

  test('model files dropped on the model picker run like picked ones', { timeout: 180_000 }, async () => {
    await withServedPage(browser(), async (srv, page) => {
      const dir = path.join(MODELS, 'tiny-gpt2-hub-fp16');
      const exp = JSON.stringify(readJson(path.join(EXPERIMENTS, 'lecture-L1.json')));
      await page.goto(`${srv.url}/?exp=${encodeURIComponent(exp)}`);
      await page.waitForSelector('.model-picker');
      // Real File objects from disk (through a scratch input), dropped as a drag would drop them.
      await page.evaluate(() => {
        const input = Object.assign(document.createElement('input'), { type: 'file', multiple: true, id: 'scratch-files' });
        document.body.append(input);
      });
      await page.setInputFiles('#scratch-files', ['config.json', 'model.safetensors', 'tokenizer.json'].map((f) => path.join(dir, f)));
      await page.evaluate(() => {
        const dt = new DataTransfer();
        for (const f of document.querySelector('#scratch-files').files) dt.items.add(f);
        const target = document.querySelector('.model-picker');
        for (const type of ['dragover', 'drop']) {
          target.dispatchEvent(new DragEvent(type, { dataTransfer: dt, bubbles: true, cancelable: true }));
        }
      });
      await page.waitForFunction(() => /Using config.json/.test(document.querySelector('.model-picker')?.textContent ?? ''));
      const before = srv.requests.length;
      await page.click('#qk-run');
      const res = await result(page, 'dropped-files');
      checkResult(res, readJson(path.join(GOLDEN, 'tiny-gpt2-hub-fp16.L1.json')), readJson(path.join(EXPERIMENTS, 'lecture-L1.json')), 1);
      assert.equal(weightRequests(srv, before).length, 0, 'nothing fetched from the server');
    });
  });

  test('a slow download can be cancelled, then run again; the cache panel shows and frees what is stored', { timeout: 180_000 }, async () => {
    await withServedPage(browser(), async (srv, page) => {
    const exp = JSON.stringify(readJson(path.join(EXPERIMENTS, 'lecture-L3.json')));
      srv.options.delayMs = 1500;
      await page.goto(`${srv.url}/?model=/models/${MODEL}/&exp=${encodeURIComponent(exp)}`);
      await page.click('#qk-run');
      await page.waitForSelector('#qk-cancel');
      await page.click('#qk-cancel');
      await page.waitForSelector('#qk-cancelled');
      assert.equal(await page.$('#qk-result'), null, 'a cancelled run shows no result');
      assert.equal(await page.isEnabled('#qk-run'), true, 'Run is available again');

      srv.options.delayMs = 0;
      await page.click('#qk-run');
      const res = await result(page);
      checkResult(res, readJson(path.join(GOLDEN, `${MODEL}.L3.json`)), readJson(path.join(EXPERIMENTS, 'lecture-L3.json')), 3);

      await page.click('.cache-panel summary');
      await page.waitForSelector('#qk-cache-list');
      assert.match(await page.textContent('#qk-cache-list'), /models\/tiny-gpt2-hub\/model\.safetensors — \d+ kB in \d+ pieces/);
      await page.click('#qk-cache-clear');
      await page.waitForFunction(() => /Nothing stored yet/.test(document.querySelector('.cache-panel')?.textContent ?? ''));
      await screenshot(page, 'cache-cleared');
    });
  });

  test('hovering a heatmap cell or a scatter point names the pair and its similarities', { timeout: 120_000 }, async () => {
    await withServedPage(browser(), async (srv, page) => {
    const exp = JSON.stringify(readJson(path.join(EXPERIMENTS, 'lecture-L1.json')));
      await page.goto(`${srv.url}/?model=/models/${MODEL}/&exp=${encodeURIComponent(exp)}&run=1`);
      const res = await result(page);
      const words = res.words.map((w) => w.word);
      const check = async (what) => {
        const text = (await page.textContent('#qk-pair')).trim();
        const m = /^(\w+) × (\w+): Q (-?\d\.\d{4}), K (-?\d\.\d{4})$/.exec(text);
        assert.ok(m, `${what}: pair line is ${JSON.stringify(text)}`);
        const [i, j] = [words.indexOf(m[1]), words.indexOf(m[2])];
        assert.ok(i >= 0 && j >= 0 && i !== j, `${what}: ${text}`);
        assert.equal(Number(m[3]), Number(res.q.cosine[i][j].toFixed(4)), `${what}: Q value`);
        assert.equal(Number(m[4]), Number(res.k.cosine[i][j].toFixed(4)), `${what}: K value`);
        return text;
      };
      await page.locator('#qk-heatmap-q').scrollIntoViewIfNeeded();
      const heat = await page.locator('#qk-heatmap-q').boundingBox();
      await page.mouse.move(heat.x + heat.width * 0.62, heat.y + heat.height * 0.35, { steps: 3 });
      await page.waitForFunction(() => document.querySelector('#qk-pair')?.textContent.includes('×'), null, { timeout: 5000 });
      const fromHeatmap = await check('heatmap');
      await page.locator('#qk-rsa-scatter').scrollIntoViewIfNeeded();
      const scatter = await page.locator('#qk-rsa-scatter').boundingBox();
      // Sweep the scatter until the pointer lands on a point.
      let fromScatter = null;
      for (let fx = 0.3; fx < 0.95 && !fromScatter; fx += 0.02) {
        for (let fy = 0.2; fy < 0.9 && !fromScatter; fy += 0.05) {
          await page.mouse.move(scatter.x + scatter.width * fx, scatter.y + scatter.height * fy);
          await page.waitForTimeout(20);
          const text = (await page.textContent('#qk-pair')).trim();
          if (text.includes('×') && text !== fromHeatmap) fromScatter = await check('scatter');
        }
      }
      assert.ok(fromScatter, 'some scatter point names its pair');
      await screenshot(page, 'hover');
    });
  });

  test("an engine crash reaches the page as a message, and Run works again", { timeout: 120_000 }, async () => {
    await withServedPage(browser(), async (srv, page) => {
    const exp = JSON.stringify(readJson(path.join(EXPERIMENTS, 'lecture-L1.json')));
      srv.options.delayMs = 1500;
      await page.goto(`${srv.url}/?model=/models/${MODEL}/&exp=${encodeURIComponent(exp)}`);
      await page.click('#qk-run');
      await page.waitForSelector('#qk-cancel');
      // What the worker's panic hook sends when it dies (the page cannot see a worker unwind).
      await page.evaluate(() => new BroadcastChannel('qk-lens-engine-crash').postMessage('panicked at src/x.rs:1:1: boom'));
      await page.waitForSelector('#qk-error');
      assert.match(await page.textContent('#qk-error'), /internal error in the engine: it crashed \(please report it; Run to try again\): .*boom/);
      srv.options.delayMs = 0;
      await page.click('#qk-run');
      checkResult(await result(page), readJson(path.join(GOLDEN, `${MODEL}.L1.json`)), readJson(path.join(EXPERIMENTS, 'lecture-L1.json')), 1);
    });
  });
});

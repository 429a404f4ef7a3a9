// Shows, without QK Lens, what Chromium does with parallel Range requests on one URL:
// the same six ranges of a model file fetched at once, with the default HTTP cache mode and with
// `cache: 'no-store'`; prints what the page received and what the server sent.
//
//   node bench/range_probe.mjs MODEL_DIR     (a folder with model.safetensors of 200 MB or more)
//
// Seen with Chromium 156: default mode, 13-14 requests and ~2x the bytes (aborted and re-sent);
// no-store, 6 requests and exactly the bytes asked for.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { startServer } from '../tests/e2e/server.mjs';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { chromium } = createRequire(path.join(REPO, 'tests', 'e2e', 'package.json'))('playwright-core');
const dir = process.argv[2];
if (!dir || !fs.existsSync(path.join(dir, 'model.safetensors'))) {
  console.error('usage: node bench/range_probe.mjs MODEL_DIR');
  process.exit(2);
}
const size = fs.statSync(path.join(dir, 'model.safetensors')).size;
const chunk = Math.floor(size / 8);
const ranges = Array.from({ length: 6 }, (_, i) => [i * chunk, i * chunk + Math.floor(chunk * 0.9) - 1]);

const empty = fs.mkdtempSync(path.join(os.tmpdir(), 'qk-probe-'));
fs.writeFileSync(path.join(empty, 'index.html'), '<!doctype html><title>probe</title>');
const srv = await startServer({ root: empty, mounts: { '/m/': dir } });
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
try {
  for (const mode of ['default', 'no-store']) {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`${srv.url}/`);
    const first = srv.requests.length;
    const got = await page.evaluate(async ({ ranges, mode }) => {
      const t0 = performance.now();
      const sizes = await Promise.all(
        ranges.map(async ([a, z]) => {
          const init = { headers: { Range: `bytes=${a}-${z}` }, ...(mode === 'no-store' ? { cache: 'no-store' } : {}) };
          return (await (await fetch('/m/model.safetensors', init)).arrayBuffer()).byteLength;
        }),
      );
      return { ms: Math.round(performance.now() - t0), bytes: sizes.reduce((s, x) => s + x, 0) };
    }, { ranges, mode });
    const mine = srv.requests.slice(first);
    console.log(
      `${mode.padEnd(8)}: page received ${got.bytes} B in ${got.ms} ms; server answered ${mine.length} requests, ` +
        `sent ${mine.reduce((s, r) => s + r.bytes, 0)} B`,
    );
    await context.close();
  }
} finally {
  await browser.close();
  await srv.stop();
  fs.rmSync(empty, { recursive: true, force: true });
}

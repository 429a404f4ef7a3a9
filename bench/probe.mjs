// Quick A/B of the page's forward: the same case with query suffixes, N warm reloads each.
//   node bench/probe.mjs --models DIR --experiments DIR --case gpt2-medium:5 --runs 3 --variant '' --variant '&workers=1'
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { startServer } from '../tests/e2e/server.mjs';
import { waitForOutcome } from '../tests/e2e/harness.mjs';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(path.join(REPO, 'tests', 'e2e', 'package.json'));
const { chromium } = require('playwright-core');
const { values: opt } = parseArgs({
  options: {
    models: { type: 'string' },
    experiments: { type: 'string' },
    dist: { type: 'string', default: path.join(REPO, 'dist') },
    case: { type: 'string', default: 'gpt2-medium:5' },
    runs: { type: 'string', default: '3' },
    variant: { type: 'string', multiple: true, default: [''] },
  },
});
const [model, layer] = opt.case.split(':');
const srv = await startServer({ root: opt.dist, mounts: { '/models': opt.models, '/experiments': opt.experiments } });
const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'qk-probe-'));
const context = await chromium.launchPersistentContext(profile, {
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', ...(process.env.EXTRA_ARGS ? process.env.EXTRA_ARGS.split(' ') : [])],
});
const page = context.pages()[0] ?? (await context.newPage());
page.on('console', (m) => console.error('[page]', m.text()));
for (let i = 0; i < Number(opt.runs); i++) {
  for (const v of opt.variant) {
    const url = `${srv.url}/?model=${srv.url}/models/${model}/&experiment=/experiments/${model}-L${layer}.json&run=1${v}`;
    await page.goto(url, { waitUntil: 'commit' });
    const outcome = await waitForOutcome(page, 600_000, { polling: 50 });
    if (outcome.kind !== 'result') { console.log(v, outcome.kind, outcome.text); continue; }
    const s = JSON.parse(outcome.text).stats;
    console.log(`${v || '(default)'}\tranks ${s.forward_ranks}\tload ${s.load_ms}\tforward ${s.forward_ms}\ttotal ${s.total_ms}\twasm ${(s.wasm_memory_bytes / 1e6).toFixed(0)} MB`);
  }
}
await context.close();
await srv.stop?.();
fs.rmSync(profile, { recursive: true, force: true });

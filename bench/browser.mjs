// Times QK Lens in headless Chromium, cold and warm, for each benchmark case.
//
//   node bench/browser.mjs --models DIR --experiments DIR --out FILE [--dist DIR] [--case gpt2-medium:5 ...]
//
// Serves dist/ at / , DIR/<model>/ at /models/<model>/ and the experiments at /experiments/ with
// tests/e2e/server.mjs (which counts the bytes it sends), and drives Debian's Chromium with
// playwright-core (from tests/e2e/node_modules) and the e2e tests' flags (bench/chromium.mjs). For each case:
//   cold: a new browser with a new, empty profile opens
//         /?model=<server>/models/<model>/&experiment=/experiments/<model>-L<L>.json&run=1
//   warm: the same page is reloaded (same profile, so Cache Storage holds what the cold run kept);
//   warm_one_worker: warm again with &workers=1 (the forward in the engine worker alone).
// Each run records result.stats, the wall time from navigation to #qk-result, the bytes the
// server sent (model.safetensors and everything), and the renderer's peak RSS (VmHWM, reset
// before each run through /proc/PID/clear_refs; null where that is not possible).
// Writes {chromium, cases: [{model, layer, cold, warm}]} to --out.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { startServer } from '../tests/e2e/server.mjs';
import { waitForOutcome } from '../tests/e2e/harness.mjs';
import { REPO, chromiumVersion, launch, peakRss, rendererPids, resetPeak } from './chromium.mjs';

const { values: opt } = parseArgs({
  options: {
    models: { type: 'string' },
    experiments: { type: 'string' },
    out: { type: 'string' },
    dist: { type: 'string', default: path.join(REPO, 'dist') },
    case: { type: 'string', multiple: true, default: ['gpt2-medium:0', 'gpt2-medium:5', 'gpt2-medium:23', 'gpt2:5'] },
    timeout: { type: 'string', default: '900' },
  },
});
if (!opt.models || !opt.experiments || !opt.out) {
  console.error('usage: node bench/browser.mjs --models DIR --experiments DIR --out FILE [--dist DIR] [--case MODEL:LAYER ...]');
  process.exit(2);
}
const TIMEOUT_MS = Number(opt.timeout) * 1000;

const log = (...a) => console.error('[browser]', ...a);

/** One navigation (goto or reload) until the result; returns its measurements. */
async function measure(srv, page, profile, model, go) {
  const first = srv.requests.length;
  const pidsBefore = rendererPids(profile);
  resetPeak(pidsBefore);
  const t0 = performance.now();
  await go();
  const outcome = await waitForOutcome(page, TIMEOUT_MS, { polling: 100 });
  const wallMs = performance.now() - t0;
  if (outcome.kind !== 'result') throw new Error(`${model}: no result (${outcome.kind}): ${outcome.text}`);
  const res = JSON.parse(outcome.text);
  const pids = [...new Set([...pidsBefore, ...rendererPids(profile)])];
  const mine = srv.requests.slice(first);
  const weights = mine.filter((r) => r.path === `/models/${model}/model.safetensors`);
  return {
    stats: res.stats,
    wall_ms: wallMs,
    server_weight_bytes: weights.reduce((s, r) => s + r.bytes, 0),
    server_weight_requests: weights.length,
    server_weight_ranges: weights.map((r) => r.range),
    server_total_bytes: mine.reduce((s, r) => s + r.bytes, 0),
    server_requests: mine.length,
    renderer_peak_rss_bytes: peakRss(pids),
    token_ids: res.words.map((w) => w.token_ids),
    layer: res.layer,
  };
}

async function runCase(srv, model, layer) {
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'qk-bench-profile-'));
  const context = await launch(profile);
  const errors = [];
  try {
    const page = context.pages()[0] ?? (await context.newPage());
    page.on('pageerror', (e) => errors.push(String(e)));
    page.on('crash', () => errors.push('page crashed'));
    const url = `${srv.url}/?model=${srv.url}/models/${model}/&experiment=/experiments/${model}-L${layer}.json&run=1`;
    log(`${model} L${layer} cold: ${url}`);
    const cold = await measure(srv, page, profile, model, () => page.goto(url, { waitUntil: 'commit', timeout: 60_000 }));
    log(`${model} L${layer} cold: ${cold.server_weight_bytes} B of weights, ${Math.round(cold.stats.total_ms)} ms total, ${Math.round(cold.stats.forward_ms)} ms forward`);
    const warm = await measure(srv, page, profile, model, () => page.reload({ waitUntil: 'commit', timeout: 60_000 }));
    log(`${model} L${layer} warm: ${warm.server_weight_bytes} B of weights, ${Math.round(warm.stats.total_ms)} ms total, ${Math.round(warm.stats.forward_ms)} ms forward`);
    // The same warm run with the forward in one worker (&workers=1), for the ratio in this run.
    const one = await measure(srv, page, profile, model, () => page.goto(`${url}&workers=1`, { waitUntil: 'commit', timeout: 60_000 }));
    log(`${model} L${layer} warm, one worker: ${Math.round(one.stats.total_ms)} ms total, ${Math.round(one.stats.forward_ms)} ms forward`);
    return { model, layer, url, cold, warm, warm_one_worker: one, page_errors: errors };
  } finally {
    await context.close();
    fs.rmSync(profile, { recursive: true, force: true });
  }
}

const srv = await startServer({
  root: opt.dist,
  mounts: { '/models/': opt.models, '/experiments/': opt.experiments },
});
const out = { chromium: chromiumVersion(), cases: [] };
try {
  for (const c of opt.case) {
    const [model, layer] = c.split(':');
    out.cases.push(await runCase(srv, model, Number(layer)));
    fs.writeFileSync(opt.out, JSON.stringify(out, null, 1) + '\n');
  }
} finally {
  await srv.stop();
}
fs.writeFileSync(opt.out, JSON.stringify(out, null, 1) + '\n');

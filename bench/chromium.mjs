// What the browser benchmarks share: Debian's Chromium through playwright-core (from
// tests/e2e/node_modules) with the e2e tests' flags, and the memory of its renderer processes
// read from /proc.

import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(path.join(REPO, 'tests', 'e2e', 'package.json'));
export const { chromium } = require('playwright-core');

export const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
// The flags of tests/e2e/qk.test.mjs.
export const ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export const chromiumVersion = () =>
  execFileSync(CHROMIUM, ['--version'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();

/** A new persistent context (a browser with its own profile folder) with the flags above. */
export const launch = (profile) =>
  chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    args: ARGS,
    headless: true,
    viewport: { width: 1280, height: 900 },
  });

/** Pids of the renderer processes of the Chromium whose command line names `profile`. */
export function rendererPids(profile) {
  const procs = [];
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const cmd = fs.readFileSync(`/proc/${d}/cmdline`, 'utf8').split('\0').join(' ');
      const ppid = Number(fs.readFileSync(`/proc/${d}/stat`, 'utf8').split(') ').pop().split(' ')[1]);
      procs.push({ pid: Number(d), ppid, cmd });
    } catch {
      /* gone */
    }
  }
  const family = new Set(procs.filter((p) => p.cmd.includes(profile) && !p.cmd.includes('--type=')).map((p) => p.pid));
  let grew = true;
  while (grew) {
    grew = false;
    for (const p of procs) if (!family.has(p.pid) && family.has(p.ppid)) family.add(p.pid), (grew = true);
  }
  return procs.filter((p) => family.has(p.pid) && p.cmd.includes('--type=renderer')).map((p) => p.pid);
}

/** Resets the peak RSS (VmHWM) of `pids`, where the kernel allows it. */
export function resetPeak(pids) {
  for (const pid of pids) {
    try {
      fs.writeFileSync(`/proc/${pid}/clear_refs`, '5');
    } catch {
      /* not allowed: the peak then covers the process's whole life */
    }
  }
}

/** The largest of a /proc/PID/status field (VmHWM, VmRSS) over `pids`, in bytes (null if none). */
function largest(pids, field) {
  let max = null;
  for (const pid of pids) {
    try {
      const m = new RegExp(`${field}:\\s+(\\d+) kB`).exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
      if (m) max = Math.max(max ?? 0, Number(m[1]) * 1024);
    } catch {
      /* gone */
    }
  }
  return max;
}

export const peakRss = (pids) => largest(pids, 'VmHWM');
export const currentRss = (pids) => largest(pids, 'VmRSS');

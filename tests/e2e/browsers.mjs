// A small browser-neutral driver for the end-to-end tests that run in more than one engine
// (engines.test.mjs): the same few verbs over
//   firefox  — Debian's Firefox ESR over WebDriver BiDi (puppeteer-core; Firefox speaks BiDi
//              itself, no geckodriver),
//   webkit   — WebKitGTK's MiniBrowser (Safari's engine) under Xvfb, through WebKitWebDriver:
//              plain W3C WebDriver over HTTP, a few fetch calls,
//   chromium — Debian's Chromium over CDP (puppeteer-core), to check this layer against the
//              engine the rest of the suite uses (not run by default).
// No tool downloads a browser: each engine is the Debian package's binary.
//
//   const browser = await launch('webkit');      // one per test file and engine
//   const page = await browser.newPage();        // fresh storage: no cache, no service worker
//   await page.goto(url);  await page.reload();
//   await page.evaluate((a, b) => a + b, 1, 2);  // a function (or its source) and JSON args;
//                                                // it may return a promise; JSON comes back
//   await page.fill('textarea.words', 'pear, fig');   // the value, then one input event
//   await page.waitFor((id) => ..., 3, { timeout });  // polls evaluate until truthy
//   await page.screenshot('/path/shot.png');
//   await page.collectLogs(); page.logs          // console errors/warnings, page errors
//   await page.close();  await browser.close();
//
// Environment: FIREFOX (default /usr/bin/firefox-esr), WEBKIT_WEBDRIVER (default
// WebKitWebDriver on PATH), MINIBROWSER (default: found in libwebkit2gtk-4.1-0's folder),
// CHROMIUM (default /usr/bin/chromium).

import { spawn, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';

export const ENGINES = ['firefox', 'webkit', 'chromium'];
/** The engines engines.test.mjs runs: QK_ENGINES=firefox,webkit (the default) or a subset. */
export const wantedEngines = () =>
  (process.env.QK_ENGINES || 'firefox,webkit')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);

export const VIEWPORT = { width: 1280, height: 900 };

export class TimeoutError extends Error {
  name = 'TimeoutError';
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const source = (fn) => (typeof fn === 'function' ? fn.toString() : `() => (${fn})`);

/** Where each engine's binary is, or why it is missing (with the package that brings it). */
export function binaries() {
  const minibrowser =
    process.env.MINIBROWSER ||
    ['/usr/lib/x86_64-linux-gnu/webkit2gtk-4.1/MiniBrowser', '/usr/lib/aarch64-linux-gnu/webkit2gtk-4.1/MiniBrowser'].find((p) =>
      fs.existsSync(p),
    );
  return {
    firefox: process.env.FIREFOX || '/usr/bin/firefox-esr',
    chromium: process.env.CHROMIUM || '/usr/bin/chromium',
    webkitDriver: process.env.WEBKIT_WEBDRIVER || 'WebKitWebDriver',
    minibrowser,
  };
}

/** Null when `engine` can be launched here, else what to install. */
export function missing(engine) {
  const b = binaries();
  const onPath = (cmd) => {
    try {
      execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' });
      return true;
    } catch {
      return false;
    }
  };
  switch (engine) {
    case 'firefox':
      return fs.existsSync(b.firefox) ? null : `no Firefox at ${b.firefox}: apt-get install firefox-esr (or FIREFOX=/path)`;
    case 'chromium':
      return fs.existsSync(b.chromium) ? null : `no Chromium at ${b.chromium}: apt-get install chromium`;
    case 'webkit':
      if (!onPath(b.webkitDriver)) return `no ${b.webkitDriver}: apt-get install webkit2gtk-driver`;
      if (!b.minibrowser) return 'no MiniBrowser: apt-get install webkit2gtk-driver (libwebkit2gtk-4.1-0)';
      if (!onPath('xvfb-run') || !onPath('xauth')) return 'no xvfb-run or xauth: apt-get install xvfb xauth';
      return null;
    default:
      return `unknown engine ${engine} (one of ${ENGINES.join(', ')})`;
  }
}

export async function launch(engine) {
  const why = missing(engine);
  if (why) throw new Error(why);
  return engine === 'webkit' ? launchWebKit() : launchPuppeteer(engine);
}

/** Polls `check()` until it returns something truthy; a TimeoutError after `timeout` ms. */
async function poll(check, { timeout = 30_000, polling = 100, what = 'condition' } = {}) {
  const deadline = Date.now() + timeout;
  for (;;) {
    const v = await check();
    if (v) return v;
    if (Date.now() > deadline) throw new TimeoutError(`waitFor: ${what} not met after ${timeout / 1000} s`);
    await sleep(polling);
  }
}

/** In-page body of fill: the whole value at once and one input event, as a paste would. */
function fillInPage(selector, text) {
  const el = document.querySelector(selector);
  if (!el) throw new Error(`fill: no element matches ${selector}`);
  el.focus();
  const proto = el instanceof HTMLTextAreaElement ? HTMLTextAreaElement.prototype : HTMLInputElement.prototype;
  Object.getOwnPropertyDescriptor(proto, 'value').set.call(el, text);
  el.dispatchEvent(new InputEvent('input', { bubbles: true, inputType: 'insertFromPaste', data: text }));
  el.dispatchEvent(new Event('change', { bubbles: true }));
  return true;
}

function clickInPage(selector) {
  const el = document.querySelector(selector);
  if (!el) throw new Error(`click: no element matches ${selector}`);
  el.click();
  return true;
}

/** The verbs every engine's page shares, over its own evaluate. */
class Page {
  constructor() {
    this.logs = [];
  }
  /** Brings what the page logged into `logs` (puppeteer's pages have them already). */
  async collectLogs() {}
  fill(selector, text) {
    return this.evaluate(fillInPage, selector, text);
  }
  click(selector) {
    return this.evaluate(clickInPage, selector);
  }
  textContent(selector) {
    return this.evaluate((s) => document.querySelector(s)?.textContent ?? null, selector);
  }
  /**
   * Polls `fn(arg)` in the page (from node, the same way in every engine) until it returns
   * something truthy: that value as JSON (an element as true).
   */
  waitFor(fn, arg, { timeout = 30_000, polling = 100 } = {}) {
    const check = `(async () => {
      const v = await (${source(fn)})(${JSON.stringify(arg ?? null)});
      return v instanceof Node ? true : (v ?? null);
    })()`;
    return poll(() => this.evaluate(check), { timeout, polling, what: source(fn).slice(0, 200) });
  }
}

// ---------- Firefox and Chromium: puppeteer-core ----------

async function launchPuppeteer(engine) {
  const { default: puppeteer } = await import('puppeteer-core');
  const b = binaries();
  const browser =
    engine === 'firefox'
      ? await puppeteer.launch({
          browser: 'firefox',
          executablePath: b.firefox,
          headless: true,
          // Nothing of Firefox's own traffic: updates, telemetry, safe browsing, captive portal.
          extraPrefsFirefox: {
            'app.update.enabled': false,
            'browser.safebrowsing.malware.enabled': false,
            'browser.safebrowsing.phishing.enabled': false,
            'datareporting.policy.dataSubmissionEnabled': false,
            'network.captive-portal-service.enabled': false,
            'network.connectivity-service.enabled': false,
          },
        })
      : await puppeteer.launch({
          browser: 'chrome',
          executablePath: b.chromium,
          headless: true,
          args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
            '--disable-component-update', '--disable-sync'],
        });
  const version = await browser.version();
  return {
    engine,
    version,
    async newPage() {
      const context = await browser.createBrowserContext();
      const page = await context.newPage();
      await page.setViewport(VIEWPORT);
      return new PuppeteerPage(context, page);
    },
    close: () => browser.close(),
  };
}

class PuppeteerPage extends Page {
  constructor(context, page) {
    super();
    this.context = context;
    this.page = page;
    page.on('console', (m) => {
      if (m.type() === 'error' || m.type() === 'warn') this.logs.push(`console.${m.type()}: ${m.text()}`);
    });
    page.on('pageerror', (e) => this.logs.push(`pageerror: ${e && e.stack ? e.stack : e}`));
    page.on('requestfailed', (r) => this.logs.push(`requestfailed: ${r.method()} ${r.url()} ${r.failure()?.errorText ?? ''}`));
  }
  async goto(url) {
    await this.page.goto(url, { waitUntil: 'load', timeout: 60_000 });
  }
  async reload() {
    await this.page.reload({ waitUntil: 'load', timeout: 60_000 });
  }
  evaluate(fn, ...args) {
    return this.page.evaluate(fn, ...args);
  }
  async screenshot(file) {
    await this.page.screenshot({ path: file, fullPage: true });
    return file;
  }
  close() {
    return this.context.close();
  }
}

// ---------- WebKitGTK: W3C WebDriver over HTTP ----------

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

async function launchWebKit() {
  const b = binaries();
  const port = await freePort();
  // Xvfb's screen tall enough for a whole-page screenshot (the window grows for it).
  const driver = spawn('xvfb-run', ['-a', '-s', '-screen 0 1280x4096x24 -nolisten tcp', b.webkitDriver, `--port=${port}`], {
    detached: true, // its own process group: xvfb-run, Xvfb, the driver and MiniBrowser end together
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise((resolve) => driver.once('exit', resolve));
  // The driver's own output, for the message when it does not start.
  const output = [];
  for (const stream of [driver.stdout, driver.stderr]) {
    stream.on('data', (d) => {
      if (process.env.QK_E2E_LOG) process.stderr.write(`[webkit] ${d}`);
      output.push(String(d));
      if (output.length > 100) output.shift();
    });
  }
  const base = `http://127.0.0.1:${port}`;
  const call = async (method, p, body) => {
    const r = await fetch(base + p, {
      method,
      headers: { 'content-type': 'application/json; charset=utf-8' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const j = await r.json();
    if (!r.ok) {
      const v = j.value || {};
      const e = new Error(`WebDriver ${method} ${p}: ${v.error || r.status}: ${v.message || JSON.stringify(j)}`);
      e.webdriverError = v.error;
      throw e;
    }
    return j.value;
  };
  const kill = () => {
    try {
      process.kill(-driver.pid, 'SIGTERM');
    } catch {
      /* gone already */
    }
  };
  // Should the test process end without close(), the group ends with it.
  process.once('exit', kill);
  try {
    await poll(async () => (driver.exitCode === null ? call('GET', '/status').then((s) => s.ready !== false, () => false) : 'exited'), {
      timeout: 20_000,
      polling: 100,
      what: 'WebKitWebDriver answers /status',
    }).then((v) => {
      if (v === 'exited') throw new Error(`WebKitWebDriver exited:\n${output.join('\n')}`);
    });
  } catch (e) {
    kill();
    throw e;
  }
  let version = null;
  return {
    engine: 'webkit',
    get version() {
      return version;
    },
    async newPage() {
      // One session per page: a new MiniBrowser in automation mode, whose storage is its own.
      const s = await call('POST', '/session', {
        capabilities: {
          alwaysMatch: {
            timeouts: { script: 120_000, pageLoad: 60_000 },
            'webkitgtk:browserOptions': {
              binary: b.minibrowser,
              args: ['--automation'],
            },
          },
        },
      });
      version = `MiniBrowser (WebKitGTK) ${s.capabilities.browserVersion}`;
      const page = new WebKitPage(call, `/session/${s.sessionId}`);
      await call('POST', `${page.session}/window/rect`, { x: 0, y: 0, ...VIEWPORT });
      return page;
    },
    async close() {
      kill();
      process.removeListener('exit', kill);
      await Promise.race([exited, sleep(5000)]);
    },
  };
}

/**
 * WebDriver classic has no console events, and MiniBrowser in automation mode does not print
 * the console: after each load the page's console.error/warn and uncaught errors are recorded
 * in the page, and collectLogs() brings them into `logs` (what comes before the load event and
 * what happens in workers is not seen).
 */
function recordConsole() {
  if (window.__qkLogs) return;
  const logs = (window.__qkLogs = []);
  for (const kind of ['error', 'warn']) {
    const original = console[kind].bind(console);
    console[kind] = (...args) => {
      logs.push(`console.${kind}: ${args.map(String).join(' ')}`);
      original(...args);
    };
  }
  addEventListener('error', (e) => logs.push(`pageerror: ${e.message} (${e.filename}:${e.lineno})`));
  addEventListener('unhandledrejection', (e) => logs.push(`pageerror: unhandled rejection: ${e.reason}`));
}

class WebKitPage extends Page {
  constructor(call, session) {
    super();
    this.call = call;
    this.session = session;
  }
  async goto(url) {
    await this.collectLogs();
    await this.call('POST', `${this.session}/url`, { url });
    await this.evaluate(recordConsole).catch(() => {});
  }
  async reload() {
    await this.collectLogs();
    await this.call('POST', `${this.session}/refresh`, {});
    await this.evaluate(recordConsole).catch(() => {});
  }
  async collectLogs() {
    const logs = await this.evaluate(() => (window.__qkLogs || []).splice(0)).catch(() => []);
    this.logs.push(...logs);
  }
  async evaluate(fn, ...args) {
    // Execute Async Script: the function's value (or promise) comes back through the callback,
    // an exception as {error} (WebDriver would say only "javascript error").
    const script = `const done = arguments[arguments.length - 1];
      const args = Array.prototype.slice.call(arguments, 0, -1);
      Promise.resolve().then(() => (${source(fn)}).apply(null, args))
        .then((value) => done({ value: value === undefined ? null : value }),
              (e) => done({ error: String(e && e.stack ? e.message + '\\n' + e.stack : e) }));`;
    const out = await this.call('POST', `${this.session}/execute/async`, { script, args });
    if (out && 'error' in out) throw new Error(`evaluate in WebKit: ${out.error}`);
    return out ? out.value : out;
  }
  async screenshot(file) {
    // WebDriver shows the viewport: the window grows to the page's height for the picture.
    const height = await this.evaluate(() => document.documentElement.scrollHeight).catch(() => VIEWPORT.height);
    const tall = Math.min(Math.max(height, VIEWPORT.height), 4000);
    try {
      if (tall > VIEWPORT.height) {
        await this.call('POST', `${this.session}/window/rect`, { width: VIEWPORT.width, height: tall });
        await sleep(300);
      }
      const png = await this.call('GET', `${this.session}/screenshot`);
      fs.writeFileSync(file, Buffer.from(png, 'base64'));
    } finally {
      if (tall > VIEWPORT.height) await this.call('POST', `${this.session}/window/rect`, { ...VIEWPORT }).catch(() => {});
    }
    return file;
  }
  async close() {
    await this.call('DELETE', this.session).catch(() => {});
  }
}

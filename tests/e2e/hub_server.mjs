// A stand-in for the Hugging Face hub (node:http only, no dependencies), as the browser sees it:
//
//   const hub = await startHub({ repos: { 'qk/tiny': ['tiny-gpt2-hub', 'tiny-gpt2-savepretrained'] } });
//   hub.url            -> 'http://127.0.0.1:<port>'  (the page's ?hub=)
//   hub.commits(repo)  -> the repository's commit ids, oldest first (40 hex digits)
//   hub.update(repo)   -> `main` moves to the next commit (the next model folder); returns its id
//   hub.requests       -> [{ origin: 'hub'|'cdn', method, path, url, range, status, bytes, time }]
//   hub.cdn.preflights / hub.cdn.wholeFile / hub.cdn.expired  -> counters
//   hub.options        -> { gate, rateLimit, budget, presignTtlMs, expireNext } (switches, see below)
//   await hub.stop();
//
// The hub answers `/{org}/{repo}/resolve/{rev}/{file}` (rev: `main`, a tag `v1`, `v2`... naming
// the commits in order, or a commit id) with X-Repo-Commit and ETag, CORS for any origin with
// the headers the app reads exposed. model.safetensors (the LFS file) is a 302 to a "CDN" on a
// second port, with X-Linked-Size and a presigned URL that expires; the CDN answers 403 once it
// has, refuses CORS preflights (Range is not in its Access-Control-Allow-Headers: a preflighted
// request fails) and answers a multi-range or suffix range (bytes=-N) with the whole file.
// Switches: gate { count, timeoutMs }: hold the first `count` hub requests, then answer them
// together (or after timeoutMs); rateLimit { times, retryAfter }: the next `times` hub requests get 429 with
// Retry-After; budget { requests, retryAfter, windowMs }: each client (by address: a class behind
// one NAT is one client) gets that many hub requests (within any windowMs, if given), then 429s; presignTtlMs: how long a CDN link
// lives; expireNext: the next that many CDN requests find their link expired.

import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';
import { contentType, parseRange } from './server.mjs';

const EXPOSE = 'Content-Range, ETag, X-Repo-Commit, X-Linked-Size, X-Linked-ETag, Content-Length, Accept-Ranges, Retry-After';
const HUB_CORS = {
  'Access-Control-Allow-Origin': '*',
  'Access-Control-Expose-Headers': EXPOSE,
};
const LFS_FILES = new Set(['model.safetensors']);
const sha = (data) => crypto.createHash('sha1').update(data).digest('hex');
const sha256 = (data) => crypto.createHash('sha256').update(data).digest('hex');

function listen(server, host) {
  return new Promise((resolve) => server.listen(0, host, () => resolve(`http://${host}:${server.address().port}`)));
}

/** Answers `body` (a Buffer) whole or the single range asked for; never a multipart answer. */
function sendFile(req, res, body, headers, { wholeOnMulti = false } = {}) {
  const size = body.length;
  const spec = req.headers.range;
  const multiOrSuffix = spec && (spec.includes(',') || /^\s*bytes\s*=\s*-/.test(spec));
  const range = wholeOnMulti && multiOrSuffix ? null : parseRange(spec, size);
  if (range === 'unsatisfiable') {
    res.writeHead(416, { ...headers, 'Content-Range': `bytes */${size}`, 'Content-Length': 0 });
    res.end();
    return { status: 416, bytes: 0, whole: false };
  }
  const [status, start, end] = range ? [206, range.start, range.end] : [200, 0, size - 1];
  const out = { ...headers, 'Accept-Ranges': 'bytes', 'Content-Length': end - start + 1 };
  if (range) out['Content-Range'] = `bytes ${start}-${end}/${size}`;
  res.writeHead(status, out);
  const bytes = req.method === 'HEAD' ? 0 : end - start + 1;
  res.end(req.method === 'HEAD' ? undefined : body.subarray(start, end + 1));
  return { status, bytes, whole: status === 200 && !!spec };
}

export async function startHub({ repos, modelsDir, host = '127.0.0.1', presignTtlMs = 60_000 } = {}) {
  const here = path.dirname(new URL(import.meta.url).pathname);
  const models = modelsDir || path.resolve(here, '..', 'fixtures', 'models');
  // repo -> { commits: [{ id, files: Map(name -> Buffer) }], main: index }
  const state = new Map();
  for (const [repo, folders] of Object.entries(repos)) {
    const commits = folders.map((folder, i) => {
      const dir = path.join(models, folder);
      const files = new Map(fs.readdirSync(dir).map((f) => [f, fs.readFileSync(path.join(dir, f))]));
      return { id: sha(`${repo} ${i} ${folder}`), files };
    });
    state.set(repo, { commits, main: 0 });
  }
  const secret = crypto.randomBytes(16).toString('hex');
  const sign = (p, date, expires) => sha(`${secret} ${p} ${date} ${expires}`);
  const options = { rateLimit: null, budget: null, gate: null, presignTtlMs, expireNext: 0 };
  const cdnCounts = { preflights: 0, wholeFile: 0, expired: 0 };
  const clients = new Map();
  let budgetRefusals = 0;
  const requests = [];
  const log = (origin, req, status, bytes) => {
    const u = new URL(req.url, 'http://x');
    requests.push({ origin, method: req.method, path: u.pathname, url: req.url, range: req.headers.range, status, bytes, time: Date.now() });
  };

  const findCommit = (repo, rev) => {
    const r = state.get(repo);
    if (!r) return null;
    if (rev === 'main') return r.commits[r.main];
    const tag = /^v(\d+)$/.exec(rev);
    if (tag) return r.commits[Number(tag[1]) - 1] ?? null;
    return r.commits.find((c) => c.id === rev) ?? null;
  };

  let cdnUrl = '';
  const answer = (req, res) => {
    const fail = (status, text, headers = {}) => {
      res.writeHead(status, { ...HUB_CORS, 'Content-Type': 'text/plain', ...headers });
      res.end(text);
      log('hub', req, status, 0);
    };
    if (req.method === 'OPTIONS') {
      res.writeHead(204, { ...HUB_CORS, 'Access-Control-Allow-Methods': 'GET, HEAD', 'Access-Control-Allow-Headers': 'Range' });
      res.end();
      return log('hub', req, 204, 0);
    }
    const client = req.socket.remoteAddress;
    // Each client's request times; with budget.windowMs only those within the window count.
    const now = Date.now();
    const times = (clients.get(client) ?? []).filter((t) => !options.budget?.windowMs || now - t < options.budget.windowMs);
    clients.set(client, times);
    if (options.rateLimit && options.rateLimit.times > 0) {
      options.rateLimit.times -= 1;
      return fail(429, 'Too Many Requests\n', { 'Retry-After': String(options.rateLimit.retryAfter) });
    }
    if (options.budget && times.length >= options.budget.requests) {
      budgetRefusals += 1;
      return fail(429, 'Too Many Requests\n', { 'Retry-After': String(options.budget.retryAfter) });
    }
    times.push(now); // a refused request does not count against the budget
    const m = /^\/([^/]+\/[^/]+)\/resolve\/([^/]+)\/(.+)$/.exec(new URL(req.url, 'http://x').pathname);
    if (!m) return fail(404, 'Repository not found\n', { 'X-Error-Code': 'RepoNotFound' });
    const [, repo, rawRev, file] = m;
    const commit = findCommit(repo, decodeURIComponent(rawRev));
    if (!commit) return fail(404, 'Revision not found\n', { 'X-Error-Code': 'RevisionNotFound' });
    const body = commit.files.get(file);
    if (!body) return fail(404, 'Entry not found\n', { 'X-Error-Code': 'EntryNotFound' });
    const headers = { ...HUB_CORS, 'X-Repo-Commit': commit.id, 'Content-Type': contentType(file) };
    if (LFS_FILES.has(file)) {
      const date = Date.now();
      const p = `/repos/${repo}/${commit.id}/${file}`;
      const expires = options.presignTtlMs;
      const location = `${cdnUrl}${p}?X-Amz-Date=${date}&X-Amz-Expires=${expires}&sig=${sign(p, date, expires)}`;
      res.writeHead(302, { ...headers, ETag: `"${sha256(body)}"`, 'X-Linked-Size': body.length, 'X-Linked-ETag': `"${sha256(body)}"`, Location: location, 'Content-Length': 0 });
      res.end();
      return log('hub', req, 302, 0);
    }
    const sent = sendFile(req, res, body, { ...headers, ETag: `"${sha(body)}"` });
    log('hub', req, sent.status, sent.bytes);
  };
  // gate { count, timeoutMs }: the first `count` hub requests are held and answered together,
  // so that "at once" does not depend on how fast the pages reach the hub.
  let held = [];
  let gateTimer = null;
  const release = () => {
    clearTimeout(gateTimer); // a pending timer would keep the test's process alive
    const waiting = held;
    held = null;
    for (const [req, res] of waiting) answer(req, res);
  };
  const hub = http.createServer((req, res) => {
    if (!options.gate || held === null || req.method === 'OPTIONS') return answer(req, res);
    if (held.length === 0) gateTimer = setTimeout(release, options.gate.timeoutMs ?? 30_000);
    held.push([req, res]);
    if (held.length >= options.gate.count) release();
  });

  const cdn = http.createServer((req, res) => {
    const cors = { 'Access-Control-Allow-Origin': '*', 'Access-Control-Expose-Headers': 'Content-Range, Content-Length, ETag, Accept-Ranges' };
    if (req.method === 'OPTIONS') {
      // A preflight: refused (no Range allowed), so a request that needs one fails.
      cdnCounts.preflights += 1;
      res.writeHead(403, { ...cors, 'Access-Control-Allow-Methods': 'GET, HEAD' });
      res.end();
      return log('cdn', req, 403, 0);
    }
    const u = new URL(req.url, 'http://x');
    const m = /^\/repos\/([^/]+\/[^/]+)\/([0-9a-f]{40})\/(.+)$/.exec(u.pathname);
    const commit = m && state.get(m[1])?.commits.find((c) => c.id === m[2]);
    const body = commit?.files.get(m[3]);
    const [date, expires, sig] = ['X-Amz-Date', 'X-Amz-Expires', 'sig'].map((k) => u.searchParams.get(k));
    const deny = (why) => {
      res.writeHead(403, { ...cors, 'Content-Type': 'application/xml' });
      res.end(`<Error><Code>AccessDenied</Code><Message>${why}</Message></Error>`);
      log('cdn', req, 403, 0);
    };
    if (!body || sig !== sign(u.pathname, date, expires)) return deny('Invalid signature');
    if (options.expireNext > 0 || Date.now() > Number(date) + Number(expires)) {
      options.expireNext = Math.max(0, options.expireNext - 1);
      cdnCounts.expired += 1;
      return deny('Request has expired');
    }
    const sent = sendFile(req, res, body, { ...cors, ETag: `"${sha256(body)}"`, 'Content-Type': 'application/octet-stream' }, { wholeOnMulti: true });
    if (sent.whole) cdnCounts.wholeFile += 1;
    log('cdn', req, sent.status, sent.bytes);
  });

  const url = await listen(hub, host);
  cdnUrl = await listen(cdn, host);
  const close = (server) => new Promise((resolve) => {
    server.closeAllConnections?.();
    server.close(() => resolve());
  });
  return {
    url,
    cdnUrl,
    requests,
    options,
    cdn: cdnCounts,
    commits: (repo) => state.get(repo).commits.map((c) => c.id),
    update(repo = state.keys().next().value) {
      const r = state.get(repo);
      r.main = Math.min(r.main + 1, r.commits.length - 1);
      return r.commits[r.main].id;
    },
    /** 429s answered for the budget so far. */
    budgetRefusals: () => budgetRefusals,
    /** Forgets the per-client request counts of the budget. */
    resetBudget: () => clients.clear(),
    stop: () => Promise.all([close(hub), close(cdn)]),
  };
}

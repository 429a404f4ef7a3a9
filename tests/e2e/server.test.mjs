// Tests for the e2e static server: node --test server.test.mjs
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startServer, parseRange } from './server.mjs';

let tmp;
let srv;
const blob = Buffer.alloc(1000);
for (let i = 0; i < blob.length; i++) blob[i] = i % 251;

// Raw request: fetch() would normalise "..", so traversal checks go through node:http directly.
function raw(method, p, headers = {}) {
  return new Promise((resolve, reject) => {
    const req = http.request(`${srv.url}`, { method, path: p, headers }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
    req.end();
  });
}

before(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'qk-e2e-server-'));
  const site = path.join(tmp, 'site');
  const models = path.join(tmp, 'models');
  fs.mkdirSync(path.join(site, 'sub'), { recursive: true });
  fs.mkdirSync(path.join(models, 'm1'), { recursive: true });
  fs.writeFileSync(path.join(site, 'index.html'), '<!doctype html><title>root</title>');
  fs.writeFileSync(path.join(site, 'sub', 'index.html'), '<!doctype html><title>sub</title>');
  fs.writeFileSync(path.join(site, 'app.js'), 'console.log(1)');
  fs.writeFileSync(path.join(site, 'app_bg.wasm'), Buffer.from([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0]));
  fs.writeFileSync(path.join(site, 'style.css'), 'body{}');
  fs.writeFileSync(path.join(site, 'data.json'), '{"a":1}');
  fs.writeFileSync(path.join(site, 'empty.bin'), '');
  fs.writeFileSync(path.join(tmp, 'secret.txt'), 'top secret');
  fs.symlinkSync(path.join(tmp, 'secret.txt'), path.join(site, 'link.txt'));
  fs.writeFileSync(path.join(models, 'm1', 'model.safetensors'), blob);
  fs.writeFileSync(path.join(models, 'm1', 'config.json'), '{"n_layer":4}');
  srv = await startServer({ root: site, mounts: { '/models/': models } });
});

after(async () => {
  await srv.stop();
  fs.rmSync(tmp, { recursive: true, force: true });
});

test('listens on 127.0.0.1 with a random port', () => {
  assert.match(srv.url, /^http:\/\/127\.0\.0\.1:\d+$/);
  assert.ok(srv.port > 0);
  assert.equal(srv.url, `http://127.0.0.1:${srv.port}`);
});

test('serves index.html for / and directory paths, redirects dir without slash', async () => {
  let r = await fetch(`${srv.url}/`);
  assert.equal(r.status, 200);
  assert.equal(r.headers.get('content-type'), 'text/html; charset=utf-8');
  assert.match(await r.text(), /<title>root<\/title>/);
  r = await fetch(`${srv.url}/?model=/models/m1/&run=1`);
  assert.equal(r.status, 200);
  assert.match(await r.text(), /<title>root<\/title>/);
  r = await fetch(`${srv.url}/sub/`);
  assert.match(await r.text(), /<title>sub<\/title>/);
  const rr = await raw('GET', '/sub?x=1');
  assert.equal(rr.status, 301);
  assert.equal(rr.headers.location, '/sub/?x=1');
});

test('content types', async () => {
  const want = {
    '/app.js': 'text/javascript; charset=utf-8',
    '/app_bg.wasm': 'application/wasm',
    '/style.css': 'text/css; charset=utf-8',
    '/data.json': 'application/json; charset=utf-8',
    '/empty.bin': 'application/octet-stream',
    '/models/m1/model.safetensors': 'application/octet-stream',
  };
  for (const [p, ct] of Object.entries(want)) {
    const r = await fetch(srv.url + p);
    assert.equal(r.status, 200, p);
    assert.equal(r.headers.get('content-type'), ct, p);
    await r.arrayBuffer();
  }
});

test('mounts serve their folder; full GET has CORS, Accept-Ranges, no-cache', async () => {
  const r = await fetch(`${srv.url}/models/m1/model.safetensors`);
  assert.equal(r.status, 200);
  assert.equal(r.headers.get('access-control-allow-origin'), '*');
  const exposed = r.headers.get('access-control-expose-headers');
  for (const h of ['Content-Length', 'Content-Range', 'Accept-Ranges']) assert.ok(exposed.includes(h), h);
  assert.equal(r.headers.get('accept-ranges'), 'bytes');
  assert.equal(r.headers.get('cache-control'), 'no-cache');
  assert.equal(r.headers.get('content-length'), '1000');
  assert.deepEqual(Buffer.from(await r.arrayBuffer()), blob);
  const c = await fetch(`${srv.url}/models/m1/config.json`);
  assert.deepEqual(await c.json(), { n_layer: 4 });
  const missing = await fetch(`${srv.url}/models/nope/config.json`);
  assert.equal(missing.status, 404);
  assert.match(await missing.text(), /not found/);
  assert.equal(missing.headers.get('access-control-allow-origin'), '*');
});

test('Range bytes=a-b -> 206 with Content-Range and the exact slice', async () => {
  const r = await fetch(`${srv.url}/models/m1/model.safetensors`, { headers: { Range: 'bytes=0-7' } });
  assert.equal(r.status, 206);
  assert.equal(r.headers.get('content-range'), 'bytes 0-7/1000');
  assert.equal(r.headers.get('content-length'), '8');
  assert.deepEqual(Buffer.from(await r.arrayBuffer()), blob.subarray(0, 8));
  const r2 = await fetch(`${srv.url}/models/m1/model.safetensors`, { headers: { Range: 'bytes=500-509' } });
  assert.equal(r2.status, 206);
  assert.deepEqual(Buffer.from(await r2.arrayBuffer()), blob.subarray(500, 510));
  // end past EOF is clamped
  const r3 = await fetch(`${srv.url}/models/m1/model.safetensors`, { headers: { Range: 'bytes=990-5000' } });
  assert.equal(r3.status, 206);
  assert.equal(r3.headers.get('content-range'), 'bytes 990-999/1000');
  assert.deepEqual(Buffer.from(await r3.arrayBuffer()), blob.subarray(990));
});

test('Range bytes=a- and suffix bytes=-n', async () => {
  const r = await fetch(`${srv.url}/models/m1/model.safetensors`, { headers: { Range: 'bytes=900-' } });
  assert.equal(r.status, 206);
  assert.equal(r.headers.get('content-range'), 'bytes 900-999/1000');
  assert.equal(r.headers.get('content-length'), '100');
  assert.deepEqual(Buffer.from(await r.arrayBuffer()), blob.subarray(900));
  const s = await fetch(`${srv.url}/models/m1/model.safetensors`, { headers: { Range: 'bytes=-10' } });
  assert.equal(s.status, 206);
  assert.equal(s.headers.get('content-range'), 'bytes 990-999/1000');
  assert.deepEqual(Buffer.from(await s.arrayBuffer()), blob.subarray(990));
});

test('unsatisfiable Range -> 416 with Content-Range bytes */size', async () => {
  for (const range of ['bytes=1000-', 'bytes=5000-6000', 'bytes=-0']) {
    const r = await fetch(`${srv.url}/models/m1/model.safetensors`, { headers: { Range: range } });
    assert.equal(r.status, 416, range);
    assert.equal(r.headers.get('content-range'), 'bytes */1000', range);
    assert.equal((await r.arrayBuffer()).byteLength, 0);
  }
  const e = await fetch(`${srv.url}/empty.bin`, { headers: { Range: 'bytes=0-' } });
  assert.equal(e.status, 416);
});

test('multi-range or malformed Range is ignored -> full 200', async () => {
  for (const range of ['bytes=0-1,5-6', 'items=0-1', 'bytes=9-3']) {
    const r = await fetch(`${srv.url}/models/m1/model.safetensors`, { headers: { Range: range } });
    assert.equal(r.status, 200, range);
    assert.equal((await r.arrayBuffer()).byteLength, 1000, range);
  }
});

test('HEAD returns headers without a body (also with Range)', async () => {
  let r = await raw('HEAD', '/models/m1/model.safetensors');
  assert.equal(r.status, 200);
  assert.equal(r.headers['content-length'], '1000');
  assert.equal(r.headers['accept-ranges'], 'bytes');
  assert.equal(r.body.length, 0);
  r = await raw('HEAD', '/models/m1/model.safetensors', { Range: 'bytes=10-19' });
  assert.equal(r.status, 206);
  assert.equal(r.headers['content-range'], 'bytes 10-19/1000');
  assert.equal(r.headers['content-length'], '10');
  assert.equal(r.body.length, 0);
});

test('OPTIONS preflight and other methods', async () => {
  const o = await raw('OPTIONS', '/models/m1/model.safetensors');
  assert.equal(o.status, 204);
  assert.equal(o.headers['access-control-allow-origin'], '*');
  const p = await raw('POST', '/index.html');
  assert.equal(p.status, 405);
});

test('path traversal is rejected', async () => {
  const attempts = [
    '/../secret.txt',
    '/models/../secret.txt',
    '/models/../../secret.txt',
    '/models/m1/../../secret.txt',
    '/%2e%2e/secret.txt',
    '/models/%2e%2e/%2e%2e/secret.txt',
    '/models/..%2f..%2fsecret.txt',
    '/models/%2E%2E%5C%2E%2E%5Csecret.txt',
    '/..%5csecret.txt',
    '/sub/%00',
    '/link.txt', // symlink pointing out of the site root
  ];
  for (const p of attempts) {
    const r = await raw('GET', p);
    assert.ok([400, 403, 404].includes(r.status), `${p} -> ${r.status}`);
    assert.ok(!r.body.toString().includes('top secret'), `${p} leaked the file`);
  }
});

test('records every request with method, path, range, status and bytes', async () => {
  const before = srv.requests.length;
  await (await fetch(`${srv.url}/models/m1/model.safetensors`, { headers: { Range: 'bytes=0-99' } })).arrayBuffer();
  await (await fetch(`${srv.url}/models/m1/model.safetensors`)).arrayBuffer();
  await (await fetch(`${srv.url}/nope.js`)).arrayBuffer();
  await new Promise((r) => setTimeout(r, 50)); // let the read streams' last 'data' land
  const recs = srv.requests.slice(before);
  assert.equal(recs.length, 3);
  assert.deepEqual(
    recs.map(({ method, path: p, range, status, bytes }) => ({ method, path: p, range, status, bytes })),
    [
      { method: 'GET', path: '/models/m1/model.safetensors', range: 'bytes=0-99', status: 206, bytes: 100 },
      { method: 'GET', path: '/models/m1/model.safetensors', range: null, status: 200, bytes: 1000 },
      { method: 'GET', path: '/nope.js', range: null, status: 404, bytes: recs[2].bytes },
    ],
  );
  assert.ok(recs[2].bytes > 0);
  const downloads = srv.requests.filter((r) => r.path === '/models/m1/model.safetensors' && r.method === 'GET');
  assert.ok(downloads.length >= 2);
});

test('parseRange unit cases', () => {
  assert.equal(parseRange(undefined, 10), null);
  assert.deepEqual(parseRange('bytes=0-0', 10), { start: 0, end: 0 });
  assert.deepEqual(parseRange('bytes=3-', 10), { start: 3, end: 9 });
  assert.deepEqual(parseRange('bytes=-3', 10), { start: 7, end: 9 });
  assert.deepEqual(parseRange('bytes=-30', 10), { start: 0, end: 9 });
  assert.equal(parseRange('bytes=10-', 10), 'unsatisfiable');
  assert.equal(parseRange('bytes=0-', 0), 'unsatisfiable');
});

// Tiny static HTTP server for the QK Lens end-to-end tests (node:http only, no dependencies).
//
//   const srv = await startServer({ root: 'dist', mounts: { '/models/': 'tests/fixtures/models/' } });
//   srv.url        -> 'http://127.0.0.1:<port>'
//   srv.requests   -> [{ method, path, range, status, bytes }]  (every request, in order)
//   srv.options    -> { ignoreRange }: switch on to answer Range requests with the whole file
//   await srv.stop();
//
// Serves `root` at `/` and each mount prefix from its folder. Directory paths serve index.html.
// Supports HEAD, single HTTP Range requests (206 / 416), CORS (unless `cors: false`), Cache-Control: no-cache.
// Path traversal (.., encoded or not, NUL bytes, symlinks out of a served folder) gets 403/404.

import http from 'node:http';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';

export const CONTENT_TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.htm': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.wasm': 'application/wasm',
  '.json': 'application/json; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.png': 'image/png',
  '.svg': 'image/svg+xml',
  '.ico': 'image/x-icon',
  '.txt': 'text/plain; charset=utf-8',
};

export function contentType(file) {
  return CONTENT_TYPES[path.extname(file).toLowerCase()] || 'application/octet-stream';
}

const CORS_HEADERS = {
  'Access-Control-Allow-Origin': '*',
  'Access-Control-Allow-Methods': 'GET, HEAD, OPTIONS',
  'Access-Control-Allow-Headers': 'Range',
  'Access-Control-Expose-Headers': 'Content-Length, Content-Range, Accept-Ranges',
};

/** Parse a Range header against a file size.
 *  Returns null (no/ignored range -> full 200), {start, end} (inclusive), or 'unsatisfiable'. */
export function parseRange(header, size) {
  if (!header) return null;
  const m = /^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$/i.exec(header);
  if (!m) {
    // Multiple ranges or malformed: a server may ignore Range and answer 200 (RFC 9110 14.2),
    // except a syntactically valid "bytes=" spec list we cannot serve; keep it simple: full body.
    return null;
  }
  const [, a, b] = m;
  if (a === '' && b === '') return null;
  let start;
  let end;
  if (a === '') {
    // suffix range: last N bytes
    const n = Number(b);
    if (n === 0) return 'unsatisfiable';
    start = Math.max(0, size - n);
    end = size - 1;
  } else {
    start = Number(a);
    end = b === '' ? size - 1 : Math.min(Number(b), size - 1);
    if (b !== '' && Number(b) < start) return null; // invalid spec -> ignore (RFC 9110)
  }
  if (start >= size || size === 0) return 'unsatisfiable';
  return { start, end };
}

/** Map a URL path to a file, or return an HTTP status for a rejected path. */
function resolvePath(urlPath, mountList) {
  let decoded;
  try {
    decoded = decodeURIComponent(urlPath);
  } catch {
    return { status: 400 };
  }
  if (decoded.includes('\0') || decoded.includes('\\')) return { status: 403 };
  const segments = decoded.split('/');
  if (segments.some((s) => s === '..' || s === '.')) return { status: 403 };
  for (const { prefix, dir } of mountList) {
    if (decoded === prefix.slice(0, -1) || decoded.startsWith(prefix)) {
      const rest = decoded === prefix.slice(0, -1) ? '' : decoded.slice(prefix.length);
      const file = path.resolve(dir, '.' + path.posix.sep + rest);
      if (file !== dir && !file.startsWith(dir + path.sep)) return { status: 403 };
      return { file, dir, trailingSlash: decoded.endsWith('/') || rest === '' };
    }
  }
  return { status: 404 };
}

export async function startServer({ root, mounts = {}, host = '127.0.0.1', port = 0, log = false, cors = true } = {}) {
  if (!root) throw new Error('startServer: root is required');
  const mountList = [];
  for (const [prefix, dir] of Object.entries(mounts)) {
    const p = prefix.endsWith('/') ? prefix : prefix + '/';
    if (!p.startsWith('/')) throw new Error(`startServer: mount prefix must start with /: ${prefix}`);
    mountList.push({ prefix: p, dir: fs.realpathSync(path.resolve(dir)) });
  }
  // Longest prefix first; the site root last.
  mountList.sort((x, y) => y.prefix.length - x.prefix.length);
  mountList.push({ prefix: '/', dir: fs.realpathSync(path.resolve(root)) });

  const requests = [];
  // Faults a test can switch on: ignoreRange answers every GET with the whole file (200).
  // Faults for answers under a mount (the model folders):
  //   delayMs: hold every answer back that long (a slow server);
  //   fail: { status, times, path }: answer `status` to the next `times` requests whose path ends with `path`;
  //   drop: { afterBytes, times, path }: cut the connection after `afterBytes` body bytes, `times`
  //     times (answers shorter than that are not cut).
  // And for any answer: failUrl: { status, times, url }: answer `status` to the next `times`
  //   requests whose URL (path and query) ends with `url`.
  // cors: false answers without CORS headers (a model host that does not allow other sites).
  const options = { ignoreRange: false, delayMs: 0, fail: null, drop: null, failUrl: null, cors };
  const common = () => ({ ...(options.cors ? CORS_HEADERS : {}), 'Cache-Control': 'no-cache' });
  const take = (fault, urlPath) => {
    if (!fault || fault.times <= 0 || (fault.path && !urlPath.endsWith(fault.path))) return false;
    fault.times -= 1;
    return true;
  };

  const server = http.createServer(async (req, res) => {
    const rec = {
      method: req.method,
      path: '',
      url: req.url,
      range: req.headers.range ?? null,
      referer: req.headers.referer ?? null,
      status: 0,
      bytes: 0,
      time: Date.now(),
    };
    requests.push(rec);
    if (log) res.on('finish', () => console.log(`${rec.method} ${rec.url} ${rec.range ?? ''} -> ${rec.status} ${rec.bytes}B`));
    const finish = (status, headers = {}, body = null) => {
      rec.status = status;
      const buf = body == null ? null : Buffer.isBuffer(body) ? body : Buffer.from(String(body));
      res.writeHead(status, {
        ...common(),
        ...(buf ? { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': buf.length } : {}),
        ...headers,
      });
      if (buf && req.method !== 'HEAD') {
        rec.bytes = buf.length;
        res.end(buf);
      } else {
        res.end();
      }
    };
    try {
      let urlPath;
      try {
        urlPath = new URL(req.url, 'http://localhost').pathname;
      } catch {
        return finish(400, {}, '400 bad request\n');
      }
      // Keep the raw (still percent-encoded) path check too: new URL() normalises /a/../b.
      rec.path = urlPath;
      const rawPath = req.url.split('?')[0].split('#')[0];
      if (/(^|\/)(\.|%2e){2}(\/|$)/i.test(rawPath) || /%2f|%5c|%00/i.test(rawPath)) {
        return finish(403, {}, '403 forbidden\n');
      }
      if (req.method === 'OPTIONS') return finish(204);
      const failUrl = options.failUrl;
      if (failUrl && failUrl.times > 0 && req.url.endsWith(failUrl.url)) {
        failUrl.times -= 1;
        return finish(failUrl.status, {}, `${failUrl.status} injected fault\n`);
      }
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        return finish(405, { Allow: 'GET, HEAD, OPTIONS' }, '405 method not allowed\n');
      }
      const r = resolvePath(urlPath, mountList);
      const underMount = r.dir !== mountList[mountList.length - 1].dir;
      if (options.delayMs && underMount) {
        await new Promise((resolve) => setTimeout(resolve, options.delayMs));
      }
      if (underMount && req.method === 'GET' && take(options.fail, urlPath)) {
        return finish(options.fail.status, {}, `${options.fail.status} injected fault\n`);
      }

      if (r.status) return finish(r.status, {}, `${r.status} ${r.status === 404 ? 'not found' : 'forbidden'}\n`);
      let file = r.file;
      let st;
      try {
        st = await fsp.stat(file);
        if (st.isDirectory()) {
          if (!urlPath.endsWith('/')) {
            return finish(301, { Location: urlPath + '/' + (req.url.includes('?') ? req.url.slice(req.url.indexOf('?')) : '') });
          }
          file = path.join(file, 'index.html');
          st = await fsp.stat(file);
        }
        // Refuse symlinks that lead out of the served folder.
        const real = await fsp.realpath(file);
        if (real !== r.dir && !real.startsWith(r.dir + path.sep)) return finish(403, {}, '403 forbidden\n');
      } catch {
        return finish(404, {}, `404 not found: ${urlPath}\n`);
      }
      if (!st.isFile()) return finish(404, {}, `404 not found: ${urlPath}\n`);

      const size = st.size;
      const base = {
        'Content-Type': contentType(file),
        'Accept-Ranges': 'bytes',
        'Last-Modified': st.mtime.toUTCString(),
      };
      // The site's own files answer a revalidation with 304 Not Modified, as static hosts do
      // (the browser then keeps its cached copy, and V8 its compiled wasm); model folders
      // (mounts) always send their bytes, which the tests count.
      const since = Date.parse(req.headers['if-modified-since'] ?? '');
      if (!underMount && !req.headers.range && since >= Math.floor(st.mtimeMs / 1000) * 1000) {
        return finish(304, base);
      }
      const range = options.ignoreRange ? null : parseRange(req.headers.range, size);
      if (range === 'unsatisfiable') {
        return finish(416, { ...base, 'Content-Range': `bytes */${size}`, 'Content-Length': 0 });
      }
      let status = 200;
      let start = 0;
      let end = size - 1;
      const headers = { ...base };
      if (range) {
        status = 206;
        ({ start, end } = range);
        headers['Content-Range'] = `bytes ${start}-${end}/${size}`;
      }
      const length = size === 0 ? 0 : end - start + 1;
      headers['Content-Length'] = length;
      rec.status = status;
      res.writeHead(status, { ...common(), ...headers });
      if (req.method === 'HEAD' || length === 0) return res.end();
      // Only answers longer than the cut point are cut (and count against `times`).
      const cuttable = underMount && req.method === 'GET' && options.drop && length > options.drop.afterBytes;
      const dropAfter = cuttable && take(options.drop, urlPath) ? options.drop.afterBytes : null;
      if (dropAfter !== null) {
        // Send the first `dropAfter` bytes of the body, then cut the connection mid-body.
        rec.dropped = true;
        const part = fs.createReadStream(file, { start, end: start + dropAfter - 1 });
        part.on('data', (chunk) => {
          rec.bytes += chunk.length;
        });
        // Cut a moment after the last byte, so the client has taken what arrived (a browser
        // drops body bytes still queued when the stream errors).
        part.on('end', () => setTimeout(() => res.socket?.destroy(), 300));
        part.pipe(res, { end: false });
        return;
      }
      const stream = fs.createReadStream(file, { start, end });
      stream.on('data', (chunk) => {
        rec.bytes += chunk.length;
      });
      stream.on('error', () => res.destroy());
      stream.pipe(res);
    } catch (err) {
      if (!res.headersSent) finish(500, {}, `500 ${err && err.message}\n`);
      else res.destroy();
    }
  });

  const sockets = new Set();
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });

  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, resolve);
  });
  const actualPort = server.address().port;
  return {
    url: `http://${host}:${actualPort}`,
    port: actualPort,
    requests,
    options,
    server,
    stop() {
      return new Promise((resolve) => {
        server.close(() => resolve());
        for (const s of sockets) s.destroy();
      });
    },
  };
}

// `node server.mjs [root] [/prefix/=dir ...]` serves a folder by hand, e.g. for a look in a browser.
if (import.meta.url === `file://${process.argv[1]}`) {
  const [root = '.', ...rest] = process.argv.slice(2);
  const mounts = Object.fromEntries(rest.map((s) => s.split('=')));
  const port = Number(process.env.PORT || 8080);
  startServer({ root, mounts, port, log: true }).then((s) => console.log(`serving ${root} at ${s.url}/`));
}

// QK Lens service worker: keeps the app shell (html, js, wasm, css, tokenizer) so the site opens
// with no network after one visit. Only files directly in the site's folder are kept: model
// folders below it are cached by the app itself, piece by piece, and must never be duplicated here.
//
// Files whose name carries a hash of their content (Trunk's `app-<hash>_bg.wasm`, and the
// engine's `worker-<hash>_bg.wasm` from scripts/hash-worker.sh) never change under that name:
// they come from the cache when kept, so a reload reads them at disk speed and V8 reuses its
// compiled code. Every other file (index.html, the loaders, the tokenizer) goes to the network
// first, so a new version arrives as soon as it is published, and the cache is the fallback;
// a copy is written only when the file changed (a reload used to rewrite megabytes each time).
// A hashed file kept from the network is a new version: older versions' copies of it (the same
// name with another hash) are dropped then.
const SHELL_CACHE = 'qk-lens-shell-v1';
const scopeDir = new URL('./', self.location).pathname;
// A name's hash, one pattern for both uses below. Trunk writes its 64-bit hash in hex without
// leading zeros (one build in 16 has 15 digits).
const HASH = /-[0-9a-f]{8,16}(?=(_bg\.wasm|\.js|\.css|\.wasm)$)/;
// app-<hash>_bg.wasm -> app_bg.wasm: what every version of the file shares.
const stem = (path) => path.replace(HASH, '');

self.addEventListener('install', () => self.skipWaiting());
self.addEventListener('activate', (event) => event.waitUntil(self.clients.claim()));

function isShell(request) {
  const url = new URL(request.url);
  if (request.method !== 'GET' || url.origin !== self.location.origin) return false;
  if (request.headers.has('range')) return false;
  const dir = url.pathname.slice(0, url.pathname.lastIndexOf('/') + 1);
  return dir === scopeDir;
}

// The same file, by its validators (no validator: unknown, so written again).
function same(a, b) {
  const keys = ['etag', 'last-modified'].filter((k) => a.headers.get(k) || b.headers.get(k));
  return keys.length > 0 && [...keys, 'content-length'].every((k) => a.headers.get(k) === b.headers.get(k));
}

async function keep(request, response) {
  const cache = await caches.open(SHELL_CACHE);
  const kept = await cache.match(request);
  if (!kept || !same(kept, response)) await cache.put(request, response);
  const path = new URL(request.url).pathname;
  if (!HASH.test(path)) return;
  for (const k of await cache.keys()) {
    const old = new URL(k.url).pathname;
    if (old !== path && HASH.test(old) && stem(old) === stem(path)) await cache.delete(k);
  }
}

async function fromNetwork(event) {
  const response = await fetch(event.request);
  if (response.ok && response.status === 200) event.waitUntil(keep(event.request, response.clone()));
  return response;
}

async function fromCache(request) {
  const cache = await caches.open(SHELL_CACHE);
  const hit = (await cache.match(request)) || (await cache.match(request, { ignoreSearch: true }));
  return hit || Response.error();
}

self.addEventListener('fetch', (event) => {
  if (!isShell(event.request)) return;
  const hashed = HASH.test(new URL(event.request.url).pathname);
  event.respondWith(
    hashed
      ? caches.match(event.request, { cacheName: SHELL_CACHE }).then((hit) => hit || fromNetwork(event))
      : fromNetwork(event).catch(() => fromCache(event.request)),
  );
});

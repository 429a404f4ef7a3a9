// QK Lens service worker: keeps the app shell (html, js, wasm, css, tokenizer) so the site opens
// with no network after one visit. Network first (updates arrive when online), cache as fallback.
// Only files directly in the site's folder are kept: model folders below it are cached by the
// app itself, piece by piece, and must never be duplicated here.
const SHELL_CACHE = 'qk-lens-shell-v1';
const scopeDir = new URL('./', self.location).pathname;

self.addEventListener('install', () => self.skipWaiting());
self.addEventListener('activate', (event) => event.waitUntil(self.clients.claim()));

function isShell(request) {
  const url = new URL(request.url);
  if (request.method !== 'GET' || url.origin !== self.location.origin) return false;
  if (request.headers.has('range')) return false;
  const dir = url.pathname.slice(0, url.pathname.lastIndexOf('/') + 1);
  return dir === scopeDir;
}

self.addEventListener('fetch', (event) => {
  if (!isShell(event.request)) return;
  event.respondWith(
    fetch(event.request)
      .then((response) => {
        if (response.ok && response.status === 200) {
          const copy = response.clone();
          event.waitUntil(caches.open(SHELL_CACHE).then((cache) => cache.put(event.request, copy)));
        }
        return response;
      })
      .catch(async () => {
        const cache = await caches.open(SHELL_CACHE);
        const hit = (await cache.match(event.request)) || (await cache.match(event.request, { ignoreSearch: true }));
        return hit || Response.error();
      }),
  );
});

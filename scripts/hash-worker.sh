#!/bin/sh
# Trunk post-build hook (Trunk.toml): gives the engine worker's script and wasm a name that
# carries a hash of their content, as Trunk does for the page's own files. The service worker
# (static/sw.js) serves such files from its cache without asking the network, which it may do
# only for a name whose content can never change; worker_loader.js keeps its name (the page
# starts the engine by it) and is written here to point at the hashed files.
set -eu
dir="${TRUNK_STAGING_DIR:?run by trunk build}"
hash=$(cat "$dir/worker.js" "$dir/worker_bg.wasm" | sha256sum | cut -c1-16)
mv "$dir/worker.js" "$dir/worker-$hash.js"
mv "$dir/worker_bg.wasm" "$dir/worker-${hash}_bg.wasm"
sed -i "s/worker\.js/worker-$hash.js/g; s/worker_bg\.wasm/worker-${hash}_bg.wasm/g" "$dir/index.html"
# The engine's second worker (named as SECOND_WORKER_NAME in src/web/peer.rs) is sent the
# engine's compiled module as its first message: it neither downloads nor compiles the wasm
# again (~90 ms), and both run the same machine code, optimised once. Without a module (the
# browser could not send it) it loads the wasm itself. In both workers, messages that come
# while the module instantiates are held and handed on in order once the wasm listens (the
# page may ask the engine for a run before its wasm is loaded: src/web/engine_bridge.rs).
cat > "$dir/worker_loader.js" <<JS
importScripts("./worker-$hash.js");
if (self.name === "qk-lens-engine-rank-1") {
  const held = [];
  let first = null;
  const hold = (e) => (first ? (first(e.data), (first = null)) : held.push(e));
  new Promise((r) => (first = r)).then((m) =>
    wasm_bindgen({ module_or_path: m instanceof WebAssembly.Module ? m : "./worker-${hash}_bg.wasm" }).then(() => {
      self.removeEventListener("message", hold);
      for (const e of held) self.onmessage && self.onmessage(e);
    }),
  );
  self.addEventListener("message", hold);
} else {
  // The engine: the page's requests that come while its wasm loads wait for its listener.
  const held = [];
  const hold = (e) => held.push(e);
  self.addEventListener("message", hold);
  wasm_bindgen("./worker-${hash}_bg.wasm").then(() => {
    self.removeEventListener("message", hold);
    for (const e of held) self.onmessage && self.onmessage(e);
  });
}
JS
grep -q "worker-${hash}_bg.wasm" "$dir/worker_loader.js"
grep -q "$(grep -o 'SECOND_WORKER_NAME: &str = "[^"]*"' "${TRUNK_SOURCE_DIR:-.}/src/web/peer.rs" | cut -d'"' -f2)" "$dir/worker_loader.js"

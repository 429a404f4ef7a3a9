#!/bin/sh
# Trunk post-build hook (Trunk.toml): gives the engine worker's script and wasm a name that
# carries a hash of their content, as Trunk does for the page's own files. The service worker
# (static/sw.js) serves such files from its cache without asking the network, which it may do
# only for a name whose content can never change; worker_loader.js keeps its name (the page
# starts the engine by it) and now points at the hashed files.
set -eu
dir="${TRUNK_STAGING_DIR:?run by trunk build}"
hash=$(cat "$dir/worker.js" "$dir/worker_bg.wasm" | sha256sum | cut -c1-16)
mv "$dir/worker.js" "$dir/worker-$hash.js"
mv "$dir/worker_bg.wasm" "$dir/worker-${hash}_bg.wasm"
for f in "$dir/worker_loader.js" "$dir/index.html"; do
  sed -i "s/worker\.js/worker-$hash.js/g; s/worker_bg\.wasm/worker-${hash}_bg.wasm/g" "$f"
done
grep -q "worker-${hash}_bg.wasm" "$dir/worker_loader.js"

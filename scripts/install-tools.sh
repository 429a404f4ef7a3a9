#!/usr/bin/env bash
# Installs what building and testing QK Lens needs, skipping whatever is already present.
# Versions are pinned: trunk 0.22 needs a newer rustc; wasm-bindgen-cli must equal the crate's
# version (Cargo.lock); Debian's wasm-opt (108) cannot read what rustc 1.95 emits.
# Usage: scripts/install-tools.sh [build|test]   (test also installs Chromium + chromedriver,
# Firefox ESR, WebKitGTK's WebDriver and Xvfb)
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
want="${1:-build}"
TRUNK_VERSION=0.21.14
WASM_BINDGEN_VERSION=0.2.130
BINARYEN_VERSION=132.0.0
export PATH="$HOME/.cargo/bin:$PATH"

say() { printf '[install] %s\n' "$*" >&2; }
sudo_if() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

apt_install() {
  [ -n "${apt_updated:-}" ] || { sudo_if apt-get update -qq; apt_updated=1; }
  DEBIAN_FRONTEND=noninteractive sudo_if apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

if ! command -v npm >/dev/null; then
  say "apt-get install nodejs npm (for wasm-opt and the browser tests)"
  apt_install nodejs npm
fi

if ! rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown; then
  say "rustup target add wasm32-unknown-unknown"
  rustup target add wasm32-unknown-unknown
fi

for component in rustfmt clippy; do
  if ! rustup component list --installed 2>/dev/null | grep -q "^$component"; then
    say "rustup component add $component"
    rustup component add "$component"
  fi
done

if ! trunk --version 2>/dev/null | grep -q "trunk $TRUNK_VERSION"; then
  say "cargo install trunk $TRUNK_VERSION (about 5 minutes)"
  cargo install trunk --version "$TRUNK_VERSION" --locked
fi

if ! wasm-bindgen --version 2>/dev/null | grep -q "wasm-bindgen $WASM_BINDGEN_VERSION"; then
  say "cargo install wasm-bindgen-cli $WASM_BINDGEN_VERSION (about 2 minutes)"
  # Not --locked: one of its locked dependencies is no longer in the registry.
  cargo install wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION" --force
fi

# wasm-opt from npm's binaryen, kept inside the checkout (.tools/, git-ignored).
if ! "$here/.tools/node_modules/.bin/wasm-opt" --version 2>/dev/null | grep -q "version ${BINARYEN_VERSION%%.*}"; then
  say "npm install binaryen@$BINARYEN_VERSION into .tools/"
  mkdir -p "$here/.tools"
  (cd "$here/.tools" && npm install --no-audit --no-fund --silent "binaryen@$BINARYEN_VERSION" >/dev/null)
fi

if [ "$want" = test ]; then
  if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null || ! fc-list 2>/dev/null | grep -qi dejavu; then
    say "apt-get install chromium chromium-driver fonts-dejavu-core"
    apt_install chromium chromium-driver fonts-dejavu-core
  fi
  # The core cases in the other engines (tests/e2e/engines.test.mjs): Firefox ESR speaks
  # WebDriver BiDi itself; WebKitGTK's MiniBrowser is driven by WebKitWebDriver under Xvfb.
  if ! command -v firefox-esr >/dev/null || ! command -v WebKitWebDriver >/dev/null || ! command -v xvfb-run >/dev/null; then
    say "apt-get install firefox-esr webkit2gtk-driver xvfb"
    apt_install firefox-esr webkit2gtk-driver xvfb xauth
  fi
fi
say "tools ready"

#!/usr/bin/env bash
# Installs what Verdict's build, run and tests need, skipping whatever is already there:
# the wasm32 target, wasm-bindgen-cli and cargo-leptos at the exact versions the project pins,
# PostgreSQL's server binaries, Debian's chromium, node/npm, and the npm packages of tools/ and
# end2end/. Safe to run again; installs with apt-get only what is missing (as root or via sudo).
set -euo pipefail
cd "$(dirname "$0")/.."

WASM_BINDGEN_VERSION=0.2.130   # must equal the `wasm-bindgen` pin in Cargo.toml
CARGO_LEPTOS_VERSION=0.3.10    # 0.3.11 needs a newer rustc than 1.95

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

apt_updated=0
apt_install() {
  local sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null; then sudo="sudo"; else
      echo "error: need root (or sudo) to install: $*" >&2; exit 1
    fi
  fi
  if [ "$apt_updated" -eq 0 ]; then
    $sudo apt-get update -qq
    apt_updated=1
  fi
  say "apt-get install $*"
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$@" >/dev/null
}

have_pg_binaries() {
  command -v pg_ctl >/dev/null && command -v initdb >/dev/null && return 0
  compgen -G "/usr/lib/postgresql/*/bin/pg_ctl" >/dev/null
}

if ! rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown; then
  say "rustup target add wasm32-unknown-unknown"
  rustup target add wasm32-unknown-unknown
fi

if [ "$(wasm-bindgen --version 2>/dev/null)" != "wasm-bindgen $WASM_BINDGEN_VERSION" ]; then
  # Not --locked: its lockfile names a crate version the registry no longer serves.
  say "cargo install wasm-bindgen-cli $WASM_BINDGEN_VERSION"
  cargo install wasm-bindgen-cli --version "=$WASM_BINDGEN_VERSION"
fi

if [ "$(cargo leptos --version 2>/dev/null)" != "cargo-leptos $CARGO_LEPTOS_VERSION" ]; then
  say "cargo install cargo-leptos $CARGO_LEPTOS_VERSION (about 25 minutes on 2 cores, once)"
  cargo install cargo-leptos --version "=$CARGO_LEPTOS_VERSION" --locked
fi

have_pg_binaries || apt_install postgresql
command -v psql >/dev/null || apt_install postgresql-client
[ -x /usr/bin/chromium ] || apt_install chromium
command -v npm >/dev/null || apt_install nodejs npm

# npm's binaryen for wasm-opt: Debian's binaryen 108 produces a wasm that never hydrates.
if [ ! -x tools/node_modules/.bin/wasm-opt ]; then
  say "npm ci in tools/"
  (cd tools && npm ci --no-audit --no-fund --loglevel=error)
fi
if [ ! -d end2end/node_modules/@playwright/test ]; then
  say "npm ci in end2end/"
  (cd end2end && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error)
fi

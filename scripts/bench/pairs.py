# Writes bench pairs of 32 prompt tokens + 96-token completions (SmolLM2 tokenizer) as JSONL.
# Usage: python3 scripts/bench/pairs.py MODEL_DIR OUT.jsonl [HH-RLHF .jsonl.gz]
import json, sys
from transformers import AutoTokenizer
tok = AutoTokenizer.from_pretrained(sys.argv[1])
import gzip
texts = [json.loads(l)["chosen"] for l in gzip.open(sys.argv[3] if len(sys.argv) > 3 else "../shared/data/hh-rlhf/harmless-base-test.jsonl.gz", "rt")]
rows = []
for t in texts:
    ids = tok(t)["input_ids"]
    if len(ids) < 224:
        continue
    rows.append({"prompt": tok.decode(ids[:32]), "chosen": tok.decode(ids[32:128]), "rejected": tok.decode(ids[128:224])})
    if len(rows) == 64:
        break
with open(sys.argv[2], "w") as f:
    for r in rows:
        f.write(json.dumps(r) + "\n")
print(len(rows))

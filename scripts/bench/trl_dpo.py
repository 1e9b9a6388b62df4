# TRL's DPOTrainer speed on this machine: SmolLM2-135M-Instruct (HF folder), 2 threads,
# precomputed reference log-probs, pairs of 32 prompt + 96 completion tokens.
# Usage: python3 scripts/bench/trl_dpo.py MODEL_DIR PAIRS.jsonl BATCH LORA_RANK (0: full fine-tune)
# Needs torch, transformers, trl, datasets (and peft for LoRA) from PyPI.
import json, sys, time, resource, tempfile
import torch
from datasets import Dataset
from transformers import AutoModelForCausalLM, AutoTokenizer, TrainerCallback
from trl import DPOConfig, DPOTrainer
torch.set_num_threads(2)
model_dir, data, batch, lora = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
rows = [json.loads(l) for l in open(data)]
tok = AutoTokenizer.from_pretrained(model_dir)
model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
peft_config = None
if lora:
    from peft import LoraConfig
    peft_config = LoraConfig(r=lora, lora_alpha=2 * lora, target_modules=["q_proj", "k_proj", "v_proj", "o_proj"], task_type="CAUSAL_LM")
steps = 5
class Timer(TrainerCallback):
    def __init__(self): self.t = []
    def on_step_begin(self, args, state, control, **kw): self.start = time.perf_counter()
    def on_step_end(self, args, state, control, **kw): self.t.append(time.perf_counter() - self.start)
timer = Timer()
args = DPOConfig(output_dir=tempfile.mkdtemp(), per_device_train_batch_size=batch, max_steps=steps, learning_rate=1e-6,
                 optim="adamw_torch", lr_scheduler_type="constant", logging_steps=1, report_to=[], use_cpu=True,
                 precompute_ref_log_probs=True, max_length=256, save_strategy="no", dataloader_num_workers=0)
trainer = DPOTrainer(model=model, args=args, train_dataset=Dataset.from_list(rows[: batch * steps]),
                     processing_class=tok, peft_config=peft_config, callbacks=[timer])
trainer.train()
per = sum(timer.t[1:]) / len(timer.t[1:])
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"trl": True, "lora": lora, "batch": batch, "s_per_step": round(per, 3),
                  "tokens_per_s": round(batch * 2 * 128 / per, 1), "peak_mib": round(peak)}))

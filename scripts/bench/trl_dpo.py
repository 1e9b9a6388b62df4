# TRL's DPOTrainer speed: a Hugging Face folder, precomputed reference log-probs, the pairs of a
# JSONL file truncated to 256 tokens; f32, or bf16 mixed precision (f32 weights, bf16=True).
# Usage: python3 scripts/bench/trl_dpo.py MODEL_DIR PAIRS.jsonl BATCH LORA_RANK (0: full fine-tune) [cpu|cuda] [f32|bf16]
# On the CPU it uses 2 threads. Needs torch, transformers, trl, datasets (and peft for LoRA).
import json, sys, time, resource, tempfile
import torch
from datasets import Dataset
from transformers import AutoModelForCausalLM, AutoTokenizer, TrainerCallback
from trl import DPOConfig, DPOTrainer
model_dir, data, batch, lora = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
device = sys.argv[5] if len(sys.argv) > 5 else "cpu"
gpu = device == "cuda"
bf16 = (sys.argv[6] if len(sys.argv) > 6 else "f32") == "bf16"
if not gpu:
    torch.set_num_threads(2)
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
    def on_step_begin(self, args, state, control, **kw):
        if gpu: torch.cuda.synchronize()
        self.start = time.perf_counter()
    def on_step_end(self, args, state, control, **kw):
        if gpu: torch.cuda.synchronize()
        self.t.append(time.perf_counter() - self.start)
timer = Timer()
args = DPOConfig(output_dir=tempfile.mkdtemp(), per_device_train_batch_size=batch, max_steps=steps, learning_rate=1e-6,
                 optim="adamw_torch", lr_scheduler_type="constant", logging_steps=1, report_to=[], use_cpu=not gpu,
                 bf16=bf16, fp16=False, precompute_ref_log_probs=True, max_length=256, save_strategy="no",
                 dataloader_num_workers=0)
trainer = DPOTrainer(model=model, args=args, train_dataset=Dataset.from_list(rows[: batch * steps]),
                     processing_class=tok, peft_config=peft_config, callbacks=[timer])
if gpu:
    torch.cuda.reset_peak_memory_stats()
trainer.train()
per = sum(timer.t[1:]) / len(timer.t[1:])
tokens = sum(len(tok(r["prompt"] + r["chosen"])["input_ids"][:256]) + len(tok(r["prompt"] + r["rejected"])["input_ids"][:256])
             for r in rows[: batch * steps]) / steps
out = {"trl": True, "device": torch.cuda.get_device_name(0) if gpu else "cpu", "dtype": "bf16" if bf16 else "f32",
       "lora": lora, "batch": batch,
       "s_per_step": round(per, 3), "pairs_per_s": round(batch / per, 2), "tokens_per_s": round(tokens / per, 1),
       "peak_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}
if gpu:
    out["peak_gpu_mib"] = round(torch.cuda.max_memory_reserved() / 2**20)
print(json.dumps(out))

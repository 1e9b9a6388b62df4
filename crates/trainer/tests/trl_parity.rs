//! Parity with Hugging Face TRL's `DPOTrainer` (trl 1.16.0, transformers 5.24.0, torch 2.15.0) on a
//! tiny random Llama saved with `save_pretrained` (committed in `tests/data/tiny-llama-trl`).
//!
//! The script that made the folder and the expected numbers (run with `HF_HUB_OFFLINE=1 python
//! trl_parity.py crates/trainer/tests/data/tiny-llama-trl`):
//!
//! ```python
//! import json, os, sys, tempfile
//! import torch
//! from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast
//!
//!
//! def bytes_to_unicode():
//!     """GPT-2's byte-to-character table of byte-level BPE."""
//!     bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
//!     cs = bs[:]
//!     n = 0
//!     for b in range(256):
//!         if b not in bs:
//!             bs.append(b)
//!             cs.append(256 + n)
//!             n += 1
//!     return dict(zip(bs, [chr(c) for c in cs]))
//! from datasets import Dataset
//! from trl import DPOConfig, DPOTrainer
//!
//! DIR = sys.argv[1]
//! torch.manual_seed(0)
//! cfg = LlamaConfig(vocab_size=259, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
//!                   num_attention_heads=4, num_key_value_heads=2, head_dim=8, max_position_embeddings=128,
//!                   rms_norm_eps=1e-6, rope_theta=10000.0, tie_word_embeddings=False,
//!                   bos_token_id=256, eos_token_id=256, pad_token_id=256)
//! model = LlamaForCausalLM(cfg)
//! model.save_pretrained(DIR, safe_serialization=True)
//! # Byte-level BPE without merges: one token per byte, then three special tokens.
//! b2u = bytes_to_unicode()
//! vocab = {b2u[b]: b for b in range(256)}
//! specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
//! for k, s in enumerate(specials):
//!     vocab[s] = 256 + k
//! tok_json = {"version": "1.0", "truncation": None, "padding": None,
//!     "added_tokens": [{"id": 256 + k, "content": s, "single_word": False, "lstrip": False, "rstrip": False,
//!                       "normalized": False, "special": True} for k, s in enumerate(specials)],
//!     "normalizer": None,
//!     "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True},
//!     "post_processor": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": False, "use_regex": True},
//!     "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
//!     "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None,
//!               "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False, "ignore_merges": False,
//!               "vocab": vocab, "merges": []}}
//! with open(os.path.join(DIR, "tokenizer.json"), "w") as f:
//!     json.dump(tok_json, f)
//! tok = PreTrainedTokenizerFast(tokenizer_file=os.path.join(DIR, "tokenizer.json"),
//!                               eos_token="<|endoftext|>", pad_token="<|endoftext|>")
//! tok.save_pretrained(DIR)
//! pairs = [
//!     {"prompt": "What is 2+2?", "chosen": " It is 4.", "rejected": " Five, probably."},
//!     {"prompt": "Say hi.", "chosen": " Hi!", "rejected": " No."},
//!     {"prompt": "Name a colour:", "chosen": " Blue", "rejected": " Seven"},
//! ]
//! args = DPOConfig(output_dir=tempfile.mkdtemp(), per_device_train_batch_size=3, num_train_epochs=4,
//!                  learning_rate=0.5, optim="sgd", lr_scheduler_type="constant", warmup_steps=0,
//!                  max_grad_norm=0.0, beta=0.1, loss_type=["sigmoid"], logging_steps=1, report_to=[], seed=0,
//!                  max_length=64, use_cpu=True, bf16=False, fp16=False, dataloader_drop_last=False,
//!                  save_strategy="no", weight_decay=0.0,
//!                  precompute_ref_log_probs=True)
//! trainer = DPOTrainer(model=model, args=args, train_dataset=Dataset.from_list(pairs), processing_class=tok)
//! trainer.train()
//! for log in trainer.state.log_history:
//!     if "loss" in log:
//!         print(json.dumps({k: log[k] for k in ["step", "loss", "rewards/chosen", "rewards/rejected",
//!                                                 "rewards/accuracies", "rewards/margins", "logps/chosen", "logps/rejected"]}))
//! ```
//!
//! It printed, for the 4 logged steps (each logged loss is measured before that step's update,
//! so step 4's is the loss after 3 SGD steps):
//!
//! ```text
//! {"step": 1, "loss": 0.6931471824645996, "rewards/chosen": 0.0, "rewards/rejected": 0.0, "rewards/accuracies": 0.0, "rewards/margins": 0.0, "logps/chosen": -38.731910705566406, "logps/rejected": -53.6743049621582}
//! {"step": 2, "loss": 0.4523158073425293, "rewards/chosen": 0.19310621917247772, "rewards/rejected": -0.3869086802005768, "rewards/accuracies": 1.0, "rewards/margins": 0.5800148844718933, "logps/chosen": -36.800846099853516, "logps/rejected": -57.54339599609375}
//! {"step": 3, "loss": 0.3380768299102783, "rewards/chosen": 0.3325323164463043, "rewards/rejected": -0.6270900368690491, "rewards/accuracies": 1.0, "rewards/margins": 0.959622323513031, "logps/chosen": -35.406585693359375, "logps/rejected": -59.94520950317383}
//! {"step": 4, "loss": 0.24710993468761444, "rewards/chosen": 0.446512371301651, "rewards/rejected": -0.9007688164710999, "rewards/accuracies": 1.0, "rewards/margins": 1.3472810983657837, "logps/chosen": -34.266788482666016, "logps/rejected": -62.6819953918457}
//! ```

use std::path::Path;

use trainer::data::{Row, Text};
use trainer::loss::{LossConfig, LossType};
use trainer::optim::{OptimizerKind, Schedule};
use trainer::{StepReport, TrainConfig};

/// The fixture folder: in `tests/data`, or under `$TRAINER_TEST_DATA` where the test binary
/// runs away from its sources (scripts/gpu-check.sh).
fn model_dir() -> std::path::PathBuf {
    let data = std::env::var_os("TRAINER_TEST_DATA").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data"),
        std::path::PathBuf::from,
    );
    data.join("tiny-llama-trl")
}

/// TRL's numbers per step: loss, rewards/chosen, rewards/rejected, rewards/margins,
/// logps/chosen, logps/rejected.
const EXPECTED: [[f64; 6]; 4] = [
    [
        0.6931471824645996,
        0.0,
        0.0,
        0.0,
        -38.731910705566406,
        -53.6743049621582,
    ],
    [
        0.4523158073425293,
        0.19310621917247772,
        -0.3869086802005768,
        0.5800148844718933,
        -36.800846099853516,
        -57.54339599609375,
    ],
    [
        0.3380768299102783,
        0.3325323164463043,
        -0.6270900368690491,
        0.959622323513031,
        -35.406585693359375,
        -59.94520950317383,
    ],
    [
        0.24710993468761444,
        0.446512371301651,
        -0.9007688164710999,
        1.3472810983657837,
        -34.266788482666016,
        -62.6819953918457,
    ],
];

fn row(prompt: &str, chosen: &str, rejected: &str) -> Row {
    serde_json::from_value(serde_json::json!({
        "prompt": prompt, "chosen": chosen, "rejected": rejected
    }))
    .unwrap()
}

#[test]
fn dpo_matches_trl_before_and_after_three_sgd_steps() {
    check_parity();
}

/// The same run on the GPU, in f32 (the trainer takes the GPU whenever it is built with `cuda`
/// and one is present).
#[test]
#[ignore = "needs a CUDA GPU and the cuda feature: run by scripts/gpu-check.sh"]
fn dpo_matches_trl_on_cuda() {
    let steps = check_parity();
    assert!(
        steps[0].device.starts_with("cuda:"),
        "trained on {}, not a GPU",
        steps[0].device
    );
}

/// Trains the fixture and checks every logged number against TRL's; the step reports.
fn check_parity() -> Vec<StepReport> {
    let rows = vec![
        row("What is 2+2?", " It is 4.", " Five, probably."),
        row("Say hi.", " Hi!", " No."),
        row("Name a colour:", " Blue", " Seven"),
    ];
    assert!(matches!(rows[0].prompt, Text::Plain(_)));
    let cfg = TrainConfig {
        loss: LossConfig {
            losses: vec![(LossType::Sigmoid, 1.0)],
            beta: 0.1,
            ..LossConfig::default()
        },
        lr: 0.5,
        optimizer: OptimizerKind::Sgd,
        schedule: Schedule::Constant,
        warmup_steps: 0,
        epochs: 4,
        max_steps: None,
        batch_size: 3,
        grad_accum: 1,
        max_grad_norm: None,
        weight_decay: 0.0,
        max_length: Some(64),
        seed: 0,
        shuffle: false,
        lora: None,
        save_every: None,
        resume_from: None,
        // f32 on every device (a GPU would default to bf16): TRL's run is f32.
        dtype: Some(candle_core::DType::F32),
    };
    let out = tempfile::tempdir().unwrap();
    let mut steps: Vec<StepReport> = Vec::new();
    let summary = trainer::train(
        &cfg,
        &model_dir(),
        &rows,
        out.path(),
        &mut |r| steps.push(r.clone()),
        None,
    )
    .unwrap();
    assert_eq!(summary.steps, 4);
    for (got, want) in steps.iter().zip(EXPECTED) {
        let m = &got.metrics;
        let values = [
            m.loss,
            m.rewards_chosen,
            m.rewards_rejected,
            m.rewards_margins,
            m.logps_chosen,
            m.logps_rejected,
        ];
        for (name, (g, w)) in [
            "loss",
            "rewards/chosen",
            "rewards/rejected",
            "rewards/margins",
            "logps/chosen",
            "logps/rejected",
        ]
        .iter()
        .zip(values.iter().zip(want))
        {
            // Losses and rewards to 1e-4; summed log-probs (tens of nats) to 1e-3.
            let tol = if name.starts_with("logps") {
                1e-3
            } else {
                1e-4
            };
            assert!(
                (g - w).abs() < tol,
                "step {}: {name} = {g}, TRL {w}",
                got.step
            );
        }
    }
    assert_eq!(steps[3].metrics.rewards_accuracies, 1.0);
    // The result is a Hugging Face folder again.
    for f in ["config.json", "model.safetensors", "tokenizer.json"] {
        assert!(out.path().join(f).exists(), "{f}");
    }
    steps
}

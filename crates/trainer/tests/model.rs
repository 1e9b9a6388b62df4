//! The decoder: every trainable variable gets a gradient, logits match candle-transformers'
//! inference Llama on the same weights, LoRA starts at the base model and merges on save.

mod common;

use candle_core::{DType, Device, Tensor};
use common::rows;
use trainer::data::{Role, batch};
use trainer::loss::{LossConfig, LossType};
use trainer::tiny::{TinySpec, init_tiny};
use trainer::{Decoder, LoraConfig};

fn tiny(dir: &std::path::Path, spec: &TinySpec) {
    init_tiny(dir, spec).unwrap();
}

fn ids(device: &Device) -> (Tensor, Tensor, Tensor) {
    // Two pairs of different lengths, padded: the shapes of a real DPO batch.
    let examples = vec![
        trainer::data::Example::Paired {
            prompt: b"Hi there".iter().map(|&b| u32::from(b)).collect(),
            chosen: b" hello!"
                .iter()
                .map(|&b| u32::from(b))
                .chain([256])
                .collect(),
            rejected: b" go".iter().map(|&b| u32::from(b)).chain([256]).collect(),
            confidence: 1.0,
        },
        trainer::data::Example::Paired {
            prompt: b"Q?".iter().map(|&b| u32::from(b)).collect(),
            chosen: b" yes, sure"
                .iter()
                .map(|&b| u32::from(b))
                .chain([256])
                .collect(),
            rejected: b" no".iter().map(|&b| u32::from(b)).chain([256]).collect(),
            confidence: 1.0,
        },
    ];
    let b = batch(&examples, &[0, 1], None, 256);
    assert_eq!(
        b.roles[0],
        Role::Chosen {
            pair: 0,
            confidence: 1.0
        }
    );
    (
        Tensor::from_slice(&b.ids, (b.rows, b.len), device).unwrap(),
        Tensor::from_slice(&b.attention, (b.rows, b.len), device).unwrap(),
        Tensor::from_slice(&b.completion, (b.rows, b.len), device).unwrap(),
    )
}

/// The largest absolute difference between two tensors.
fn max_abs_diff(a: &Tensor, b: &Tensor) -> f32 {
    (a - b)
        .unwrap()
        .abs()
        .unwrap()
        .max_all()
        .unwrap()
        .to_scalar::<f32>()
        .unwrap()
}

fn dpo_loss(model: &Decoder, lora_ref: Option<&Tensor>) -> Tensor {
    let device = Device::Cpu;
    let (ids, attn, comp) = ids(&device);
    let logits = model.forward(&ids, Some(&attn)).unwrap();
    let (logps, lengths) = trainer::loss::sequence_logps(&logits, &ids, &comp).unwrap();
    // A reference a little off the policy, so that every term of the loss is active.
    let refs = match lora_ref {
        Some(r) => r.clone(),
        None => (logps.detach() - 0.5).unwrap(),
    };
    let roles = [
        Role::Chosen {
            pair: 0,
            confidence: 1.0,
        },
        Role::Chosen {
            pair: 1,
            confidence: 1.0,
        },
        Role::Rejected { pair: 0 },
        Role::Rejected { pair: 1 },
    ];
    let cfg = LossConfig {
        losses: vec![(LossType::Sigmoid, 1.0), (LossType::Sft, 0.1)],
        ..LossConfig::default()
    };
    trainer::loss::compute(&cfg, &logps, &refs, &lengths, &roles)
        .unwrap()
        .0
}

#[test]
fn every_trainable_variable_gets_a_gradient() {
    let dir = tempfile::tempdir().unwrap();
    for tied in [false, true] {
        tiny(
            dir.path(),
            &TinySpec {
                tied,
                seed: 3,
                ..TinySpec::default()
            },
        );
        let model = Decoder::load(dir.path(), &Device::Cpu, None).unwrap();
        let layers = model.config.num_hidden_layers;
        assert_eq!(
            model.params().len(),
            1 + layers * 9 + 1 + usize::from(!tied)
        );
        let grads = dpo_loss(&model, None).backward().unwrap();
        for (name, var) in model.params() {
            let g = grads
                .get(var.as_tensor())
                .unwrap_or_else(|| panic!("{name}: no gradient"));
            let norm = g
                .sqr()
                .unwrap()
                .sum_all()
                .unwrap()
                .to_scalar::<f32>()
                .unwrap();
            assert!(
                norm > 0.0 && norm.is_finite(),
                "{name}: gradient norm {norm}"
            );
        }
    }
}

#[test]
fn lora_trains_adapters_only_and_starts_at_the_base_model() {
    let dir = tempfile::tempdir().unwrap();
    tiny(dir.path(), &TinySpec::default());
    let base = Decoder::load(dir.path(), &Device::Cpu, None).unwrap();
    let lora = LoraConfig {
        rank: 4,
        ..LoraConfig::default()
    };
    let model = Decoder::load(dir.path(), &Device::Cpu, Some(&lora)).unwrap();
    assert_eq!(
        model.params().len(),
        2 * 2 * 4,
        "A and B on q, k, v, o of 2 layers"
    );
    assert!(model.params().iter().all(|(n, _)| n.contains(".lora_")));
    let (ids, attn, _) = ids(&Device::Cpu);
    let a = base.forward(&ids, Some(&attn)).unwrap();
    let b = model.forward(&ids, Some(&attn)).unwrap();
    let diff = max_abs_diff(&a, &b);
    assert_eq!(diff, 0.0, "B starts at zero");
    let grads = dpo_loss(&model, None).backward().unwrap();
    for (name, var) in model.params() {
        let norm = grads
            .get(var.as_tensor())
            .map(|g| {
                g.sqr()
                    .unwrap()
                    .sum_all()
                    .unwrap()
                    .to_scalar::<f32>()
                    .unwrap()
            })
            .unwrap_or(0.0);
        // With B = 0 the first gradient reaches B only; A follows once B moves.
        assert_eq!(norm > 0.0, name.contains("lora_B"), "{name}: {norm}");
    }
}

#[test]
fn logits_match_candle_transformers_llama() {
    use candle_transformers::models::llama;
    let dir = tempfile::tempdir().unwrap();
    tiny(
        dir.path(),
        &TinySpec {
            seed: 7,
            ..TinySpec::default()
        },
    );
    let device = Device::Cpu;
    let ours = Decoder::load(dir.path(), &device, None).unwrap();
    let text = std::fs::read_to_string(dir.path().join("config.json")).unwrap();
    let cfg: llama::LlamaConfig = serde_json::from_str(&text).unwrap();
    let cfg = cfg.into_config(false);
    let weights = trainer::model::load_weights(dir.path(), &device).unwrap();
    let vb = candle_nn::VarBuilder::from_tensors(weights, DType::F32, &device);
    let theirs = llama::Llama::load(vb, &cfg).unwrap();
    let tokens: Vec<u32> = b"The quick brown fox jumps"
        .iter()
        .map(|&b| u32::from(b))
        .collect();
    let input = Tensor::from_slice(&tokens, (1, tokens.len()), &device).unwrap();
    let mut cache = llama::Cache::new(false, DType::F32, &cfg, &device).unwrap();
    // candle-transformers returns the last position's logits.
    let expected = theirs
        .forward(&input, 0, &mut cache)
        .unwrap()
        .flatten_all()
        .unwrap();
    let all = ours.forward(&input, None).unwrap();
    let got = all
        .narrow(1, tokens.len() - 1, 1)
        .unwrap()
        .flatten_all()
        .unwrap();
    let diff = max_abs_diff(&got, &expected);
    assert!(diff < 1e-4, "max |Δlogit| = {diff}");
    // The KV-cached path agrees with the full forward.
    let mut kv = trainer::model::KvCache::default();
    let first = ours
        .forward_cached(&input.narrow(1, 0, 10).unwrap(), &mut kv)
        .unwrap();
    let rest = ours
        .forward_cached(&input.narrow(1, 10, tokens.len() - 10).unwrap(), &mut kv)
        .unwrap();
    let cached = Tensor::cat(&[first, rest], 1).unwrap();
    let diff = max_abs_diff(&cached, &all);
    assert!(diff < 1e-4, "cached vs full: {diff}");
}

#[test]
fn lora_on_the_output_head_trains_and_merges_and_is_refused_where_it_cannot_apply() {
    let dir = tempfile::tempdir().unwrap();
    tiny(dir.path(), &TinySpec::default());
    let lora = LoraConfig {
        rank: 2,
        targets: vec!["lm_head".into()],
        ..LoraConfig::default()
    };
    let model = Decoder::load(dir.path(), &Device::Cpu, Some(&lora)).unwrap();
    let names: Vec<&str> = model.params().iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["lm_head.lora_A.weight", "lm_head.lora_B.weight"]);
    let grads = dpo_loss(&model, None).backward().unwrap();
    let (_, b) = &model.params()[1];
    let norm = grads
        .get(b.as_tensor())
        .unwrap()
        .sqr()
        .unwrap()
        .sum_all()
        .unwrap()
        .to_scalar::<f32>()
        .unwrap();
    assert!(norm > 0.0, "the head's B gets a gradient");
    b.set(
        &b.as_tensor()
            .ones_like()
            .unwrap()
            .affine(0.05, 0.0)
            .unwrap(),
    )
    .unwrap();
    let out = tempfile::tempdir().unwrap();
    model.save(out.path()).unwrap();
    let reloaded = Decoder::load(out.path(), &Device::Cpu, None).unwrap();
    let (ids, attn, _) = ids(&Device::Cpu);
    let base = Decoder::load(dir.path(), &Device::Cpu, None).unwrap();
    let adapted = model.forward(&ids, Some(&attn)).unwrap();
    assert!(max_abs_diff(&adapted, &base.forward(&ids, Some(&attn)).unwrap()) > 1e-3);
    let diff = max_abs_diff(&adapted, &reloaded.forward(&ids, Some(&attn)).unwrap());
    assert!(
        diff < 1e-4,
        "the saved head has the adapter merged in: {diff}"
    );

    let tied = tempfile::tempdir().unwrap();
    tiny(
        tied.path(),
        &TinySpec {
            tied: true,
            ..TinySpec::default()
        },
    );
    let err = Decoder::load(tied.path(), &Device::Cpu, Some(&lora)).unwrap_err();
    assert!(err.to_string().contains("ties its output head"), "{err}");
    let typo = LoraConfig {
        targets: vec!["q_prj".into()],
        ..LoraConfig::default()
    };
    let err = Decoder::load(dir.path(), &Device::Cpu, Some(&typo)).unwrap_err();
    assert!(
        err.to_string().contains("unknown LoRA target \"q_prj\""),
        "{err}"
    );
}

#[test]
fn saving_merges_adapters_and_reloads() {
    let dir = tempfile::tempdir().unwrap();
    tiny(dir.path(), &TinySpec::default());
    let lora = LoraConfig {
        rank: 2,
        ..LoraConfig::default()
    };
    let model = Decoder::load(dir.path(), &Device::Cpu, Some(&lora)).unwrap();
    // Move B off zero, as training would.
    for (name, var) in model.params() {
        if name.contains("lora_B") {
            var.set(
                &var.as_tensor()
                    .ones_like()
                    .unwrap()
                    .affine(0.01, 0.0)
                    .unwrap(),
            )
            .unwrap();
        }
    }
    let out = tempfile::tempdir().unwrap();
    model.save(out.path()).unwrap();
    std::fs::copy(
        dir.path().join("tokenizer.json"),
        out.path().join("tokenizer.json"),
    )
    .unwrap();
    let reloaded = Decoder::load(out.path(), &Device::Cpu, None).unwrap();
    let (ids, attn, _) = ids(&Device::Cpu);
    let a = model.forward(&ids, Some(&attn)).unwrap();
    let b = reloaded.forward(&ids, Some(&attn)).unwrap();
    let diff = max_abs_diff(&a, &b);
    assert!(
        diff < 1e-4,
        "merged weights reproduce the adapted model: {diff}"
    );
}

#[test]
fn resuming_from_a_checkpoint_continues_the_same_run() {
    let dir = tempfile::tempdir().unwrap();
    tiny(dir.path(), &TinySpec::default());
    let rows = rows(8);
    for lora in [
        None,
        Some(LoraConfig {
            rank: 2,
            ..LoraConfig::default()
        }),
    ] {
        let cfg = trainer::TrainConfig {
            lr: 1e-3,
            epochs: 2,
            batch_size: 2,
            save_every: Some(3),
            lora: lora.clone(),
            ..trainer::TrainConfig::default()
        };
        let straight = tempfile::tempdir().unwrap();
        let mut full_run = Vec::new();
        trainer::train(
            &cfg,
            dir.path(),
            &rows,
            straight.path(),
            &mut |r| full_run.push(r.metrics.loss),
            None,
        )
        .unwrap();
        assert_eq!(full_run.len(), 8);
        let ckpt = straight.path().join("checkpoint-3");
        assert!(
            ckpt.join("trainer_state.json").exists() && ckpt.join("model.safetensors").exists()
        );
        let resumed_out = tempfile::tempdir().unwrap();
        let resume = trainer::TrainConfig {
            resume_from: Some(ckpt),
            ..cfg.clone()
        };
        let mut rest = Vec::new();
        let summary = trainer::train(
            &resume,
            dir.path(),
            &rows,
            resumed_out.path(),
            &mut |r| rest.push((r.step, r.metrics.loss)),
            None,
        )
        .unwrap();
        assert_eq!(summary.steps, 8);
        assert_eq!(rest.first().map(|r| r.0), Some(4), "continues after step 3");
        for (step, loss) in rest {
            let want = full_run[step - 1];
            assert!(
                (loss - want).abs() < 1e-5,
                "step {step}: {loss} vs {want} (lora: {})",
                lora.is_some()
            );
        }
        let a = trainer::model::load_weights(straight.path(), &Device::Cpu).unwrap();
        let b = trainer::model::load_weights(resumed_out.path(), &Device::Cpu).unwrap();
        for (name, t) in &a {
            let d = max_abs_diff(t, &b[name]);
            assert!(d < 1e-5, "{name}: {d}");
        }
    }
}

#[test]
fn cancelling_stops_between_steps_and_keeps_the_weights() {
    let dir = tempfile::tempdir().unwrap();
    tiny(dir.path(), &TinySpec::default());
    let rows = rows(6);
    let cfg = trainer::TrainConfig {
        batch_size: 1,
        lr: 1e-3,
        ..trainer::TrainConfig::default()
    };
    let cancel = std::sync::atomic::AtomicBool::new(false);
    let out = tempfile::tempdir().unwrap();
    let summary = trainer::train(
        &cfg,
        dir.path(),
        &rows,
        out.path(),
        &mut |r| {
            if r.step == 2 {
                cancel.store(true, std::sync::atomic::Ordering::Relaxed);
            }
        },
        Some(&cancel),
    )
    .unwrap();
    assert!(summary.cancelled);
    assert_eq!(summary.steps, 2);
    assert!(out.path().join("model.safetensors").exists());
}

#[test]
fn the_reference_phase_scores_only_the_examples_max_steps_uses() {
    let dir = tempfile::tempdir().unwrap();
    tiny(dir.path(), &TinySpec::default());
    let rows = rows(40);
    let cfg = trainer::TrainConfig {
        batch_size: 2,
        max_steps: Some(2),
        lr: 1e-3,
        ..trainer::TrainConfig::default()
    };
    let out = tempfile::tempdir().unwrap();
    let mut reference = Vec::new();
    let mut steps = 0;
    let summary = trainer::train::train_reporting(
        &cfg,
        dir.path(),
        &rows,
        out.path(),
        &mut |done, total| reference.push((done, total)),
        &mut |_| steps += 1,
        None,
    )
    .unwrap();
    assert_eq!((summary.steps, steps), (2, 2));
    // Two steps of two examples: four of the forty are scored, in batches of two.
    assert_eq!(reference, [(0, 4), (2, 4), (4, 4)]);
}

#[test]
fn cancelling_in_the_reference_phase_trains_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    tiny(dir.path(), &TinySpec::default());
    let rows = rows(12);
    let cfg = trainer::TrainConfig {
        batch_size: 1,
        ..trainer::TrainConfig::default()
    };
    let cancel = std::sync::atomic::AtomicBool::new(false);
    let out = tempfile::tempdir().unwrap();
    let mut scored = 0;
    let mut steps = 0;
    let summary = trainer::train::train_reporting(
        &cfg,
        dir.path(),
        &rows,
        out.path(),
        &mut |done, _| {
            scored = done;
            if done == 3 {
                cancel.store(true, std::sync::atomic::Ordering::Relaxed);
            }
        },
        &mut |_| steps += 1,
        Some(&cancel),
    )
    .unwrap();
    assert!(summary.cancelled);
    assert_eq!((summary.steps, steps, scored), (0, 0, 3));
    assert!(!out.path().join("model.safetensors").exists());
}

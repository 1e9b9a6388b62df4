//! The training loop: the plan of steps, reference log-probs of the examples it uses (with
//! their own progress), shuffled batches, gradient accumulation and clipping, the optimiser and schedule, per-step metrics through a callback,
//! checkpoints as Hugging Face folders, cancellation between steps.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use candle_core::{DType, Device, Tensor};
use rand::SeedableRng;
use rand::seq::SliceRandom;

use crate::data::{self, Batch, Example, Role, Row};
use crate::loss::{self, LossConfig, Metrics};
use crate::model::{Decoder, LoraConfig};
use crate::optim::{Optimizer, OptimizerKind, Schedule, lr_factor};
use crate::tokenizer::Tokenizer;

/// Everything a run is configured with.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainConfig {
    /// Loss family and β.
    pub loss: LossConfig,
    /// Peak learning rate.
    pub lr: f64,
    /// SGD or AdamW.
    pub optimizer: OptimizerKind,
    /// Decay after warmup.
    pub schedule: Schedule,
    /// Linear warmup steps.
    pub warmup_steps: usize,
    /// Passes over the data.
    pub epochs: usize,
    /// Stop after this many optimiser steps.
    pub max_steps: Option<usize>,
    /// Examples per micro-batch.
    pub batch_size: usize,
    /// Micro-batches per optimiser step.
    pub grad_accum: usize,
    /// Clip the global gradient norm to this.
    pub max_grad_norm: Option<f64>,
    /// AdamW's decoupled weight decay.
    pub weight_decay: f64,
    /// Truncate prompt+completion to this many tokens, keeping the start.
    pub max_length: Option<usize>,
    /// Seed of shuffling and LoRA initialisation.
    pub seed: u64,
    /// Shuffle examples each epoch.
    pub shuffle: bool,
    /// Train LoRA adapters instead of every weight.
    pub lora: Option<LoraConfig>,
    /// Save a checkpoint every this many steps.
    pub save_every: Option<usize>,
    /// Continue from a checkpoint folder of an earlier run with the same model, data and
    /// configuration (its trainable weights, optimiser state and step).
    pub resume_from: Option<PathBuf>,
    /// The compute dtype ([`crate::Decoder::set_dtype`]); `None`: the device's
    /// ([`crate::device::default_dtype`]: bf16 on a GPU, f32 on the CPU).
    pub dtype: Option<DType>,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            loss: LossConfig::default(),
            lr: 1e-6,
            optimizer: OptimizerKind::Adamw,
            schedule: Schedule::Linear,
            warmup_steps: 0,
            epochs: 1,
            max_steps: None,
            batch_size: 4,
            grad_accum: 1,
            max_grad_norm: Some(1.0),
            weight_decay: 0.0,
            max_length: Some(1024),
            seed: 42,
            shuffle: true,
            lora: None,
            save_every: None,
            resume_from: None,
            dtype: None,
        }
    }
}

/// What a checkpoint records besides the weights, to resume from it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TrainerState {
    /// Optimiser steps taken.
    pub step: usize,
    /// Steps the run was going to take.
    pub total_steps: usize,
    /// Trainable variables (names, in order).
    pub variables: Vec<String>,
}

/// One optimiser step's report.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct StepReport {
    /// 1-based optimiser step.
    pub step: usize,
    /// Steps in the run.
    pub total_steps: usize,
    /// Fractional epoch reached.
    pub epoch: f64,
    /// Learning rate used for this step.
    pub learning_rate: f64,
    /// Loss and rewards, measured before this step's update (as TRL logs them).
    #[serde(flatten)]
    pub metrics: Metrics,
    /// Gradient norm before clipping.
    pub grad_norm: f64,
    /// Tokens (prompt + completion, both policy passes) per second of this step.
    pub tokens_per_second: f64,
    /// Seconds this step took.
    pub seconds: f64,
    /// Where the step ran: `cpu` or `cuda:0 NVIDIA H200`.
    pub device: String,
    /// The compute dtype.
    pub dtype: String,
    /// The most GPU memory seen in use so far in the run, MiB (absent on the CPU).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gpu_memory_mib: Option<f64>,
}

/// What a finished run left behind.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainSummary {
    /// Optimiser steps taken.
    pub steps: usize,
    /// The final Hugging Face folder.
    pub output: PathBuf,
    /// Stopped early on request.
    pub cancelled: bool,
    /// The output has its own `model.gguf`, quantized like the base's
    /// ([`crate::gguf::quantize_like_base`]); false where the base has none, the run was
    /// cancelled, or quantizing failed (logged: the f32 weights still serve).
    pub quantized: bool,
}

fn batch_tensors(b: &Batch, device: &Device) -> Result<(Tensor, Tensor, Tensor)> {
    Ok((
        Tensor::from_slice(&b.ids, (b.rows, b.len), device)?,
        Tensor::from_slice(&b.attention, (b.rows, b.len), device)?,
        Tensor::from_slice(&b.completion, (b.rows, b.len), device)?,
    ))
}

/// Key of a cached reference log-prob: example index and which completion.
fn ref_key(example: usize, role: &Role) -> (usize, u8) {
    match role {
        Role::Chosen { .. } => (example, 0),
        Role::Rejected { .. } => (example, 1),
        Role::Unpaired { .. } => (example, 2),
    }
}

/// Reference log-probs, under the starting model, of the completions of `used` (the examples
/// the run will train on), in batches; `on_reference(done, total)` hears each batch. `None`
/// when cancelled.
fn reference_logps(
    model: &Decoder,
    examples: &[Example],
    used: &[usize],
    cfg: &TrainConfig,
    pad_id: u32,
    on_reference: &mut dyn FnMut(usize, usize),
    cancel: Option<&AtomicBool>,
) -> Result<Option<HashMap<(usize, u8), f32>>> {
    let mut out = HashMap::new();
    on_reference(0, used.len());
    let mut done = 0;
    for chunk in used.chunks(cfg.batch_size.max(1)) {
        if cancel.is_some_and(|c| c.load(Ordering::Relaxed)) {
            return Ok(None);
        }
        let b = data::batch(examples, chunk, cfg.max_length, pad_id);
        let (ids, attn, comp) = batch_tensors(&b, model.device())?;
        let (logps, _) = model.completion_logps(&ids, &attn, &comp)?;
        let logps = logps.detach();
        let values = logps.to_vec1::<f32>()?;
        for ((i, role), v) in b.examples.iter().zip(&b.roles).zip(values) {
            out.insert(ref_key(*i, role), v);
        }
        done += chunk.len();
        on_reference(done, used.len());
    }
    Ok(Some(out))
}

/// One optimiser step of the plan: its epoch, its place in the epoch, and its micro-batches.
struct PlannedStep {
    epoch: usize,
    index: usize,
    micro: Vec<Vec<usize>>,
}

/// Every step the run will take, in order: the epochs' shuffles (one generator, so a resumed
/// run replays the same order), cut into micro-batches and steps, up to `total_steps`.
fn plan(n: usize, cfg: &TrainConfig, total_steps: usize) -> Vec<PlannedStep> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(cfg.seed);
    let mut steps = Vec::with_capacity(total_steps);
    'epochs: for epoch in 0..cfg.epochs.max(1) {
        let mut order: Vec<usize> = (0..n).collect();
        if cfg.shuffle {
            order.shuffle(&mut rng);
        }
        let micro: Vec<&[usize]> = order.chunks(cfg.batch_size).collect();
        for (index, group) in micro.chunks(cfg.grad_accum).enumerate() {
            if steps.len() >= total_steps {
                break 'epochs;
            }
            steps.push(PlannedStep {
                epoch,
                index,
                micro: group.iter().map(|m| m.to_vec()).collect(),
            });
        }
    }
    steps
}

/// Copies the tokenizer files that a Hugging Face folder carries.
fn copy_tokenizer(from: &Path, to: &Path) -> Result<()> {
    for f in [
        "tokenizer.json",
        "tokenizer_config.json",
        "special_tokens_map.json",
        "generation_config.json",
    ] {
        let src = from.join(f);
        if src.exists() {
            std::fs::copy(&src, to.join(f)).with_context(|| format!("copying {f}"))?;
        }
    }
    Ok(())
}

/// Trains `model_dir` on `rows` and writes the result (a Hugging Face folder) to `out`.
/// `on_step` hears every optimiser step; `cancel` stops the run between steps (the weights so
/// far are still saved).
///
/// # Errors
/// Loading, data or numeric failures; nothing is registered half-written (checkpoints are
/// written under a temporary name and renamed).
pub fn train(
    cfg: &TrainConfig,
    model_dir: &Path,
    rows: &[Row],
    out: &Path,
    on_step: &mut dyn FnMut(&StepReport),
    cancel: Option<&AtomicBool>,
) -> Result<TrainSummary> {
    train_reporting(cfg, model_dir, rows, out, &mut |_, _| {}, on_step, cancel)
}

/// [`train`], also reporting the reference phase: before the first step the starting model
/// scores the completions of the examples the run will use (only those: `max_steps` may leave
/// most of the data out), and `on_reference(done, total)` hears each batch of it. `cancel` is
/// honoured in that phase too.
///
/// # Errors
/// As [`train`].
pub fn train_reporting(
    cfg: &TrainConfig,
    model_dir: &Path,
    rows: &[Row],
    out: &Path,
    on_reference: &mut dyn FnMut(usize, usize),
    on_step: &mut dyn FnMut(&StepReport),
    cancel: Option<&AtomicBool>,
) -> Result<TrainSummary> {
    if cfg.batch_size == 0 || cfg.grad_accum == 0 {
        bail!("the batch size and gradient accumulation must be at least 1");
    }
    if !(cfg.lr.is_finite() && cfg.lr > 0.0) {
        bail!("the learning rate must be a positive number");
    }
    if !(cfg.loss.beta.is_finite() && cfg.loss.beta > 0.0) {
        bail!("beta must be a positive number");
    }
    let device = crate::device::pick();
    let device_name = crate::device::describe(&device);
    let mut gpu_peak: Option<u64> = None;
    let mut model = Decoder::load(model_dir, &device, cfg.lora.as_ref())
        .with_context(|| format!("loading the model in {}", model_dir.display()))?;
    let dtype = cfg
        .dtype
        .unwrap_or_else(|| crate::device::default_dtype(&device));
    model.set_dtype(dtype)?;
    let tok = Tokenizer::load(model_dir, &model.config.eos_ids())?;
    let mut examples = data::tokenize(rows, &tok)?;
    if let Some(m) = cfg.max_length {
        // As TRL: a prompt that fills max_length leaves no completion to learn from.
        examples.retain(|e| match e {
            Example::Paired { prompt, .. } | Example::Unpaired { prompt, .. } => prompt.len() < m,
        });
    }
    if examples.is_empty() {
        bail!("no example fits in max_length");
    }
    let needs_pairs = cfg.loss.losses.iter().any(|(l, _)| l.needs_pairs());
    if needs_pairs && !examples.iter().any(|e| matches!(e, Example::Paired { .. })) {
        bail!(
            "the losses {:?} need paired rows (prompt, chosen, rejected)",
            cfg.loss.losses
        );
    }
    let vars: Vec<_> = model.params().iter().map(|(_, v)| v.clone()).collect();
    let mut opt = Optimizer::new(cfg.optimizer, vars, cfg.weight_decay);
    // Resuming: the reference log-probs below come from the starting model, as in the
    // original run; the trained variables and the optimiser state come back after them.
    let mut resumed = 0;
    if let Some(dir) = &cfg.resume_from {
        resumed = read_state(dir)?.step;
    }
    let micro_per_epoch = examples.len().div_ceil(cfg.batch_size);
    let steps_per_epoch = micro_per_epoch.div_ceil(cfg.grad_accum);
    let mut total_steps = steps_per_epoch * cfg.epochs.max(1);
    if let Some(m) = cfg.max_steps {
        total_steps = total_steps.min(m);
    }
    let steps = plan(examples.len(), cfg, total_steps);
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let uses_ref = cfg.loss.losses.iter().any(|(l, _)| l.uses_reference());
    let refs = if uses_ref {
        let mut used: Vec<usize> = steps
            .iter()
            .skip(resumed)
            .flat_map(|s| s.micro.iter().flatten().copied())
            .collect();
        used.sort_unstable();
        used.dedup();
        let Some(refs) = reference_logps(
            &model,
            &examples,
            &used,
            cfg,
            tok.pad_id,
            on_reference,
            cancel,
        )?
        else {
            // Cancelled before the first step: nothing was trained, nothing is written.
            return Ok(TrainSummary {
                steps: resumed,
                output: out.to_path_buf(),
                cancelled: true,
                quantized: false,
            });
        };
        refs
    } else {
        HashMap::new()
    };
    if let Some(dir) = &cfg.resume_from {
        restore(&model, &mut opt, dir)?;
    }
    let mut step = 0;
    let mut cancelled = false;
    for planned in &steps {
        let (epoch, s, group) = (planned.epoch, planned.index, &planned.micro);
        if step < resumed {
            // Replayed, not trained.
            step += 1;
            continue;
        }
        if cancel.is_some_and(|c| c.load(Ordering::Relaxed)) {
            cancelled = true;
            break;
        }
        let started = Instant::now();
        let mut grads: Vec<Option<Tensor>> = Vec::new();
        let mut metrics = Metrics::default();
        let mut tokens = 0.0;
        for indices in group {
            let b = data::batch(&examples, indices, cfg.max_length, tok.pad_id);
            let (ids, attn, comp) = batch_tensors(&b, &device)?;
            tokens += b.attention.iter().sum::<f32>() as f64;
            let (logps, lengths) = model.completion_logps(&ids, &attn, &comp)?;
            let refs: Vec<f32> = b
                .examples
                .iter()
                .zip(&b.roles)
                .map(|(i, r)| refs.get(&ref_key(*i, r)).copied().unwrap_or(0.0))
                .collect();
            let refs = Tensor::from_vec(refs, b.rows, &device)?;
            let (loss, m) = loss::compute(&cfg.loss, &logps, &refs, &lengths, &b.roles)?;
            if !m.loss.is_finite() {
                bail!(
                    "step {}: the loss is not a finite number ({}); lower the learning rate",
                    step + 1,
                    m.loss
                );
            }
            let scaled = (loss / group.len() as f64)?;
            opt.accumulate(&scaled.backward()?, &mut grads)?;
            accumulate_metrics(&mut metrics, &m, group.len());
        }
        let lr = cfg.lr * lr_factor(cfg.schedule, step, cfg.warmup_steps, total_steps);
        let norm = Optimizer::grad_norm(&grads)?;
        let clip = match cfg.max_grad_norm {
            Some(max) if norm > max && norm > 0.0 => max / norm,
            _ => 1.0,
        };
        opt.step(&grads, lr, clip)?;
        // A GPU runs the step's kernels asynchronously: the time counts them only once they end.
        device.synchronize()?;
        step += 1;
        let seconds = started.elapsed().as_secs_f64();
        if let Some(used) = crate::device::memory_in_use(&device) {
            gpu_peak = Some(gpu_peak.map_or(used, |p| p.max(used)));
        }
        on_step(&StepReport {
            step,
            total_steps,
            epoch: epoch as f64 + (s + 1) as f64 / steps_per_epoch as f64,
            learning_rate: lr,
            metrics,
            grad_norm: norm,
            tokens_per_second: tokens / seconds.max(1e-9),
            seconds,
            device: device_name.clone(),
            dtype: dtype.as_str().to_owned(),
            gpu_memory_mib: gpu_peak.map(|b| b as f64 / (1024.0 * 1024.0)),
        });
        if let Some(every) = cfg.save_every
            && every > 0
            && step % every == 0
            && step < total_steps
        {
            checkpoint(
                &model,
                &opt,
                model_dir,
                &out.join(format!("checkpoint-{step}")),
                step,
                total_steps,
            )?;
        }
    }
    save(&model, model_dir, out)?;
    // A child of a quantized base generates on the same fast path as its parent (the arena's
    // battles against it); without its own file it still runs, on the f32 decoder.
    let quantized = !cancelled
        && crate::gguf::quantize_like_base(model_dir, out).unwrap_or_else(|e| {
            tracing::warn!(error = %format!("{e:#}"), "the trained model was not quantized");
            false
        });
    Ok(TrainSummary {
        steps: step,
        output: out.to_path_buf(),
        cancelled,
        quantized,
    })
}

fn accumulate_metrics(acc: &mut Metrics, m: &Metrics, n: usize) {
    let w = 1.0 / n as f64;
    acc.loss += m.loss * w;
    acc.rewards_chosen += m.rewards_chosen * w;
    acc.rewards_rejected += m.rewards_rejected * w;
    acc.rewards_accuracies += m.rewards_accuracies * w;
    acc.rewards_margins += m.rewards_margins * w;
    acc.logps_chosen += m.logps_chosen * w;
    acc.logps_rejected += m.logps_rejected * w;
}

/// A resumable checkpoint: the Hugging Face folder plus the trainable variables as trained
/// (adapters unmerged), the optimiser state and the step. Written to a temporary folder and
/// renamed, so that a crash never leaves a half-written checkpoint.
fn checkpoint(
    model: &Decoder,
    opt: &Optimizer,
    model_dir: &Path,
    dir: &Path,
    step: usize,
    total_steps: usize,
) -> Result<()> {
    let tmp = dir.with_extension("partial");
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp)?;
    }
    save(model, model_dir, &tmp)?;
    let vars: HashMap<String, Tensor> = model
        .params()
        .iter()
        .map(|(n, v)| (n.clone(), v.as_tensor().detach()))
        .collect();
    candle_core::safetensors::save(&vars, tmp.join("trainable.safetensors"))?;
    candle_core::safetensors::save(&opt.state()?, tmp.join("optimizer.safetensors"))?;
    let state = TrainerState {
        step,
        total_steps,
        variables: model.params().iter().map(|(n, _)| n.clone()).collect(),
    };
    std::fs::write(
        tmp.join("trainer_state.json"),
        serde_json::to_string_pretty(&state)?,
    )?;
    if dir.exists() {
        std::fs::remove_dir_all(dir)?;
    }
    std::fs::rename(&tmp, dir)?;
    Ok(())
}

/// A checkpoint's state file.
fn read_state(dir: &Path) -> Result<TrainerState> {
    Ok(serde_json::from_str(
        &std::fs::read_to_string(dir.join("trainer_state.json"))
            .with_context(|| format!("{} is not a resumable checkpoint", dir.display()))?,
    )?)
}

/// Restores a checkpoint into the model and optimiser; returns its step.
fn restore(model: &Decoder, opt: &mut Optimizer, dir: &Path) -> Result<usize> {
    let state = read_state(dir)?;
    let names: Vec<String> = model.params().iter().map(|(n, _)| n.clone()).collect();
    if names != state.variables {
        bail!(
            "the checkpoint was trained with other variables (full fine-tuning vs LoRA, or another model)"
        );
    }
    let vars = candle_core::safetensors::load(dir.join("trainable.safetensors"), model.device())?;
    for (name, var) in model.params() {
        let t = vars
            .get(name)
            .with_context(|| format!("the checkpoint has no {name}"))?;
        var.set(t)?;
    }
    let moments =
        candle_core::safetensors::load(dir.join("optimizer.safetensors"), model.device())?;
    opt.restore(&moments, state.step)?;
    Ok(state.step)
}

/// Writes a Hugging Face folder: weights (adapters merged), config and tokenizer files.
///
/// # Errors
/// Write failures.
pub fn save(model: &Decoder, model_dir: &Path, dir: &Path) -> Result<()> {
    model.save(dir)?;
    copy_tokenizer(model_dir, dir)?;
    Ok(())
}

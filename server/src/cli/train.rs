//! `verdict train`, `verdict generate` and `verdict model ...`: the trainer crate from the
//! command line, with a progress bar and per-step metrics as JSONL.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use trainer::loss::{LossConfig, LossType};
use trainer::optim::{OptimizerKind, Schedule};
use trainer::{LoraConfig, TrainConfig};

/// `verdict train ...`.
#[derive(Debug, Args)]
pub struct TrainArgs {
    /// Hugging Face model folder (config.json, *.safetensors, tokenizer.json).
    #[arg(long)]
    pub model: PathBuf,
    /// DPO rows (JSONL: prompt/chosen/rejected, or prompt/completion/label for kto).
    #[arg(long)]
    pub data: PathBuf,
    /// Output folder (a Hugging Face folder; checkpoints in checkpoint-N/).
    #[arg(long)]
    pub out: PathBuf,
    /// Losses, comma-separated, optionally weighted: `sigmoid`, `sigmoid:1,sft:0.1`, ...
    /// (sigmoid, robust, hinge, ipo, sigmoid_norm, simpo, kto, sft).
    #[arg(long, default_value = "sigmoid")]
    pub loss: String,
    /// β.
    #[arg(long, default_value_t = 0.1)]
    pub beta: f64,
    /// Label smoothing ε (cDPO, rDPO, SimPO).
    #[arg(long, default_value_t = 0.0)]
    pub label_smoothing: f64,
    /// SimPO's γ.
    #[arg(long, default_value_t = 0.5)]
    pub simpo_gamma: f64,
    /// Peak learning rate.
    #[arg(long, default_value_t = 5e-6)]
    pub lr: f64,
    /// adamw or sgd.
    #[arg(long, default_value = "adamw")]
    pub optimizer: String,
    /// constant, linear or cosine.
    #[arg(long, default_value = "linear")]
    pub lr_schedule: String,
    /// Linear warmup steps.
    #[arg(long, default_value_t = 0)]
    pub warmup_steps: usize,
    /// Passes over the data.
    #[arg(long, default_value_t = 1)]
    pub epochs: usize,
    /// Stop after this many optimiser steps.
    #[arg(long)]
    pub max_steps: Option<usize>,
    /// Pairs per micro-batch.
    #[arg(long, default_value_t = 4)]
    pub batch_size: usize,
    /// Micro-batches per optimiser step.
    #[arg(long, default_value_t = 1)]
    pub grad_accum: usize,
    /// Clip the gradient norm (0 disables).
    #[arg(long, default_value_t = 1.0)]
    pub max_grad_norm: f64,
    /// AdamW weight decay.
    #[arg(long, default_value_t = 0.0)]
    pub weight_decay: f64,
    /// LoRA rank (full fine-tuning when absent).
    #[arg(long)]
    pub lora_rank: Option<usize>,
    /// LoRA alpha (default 2 × rank).
    #[arg(long)]
    pub lora_alpha: Option<f64>,
    /// LoRA target projections, comma-separated.
    #[arg(long, default_value = "q_proj,k_proj,v_proj,o_proj")]
    pub lora_targets: String,
    /// Truncate prompt+completion to this many tokens, keeping the start.
    #[arg(long, default_value_t = 1024)]
    pub max_length: usize,
    /// Seed.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Save a checkpoint every N steps.
    #[arg(long)]
    pub save_every: Option<usize>,
    /// Write one JSON object per optimiser step here.
    #[arg(long)]
    pub metrics_out: Option<PathBuf>,
    /// Continue an earlier run (same model, data and settings) from its checkpoint folder.
    #[arg(long)]
    pub resume_from: Option<PathBuf>,
    /// Compute dtype: bf16 (GPU only), f16 or f32; the trained weights stay f32. Default: bf16
    /// on a GPU, f32 on the CPU.
    #[arg(long)]
    pub dtype: Option<String>,
}

/// Parses `sigmoid:1,sft:0.1`.
///
/// # Errors
/// An unknown loss or a weight that is not a number.
pub fn parse_losses(spec: &str) -> Result<Vec<(LossType, f64)>> {
    spec.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|item| {
            let (name, weight) = item.split_once(':').unwrap_or((item, "1"));
            let weight: f64 = weight
                .parse()
                .with_context(|| format!("the weight of {name} is not a number: {weight}"))?;
            Ok((name.parse::<LossType>()?, weight))
        })
        .collect()
}

impl TrainArgs {
    /// The trainer's configuration.
    ///
    /// # Errors
    /// Invalid values, named.
    pub fn config(&self) -> Result<TrainConfig> {
        Ok(TrainConfig {
            loss: LossConfig {
                losses: parse_losses(&self.loss)?,
                beta: self.beta,
                label_smoothing: self.label_smoothing,
                simpo_gamma: self.simpo_gamma,
            },
            lr: self.lr,
            optimizer: self.optimizer.parse::<OptimizerKind>()?,
            schedule: self.lr_schedule.parse::<Schedule>()?,
            warmup_steps: self.warmup_steps,
            epochs: self.epochs,
            max_steps: self.max_steps,
            batch_size: self.batch_size,
            grad_accum: self.grad_accum,
            max_grad_norm: (self.max_grad_norm > 0.0).then_some(self.max_grad_norm),
            weight_decay: self.weight_decay,
            max_length: Some(self.max_length),
            seed: self.seed,
            shuffle: true,
            lora: self.lora_rank.map(|rank| LoraConfig {
                rank,
                alpha: self.lora_alpha.unwrap_or(2.0 * rank as f64),
                targets: self
                    .lora_targets
                    .split(',')
                    .map(|s| s.trim().to_owned())
                    .collect(),
                seed: self.seed,
            }),
            save_every: self.save_every,
            resume_from: self.resume_from.clone(),
            dtype: self
                .dtype
                .as_deref()
                .map(trainer::device::parse_dtype)
                .transpose()?,
        })
    }
}

/// Runs `verdict train`.
///
/// # Errors
/// As the trainer.
pub fn train(args: &TrainArgs) -> Result<()> {
    let cfg = args.config()?;
    let rows = trainer::data::read_jsonl(&args.data)?;
    let mut metrics = match &args.metrics_out {
        Some(p) => Some(std::io::BufWriter::new(
            std::fs::File::create(p).with_context(|| format!("creating {}", p.display()))?,
        )),
        None => None,
    };
    let bar = indicatif::ProgressBar::new(0);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{prefix} {bar:30} {pos}/{len}  {elapsed_precise} < {eta_precise}  {msg}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let mut write_error = None;
    // Ctrl-C stops between steps (the weights so far are still written) or between batches of
    // the reference phase (nothing is written).
    let cancel = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    if let Ok(handle) = tokio::runtime::Handle::try_current() {
        let flag = cancel.clone();
        handle.spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                eprintln!("\nstopping after this step…");
                flag.store(true, std::sync::atomic::Ordering::Relaxed);
            }
        });
    }
    let mut training = false;
    let summary = trainer::train::train_reporting(
        &cfg,
        &args.model,
        &rows,
        &args.out,
        &mut |done, total| {
            if done == 0 {
                bar.reset();
                bar.set_prefix("reference log-probs");
            }
            bar.set_length(total as u64);
            bar.set_position(done as u64);
        },
        &mut |r| {
            if !training {
                training = true;
                bar.reset();
                bar.set_prefix("steps");
            }
            bar.set_length(r.total_steps as u64);
            bar.set_position(r.step as u64);
            bar.set_message(format!(
                "loss {:.4}  acc {:.2}  margin {:.3}  {:.0} tok/s",
                r.metrics.loss,
                r.metrics.rewards_accuracies,
                r.metrics.rewards_margins,
                r.tokens_per_second
            ));
            if let Some(w) = metrics.as_mut()
                && let Err(e) = serde_json::to_writer(&mut *w, r)
                    .map_err(anyhow::Error::from)
                    .and_then(|()| Ok(w.write_all(b"\n")?))
            {
                write_error.get_or_insert(e);
            }
        },
        Some(&cancel),
    )?;
    bar.finish();
    if let Some(e) = write_error {
        return Err(e.context("writing the metrics file"));
    }
    if let Some(mut w) = metrics {
        w.flush()?;
    }
    eprintln!(
        "trained {} steps; model written to {}",
        summary.steps,
        summary.output.display()
    );
    if summary.quantized {
        eprintln!(
            "quantized like its base: {}",
            summary.output.join("model.gguf").display()
        );
    }
    Ok(())
}

/// `verdict generate ...`.
#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// Hugging Face model folder.
    #[arg(long)]
    pub model: PathBuf,
    /// The prompt (rendered with the model's chat template when it has one, unless --raw).
    #[arg(long)]
    pub prompt: String,
    /// Feed the prompt as is, without the chat template.
    #[arg(long)]
    pub raw: bool,
    /// New tokens at most.
    #[arg(long, default_value_t = 256)]
    pub max_tokens: usize,
    /// Temperature (0: greedy).
    #[arg(long, default_value_t = 0.7)]
    pub temperature: f64,
    /// Nucleus mass.
    #[arg(long, default_value_t = 0.9)]
    pub top_p: f64,
    /// Seed.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Use the f32 weights even where the folder holds a quantized `model.gguf`.
    #[arg(long)]
    pub f32: bool,
}

/// Runs `verdict generate`, streaming the answer to standard output.
///
/// # Errors
/// Loading or generation failures.
pub fn generate(args: &GenerateArgs) -> Result<()> {
    let device = trainer::device::pick();
    let (model, tok) = trainer::generate::LocalModel::load(&args.model, &device, args.f32)?;
    let text = if args.raw || tok.chat_template.is_none() {
        args.prompt.clone()
    } else {
        trainer::chat::render(
            &tok,
            &[trainer::data::ChatMessage {
                role: "user".into(),
                content: args.prompt.clone(),
            }],
            true,
        )?
    };
    let ids = tok.encode(&text)?;
    let cfg = trainer::generate::GenerateConfig {
        max_new_tokens: args.max_tokens,
        temperature: args.temperature,
        top_p: args.top_p,
        seed: args.seed,
    };
    let mut out = std::io::stdout().lock();
    trainer::generate::generate_with(&mut *model.session(), &tok, &ids, &cfg, &mut |piece| {
        let _ = out.write_all(piece.as_bytes());
        let _ = out.flush();
        true
    })?;
    writeln!(out)?;
    Ok(())
}

/// `verdict model ...`.
#[derive(Debug, Subcommand)]
pub enum ModelCommand {
    /// Every model: kind, whether it is in the arena, its sampling weight, its parent.
    List {
        /// The JSON of the REST API instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Write a small random model of the Llama family with a byte-level tokenizer (tests, demos).
    InitTiny {
        /// Output folder.
        #[arg(long)]
        out: PathBuf,
        /// Width.
        #[arg(long, default_value_t = 64)]
        hidden: usize,
        /// Layers.
        #[arg(long, default_value_t = 2)]
        layers: usize,
        /// Query heads.
        #[arg(long, default_value_t = 4)]
        heads: usize,
        /// Key/value heads (grouped-query attention when fewer than the query heads).
        #[arg(long, default_value_t = 2)]
        kv_heads: usize,
        /// MLP width (twice the width when absent).
        #[arg(long)]
        intermediate: Option<usize>,
        /// Vocabulary rows (the tokenizer's 259 when absent; e.g. 49152 for SmolLM2's shape).
        #[arg(long)]
        vocab: Option<usize>,
        /// Tie the output head to the embeddings.
        #[arg(long)]
        tied: bool,
        /// Seed.
        #[arg(long, default_value_t = 0)]
        seed: u64,
    },
    /// Convert a llama-architecture GGUF into a Hugging Face folder (f32 safetensors,
    /// config.json, tokenizer.json rebuilt from the GGUF metadata).
    ImportGguf {
        /// The .gguf file.
        file: PathBuf,
        /// Output folder.
        #[arg(long)]
        out: PathBuf,
    },
    /// Register a Hugging Face folder as a `local` model (loaded once to check it); a model of
    /// that name and folder already registered is left as it is.
    /// Name a model's family (e.g. `llama`), or clear it without `--family`: the judge audit
    /// measures a judge's preference for answers of its own family.
    Family {
        /// Model name.
        #[arg(long)]
        name: String,
        /// The family.
        #[arg(long)]
        family: Option<String>,
    },
    /// Register an OpenAI-compatible endpoint (vLLM, Ollama, TGI, OpenAI) as a contestant or a
    /// judge; registering the same again changes nothing.
    AddOpenai {
        /// Model name in Verdict.
        #[arg(long)]
        name: String,
        /// E.g. `http://localhost:8000/v1`.
        #[arg(long)]
        base_url: String,
        /// The remote model's name.
        #[arg(long)]
        model: String,
        /// Environment variable with the API key (never the key itself).
        #[arg(long)]
        api_key_env: Option<String>,
    },
    AddLocal {
        /// Model name.
        #[arg(long)]
        name: String,
        /// The folder (config.json, *.safetensors, tokenizer.json).
        #[arg(long)]
        path: PathBuf,
        /// Answer length limit in the arena.
        #[arg(long)]
        max_tokens: Option<usize>,
        /// Sampling temperature in the arena (0: greedy).
        #[arg(long)]
        temperature: Option<f64>,
        /// Register it without scheduling it in the arena.
        #[arg(long)]
        disabled: bool,
    },
}

/// Runs `verdict model add-local`.
///
/// # Errors
/// A folder that does not load, a name taken by another model, database failures.
pub async fn add_local(database: &super::database::DatabaseArgs, cmd: &ModelCommand) -> Result<()> {
    let ModelCommand::AddLocal {
        name,
        path,
        max_tokens,
        temperature,
        disabled,
    } = cmd
    else {
        anyhow::bail!("not `model add-local`");
    };
    let path = std::path::absolute(path)?;
    let mut config = serde_json::json!({"path": path.display().to_string()});
    if let Some(m) = max_tokens {
        config["max_tokens"] = (*m).into();
    }
    if let Some(t) = temperature {
        config["temperature"] = (*t).into();
    }
    crate::worker::check_model(&config, None)?;
    let pool = super::database::open_database(database, 2).await?;
    service::database::migrate(&pool)
        .await
        .context("applying migrations")?;
    let keep = service::models::IfTaken::KeepSameFolder;
    let added = service::models::register_local(&pool, name, &config, !*disabled, keep).await?;
    let (name, id) = (name.trim(), added.model_id);
    if added.created {
        println!(
            "registered local model `{name}` (#{id}) from {}",
            path.display()
        );
    } else {
        println!("model `{name}` (#{id}) is already registered");
    }
    Ok(())
}

/// Runs `verdict model ...`.
///
/// # Errors
/// Write failures.
pub fn model(cmd: &ModelCommand) -> Result<()> {
    match cmd {
        ModelCommand::InitTiny {
            out,
            hidden,
            layers,
            heads,
            kv_heads,
            intermediate,
            vocab,
            tied,
            seed,
        } => {
            let defaults = trainer::tiny::TinySpec::default();
            let spec = trainer::tiny::TinySpec {
                hidden: *hidden,
                layers: *layers,
                heads: *heads,
                kv_heads: *kv_heads,
                intermediate: intermediate.unwrap_or(hidden * 2),
                tied: *tied,
                seed: *seed,
                vocab: vocab.unwrap_or(defaults.vocab),
            };
            trainer::tiny::init_tiny(out, &spec)?;
            eprintln!("wrote a tiny model to {}", out.display());
        }
        ModelCommand::ImportGguf { file, out } => {
            let n = trainer::gguf::import(file, out)?;
            eprintln!("wrote {n} tensors and the tokenizer to {}", out.display());
        }
        ModelCommand::AddLocal { .. }
        | ModelCommand::AddOpenai { .. }
        | ModelCommand::Family { .. }
        | ModelCommand::List { .. } => {
            anyhow::bail!("this `model` command needs the database (run through `verdict`)")
        }
    }
    Ok(())
}

/// `verdict bench train`: seconds per optimiser step, tokens/s and peak memory of DPO training.
#[derive(Debug, Args)]
pub struct BenchTrainArgs {
    /// Hugging Face model folder.
    #[arg(long)]
    pub model: PathBuf,
    /// DPO rows (JSONL).
    #[arg(long)]
    pub data: PathBuf,
    /// Pairs per step.
    #[arg(long, default_value_t = 1)]
    pub batch_size: usize,
    /// LoRA rank on q/k/v/o (full fine-tuning when absent).
    #[arg(long)]
    pub lora_rank: Option<usize>,
    /// Optimiser steps (the first is a warm-up and not timed).
    #[arg(long, default_value_t = 5)]
    pub steps: usize,
    /// Truncation length.
    #[arg(long, default_value_t = 256)]
    pub max_length: usize,
    /// Compute dtype: bf16 (GPU only), f16 or f32. Default: bf16 on a GPU, f32 on the CPU.
    #[arg(long)]
    pub dtype: Option<String>,
}

/// Runs `verdict bench train` and prints one table row.
///
/// # Errors
/// As the trainer.
pub fn bench_train(args: &BenchTrainArgs) -> Result<()> {
    let mut rows = trainer::data::read_jsonl(&args.data)?;
    // Only the rows the timed steps use: reference log-probs of the rest would be wasted work.
    rows.truncate(args.batch_size * args.steps.max(2));
    let cfg = TrainConfig {
        lr: 1e-6,
        optimizer: OptimizerKind::Adamw,
        schedule: Schedule::Constant,
        max_steps: Some(args.steps.max(2)),
        epochs: 1000,
        batch_size: args.batch_size,
        max_length: Some(args.max_length),
        shuffle: false,
        lora: args.lora_rank.map(|rank| LoraConfig {
            rank,
            alpha: 2.0 * rank as f64,
            ..LoraConfig::default()
        }),
        dtype: args
            .dtype
            .as_deref()
            .map(trainer::device::parse_dtype)
            .transpose()?,
        ..TrainConfig::default()
    };
    let out = tempfile::tempdir()?;
    let mut steps = Vec::new();
    trainer::train(
        &cfg,
        &args.model,
        &rows,
        out.path(),
        &mut |r| steps.push(r.clone()),
        None,
    )?;
    let timed = &steps[1..];
    let seconds = timed.iter().map(|s| s.seconds).sum::<f64>() / timed.len() as f64;
    let tokens = timed
        .iter()
        .map(|s| s.tokens_per_second * s.seconds)
        .sum::<f64>()
        / timed.len() as f64;
    let last = steps.last();
    println!(
        "| device | mode | batch | pairs/s | s/step | tokens/s | peak RSS MiB | peak GPU MiB | dtype |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    println!(
        "| {} | {} | {} | {:.2} | {:.2} | {:.0} | {:.0} | {} | {} |",
        last.map_or("cpu", |s| s.device.as_str()),
        args.lora_rank
            .map_or_else(|| "full".to_owned(), |r| format!("LoRA r={r}")),
        args.batch_size,
        args.batch_size as f64 / seconds,
        seconds,
        tokens / seconds,
        super::measure::peak_rss_mib().unwrap_or(f64::NAN),
        last.and_then(|s| s.gpu_memory_mib)
            .map_or_else(|| "–".to_owned(), |m| format!("{m:.0}")),
        last.map_or("–", |s| s.dtype.as_str()),
    );
    Ok(())
}

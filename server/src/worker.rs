//! Training workers (docs/design.md §3.4): claim a queued run, derive its pairs from the frozen
//! snapshot, train on a blocking thread, store every step's metrics, heartbeat, and register
//! the result as a `local` model. `verdict serve` runs some in-process; `verdict worker` runs
//! them alone against the same database.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::{Context, Result};
use app::training::RunConfig;
use service::queue::Signal;
use tokio::sync::{mpsc, watch};
use trainer::data::{ChatMessage, Row, Text};
use trainer::loss::{LossConfig, LossType};
use trainer::{LoraConfig, TrainConfig};

/// How workers behave.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// Run folders go here (`run-<id>/`, with checkpoints inside).
    pub runs_dir: PathBuf,
    /// Wait between looks at an empty queue.
    pub poll: Duration,
    /// Heartbeat period while training.
    pub heartbeat: Duration,
    /// A running run whose heartbeat is older than this is declared dead.
    pub stale_after: Duration,
    /// Each pass also moves the training policies on (start rounds, apply the gate).
    pub policies: bool,
}

impl WorkerConfig {
    /// Defaults: poll every second, heartbeat every 5 s, dead after 60 s without one, policies
    /// on.
    #[must_use]
    pub fn new(runs_dir: PathBuf) -> Self {
        Self {
            runs_dir,
            poll: Duration::from_secs(1),
            heartbeat: Duration::from_secs(5),
            stale_after: Duration::from_secs(60),
            policies: true,
        }
    }
}

/// A name for worker `n` of this process, unique across machines sharing the database.
#[must_use]
pub fn worker_id(n: usize) -> String {
    let host = std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "host".into());
    format!("{host}:{}:{n}", std::process::id())
}

/// Starts `count` workers; they stop (finishing or handing back their runs) when `shutdown`
/// turns true. Returns their join handles.
pub fn spawn(
    pool: &service::PgPool,
    cfg: &WorkerConfig,
    count: usize,
    shutdown: &watch::Receiver<bool>,
) -> Vec<tokio::task::JoinHandle<()>> {
    (0..count)
        .map(|n| {
            let (pool, cfg, shutdown) = (pool.clone(), cfg.clone(), shutdown.clone());
            tokio::spawn(async move { work(pool, cfg, worker_id(n), shutdown).await })
        })
        .collect()
}

/// Fails or requeues the runs whose worker stopped heartbeating, and says so in the log.
async fn reap(pool: &service::PgPool, stale_after_secs: f64) {
    match service::queue::reap_stale(pool, stale_after_secs).await {
        Ok(reaped) => {
            for r in reaped {
                tracing::warn!(run = r.training_run_id, status = %r.status, "run's worker stopped heartbeating");
            }
        }
        Err(e) => tracing::warn!(error = %e, "reaping stale runs failed"),
    }
    match service::judges::requeue_stale(pool, stale_after_secs).await {
        Ok(0) => {}
        Ok(n) => tracing::warn!(
            jobs = n,
            "judge jobs whose worker stopped heartbeating were queued again"
        ),
        Err(e) => tracing::warn!(error = %e, "requeueing stale judge jobs failed"),
    }
}

/// Without local workers, a server still ends the runs of workers elsewhere that died, so that
/// none stays "running" for ever.
pub fn spawn_reaper(
    pool: &service::PgPool,
    cfg: &WorkerConfig,
    shutdown: &watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    let (pool, every, stale, mut shutdown) = (
        pool.clone(),
        (cfg.stale_after / 2).max(Duration::from_secs(1)),
        cfg.stale_after.as_secs_f64(),
        shutdown.clone(),
    );
    tokio::spawn(async move {
        while !*shutdown.borrow() {
            reap(&pool, stale).await;
            tokio::select! {
                () = tokio::time::sleep(every) => {}
                _ = shutdown.changed() => {}
            }
        }
    })
}

/// One pass of the training policies' loop (rounds to start, runs ended, gates to decide),
/// logged.
async fn policies(pool: &service::PgPool) {
    match service::policies::tick(pool, &crate::services::TrainerModelCheck).await {
        Ok(t) => {
            for (policy, round, run) in t.started {
                tracing::info!(%policy, round, run, "training policy started a round");
            }
            for (round, status) in t.advanced {
                tracing::info!(round, %status, "a policy round's run ended");
            }
            for (round, status, decision) in t.decided {
                tracing::info!(round, %status, %decision, "promotion gate decided");
            }
        }
        Err(e) => tracing::warn!(error = %e, "the training policies' pass failed"),
    }
}

/// One worker's loop: reap dead runs and jobs, move the training policies on, claim a training
/// run (or else a judge job), run it, repeat.
pub async fn work(
    pool: service::PgPool,
    cfg: WorkerConfig,
    id: String,
    mut shutdown: watch::Receiver<bool>,
) {
    tracing::info!(worker = %id, "training worker started");
    while !*shutdown.borrow() {
        reap(&pool, cfg.stale_after.as_secs_f64()).await;
        if cfg.policies {
            policies(&pool).await;
        }
        match service::queue::claim(&pool, &id).await {
            Ok(Some(run)) => {
                let run_id = run.training_run_id;
                tracing::info!(worker = %id, run = run_id, "training run claimed");
                if let Err(e) = process(&pool, &cfg, &id, run, &mut shutdown).await {
                    tracing::error!(run = run_id, error = %format!("{e:#}"), "training run failed");
                }
                continue;
            }
            Ok(None) => {}
            Err(e) => tracing::warn!(error = %e, "claiming a run failed"),
        }
        match service::judges::claim(&pool, &id, None).await {
            Ok(Some(job)) => {
                tracing::info!(worker = %id, job = job.judge_job_id, "judge job claimed");
                let opts = crate::judge::RunOptions::default();
                let result =
                    crate::judge::run(&pool, &id, &job, &opts, &shutdown, &mut |_, _| {}).await;
                match result {
                    Ok(o) => {
                        tracing::info!(job = job.judge_job_id, status = %o.status, verdicts = o.verdicts, votes = o.votes, "judge job ended")
                    }
                    Err(e) => {
                        tracing::error!(job = job.judge_job_id, error = %format!("{e:#}"), "judge job failed")
                    }
                }
                continue;
            }
            Ok(None) => {}
            Err(e) => tracing::warn!(error = %e, "claiming a judge job failed"),
        }
        tokio::select! {
            () = tokio::time::sleep(cfg.poll) => {}
            _ = shutdown.changed() => {}
        }
    }
    tracing::info!(worker = %id, "training worker stopped");
}

/// The trainer's configuration for a run's settings.
///
/// # Errors
/// An unknown loss.
pub fn train_config(c: &RunConfig, resume_from: Option<PathBuf>) -> Result<TrainConfig> {
    Ok(TrainConfig {
        loss: LossConfig {
            losses: vec![(c.loss.parse::<LossType>()?, 1.0)],
            beta: c.beta,
            ..LossConfig::default()
        },
        lr: c.learning_rate,
        epochs: c.epochs as usize,
        max_steps: c.max_steps.map(|m| m as usize),
        batch_size: c.batch_size as usize,
        max_length: Some(c.max_length as usize),
        seed: c.seed,
        lora: c.lora_rank.map(|rank| {
            let mut lora = LoraConfig {
                rank: rank as usize,
                alpha: 2.0 * f64::from(rank),
                seed: c.seed,
                ..LoraConfig::default()
            };
            if c.lora_all_linear {
                lora.targets
                    .extend(["gate_proj", "up_proj", "down_proj"].map(String::from));
            }
            if c.lora_head {
                lora.targets.push("lm_head".into());
            }
            lora
        }),
        save_every: (c.save_every > 0).then_some(c.save_every as usize),
        resume_from,
        ..TrainConfig::default()
    })
}

/// The newest `checkpoint-N` folder in `dir`.
#[must_use]
pub fn latest_checkpoint(dir: &Path) -> Option<PathBuf> {
    std::fs::read_dir(dir)
        .ok()?
        .filter_map(Result::ok)
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let step: usize = name.strip_prefix("checkpoint-")?.parse().ok()?;
            e.path()
                .join("trainer_state.json")
                .is_file()
                .then(|| (step, e.path()))
        })
        .max_by_key(|(step, _)| *step)
        .map(|(_, p)| p)
}

/// Rows for the trainer: chat messages when the model has a chat template, plain text
/// otherwise.
fn rows(pairs: &[service::training::DerivedPair], chat: bool) -> Vec<Row> {
    let text = |role: &str, s: &str| {
        if chat {
            Text::Chat(vec![ChatMessage {
                role: role.into(),
                content: s.into(),
            }])
        } else {
            Text::Plain(s.into())
        }
    };
    pairs
        .iter()
        .map(|p| Row {
            prompt: if chat {
                text("user", &p.prompt)
            } else {
                Text::Plain(format!("{}\n", p.prompt))
            },
            chosen: Some(text("assistant", &p.chosen)),
            rejected: Some(text("assistant", &p.rejected)),
            completion: None,
            label: None,
            confidence: (p.confidence < 1.0).then_some(p.confidence),
            extra: serde_json::Map::new(),
        })
        .collect()
}

fn has_chat_template(model_dir: &Path) -> bool {
    std::fs::read_to_string(model_dir.join("tokenizer_config.json"))
        .ok()
        .and_then(|s| serde_json::from_str::<serde_json::Value>(&s).ok())
        .is_some_and(|v| v.get("chat_template").is_some_and(|t| !t.is_null()))
}

/// What the training thread tells the worker.
enum Report {
    /// Reference log-probs: done, total.
    Reference(usize, usize),
    /// An optimiser step.
    Step(trainer::train::StepReport),
}

/// Stores a report of the training thread.
async fn record(pool: &service::PgPool, id: i64, worker: &str, report: &Report) -> Result<Signal> {
    let int = |n: usize| i32::try_from(n).unwrap_or(i32::MAX);
    Ok(match report {
        Report::Reference(done, total) => {
            service::queue::record_reference(pool, id, worker, int(*done), int(*total)).await?
        }
        Report::Step(step) => {
            let metrics = serde_json::to_value(step)?;
            service::queue::record_step(
                pool,
                id,
                worker,
                (int(step.step), int(step.total_steps)),
                &metrics,
            )
            .await?
        }
    })
}

/// How a training thread ended, seen from the worker.
enum Outcome {
    Trained(trainer::TrainSummary),
    Failed(anyhow::Error),
}

/// Trains one claimed run to its end state.
async fn process(
    pool: &service::PgPool,
    cfg: &WorkerConfig,
    worker: &str,
    run: service::queue::Run,
    shutdown: &mut watch::Receiver<bool>,
) -> Result<()> {
    let id = run.training_run_id;
    let prepared = prepare(pool, cfg, &run).await;
    let (model_dir, out, rows, train_cfg) = match prepared {
        Ok(p) => p,
        Err(e) => {
            service::queue::finish(pool, id, worker, "failed", Some(&format!("{e:#}"))).await?;
            return Ok(());
        }
    };
    service::queue::set_output_dir(pool, id, &out.display().to_string()).await?;

    let cancel = Arc::new(AtomicBool::new(false));
    let (tx, mut reports) = mpsc::unbounded_channel::<Report>();
    let thread = {
        let (cancel, out) = (cancel.clone(), out.clone());
        tokio::task::spawn_blocking(move || {
            // The reference phase reports at most twice a second (a GPU scores many batches a
            // second), always its start and its end.
            let mut last = std::time::Instant::now();
            let reference_tx = tx.clone();
            let mut on_reference = |done: usize, total: usize| {
                if done == 0 || done == total || last.elapsed().as_millis() >= 500 {
                    last = std::time::Instant::now();
                    let _ = reference_tx.send(Report::Reference(done, total));
                }
            };
            let mut on_step = |r: &trainer::train::StepReport| {
                let _ = tx.send(Report::Step(r.clone()));
            };
            let summary = trainer::train::train_reporting(
                &train_cfg,
                &model_dir,
                &rows,
                &out,
                &mut on_reference,
                &mut on_step,
                Some(&cancel),
            )?;
            Ok(summary)
        })
    };
    tokio::pin!(thread);
    let mut beat = tokio::time::interval(cfg.heartbeat);
    let (mut lost, mut stopping) = (false, false);
    let signal = |s: Signal, lost: &mut bool| match s {
        Signal::Continue => {}
        Signal::Cancel => cancel.store(true, Ordering::Relaxed),
        Signal::Lost => {
            *lost = true;
            cancel.store(true, Ordering::Relaxed);
        }
    };
    let outcome = loop {
        tokio::select! {
            joined = &mut thread => {
                break match joined {
                    Ok(Ok(summary)) => Outcome::Trained(summary),
                    Ok(Err(e)) => Outcome::Failed(e),
                    Err(e) => Outcome::Failed(anyhow::anyhow!("the training thread panicked: {e}")),
                };
            }
            Some(report) = reports.recv() => {
                match record(pool, id, worker, &report).await {
                    Ok(s) => signal(s, &mut lost),
                    Err(e) => tracing::warn!(run = id, error = %e, "storing the progress failed"),
                }
            }
            _ = beat.tick() => {
                match service::queue::heartbeat(pool, id, worker).await {
                    Ok(s) => signal(s, &mut lost),
                    Err(e) => tracing::warn!(run = id, error = %e, "heartbeat failed"),
                }
            }
            changed = shutdown.changed(), if !stopping => {
                if changed.is_err() || *shutdown.borrow() {
                    stopping = true;
                    cancel.store(true, Ordering::Relaxed);
                }
            }
        }
    };
    // Progress reported just before the thread ended.
    while let Ok(report) = reports.try_recv() {
        if let Ok(s) = record(pool, id, worker, &report).await {
            signal(s, &mut lost);
        }
    }
    if lost {
        tracing::warn!(
            run = id,
            "the run was taken from this worker; its results are discarded"
        );
        return Ok(());
    }
    match outcome {
        Outcome::Failed(e) => {
            service::queue::finish(pool, id, worker, "failed", Some(&format!("{e:#}"))).await?;
        }
        Outcome::Trained(summary) if summary.cancelled && stopping => {
            let resume = serde_json::from_value::<RunConfig>(run.config.clone())
                .is_ok_and(|c| c.resume_on_failure);
            if resume {
                service::queue::requeue(pool, id, worker, "the worker stopped; requeued to resume")
                    .await?;
            } else {
                service::queue::finish(
                    pool,
                    id,
                    worker,
                    "failed",
                    Some(&format!("the worker stopped after step {}", summary.steps)),
                )
                .await?;
            }
        }
        Outcome::Trained(summary) if summary.cancelled => {
            service::queue::finish(pool, id, worker, "cancelled", None).await?;
        }
        Outcome::Trained(_) => {
            // Checkpoints were only for resuming; the model is the folder itself.
            for entry in std::fs::read_dir(&out)?.filter_map(Result::ok) {
                if entry
                    .file_name()
                    .to_string_lossy()
                    .starts_with("checkpoint-")
                {
                    let _ = std::fs::remove_dir_all(entry.path());
                }
            }
            let name = run
                .snapshot
                .get("output_name")
                .and_then(serde_json::Value::as_str)
                .map_or_else(|| format!("{}-dpo-{id}", run.base_model), str::to_owned);
            let mut config = match &run.base_model_config {
                serde_json::Value::Object(o) => o.clone(),
                _ => serde_json::Map::new(),
            };
            config.insert("path".into(), out.display().to_string().into());
            let model = service::queue::succeed(pool, id, worker, &name, &config.into()).await?;
            tracing::info!(run = id, model = ?model, "training run succeeded");
        }
    }
    Ok(())
}

/// Everything a run needs before training (used by the worker; public for tests that play a
/// worker): the model folder, the output folder, the rows and
/// the trainer's configuration (resuming from the last checkpoint of an earlier attempt).
pub async fn prepare(
    pool: &service::PgPool,
    cfg: &WorkerConfig,
    run: &service::queue::Run,
) -> Result<(PathBuf, PathBuf, Vec<Row>, TrainConfig)> {
    let settings: RunConfig =
        serde_json::from_value(run.config.clone()).context("the run's settings are invalid")?;
    let model_dir: PathBuf = run
        .base_model_config
        .get("path")
        .and_then(serde_json::Value::as_str)
        .map(PathBuf::from)
        .context("the base model has no folder (`path`)")?;
    let snap: app::training::Snapshot = serde_json::from_value(run.snapshot.clone())
        .context("the run's stored snapshot does not parse")?;
    let derived = service::training::derive(pool, &snap)
        .await
        .map_err(|e| anyhow::anyhow!("deriving the pairs: {e}"))?;
    if derived.pairs.is_empty() {
        anyhow::bail!("the snapshot yields no pairs (were its votes deleted?)");
    }
    let out = std::path::absolute(cfg.runs_dir.join(format!("run-{}", run.training_run_id)))?;
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    let resume = if run.attempts > 1 {
        latest_checkpoint(&out)
    } else {
        None
    };
    if let Some(r) = &resume {
        tracing::info!(run = run.training_run_id, checkpoint = %r.display(), "resuming");
    }
    let rows = rows(&derived.pairs, has_chat_template(&model_dir));
    Ok((model_dir, out, rows, train_config(&settings, resume)?))
}

/// Loads a local model's folder as training would (with the adapters `run` asks for), to
/// reject a bad base model or LoRA setting at launch.
///
/// # Errors
/// What failed to load.
pub fn check_model(config: &serde_json::Value, run: Option<&RunConfig>) -> Result<()> {
    let dir = config
        .get("path")
        .and_then(serde_json::Value::as_str)
        .context("the model has no folder (`path`)")?;
    let dir = Path::new(dir);
    let lora = match run {
        Some(run) => train_config(run, None)?.lora,
        None => None,
    };
    let model = trainer::Decoder::load(dir, &trainer::Device::Cpu, lora.as_ref())
        .with_context(|| format!("loading {}", dir.display()))?;
    trainer::tokenizer::Tokenizer::load(dir, &model.config.eos_ids())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lora_reaches_the_mlp_and_the_head_only_when_asked() {
        let mut c = RunConfig {
            lora_rank: Some(8),
            ..RunConfig::default()
        };
        let targets = |c: &RunConfig| train_config(c, None).unwrap().lora.unwrap().targets;
        assert_eq!(targets(&c), ["q_proj", "k_proj", "v_proj", "o_proj"]);
        c.lora_all_linear = true;
        assert_eq!(
            targets(&c),
            [
                "q_proj",
                "k_proj",
                "v_proj",
                "o_proj",
                "gate_proj",
                "up_proj",
                "down_proj"
            ]
        );
        c.lora_all_linear = false;
        c.lora_head = true;
        assert_eq!(
            targets(&c),
            ["q_proj", "k_proj", "v_proj", "o_proj", "lm_head"]
        );
        c.lora_rank = None;
        assert!(
            train_config(&c, None).unwrap().lora.is_none(),
            "full fine-tuning"
        );
    }
}

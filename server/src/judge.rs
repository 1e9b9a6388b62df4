//! Running a judge job (docs/design.md §3, flow 5): the judge model answers every pending item
//! in every display order the job asks for (on a rating project: scores every response on every
//! criterion), at most `concurrency` requests at once to one judge (shared by the jobs of this
//! process that ask it), at temperature 0, retried with backoff on 429, 5xx and timeouts; each
//! answer is recorded as it comes (once: a job resumed after a crash judges only what is
//! missing), with the item's `llm_judge` vote or the score's rating.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use futures_util::StreamExt;
use service::judges::{Answer, Job, Signal, Task};
use tokio::sync::{Semaphore, watch};

use crate::backends::{self, CallError, Completion, Message};

/// How a run of a job goes.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Tries per request (the first included).
    pub tries: u32,
    /// Wait before the second try; doubled for each further one.
    pub backoff: Duration,
    /// What a stop (`stop` turning true) leaves the job as: `cancelled` (the CLI's Ctrl-C) or
    /// `queued` (a server shutting down hands it back).
    pub on_stop: &'static str,
}

impl Default for RunOptions {
    fn default() -> Self {
        Self {
            tries: 5,
            backoff: Duration::from_secs(1),
            on_stop: "queued",
        }
    }
}

/// How a run of a job ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// The job's status now.
    pub status: String,
    /// Verdicts (on a rating project: scores) recorded by this run.
    pub verdicts: u64,
    /// Of them, unparsable.
    pub unparsable: u64,
    /// Votes (on a rating project: ratings) recorded by this run.
    pub votes: u64,
    /// Requests retried.
    pub retries: u64,
    /// Requests that failed for good (their items stay pending).
    pub failed: u64,
}

/// The judge as this job asks it.
enum Asker {
    OpenAi(backends::OpenAi),
    Local(Box<dyn backends::ModelBackend>),
}

/// The judge's backend at temperature 0 with the job's token limit, and that configuration as
/// it is stored beside each verdict.
fn asker(job: &Job) -> Result<(Asker, serde_json::Value)> {
    let mut config = job.judge_config.clone();
    config["temperature"] = 0.0.into();
    config["max_tokens"] = job.max_tokens.into();
    let asker = match job.judge_kind.as_str() {
        "openai" => Asker::OpenAi(backends::OpenAi::new(
            serde_json::from_value(config.clone())
                .context("the judge's OpenAI settings are invalid")?,
        )?),
        kind => Asker::Local(backends::for_model(kind, &config)?),
    };
    let mut stored = config;
    if let Some(o) = stored.as_object_mut() {
        // Which variable holds the key is kept; where a local model's folder is, too.
        o.remove("timeout_secs");
        o.remove("idle_timeout_secs");
    }
    Ok((asker, stored))
}

async fn ask(asker: &Asker, prompt: &str) -> Result<Completion, CallError> {
    let messages = [Message {
        role: "user".into(),
        content: prompt.to_owned(),
    }];
    match asker {
        Asker::OpenAi(o) => o.complete(&messages).await,
        Asker::Local(backend) => {
            let (text, n) = backends::generate_whole(backend.as_ref(), &messages)
                .await
                .map_err(|e| CallError {
                    retryable: false,
                    message: format!("{e:#}"),
                })?;
            Ok(Completion {
                text,
                prompt_tokens: None,
                completion_tokens: Some(n),
            })
        }
    }
}

/// Requests in flight per judge model (of one database) in this process, shared by every job
/// that asks it, so that two jobs with the same judge stay within one limit (the first job's
/// concurrency).
fn judge_slots(database: &str, judge_model_id: i64, concurrency: usize) -> Arc<Semaphore> {
    type Slots = HashMap<(String, i64), Arc<Semaphore>>;
    static SLOTS: LazyLock<Mutex<Slots>> = LazyLock::new(Default::default);
    let mut slots = SLOTS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    Arc::clone(
        slots
            .entry((database.to_owned(), judge_model_id))
            .or_insert_with(|| Arc::new(Semaphore::new(concurrency.max(1)))),
    )
}

/// Asks the judge one prompt (holding one of its slots), retrying what may pass on a second
/// try; the answer with its latency and tries, or the last error. Counts retries in `retries`.
async fn judge_one(
    asker: &Asker,
    slots: &Semaphore,
    prompt: &str,
    item_id: i64,
    opts: &RunOptions,
    retries: &AtomicU64,
) -> Result<(Completion, i32, u32), CallError> {
    let mut wait = opts.backoff;
    let mut tries = 0;
    loop {
        tries += 1;
        let permit = slots.acquire().await.map_err(|e| CallError {
            retryable: false,
            message: e.to_string(),
        })?;
        let started = Instant::now();
        let answer = ask(asker, prompt).await;
        drop(permit);
        match answer {
            Ok(c) => {
                let ms = i32::try_from(started.elapsed().as_millis()).unwrap_or(i32::MAX);
                return Ok((c, ms, tries));
            }
            Err(e) if e.retryable && tries < opts.tries => {
                retries.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(item = item_id, error = %e.message, "judge request failed; retrying");
                tokio::time::sleep(wait).await;
                wait *= 2;
            }
            Err(e) => return Err(e),
        }
    }
}

/// Runs a claimed job to its end (or until `stop` turns true, or its cancel is asked), calling
/// `progress(items done, items total)` after each batch. Returns what it did.
///
/// # Errors
/// A judge that cannot be set up, or database failures (the job is then marked failed where it
/// can be).
pub async fn run(
    pool: &service::PgPool,
    worker: &str,
    job: &Job,
    opts: &RunOptions,
    stop: &watch::Receiver<bool>,
    progress: &mut (dyn FnMut(i64, i64) + Send),
) -> Result<Outcome> {
    let result = run_inner(pool, worker, job, opts, stop, progress).await;
    if let Err(e) = &result {
        let message = format!("{e:#}");
        let _ =
            service::judges::finish(pool, job.judge_job_id, worker, "failed", Some(&message)).await;
    }
    result
}

async fn run_inner(
    pool: &service::PgPool,
    worker: &str,
    job: &Job,
    opts: &RunOptions,
    stop: &watch::Receiver<bool>,
    progress: &mut (dyn FnMut(i64, i64) + Send),
) -> Result<Outcome> {
    let (asker, stored_config) = asker(job)?;
    let template = service::judges::template_of(pool, job).await?;
    let concurrency = usize::try_from(job.concurrency.max(1)).unwrap_or(1);
    let database = pool
        .connect_options()
        .get_database()
        .unwrap_or_default()
        .to_owned();
    let slots = judge_slots(&database, job.judge_model_id, concurrency);
    let batch = i64::try_from(concurrency * 4).unwrap_or(16);
    let retries = AtomicU64::new(0);
    let mut out = Outcome {
        status: String::new(),
        verdicts: 0,
        unparsable: 0,
        votes: 0,
        retries: 0,
        failed: 0,
    };
    let mut last_error = None;
    let mut after = 0i64;
    let mut items_left = job.max_items.map(i64::from);
    let status = loop {
        if *stop.borrow() {
            break opts.on_stop;
        }
        match service::judges::heartbeat(pool, job.judge_job_id, worker).await? {
            Signal::Continue => {}
            Signal::Cancel => break "cancelled",
            Signal::Lost => {
                out.status = "lost".into();
                out.retries = retries.load(Ordering::Relaxed);
                return Ok(out);
            }
        }
        let limit = items_left.map_or(batch, |left| left.min(batch));
        if limit <= 0 {
            break "done";
        }
        let (tasks, last) = service::judges::tasks(pool, job, after, limit).await?;
        let Some(last) = last else {
            break "done";
        };
        if let Some(left) = &mut items_left {
            let mut items: Vec<i64> = tasks.iter().map(Task::item_id).collect();
            items.dedup();
            *left -= items.len() as i64;
        }
        after = last;
        let (asker, body, retries, slots) = (&asker, template.body.as_str(), &retries, &*slots);
        let mut answers = futures_util::stream::iter(tasks)
            .map(move |task| async move {
                let prompt = task.prompt(body);
                let r = judge_one(asker, slots, &prompt, task.item_id(), opts, retries).await;
                (task, r)
            })
            .buffer_unordered(concurrency);
        while let Some((task, answer)) = answers.next().await {
            let (completion, latency_ms, attempts) = match answer {
                Ok(a) => a,
                Err(e) => {
                    out.failed += 1;
                    tracing::warn!(job = job.judge_job_id, item = task.item_id(), error = %e.message, "judge request failed for good");
                    last_error = Some(e.message);
                    continue;
                }
            };
            let answer = Answer {
                text: completion.text,
                judge_config: stored_config.clone(),
                latency_ms: Some(latency_ms),
                prompt_tokens: completion.prompt_tokens,
                completion_tokens: completion.completion_tokens,
                attempts: i32::try_from(attempts).unwrap_or(i32::MAX),
            };
            let recorded = service::judges::record(pool, job, &task, answer).await?;
            out.verdicts += u64::from(recorded.new);
            out.unparsable += u64::from(recorded.new && recorded.unparsable);
            out.votes += u64::from(recorded.judgement);
        }
        drop(answers);
        let (done, total) = service::judges::progress(pool, job).await?;
        progress(done, total);
    };
    let error = (out.failed > 0).then(|| {
        format!(
            "{} requests failed after retries (last: {}); run again to judge what is missing",
            out.failed,
            last_error.unwrap_or_default()
        )
    });
    let status = if status == "done" && error.is_some() {
        "failed"
    } else {
        status
    };
    service::judges::finish(pool, job.judge_job_id, worker, status, error.as_deref()).await?;
    out.status = status.to_owned();
    out.retries = retries.load(Ordering::Relaxed);
    Ok(out)
}

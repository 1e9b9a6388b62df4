//! `verdict judge run|template|cancel`: LLM judges over a project's items from the command
//! line, and `verdict model add-openai`.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::{Subcommand, ValueEnum};

use super::database::DatabaseArgs;

/// Which display orders a judge sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Orders {
    /// A/B as stored, then B/A (position bias shows, and cancels out).
    Both,
    /// A/B as stored only.
    One,
}

/// What a swap-inconsistent item counts as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Inconsistent {
    /// A tie.
    Tie,
    /// No vote.
    Drop,
}

/// `verdict judge ...`.
#[derive(Debug, Subcommand)]
pub enum JudgeCommand {
    /// Judge a pairwise project's items (or score a rating project's responses on each
    /// criterion) with a registered model (`openai` or `local`): queues a job and runs it here
    /// with a progress bar. Ctrl-C stops cleanly; a second run judges only what is missing.
    Run {
        /// Project name.
        #[arg(long)]
        project: String,
        /// The judge: a registered model's name.
        #[arg(long)]
        judge: String,
        /// Judge template (default: the built-in `pairwise-verdict`, or `rating-score` on a
        /// rating project).
        #[arg(long)]
        template: Option<String>,
        /// Display orders (pairwise projects).
        #[arg(long, value_enum, default_value_t = Orders::Both)]
        orders: Orders,
        /// Items at most (a cost guard).
        #[arg(long)]
        limit: Option<i32>,
        /// Requests to the judge at once.
        #[arg(long, default_value_t = 4)]
        concurrency: i32,
        /// Tokens per answer at most.
        #[arg(long, default_value_t = 1024)]
        max_tokens: i32,
        /// What an item whose orders disagree counts as.
        #[arg(long, value_enum, default_value_t = Inconsistent::Tie)]
        inconsistent: Inconsistent,
        /// Tries per request on 429, 5xx and timeouts (the first included).
        #[arg(long, default_value_t = 5)]
        tries: u32,
        /// Milliseconds before the first retry (doubled for each further one).
        #[arg(long, default_value_t = 1000)]
        backoff_ms: u64,
    },
    /// Register a judge template from a file. A pairwise template has `{question}`,
    /// `{answer_a}` and `{answer_b}`, and asks for a verdict of `[[A]]`, `[[B]]`, `[[C]]` (tie)
    /// or `[[D]]` (both bad); a rating template has `{question}` and `{answer}` (and may use
    /// `{criterion}`, `{min}`, `{max}`, `{low}`, `{high}`), and asks for a score as `[[N]]`.
    /// A changed text becomes a new version; the same text again changes nothing.
    Template {
        /// Template name.
        #[arg(long)]
        name: String,
        /// The text.
        #[arg(long)]
        file: PathBuf,
    },
    /// Ask a queued or running judge job to stop.
    Cancel {
        /// Job id.
        id: i64,
    },
}

/// Runs `verdict judge ...`.
///
/// # Errors
/// Unknown names, bad settings, an unreadable file, database failures.
pub async fn run(database: &DatabaseArgs, cmd: &JudgeCommand) -> Result<()> {
    let pool = super::database::open_database(database, 8).await?;
    service::database::migrate(&pool)
        .await
        .context("applying migrations")?;
    let err = |e: app::error::AppError| anyhow::anyhow!("{e}");
    match cmd {
        JudgeCommand::Template { name, file } => {
            let body = std::fs::read_to_string(file)
                .with_context(|| format!("reading {}", file.display()))?;
            let (t, new) = service::judges::register_template(&pool, name, &body)
                .await
                .map_err(err)?;
            println!(
                "{} {} v{}, a {} template (sha256 {})",
                if new {
                    "registered"
                } else {
                    "already registered:"
                },
                t.name,
                t.version,
                t.protocol,
                t.sha256
            );
        }
        JudgeCommand::Cancel { id } => {
            service::judges::cancel(&pool, *id).await.map_err(err)?;
            println!("judge job #{id} is stopping");
        }
        JudgeCommand::Run {
            project,
            judge,
            template,
            orders,
            limit,
            concurrency,
            max_tokens,
            inconsistent,
            tries,
            backoff_ms,
        } => {
            let request = service::judges::JobRequest {
                project: project.clone(),
                judge: judge.clone(),
                template: template.clone(),
                both_orders: *orders == Orders::Both,
                max_items: *limit,
                concurrency: *concurrency,
                max_tokens: *max_tokens,
                inconsistent_as: match inconsistent {
                    Inconsistent::Tie => "tie".into(),
                    Inconsistent::Drop => "drop".into(),
                },
                created_by: None,
            };
            let opts = crate::judge::RunOptions {
                tries: (*tries).max(1),
                backoff: std::time::Duration::from_millis(*backoff_ms),
                on_stop: "cancelled",
            };
            run_job(&pool, &request, &opts).await?;
        }
    }
    pool.close().await;
    Ok(())
}

/// Queues the job, claims it here and runs it with a progress bar until done or Ctrl-C.
async fn run_job(
    pool: &service::PgPool,
    request: &service::judges::JobRequest,
    opts: &crate::judge::RunOptions,
) -> Result<()> {
    let err = |e: app::error::AppError| anyhow::anyhow!("{e}");
    let queued = service::judges::queue(pool, request).await.map_err(err)?;
    let worker = format!("{}-cli", crate::worker::worker_id(0));
    let Some(job) = service::judges::claim(pool, &worker, Some(queued.judge_job_id))
        .await
        .map_err(err)?
    else {
        bail!("judge job #{} was taken by a worker", queued.judge_job_id);
    };
    let view = service::judges::view(pool, job.judge_job_id)
        .await
        .map_err(err)?;
    let rating = job.protocol == "rating";
    eprintln!(
        "judge job #{}: {} judges {} with {} ({})",
        view.judge_job_id,
        view.judge,
        view.project,
        view.template,
        match (rating, view.both_orders) {
            (true, _) => "every response on every criterion",
            (false, true) => "both orders",
            (false, false) => "one order",
        }
    );
    let bar = indicatif::ProgressBar::new(u64::try_from(view.items_total).unwrap_or(0));
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "items {bar:30} {pos}/{len}  {elapsed_precise} < {eta_precise}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    bar.set_position(u64::try_from(view.items_done).unwrap_or(0));
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let ctrl_c = tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            eprintln!("\nstopping after the requests in flight…");
            let _ = stop.send(true);
        }
    });
    let mut progress = |done: i64, total: i64| {
        bar.set_length(u64::try_from(total).unwrap_or(0));
        bar.set_position(u64::try_from(done).unwrap_or(0));
    };
    let outcome = crate::judge::run(pool, &worker, &job, opts, &stopped, &mut progress).await;
    ctrl_c.abort();
    bar.finish_and_clear();
    let o = outcome?;
    let view = service::judges::view(pool, job.judge_job_id)
        .await
        .map_err(err)?;
    let (given, recorded) = if rating {
        ("scores", "ratings")
    } else {
        ("verdicts", "votes")
    };
    println!(
        "judge job #{} {}: {} {given} ({} unparsable), {} {recorded}, {} retries, {} failed \
         requests; {} of {} items judged",
        job.judge_job_id,
        o.status,
        o.verdicts,
        o.unparsable,
        o.votes,
        o.retries,
        o.failed,
        view.items_done,
        view.items_total
    );
    if let Some(e) = view.error {
        eprintln!("{e}");
    }
    if o.status == "failed" {
        bail!("judge job #{} failed", job.judge_job_id);
    }
    Ok(())
}

//! Training runs (docs/design.md §3.4): the judgement snapshot a run is launched on, the queue that
//! workers claim with `FOR UPDATE SKIP LOCKED`, heartbeats, per-step metrics, and the output
//! model registered in the same transaction that marks the run succeeded.

use serde::{Deserialize, Serialize};
use sqlx::{PgExecutor, PgPool};
use time::{Date, OffsetDateTime};

use crate::{Error, Result};

/// Which pairwise votes a run may learn from. Empty lists mean "any".
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct VoteFilter {
    /// Projects (ids).
    pub projects: Vec<i64>,
    /// First day (UTC), inclusive.
    pub from: Option<Date>,
    /// Last day (UTC), inclusive.
    pub to: Option<Date>,
    /// `human`, `import`, `llm_judge`; empty: `human` and `import`.
    pub sources: Vec<String>,
    /// Only annotators in one of these cohorts.
    pub cohorts: Vec<String>,
    /// Annotators left out of this run (globally excluded annotators are always left out).
    pub exclude_annotators: Vec<i64>,
    /// Only judgements whose id is above this (a training policy's watermark, on votes).
    #[serde(default)]
    pub after_id: Option<i64>,
}

/// Ids of the votes the filter selects that can make a training pair (an item, both response
/// texts), oldest first.
///
/// # Errors
/// Only on database failure.
pub async fn select_votes(db: impl PgExecutor<'_>, f: &VoteFilter) -> Result<Vec<i64>> {
    select_ids(
        db,
        "vote_id",
        "vote",
        "j.item_id is not null and j.response_a_id is not null and j.response_b_id is not null",
        f,
    )
    .await
}

/// The votes on one pair of responses of an item, oriented so that `first` is the response
/// with the smaller id (whichever side each annotator saw it on).
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct PairTally {
    /// Item.
    pub item_id: i64,
    /// Project name.
    pub project: String,
    /// Item key.
    pub item: String,
    /// Prompt text.
    pub prompt: String,
    /// The response with the smaller id.
    pub first: String,
    /// The other response.
    pub second: String,
    /// Model of `first`.
    pub first_model: String,
    /// Model of `second`.
    pub second_model: String,
    /// Votes for `first`.
    pub first_wins: i64,
    /// Votes for `second`.
    pub second_wins: i64,
    /// Ties and "both bad".
    pub tied: i64,
    /// `first_wins` with each vote weighted (1 unless its annotator has a weight).
    pub first_weight: f64,
    /// `second_wins`, weighted.
    pub second_weight: f64,
    /// `tied`, weighted.
    pub tied_weight: f64,
    /// The votes counted, ascending.
    pub vote_ids: Vec<i64>,
}

/// Tallies `vote_ids` per item and response pair, in item order, each vote also weighted by
/// its annotator's entry in `weights` (`(annotator id, weight)`, unique ids; 1 for others).
/// Pairs with an empty prompt or response text are left out.
///
/// # Errors
/// Only on database failure.
pub async fn tallies(
    db: impl PgExecutor<'_>,
    vote_ids: &[i64],
    weights: &[(i64, f64)],
) -> Result<Vec<PairTally>> {
    let (who, weight): (Vec<i64>, Vec<f64>) = weights.iter().copied().unzip();
    Ok(sqlx::query_as(
        "with w as (select * from unnest($2::bigint[], $3::float8[]) as w (annotator_id, weight)), \
         t as ( \
             select v.item_id, least(v.response_a_id, v.response_b_id) as r1, \
                    greatest(v.response_a_id, v.response_b_id) as r2, \
                    count(*) filter (where (v.winner = 'a') = (v.response_a_id < v.response_b_id) \
                                       and v.winner in ('a', 'b')) as first_wins, \
                    count(*) filter (where (v.winner = 'b') = (v.response_a_id < v.response_b_id) \
                                       and v.winner in ('a', 'b')) as second_wins, \
                    count(*) filter (where v.winner in ('tie', 'both_bad')) as tied, \
                    coalesce(sum(coalesce(w.weight, 1)) filter ( \
                        where (v.winner = 'a') = (v.response_a_id < v.response_b_id) \
                          and v.winner in ('a', 'b')), 0)::float8 as first_weight, \
                    coalesce(sum(coalesce(w.weight, 1)) filter ( \
                        where (v.winner = 'b') = (v.response_a_id < v.response_b_id) \
                          and v.winner in ('a', 'b')), 0)::float8 as second_weight, \
                    coalesce(sum(coalesce(w.weight, 1)) filter ( \
                        where v.winner in ('tie', 'both_bad')), 0)::float8 as tied_weight, \
                    array_agg(v.vote_id order by v.vote_id) as vote_ids \
             from vote v left join w on w.annotator_id = v.annotator_id \
             where v.vote_id = any($1) \
             group by 1, 2, 3) \
         select t.item_id, pr.name as project, coalesce(i.external_key, i.item_id::text) as item, \
                p.text as prompt, r1.text as first, r2.text as second, \
                m1.name as first_model, m2.name as second_model, \
                t.first_wins, t.second_wins, t.tied, t.first_weight, t.second_weight, \
                t.tied_weight, t.vote_ids \
         from t join item i on i.item_id = t.item_id \
         join project pr on pr.project_id = i.project_id \
         join prompt p on p.prompt_id = i.prompt_id \
         join response r1 on r1.response_id = t.r1 join response r2 on r2.response_id = t.r2 \
         join model m1 on m1.model_id = r1.model_id join model m2 on m2.model_id = r2.model_id \
         where btrim(p.text) <> '' and btrim(r1.text) <> '' and btrim(r2.text) <> '' \
         order by t.item_id, t.r1, t.r2",
    )
    .bind(vote_ids)
    .bind(who)
    .bind(weight)
    .fetch_all(db)
    .await?)
}

/// A vote's choice as annotator reliability reads it.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct VoteChoice {
    /// Who voted.
    pub annotator_id: i64,
    /// Response A.
    pub response_a_id: i64,
    /// Response B.
    pub response_b_id: i64,
    /// `a`, `b`, `tie` or `both_bad`.
    pub winner: String,
    /// Whether A was shown on the left.
    pub a_was_left: Option<bool>,
}

/// The choices among `vote_ids` that have an annotator and both responses.
///
/// # Errors
/// Only on database failure.
pub async fn vote_choices(db: impl PgExecutor<'_>, vote_ids: &[i64]) -> Result<Vec<VoteChoice>> {
    Ok(sqlx::query_as(
        "select annotator_id, response_a_id, response_b_id, winner, a_was_left from vote \
         where vote_id = any($1) and annotator_id is not null and response_a_id is not null \
           and response_b_id is not null \
         order by vote_id",
    )
    .bind(vote_ids)
    .fetch_all(db)
    .await?)
}

/// Columns of a run as the app reads them.
const RUN_COLUMNS: &str = "r.training_run_id, r.launched_by, lu.username as launched_by_name, \
     r.base_model_id, bm.name as base_model, bm.config as base_model_config, r.snapshot, r.config, \
     r.status, r.error, r.worker_id, r.heartbeat_at, r.started_at, r.finished_at, \
     r.output_model_id, om.name as output_model, om.enabled as output_model_enabled, r.step, \
     r.total_steps, r.cancel_requested, r.output_dir, r.attempts, r.created_at, \
     r.reference_done, r.reference_total, r.reference_started_at";

const RUN_FROM: &str = "from training_run r join model bm on bm.model_id = r.base_model_id \
     left join model om on om.model_id = r.output_model_id \
     left join app_user lu on lu.user_id = r.launched_by";

/// A training run.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct Run {
    /// Primary key.
    pub training_run_id: i64,
    /// Who launched it.
    pub launched_by: Option<i64>,
    /// Their login name.
    pub launched_by_name: Option<String>,
    /// The model trained.
    pub base_model_id: i64,
    /// Its name.
    pub base_model: String,
    /// Its settings (the folder of a local model).
    pub base_model_config: serde_json::Value,
    /// The frozen judgement ids and the derivation policy.
    pub snapshot: serde_json::Value,
    /// Training settings.
    pub config: serde_json::Value,
    /// `queued`, `running`, `succeeded`, `failed` or `cancelled`.
    pub status: String,
    /// Why it failed.
    pub error: Option<String>,
    /// The worker running it.
    pub worker_id: Option<String>,
    /// The worker's last sign of life.
    #[serde(with = "time::serde::rfc3339::option")]
    pub heartbeat_at: Option<OffsetDateTime>,
    /// First claimed.
    #[serde(with = "time::serde::rfc3339::option")]
    pub started_at: Option<OffsetDateTime>,
    /// Ended.
    #[serde(with = "time::serde::rfc3339::option")]
    pub finished_at: Option<OffsetDateTime>,
    /// The model it produced.
    pub output_model_id: Option<i64>,
    /// That model's name.
    pub output_model: Option<String>,
    /// Whether that model is in the arena.
    pub output_model_enabled: Option<bool>,
    /// Optimiser steps done.
    pub step: i32,
    /// Steps planned (known once training starts).
    pub total_steps: Option<i32>,
    /// An admin asked to stop it.
    pub cancel_requested: bool,
    /// Where the worker writes checkpoints and the final folder.
    pub output_dir: Option<String>,
    /// Times a worker claimed it.
    pub attempts: i32,
    /// Launched.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// Reference log-probs computed so far (examples), once that phase started.
    pub reference_done: Option<i32>,
    /// Examples the reference phase scores.
    pub reference_total: Option<i32>,
    /// When the reference phase started (this attempt).
    #[serde(with = "time::serde::rfc3339::option")]
    pub reference_started_at: Option<OffsetDateTime>,
}

/// Queues a run.
///
/// # Errors
/// `training_run_base_model_id_fkey` for an unknown model.
pub async fn create(
    db: impl PgExecutor<'_>,
    launched_by: Option<i64>,
    base_model_id: i64,
    snapshot: &serde_json::Value,
    config: &serde_json::Value,
) -> Result<i64> {
    let (id,): (i64,) = sqlx::query_as(
        "insert into training_run (launched_by, base_model_id, snapshot, config) \
         values ($1, $2, $3, $4) returning training_run_id",
    )
    .bind(launched_by)
    .bind(base_model_id)
    .bind(snapshot)
    .bind(config)
    .fetch_one(db)
    .await?;
    Ok(id)
}

/// One run.
///
/// # Errors
/// [`Error::NotFound`] for an unknown id.
pub async fn get(db: impl PgExecutor<'_>, id: i64) -> Result<Run> {
    Ok(sqlx::query_as(&format!(
        "select {RUN_COLUMNS} {RUN_FROM} where r.training_run_id = $1"
    ))
    .bind(id)
    .fetch_one(db)
    .await?)
}

/// The latest runs, newest first.
///
/// # Errors
/// Only on database failure.
pub async fn list(db: impl PgExecutor<'_>, limit: i64) -> Result<Vec<Run>> {
    Ok(sqlx::query_as(&format!(
        "select {RUN_COLUMNS} {RUN_FROM} order by r.training_run_id desc limit $1"
    ))
    .bind(limit)
    .fetch_all(db)
    .await?)
}

/// Claims the oldest queued run for `worker_id`; many workers may call this at once, each gets
/// a different run (or none).
///
/// # Errors
/// Only on database failure.
pub async fn claim(pool: &PgPool, worker_id: &str) -> Result<Option<Run>> {
    let claimed: Option<(i64,)> = sqlx::query_as(
        "update training_run set status = 'running', worker_id = $1, heartbeat_at = now(), \
                started_at = coalesce(started_at, now()), attempts = attempts + 1, \
                error = null, updated_at = now() \
         where training_run_id = ( \
             select training_run_id from training_run where status = 'queued' \
             order by created_at, training_run_id for update skip locked limit 1) \
         returning training_run_id",
    )
    .bind(worker_id)
    .fetch_optional(pool)
    .await?;
    match claimed {
        Some((id,)) => Ok(Some(get(pool, id).await?)),
        None => Ok(None),
    }
}

/// What a worker learns when it reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// Carry on.
    Continue,
    /// An admin asked to stop.
    Cancel,
    /// The run is no longer this worker's (it was declared dead and failed or requeued): stop
    /// and record nothing more.
    Lost,
}

/// What the `cancel_requested` of a worker's own running run or job (or its absence) tells it.
pub(crate) fn signal(row: Option<(bool,)>) -> Signal {
    match row {
        None => Signal::Lost,
        Some((true,)) => Signal::Cancel,
        Some((false,)) => Signal::Continue,
    }
}

/// Records that `worker_id` is alive and still running `id`.
///
/// # Errors
/// Only on database failure.
pub async fn heartbeat(db: impl PgExecutor<'_>, id: i64, worker_id: &str) -> Result<Signal> {
    let row: Option<(bool,)> = sqlx::query_as(
        "update training_run set heartbeat_at = now() \
         where training_run_id = $1 and worker_id = $2 and status = 'running' \
         returning cancel_requested",
    )
    .bind(id)
    .bind(worker_id)
    .fetch_optional(db)
    .await?;
    Ok(signal(row))
}

/// Records the reference phase's progress: `done` of `total` examples scored (`done` = 0
/// starts the phase's clock), and answers as [`heartbeat`].
///
/// # Errors
/// Only on database failure.
pub async fn record_reference(
    db: impl PgExecutor<'_>,
    id: i64,
    worker_id: &str,
    done: i32,
    total: i32,
) -> Result<Signal> {
    let row: Option<(bool,)> = sqlx::query_as(
        "update training_run set reference_done = $3, reference_total = $4, \
                reference_started_at = case when $3 = 0 or reference_started_at is null \
                    then now() else reference_started_at end, \
                heartbeat_at = now(), updated_at = now() \
         where training_run_id = $1 and worker_id = $2 and status = 'running' \
         returning cancel_requested",
    )
    .bind(id)
    .bind(worker_id)
    .bind(done)
    .bind(total)
    .fetch_optional(db)
    .await?;
    Ok(signal(row))
}

/// Sets where the run's files go.
///
/// # Errors
/// Only on database failure.
pub async fn set_output_dir(db: impl PgExecutor<'_>, id: i64, dir: &str) -> Result<()> {
    sqlx::query(
        "update training_run set output_dir = $2, updated_at = now() where training_run_id = $1",
    )
    .bind(id)
    .bind(dir)
    .execute(db)
    .await?;
    Ok(())
}

/// Stores one step's metrics and the progress, in one transaction (a step replayed after a
/// resume overwrites its earlier record).
///
/// # Errors
/// Only on database failure.
pub async fn record_step(
    pool: &PgPool,
    id: i64,
    worker_id: &str,
    step: i32,
    total_steps: i32,
    metrics: &serde_json::Value,
) -> Result<Signal> {
    let mut tx = pool.begin().await?;
    let row: Option<(bool,)> = sqlx::query_as(
        "update training_run set step = $3, total_steps = $4, heartbeat_at = now(), \
                updated_at = now() \
         where training_run_id = $1 and worker_id = $2 and status = 'running' \
         returning cancel_requested",
    )
    .bind(id)
    .bind(worker_id)
    .bind(step)
    .bind(total_steps)
    .fetch_optional(&mut *tx)
    .await?;
    let Some((cancel,)) = row else {
        return Ok(Signal::Lost);
    };
    sqlx::query(
        "insert into training_metric (training_run_id, step, metrics) values ($1, $2, $3) \
         on conflict (training_run_id, step) do update set metrics = excluded.metrics, \
                                                          created_at = now()",
    )
    .bind(id)
    .bind(step)
    .bind(metrics)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(if cancel {
        Signal::Cancel
    } else {
        Signal::Continue
    })
}

/// One step's metrics.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct MetricRow {
    /// Optimiser step.
    pub step: i32,
    /// Metrics by TRL's names.
    pub metrics: serde_json::Value,
}

/// A run's metrics after `after_step`, in step order.
///
/// # Errors
/// Only on database failure.
pub async fn metrics(db: impl PgExecutor<'_>, id: i64, after_step: i32) -> Result<Vec<MetricRow>> {
    Ok(sqlx::query_as(
        "select step, metrics from training_metric where training_run_id = $1 and step > $2 \
         order by step",
    )
    .bind(id)
    .bind(after_step)
    .fetch_all(db)
    .await?)
}

/// Finishes a run that trained to the end: registers its folder as a new `local` model (child
/// of the base model, not yet in the arena) and marks the run succeeded, in one transaction.
/// Returns the new model's id, or `None` when the run was no longer this worker's.
///
/// # Errors
/// Only on database failure.
pub async fn succeed(
    pool: &PgPool,
    id: i64,
    worker_id: &str,
    model_name: &str,
    model_config: &serde_json::Value,
) -> Result<Option<i64>> {
    let mut tx = pool.begin().await?;
    let run: Option<(i64,)> = sqlx::query_as(
        "select base_model_id from training_run \
         where training_run_id = $1 and worker_id = $2 and status = 'running' for update",
    )
    .bind(id)
    .bind(worker_id)
    .fetch_optional(&mut *tx)
    .await?;
    let Some((base,)) = run else {
        return Ok(None);
    };
    // A name taken by hand gets a suffix rather than failing a finished run.
    let (taken,): (bool,) = sqlx::query_as("select exists (select 1 from model where name = $1)")
        .bind(model_name)
        .fetch_one(&mut *tx)
        .await?;
    let name = if taken {
        format!("{model_name}-{id}")
    } else {
        model_name.to_owned()
    };
    let (model_id,): (i64,) = sqlx::query_as(
        "insert into model (name, kind, config, parent_model_id, training_run_id, enabled) \
         values ($1, 'local', $2, $3, $4, false) returning model_id",
    )
    .bind(&name)
    .bind(model_config)
    .bind(base)
    .bind(id)
    .fetch_one(&mut *tx)
    .await?;
    sqlx::query(
        "update training_run set status = 'succeeded', output_model_id = $2, finished_at = now(), \
                step = coalesce(total_steps, step), updated_at = now() \
         where training_run_id = $1",
    )
    .bind(id)
    .bind(model_id)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Some(model_id))
}

/// Ends a run this worker holds as `failed` (with the error) or `cancelled`. Returns whether
/// the run was still this worker's.
///
/// # Errors
/// Only on database failure.
pub async fn finish(
    db: impl PgExecutor<'_>,
    id: i64,
    worker_id: &str,
    status: &str,
    error: Option<&str>,
) -> Result<bool> {
    let done = sqlx::query(
        "update training_run set status = $3, error = $4, finished_at = now(), updated_at = now() \
         where training_run_id = $1 and worker_id = $2 and status = 'running'",
    )
    .bind(id)
    .bind(worker_id)
    .bind(status)
    .bind(error)
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Asks a run to stop: a queued run is cancelled at once, a running one at its next step.
///
/// # Errors
/// [`Error::NotFound`] for an unknown run; [`Error::Invalid`] for a run that has ended.
pub async fn request_cancel(pool: &PgPool, id: i64) -> Result<Run> {
    let run = get(pool, id).await?;
    let changed = sqlx::query(
        "update training_run set \
             cancel_requested = true, \
             status = case when status = 'queued' then 'cancelled' else status end, \
             finished_at = case when status = 'queued' then now() else finished_at end, \
             updated_at = now() \
         where training_run_id = $1 and status in ('queued', 'running')",
    )
    .bind(id)
    .execute(pool)
    .await?;
    if changed.rows_affected() == 0 {
        return Err(Error::Invalid(format!(
            "run #{id} has already ended ({})",
            run.status
        )));
    }
    get(pool, id).await
}

/// What happened to a run whose worker stopped sending heartbeats.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Reaped {
    /// The run.
    pub training_run_id: i64,
    /// `failed`, or `queued` when it will resume from its last checkpoint.
    pub status: String,
}

/// Runs at most this many claims before a dead worker's run is failed for good.
pub const MAX_ATTEMPTS: i32 = 3;

/// Ends or requeues every running run whose heartbeat is older than `stale_after_secs`: runs
/// configured with `"resume_on_failure": true` go back to the queue (to resume from their
/// last checkpoint) up to [`MAX_ATTEMPTS`] claims, the others are marked failed.
///
/// # Errors
/// Only on database failure.
pub async fn reap_stale(db: impl PgExecutor<'_>, stale_after_secs: f64) -> Result<Vec<Reaped>> {
    Ok(sqlx::query_as(
        "update training_run r set \
             status = case when resume then 'queued' else 'failed' end, \
             error = case when resume \
                 then 'worker ' || coalesce(r.worker_id, '?') || ' stopped sending heartbeats; \
requeued to resume from the last checkpoint' \
                 else 'worker ' || coalesce(r.worker_id, '?') || ' stopped sending heartbeats \
(last at ' || to_char(r.heartbeat_at at time zone 'UTC', 'YYYY-MM-DD HH24:MI:SS') || ' UTC)' end, \
             finished_at = case when resume then null else now() end, \
             worker_id = case when resume then null else r.worker_id end, \
             updated_at = now() \
         from (select training_run_id, \
                      coalesce((config->>'resume_on_failure')::boolean, false) \
                          and not cancel_requested and attempts < $2 as resume \
               from training_run \
               where status = 'running' \
                 and coalesce(heartbeat_at, started_at, created_at) \
                     < now() - make_interval(secs => $1) \
               for update skip locked) s \
         where r.training_run_id = s.training_run_id \
         returning r.training_run_id, r.status",
    )
    .bind(stale_after_secs)
    .bind(MAX_ATTEMPTS)
    .fetch_all(db)
    .await?)
}

/// Puts a run this worker holds back in the queue (to resume from its last checkpoint).
/// Returns whether the run was still this worker's.
///
/// # Errors
/// Only on database failure.
pub async fn requeue(
    db: impl PgExecutor<'_>,
    id: i64,
    worker_id: &str,
    note: &str,
) -> Result<bool> {
    let done = sqlx::query(
        "update training_run set status = 'queued', worker_id = null, error = $3, \
                updated_at = now() \
         where training_run_id = $1 and worker_id = $2 and status = 'running'",
    )
    .bind(id)
    .bind(worker_id)
    .bind(note)
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// The filter's conditions on a judgement `j` (alias: a vote, ranking or rating) with its
/// annotator `u`.
const JUDGEMENT_FILTER: &str = "(cardinality($1::bigint[]) = 0 or j.project_id = any($1)) \
     and ($2::date is null or j.created_at >= $2::date) \
     and ($3::date is null or j.created_at < $3::date + 1) \
     and j.source = any($4) \
     and (cardinality($5::text[]) = 0 or coalesce(u.cohorts && $5, false)) \
     and (j.annotator_id is null or not (j.annotator_id = any($6))) \
     and not coalesce(u.excluded, false)";

fn sources(f: &VoteFilter) -> Vec<String> {
    if f.sources.is_empty() {
        vec!["human".into(), "import".into()]
    } else {
        f.sources.clone()
    }
}

/// Ids from `select {id} from {table} j left join app_user u ... where {extra} and <filter>`.
async fn select_ids(
    db: impl PgExecutor<'_>,
    id: &str,
    table: &str,
    extra: &str,
    f: &VoteFilter,
) -> Result<Vec<i64>> {
    let rows: Vec<(i64,)> = sqlx::query_as(&format!(
        "select j.{id} from {table} j left join app_user u on u.user_id = j.annotator_id \
         where {extra} and {JUDGEMENT_FILTER} and ($7::bigint is null or j.{id} > $7) \
         order by j.{id}"
    ))
    .bind(&f.projects)
    .bind(f.from)
    .bind(f.to)
    .bind(sources(f))
    .bind(&f.cohorts)
    .bind(&f.exclude_annotators)
    .bind(f.after_id)
    .fetch_all(db)
    .await?;
    Ok(rows.into_iter().map(|(id,)| id).collect())
}

/// Ids of the rankings the filter selects ("none is acceptable" rankings are left out: they
/// order responses that are all bad).
///
/// # Errors
/// Only on database failure.
pub async fn select_rankings(db: impl PgExecutor<'_>, f: &VoteFilter) -> Result<Vec<i64>> {
    select_ids(db, "ranking_id", "ranking", "not j.not_rankable", f).await
}

/// Ids of the (non-N/A) ratings the filter selects.
///
/// # Errors
/// Only on database failure.
pub async fn select_ratings(db: impl PgExecutor<'_>, f: &VoteFilter) -> Result<Vec<i64>> {
    select_ids(db, "rating_id", "rating", "j.score is not null", f).await
}

/// A ranking with the texts it orders.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct RankingTexts {
    /// Ranking.
    pub ranking_id: i64,
    /// Project name.
    pub project: String,
    /// Item key.
    pub item: String,
    /// Prompt.
    pub prompt: String,
    /// Tie groups of response ids, best first.
    pub tie_groups: serde_json::Value,
    /// Response ids of the item.
    pub response_ids: Vec<i64>,
    /// Their texts.
    pub texts: Vec<String>,
    /// Their models.
    pub models: Vec<String>,
}

/// The rankings `ids` with their prompts and response texts, in id order.
///
/// # Errors
/// Only on database failure.
pub async fn rankings_with_texts(
    db: impl PgExecutor<'_>,
    ids: &[i64],
) -> Result<Vec<RankingTexts>> {
    Ok(sqlx::query_as(
        "select k.ranking_id, pr.name as project, coalesce(i.external_key, i.item_id::text) as item, \
                p.text as prompt, k.tie_groups, \
                array_agg(r.response_id order by ir.position) as response_ids, \
                array_agg(r.text order by ir.position) as texts, \
                array_agg(m.name order by ir.position) as models \
         from ranking k join item i on i.item_id = k.item_id \
         join project pr on pr.project_id = k.project_id join prompt p on p.prompt_id = i.prompt_id \
         join item_response ir on ir.item_id = i.item_id \
         join response r on r.response_id = ir.response_id join model m on m.model_id = r.model_id \
         where k.ranking_id = any($1) \
         group by k.ranking_id, pr.name, i.external_key, i.item_id, p.text, k.tie_groups \
         order by k.ranking_id",
    )
    .bind(ids)
    .fetch_all(db)
    .await?)
}

/// One rating with its text.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct RatingText {
    /// Rating.
    pub rating_id: i64,
    /// The form it came from (assignment, or item and annotator for imports).
    pub form: String,
    /// Project name.
    pub project: String,
    /// Item key.
    pub item: String,
    /// Prompt.
    pub prompt: String,
    /// Response.
    pub response_id: i64,
    /// Its text.
    pub text: String,
    /// Its model.
    pub model: String,
    /// Score.
    pub score: i32,
}

/// The ratings `ids` with prompts and texts, grouped by form.
///
/// # Errors
/// Only on database failure.
pub async fn ratings_with_texts(db: impl PgExecutor<'_>, ids: &[i64]) -> Result<Vec<RatingText>> {
    Ok(sqlx::query_as(
        "select g.rating_id, \
                coalesce('a' || g.assignment_id::text, 'u' || coalesce(g.annotator_id, 0)::text || ':' || g.item_id::text) as form, \
                pr.name as project, coalesce(i.external_key, i.item_id::text) as item, \
                p.text as prompt, g.response_id, r.text, m.name as model, g.score \
         from rating g join item i on i.item_id = g.item_id \
         join project pr on pr.project_id = g.project_id join prompt p on p.prompt_id = i.prompt_id \
         join response r on r.response_id = g.response_id join model m on m.model_id = r.model_id \
         where g.rating_id = any($1) and g.score is not null \
         order by form, g.response_id, g.rating_id",
    )
    .bind(ids)
    .fetch_all(db)
    .await?)
}

//! The training queue as workers see it (docs/design.md §3.4): claim a queued run, heartbeat,
//! report progress, and end it. Every call names the worker, so that a run taken from it
//! (declared dead, then failed or requeued) answers [`Signal::Lost`] instead of being written.

use crate::{AppError, OrApp};

pub use db::training::{Reaped, Run, Signal};

/// Claims the oldest queued run for `worker` (`FOR UPDATE SKIP LOCKED`), if any.
///
/// # Errors
/// Internal on database failure.
pub async fn claim(pool: &db::PgPool, worker: &str) -> Result<Option<Run>, AppError> {
    db::training::claim(pool, worker).await.or_app()
}

/// Says the worker is alive; the answer says whether to go on.
///
/// # Errors
/// Internal on database failure.
pub async fn heartbeat(pool: &db::PgPool, id: i64, worker: &str) -> Result<Signal, AppError> {
    db::training::heartbeat(pool, id, worker).await.or_app()
}

/// Records the reference phase's progress.
///
/// # Errors
/// Internal on database failure.
pub async fn record_reference(
    pool: &db::PgPool,
    id: i64,
    worker: &str,
    done: i32,
    total: i32,
) -> Result<Signal, AppError> {
    db::training::record_reference(pool, id, worker, done, total)
        .await
        .or_app()
}

/// Records an optimiser step and its metrics.
///
/// # Errors
/// Internal on database failure.
pub async fn record_step(
    pool: &db::PgPool,
    id: i64,
    worker: &str,
    (step, total_steps): (i32, i32),
    metrics: &serde_json::Value,
) -> Result<Signal, AppError> {
    db::training::record_step(pool, id, worker, step, total_steps, metrics)
        .await
        .or_app()
}

/// Records where the run writes its model.
///
/// # Errors
/// Internal on database failure.
pub async fn set_output_dir(pool: &db::PgPool, id: i64, dir: &str) -> Result<(), AppError> {
    db::training::set_output_dir(pool, id, dir).await.or_app()
}

/// Ends the run as `failed` or `cancelled` (with the reason); false when the worker no longer
/// holds it.
///
/// # Errors
/// Internal on database failure.
pub async fn finish(
    pool: &db::PgPool,
    id: i64,
    worker: &str,
    status: &str,
    error: Option<&str>,
) -> Result<bool, AppError> {
    db::training::finish(pool, id, worker, status, error)
        .await
        .or_app()
}

/// Hands the run back to the queue, to be resumed from its last checkpoint.
///
/// # Errors
/// Internal on database failure.
pub async fn requeue(
    pool: &db::PgPool,
    id: i64,
    worker: &str,
    note: &str,
) -> Result<bool, AppError> {
    db::training::requeue(pool, id, worker, note).await.or_app()
}

/// Ends the run as `succeeded` and registers its model (`model_config` holds its folder);
/// returns the model's id, `None` when the worker no longer holds the run.
///
/// # Errors
/// Internal on database failure.
pub async fn succeed(
    pool: &db::PgPool,
    id: i64,
    worker: &str,
    model_name: &str,
    model_config: &serde_json::Value,
) -> Result<Option<i64>, AppError> {
    db::training::succeed(pool, id, worker, model_name, model_config)
        .await
        .or_app()
}

/// Fails or requeues the runs whose worker stopped heartbeating for `stale_after_secs`.
///
/// # Errors
/// Internal on database failure.
pub async fn reap_stale(pool: &db::PgPool, stale_after_secs: f64) -> Result<Vec<Reaped>, AppError> {
    db::training::reap_stale(pool, stale_after_secs)
        .await
        .or_app()
}

//! The open arena: starting a battle between two models the sampler picks.

use crate::{AppError, OrApp};

/// The longest prompt an arena battle takes, in characters.
pub const MAX_PROMPT_CHARS: usize = 20_000;

/// What is stored beside a contestant's answer: its style counts (for style control), how
/// long it took and which backend gave it.
#[must_use]
pub fn answer_meta(text: &str, latency_ms: u64, backend: &str) -> serde_json::Value {
    serde_json::json!({
        "style": ranking::style::count_markdown(text),
        "latency_ms": latency_ms,
        "backend": backend,
    })
}

/// Starts a battle on `prompt` between the next pair the sampler picks (the sampler already
/// drew their sides: its left model is A and shown left); the answers are generated when the
/// battle's event stream is opened.
///
/// # Errors
/// 422 for an empty or over-long prompt; 409 when fewer than two models can battle.
#[tracing::instrument(skip_all, fields(user_id = user_id))]
pub async fn start_battle(pool: &db::PgPool, user_id: i64, prompt: &str) -> Result<i64, AppError> {
    if prompt.trim().is_empty() {
        return Err(AppError::Unprocessable("type a prompt first".into()));
    }
    if prompt.chars().count() > MAX_PROMPT_CHARS {
        return Err(AppError::Unprocessable(
            "a prompt has at most 20,000 characters".into(),
        ));
    }
    let pair = crate::sampling::next_pair(pool, None).await?;
    db::arena::start(
        pool,
        user_id,
        prompt,
        pair.left.model_id,
        pair.right.model_id,
        // A is the sampler's left model.
        true,
    )
    .await
    .or_app()
}

pub use db::arena::{ARENA_PROJECT, Battle, Contestant};

/// The arena project's id, created when missing (a training policy names it before any
/// battle).
///
/// # Errors
/// Internal on database failure.
pub async fn project_id(pool: &db::PgPool) -> Result<i64, AppError> {
    db::arena::project(pool).await.or_app()
}

/// A battle opened by its annotator's event stream, and whether this stream claimed its
/// generation (false: it was claimed already, by another tab or node, and the stream follows).
///
/// # Errors
/// 404 for an unknown battle, 403 for another annotator's; Internal on database failure.
pub async fn open(
    pool: &db::PgPool,
    battle_id: i64,
    user_id: i64,
) -> Result<(Battle, bool), AppError> {
    let battle = crate::error::or_not_found(db::arena::get(pool, battle_id).await, || {
        "no such battle".into()
    })?;
    if battle.user_id != user_id {
        return Err(AppError::Forbidden(
            "this battle belongs to another annotator".into(),
        ));
    }
    let claimed =
        battle.status == "generating" && db::arena::claim(pool, battle_id).await.or_app()?;
    Ok((battle, claimed))
}

/// A battle as it stands now.
///
/// # Errors
/// 404 for an unknown battle; Internal on database failure.
pub async fn get(pool: &db::PgPool, battle_id: i64) -> Result<Battle, AppError> {
    crate::error::or_not_found(db::arena::get(pool, battle_id).await, || {
        "no such battle".into()
    })
}

/// A ready battle's assignment and its answers, left first; `None` when it is not ready.
///
/// # Errors
/// Internal on database failure.
pub async fn answers(
    pool: &db::PgPool,
    battle_id: i64,
) -> Result<Option<(i64, String, String)>, AppError> {
    db::arena::answers(pool, battle_id).await.or_app()
}

/// Records both answers and opens the vote (see [`db::arena::complete`]); returns the
/// assignment id.
///
/// # Errors
/// 422 when the battle is not generating any more; Internal on database failure.
pub async fn complete(
    pool: &db::PgPool,
    battle_id: i64,
    answers: [(&str, &serde_json::Value); 2],
) -> Result<i64, AppError> {
    let [(a, meta_a), (b, meta_b)] = answers;
    db::arena::complete(pool, battle_id, a, b, meta_a, meta_b)
        .await
        .or_app()
}

/// Marks a battle failed with the reason, logging (not returning) a database failure: the
/// callers are already on an error path and tell the annotator themselves.
pub async fn fail(pool: &db::PgPool, battle_id: i64, reason: &str) {
    if let Err(e) = db::arena::fail(pool, battle_id, reason).await {
        tracing::error!(error = %e, battle = battle_id, "marking a battle failed");
    }
}

/// Marks failed the battles that can no longer finish (see [`db::arena::reap`]); returns how
/// many.
///
/// # Errors
/// Internal on database failure.
pub async fn reap(
    pool: &db::PgPool,
    generating_for: std::time::Duration,
    unclaimed_for: std::time::Duration,
) -> Result<u64, AppError> {
    db::arena::reap(pool, generating_for, unclaimed_for)
        .await
        .or_app()
}

//! The open arena: starting a battle between two models the sampler picks.

use crate::{AppError, OrApp};

/// The longest prompt an arena battle takes, in characters.
pub const MAX_PROMPT_CHARS: usize = 20_000;

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

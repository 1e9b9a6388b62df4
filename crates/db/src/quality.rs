//! What agreement, quality-control and consistency reports read: a project's judgements with
//! their annotators, and switching an annotator's exclusion.

use serde::Serialize;
use sqlx::{PgExecutor, PgPool};

use crate::Result;

/// A pairwise vote as the reports read it.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct VoteRow {
    /// Vote.
    pub vote_id: i64,
    /// Item.
    pub item_id: i64,
    /// Annotator (none for some imports).
    pub annotator_id: Option<i64>,
    /// `human`, `import`, `llm_judge`.
    pub source: String,
    /// Response A.
    pub response_a_id: Option<i64>,
    /// Response B.
    pub response_b_id: Option<i64>,
    /// `a`, `b`, `tie`, `both_bad`.
    pub winner: String,
    /// Whether A was shown on the left.
    pub a_was_left: Option<bool>,
    /// Milliseconds.
    pub time_to_vote_ms: Option<i32>,
    /// The item is a gold item.
    pub is_gold: bool,
    /// Its known answer (`{"winner": "a"}` with A = the item's first response).
    pub gold_answer: Option<serde_json::Value>,
    /// The item's first response (A of the gold answer).
    pub first_response_id: Option<i64>,
}

/// A project's votes on items (any source), oldest first.
///
/// # Errors
/// Only on database failure.
pub async fn votes(db: impl PgExecutor<'_>, project_id: i64) -> Result<Vec<VoteRow>> {
    Ok(sqlx::query_as(
        "select v.vote_id, v.item_id, v.annotator_id, v.source, v.response_a_id, v.response_b_id, \
                v.winner, v.a_was_left, v.time_to_vote_ms, i.is_gold, i.gold_answer, \
                (select ir.response_id from item_response ir where ir.item_id = i.item_id \
                 order by ir.position limit 1) as first_response_id \
         from vote v join item i on i.item_id = v.item_id \
         where v.project_id = $1 order by v.vote_id",
    )
    .bind(project_id)
    .fetch_all(db)
    .await?)
}

/// A rating as the reports read it.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct RatingRow {
    /// Item.
    pub item_id: i64,
    /// Assignment (one form).
    pub assignment_id: Option<i64>,
    /// Annotator.
    pub annotator_id: Option<i64>,
    /// Response.
    pub response_id: i64,
    /// Its model.
    pub model: String,
    /// Criterion.
    pub criterion: String,
    /// Score (`None`: N/A).
    pub score: Option<i32>,
    /// Milliseconds for the form.
    pub time_ms: Option<i32>,
    /// `human`, `import`, `llm_judge`.
    pub source: String,
}

/// A project's ratings.
///
/// # Errors
/// Only on database failure.
pub async fn ratings(db: impl PgExecutor<'_>, project_id: i64) -> Result<Vec<RatingRow>> {
    Ok(sqlx::query_as(
        "select r.item_id, r.assignment_id, r.annotator_id, r.response_id, m.name as model, \
                r.criterion, r.score, r.time_ms, r.source \
         from rating r join response re on re.response_id = r.response_id \
         join model m on m.model_id = re.model_id \
         where r.project_id = $1 order by r.rating_id",
    )
    .bind(project_id)
    .fetch_all(db)
    .await?)
}

/// A ranking as the reports read it.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct RankingRow {
    /// Item.
    pub item_id: i64,
    /// Annotator.
    pub annotator_id: Option<i64>,
    /// Tie groups of response ids, best first.
    pub tie_groups: serde_json::Value,
    /// Milliseconds.
    pub time_ms: Option<i32>,
    /// `human`, `import`, `llm_judge`.
    pub source: String,
}

/// A project's rankings.
///
/// # Errors
/// Only on database failure.
pub async fn rankings(db: impl PgExecutor<'_>, project_id: i64) -> Result<Vec<RankingRow>> {
    Ok(sqlx::query_as(
        "select item_id, annotator_id, tie_groups, time_ms, source from ranking \
         where project_id = $1 order by ranking_id",
    )
    .bind(project_id)
    .fetch_all(db)
    .await?)
}

/// An annotator as the reports name them.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct Annotator {
    /// User id.
    pub user_id: i64,
    /// Login name, external id or `#id`.
    pub name: String,
    /// Judgements left out of leaderboards and exports.
    pub excluded: bool,
}

/// Names and exclusion of these users.
///
/// # Errors
/// Only on database failure.
pub async fn annotators(db: impl PgExecutor<'_>, ids: &[i64]) -> Result<Vec<Annotator>> {
    Ok(sqlx::query_as(
        "select user_id, coalesce(username, external_id, '#' || user_id) as name, excluded \
         from app_user where user_id = any($1) order by user_id",
    )
    .bind(ids)
    .fetch_all(db)
    .await?)
}

/// Excludes an annotator's judgements from leaderboards and exports, or includes them again.
///
/// # Errors
/// [`crate::Error::NotFound`] for an unknown user.
pub async fn set_excluded(pool: &PgPool, user_id: i64, excluded: bool) -> Result<()> {
    let done =
        sqlx::query("update app_user set excluded = $2, updated_at = now() where user_id = $1")
            .bind(user_id)
            .bind(excluded)
            .execute(pool)
            .await?;
    if done.rows_affected() == 0 {
        return Err(crate::Error::NotFound);
    }
    Ok(())
}

/// A project's id, name, protocol and settings.
///
/// # Errors
/// [`crate::Error::NotFound`] for an unknown project.
pub async fn project(
    db: impl PgExecutor<'_>,
    project_id: i64,
) -> Result<(i64, String, String, serde_json::Value)> {
    Ok(sqlx::query_as(
        "select project_id, name, protocol, config from project where project_id = $1",
    )
    .bind(project_id)
    .fetch_one(db)
    .await?)
}

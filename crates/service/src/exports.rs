//! Exports: votes, DPO pairs, ratings and rankings as rows, for the export routes and
//! `verdict export` (the edges turn them into JSONL, CSV or Parquet).

use crate::{AppError, OrApp};

pub use db::exports::{DpoPair, RankingExport, RatingExport, VoteExport};

/// Every vote (of one project, by name, or all), oldest first.
///
/// # Errors
/// Internal on database failure.
pub async fn votes(pool: &db::PgPool, project: Option<&str>) -> Result<Vec<VoteExport>, AppError> {
    db::exports::votes(pool, project).await.or_app()
}

/// TRL preference pairs, the majority per item, counting the votes of `sources`.
///
/// # Errors
/// Internal on database failure.
pub async fn dpo_pairs(
    pool: &db::PgPool,
    project: Option<&str>,
    sources: &[&str],
) -> Result<Vec<DpoPair>, AppError> {
    db::exports::dpo_majority(pool, project, sources)
        .await
        .or_app()
}

/// One row per score of a rating form.
///
/// # Errors
/// Internal on database failure.
pub async fn ratings(
    pool: &db::PgPool,
    project: Option<&str>,
) -> Result<Vec<RatingExport>, AppError> {
    db::exports::ratings(pool, project).await.or_app()
}

/// One row per ranking.
///
/// # Errors
/// Internal on database failure.
pub async fn rankings(
    pool: &db::PgPool,
    project: Option<&str>,
) -> Result<Vec<RankingExport>, AppError> {
    db::exports::rankings(pool, project).await.or_app()
}

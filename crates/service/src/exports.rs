//! Exports: votes, DPO pairs, ratings and rankings as rows, for the export routes and
//! `verdict export` (the edges turn them into JSONL, CSV or Parquet).

use crate::{AppError, OrApp};

pub use api::data::{DpoPair, RankingExport, RatingExport, VoteExport};

/// Every vote (of one project, by name, or all), oldest first.
///
/// # Errors
/// Internal on database failure.
pub async fn votes(pool: &db::PgPool, project: Option<&str>) -> Result<Vec<VoteExport>, AppError> {
    let rows = db::exports::votes(pool, project).await.or_app()?;
    Ok(rows.into_iter().map(vote).collect())
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
    let rows = db::exports::dpo_majority(pool, project, sources)
        .await
        .or_app()?;
    Ok(rows.into_iter().map(dpo_pair).collect())
}

/// One row per score of a rating form.
///
/// # Errors
/// Internal on database failure.
pub async fn ratings(
    pool: &db::PgPool,
    project: Option<&str>,
) -> Result<Vec<RatingExport>, AppError> {
    let rows = db::exports::ratings(pool, project).await.or_app()?;
    Ok(rows.into_iter().map(rating).collect())
}

/// One row per ranking.
///
/// # Errors
/// Internal on database failure.
pub async fn rankings(
    pool: &db::PgPool,
    project: Option<&str>,
) -> Result<Vec<RankingExport>, AppError> {
    let rows = db::exports::rankings(pool, project).await.or_app()?;
    Ok(rows.into_iter().map(ranking).collect())
}

/// A timestamp as the exports write it (RFC 3339, UTC as stored).
fn rfc3339(t: time::OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

fn vote(r: db::exports::VoteExport) -> VoteExport {
    VoteExport {
        vote_id: r.vote_id,
        project: r.project,
        item: r.item,
        prompt: r.prompt,
        model_a: r.model_a,
        model_b: r.model_b,
        response_a: r.response_a,
        response_b: r.response_b,
        winner: r.winner,
        strength: r.strength,
        rationale: r.rationale,
        time_to_vote_ms: r.time_to_vote_ms,
        a_was_left: r.a_was_left,
        guideline_version: r.guideline_version,
        source: r.source,
        annotator_id: r.annotator_id,
        annotator_external_id: r.annotator_external_id,
        created_at: rfc3339(r.created_at),
    }
}

fn dpo_pair(r: db::exports::DpoPair) -> DpoPair {
    DpoPair {
        prompt: r.prompt,
        chosen: r.chosen,
        rejected: r.rejected,
        chosen_model: r.chosen_model,
        rejected_model: r.rejected_model,
        votes_chosen: r.votes_chosen,
        votes_rejected: r.votes_rejected,
        votes_tied: r.votes_tied,
        project: r.project,
        item: r.item,
        policy: r.policy,
    }
}

fn rating(r: db::exports::RatingExport) -> RatingExport {
    RatingExport {
        rating_id: r.rating_id,
        project: r.project,
        item: r.item,
        assignment_id: r.assignment_id,
        display_order: r.display_order,
        response_id: r.response_id,
        model: r.model,
        criterion: r.criterion,
        score: r.score,
        not_applicable: r.not_applicable,
        rationale: r.rationale,
        time_ms: r.time_ms,
        guideline_version: r.guideline_version,
        source: r.source,
        annotator_id: r.annotator_id,
        annotator_external_id: r.annotator_external_id,
        created_at: rfc3339(r.created_at),
    }
}

fn ranking(r: db::exports::RankingExport) -> RankingExport {
    RankingExport {
        ranking_id: r.ranking_id,
        project: r.project,
        item: r.item,
        assignment_id: r.assignment_id,
        display_order: r.display_order,
        tie_groups: r.tie_groups,
        not_rankable: r.not_rankable,
        rationale: r.rationale,
        time_ms: r.time_ms,
        guideline_version: r.guideline_version,
        source: r.source,
        annotator_id: r.annotator_id,
        annotator_external_id: r.annotator_external_id,
        created_at: rfc3339(r.created_at),
    }
}

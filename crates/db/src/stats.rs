//! Whole-database counts for the start page and the admin dashboard.

use serde::{Deserialize, Serialize};
use sqlx::PgExecutor;

use crate::Result;

/// How much data the instance holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, sqlx::FromRow)]
pub struct Overview {
    /// Registered models.
    pub models: i64,
    /// Prompts.
    pub prompts: i64,
    /// Projects.
    pub projects: i64,
    /// Pairwise votes.
    pub votes: i64,
    /// Ratings and rankings.
    pub other_judgements: i64,
}

/// Counts the main tables in one round trip.
///
/// # Errors
/// Only on database failure.
pub async fn overview(db: impl PgExecutor<'_>) -> Result<Overview> {
    Ok(sqlx::query_as(
        "select (select count(*) from model) as models, \
                (select count(*) from prompt) as prompts, \
                (select count(*) from project) as projects, \
                (select count(*) from vote) as votes, \
                (select count(*) from rating) + (select count(*) from ranking) as other_judgements",
    )
    .fetch_one(db)
    .await?)
}

/// A project as listed to annotators.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, sqlx::FromRow)]
pub struct ProjectSummary {
    /// Primary key.
    pub project_id: i64,
    /// Display name.
    pub name: String,
    /// `pairwise`, `rating` or `ranking`.
    pub protocol: String,
    /// Number of items.
    pub items: i64,
}

/// Lists projects with their item counts, oldest first; the arena's (whose items are battles)
/// only when `with_arena`.
///
/// # Errors
/// Only on database failure.
pub async fn projects(db: impl PgExecutor<'_>, with_arena: bool) -> Result<Vec<ProjectSummary>> {
    Ok(sqlx::query_as(
        "select p.project_id, p.name, p.protocol, count(i.item_id) as items \
         from project p left join item i on i.project_id = p.project_id \
         where $1 or not p.is_arena \
         group by p.project_id order by p.project_id",
    )
    .bind(with_arena)
    .fetch_all(db)
    .await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[sqlx::test(migrator = "crate::MIGRATOR")]
    async fn counts_what_is_there(pool: sqlx::PgPool) {
        assert_eq!(overview(&pool).await.unwrap(), Overview::default());
        sqlx::query("insert into model (name, kind) values ('m1', 'dataset'), ('m2', 'dataset')")
            .execute(&pool)
            .await
            .unwrap();
        sqlx::query("insert into project (name, protocol) values ('p', 'pairwise')")
            .execute(&pool)
            .await
            .unwrap();
        let o = overview(&pool).await.unwrap();
        assert_eq!((o.models, o.projects, o.votes), (2, 1, 0));
        let listed = projects(&pool, true).await.unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!((listed[0].name.as_str(), listed[0].items), ("p", 0));
    }
}

/// A running training run's progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::FromRow)]
pub struct RunProgress {
    /// The run.
    pub training_run_id: i64,
    /// Steps done.
    pub step: i32,
    /// Steps it will take, once known.
    pub total_steps: Option<i32>,
    /// Reference pairs scored.
    pub reference_done: Option<i32>,
    /// Reference pairs in all.
    pub reference_total: Option<i32>,
}

/// What `/metrics` reads from the database at each scrape: counts by label, and the progress
/// of running training runs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MetricCounts {
    /// Pairwise votes by source (from the vote counts the triggers keep, not a scan).
    pub votes_by_source: Vec<(String, i64)>,
    /// Rating forms and rankings recorded: `("rating", n)`, `("ranking", n)`.
    pub judgements_by_protocol: Vec<(String, i64)>,
    /// Assignments by status; `issued` counts only those not yet expired.
    pub assignments_by_status: Vec<(String, i64)>,
    /// Training runs by status.
    pub runs_by_status: Vec<(String, i64)>,
    /// Running runs' progress.
    pub running: Vec<RunProgress>,
    /// Arena battles by status.
    pub battles_by_status: Vec<(String, i64)>,
}

/// Reads [`MetricCounts`].
///
/// # Errors
/// Only on database failure.
pub async fn metric_counts(pool: &sqlx::PgPool) -> Result<MetricCounts> {
    let by = |sql: &'static str| async move {
        sqlx::query_as::<_, (String, i64)>(sql)
            .fetch_all(pool)
            .await
    };
    Ok(MetricCounts {
        votes_by_source: by(
            "select source, sum(n)::bigint from vote_count group by source \
                             order by source",
        )
        .await?,
        judgements_by_protocol: by(
            "select 'rating', count(distinct assignment_id) from rating \
                                    union all select 'ranking', count(*) from ranking",
        )
        .await?,
        assignments_by_status: by(
            "select case when status = 'issued' and expires_at <= now() then 'expired' \
                         else status end as s, count(*) \
             from assignment group by s order by s",
        )
        .await?,
        runs_by_status: by(
            "select status, count(*) from training_run group by status order by status",
        )
        .await?,
        running: sqlx::query_as(
            "select training_run_id, step, total_steps, reference_done, reference_total \
             from training_run where status = 'running' order by training_run_id",
        )
        .fetch_all(pool)
        .await?,
        battles_by_status: by(
            "select status, count(*) from arena_battle group by status order by status",
        )
        .await?,
    })
}

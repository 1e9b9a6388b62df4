//! Whole-database counts for the start page and the admin dashboard.

use serde::{Deserialize, Serialize};
use sqlx::PgExecutor;

use crate::Result;

/// How much data the instance holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
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
    let (models, prompts, projects, votes, other_judgements): (i64, i64, i64, i64, i64) =
        sqlx::query_as(
            "select (select count(*) from model), (select count(*) from prompt), \
                    (select count(*) from project), (select count(*) from vote), \
                    (select count(*) from rating) + (select count(*) from ranking)",
        )
        .fetch_one(db)
        .await?;
    Ok(Overview {
        models,
        prompts,
        projects,
        votes,
        other_judgements,
    })
}

/// A project as listed to annotators.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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
    let rows: Vec<(i64, String, String, i64)> = sqlx::query_as(
        "select p.project_id, p.name, p.protocol, count(i.item_id) \
         from project p left join item i on i.project_id = p.project_id \
         where $1 or not p.is_arena \
         group by p.project_id order by p.project_id",
    )
    .bind(with_arena)
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(project_id, name, protocol, items)| ProjectSummary {
            project_id,
            name,
            protocol,
            items,
        })
        .collect())
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

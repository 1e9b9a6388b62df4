//! Statements only the vote benchmark (`verdict bench votes`) uses: a project every client may
//! judge every item of, assignments issued in bulk, and the count of recorded votes.

use sqlx::{PgConnection, PgExecutor};

use crate::Result;

/// Lets every annotator judge every item of the project (overlap target 1000).
///
/// # Errors
/// Only on database failure.
pub async fn open_project(db: &mut PgConnection, project_id: i64) -> Result<()> {
    sqlx::query("update project set overlap_target = 1000 where project_id = $1")
        .bind(project_id)
        .execute(db)
        .await?;
    Ok(())
}

/// Issues one assignment per item of the project to the user, in a random display order.
///
/// # Errors
/// Only on database failure.
pub async fn issue_all(db: impl PgExecutor<'_>, project_id: i64, user_id: i64) -> Result<Vec<i64>> {
    Ok(sqlx::query_scalar(
        "insert into assignment (item_id, user_id, display_order, expires_at) \
         select i.item_id, $2, array_agg(ir.response_id order by random()), \
                now() + interval '1 hour' \
         from item i join item_response ir on ir.item_id = i.item_id \
         where i.project_id = $1 group by i.item_id returning assignment_id",
    )
    .bind(project_id)
    .bind(user_id)
    .fetch_all(db)
    .await?)
}

/// Votes recorded in the project.
///
/// # Errors
/// Only on database failure.
pub async fn votes(db: impl PgExecutor<'_>, project_id: i64) -> Result<i64> {
    Ok(
        sqlx::query_scalar("select count(*) from vote where project_id = $1")
            .bind(project_id)
            .fetch_one(db)
            .await?,
    )
}

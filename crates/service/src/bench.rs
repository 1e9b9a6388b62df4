//! What `verdict bench` runs: the rating benches ([`ratings`]), and here the fixtures of
//! `bench votes`: a pairwise project of two models that any number of annotators may judge,
//! and its counts.

pub mod ratings;

use crate::{AppError, OrApp};

/// Creates the project `name` with `items` items (x's answer against y's), open to every
/// annotator without an overlap limit, in one transaction; returns its id.
///
/// # Errors
/// Internal on database failure.
pub async fn votes_project(pool: &db::PgPool, name: &str, items: usize) -> Result<i64, AppError> {
    let mut tx = db::begin(pool).await.or_app()?;
    let project = db::imports::pairwise_project(&mut tx, name)
        .await
        .or_app()?;
    db::bench::open_project(&mut tx, project).await.or_app()?;
    let models = [
        db::imports::model(&mut tx, "bench-x").await.or_app()?,
        db::imports::model(&mut tx, "bench-y").await.or_app()?,
    ];
    let meta = serde_json::json!({});
    for k in 0..items {
        let prompt = db::imports::prompt(&mut tx, &format!("{name} prompt {k}"), None)
            .await
            .or_app()?;
        let mut responses = [0; 2];
        for (side, (model, label)) in models.iter().zip(["x", "y"]).enumerate() {
            responses[side] =
                db::imports::response(&mut tx, prompt, *model, &format!("{label} {k}"), &meta)
                    .await
                    .or_app()?;
        }
        db::imports::item(&mut tx, project, prompt, &k.to_string(), &responses)
            .await
            .or_app()?;
    }
    db::finish(tx, true).await.or_app()?;
    Ok(project)
}

/// Issues every item of the project to the annotator at once; returns the assignment ids.
///
/// # Errors
/// Internal on database failure.
pub async fn issue_all(
    pool: &db::PgPool,
    project: i64,
    user_id: i64,
) -> Result<Vec<i64>, AppError> {
    db::bench::issue_all(pool, project, user_id).await.or_app()
}

/// The votes recorded in the project.
///
/// # Errors
/// Internal on database failure.
pub async fn votes(pool: &db::PgPool, project: i64) -> Result<i64, AppError> {
    db::bench::votes(pool, project).await.or_app()
}

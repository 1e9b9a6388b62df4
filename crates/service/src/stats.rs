//! The counts `/metrics` reports.

use crate::{AppError, OrApp};

pub use db::stats::MetricCounts;

/// Votes, judgements, assignments, training runs and battles, counted for `/metrics`.
///
/// # Errors
/// Internal on database failure.
pub async fn metric_counts(pool: &db::PgPool) -> Result<MetricCounts, AppError> {
    db::stats::metric_counts(pool).await.or_app()
}

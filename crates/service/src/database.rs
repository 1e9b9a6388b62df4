//! Opening the database: the connection pool, the migrations, and whether it answers.

use crate::{AppError, OrApp};

/// A connection pool of at most `max_connections` to `url`.
///
/// # Errors
/// When the server cannot be reached; the message is the driver's.
pub async fn connect(url: &str, max_connections: u32) -> Result<db::PgPool, db::Error> {
    db::connect(url, max_connections).await
}

/// Applies the migrations the database has not seen yet.
///
/// # Errors
/// When a migration fails or a landed one was changed.
pub async fn migrate(pool: &db::PgPool) -> Result<(), db::Error> {
    db::migrate(pool).await
}

/// How many migrations this build knows.
#[must_use]
pub fn migrations_known() -> usize {
    db::MIGRATOR.iter().count()
}

/// Whether the database answers.
///
/// # Errors
/// Internal when it does not.
pub async fn ping(pool: &db::PgPool) -> Result<(), AppError> {
    db::ping(pool).await.or_app()
}

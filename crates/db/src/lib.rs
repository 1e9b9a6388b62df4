//! Verdict's PostgreSQL access: the migrations and one module per resource.
//!
//! This is the only crate that talks SQL. Every query function takes an executor (a pool, a
//! connection or a transaction) so that callers can group multi-row writes in one transaction.

pub mod arena;
pub mod assignments;
pub mod bench;
pub mod exports;
pub mod first_admin;
pub mod imports;
pub mod judgements;
pub mod judges;
pub mod leaderboard;
pub mod login_attempts;
pub mod policies;
pub mod projects;
pub mod quality;
pub mod stats;
pub mod training;
pub mod users;

use std::time::Duration;

pub use sqlx::PgPool;

/// A transaction on the pool, for use cases that make several calls in one.
pub type Transaction<'a> = sqlx::Transaction<'a, sqlx::Postgres>;
use sqlx::postgres::PgPoolOptions;

/// The schema migrations in `migrations/`, embedded in the binary.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations");

/// What a violated named constraint means for the request that hit it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Violation {
    /// The request is malformed (400).
    BadRequest,
    /// A value breaks a rule (422).
    Invalid,
    /// It clashes with data that exists (409).
    Conflict,
}

/// A named constraint that a request can violate, with the message its user gets. Each module
/// lists those its queries can raise in its `CONSTRAINTS`, beside the queries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Constraint {
    /// The name declared in the migrations.
    pub name: &'static str,
    /// What violating it means.
    pub violation: Violation,
    /// The message, in the user's terms.
    pub message: &'static str,
}

/// The [`Constraint`] of that name, from the lists of the modules whose queries raise it.
#[must_use]
pub fn constraint(name: &str) -> Option<&'static Constraint> {
    [
        users::CONSTRAINTS,
        projects::CONSTRAINTS,
        arena::CONSTRAINTS,
        imports::CONSTRAINTS,
        assignments::CONSTRAINTS,
        judgements::CONSTRAINTS,
        judges::CONSTRAINTS,
        policies::CONSTRAINTS,
    ]
    .into_iter()
    .flatten()
    .find(|c| c.name == name)
}

/// Errors from the database layer.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A named constraint was violated; the name lets callers map it to a clear 4xx error.
    #[error("constraint `{constraint}` violated")]
    Constraint {
        /// The constraint's name as declared in the migrations.
        constraint: String,
    },
    /// The row asked for does not exist.
    #[error("not found")]
    NotFound,
    /// The request cannot be carried out as asked; the message says why.
    #[error("{0}")]
    Invalid(String),
    /// The database cannot be reached (refused, timed out, closed); retrying later may work.
    #[error("database unavailable: {0}")]
    Unavailable(sqlx::Error),
    /// Any other database failure.
    #[error(transparent)]
    Sqlx(sqlx::Error),
    /// Applying the migrations failed.
    #[error(transparent)]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

impl From<sqlx::Error> for Error {
    fn from(err: sqlx::Error) -> Self {
        match err {
            sqlx::Error::RowNotFound => Self::NotFound,
            sqlx::Error::Database(ref db_err) => match db_err.constraint() {
                Some(name) => Self::Constraint {
                    constraint: name.to_owned(),
                },
                // character_not_in_repertoire: PostgreSQL text cannot hold a NUL character.
                None if db_err.code().as_deref() == Some("22021") => {
                    Self::Invalid("text cannot contain a NUL character (\\0)".into())
                }
                // admin_shutdown, crash_shutdown, cannot_connect_now: the server is going away.
                None if matches!(db_err.code().as_deref(), Some("57P01" | "57P02" | "57P03")) => {
                    Self::Unavailable(err)
                }
                None => Self::Sqlx(err),
            },
            sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => {
                Self::Unavailable(err)
            }
            other => Self::Sqlx(other),
        }
    }
}

impl Error {
    /// The violated constraint's name, if this is a constraint violation.
    #[must_use]
    pub fn constraint(&self) -> Option<&str> {
        match self {
            Self::Constraint { constraint } => Some(constraint),
            _ => None,
        }
    }
}

/// Result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// How long a request waits for a connection before it answers "unavailable".
pub const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(2);

/// Opens a connection pool. `acquire_timeout` bounds how long a request waits for a connection.
///
/// # Errors
/// Fails when the server cannot be reached or refuses the credentials.
pub async fn connect(url: &str, max_connections: u32) -> Result<PgPool> {
    Ok(pool_options(max_connections).connect(url).await?)
}

/// The pool's settings: at most `max_connections`, a short acquire timeout, and no connection
/// goes back to the pool inside a transaction.
///
/// sqlx (0.8.6) returns a connection to the pool as it is when a `pool.begin()` is cancelled
/// between sending `BEGIN` and its answer (an axum handler dropped because its client went
/// away, a `select!`): the server is then inside a transaction that nothing will end, and
/// every later borrower's statements run in it and keep their locks until the process exits
/// (a training run's heartbeat waited on one for minutes). A released connection is therefore
/// asked whether it is inside a transaction and closed if it is: `now()` is the transaction's
/// start and `statement_timestamp()` this statement's, equal only when this statement began
/// the transaction.
#[must_use]
pub fn pool_options(max_connections: u32) -> PgPoolOptions {
    PgPoolOptions::new()
        .max_connections(max_connections)
        // Short, so that a database outage answers 503 quickly instead of holding requests.
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .after_release(|conn, _| {
            Box::pin(async move {
                // A simple query (one message), so that the statement's time is its
                // transaction's when it is the first.
                let row =
                    sqlx::Executor::fetch_one(&mut *conn, "select now() <> statement_timestamp()")
                        .await?;
                let inside: bool = sqlx::Row::try_get(&row, 0)?;
                if inside {
                    tracing::warn!("a connection came back inside a transaction; closed");
                }
                Ok(!inside)
            })
        })
}

/// Begins a transaction.
///
/// # Errors
/// Only on database failure.
pub async fn begin(pool: &PgPool) -> Result<Transaction<'static>> {
    Ok(pool.begin().await?)
}

/// Commits a transaction, or rolls it back when `keep` is false.
///
/// # Errors
/// Only on database failure.
pub async fn finish(tx: Transaction<'_>, keep: bool) -> Result<()> {
    if keep {
        tx.commit().await?;
    } else {
        tx.rollback().await?;
    }
    Ok(())
}

/// Applies every pending migration.
///
/// # Errors
/// Fails when a migration fails or the database holds a migration this binary does not know.
pub async fn migrate(pool: &PgPool) -> Result<()> {
    MIGRATOR.run(pool).await?;
    Ok(())
}

/// Checks that the database answers (used by `/healthz`).
///
/// # Errors
/// Fails when no connection can be acquired or the query fails.
pub async fn ping(pool: &PgPool) -> Result<()> {
    sqlx::query("select 1").execute(pool).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_listed_constraint_is_declared_in_the_migrations() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../migrations");
        let sql: String = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
            .collect();
        let lists = [
            super::users::CONSTRAINTS,
            super::projects::CONSTRAINTS,
            super::arena::CONSTRAINTS,
            super::imports::CONSTRAINTS,
            super::assignments::CONSTRAINTS,
            super::judgements::CONSTRAINTS,
        ];
        for c in lists.into_iter().flatten() {
            assert!(
                sql.contains(&format!("constraint {} ", c.name))
                    || sql.contains(&format!("constraint {}\n", c.name)),
                "{} is not declared in migrations/",
                c.name
            );
            assert_eq!(
                super::constraint(c.name),
                Some(c),
                "{} is listed twice",
                c.name
            );
        }
    }
}

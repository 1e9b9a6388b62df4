//! The one-time tokens that let the first admin be created in the browser.

use sqlx::PgExecutor;

use crate::Result;
use crate::users::{Role, UserRow};

/// Whether any admin exists.
///
/// # Errors
/// Only on database failure.
pub async fn admin_exists(db: impl PgExecutor<'_>) -> Result<bool> {
    Ok(
        sqlx::query_scalar("select exists (select 1 from app_user where role = 'admin')")
            .fetch_one(db)
            .await?,
    )
}

/// Stores a new token (its SHA-256).
///
/// # Errors
/// Only on database failure.
pub async fn add_token(db: impl PgExecutor<'_>, token: &str) -> Result<()> {
    sqlx::query(
        "insert into first_admin_token (token_hash) values (sha256(convert_to($1, 'UTF8'))) \
         on conflict do nothing",
    )
    .bind(token)
    .execute(db)
    .await?;
    Ok(())
}

/// Why the first admin was not created.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// An admin exists already.
    AdminExists,
    /// The token is not one that was issued, was used, or is over a day old.
    BadToken,
}

/// Creates the first admin if `token` is a live token and no admin exists, and then deletes
/// every token; one transaction, serialised on the token table so that two requests with the
/// same token cannot both succeed.
///
/// # Errors
/// Database failures, `app_user_username_key` for a taken name.
pub async fn create_admin(
    pool: &crate::PgPool,
    token: &str,
    username: &str,
    password_hash: &str,
) -> Result<std::result::Result<UserRow, Refusal>> {
    let mut tx = pool.begin().await?;
    sqlx::query("lock table first_admin_token in exclusive mode")
        .execute(&mut *tx)
        .await?;
    if admin_exists(&mut *tx).await? {
        return Ok(Err(Refusal::AdminExists));
    }
    let known: bool = sqlx::query_scalar(
        "select exists (select 1 from first_admin_token \
                        where token_hash = sha256(convert_to($1, 'UTF8')) \
                          and created_at > now() - interval '1 day')",
    )
    .bind(token)
    .fetch_one(&mut *tx)
    .await?;
    if !known {
        return Ok(Err(Refusal::BadToken));
    }
    let user =
        crate::users::create_with_password(&mut *tx, username, Role::Admin, password_hash).await?;
    sqlx::query("delete from first_admin_token")
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(Ok(user))
}

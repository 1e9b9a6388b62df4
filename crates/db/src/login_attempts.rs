//! Login attempts, kept in PostgreSQL so that rate limiting holds across server instances.

use sqlx::PgExecutor;

use crate::Result;

/// Records one attempt.
///
/// # Errors
/// Only on database failure.
pub async fn record(
    db: impl PgExecutor<'_>,
    username: &str,
    client_ip: Option<&str>,
    succeeded: bool,
) -> Result<()> {
    sqlx::query("insert into login_attempt (username, client_ip, succeeded) values ($1, $2, $3)")
        .bind(username)
        .bind(client_ip)
        .bind(succeeded)
        .execute(db)
        .await?;
    Ok(())
}

/// Counts failed attempts in the last `window_seconds` for this username or from this address.
///
/// # Errors
/// Only on database failure.
pub async fn recent_failures(
    db: impl PgExecutor<'_>,
    username: &str,
    client_ip: Option<&str>,
    window_seconds: i64,
) -> Result<i64> {
    let (count,): (i64,) = sqlx::query_as(
        "select count(*) from login_attempt \
         where not succeeded \
           and created_at > now() - make_interval(secs => $3) \
           and (username = $1 or (client_ip is not null and client_ip = $2))",
    )
    .bind(username)
    .bind(client_ip)
    .bind(window_seconds as f64)
    .fetch_one(db)
    .await?;
    Ok(count)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[sqlx::test(migrator = "crate::MIGRATOR")]
    async fn counts_only_recent_failures_for_the_name_or_address(pool: sqlx::PgPool) {
        record(&pool, "alice", Some("10.0.0.1"), false)
            .await
            .unwrap();
        record(&pool, "alice", Some("10.0.0.2"), false)
            .await
            .unwrap();
        record(&pool, "alice", Some("10.0.0.2"), true)
            .await
            .unwrap();
        record(&pool, "bob", Some("10.0.0.1"), false).await.unwrap();
        assert_eq!(recent_failures(&pool, "alice", None, 60).await.unwrap(), 2);
        assert_eq!(
            recent_failures(&pool, "carol", Some("10.0.0.1"), 60)
                .await
                .unwrap(),
            2
        );
        assert_eq!(
            recent_failures(&pool, "carol", Some("10.0.0.9"), 60)
                .await
                .unwrap(),
            0
        );
        sqlx::query("update login_attempt set created_at = now() - interval '1 hour'")
            .execute(&pool)
            .await
            .unwrap();
        assert_eq!(recent_failures(&pool, "alice", None, 60).await.unwrap(), 0);
    }
}

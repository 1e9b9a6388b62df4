//! Login attempts, kept in PostgreSQL so that rate limiting holds across server instances.

use sqlx::PgExecutor;

use crate::Result;

/// What [`begin`] decided about one login attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gate {
    /// Go ahead and check the password; the attempt is recorded as failed until
    /// [`succeeded`] says otherwise. `username_failures` counts this username's recent
    /// failures from every address (for a global slow-down).
    Open {
        /// The attempt's row.
        attempt_id: i64,
        /// Recent failures for the username from all addresses, this one included.
        username_failures: i64,
    },
    /// Too many recent failures for this username from this address.
    PairLimited,
    /// Too many recent failures from this address, whatever the username.
    ClientLimited,
}

/// Opens one login attempt, atomically: under a lock per client address (per username when
/// the address is unknown), counts the recent failures of this (username, address) pair and of
/// the address, refuses past the limits, and otherwise records the attempt as failed at once,
/// so that concurrent guesses count each other. Keys include the address, so failures from
/// elsewhere never lock a user out.
///
/// # Errors
/// Only on database failure.
pub async fn begin(
    pool: &sqlx::PgPool,
    username: &str,
    client_ip: Option<&str>,
    window_seconds: i64,
    max_per_pair: i64,
    max_per_client: i64,
) -> Result<Gate> {
    let mut tx = pool.begin().await?;
    let key = client_ip.map_or_else(|| format!("user:{username}"), |ip| format!("ip:{ip}"));
    sqlx::query("select pg_advisory_xact_lock(hashtextextended($1, 7))")
        .bind(&key)
        .execute(&mut *tx)
        .await?;
    /// Recent failures: of this name from this address, from this address, of this name.
    #[derive(sqlx::FromRow)]
    struct Failures {
        pair: i64,
        client: i64,
        name: i64,
    }
    let Failures { pair, client, name } = sqlx::query_as(
        "select count(*) filter (where username = $1 and client_ip is not distinct from $2) as pair, \
                count(*) filter (where $2::text is not null and client_ip = $2) as client, \
                count(*) filter (where username = $1) as name \
         from login_attempt \
         where not succeeded and created_at > now() - make_interval(secs => $3) \
           and (username = $1 or client_ip = $2)",
    )
    .bind(username)
    .bind(client_ip)
    .bind(window_seconds as f64)
    .fetch_one(&mut *tx)
    .await?;
    if pair >= max_per_pair {
        return Ok(Gate::PairLimited);
    }
    if client >= max_per_client {
        return Ok(Gate::ClientLimited);
    }
    let (attempt_id,): (i64,) = sqlx::query_as(
        "insert into login_attempt (username, client_ip, succeeded) values ($1, $2, false) \
         returning login_attempt_id",
    )
    .bind(username)
    .bind(client_ip)
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Gate::Open {
        attempt_id,
        username_failures: name + 1,
    })
}

/// Marks an attempt opened by [`begin`] as a success.
///
/// # Errors
/// Only on database failure.
pub async fn succeeded(db: impl PgExecutor<'_>, attempt_id: i64) -> Result<()> {
    sqlx::query("update login_attempt set succeeded = true where login_attempt_id = $1")
        .bind(attempt_id)
        .execute(db)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn fail(pool: &sqlx::PgPool, user: &str, ip: Option<&str>) -> Gate {
        begin(pool, user, ip, 60, 2, 3).await.unwrap()
    }

    #[sqlx::test(migrator = "crate::MIGRATOR")]
    async fn limits_are_per_pair_and_per_address(pool: sqlx::PgPool) {
        let a = Some("10.0.0.1");
        assert!(matches!(
            fail(&pool, "alice", a).await,
            Gate::Open {
                username_failures: 1,
                ..
            }
        ));
        assert!(matches!(
            fail(&pool, "alice", a).await,
            Gate::Open {
                username_failures: 2,
                ..
            }
        ));
        assert_eq!(fail(&pool, "alice", a).await, Gate::PairLimited);
        // Alice from elsewhere is not locked out; her name's failures are counted.
        let Gate::Open {
            attempt_id,
            username_failures,
        } = fail(&pool, "alice", Some("10.0.0.2")).await
        else {
            panic!("alice from another address is refused");
        };
        assert_eq!(username_failures, 3);
        succeeded(&pool, attempt_id).await.unwrap();
        // The first address may try one more name, then it is stopped for every name.
        assert!(matches!(fail(&pool, "bob", a).await, Gate::Open { .. }));
        assert_eq!(fail(&pool, "carol", a).await, Gate::ClientLimited);
        // Unknown addresses count per name.
        assert!(matches!(fail(&pool, "dave", None).await, Gate::Open { .. }));
        assert!(matches!(fail(&pool, "dave", None).await, Gate::Open { .. }));
        assert_eq!(fail(&pool, "dave", None).await, Gate::PairLimited);
        // Old failures no longer count.
        sqlx::query("update login_attempt set created_at = now() - interval '1 hour'")
            .execute(&pool)
            .await
            .unwrap();
        assert!(matches!(
            fail(&pool, "carol", a).await,
            Gate::Open {
                username_failures: 1,
                ..
            }
        ));
    }
}

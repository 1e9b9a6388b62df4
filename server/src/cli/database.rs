//! The database arguments every command shares, and opening the pool they name (the embedded
//! cluster, started when needed, or `DATABASE_URL`).

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;

use crate::pg::Cluster;

/// Where the data lives; shared by every subcommand that touches the database.
#[derive(Clone, Args)]
pub struct DatabaseArgs {
    /// Folder for Verdict's data, including the embedded PostgreSQL cluster.
    #[arg(
        long,
        env = "VERDICT_DATA_DIR",
        default_value = "verdict-data",
        global = true
    )]
    pub data_dir: PathBuf,
    /// Use this PostgreSQL server instead of the embedded one.
    #[arg(long, env = "DATABASE_URL", global = true, hide_env_values = true)]
    pub database_url: Option<String>,
}

/// Secrets stay out of logs: the URL's password is never printed.
impl std::fmt::Debug for DatabaseArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DatabaseArgs")
            .field("data_dir", &self.data_dir)
            .field(
                "database_url",
                &self.database_url.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

/// Connects to `DATABASE_URL`, or to the embedded cluster (starting it when needed).
///
/// # Errors
/// When the cluster cannot start or the server cannot be reached.
pub async fn open_database(args: &DatabaseArgs, max_connections: u32) -> Result<service::PgPool> {
    let url = match &args.database_url {
        Some(url) => url.clone(),
        None => {
            let data_dir = args.data_dir.clone();
            tokio::task::spawn_blocking(move || Cluster::new(&data_dir)?.ensure_running())
                .await
                .context("starting the embedded database")??
        }
    };
    service::database::connect(&url, max_connections)
        .await
        .map_err(|e| anyhow::anyhow!("cannot connect to the database ({}): {e}", redact(&url)))
}

/// With the embedded cluster, keeps `pool` pointed at it: every 2 s until `shutdown`, when the
/// cluster runs on another port than the pool's (it was restarted while its old port was
/// taken), new connections go to the new port. `None` with `DATABASE_URL`.
pub fn follow_embedded(
    args: &DatabaseArgs,
    pool: &service::PgPool,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) -> Option<tokio::task::JoinHandle<()>> {
    if args.database_url.is_some() {
        return None;
    }
    let cluster = Cluster::new(&args.data_dir).ok()?;
    let pool = pool.clone();
    Some(tokio::spawn(async move {
        while !*shutdown.borrow() {
            let current = pool.connect_options().get_port();
            let probe = cluster.clone();
            let found = tokio::task::spawn_blocking(move || {
                let status = probe.status()?;
                match status {
                    crate::pg::Status::Running { port } if port != current => {
                        probe.url(port).map(|url| Some((port, url)))
                    }
                    _ => Ok(None),
                }
            })
            .await;
            if let Ok(Ok(Some((port, url)))) = found {
                match url.parse::<sqlx::postgres::PgConnectOptions>() {
                    Ok(options) => {
                        tracing::warn!(
                            port,
                            "the embedded database moved to a new port: following it"
                        );
                        pool.set_connect_options(options);
                    }
                    Err(e) => tracing::error!(error = %e, "the embedded database's URL"),
                }
            }
            tokio::select! {
                () = tokio::time::sleep(std::time::Duration::from_secs(2)) => {}
                _ = shutdown.changed() => {}
            }
        }
    }))
}

/// `postgres://user:secret@host/db` -> `postgres://user:***@host/db`.
#[must_use]
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let creds = &url[scheme + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn urls_are_redacted() {
        assert_eq!(
            redact("postgres://u:secret@h:5/db"),
            "postgres://u:***@h:5/db"
        );
        assert_eq!(redact("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(
            redact("postgres:///db?host=/tmp"),
            "postgres:///db?host=/tmp"
        );
    }
}

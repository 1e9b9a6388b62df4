//! `verdict` subcommands: one file per command, `database.rs` for the database arguments they
//! share.

pub mod analyze;
pub mod bench_generate;
pub mod bench_loop;
pub mod bench_votes;
pub mod database;
pub mod demo;
pub mod export;
pub mod import;
pub mod inspect;
pub mod judge;
pub mod leaderboard;
pub mod measure;
pub mod policy;
pub mod train;

pub use database::{DatabaseArgs, open_database};

use std::io::{BufRead, IsTerminal};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use app::state::Settings;
use clap::{Args, Parser, Subcommand, ValueEnum};
use service::users::Role;

use crate::http::{self as web, CookieConfig};
use crate::pg::{Cluster, Status};

/// Verdict: learn from human preferences.
#[derive(Debug, Parser)]
#[command(name = "verdict", version, about)]
pub struct Cli {
    #[command(flatten)]
    pub database: DatabaseArgs,
    /// What to do; without a subcommand, `serve` with its defaults (as `cargo leptos serve` runs it).
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the web app (starts the embedded database when needed).
    Serve(ServeArgs),
    /// Apply pending database migrations.
    Migrate,
    /// Manage the embedded PostgreSQL cluster.
    Db {
        #[command(subcommand)]
        action: DbAction,
    },
    /// Manage users.
    User {
        #[command(subcommand)]
        action: UserAction,
    },
    /// Import data (one transaction per file; importing again changes nothing).
    Import {
        /// Validate the file and count what would be new, then roll back.
        #[arg(long, global = true)]
        dry_run: bool,
        #[command(subcommand)]
        command: crate::cli::import::ImportCommand,
    },
    /// Export votes (JSONL/CSV/Parquet) or DPO pairs (TRL JSONL/Parquet + dataset card).
    Export {
        #[command(subcommand)]
        command: export::ExportCommand,
    },
    /// Ratings from a Chatbot Arena battle log (no database needed).
    Leaderboard(crate::cli::leaderboard::LeaderboardArgs),
    /// DPO-train a model on preference rows (see `verdict train --help`).
    Train(Box<crate::cli::train::TrainArgs>),
    /// Generate an answer with a local model, streamed to standard output.
    Generate(crate::cli::train::GenerateArgs),
    /// Projects: list them, show one.
    Project {
        #[command(subcommand)]
        command: inspect::ProjectCommand,
    },
    /// Training runs: list them, show one, cancel one.
    Run {
        #[command(subcommand)]
        command: inspect::RunCommand,
    },
    /// Models: list them, register a local one, make a tiny test model, import a GGUF.
    Model {
        #[command(subcommand)]
        command: crate::cli::train::ModelCommand,
    },
    /// LLM judges: judge a project's items in both orders, register templates.
    Judge {
        #[command(subcommand)]
        command: judge::JudgeCommand,
    },
    /// Training policies: votes that start DPO rounds, gated by the arena.
    Policy {
        #[command(subcommand)]
        command: policy::PolicyCommand,
    },
    /// Agreement and consistency reports of a project.
    Analyze {
        #[command(subcommand)]
        command: crate::cli::analyze::AnalyzeCommand,
    },
    /// Run training workers only (e.g. on a GPU machine), against the same database as `serve`.
    Worker(WorkerArgs),
    /// Load the demo: a project of each protocol over stored answers of the local models,
    /// simulated annotators, and a short training run of `tiny-demo` (once; again changes nothing).
    Demo(crate::cli::demo::DemoArgs),
    /// Benchmarks that print a table of timings.
    Bench {
        #[command(subcommand)]
        command: crate::cli::leaderboard::BenchCommand,
    },
}

#[derive(Debug, Parser)]
pub struct ServeArgs {
    /// Address to listen on (default: Leptos' site address, 127.0.0.1:3000).
    #[arg(long, env = "VERDICT_ADDR")]
    pub addr: Option<SocketAddr>,
    /// Mark session cookies `Secure` (when served over HTTPS).
    #[arg(long, env = "VERDICT_SECURE_COOKIES")]
    pub secure_cookies: bool,
    /// Query parameter that carries an annotator's external id.
    #[arg(long, env = "VERDICT_EXTERNAL_ID_PARAM", default_value = "pid")]
    pub external_id_param: String,
    /// Database connections in the pool.
    #[arg(long, env = "VERDICT_DB_CONNECTIONS", default_value_t = 16)]
    pub db_connections: u32,
    /// Training workers to run in this process (0: leave training to `verdict worker`).
    #[arg(long, env = "VERDICT_WORKERS", default_value_t = 1)]
    pub workers: usize,
    /// Header in which a trusted reverse proxy passes the client's address (its last entry is
    /// used), e.g. `X-Forwarded-For`; without it the connection's address is the client's.
    #[arg(long, env = "VERDICT_TRUSTED_PROXY_HEADER")]
    pub trusted_proxy_header: Option<String>,
    /// New anonymous annotators per minute and client address (0: no limit).
    #[arg(long, env = "VERDICT_RATE_NEW_ANNOTATORS", default_value_t = 120)]
    pub rate_new_annotators: u32,
    /// Arena battles started per minute and client address (0: no limit).
    #[arg(long, env = "VERDICT_RATE_BATTLES", default_value_t = 30)]
    pub rate_battles: u32,
    /// Votes, ratings and rankings per minute and client address (0: no limit).
    #[arg(long, env = "VERDICT_RATE_JUDGEMENTS", default_value_t = 300)]
    pub rate_judgements: u32,
    /// Answers one arena model generates at once; more battles wait for a slot (0: no cap).
    #[arg(long, env = "VERDICT_GENERATIONS_PER_MODEL", default_value_t = 4)]
    pub generations_per_model: usize,
    #[command(flatten)]
    pub training: TrainingArgs,
}

/// Where and how training workers run.
#[derive(Debug, Clone, Args)]
pub struct TrainingArgs {
    /// Folder for training runs' outputs (default: `<data-dir>/runs`).
    #[arg(long, env = "VERDICT_RUNS_DIR")]
    pub runs_dir: Option<PathBuf>,
    /// Seconds without a heartbeat after which a running run counts as dead.
    #[arg(long, env = "VERDICT_STALE_AFTER", default_value_t = 60)]
    pub stale_after: u64,
    /// Seconds that open requests and busy workers get to finish after Ctrl-C or SIGTERM; the
    /// process then exits anyway, and a run it was training goes back to the queue once its
    /// heartbeat is stale.
    #[arg(long, env = "VERDICT_SHUTDOWN_GRACE", default_value_t = 30)]
    pub shutdown_grace: u64,
}

impl TrainingArgs {
    /// The workers' settings.
    #[must_use]
    pub fn worker_config(&self, data_dir: &std::path::Path) -> crate::worker::WorkerConfig {
        let mut cfg = crate::worker::WorkerConfig::new(
            self.runs_dir
                .clone()
                .unwrap_or_else(|| data_dir.join("runs")),
        );
        cfg.stale_after = std::time::Duration::from_secs(self.stale_after.max(1));
        cfg.heartbeat = cfg.heartbeat.min(cfg.stale_after / 3);
        cfg
    }
}

/// `verdict worker`.
#[derive(Debug, Parser)]
pub struct WorkerArgs {
    /// Workers to run.
    #[arg(long, default_value_t = 1)]
    pub count: usize,
    #[command(flatten)]
    pub training: TrainingArgs,
}

#[derive(Debug, Clone, Copy, Subcommand)]
pub enum DbAction {
    /// Start the embedded cluster (initialising it on first use).
    Start,
    /// Stop the embedded cluster.
    Stop,
    /// Say whether the embedded cluster runs.
    Status,
    /// Print the connection URL (starts the cluster when needed).
    Url,
}

#[derive(Debug, Subcommand)]
pub enum UserAction {
    /// Create a user with a password.
    Create {
        /// Role of the new user.
        #[arg(long, value_enum)]
        role: RoleArg,
        /// Login name.
        #[arg(long)]
        username: String,
        /// Read the password from the first line of standard input instead of a prompt.
        #[arg(long)]
        password_stdin: bool,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum RoleArg {
    Admin,
    Researcher,
    Annotator,
}

impl From<RoleArg> for Role {
    fn from(r: RoleArg) -> Self {
        match r {
            RoleArg::Admin => Self::Admin,
            RoleArg::Researcher => Self::Researcher,
            RoleArg::Annotator => Self::Annotator,
        }
    }
}

/// Runs the parsed command line.
///
/// # Errors
/// Any failure, with context, for `main` to print as one line.
pub async fn run(cli: Cli) -> Result<()> {
    let command = match cli.command {
        Some(command) => command,
        None => Command::Serve(ServeArgs::parse_from(["serve"])),
    };
    match command {
        Command::Serve(args) => serve(&cli.database, args).await,
        Command::Migrate => {
            let pool = open_database(&cli.database, 2).await?;
            service::database::migrate(&pool)
                .await
                .context("applying migrations")?;
            println!(
                "migrations applied ({} known)",
                service::database::migrations_known()
            );
            Ok(())
        }
        Command::Db { action } => db_command(&cli.database, action),
        Command::Import { dry_run, command } => {
            crate::cli::import::run(&cli.database, &command, dry_run).await
        }
        Command::Export { command } => export::run(&cli.database, &command).await,
        Command::Leaderboard(args) => crate::cli::leaderboard::run(&args),
        Command::Train(args) => crate::cli::train::train(&args),
        Command::Generate(args) => crate::cli::train::generate(&args),
        Command::Model {
            command: command @ crate::cli::train::ModelCommand::AddLocal { .. },
        } => crate::cli::train::add_local(&cli.database, &command).await,
        Command::Model {
            command:
                crate::cli::train::ModelCommand::AddOpenai {
                    name,
                    base_url,
                    model,
                    api_key_env,
                },
        } => {
            let pool = database::open_database(&cli.database, 2).await?;
            service::database::migrate(&pool)
                .await
                .context("applying migrations")?;
            let key = api_key_env.as_deref();
            let (id, new) =
                service::models::register_openai_once(&pool, &name, &base_url, &model, key)
                    .await
                    .map_err(|e| anyhow::anyhow!("{e}"))?;
            let what = if new {
                "registered"
            } else {
                "already registered:"
            };
            println!("{what} {name} (model #{id}, {base_url}, {model})");
            Ok(())
        }
        Command::Judge { command } => judge::run(&cli.database, &command).await,
        Command::Policy { command } => policy::run(&cli.database, &command).await,
        Command::Model {
            command: crate::cli::train::ModelCommand::Family { name, family },
        } => {
            let pool = database::open_database(&cli.database, 2).await?;
            service::database::migrate(&pool)
                .await
                .context("applying migrations")?;
            service::judges::set_family(&pool, &name, family.as_deref())
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            match family {
                Some(f) => println!("{name} is of the {f} family"),
                None => println!("{name} has no family"),
            }
            Ok(())
        }
        Command::Model {
            command: crate::cli::train::ModelCommand::List { json },
        } => inspect::models(&cli.database, json).await,
        Command::Model { command } => crate::cli::train::model(&command),
        Command::Project { command } => inspect::project(&cli.database, &command).await,
        Command::Run { command } => inspect::run(&cli.database, &command).await,
        Command::Worker(args) => worker(&cli.database, &args).await,
        Command::Demo(args) => crate::cli::demo::run(&cli.database, &args).await,
        Command::Analyze { command } => crate::cli::analyze::run(&cli.database, &command).await,
        Command::Bench {
            command:
                crate::cli::leaderboard::BenchCommand::Votes {
                    clients,
                    per_client,
                    vote_only,
                    pool,
                },
        } => {
            crate::cli::bench_votes::run(&cli.database, clients, per_client, vote_only, pool).await
        }
        Command::Bench {
            command: crate::cli::leaderboard::BenchCommand::Loop(args),
        } => crate::cli::bench_loop::run(&args).await,
        Command::Bench { command } => crate::cli::leaderboard::bench(&command),
        Command::User {
            action:
                UserAction::Create {
                    role,
                    username,
                    password_stdin,
                },
        } => {
            let password = read_password(password_stdin)?;
            service::users::check_password(&password).map_err(|e| anyhow::anyhow!("{e}"))?;
            let pool = open_database(&cli.database, 2).await?;
            service::database::migrate(&pool)
                .await
                .context("applying migrations")?;
            let user = service::users::create_staff(&pool, &username, password, role.into())
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            println!(
                "created {} `{}` (user #{})",
                user.role,
                username.trim(),
                user.user_id
            );
            Ok(())
        }
    }
}

fn db_command(args: &DatabaseArgs, action: DbAction) -> Result<()> {
    if args.database_url.is_some() && !matches!(action, DbAction::Url) {
        bail!("DATABASE_URL is set: `verdict db` manages only the embedded cluster");
    }
    if let (Some(url), DbAction::Url) = (&args.database_url, action) {
        println!("{url}");
        return Ok(());
    }
    let cluster = Cluster::new(&args.data_dir)?;
    match action {
        DbAction::Start => {
            cluster.ensure_running()?;
            println!("embedded PostgreSQL {}", cluster.status()?);
        }
        DbAction::Stop => {
            if cluster.stop()? {
                println!("embedded PostgreSQL stopped");
            } else {
                println!("embedded PostgreSQL was not running");
            }
        }
        DbAction::Status => {
            let status = cluster.status()?;
            println!(
                "embedded PostgreSQL in {}: {status}",
                args.data_dir.display()
            );
            if status == Status::Uninitialised {
                println!("(it is created on the first `verdict serve` or `verdict db start`)");
            }
        }
        DbAction::Url => println!("{}", cluster.ensure_running()?),
    }
    Ok(())
}

fn read_password(from_stdin: bool) -> Result<String> {
    if from_stdin || !std::io::stdin().is_terminal() {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .context("reading the password")?;
        return Ok(line.trim_end_matches(['\r', '\n']).to_owned());
    }
    let first = rpassword::prompt_password("Password: ").context("reading the password")?;
    let again = rpassword::prompt_password("Repeat it: ").context("reading the password")?;
    if first != again {
        bail!("the passwords differ");
    }
    Ok(first)
}

async fn serve(database: &DatabaseArgs, args: ServeArgs) -> Result<()> {
    let conf = leptos::config::get_configuration(None).context("reading Leptos settings")?;
    let mut leptos_options = conf.leptos_options;
    // A plain `cargo build` (not cargo-leptos) leaves the bundle name empty.
    if leptos_options.output_name.is_empty() {
        leptos_options.output_name = Arc::from("verdict");
    }
    leptos_options.hash_files = web::assets::hashed_bundle(&leptos_options);
    let addr = args.addr.unwrap_or(leptos_options.site_addr);
    leptos_options.site_addr = addr;

    let pool = open_database(database, args.db_connections).await?;
    service::database::migrate(&pool)
        .await
        .context("applying migrations")?;

    if let Some(h) = &args.trusted_proxy_header {
        axum::http::HeaderName::try_from(h.as_str())
            .with_context(|| format!("--trusted-proxy-header: {h:?} is not a header name"))?;
    }
    let settings = Settings {
        external_id_param: args.external_id_param,
        client_ip_header: args.trusted_proxy_header,
        limits: service::limits::Limits {
            new_annotators: args.rate_new_annotators,
            battles: args.rate_battles,
            judgements: args.rate_judgements,
            generations_per_model: args.generations_per_model,
        },
        ..Settings::default()
    };
    let state = crate::services::state(pool.clone(), leptos_options, settings);
    let cookies = CookieConfig {
        secure: args.secure_cookies,
        ..CookieConfig::default()
    };
    let router = web::app(state, cookies);

    let cleanup = tokio::spawn(delete_expired_sessions(pool.clone()));
    let (stop_workers, shutdown) = tokio::sync::watch::channel(false);
    let battles = web::arena::reap_stuck_battles(pool.clone(), shutdown.clone());
    let follow = database::follow_embedded(database, &pool, shutdown.clone());
    let worker_cfg = args.training.worker_config(&database.data_dir);
    let mut workers = crate::worker::spawn(&pool, &worker_cfg, args.workers, &shutdown);
    if args.workers == 0 {
        workers.push(crate::worker::spawn_reaper(&pool, &worker_cfg, &shutdown));
    }
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("listening on {addr}"))?;
    tracing::info!("listening on http://{addr}");
    if let Some(token) = service::users::first_admin_token(&pool)
        .await
        .map_err(|e| anyhow::anyhow!("issuing the first-admin token: {e}"))?
    {
        tracing::warn!(
            "no admin yet: create the first one at http://{addr}/login?setup={token} \
             (first-admin token {token}, valid for a day and once)"
        );
    }
    // On Ctrl-C or SIGTERM: stop taking connections and tell the workers; open requests and
    // busy workers then get the grace period, counted from the signal, and no more.
    let grace = std::time::Duration::from_secs(args.training.shutdown_grace);
    let stop_workers = Arc::new(stop_workers);
    let (signalled, mut deadline) = tokio::sync::watch::channel(None::<tokio::time::Instant>);
    let on_signal = {
        let stop_workers = stop_workers.clone();
        async move {
            shutdown_signal().await;
            let _ = signalled.send(Some(tokio::time::Instant::now() + grace));
            let _ = stop_workers.send(true);
        }
    };
    let server = axum::serve(
        listener,
        router.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(on_signal)
    .into_future();
    tokio::select! {
        served = server => served.context("serving HTTP")?,
        () = async {
            if let Ok(at) = deadline.wait_for(Option::is_some).await {
                tokio::time::sleep_until(at.unwrap_or_else(tokio::time::Instant::now)).await;
            }
        } => tracing::warn!("requests still open {grace:?} after the signal: closing them"),
    }
    let _ = stop_workers.send(true);
    let at = (*deadline.borrow()).unwrap_or_else(|| tokio::time::Instant::now() + grace);
    let stopped = async {
        for w in workers {
            let _ = w.await;
        }
        let _ = battles.await;
        if let Some(follow) = follow {
            let _ = follow.await;
        }
    };
    wait_for_workers(at, grace, stopped).await;
    cleanup.abort();
    close_pool(&pool).await;
    tracing::info!("stopped");
    Ok(())
}

async fn worker(database: &DatabaseArgs, args: &WorkerArgs) -> Result<()> {
    if args.count == 0 {
        bail!("--count must be at least 1");
    }
    let pool = open_database(database, 2 + 2 * u32::try_from(args.count).unwrap_or(8)).await?;
    service::database::migrate(&pool)
        .await
        .context("applying migrations")?;
    let cfg = args.training.worker_config(&database.data_dir);
    tracing::info!(runs_dir = %cfg.runs_dir.display(), "training workers waiting for runs");
    let (stop, shutdown) = tokio::sync::watch::channel(false);
    let workers = crate::worker::spawn(&pool, &cfg, args.count, &shutdown);
    let follow = database::follow_embedded(database, &pool, shutdown.clone());
    shutdown_signal().await;
    let _ = stop.send(true);
    let grace = std::time::Duration::from_secs(args.training.shutdown_grace);
    let stopped = async {
        for w in workers {
            let _ = w.await;
        }
        if let Some(follow) = follow {
            let _ = follow.await;
        }
    };
    wait_for_workers(tokio::time::Instant::now() + grace, grace, stopped).await;
    close_pool(&pool).await;
    Ok(())
}

/// Waits for `stopped` (the workers and what stops with them) until `at`, the signal plus the
/// `grace`; past it, says so and goes on without them.
async fn wait_for_workers(
    at: tokio::time::Instant,
    grace: std::time::Duration,
    stopped: impl Future<Output = ()>,
) {
    if tokio::time::timeout_at(at, stopped).await.is_err() {
        tracing::warn!(
            "workers still busy {grace:?} after the signal: stopping without them (a run they \
             were training goes back to the queue once its heartbeat is stale)"
        );
    }
}

async fn delete_expired_sessions(pool: service::PgPool) {
    use tower_sessions::ExpiredDeletion;
    let store = tower_sessions_sqlx_store::PostgresStore::new(pool);
    if let Err(err) = store
        .continuously_delete_expired(tokio::time::Duration::from_secs(3600))
        .await
    {
        tracing::warn!(error = %err, "expired-session cleanup stopped");
    }
}

/// Closes the pool, waiting a little for connections still lent out (a worker given up on may
/// hold one) instead of for ever.
async fn close_pool(pool: &service::PgPool) {
    if tokio::time::timeout(std::time::Duration::from_secs(2), pool.close())
        .await
        .is_err()
    {
        tracing::warn!("database connections still in use at exit: leaving them to the server");
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down");
}

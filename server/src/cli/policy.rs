//! `verdict policy create|list|show|pause|resume`: training policies from the command line
//! (the workers of `verdict serve` and `verdict worker` run them).

use anyhow::{Context, Result};
use clap::Subcommand;

use super::database::DatabaseArgs;

/// `verdict policy ...`.
#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Create a policy: when a project has at least N new votes, train its champion on them
    /// (DPO), let the child battle the champion in the arena, and promote or retire it.
    Create {
        /// Policy name.
        #[arg(long)]
        name: String,
        /// The project whose votes count (the arena's project for the on-policy loop).
        #[arg(long)]
        project: String,
        /// The first champion: a registered local model.
        #[arg(long)]
        base: String,
        /// New votes that start a round.
        #[arg(long, default_value_t = api::policies::DEFAULT_MIN_NEW_VOTES)]
        min_new_votes: i32,
        /// Also start a round, with at least one new vote, this many minutes after the last.
        #[arg(long)]
        every_minutes: Option<i32>,
        /// Rounds per UTC day at most.
        #[arg(long, default_value_t = api::policies::DEFAULT_DAILY_CAP)]
        daily_cap: i32,
        /// Decided head-to-head battles before the gate decides.
        #[arg(long, default_value_t = api::policies::DEFAULT_GATE_MIN_BATTLES)]
        gate_min: i32,
        /// Decided battles after which a child still undecided retires.
        #[arg(long, default_value_t = api::policies::DEFAULT_GATE_MAX_BATTLES)]
        gate_max: i32,
        /// Vote sources that count (`human`, `import`, `llm_judge`; default human and import).
        #[arg(long = "source")]
        sources: Vec<String>,
        /// Each round's training settings as JSON (a launch's `config`, e.g.
        /// `{"lora_rank": 8, "learning_rate": 1e-4}`).
        #[arg(long, default_value = "{}")]
        config: String,
    },
    /// Every policy: champion, new votes, rounds.
    List {
        /// Print what the REST API answers.
        #[arg(long)]
        json: bool,
    },
    /// One policy with its lineage: each round's run, parent, child, record and decision.
    Show {
        /// Policy name.
        name: String,
        /// Print what the REST API answers.
        #[arg(long)]
        json: bool,
    },
    /// Pause a policy: it starts no round until resumed.
    Pause {
        /// Policy name.
        name: String,
    },
    /// Resume a paused policy.
    Resume {
        /// Policy name.
        name: String,
    },
}

/// Runs `verdict policy ...`.
///
/// # Errors
/// Unknown names, bad settings, database failures.
pub async fn run(database: &DatabaseArgs, cmd: &PolicyCommand) -> Result<()> {
    let pool = super::database::open_database(database, 2).await?;
    service::database::migrate(&pool)
        .await
        .context("applying migrations")?;
    let err = |e: app::error::AppError| anyhow::anyhow!("{e}");
    match cmd {
        PolicyCommand::Create {
            name,
            project,
            base,
            min_new_votes,
            every_minutes,
            daily_cap,
            gate_min,
            gate_max,
            sources,
            config,
        } => {
            let config =
                serde_json::from_str(config).map_err(|e| anyhow::anyhow!("--config: {e}"))?;
            let body = api::policies::NewPolicy {
                name: name.clone(),
                project: project.clone(),
                base_model: base.clone(),
                min_new_votes: Some(*min_new_votes),
                every_minutes: *every_minutes,
                daily_cap: Some(*daily_cap),
                gate_min_battles: Some(*gate_min),
                gate_max_battles: Some(*gate_max),
                sources: sources.clone(),
                policy: api::training::PairPolicy::Majority,
                config,
            };
            let p = service::policies::create(&pool, &body, None)
                .await
                .map_err(err)?;
            println!(
                "policy #{} {}: {} new votes in {} start a round from {}",
                p.policy_id, p.name, p.min_new_votes, p.project, p.champion
            );
        }
        PolicyCommand::List { json } => {
            let policies = service::policies::list(&pool).await.map_err(err)?;
            if *json {
                println!("{}", serde_json::to_string_pretty(&policies)?);
            } else if policies.is_empty() {
                println!("no training policies");
            }
            for p in policies.iter().filter(|_| !*json) {
                println!(
                    "{}{}: champion {}, {} of {} new votes, {} rounds",
                    p.name,
                    if p.paused { " (paused)" } else { "" },
                    p.champion,
                    p.new_votes,
                    p.min_new_votes,
                    p.rounds.len()
                );
            }
        }
        PolicyCommand::Show { name, json } => {
            let id = service::policies::id_by_name(&pool, name)
                .await
                .map_err(err)?;
            let p = service::policies::show(&pool, id).await.map_err(err)?;
            if *json {
                println!("{}", serde_json::to_string_pretty(&p)?);
            } else {
                print_lineage(&p);
            }
        }
        PolicyCommand::Pause { name } | PolicyCommand::Resume { name } => {
            let id = service::policies::id_by_name(&pool, name)
                .await
                .map_err(err)?;
            let paused = matches!(cmd, PolicyCommand::Pause { .. });
            service::policies::set_paused(&pool, id, paused)
                .await
                .map_err(err)?;
            println!(
                "policy {name} {}",
                if paused { "paused" } else { "resumed" }
            );
        }
    }
    pool.close().await;
    Ok(())
}

/// A policy and one line per round.
fn print_lineage(p: &api::policies::PolicyView) {
    println!(
        "{}{} on {}: champion {}; {} of {} new votes; gate {}–{} battles; {} rounds a day at most",
        p.name,
        if p.paused { " (paused)" } else { "" },
        p.project,
        p.champion,
        p.new_votes,
        p.min_new_votes,
        p.gate_min_battles,
        p.gate_max_battles,
        p.daily_cap
    );
    if let Some(e) = &p.last_error {
        println!("last round not started: {e}");
    }
    for r in &p.rounds {
        println!(
            "round {} · run #{} ({}) · {} → {} · {} votes · {}–{} ({} ties) · {}{}",
            r.round,
            r.training_run_id,
            r.run_status,
            r.parent,
            r.child.as_deref().unwrap_or("…"),
            r.votes,
            r.wins,
            r.losses,
            r.ties,
            r.status,
            r.decision
                .as_deref()
                .map_or_else(String::new, |d| format!(": {d}"))
        );
    }
}

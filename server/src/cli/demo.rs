//! `verdict demo`: loads the demo (see `service::demo`) and, when the tiny local model
//! `tiny-demo` is registered, trains it once on the demo's pairwise votes and puts the trained
//! model in the arena beside it, so that a fresh install shows every part of the product.

use std::time::Duration;

use anyhow::{Context, Result, anyhow};
use clap::Parser;

use super::database::{DatabaseArgs, open_database};

/// `verdict demo`.
#[derive(Debug, Parser)]
pub struct DemoArgs {
    /// Leave out the training run.
    #[arg(long)]
    pub no_training: bool,
    #[command(flatten)]
    pub training: super::TrainingArgs,
}

/// The local model the demo trains, registered by `make run` (`verdict model init-tiny`).
const TRAINED: &str = "tiny-demo";

/// Loads the demo and prints what it made.
///
/// # Errors
/// Database failures, or a training run that fails.
pub async fn run(database: &DatabaseArgs, args: &DemoArgs) -> Result<()> {
    let pool = open_database(database, 4).await?;
    service::database::migrate(&pool)
        .await
        .context("applying migrations")?;
    let report = service::demo::load(&pool)
        .await
        .map_err(|e| anyhow!("loading the demo: {e}"))?;
    if !report.created {
        println!(
            "the demo is loaded already (project \"{}\")",
            service::demo::PAIRWISE
        );
        return Ok(());
    }
    println!(
        "demo: {} prompts answered by {}",
        report.prompts,
        report.models.join(", ")
    );
    for (name, items) in &report.projects {
        println!("  project \"{name}\": {items} items");
    }
    println!(
        "  simulated annotators (cohort `simulated`): {} pairwise votes (source `import`), {} rating forms, {} rankings",
        report.votes, report.ratings, report.rankings
    );
    if args.no_training {
        return Ok(());
    }
    let models = service::models::list(&pool).await?;
    let Some(base) = models
        .iter()
        .find(|m| m.name == TRAINED && m.kind == "local")
    else {
        println!("  no local model `{TRAINED}`: no demo training run (make run registers it)");
        return Ok(());
    };
    train(&pool, database, args, base.model_id).await
}

/// Launches a short DPO run of the tiny model on the demo's votes, trains it here, and puts the
/// result in the arena.
async fn train(
    pool: &service::PgPool,
    database: &DatabaseArgs,
    args: &DemoArgs,
    base_model_id: i64,
) -> Result<()> {
    let project = service::projects::list(pool)
        .await?
        .into_iter()
        .find(|p| p.name == service::demo::PAIRWISE)
        .ok_or_else(|| anyhow!("the demo's pairwise project is missing"))?;
    let request = api::training::LaunchRequest {
        base_model_id,
        output_name: Some(format!("{TRAINED}-dpo")),
        filter: api::training::RunFilter {
            projects: vec![project.project_id],
            ..api::training::RunFilter::default()
        },
        config: api::training::RunConfig {
            batch_size: 4,
            max_steps: Some(6),
            max_length: 128,
            learning_rate: 1e-3,
            ..api::training::RunConfig::default()
        },
        ..api::training::LaunchRequest::default()
    };
    let id = service::training::launch(pool, &crate::services::TrainerModelCheck, None, &request)
        .await
        .map_err(|e| anyhow!("launching the demo's training run: {e}"))?;
    println!("  training run #{id}: {TRAINED} on the demo's pairwise votes");
    let cfg = args.training.worker_config(&database.data_dir);
    let (stop, shutdown) = tokio::sync::watch::channel(false);
    let workers = crate::worker::spawn(pool, &cfg, 1, &shutdown);
    let mut last = (String::new(), -1);
    let view = loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let view = service::training::view(pool, id)
            .await
            .map_err(|e| anyhow!("reading run #{id}: {e}"))?;
        if (view.status.clone(), view.step) != last {
            let total = view.total_steps.map_or("?".into(), |t| t.to_string());
            println!("    {} step {}/{total}", view.status, view.step);
            last = (view.status.clone(), view.step);
        }
        if matches!(view.status.as_str(), "succeeded" | "failed" | "cancelled") {
            break view;
        }
    };
    let _ = stop.send(true);
    for w in workers {
        let _ = w.await;
    }
    if view.status != "succeeded" {
        return Err(anyhow!(
            "the demo's training run #{id} ended {}: {}",
            view.status,
            view.error.unwrap_or_default()
        ));
    }
    service::training::put_in_arena(pool, id)
        .await
        .map_err(|e| anyhow!("putting run #{id}'s model in the arena: {e}"))?;
    println!(
        "  {} joined the arena beside {TRAINED}",
        view.output_model.unwrap_or_default()
    );
    Ok(())
}

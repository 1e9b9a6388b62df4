//! `verdict project list|show`, `verdict model list`, `verdict run list|show|cancel`: what the
//! REST API answers, from the command line (a table, or the API's JSON with `--json`).

use anyhow::{Result, anyhow, bail};
use api::training::RunView;
use clap::Subcommand;

use super::database::{DatabaseArgs, open_database};

/// `verdict project ...`.
#[derive(Debug, Subcommand)]
pub enum ProjectCommand {
    /// Every project with its protocol and counts.
    List {
        /// The JSON of the REST API instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// One project's settings and counts.
    Show {
        /// Its id or name.
        project: String,
        /// JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

/// `verdict run ...` (training runs).
#[derive(Debug, Subcommand)]
pub enum RunCommand {
    /// The latest training runs, newest first.
    List {
        /// The JSON of the REST API instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// One run: progress, settings, last metrics.
    Show {
        /// Run id.
        id: i64,
        /// The JSON of the REST API instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Cancel a run: a queued one at once, a running one between steps.
    Cancel {
        /// Run id.
        id: i64,
    },
}

fn app_error(e: api::AppError) -> anyhow::Error {
    anyhow!("{e}")
}

fn print_json(value: &impl serde::Serialize) -> Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

/// Left-aligned columns separated by two spaces, numbers right-aligned.
fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let numeric: Vec<bool> = (0..headers.len())
        .map(|c| {
            !rows.is_empty()
                && rows
                    .iter()
                    .all(|r| r[c].parse::<f64>().is_ok() || r[c] == "–")
        })
        .collect();
    let line = |cells: Vec<&str>| {
        let parts: Vec<String> = cells
            .iter()
            .enumerate()
            .map(|(c, cell)| {
                if numeric[c] {
                    format!("{cell:>w$}", w = widths[c])
                } else {
                    format!("{cell:<w$}", w = widths[c])
                }
            })
            .collect();
        parts.join("  ").trim_end().to_owned()
    };
    let mut out = line(headers.to_vec());
    for row in rows {
        out.push('\n');
        out.push_str(&line(row.iter().map(String::as_str).collect()));
    }
    out
}

/// Runs `verdict project ...`.
///
/// # Errors
/// Database failures; an unknown project.
pub async fn project(database: &DatabaseArgs, cmd: &ProjectCommand) -> Result<()> {
    let pool = open_database(database, 2).await?;
    let projects = service::projects::list(&pool).await?;
    match cmd {
        ProjectCommand::List { json: true } => print_json(&projects),
        ProjectCommand::List { json: false } => {
            let rows: Vec<Vec<String>> = projects
                .iter()
                .map(|p| {
                    vec![
                        p.project_id.to_string(),
                        p.name.clone(),
                        if p.is_arena {
                            "arena".into()
                        } else {
                            p.protocol.clone()
                        },
                        p.items.to_string(),
                        p.votes.to_string(),
                        p.overlap_target.to_string(),
                    ]
                })
                .collect();
            println!(
                "{}",
                table(
                    &["id", "name", "protocol", "items", "votes", "overlap"],
                    &rows
                )
            );
            Ok(())
        }
        ProjectCommand::Show { project, json } => {
            let found = projects
                .iter()
                .find(|p| p.project_id.to_string() == *project || p.name == *project);
            let Some(p) = found else {
                bail!("no project with the id or name {project:?} (`verdict project list`)");
            };
            if *json {
                return print_json(p);
            }
            println!("project #{} {}", p.project_id, p.name);
            let fields = [
                ("protocol", p.protocol.clone()),
                ("open arena", p.is_arena.to_string()),
                ("items", p.items.to_string()),
                ("votes", p.votes.to_string()),
                ("judgements per item", p.overlap_target.to_string()),
                ("rationales", p.rationale_mode.clone()),
                ("strength scale", p.strength_scale.clone()),
                (
                    "assignment expires after",
                    format!("{} s", p.assignment_ttl_seconds),
                ),
                (
                    "judge-unsure items first",
                    if p.judge_routing { "yes" } else { "no" }.to_owned(),
                ),
                (
                    "guidelines",
                    format!(
                        "version {}, {} characters",
                        p.guidelines_version,
                        p.guidelines.chars().count()
                    ),
                ),
            ];
            for (k, v) in fields {
                println!("  {k:<26}{v}");
            }
            Ok(())
        }
    }
}

/// Runs `verdict model list`.
///
/// # Errors
/// Database failures.
pub async fn models(database: &DatabaseArgs, json: bool) -> Result<()> {
    let pool = open_database(database, 2).await?;
    let models = service::models::list(&pool).await?;
    if json {
        return print_json(&models);
    }
    let name_of = |id: i64| {
        models
            .iter()
            .find(|m| m.model_id == id)
            .map_or_else(|| format!("#{id}"), |m| m.name.clone())
    };
    let rows: Vec<Vec<String>> = models
        .iter()
        .map(|m| {
            vec![
                m.model_id.to_string(),
                m.name.clone(),
                m.kind.clone(),
                if m.enabled { "yes" } else { "no" }.into(),
                format!("{}", m.sampling_weight),
                m.parent_model_id.map_or_else(|| "–".into(), name_of),
            ]
        })
        .collect();
    println!(
        "{}",
        table(
            &["id", "name", "kind", "in arena", "weight", "trained from"],
            &rows
        )
    );
    Ok(())
}

fn progress(r: &RunView) -> String {
    match (&r.reference, r.step, r.total_steps) {
        (Some(p), 0, _) if p.is_running() && r.is_active() => {
            format!("reference {}/{}", p.done, p.total)
        }
        (_, step, Some(total)) => format!("step {step}/{total}"),
        (_, step, None) => format!("step {step}"),
    }
}

/// Runs `verdict run ...`.
///
/// # Errors
/// Database failures; an unknown run; cancelling a run that has ended.
pub async fn run(database: &DatabaseArgs, cmd: &RunCommand) -> Result<()> {
    let pool = open_database(database, 2).await?;
    match cmd {
        RunCommand::List { json } => {
            let runs = service::training::list(&pool).await.map_err(app_error)?;
            if *json {
                return print_json(&runs);
            }
            let rows: Vec<Vec<String>> = runs
                .iter()
                .map(|r| {
                    vec![
                        r.id.to_string(),
                        r.status.clone(),
                        r.base_model.clone(),
                        progress(r),
                        r.snapshot_pairs.to_string(),
                        r.output_model.clone().unwrap_or_else(|| "–".into()),
                        r.created_at
                            .get(..16)
                            .unwrap_or(&r.created_at)
                            .replace('T', " "),
                    ]
                })
                .collect();
            println!(
                "{}",
                table(
                    &[
                        "id", "status", "base", "progress", "pairs", "output", "launched"
                    ],
                    &rows
                )
            );
            Ok(())
        }
        RunCommand::Show { id, json } => {
            let r = service::training::view(&pool, *id)
                .await
                .map_err(app_error)?;
            if *json {
                return print_json(&r);
            }
            show_run(&r);
            Ok(())
        }
        RunCommand::Cancel { id } => {
            let r = service::training::cancel(&pool, *id)
                .await
                .map_err(app_error)?;
            if r.status == "cancelled" {
                println!("run #{id} cancelled");
            } else {
                println!(
                    "run #{id} stops after its current step (it is {})",
                    r.status
                );
            }
            Ok(())
        }
    }
}

fn show_run(r: &RunView) {
    println!("training run #{} ({})", r.id, r.status);
    let mut fields = vec![
        ("base model", r.base_model.clone()),
        ("progress", progress(r)),
        (
            "snapshot",
            format!(
                "{} pairs from {} votes and {} other judgements ({})",
                r.snapshot_pairs,
                r.snapshot_votes,
                r.snapshot_judgements - r.snapshot_votes,
                r.policy
            ),
        ),
        ("launched", r.created_at.clone()),
        ("attempts", r.attempts.to_string()),
    ];
    if let Some(p) = &r.reference {
        fields.push((
            "reference log-probs",
            format!("{}/{} examples", p.done, p.total),
        ));
    }
    if let Some(eta) = r
        .eta_seconds
        .or(r.reference.as_ref().and_then(|p| p.eta_seconds))
    {
        fields.push(("time left", format!("about {eta:.0} s")));
    }
    if let Some(by) = &r.launched_by {
        fields.push(("launched by", by.clone()));
    }
    if let Some(m) = &r.output_model {
        let arena = if r.output_model_enabled == Some(true) {
            "in the arena"
        } else {
            "not in the arena"
        };
        fields.push(("output model", format!("{m} ({arena})")));
    }
    if let Some(e) = &r.error {
        fields.push(("error", e.clone()));
    }
    if let Some(last) = r.metrics.last() {
        let get = |k: &str| {
            last.get(k)
                .map_or_else(|| "–".into(), |v| format!("{v:.4}"))
        };
        fields.push((
            "last step",
            format!(
                "loss {}  rewards/accuracies {}  rewards/margins {}",
                get("loss"),
                get("rewards/accuracies"),
                get("rewards/margins")
            ),
        ));
    }
    for (k, v) in fields {
        println!("  {k:<22}{v}");
    }
    println!("  {:<22}{}", "settings", r.config);
}

#[cfg(test)]
mod tests {
    use super::table;

    #[test]
    fn tables_align_text_left_and_numbers_right() {
        let rows = vec![
            vec!["1".into(), "PandaLM".into(), "999".into()],
            vec!["12".into(), "E2E".into(), "8".into()],
        ];
        assert_eq!(
            table(&["id", "name", "items"], &rows),
            "id  name     items\n 1  PandaLM    999\n12  E2E          8"
        );
    }
}

//! `verdict analyze agreement|consistency --project NAME [--format json|text]`: the quality
//! page's reports from the command line.

use anyhow::{Context, Result, bail};
use clap::{Subcommand, ValueEnum};

use super::database::DatabaseArgs;

/// What to analyse.
#[derive(Debug, Subcommand)]
pub enum AnalyzeCommand {
    /// Agreement coefficients (Cohen, Fleiss, Krippendorff), the per-annotator table, human vs
    /// LLM judge, rating distributions.
    Agreement {
        /// Project name.
        #[arg(long)]
        project: String,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Json)]
        format: Format,
    },
    /// Ratings and rankings against pairwise choices on the same items.
    Consistency {
        /// Project name.
        #[arg(long)]
        project: String,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Json)]
        format: Format,
    },
    /// LLM judges against each other and the humans: swap consistency, position and length
    /// bias, agreement and Cohen's κ with the human majority, per judge and template.
    Judges {
        /// Project name.
        #[arg(long)]
        project: String,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Json)]
        format: Format,
    },
}

/// Output format.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Format {
    /// Pretty-printed JSON (the API's shape).
    Json,
    /// A short summary.
    Text,
}

async fn project_id(pool: &service::PgPool, name: &str) -> Result<i64> {
    let projects = service::projects::list(pool).await?;
    match projects.iter().find(|p| p.name == name.trim()) {
        Some(p) => Ok(p.project_id),
        None => bail!(
            "no project named {name:?} (projects: {})",
            projects
                .iter()
                .map(|p| p.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

fn num(v: Option<f64>) -> String {
    v.map_or_else(|| "–".to_owned(), |v| format!("{v:.4}"))
}

/// Runs `verdict analyze ...`.
///
/// # Errors
/// An unknown project, database failures.
pub async fn run(database: &DatabaseArgs, cmd: &AnalyzeCommand) -> Result<()> {
    let pool = super::database::open_database(database, 2).await?;
    service::database::migrate(&pool)
        .await
        .context("applying migrations")?;
    let err = |e: app::error::AppError| anyhow::anyhow!("{e}");
    match cmd {
        AnalyzeCommand::Agreement { project, format } => {
            let id = project_id(&pool, project).await?;
            let r = service::quality::agreement(&pool, id).await.map_err(err)?;
            match format {
                Format::Json => println!("{}", serde_json::to_string_pretty(&r)?),
                Format::Text => {
                    println!("{} ({})", r.project, r.protocol);
                    let v = &r.votes;
                    println!(
                        "choices: {} judgements on {} units · Fleiss κ {} ({} raters × {} units) · Krippendorff α {}",
                        v.judgements,
                        v.units,
                        num(v.fleiss_kappa),
                        v.fleiss_raters,
                        v.fleiss_units,
                        num(v.alpha_nominal)
                    );
                    for (c, k) in &r.ratings {
                        println!(
                            "ratings, {c}: {} judgements · α interval {} · α ordinal {}",
                            k.judgements,
                            num(k.alpha_interval),
                            num(k.alpha_ordinal)
                        );
                    }
                    if let Some(j) = &r.llm_judge {
                        println!(
                            "LLM judge vs human majority: {} items · agreement {} · κ {}",
                            j.items,
                            num(j.agreement),
                            num(j.kappa)
                        );
                    }
                    for a in &r.annotators {
                        println!(
                            "  {:<20} {:>5} judgements · agreement {} · left {} · ties {:.2}{}{}",
                            a.name,
                            a.judgements,
                            num(a.loo_agreement),
                            num(a.left_share),
                            a.tie_rate,
                            if a.flags.is_empty() {
                                String::new()
                            } else {
                                format!(" · FLAGGED: {}", a.flags.join("; "))
                            },
                            if a.excluded { " · excluded" } else { "" }
                        );
                    }
                }
            }
        }
        AnalyzeCommand::Consistency { project, format } => {
            let id = project_id(&pool, project).await?;
            let r = service::quality::consistency(&pool, id)
                .await
                .map_err(err)?;
            match format {
                Format::Json => println!("{}", serde_json::to_string_pretty(&r)?),
                Format::Text => {
                    let rows = [
                        (
                            "ratings vs choice, same annotator",
                            &r.rating_vs_choice_same_annotator,
                        ),
                        (
                            "ratings vs choice, across annotators",
                            &r.rating_vs_choice_across_annotators,
                        ),
                        (
                            "ranking vs choice, same annotator",
                            &r.ranking_vs_choice_same_annotator,
                        ),
                        (
                            "ranking vs choice, across annotators",
                            &r.ranking_vs_choice_across_annotators,
                        ),
                    ];
                    println!(
                        "{} (criterion: {})",
                        r.project,
                        r.criterion.as_deref().unwrap_or("–")
                    );
                    for ((name, c), d) in rows.iter().zip(r.disagreement) {
                        println!(
                            "{name}: {} pairs · agree {} · disagree {} ({}) · order tie {} · choice tie {} · both tie {}",
                            c.pairs,
                            c.agree,
                            c.disagree,
                            num(d),
                            c.order_tie,
                            c.choice_tie,
                            c.both_tie
                        );
                    }
                }
            }
        }
        AnalyzeCommand::Judges { project, format } => {
            let audit = service::judges::audit_by_name(&pool, project)
                .await
                .map_err(err)?;
            match format {
                Format::Json => println!("{}", serde_json::to_string_pretty(&audit)?),
                Format::Text => print_judges(&audit),
            }
        }
    }
    pool.close().await;
    Ok(())
}

/// The judge audit as a few lines per judge and template.
fn print_judges(audit: &api::judges::JudgeAudit) {
    let share = |s: Option<api::judges::Share>| {
        s.map_or_else(
            || "–".to_owned(),
            |s| format!("{:.3} [{:.3}, {:.3}] of {}", s.value, s.lower, s.upper, s.n),
        )
    };
    if audit.rows.is_empty() && audit.ratings.is_empty() {
        println!("no judge has judged this project yet");
    }
    for r in &audit.rows {
        println!(
            "{} · {}{}: {} items, {} verdicts ({} unparsable)",
            r.judge,
            r.template,
            r.category
                .as_deref()
                .map_or_else(String::new, |c| format!(" · {c}")),
            r.items,
            r.verdicts,
            r.unparsable
        );
        println!("  swap consistency      {}", share(r.swap_consistency));
        println!("  first-position wins   {}", share(r.first_position_wins));
        println!(
            "  length slope          {} per 1000 characters",
            num(r.length_slope_per_1000_chars)
        );
        println!(
            "  vs human majority     {} · κ {}",
            share(r.human_agreement),
            num(r.human_kappa)
        );
        if r.own_family_wins.is_some() {
            println!("  own family's wins     {}", share(r.own_family_wins));
        }
    }
    print_rating_judges(&audit.ratings);
}

/// The rating judges' part of the audit, a few lines per judge, template and criterion.
fn print_rating_judges(rows: &[api::judges::RatingAuditRow]) {
    let interval = |s: Option<api::judges::Interval>| {
        s.map_or_else(
            || "–".to_owned(),
            |s| format!("{:.3} [{:.3}, {:.3}] of {}", s.value, s.lower, s.upper, s.n),
        )
    };
    for r in rows {
        println!(
            "{} · {} · {}{}: {} scores ({} unparsable), {} rated by humans too",
            r.judge,
            r.template,
            r.criterion,
            r.category
                .as_deref()
                .map_or_else(String::new, |c| format!(" · {c}")),
            r.scores,
            r.unparsable,
            r.with_humans
        );
        println!("  correlation (r)       {}", interval(r.correlation));
        println!("  offset from humans    {}", interval(r.mean_offset));
        println!("  mean |difference|     {}", num(r.mean_abs_diff));
        println!(
            "  = human median        {}",
            interval(r.exact_agreement.map(|s| api::judges::Interval {
                value: s.value,
                lower: s.lower,
                upper: s.upper,
                n: s.n,
            }))
        );
        println!(
            "  length slope          {} per 1000 characters (humans {})",
            num(r.length_slope_per_1000_chars),
            num(r.human_length_slope_per_1000_chars)
        );
        if r.own_family_offset.is_some() {
            println!("  own family's offset   {}", num(r.own_family_offset));
        }
    }
}

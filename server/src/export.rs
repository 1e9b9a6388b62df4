//! `verdict export`: votes with full provenance (JSONL or CSV) and DPO pairs in TRL's format
//! (JSONL: `prompt`, `chosen`, `rejected` plus provenance columns).

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Subcommand, ValueEnum};

use crate::cli::{DatabaseArgs, open_database};

/// File formats of `verdict export votes`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum VoteFormat {
    /// One JSON object per line.
    Jsonl,
    /// Comma-separated with a header.
    Csv,
}

/// `verdict export ...`.
#[derive(Debug, Subcommand)]
pub enum ExportCommand {
    /// Pairwise votes with annotator, display side, strength, rationale, time, guideline
    /// version and source.
    Votes {
        /// Only this project.
        #[arg(long)]
        project: Option<String>,
        /// Format.
        #[arg(long, value_enum, default_value_t = VoteFormat::Jsonl)]
        format: VoteFormat,
        /// Write here instead of standard output.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// DPO pairs (TRL format) by majority vote per item; ties and "both bad" are not counted.
    Dpo {
        /// Only this project.
        #[arg(long)]
        project: Option<String>,
        /// Count LLM-judge votes too (by default only human and imported human votes count).
        #[arg(long)]
        include_llm_judge: bool,
        /// Write here instead of standard output.
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

fn sink(out: Option<&PathBuf>) -> Result<Box<dyn Write>> {
    Ok(match out {
        Some(p) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(p).with_context(|| format!("creating {}", p.display()))?,
        )),
        None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
    })
}

/// Runs an export.
///
/// # Errors
/// On database or write failure.
pub async fn run(database: &DatabaseArgs, cmd: &ExportCommand) -> Result<()> {
    let pool = open_database(database, 2).await?;
    db::migrate(&pool).await.context("applying migrations")?;
    match cmd {
        ExportCommand::Votes {
            project,
            format,
            out,
        } => {
            let rows = db::exports::votes(&pool, project.as_deref()).await?;
            let mut w = sink(out.as_ref())?;
            match format {
                VoteFormat::Jsonl => {
                    for r in &rows {
                        serde_json::to_writer(&mut w, r)?;
                        w.write_all(b"\n")?;
                    }
                }
                VoteFormat::Csv => {
                    let mut c = csv::Writer::from_writer(&mut w);
                    for r in &rows {
                        c.serialize(r)?;
                    }
                    c.flush()?;
                }
            }
            w.flush()?;
            eprintln!("exported {} votes", rows.len());
        }
        ExportCommand::Dpo {
            project,
            include_llm_judge,
            out,
        } => {
            let sources: &[&str] = if *include_llm_judge {
                &["human", "import", "llm_judge"]
            } else {
                &["human", "import"]
            };
            let rows = db::exports::dpo_majority(&pool, project.as_deref(), sources).await?;
            let mut w = sink(out.as_ref())?;
            for r in &rows {
                serde_json::to_writer(&mut w, r)?;
                w.write_all(b"\n")?;
            }
            w.flush()?;
            eprintln!(
                "exported {} preference pairs (policy: majority per item)",
                rows.len()
            );
        }
    }
    Ok(())
}

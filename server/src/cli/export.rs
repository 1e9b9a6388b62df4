//! `verdict export`: writes the export files of `crate::exports` to a file or standard output.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::Subcommand;

use super::database::{DatabaseArgs, open_database};
use crate::exports::{Format, dpo_bytes, dpo_card, dpo_sources, votes_bytes};

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
        #[arg(long, value_enum, default_value_t = Format::Jsonl)]
        format: Format,
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
        /// Format.
        #[arg(long, value_enum, default_value_t = Format::Jsonl)]
        format: Format,
        /// Write here instead of standard output. A dataset card goes next to it
        /// (`FILE.card.md`).
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

fn write_out(out: Option<&PathBuf>, bytes: &[u8], format: Format) -> Result<()> {
    match out {
        Some(p) => std::fs::write(p, bytes).with_context(|| format!("writing {}", p.display())),
        None if format == Format::Parquet => {
            bail!("Parquet is binary: give a file with --out")
        }
        None => {
            let mut w = std::io::stdout().lock();
            w.write_all(bytes)?;
            w.flush()?;
            Ok(())
        }
    }
}

/// Runs an export.
///
/// # Errors
/// On database or write failure.
pub async fn run(database: &DatabaseArgs, cmd: &ExportCommand) -> Result<()> {
    let pool = open_database(database, 2).await?;
    service::database::migrate(&pool)
        .await
        .context("applying migrations")?;
    match cmd {
        ExportCommand::Votes {
            project,
            format,
            out,
        } => {
            let rows = service::exports::votes(&pool, project.as_deref()).await?;
            write_out(out.as_ref(), &votes_bytes(&rows, *format)?, *format)?;
            eprintln!("exported {} votes", rows.len());
        }
        ExportCommand::Dpo {
            project,
            include_llm_judge,
            format,
            out,
        } => {
            let sources = dpo_sources(*include_llm_judge);
            let rows = service::exports::dpo_pairs(&pool, project.as_deref(), sources).await?;
            write_out(out.as_ref(), &dpo_bytes(&rows, *format)?, *format)?;
            if let Some(p) = out {
                let card = p.with_extension(format!("{}.card.md", format.extension()));
                std::fs::write(&card, dpo_card(&rows, project.as_deref(), sources))
                    .with_context(|| format!("writing {}", card.display()))?;
                eprintln!("dataset card: {}", card.display());
            }
            eprintln!(
                "exported {} preference pairs (policy: majority per item)",
                rows.len()
            );
        }
    }
    Ok(())
}

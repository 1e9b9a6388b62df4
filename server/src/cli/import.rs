//! `verdict import`: reads the files named on the command line and hands them to the importers
//! of `service::imports` (one transaction per file; importing it again changes nothing).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::Subcommand;
pub use service::imports::ImportSummary;
use service::imports::{self, Input};

use super::database::{DatabaseArgs, open_database};

/// `verdict import ...`.
#[derive(Debug, Subcommand)]
pub enum ImportCommand {
    /// PandaLM's test set (testset-v1.json): items, responses and the three human judgements per
    /// item; with `--judgements`, GPT-3.5's judgements and reasons as LLM-judge votes.
    Pandalm {
        /// `testset-v1.json`.
        file: PathBuf,
        /// `gpt-3.5-turbo-testset-v1.json` (LLM-judge votes with rationales).
        #[arg(long)]
        judgements: Option<PathBuf>,
        /// Project to create or extend.
        #[arg(long, default_value = "PandaLM")]
        project: String,
    },
    /// Verdict's generic JSONL: one item per line with its prompt, responses and optional
    /// judgements (see README, "Import format").
    Jsonl {
        /// The file.
        file: PathBuf,
        /// Project to create or extend.
        #[arg(long)]
        project: String,
    },
    /// A Chatbot Arena battle log (JSON array, JSONL or CSV): votes without response texts.
    Arena {
        /// The log.
        file: PathBuf,
        /// Record the votes under this pairwise project (created if missing).
        #[arg(long)]
        project: Option<String>,
    },
}

/// A file read whole, named by its file name as the importers' messages and keys use it.
struct FileInput {
    name: String,
    bytes: Vec<u8>,
}

impl FileInput {
    fn read(path: &Path) -> Result<Self> {
        let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        Ok(Self {
            name: path.display().to_string(),
            bytes,
        })
    }

    fn input(&self) -> Input<'_> {
        Input {
            name: &self.name,
            bytes: &self.bytes,
        }
    }
}

/// Imports PandaLM from files (see [`service::imports::pandalm`]).
///
/// # Errors
/// As the importer, or when a file cannot be read.
pub async fn pandalm(
    pool: &service::PgPool,
    file: &Path,
    judgements: Option<&Path>,
    project: &str,
    dry_run: bool,
) -> Result<ImportSummary> {
    let file = FileInput::read(file)?;
    let judgements = judgements.map(FileInput::read).transpose()?;
    imports::pandalm(
        pool,
        file.input(),
        judgements.as_ref().map(FileInput::input),
        project,
        dry_run,
    )
    .await
}

/// Imports an arena battle log from a file (see [`service::imports::arena`]); its votes are
/// keyed by the file's name.
///
/// # Errors
/// As the importer, or when the file cannot be read.
pub async fn arena(
    pool: &service::PgPool,
    file: &Path,
    project: Option<&str>,
    dry_run: bool,
) -> Result<ImportSummary> {
    let mut input = FileInput::read(file)?;
    input.name = file
        .file_name()
        .map_or_else(String::new, |f| f.to_string_lossy().into_owned());
    imports::arena(pool, input.input(), project, dry_run).await
}

/// Imports generic JSONL from a file (see [`service::imports::jsonl`]).
///
/// # Errors
/// As the importer, or when the file cannot be read.
pub async fn jsonl(
    pool: &service::PgPool,
    file: &Path,
    project: &str,
    dry_run: bool,
) -> Result<ImportSummary> {
    let file = FileInput::read(file)?;
    imports::jsonl(pool, file.input(), project, dry_run).await
}

/// Runs an import command and prints its summary.
///
/// # Errors
/// As the importers.
pub async fn run(database: &DatabaseArgs, cmd: &ImportCommand, dry_run: bool) -> Result<()> {
    let pool = open_database(database, 4).await?;
    service::database::migrate(&pool)
        .await
        .context("applying migrations")?;
    let started = std::time::Instant::now();
    let summary = match cmd {
        ImportCommand::Pandalm {
            file,
            judgements,
            project,
        } => pandalm(&pool, file, judgements.as_deref(), project, dry_run).await?,
        ImportCommand::Arena { file, project } => {
            arena(&pool, file, project.as_deref(), dry_run).await?
        }
        ImportCommand::Jsonl { file, project } => jsonl(&pool, file, project, dry_run).await?,
    };
    if dry_run {
        println!("dry run: the file is valid; nothing was written");
    }
    if summary.items > 0 {
        println!(
            "items: {} in the file, {} new",
            summary.items, summary.new_items
        );
    }
    println!(
        "votes: {} in the file, {} new, {} already there ({:.1} s)",
        summary.votes,
        summary.new_votes,
        summary.votes as u64 - summary.new_votes,
        started.elapsed().as_secs_f64()
    );
    for s in &summary.skipped {
        println!("skipped: {s}");
    }
    Ok(())
}

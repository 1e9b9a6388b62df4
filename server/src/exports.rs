//! Export files: votes with full provenance (JSONL, CSV or Parquet) and DPO pairs in TRL's
//! format (`prompt`, `chosen`, `rejected` plus provenance columns) with a dataset card, shared by
//! the REST API's export routes and `verdict export` (`cli/export.rs`).

use anyhow::{Context, Result};
use clap::ValueEnum;

/// File formats of `verdict export`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// One JSON object per line.
    Jsonl,
    /// Comma-separated with a header.
    Csv,
    /// Apache Parquet (one row group, uncompressed, every column nullable).
    Parquet,
}

impl Format {
    /// File extension.
    #[must_use]
    pub fn extension(self) -> &'static str {
        match self {
            Self::Jsonl => "jsonl",
            Self::Csv => "csv",
            Self::Parquet => "parquet",
        }
    }

    /// HTTP content type.
    #[must_use]
    pub fn content_type(self) -> &'static str {
        match self {
            Self::Jsonl => "application/jsonl; charset=utf-8",
            Self::Csv => "text/csv; charset=utf-8",
            Self::Parquet => "application/vnd.apache.parquet",
        }
    }
}

/// Votes in `format`.
///
/// # Errors
/// If serialisation fails.
pub fn votes_bytes(rows: &[service::exports::VoteExport], format: Format) -> Result<Vec<u8>> {
    match format {
        Format::Jsonl => jsonl(rows),
        Format::Csv => csv_bytes(rows),
        Format::Parquet => {
            use crate::parquet_out::Column;
            let s = |f: fn(&service::exports::VoteExport) -> Option<&str>| {
                Column::Str(rows.iter().map(|r| f(r).map(str::to_owned)).collect())
            };
            crate::parquet_out::write(
                "votes",
                vec![
                    (
                        "vote_id",
                        Column::Int(rows.iter().map(|r| Some(r.vote_id)).collect()),
                    ),
                    ("project", s(|r| r.project.as_deref())),
                    ("item", s(|r| r.item.as_deref())),
                    ("prompt", s(|r| r.prompt.as_deref())),
                    ("model_a", s(|r| Some(&r.model_a))),
                    ("model_b", s(|r| Some(&r.model_b))),
                    ("response_a", s(|r| r.response_a.as_deref())),
                    ("response_b", s(|r| r.response_b.as_deref())),
                    ("winner", s(|r| Some(&r.winner))),
                    ("strength", s(|r| r.strength.as_deref())),
                    ("rationale", s(|r| r.rationale.as_deref())),
                    (
                        "time_to_vote_ms",
                        Column::Int(
                            rows.iter()
                                .map(|r| r.time_to_vote_ms.map(i64::from))
                                .collect(),
                        ),
                    ),
                    (
                        "a_was_left",
                        Column::Bool(rows.iter().map(|r| r.a_was_left).collect()),
                    ),
                    (
                        "guideline_version",
                        Column::Int(
                            rows.iter()
                                .map(|r| r.guideline_version.map(i64::from))
                                .collect(),
                        ),
                    ),
                    ("source", s(|r| Some(&r.source))),
                    (
                        "annotator_id",
                        Column::Int(rows.iter().map(|r| r.annotator_id).collect()),
                    ),
                    (
                        "annotator_external_id",
                        s(|r| r.annotator_external_id.as_deref()),
                    ),
                    (
                        "created_at",
                        Column::Str(rows.iter().map(|r| Some(r.created_at.clone())).collect()),
                    ),
                ],
            )
        }
    }
}

/// DPO pairs in `format` (TRL's columns first).
///
/// # Errors
/// If serialisation fails.
pub fn dpo_bytes(rows: &[service::exports::DpoPair], format: Format) -> Result<Vec<u8>> {
    match format {
        Format::Jsonl => jsonl(rows),
        Format::Csv => csv_bytes(rows),
        Format::Parquet => {
            use crate::parquet_out::Column;
            let s = |f: fn(&service::exports::DpoPair) -> &str| {
                Column::Str(rows.iter().map(|r| Some(f(r).to_owned())).collect())
            };
            let n = |f: fn(&service::exports::DpoPair) -> i64| {
                Column::Int(rows.iter().map(|r| Some(f(r))).collect())
            };
            crate::parquet_out::write(
                "dpo",
                vec![
                    ("prompt", s(|r| &r.prompt)),
                    ("chosen", s(|r| &r.chosen)),
                    ("rejected", s(|r| &r.rejected)),
                    ("chosen_model", s(|r| &r.chosen_model)),
                    ("rejected_model", s(|r| &r.rejected_model)),
                    ("votes_chosen", n(|r| r.votes_chosen)),
                    ("votes_rejected", n(|r| r.votes_rejected)),
                    ("votes_tied", n(|r| r.votes_tied)),
                    (
                        "project",
                        Column::Str(rows.iter().map(|r| r.project.clone()).collect()),
                    ),
                    ("item", s(|r| &r.item)),
                    ("policy", s(|r| &r.policy)),
                ],
            )
        }
    }
}

fn jsonl<T: serde::Serialize>(rows: &[T]) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    for r in rows {
        serde_json::to_writer(&mut out, r)?;
        out.push(b'\n');
    }
    Ok(out)
}

/// Rows as CSV whose text cells a spreadsheet cannot run as formulas (annotators write the
/// rationales; see `service::spreadsheet`).
fn csv_bytes<T: serde::Serialize>(rows: &[T]) -> Result<Vec<u8>> {
    let mut c = csv::Writer::from_writer(Vec::new());
    for r in rows {
        c.serialize(r)?;
    }
    let raw = c.into_inner().context("finishing the CSV")?;
    service::spreadsheet::safe_document(&raw).context("neutralising formulas in the CSV")
}

/// The sources counted by a DPO export.
#[must_use]
pub fn dpo_sources(include_llm_judge: bool) -> &'static [&'static str] {
    if include_llm_judge {
        &["human", "import", "llm_judge"]
    } else {
        &["human", "import"]
    }
}

/// A short dataset card (Markdown) describing a DPO export: where the pairs come from, the
/// pair-derivation policy, the columns and the counts.
#[must_use]
pub fn dpo_card(
    rows: &[service::exports::DpoPair],
    project: Option<&str>,
    sources: &[&str],
) -> String {
    let mut models: Vec<&str> = rows
        .iter()
        .flat_map(|r| [r.chosen_model.as_str(), r.rejected_model.as_str()])
        .collect();
    models.sort_unstable();
    models.dedup();
    let created = time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    format!(
        "---\nlicense: other\ntask_categories:\n- text-generation\ntags:\n- dpo\n- preference\n- verdict\n---\n\n\
         # Preference pairs exported by Verdict\n\n\
         - Project: {project}\n\
         - Exported: {created}\n\
         - Pairs: {pairs}\n\
         - Judgement sources counted: {sources}\n\
         - Models: {models}\n\n\
         ## Pair-derivation policy\n\n\
         `majority`: for every item, the pairwise votes of the sources above are tallied; the\n\
         response with more decisive votes is `chosen`, the other `rejected`. Ties and \"both are\n\
         bad\" votes are counted in `votes_tied` but decide nothing; items with equal decisive\n\
         votes, or an empty prompt or response, are left out. Judgements of excluded annotators\n\
         are left out.\n\n\
         ## Columns\n\n\
         | column | meaning |\n|---|---|\n\
         | `prompt` | the user prompt |\n\
         | `chosen` | the preferred response |\n\
         | `rejected` | the other response |\n\
         | `chosen_model`, `rejected_model` | the models that wrote them |\n\
         | `votes_chosen`, `votes_rejected`, `votes_tied` | the tally behind the pair |\n\
         | `project`, `item` | where the item lives in Verdict |\n\
         | `policy` | the pair-derivation policy (`majority`) |\n\n\
         Load with `datasets.load_dataset(\"json\", data_files=...)` or `\"parquet\"`; the\n\
         `prompt`/`chosen`/`rejected` columns are what TRL's `DPOTrainer` reads.\n",
        project = project.unwrap_or("all projects"),
        pairs = rows.len(),
        sources = sources.join(", "),
        models = if models.is_empty() {
            "none".to_owned()
        } else {
            models.join(", ")
        },
    )
}

//! Imports and exports: what an import reports back to the data page and the REST API, and the
//! rows of the exports (their fields are the columns of the JSONL, CSV and Parquet files).

use serde::{Deserialize, Serialize};

/// What an import did (or, for a dry run, would do), with the file's first records.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportReport {
    /// Nothing was written.
    pub dry_run: bool,
    /// Items in the file.
    pub items: usize,
    /// Items that are (or would be) new.
    pub new_items: usize,
    /// Judgements in the file.
    pub votes: usize,
    /// Judgements that are (or would be) new.
    pub new_votes: u64,
    /// Records skipped, with why.
    pub skipped: Vec<String>,
    /// Columns of the preview.
    pub columns: Vec<String>,
    /// The file's first records, values shortened.
    pub rows: Vec<Vec<String>>,
}

/// One pairwise vote with everything known about it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VoteExport {
    /// Vote id.
    pub vote_id: i64,
    /// Project name.
    pub project: Option<String>,
    /// Item key from the imported file, or the item id.
    pub item: Option<String>,
    /// Prompt text.
    pub prompt: Option<String>,
    /// Model A.
    pub model_a: String,
    /// Model B.
    pub model_b: String,
    /// Response A.
    pub response_a: Option<String>,
    /// Response B.
    pub response_b: Option<String>,
    /// `a`, `b`, `tie` or `both_bad`.
    pub winner: String,
    /// `slight` or `clear`.
    pub strength: Option<String>,
    /// Written reason.
    pub rationale: Option<String>,
    /// Milliseconds from display to vote.
    pub time_to_vote_ms: Option<i32>,
    /// Whether A was shown on the left.
    pub a_was_left: Option<bool>,
    /// Guideline version in force.
    pub guideline_version: Option<i32>,
    /// `human`, `llm_judge` or `import`.
    pub source: String,
    /// Annotator id.
    pub annotator_id: Option<i64>,
    /// Annotator's external id.
    pub annotator_external_id: Option<String>,
    /// When the vote was cast (RFC 3339).
    pub created_at: String,
}

/// One preference pair in TRL's format, with provenance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DpoPair {
    /// The prompt.
    pub prompt: String,
    /// The preferred response.
    pub chosen: String,
    /// The other response.
    pub rejected: String,
    /// Model of the chosen response.
    pub chosen_model: String,
    /// Model of the rejected response.
    pub rejected_model: String,
    /// Votes for the chosen response.
    pub votes_chosen: i64,
    /// Votes for the rejected one.
    pub votes_rejected: i64,
    /// Ties and "both bad" (not counted either way).
    pub votes_tied: i64,
    /// Project name.
    pub project: Option<String>,
    /// Item key.
    pub item: String,
    /// How the pair was derived.
    pub policy: String,
}

/// One rating row with its context.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RatingExport {
    /// Rating id.
    pub rating_id: i64,
    /// Project name.
    pub project: String,
    /// Item key.
    pub item: String,
    /// Assignment.
    pub assignment_id: Option<i64>,
    /// Response ids in the order the annotator saw them.
    pub display_order: Option<Vec<i64>>,
    /// Response rated.
    pub response_id: i64,
    /// Its model.
    pub model: String,
    /// Criterion.
    pub criterion: String,
    /// Score (`null` for N/A).
    pub score: Option<i32>,
    /// Marked N/A.
    pub not_applicable: bool,
    /// Written reason.
    pub rationale: Option<String>,
    /// Milliseconds taken for the whole form.
    pub time_ms: Option<i32>,
    /// Guideline version.
    pub guideline_version: Option<i32>,
    /// `human`, `llm_judge` or `import`.
    pub source: String,
    /// Annotator id.
    pub annotator_id: Option<i64>,
    /// Annotator's external id.
    pub annotator_external_id: Option<String>,
    /// When it was given (RFC 3339).
    pub created_at: String,
}

/// One ranking with its context.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RankingExport {
    /// Ranking id.
    pub ranking_id: i64,
    /// Project name.
    pub project: String,
    /// Item key.
    pub item: String,
    /// Assignment.
    pub assignment_id: Option<i64>,
    /// Response ids in the initial order shown.
    pub display_order: Option<Vec<i64>>,
    /// Tie groups of response ids, best first.
    pub tie_groups: serde_json::Value,
    /// "None is acceptable".
    pub not_rankable: bool,
    /// Written reason.
    pub rationale: Option<String>,
    /// Milliseconds taken.
    pub time_ms: Option<i32>,
    /// Guideline version.
    pub guideline_version: Option<i32>,
    /// `human`, `llm_judge` or `import`.
    pub source: String,
    /// Annotator id.
    pub annotator_id: Option<i64>,
    /// Annotator's external id.
    pub annotator_external_id: Option<String>,
    /// When it was given (RFC 3339).
    pub created_at: String,
}

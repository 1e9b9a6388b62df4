//! Administration: users, models and projects as the admin page and the REST API list them.

use serde::{Deserialize, Serialize};

/// A user as listed to admins.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserListItem {
    /// Primary key.
    pub user_id: i64,
    /// Role.
    pub role: String,
    /// Login name or external id.
    pub name: String,
    /// Anonymous annotator.
    pub is_anonymous: bool,
    /// Creation date (UTC, `YYYY-MM-DD`).
    pub created: String,
}

/// A model as the admin page lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelListItem {
    /// Primary key.
    pub model_id: i64,
    /// Name.
    pub name: String,
    /// `dataset`, `local` or `openai`.
    pub kind: String,
    /// Scheduled in the arena.
    pub enabled: bool,
    /// Pair-sampler weight.
    pub sampling_weight: f64,
}

/// A project with settings and counts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProjectRow {
    /// Primary key.
    pub project_id: i64,
    /// Name.
    pub name: String,
    /// Protocol.
    pub protocol: String,
    /// Guidelines (Markdown).
    pub guidelines: String,
    /// Guideline version in force.
    pub guidelines_version: i32,
    /// Judgements per item.
    pub overlap_target: i32,
    /// `off` / `optional` / `required`.
    pub rationale_mode: String,
    /// `off` / `slight_clear`.
    pub strength_scale: String,
    /// Assignment time limit in seconds.
    pub assignment_ttl_seconds: i32,
    /// Items the LLM judges are unsure of go to annotators first.
    pub judge_routing: bool,
    /// Items.
    pub items: i64,
    /// Votes.
    pub votes: i64,
}

/// A model that can compete, with how many prompts it answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CandidateModel {
    /// Model id.
    pub model_id: i64,
    /// Name.
    pub name: String,
    /// Prompts answered.
    pub prompts: i64,
}

/// A model as the leaderboard shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelInfo {
    /// Primary key.
    pub model_id: i64,
    /// Name.
    pub name: String,
    /// `dataset`, `local` or `openai`.
    pub kind: String,
    /// The model it was trained from, if Verdict trained it.
    pub parent_model_id: Option<i64>,
    /// Whether the arena may schedule it.
    pub enabled: bool,
    /// Admin-set sampling weight.
    pub sampling_weight: f64,
}

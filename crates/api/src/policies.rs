//! Training policies: votes that trigger DPO rounds, the promotion gate, and the lineage of a
//! policy's models, as `verdict policy` and `/api/v1/training-policies` show them.

use serde::{Deserialize, Serialize};

use crate::training::{PairPolicy, RunConfig};

/// New qualifying votes that start a round, where a policy does not say.
pub const DEFAULT_MIN_NEW_VOTES: i32 = 100;
/// Rounds per UTC day at most, where a policy does not say.
pub const DEFAULT_DAILY_CAP: i32 = 4;
/// Decided head-to-head battles before the gate decides, where a policy does not say.
pub const DEFAULT_GATE_MIN_BATTLES: i32 = 30;
/// Decided battles after which an undecided child retires, where a policy does not say.
pub const DEFAULT_GATE_MAX_BATTLES: i32 = 200;

/// Body of `POST /api/v1/training-policies` (and `verdict policy create`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewPolicy {
    /// Name: 1 to 64 letters, digits, `.`, `_` or `-`.
    pub name: String,
    /// The project whose votes count (its arena, for the on-policy loop): a name.
    pub project: String,
    /// The first champion, a registered `local` model: a name.
    pub base_model: String,
    /// A round starts once at least this many new qualifying votes came in
    /// ([`DEFAULT_MIN_NEW_VOTES`]).
    #[serde(default)]
    pub min_new_votes: Option<i32>,
    /// Or, with at least one new vote, once this many minutes passed since the last round.
    #[serde(default)]
    pub every_minutes: Option<i32>,
    /// Rounds per UTC day at most ([`DEFAULT_DAILY_CAP`]).
    #[serde(default)]
    pub daily_cap: Option<i32>,
    /// Decided head-to-head battles before the gate decides ([`DEFAULT_GATE_MIN_BATTLES`]).
    #[serde(default)]
    pub gate_min_battles: Option<i32>,
    /// Decided battles after which a child still undecided retires
    /// ([`DEFAULT_GATE_MAX_BATTLES`]).
    #[serde(default)]
    pub gate_max_battles: Option<i32>,
    /// Vote sources that count: `human`, `import`, `llm_judge` (default human and import).
    #[serde(default)]
    pub sources: Vec<String>,
    /// How votes become pairs.
    #[serde(default)]
    pub policy: PairPolicy,
    /// Each round's training settings.
    #[serde(default)]
    pub config: RunConfig,
}

/// The policies page's create form, as typed (empty fields: the defaults).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyForm {
    /// Name.
    pub name: String,
    /// Project name.
    pub project: String,
    /// Base model name.
    pub base_model: String,
    /// New votes that start a round.
    #[serde(default)]
    pub min_new_votes: String,
    /// Decided battles before the gate decides.
    #[serde(default)]
    pub gate_min_battles: String,
    /// Decided battles at most.
    #[serde(default)]
    pub gate_max_battles: String,
    /// LoRA rank (empty: full fine-tuning).
    #[serde(default)]
    pub lora_rank: String,
}

/// One round of a policy: a node of its lineage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RoundView {
    /// Number, from 1.
    pub round: i32,
    /// Its training run.
    pub training_run_id: i64,
    /// The run's status.
    pub run_status: String,
    /// The parent (the champion when the round started).
    pub parent_model_id: i64,
    /// Its name.
    pub parent: String,
    /// The child, once trained.
    pub child_model_id: Option<i64>,
    /// Its name.
    pub child: Option<String>,
    /// `training`, `gating`, `promoted`, `retired` or `failed`.
    pub status: String,
    /// New votes that started it.
    pub votes: i32,
    /// Votes in the run's frozen snapshot (those that gave pairs).
    pub snapshot_votes: Option<i32>,
    /// The run's last loss.
    pub loss: Option<f64>,
    /// Its last reward accuracy.
    pub reward_accuracy: Option<f64>,
    /// The child's head-to-head wins against its parent.
    pub wins: i32,
    /// Losses.
    pub losses: i32,
    /// Ties (not counted by the gate).
    pub ties: i32,
    /// The win rate's 95% Wilson interval, lower bound.
    pub win_lower: Option<f64>,
    /// Upper bound.
    pub win_upper: Option<f64>,
    /// What the gate decided, with its numbers, in words.
    pub decision: Option<String>,
    /// When (RFC 3339).
    pub decided_at: Option<String>,
}

/// A policy with its lineage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PolicyView {
    /// Primary key.
    pub policy_id: i64,
    /// Name.
    pub name: String,
    /// The project whose votes count.
    pub project_id: i64,
    /// Its name.
    pub project: String,
    /// The current champion (the next round's base).
    pub champion_model_id: i64,
    /// Its name.
    pub champion: String,
    /// New votes that start a round.
    pub min_new_votes: i32,
    /// Minutes after which any new vote starts a round.
    pub every_minutes: Option<i32>,
    /// Rounds per UTC day at most.
    pub daily_cap: i32,
    /// Decided battles before the gate decides.
    pub gate_min_battles: i32,
    /// Decided battles after which an undecided child retires.
    pub gate_max_battles: i32,
    /// Vote sources that count.
    pub sources: Vec<String>,
    /// Paused.
    pub paused: bool,
    /// New qualifying votes since the last round.
    pub new_votes: i64,
    /// When the last round started (RFC 3339).
    pub last_round_at: Option<String>,
    /// Why the last attempt to start a round did not.
    pub last_error: Option<String>,
    /// Its rounds, first first.
    pub rounds: Vec<RoundView>,
}

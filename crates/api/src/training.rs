//! Training runs: the launch request shared by the training page and
//! `POST /api/v1/training-runs`, its settings and validation, and the run as the page and the
//! API show it (docs/design.md §3.4, §6).

use serde::{Deserialize, Serialize};

/// Which votes a run learns from. Empty lists mean "any".
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunFilter {
    /// Project ids.
    #[serde(default)]
    pub projects: Vec<i64>,
    /// First day, `YYYY-MM-DD` (UTC).
    #[serde(default)]
    pub from: Option<String>,
    /// Last day, `YYYY-MM-DD` (UTC).
    #[serde(default)]
    pub to: Option<String>,
    /// `human`, `import`, `llm_judge`; empty means human and imported votes.
    #[serde(default)]
    pub sources: Vec<String>,
    /// Only annotators of these cohorts.
    #[serde(default)]
    pub cohorts: Vec<String>,
    /// Keep a pair only when at least this share of its decisive votes agree (0.5–1).
    #[serde(default)]
    pub min_agreement: Option<f64>,
    /// Annotator ids to leave out.
    #[serde(default)]
    pub exclude_annotators: Vec<i64>,
    /// Weight each vote by its annotator's reliability (NoisyBT skill fitted on the matched
    /// votes) when tallying an item's majority.
    #[serde(default)]
    pub weight_annotators: bool,
    /// Only votes whose id is above this (a training policy's round: the votes since the last).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after_vote: Option<i64>,
}

/// How votes become preference pairs (recorded with the run).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PairPolicy {
    /// One pair per item and response pair, chosen by majority; ties and "both bad" are not
    /// counted and pairs without a majority are dropped.
    #[default]
    Majority,
    /// As majority, with the label's confidence set to the share of votes for the chosen
    /// response (ties count half to each side), trained with the smoothed loss.
    Soft,
}

impl PairPolicy {
    /// Its name in the API.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Majority => "majority",
            Self::Soft => "soft",
        }
    }
}

/// Which pairs a ranking gives (docs/design.md §6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RankingPairs {
    /// Every two responses in different tie groups.
    AllPairs,
    /// Each response against those of the next group down.
    Adjacent,
    /// The best group against the worst.
    BestVsWorst,
}

impl RankingPairs {
    /// Its name in the API.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::AllPairs => "all_pairs",
            Self::Adjacent => "adjacent",
            Self::BestVsWorst => "best_vs_worst",
        }
    }
}

/// Losses a run from votes can use (paired DPO losses, as TRL names them).
pub const LOSSES: [&str; 6] = ["sigmoid", "robust", "hinge", "ipo", "sigmoid_norm", "simpo"];

/// Training settings of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RunConfig {
    /// Loss (see [`LOSSES`]).
    pub loss: String,
    /// β.
    pub beta: f64,
    /// Peak learning rate.
    pub learning_rate: f64,
    /// Passes over the pairs.
    pub epochs: u32,
    /// Pairs per step.
    pub batch_size: u32,
    /// LoRA rank on q/k/v/o (full fine-tuning when absent).
    pub lora_rank: Option<u32>,
    /// LoRA on the MLP projections too (gate/up/down: every linear layer of the decoder, as
    /// PEFT's `all-linear`).
    pub lora_all_linear: bool,
    /// LoRA on the output head too (`lm_head`; refused for a model that ties its head to the
    /// embeddings).
    pub lora_head: bool,
    /// Truncate prompt+completion to this many tokens.
    pub max_length: u32,
    /// Stop after this many steps.
    pub max_steps: Option<u32>,
    /// Seed.
    pub seed: u64,
    /// Save a resumable checkpoint every this many steps (0: only at the end).
    pub save_every: u32,
    /// When the worker dies, requeue the run to resume from its last checkpoint instead of
    /// failing it.
    pub resume_on_failure: bool,
}

impl Default for RunConfig {
    fn default() -> Self {
        Self {
            loss: "sigmoid".into(),
            beta: 0.1,
            learning_rate: 5e-6,
            epochs: 1,
            batch_size: 8,
            lora_rank: None,
            lora_all_linear: false,
            lora_head: false,
            max_length: 256,
            max_steps: None,
            seed: 42,
            save_every: 50,
            resume_on_failure: false,
        }
    }
}

impl RunConfig {
    /// Checks every value; the message names the field.
    ///
    /// # Errors
    /// The first invalid field.
    pub fn validate(&self) -> Result<(), String> {
        if !LOSSES.contains(&self.loss.as_str()) {
            return Err(format!(
                "config.loss: {:?} is not one of {}",
                self.loss,
                LOSSES.join(", ")
            ));
        }
        if !(self.beta.is_finite() && self.beta > 0.0 && self.beta <= 100.0) {
            return Err("config.beta: a number above 0 and at most 100".into());
        }
        if !(self.learning_rate.is_finite()
            && self.learning_rate > 0.0
            && self.learning_rate <= 1.0)
        {
            return Err("config.learning_rate: a number above 0 and at most 1".into());
        }
        if !(1..=100).contains(&self.epochs) {
            return Err("config.epochs: 1 to 100".into());
        }
        if !(1..=256).contains(&self.batch_size) {
            return Err("config.batch_size: 1 to 256".into());
        }
        if let Some(r) = self.lora_rank
            && !(1..=1024).contains(&r)
        {
            return Err("config.lora_rank: 1 to 1024, or absent for full fine-tuning".into());
        }
        if !(8..=32768).contains(&self.max_length) {
            return Err("config.max_length: 8 to 32768 tokens".into());
        }
        if self.max_steps == Some(0) {
            return Err("config.max_steps: at least 1, or absent".into());
        }
        Ok(())
    }
}

/// `POST /api/v1/training-runs` and the launch form.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LaunchRequest {
    /// A registered `local` model.
    pub base_model_id: i64,
    /// Name of the model the run will produce (default: `<base>-dpo-<run id>`).
    #[serde(default)]
    pub output_name: Option<String>,
    /// Which votes.
    #[serde(default)]
    pub filter: RunFilter,
    /// How votes become pairs.
    #[serde(default)]
    pub policy: PairPolicy,
    /// Also learn from rankings, with this pair policy.
    #[serde(default)]
    pub ranking_pairs: Option<RankingPairs>,
    /// Also learn from ratings: pairs of responses rated on one form whose mean scores differ
    /// by at least this much.
    #[serde(default)]
    pub rating_margin: Option<f64>,
    /// Training settings.
    #[serde(default)]
    pub config: RunConfig,
}

/// What a run learns from, frozen at launch (stored in `training_run.snapshot`, with the
/// filter for the record).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    /// Votes behind the pairs.
    #[serde(default)]
    pub vote_ids: Vec<i64>,
    /// How votes became pairs.
    #[serde(default)]
    pub policy: PairPolicy,
    /// The agreement threshold applied.
    #[serde(default)]
    pub min_agreement: Option<f64>,
    /// Rankings behind the pairs.
    #[serde(default)]
    pub ranking_ids: Vec<i64>,
    /// How rankings became pairs.
    #[serde(default)]
    pub ranking_pairs: Option<RankingPairs>,
    /// Ratings behind the pairs.
    #[serde(default)]
    pub rating_ids: Vec<i64>,
    /// The score margin of rating pairs.
    #[serde(default)]
    pub rating_margin: Option<f64>,
    /// Pairs derived at launch.
    #[serde(default)]
    pub pairs: usize,
    /// With reliability weighting: each annotator's vote weight (id → weight); votes of
    /// annotators not listed weigh 1.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub annotator_weights: std::collections::BTreeMap<i64, f64>,
}

impl Snapshot {
    /// Judgements in it.
    #[must_use]
    pub fn judgements(&self) -> usize {
        self.vote_ids.len() + self.ranking_ids.len() + self.rating_ids.len()
    }

    /// How its pairs were made, in words.
    #[must_use]
    pub fn policy_label(&self) -> String {
        let mut parts = vec![self.policy.as_str().to_owned()];
        if let Some(p) = self.ranking_pairs {
            parts.push(format!("rankings: {}", p.as_str()));
        }
        if let Some(m) = self.rating_margin {
            parts.push(format!("ratings: margin {m}"));
        }
        if !self.annotator_weights.is_empty() {
            parts.push(format!(
                "votes weighted by the reliability of {} annotators",
                self.annotator_weights.len()
            ));
        }
        parts.join(", ")
    }
}

/// A pair as the preview shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PairExample {
    /// Prompt.
    pub prompt: String,
    /// Preferred response.
    pub chosen: String,
    /// Other response.
    pub rejected: String,
    /// Model of the preferred response.
    pub chosen_model: String,
    /// Model of the other one.
    pub rejected_model: String,
    /// Label confidence.
    pub confidence: f64,
}

/// What a launch would train on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LaunchPreview {
    /// Preference pairs.
    pub pairs: usize,
    /// Votes behind them.
    pub votes: usize,
    /// Rankings behind them.
    pub rankings: usize,
    /// Ratings behind them.
    pub ratings: usize,
    /// Votes the filter matched before pairs were derived.
    pub matched_votes: usize,
    /// The first few pairs.
    pub examples: Vec<PairExample>,
}

/// A run as the run page and the API show it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunView {
    /// Id.
    pub id: i64,
    /// `queued`, `running`, `succeeded`, `failed`, `cancelled`.
    pub status: String,
    /// Base model name.
    pub base_model: String,
    /// Base model id.
    pub base_model_id: i64,
    /// Who launched it.
    pub launched_by: Option<String>,
    /// Why it failed.
    pub error: Option<String>,
    /// Steps done.
    pub step: i32,
    /// Steps planned.
    pub total_steps: Option<i32>,
    /// Seconds left, estimated from the steps so far.
    pub eta_seconds: Option<f64>,
    /// Votes in the snapshot.
    pub snapshot_votes: usize,
    /// Judgements in the snapshot (votes, rankings, ratings).
    pub snapshot_judgements: usize,
    /// Pairs derived from them.
    pub snapshot_pairs: usize,
    /// Pair policy.
    pub policy: String,
    /// Training settings.
    pub config: serde_json::Value,
    /// Cancellation asked for.
    pub cancel_requested: bool,
    /// The model produced.
    pub output_model_id: Option<i64>,
    /// Its name.
    pub output_model: Option<String>,
    /// Whether it is in the arena.
    pub output_model_enabled: Option<bool>,
    /// Times a worker claimed it.
    pub attempts: i32,
    /// Launched (RFC 3339).
    pub created_at: String,
    /// Per-step metrics, in step order.
    pub metrics: Vec<MetricPoint>,
    /// The reference phase (the starting model scores the completions the run will use),
    /// once it has started.
    pub reference: Option<ReferenceProgress>,
    /// Where it trains, from its latest step: `cpu` or `cuda:0 NVIDIA H200`.
    pub device: Option<String>,
    /// Its compute dtype, from its latest step.
    pub dtype: Option<String>,
    /// The most GPU memory seen in use so far, MiB (GPU runs).
    pub gpu_memory_mib: Option<f64>,
    /// Tokens per second of its latest step.
    pub tokens_per_second: Option<f64>,
}

/// How far a run's reference phase got.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReferenceProgress {
    /// Examples scored.
    pub done: i32,
    /// Examples to score.
    pub total: i32,
    /// Seconds left, estimated from the rate so far (while it runs).
    pub eta_seconds: Option<f64>,
}

impl ReferenceProgress {
    /// Whether the phase is still under way.
    #[must_use]
    pub fn is_running(&self) -> bool {
        self.done < self.total
    }
}

/// One step's metrics.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricPoint {
    /// Step.
    pub step: i32,
    /// TRL's names (`loss`, `rewards/accuracies`, ...) to values.
    pub values: serde_json::Map<String, serde_json::Value>,
}

impl MetricPoint {
    /// A metric by name.
    #[must_use]
    pub fn get(&self, name: &str) -> Option<f64> {
        self.values.get(name).and_then(serde_json::Value::as_f64)
    }
}

impl RunView {
    /// Share done, 0–1.
    #[must_use]
    pub fn progress(&self) -> f64 {
        match (self.status.as_str(), self.total_steps) {
            ("succeeded", _) => 1.0,
            (_, Some(t)) if t > 0 => (f64::from(self.step) / f64::from(t)).clamp(0.0, 1.0),
            _ => 0.0,
        }
    }

    /// Whether the run can still change.
    #[must_use]
    pub fn is_active(&self) -> bool {
        matches!(self.status.as_str(), "queued" | "running")
    }
}

/// What the launch form can choose from.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LaunchChoices {
    /// Local models: id and name.
    pub models: Vec<(i64, String)>,
    /// Pairwise projects: id, name, votes.
    pub projects: Vec<(i64, String, i64)>,
}

/// One step's metrics.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricRow {
    /// Optimiser step.
    pub step: i32,
    /// Metrics by TRL's names.
    pub metrics: serde_json::Value,
}

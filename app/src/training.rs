//! Training runs launched from the app (DESIGN.md §3.4, §6): the launch request shared by the
//! page and `POST /api/v1/training-runs`, the pair-derivation policy, validation, and the
//! service functions both call.

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

/// Which pairs a ranking gives (DESIGN.md §6).
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

/// `(chosen, rejected)` response pairs from tie groups (best first); tied responses give none.
#[must_use]
pub fn ranking_pairs(groups: &[Vec<i64>], policy: RankingPairs) -> Vec<(i64, i64)> {
    let mut out = Vec::new();
    let cross = |hi: &Vec<i64>, lo: &Vec<i64>, out: &mut Vec<(i64, i64)>| {
        for a in hi {
            for b in lo {
                out.push((*a, *b));
            }
        }
    };
    match policy {
        RankingPairs::AllPairs => {
            for (k, hi) in groups.iter().enumerate() {
                for lo in &groups[k + 1..] {
                    cross(hi, lo, &mut out);
                }
            }
        }
        RankingPairs::Adjacent => {
            for w in groups.windows(2) {
                cross(&w[0], &w[1], &mut out);
            }
        }
        RankingPairs::BestVsWorst => {
            if groups.len() >= 2 {
                cross(&groups[0], &groups[groups.len() - 1], &mut out);
            }
        }
    }
    out
}

/// `(chosen, rejected)` pairs of one rating form: responses whose scores differ by at least
/// `margin`.
#[must_use]
pub fn rating_pairs(scores: &[(i64, f64)], margin: f64) -> Vec<(i64, i64)> {
    let mut out = Vec::new();
    for (k, (a, sa)) in scores.iter().enumerate() {
        for (b, sb) in &scores[k + 1..] {
            if sa - sb >= margin {
                out.push((*a, *b));
            } else if sb - sa >= margin {
                out.push((*b, *a));
            }
        }
    }
    out
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

/// Votes for two responses and how many tied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tally {
    /// Votes for the first response.
    pub first: i64,
    /// Votes for the second.
    pub second: i64,
    /// Ties and "both bad".
    pub tied: i64,
}

/// The pair a policy derives from a tally: `Some((first_is_chosen, confidence))`, or `None`
/// when there is no majority or the agreement is below `min_agreement` (the share of decisive
/// votes on the majority side).
#[must_use]
pub fn decide(t: Tally, policy: PairPolicy, min_agreement: Option<f64>) -> Option<(bool, f64)> {
    if t.first == t.second {
        return None;
    }
    let (win, lose) = (t.first.max(t.second) as f64, t.first.min(t.second) as f64);
    if let Some(min) = min_agreement
        && win / (win + lose) < min
    {
        return None;
    }
    let confidence = match policy {
        PairPolicy::Majority => 1.0,
        PairPolicy::Soft => (win + 0.5 * t.tied as f64) / (win + lose + t.tied as f64),
    };
    Some((t.first > t.second, confidence))
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

#[cfg(feature = "ssr")]
pub mod ssr {
    //! The launch, preview and view services, shared by server functions and the REST API.

    use super::{
        LaunchPreview, LaunchRequest, MetricPoint, PairExample, RunFilter, RunView, Snapshot,
        Tally, decide, ranking_pairs, rating_pairs,
    };
    use crate::error::AppError;
    use crate::state::AppState;

    /// Pairs derived from a snapshot: the rows to train on and the judgements behind them.
    #[derive(Debug, Clone, PartialEq)]
    pub struct Derived {
        /// Pairs: votes first (in item order), then rankings, then ratings.
        pub pairs: Vec<DerivedPair>,
        /// The snapshot that gives exactly these pairs.
        pub snapshot: Snapshot,
    }

    /// One training pair with its provenance.
    #[derive(Debug, Clone, PartialEq, serde::Serialize)]
    pub struct DerivedPair {
        /// Prompt.
        pub prompt: String,
        /// Preferred response.
        pub chosen: String,
        /// Other response.
        pub rejected: String,
        /// Probability that `chosen` is better.
        pub confidence: f64,
        /// Model of `chosen`.
        pub chosen_model: String,
        /// Model of `rejected`.
        pub rejected_model: String,
        /// Votes for `chosen` (1 for a ranking or rating pair).
        pub votes_chosen: i64,
        /// Votes for `rejected`.
        pub votes_rejected: i64,
        /// Ties and "both bad".
        pub votes_tied: i64,
        /// Project.
        pub project: String,
        /// Item key.
        pub item: String,
        /// `majority`, `soft`, `ranking:<policy>` or `rating:margin=<m>`.
        pub policy: String,
    }

    fn parse_day(field: &str, s: &Option<String>) -> Result<Option<time::Date>, AppError> {
        let Some(s) = s.as_deref().map(str::trim).filter(|s| !s.is_empty()) else {
            return Ok(None);
        };
        time::Date::parse(s, &time::format_description::well_known::Iso8601::DATE)
            .map(Some)
            .map_err(|_| {
                AppError::Unprocessable(format!("filter.{field}: {s:?} is not YYYY-MM-DD"))
            })
    }

    /// The database filter for a request's filter, validated.
    ///
    /// # Errors
    /// 422 naming the field.
    pub fn vote_filter(f: &RunFilter) -> Result<db::training::VoteFilter, AppError> {
        for s in &f.sources {
            if !["human", "import", "llm_judge"].contains(&s.as_str()) {
                return Err(AppError::Unprocessable(format!(
                    "filter.sources: {s:?} is not human, import or llm_judge"
                )));
            }
        }
        if let Some(m) = f.min_agreement
            && !(m.is_finite() && (0.5..=1.0).contains(&m))
        {
            return Err(AppError::Unprocessable(
                "filter.min_agreement: a share from 0.5 to 1".into(),
            ));
        }
        let from = parse_day("from", &f.from)?;
        let to = parse_day("to", &f.to)?;
        if let (Some(a), Some(b)) = (from, to)
            && a > b
        {
            return Err(AppError::Unprocessable(
                "filter.to: the last day comes before the first".into(),
            ));
        }
        Ok(db::training::VoteFilter {
            projects: f.projects.clone(),
            from,
            to,
            sources: f.sources.clone(),
            cohorts: f
                .cohorts
                .iter()
                .map(|c| c.trim().to_owned())
                .filter(|c| !c.is_empty())
                .collect(),
            exclude_annotators: f.exclude_annotators.clone(),
        })
    }

    /// Derives the pairs of a snapshot's judgements under its policies; the returned
    /// snapshot keeps only the judgements that gave pairs.
    ///
    /// # Errors
    /// Internal on database failure.
    pub async fn derive(pool: &db::PgPool, snap: &Snapshot) -> Result<Derived, AppError> {
        let tallies = db::training::tallies(pool, &snap.vote_ids).await?;
        let mut pairs = Vec::new();
        let mut used = snap.clone();
        used.vote_ids.clear();
        for t in tallies {
            let tally = Tally {
                first: t.first_wins,
                second: t.second_wins,
                tied: t.tied,
            };
            let Some((first_chosen, confidence)) = decide(tally, snap.policy, snap.min_agreement)
            else {
                continue;
            };
            used.vote_ids.extend_from_slice(&t.vote_ids);
            let (chosen, rejected, cm, rm, vc, vr) = if first_chosen {
                (
                    t.first,
                    t.second,
                    t.first_model,
                    t.second_model,
                    t.first_wins,
                    t.second_wins,
                )
            } else {
                (
                    t.second,
                    t.first,
                    t.second_model,
                    t.first_model,
                    t.second_wins,
                    t.first_wins,
                )
            };
            pairs.push(DerivedPair {
                prompt: t.prompt,
                chosen,
                rejected,
                confidence,
                chosen_model: cm,
                rejected_model: rm,
                votes_chosen: vc,
                votes_rejected: vr,
                votes_tied: t.tied,
                project: t.project,
                item: t.item,
                policy: snap.policy.as_str().into(),
            });
        }
        used.vote_ids.sort_unstable();
        used.ranking_ids.clear();
        if let Some(policy) = snap.ranking_pairs {
            for k in db::training::rankings_with_texts(pool, &snap.ranking_ids).await? {
                let groups: Vec<Vec<i64>> =
                    serde_json::from_value(k.tie_groups.clone()).unwrap_or_default();
                let at = |id: i64| k.response_ids.iter().position(|r| *r == id);
                let before = pairs.len();
                for (c, r) in ranking_pairs(&groups, policy) {
                    let (Some(c), Some(r)) = (at(c), at(r)) else {
                        continue;
                    };
                    if k.texts[c].trim().is_empty() || k.texts[r].trim().is_empty() {
                        continue;
                    }
                    pairs.push(DerivedPair {
                        prompt: k.prompt.clone(),
                        chosen: k.texts[c].clone(),
                        rejected: k.texts[r].clone(),
                        confidence: 1.0,
                        chosen_model: k.models[c].clone(),
                        rejected_model: k.models[r].clone(),
                        votes_chosen: 1,
                        votes_rejected: 0,
                        votes_tied: 0,
                        project: k.project.clone(),
                        item: k.item.clone(),
                        policy: format!("ranking:{}", policy.as_str()),
                    });
                }
                if pairs.len() > before {
                    used.ranking_ids.push(k.ranking_id);
                }
            }
        }
        used.rating_ids.clear();
        if let Some(margin) = snap.rating_margin {
            let rows = db::training::ratings_with_texts(pool, &snap.rating_ids).await?;
            for form in rows.chunk_by(|a, b| a.form == b.form) {
                // Mean score per response over the form's criteria.
                let means: Vec<(i64, f64)> = form
                    .chunk_by(|a, b| a.response_id == b.response_id)
                    .map(|resp| {
                        let sum: f64 = resp.iter().map(|r| f64::from(r.score)).sum();
                        (resp[0].response_id, sum / resp.len() as f64)
                    })
                    .collect();
                let found = rating_pairs(&means, margin);
                if found.is_empty() {
                    continue;
                }
                let text = |id: i64| form.iter().find(|r| r.response_id == id);
                for (c, r) in found {
                    let (Some(c), Some(r)) = (text(c), text(r)) else {
                        continue;
                    };
                    pairs.push(DerivedPair {
                        prompt: c.prompt.clone(),
                        chosen: c.text.clone(),
                        rejected: r.text.clone(),
                        confidence: 1.0,
                        chosen_model: c.model.clone(),
                        rejected_model: r.model.clone(),
                        votes_chosen: 1,
                        votes_rejected: 0,
                        votes_tied: 0,
                        project: c.project.clone(),
                        item: c.item.clone(),
                        policy: format!("rating:margin={margin}"),
                    });
                }
                used.rating_ids.extend(form.iter().map(|r| r.rating_id));
            }
            used.rating_ids.sort_unstable();
        }
        used.pairs = pairs.len();
        Ok(Derived {
            pairs,
            snapshot: used,
        })
    }

    /// What a launch would train on.
    ///
    /// # Errors
    /// 422 for an invalid filter.
    pub async fn preview(
        pool: &db::PgPool,
        req: &LaunchRequest,
    ) -> Result<(LaunchPreview, Derived), AppError> {
        let filter = vote_filter(&req.filter)?;
        if let Some(m) = req.rating_margin
            && !(m.is_finite() && m > 0.0)
        {
            return Err(AppError::Unprocessable(
                "rating_margin: a score difference above 0".into(),
            ));
        }
        let matched = db::training::select_votes(pool, &filter).await?;
        let mut snap = Snapshot {
            vote_ids: matched.clone(),
            policy: req.policy,
            min_agreement: req.filter.min_agreement,
            ranking_pairs: req.ranking_pairs,
            rating_margin: req.rating_margin,
            ..Snapshot::default()
        };
        if req.ranking_pairs.is_some() {
            snap.ranking_ids = db::training::select_rankings(pool, &filter).await?;
        }
        if req.rating_margin.is_some() {
            snap.rating_ids = db::training::select_ratings(pool, &filter).await?;
        }
        let derived = derive(pool, &snap).await?;
        let preview = LaunchPreview {
            pairs: derived.pairs.len(),
            votes: derived.snapshot.vote_ids.len(),
            rankings: derived.snapshot.ranking_ids.len(),
            ratings: derived.snapshot.rating_ids.len(),
            matched_votes: matched.len(),
            examples: derived
                .pairs
                .iter()
                .take(3)
                .map(|p| PairExample {
                    prompt: p.prompt.clone(),
                    chosen: p.chosen.clone(),
                    rejected: p.rejected.clone(),
                    chosen_model: p.chosen_model.clone(),
                    rejected_model: p.rejected_model.clone(),
                    confidence: p.confidence,
                })
                .collect(),
        };
        Ok((preview, derived))
    }

    /// Validates and queues a run; returns its id. The snapshot (the exact vote ids, the
    /// policy and the filter) is frozen here.
    ///
    /// # Errors
    /// 422 naming what is wrong: an invalid config or filter, a base model that is not a
    /// loadable local model, a filter that yields no pairs.
    pub async fn launch(
        state: &AppState,
        launched_by: Option<i64>,
        req: &LaunchRequest,
    ) -> Result<i64, AppError> {
        req.config.validate().map_err(AppError::Unprocessable)?;
        if let Some(name) = &req.output_name
            && (name.trim().is_empty() || name.chars().count() > 200)
        {
            return Err(AppError::Unprocessable(
                "output_name: 1 to 200 characters, or absent".into(),
            ));
        }
        let model = db::leaderboard::models(&state.pool)
            .await?
            .into_iter()
            .find(|m| m.model_id == req.base_model_id)
            .ok_or_else(|| {
                AppError::Unprocessable(format!("base_model_id: no model #{}", req.base_model_id))
            })?;
        if model.kind != "local" {
            return Err(AppError::Unprocessable(format!(
                "base_model_id: {} is a {} model; only local models can be trained",
                model.name, model.kind
            )));
        }
        let (preview, derived) = preview(&state.pool, req).await?;
        if preview.pairs == 0 {
            return Err(AppError::Unprocessable(format!(
                "the filter yields no preference pairs ({} matching votes, none with a majority \
                 for one response)",
                preview.matched_votes
            )));
        }
        let config = db::arena::model_config(&state.pool, model.model_id).await?;
        state.services.check_model(config).await.map_err(|e| {
            AppError::Unprocessable(format!("base_model_id: {} does not load: {e}", model.name))
        })?;
        let mut snapshot = serde_json::to_value(&derived.snapshot).map_err(AppError::internal)?;
        snapshot["filter"] = serde_json::to_value(&req.filter).map_err(AppError::internal)?;
        snapshot["output_name"] = req.output_name.as_deref().map(str::trim).into();
        let config = serde_json::to_value(&req.config).map_err(AppError::internal)?;
        Ok(
            db::training::create(&state.pool, launched_by, model.model_id, &snapshot, &config)
                .await?,
        )
    }

    /// The snapshot frozen in a run.
    #[must_use]
    pub fn snapshot(stored: &serde_json::Value) -> Snapshot {
        serde_json::from_value(stored.clone()).unwrap_or_default()
    }

    /// A run with its metrics.
    ///
    /// # Errors
    /// 404 for an unknown run.
    pub async fn view(pool: &db::PgPool, id: i64) -> Result<RunView, AppError> {
        let run = db::training::get(pool, id).await.map_err(|e| match e {
            db::Error::NotFound => AppError::NotFound(format!("no training run #{id}")),
            other => other.into(),
        })?;
        let metrics = db::training::metrics(pool, id, 0).await?;
        Ok(to_view(run, metrics))
    }

    /// The latest runs without their metrics.
    ///
    /// # Errors
    /// Internal on database failure.
    pub async fn list(pool: &db::PgPool) -> Result<Vec<RunView>, AppError> {
        Ok(db::training::list(pool, 100)
            .await?
            .into_iter()
            .map(|r| to_view(r, Vec::new()))
            .collect())
    }

    fn to_view(run: db::training::Run, metrics: Vec<db::training::MetricRow>) -> RunView {
        let snap = snapshot(&run.snapshot);
        let metrics: Vec<MetricPoint> = metrics
            .into_iter()
            .map(|m| MetricPoint {
                step: m.step,
                values: match m.metrics {
                    serde_json::Value::Object(o) => o,
                    _ => serde_json::Map::new(),
                },
            })
            .collect();
        let eta_seconds = match (run.status.as_str(), run.total_steps) {
            ("running", Some(total)) if !metrics.is_empty() => {
                let mean = metrics.iter().filter_map(|m| m.get("seconds")).sum::<f64>()
                    / metrics.len() as f64;
                Some(mean * f64::from((total - run.step).max(0)))
            }
            _ => None,
        };
        RunView {
            id: run.training_run_id,
            status: run.status,
            base_model: run.base_model,
            base_model_id: run.base_model_id,
            launched_by: run.launched_by_name,
            error: run.error,
            step: run.step,
            total_steps: run.total_steps,
            eta_seconds,
            snapshot_votes: snap.vote_ids.len(),
            snapshot_judgements: snap.judgements(),
            snapshot_pairs: snap.pairs,
            policy: snap.policy_label(),
            config: run.config,
            cancel_requested: run.cancel_requested,
            output_model_id: run.output_model_id,
            output_model: run.output_model,
            output_model_enabled: run.output_model_enabled,
            attempts: run.attempts,
            created_at: run
                .created_at
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default(),
            metrics,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(first: i64, second: i64, tied: i64) -> Tally {
        Tally {
            first,
            second,
            tied,
        }
    }

    #[test]
    fn majority_drops_ties_and_splits() {
        assert_eq!(
            decide(t(2, 1, 5), PairPolicy::Majority, None),
            Some((true, 1.0))
        );
        assert_eq!(
            decide(t(0, 3, 0), PairPolicy::Majority, None),
            Some((false, 1.0))
        );
        assert_eq!(decide(t(2, 2, 1), PairPolicy::Majority, None), None);
        assert_eq!(decide(t(0, 0, 4), PairPolicy::Majority, None), None);
    }

    #[test]
    fn soft_labels_count_ties_half() {
        // 3 for, 1 against, 2 tied: (3 + 1) / 6.
        let (first, c) = decide(t(1, 3, 2), PairPolicy::Soft, None).unwrap();
        assert!(!first);
        assert!((c - 4.0 / 6.0).abs() < 1e-12);
    }

    #[test]
    fn agreement_threshold_uses_decisive_votes() {
        // 2 of 3 decisive votes agree: 0.667.
        assert!(decide(t(2, 1, 9), PairPolicy::Majority, Some(0.6)).is_some());
        assert!(decide(t(2, 1, 9), PairPolicy::Majority, Some(0.7)).is_none());
        assert!(decide(t(3, 0, 0), PairPolicy::Majority, Some(1.0)).is_some());
    }

    #[test]
    fn rankings_and_ratings_give_pairs_by_policy() {
        let groups = vec![vec![1], vec![2, 3], vec![4]];
        assert_eq!(
            ranking_pairs(&groups, RankingPairs::AllPairs),
            [(1, 2), (1, 3), (1, 4), (2, 4), (3, 4)]
        );
        assert_eq!(
            ranking_pairs(&groups, RankingPairs::Adjacent),
            [(1, 2), (1, 3), (2, 4), (3, 4)]
        );
        assert_eq!(ranking_pairs(&groups, RankingPairs::BestVsWorst), [(1, 4)]);
        assert!(ranking_pairs(&[vec![1, 2]], RankingPairs::AllPairs).is_empty());
        assert_eq!(
            rating_pairs(&[(1, 5.0), (2, 3.0), (3, 4.5)], 1.0),
            [(1, 2), (3, 2)]
        );
        assert!(rating_pairs(&[(1, 5.0), (2, 3.0)], 2.5).is_empty());
    }

    #[test]
    fn config_errors_name_the_field() {
        let mut c = RunConfig::default();
        assert_eq!(c.validate(), Ok(()));
        c.loss = "kto".into();
        assert!(c.validate().unwrap_err().starts_with("config.loss"));
        c = RunConfig {
            beta: 0.0,
            ..RunConfig::default()
        };
        assert!(c.validate().unwrap_err().starts_with("config.beta"));
        c = RunConfig {
            batch_size: 0,
            ..RunConfig::default()
        };
        assert!(c.validate().unwrap_err().starts_with("config.batch_size"));
        c = RunConfig {
            learning_rate: f64::NAN,
            ..RunConfig::default()
        };
        assert!(
            c.validate()
                .unwrap_err()
                .starts_with("config.learning_rate")
        );
    }
}

//! The leaderboard: the query of the page and `/api/v1/leaderboard`, its rows, the
//! head-to-head of trained children and the next battle pair.

use serde::{Deserialize, Serialize};

/// Which votes to count and how (URL query of the page and the API).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaderboardQuery {
    /// One project.
    #[serde(default)]
    pub project: Option<i64>,
    /// One prompt category.
    #[serde(default)]
    pub category: Option<String>,
    /// Annotators of one cohort.
    #[serde(default)]
    pub cohort: Option<String>,
    /// `human`, `llm_judge` or `import`; or `ppi`: human votes made more precise by LLM-judge
    /// votes (prediction-powered inference, its own intervals).
    #[serde(default)]
    pub source: Option<String>,
    /// First day, `YYYY-MM-DD` (UTC).
    #[serde(default)]
    pub from: Option<String>,
    /// Last day, `YYYY-MM-DD` (UTC).
    #[serde(default)]
    pub to: Option<String>,
    /// Leave out ties.
    #[serde(default)]
    pub exclude_ties: bool,
    /// Control for length and markdown.
    #[serde(default)]
    pub style_control: bool,
    /// Interval method: `sandwich` (the default) or `bootstrap`.
    #[serde(default)]
    pub ci: Option<String>,
    /// Weight votes by inverse pair frequency (`1 / max(n_pair, 50)`): `Some(true)` always,
    /// `Some(false)` never, `None` where the votes include arena battles (whose pairs the
    /// active sampler chose) and no option that excludes reweighting is asked.
    #[serde(default)]
    pub reweight: Option<bool>,
    /// Weight each vote by its annotator's reliability (NoisyBT skill fitted on these votes;
    /// votes without an annotator weigh 1).
    #[serde(default)]
    pub weight_annotators: bool,
    /// How ties count: `bt` (half a win), `rao-kupper`, `davidson`, `ignore` or
    /// `grounded-rao-kupper`. When given, the response also scores every tie model on held-out
    /// votes.
    #[serde(default)]
    pub tie_model: Option<String>,
    /// Count, for each model, the votes whose removal would put the next model above it.
    #[serde(default)]
    pub audit: bool,
}

/// One annotator's reliability weight on the leaderboard.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AnnotatorWeight {
    /// User id.
    pub annotator_id: i64,
    /// Display name.
    pub annotator: String,
    /// The weight of each of their votes (their NoisyBT skill).
    pub weight: f64,
    /// Their votes in this slice.
    pub votes: u64,
}

/// One model's line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LeaderboardRow {
    /// Rank (UB).
    pub rank_ub: Option<usize>,
    /// Best and worst rank the intervals allow.
    #[serde(default)]
    pub rank_spread: Option<(usize, usize)>,
    /// Tier (1 = top): models statistically tied with their tier's leader.
    #[serde(default)]
    pub tier: Option<usize>,
    /// Model id.
    pub model_id: i64,
    /// Model name.
    pub model: String,
    /// Rating.
    pub rating: Option<f64>,
    /// Lower 95% bound.
    pub lower: Option<f64>,
    /// Upper 95% bound.
    pub upper: Option<f64>,
    /// Votes involving the model.
    pub votes: u64,
    /// Too few votes for a settled score.
    #[serde(default)]
    pub provisional: bool,
    /// With `audit`: the fewest votes whose removal puts the next row's model above this one
    /// (`None`: the last row, or removing every vote that narrows the gap does not).
    #[serde(default)]
    pub votes_to_flip: Option<u64>,
    /// The parent's name, for models Verdict trained.
    pub parent: Option<String>,
    /// Why there is no finite rating, if there is none.
    pub note: Option<String>,
    /// With a `cohort`: how much more the cohort rates this model than everyone else does.
    #[serde(default)]
    pub cohort_offset: Option<CohortOffset>,
}

/// A cohort's rating of a model minus everyone else's, in rating points, with its 95% interval
/// and the two-sided p-value of "no difference" (Wald test).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CohortOffset {
    /// The cohort's rating minus the others'.
    pub offset: f64,
    /// Lower 95% bound.
    pub lower: f64,
    /// Upper 95% bound.
    pub upper: f64,
    /// Two-sided p-value.
    pub p_value: f64,
}

/// The leaderboard and its matrices (in the rows' order).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LeaderboardResponse {
    /// Models, best first.
    pub rows: Vec<LeaderboardRow>,
    /// Votes counted.
    pub total_votes: u64,
    /// `sandwich`, `bootstrap` or `ppi` (prediction-powered intervals).
    pub ci: String,
    /// Whether votes were weighted by inverse pair frequency.
    #[serde(default)]
    pub reweighted: bool,
    /// With `weight_annotators`: the weight each annotator's votes got.
    #[serde(default)]
    pub annotator_weights: Vec<AnnotatorWeight>,
    /// Votes below which a model is marked provisional.
    #[serde(default)]
    pub provisional_votes: u64,
    /// How ties count (`bt` unless asked otherwise).
    #[serde(default)]
    pub tie_model: String,
    /// Rao–Kupper's η or Davidson's ν.
    #[serde(default)]
    pub tie_param: Option<f64>,
    /// Held-out log-loss of each tie model (5-fold), best first, when a tie model was asked for.
    #[serde(default)]
    pub tie_model_scores: Vec<TieModelScore>,
    /// Bootstrap rounds behind the intervals (0 for sandwich intervals).
    pub bootstrap_rounds: usize,
    /// Decided battles (no ties) between row and column model.
    pub battles: Vec<Vec<f64>>,
    /// Share of those the row model won.
    pub win_fraction: Vec<Vec<Option<f64>>>,
    /// Win rate predicted by the ratings.
    pub predicted_win_rate: Vec<Vec<Option<f64>>>,
    /// Style coefficients (style control only).
    pub style_coefficients: Option<Vec<(String, f64)>>,
    /// What the numbers rest on, when it differs from the plain count (style control).
    pub note: Option<String>,
    /// Filter values to offer.
    pub options: FilterChoices,
    /// Models Verdict trained against their parents, where both are on the board.
    #[serde(default)]
    pub lineage: Vec<HeadToHead>,
}

/// A trained model against its parent: decided battles and the child's win rate with its 95%
/// (Wilson) interval.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HeadToHead {
    /// The trained model.
    pub child: String,
    /// The model it was trained from.
    pub parent: String,
    /// Battles the child won (ties excluded).
    pub child_wins: u64,
    /// Battles the parent won.
    pub parent_wins: u64,
    /// The child's share of decided battles.
    pub win_rate: Option<f64>,
    /// Lower 95% bound.
    pub lower: Option<f64>,
    /// Upper 95% bound.
    pub upper: Option<f64>,
}

/// One tie model's held-out fit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TieModelScore {
    /// `bt`, `rao-kupper`, `davidson` or `ignore`.
    pub model: String,
    /// Mean negative log-probability of held-out votes' outcomes (win, tie, loss).
    pub log_loss: f64,
}

/// Values the filters can take.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FilterChoices {
    /// Projects: id and name.
    pub projects: Vec<(i64, String)>,
    /// Categories with votes.
    pub categories: Vec<String>,
    /// Annotator cohorts.
    pub cohorts: Vec<String>,
}
/// The next pair of models to battle, left and right, as the sampler chose them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NextPair {
    /// Model shown on the left (A).
    pub left: ModelRef,
    /// Model shown on the right (B).
    pub right: ModelRef,
}

/// A model's id and name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelRef {
    /// Id.
    pub model_id: i64,
    /// Name.
    pub name: String,
}

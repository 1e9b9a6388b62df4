//! A project's quality report (docs/design.md §5.8, §5.9): agreement coefficients, the
//! per-annotator table with quality-control flags, human vs LLM-judge agreement, rating
//! distributions, and the consistency of ratings and rankings with pairwise choices. Shared by
//! the quality page, `/api/v1/projects/{id}/agreement|consistency` and `verdict analyze`.

use serde::{Deserialize, Serialize};

/// Cohen's κ of two annotators.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PairKappa {
    /// One annotator.
    pub a: String,
    /// The other.
    pub b: String,
    /// Units both judged.
    pub units: usize,
    /// κ (`None` when undefined).
    pub kappa: Option<f64>,
}

/// One annotator's line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AnnotatorRow {
    /// User id.
    pub user_id: i64,
    /// Name.
    pub name: String,
    /// Judgements.
    pub judgements: usize,
    /// Median milliseconds per judgement.
    pub median_time_ms: Option<f64>,
    /// Share of decisive pairwise choices that picked the left response.
    pub left_share: Option<f64>,
    /// Share of ties.
    pub tie_rate: f64,
    /// Agreement with the majority of the other annotators.
    pub loo_agreement: Option<f64>,
    /// Units behind it.
    pub loo_units: usize,
    /// Gold accuracy.
    pub gold_accuracy: Option<f64>,
    /// Gold items answered.
    pub gold_items: usize,
    /// Share of judgements faster than the project's minimum time.
    pub fast_share: Option<f64>,
    /// NoisyBT skill: the share of their choices that follow the responses' strengths.
    #[serde(default)]
    pub skill: Option<f64>,
    /// NoisyBT side bias: when not, how often the left response.
    #[serde(default)]
    pub side_bias: Option<f64>,
    /// Why the annotator is flagged (empty: not flagged).
    pub flags: Vec<String>,
    /// Left out of leaderboards and exports.
    pub excluded: bool,
}

/// Agreement on one kind of judgement.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Coefficients {
    /// Units (items, or responses and criterion) with at least two judgements.
    pub units: usize,
    /// Judgements counted.
    pub judgements: usize,
    /// Fleiss' κ over the units with the most common number of judgements.
    pub fleiss_kappa: Option<f64>,
    /// How many judgements each of those units has.
    pub fleiss_raters: usize,
    /// Units in Fleiss' κ.
    pub fleiss_units: usize,
    /// Krippendorff's α, nominal.
    pub alpha_nominal: Option<f64>,
    /// Krippendorff's α, interval (ratings, rank places).
    pub alpha_interval: Option<f64>,
    /// Krippendorff's α, ordinal.
    pub alpha_ordinal: Option<f64>,
    /// Cohen's κ for the pairs of annotators with the most shared units (at most 10).
    pub cohen: Vec<PairKappa>,
}

/// Rating counts of one model on one criterion.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Distribution {
    /// Model.
    pub model: String,
    /// Criterion.
    pub criterion: String,
    /// Scale.
    pub min: i32,
    /// Scale.
    pub max: i32,
    /// Count per score from `min` to `max`.
    pub counts: Vec<usize>,
    /// N/A marks.
    pub not_applicable: usize,
    /// Mean score.
    pub mean: Option<f64>,
}

/// Human vs LLM-judge agreement.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JudgeAgreement {
    /// Items with a human majority and a judge verdict.
    pub items: usize,
    /// Share where the judge's verdict equals the human majority.
    pub agreement: Option<f64>,
    /// Cohen's κ between the two.
    pub kappa: Option<f64>,
}

/// `GET /api/v1/projects/{id}/agreement`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgreementReport {
    /// Project.
    pub project_id: i64,
    /// Name.
    pub project: String,
    /// Protocol.
    pub protocol: String,
    /// Pairwise choices (labels: first response, second, tie, both bad), human and imported
    /// judgements of annotators who are not excluded.
    pub votes: Coefficients,
    /// Ratings per criterion.
    pub ratings: Vec<(String, Coefficients)>,
    /// Rankings (rank places per response).
    pub rankings: Coefficients,
    /// Human vs LLM judge, where both judged the same items.
    pub llm_judge: Option<JudgeAgreement>,
    /// Per annotator (every human annotator, excluded ones marked).
    pub annotators: Vec<AnnotatorRow>,
    /// Rating distributions per model and criterion.
    pub distributions: Vec<Distribution>,
}

/// Comparisons of an order (ratings or a ranking) with pairwise choices.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    /// Response pairs compared.
    pub pairs: usize,
    /// Both decisive, same response.
    pub agree: usize,
    /// Both decisive, opposite responses.
    pub disagree: usize,
    /// The order ties, the choice is decisive.
    pub order_tie: usize,
    /// The choice is a tie or "both bad", the order is decisive.
    pub choice_tie: usize,
    /// Both tie.
    pub both_tie: usize,
}

/// `GET /api/v1/projects/{id}/consistency`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConsistencyReport {
    /// Project.
    pub project_id: i64,
    /// Name.
    pub project: String,
    /// The rating criterion compared (the project's first).
    pub criterion: Option<String>,
    /// Ratings vs choice by the same annotator on the same item.
    pub rating_vs_choice_same_annotator: Counts,
    /// Mean ratings (all raters) vs the majority choice (all voters) per item.
    pub rating_vs_choice_across_annotators: Counts,
    /// A ranking vs a choice by the same annotator on the same item.
    pub ranking_vs_choice_same_annotator: Counts,
    /// Mean rank places vs the majority choice per item.
    pub ranking_vs_choice_across_annotators: Counts,
    /// Disagreement shares of the four, for convenience.
    pub disagreement: [Option<f64>; 4],
}

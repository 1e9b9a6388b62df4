//! Annotation: the projects open to an annotator, an item as the judging forms show it, the
//! judgements they submit (votes, ratings, rankings) and what a vote reveals.

use serde::{Deserialize, Serialize};

/// One item as the annotator sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ItemView {
    /// The assignment to vote on.
    pub assignment_id: i64,
    /// The prompt.
    pub prompt: String,
    /// Response shown on the left (A), as safe HTML rendered from its Markdown.
    pub left_html: String,
    /// Response shown on the right (B), as safe HTML.
    pub right_html: String,
    /// Items judged so far in this project.
    pub done: i64,
    /// Items in the project.
    pub total: i64,
    /// The project's guidelines as safe HTML.
    pub guidelines_html: String,
    /// Their version.
    pub guideline_version: i32,
    /// `off`, `optional` or `required`.
    pub rationale_mode: String,
    /// `off` or `slight_clear`.
    pub strength_scale: String,
    /// `pairwise`, `rating` or `ranking`.
    pub protocol: String,
    /// Every response in display order (the initial order of a ranking): id and safe HTML.
    pub responses: Vec<(i64, String)>,
    /// Rating criteria.
    pub criteria: Vec<CriterionView>,
    /// Ratings may be marked N/A.
    pub allow_na: bool,
    /// A rating form that also asks which of the two responses is better.
    pub with_choice: bool,
}

/// The models behind A and B, shown after the vote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reveal {
    /// Model of the left response.
    pub left_model: String,
    /// Model of the right response.
    pub right_model: String,
}

impl From<Recorded> for Reveal {
    fn from(r: Recorded) -> Self {
        Self {
            left_model: r.left_model,
            right_model: r.right_model,
        }
    }
}

/// A rating criterion as the form shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CriterionView {
    /// Name.
    pub name: String,
    /// Lowest score.
    pub min: i32,
    /// Highest score.
    pub max: i32,
    /// Label of the lowest score.
    pub low: String,
    /// Label of the highest score.
    pub high: String,
}

/// A pairwise choice as the annotator saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Choice {
    /// The left response is better.
    Left,
    /// The right response is better.
    Right,
    /// Equally good.
    Tie,
    /// Both are bad.
    BothBad,
}

/// A vote to record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewVote {
    /// The choice.
    pub choice: Choice,
    /// `slight` or `clear`, when the project asks.
    pub strength: Option<String>,
    /// Written reason.
    pub rationale: Option<String>,
    /// Milliseconds from display to vote; when absent, the time since the assignment was issued.
    pub time_to_vote_ms: Option<i32>,
}

/// The recorded vote, with the model names revealed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Recorded {
    /// The vote.
    pub vote_id: i64,
    /// Model shown on the left.
    pub left_model: String,
    /// Model shown on the right.
    pub right_model: String,
    /// `a`, `b`, `tie` or `both_bad` (A = the item's first response).
    pub winner: String,
    /// False when this repeats an earlier submission of the same assignment.
    pub created: bool,
}

/// One score in a rating submission; `score: None` means N/A.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Score {
    /// The response rated.
    pub response_id: i64,
    /// The criterion.
    pub criterion: String,
    /// The score, or `None` for N/A.
    pub score: Option<i32>,
}

/// A rating submission: every response of the item on every criterion.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewRatings {
    /// The scores.
    pub scores: Vec<Score>,
    /// The pairwise choice, for projects that ask for one.
    pub choice: Option<Choice>,
    /// Written reason.
    pub rationale: Option<String>,
    /// Milliseconds from display to submit.
    pub time_ms: Option<i32>,
}

/// A ranking submission: groups of response ids, best first; a group of several is a tie.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewRanking {
    /// Tie groups, best first.
    pub groups: Vec<Vec<i64>>,
    /// "None is acceptable".
    pub none_acceptable: bool,
    /// Written reason.
    pub rationale: Option<String>,
    /// Milliseconds from display to submit.
    pub time_ms: Option<i32>,
}

/// A project as listed to annotators.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProjectSummary {
    /// Primary key.
    pub project_id: i64,
    /// Display name.
    pub name: String,
    /// `pairwise`, `rating` or `ranking`.
    pub protocol: String,
    /// Number of items.
    pub items: i64,
}

//! Annotation: an item as the judging forms show it, and what a vote reveals.

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

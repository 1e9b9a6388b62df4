//! LLM judges: a judge job as the CLI and the API show it, and the judge audit (how far each
//! judge and template can be trusted on a project).

use serde::{Deserialize, Serialize};

/// A judge job and how far it has got.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JudgeJobView {
    /// Primary key.
    pub judge_job_id: i64,
    /// Project name.
    pub project: String,
    /// The judge model's name.
    pub judge: String,
    /// Template name and version, e.g. `pairwise-verdict v1`.
    pub template: String,
    /// Both display orders.
    pub both_orders: bool,
    /// `queued`, `running`, `done`, `failed` or `cancelled`.
    pub status: String,
    /// Items of the project with every verdict (or score) the job asks for.
    pub items_done: i64,
    /// Items of the project that can be judged (two responses; for a rating job, any).
    pub items_total: i64,
    /// Why it failed.
    pub error: Option<String>,
}

/// Body of `POST /api/v1/judge-jobs`: what to judge, with whom.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewJudgeJob {
    /// Project name (a pairwise or rating project).
    pub project: String,
    /// The judge: a registered `openai` or `local` model's name.
    pub judge: String,
    /// Template name (default `pairwise-verdict`, or `rating-score` on a rating project).
    #[serde(default)]
    pub template: Option<String>,
    /// `both` (default) or `one`.
    #[serde(default)]
    pub orders: Option<String>,
    /// Items at most.
    #[serde(default)]
    pub limit: Option<i32>,
    /// Requests at once (default 4).
    #[serde(default)]
    pub concurrency: Option<i32>,
    /// Tokens per answer at most (default 1024).
    #[serde(default)]
    pub max_tokens: Option<i32>,
    /// What a swap-inconsistent item counts as: `tie` (default) or `drop`.
    #[serde(default)]
    pub inconsistent_as: Option<String>,
}

/// A share with its 95% Wilson interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Share {
    /// The share, 0 to 1.
    pub value: f64,
    /// Lower bound.
    pub lower: f64,
    /// Upper bound.
    pub upper: f64,
    /// Out of how many.
    pub n: u64,
}

/// An estimate with its 95% interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Interval {
    /// The estimate.
    pub value: f64,
    /// Lower bound.
    pub lower: f64,
    /// Upper bound.
    pub upper: f64,
    /// From how many.
    pub n: u64,
}

/// One judge and template on one project (or one category of it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JudgeAuditRow {
    /// The judge model.
    pub judge: String,
    /// Template name and version.
    pub template: String,
    /// The prompts' category (`None`: every category).
    pub category: Option<String>,
    /// Items with at least one verdict.
    pub items: u64,
    /// Verdicts given, unparsable ones included.
    pub verdicts: u64,
    /// Verdicts whose output named no verdict.
    pub unparsable: u64,
    /// Of the items judged in both orders with a decisive verdict in each: the share where
    /// both name the same response.
    pub swap_consistency: Option<Share>,
    /// Of the decisive verdicts: the share that picked the answer shown first (0.5: no bias).
    pub first_position_wins: Option<Share>,
    /// Least-squares slope of "the first response wins" on its length minus the second's, per
    /// 1000 characters (0: no length bias), over decisive verdicts.
    pub length_slope_per_1000_chars: Option<f64>,
    /// Items with a human majority (more votes for one response than for the other and for
    /// ties) and a judge decision: how many.
    pub with_humans: u64,
    /// Share of those where the judge's decision equals the human majority.
    pub human_agreement: Option<Share>,
    /// Cohen's κ between the judge's decision and the human majority on those items.
    pub human_kappa: Option<f64>,
    /// Self-preference, where the judge's family and its contestants' are named: of the
    /// decisive verdicts on items where exactly one response comes from the judge's family,
    /// the share that picked that response (compare with the humans' choices on those items).
    pub own_family_wins: Option<Share>,
}

/// One rating judge, template and criterion on one project (or one category of it): its scores
/// against the humans' ratings of the same responses.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RatingAuditRow {
    /// The judge model.
    pub judge: String,
    /// Template name and version.
    pub template: String,
    /// The criterion.
    pub criterion: String,
    /// The prompts' category (`None`: every category).
    pub category: Option<String>,
    /// Scores given, unparsable ones included.
    pub scores: u64,
    /// Outputs that named no score on the scale.
    pub unparsable: u64,
    /// Responses with a judge score and at least one human score.
    pub with_humans: u64,
    /// Mean absolute difference between the judge's score and the humans' mean.
    pub mean_abs_diff: Option<f64>,
    /// Mean of the judge's score minus the humans' mean (above 0: more lenient than humans).
    pub mean_offset: Option<Interval>,
    /// Share of responses where the judge's score equals the humans' median.
    pub exact_agreement: Option<Share>,
    /// Pearson's r between the judge's score and the humans' mean (Fisher-z interval).
    pub correlation: Option<Interval>,
    /// Least-squares slope of the judge's score on the response's length, per 1000 characters.
    pub length_slope_per_1000_chars: Option<f64>,
    /// The same slope for the humans' mean on the same responses (the judge's length bias is
    /// the difference).
    pub human_length_slope_per_1000_chars: Option<f64>,
    /// Self-preference, where families are named: the judge's offset from the humans on
    /// responses of its own family minus its offset on the others'.
    pub own_family_offset: Option<f64>,
}

/// `GET /api/v1/projects/{id}/judges` and `verdict analyze judges`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JudgeAudit {
    /// Project.
    pub project_id: i64,
    /// Pairwise judges: per judge and template over the whole project, then per category.
    pub rows: Vec<JudgeAuditRow>,
    /// Rating judges: per judge, template and criterion, then per category.
    #[serde(default)]
    pub ratings: Vec<RatingAuditRow>,
}

/// What the admin page's judge form offers.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct JudgeChoices {
    /// Pairwise and rating projects' names.
    pub projects: Vec<String>,
    /// Models that can judge (`openai` and `local`).
    pub judges: Vec<String>,
    /// Templates' names (the built-in one included once registered).
    pub templates: Vec<String>,
}

/// The admin page's judges card: recent jobs and what a new one may use.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct JudgePanel {
    /// The latest jobs, newest first.
    pub jobs: Vec<JudgeJobView>,
    /// The form's choices.
    pub choices: JudgeChoices,
}

impl JudgePanel {
    /// Whether a job may still change (queued or running).
    #[must_use]
    pub fn active(&self) -> bool {
        self.jobs
            .iter()
            .any(|j| j.status == "queued" || j.status == "running")
    }
}

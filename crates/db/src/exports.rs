//! Judgements leaving Verdict: votes with full provenance, and DPO pairs derived from them.
//! Judgements of excluded annotators are left out.

use serde::Serialize;
use sqlx::PgPool;
use time::OffsetDateTime;

use crate::Result;

/// One pairwise vote with everything known about it.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
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
    /// When the vote was cast.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

/// Votes, optionally of one project, oldest first.
///
/// # Errors
/// Only on database failure.
pub async fn votes(pool: &PgPool, project: Option<&str>) -> Result<Vec<VoteExport>> {
    Ok(sqlx::query_as(
        "select v.vote_id, pr.name as project, coalesce(i.external_key, i.item_id::text) as item, \
                p.text as prompt, ma.name as model_a, mb.name as model_b, ra.text as response_a, \
                rb.text as response_b, v.winner, v.strength, v.rationale, v.time_to_vote_ms, \
                v.a_was_left, v.guideline_version, v.source, v.annotator_id, \
                u.external_id as annotator_external_id, v.created_at \
         from vote v \
         join model ma on ma.model_id = v.model_a_id join model mb on mb.model_id = v.model_b_id \
         left join project pr on pr.project_id = v.project_id \
         left join item i on i.item_id = v.item_id left join prompt p on p.prompt_id = i.prompt_id \
         left join response ra on ra.response_id = v.response_a_id \
         left join response rb on rb.response_id = v.response_b_id \
         left join app_user u on u.user_id = v.annotator_id \
         where ($1::text is null or pr.name = $1) and not coalesce(u.excluded, false) \
         order by v.created_at, v.vote_id",
    )
    .bind(project)
    .fetch_all(pool)
    .await?)
}

/// One preference pair in TRL's format, with provenance.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
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

/// DPO pairs by majority per item: the response with more decisive votes is `chosen`; ties
/// and "both bad" are not counted, and items without a majority or with an empty text are
/// dropped. Only votes with
/// response texts and one of `sources` (`human`, `import`, `llm_judge`) take part.
///
/// # Errors
/// Only on database failure.
pub async fn dpo_majority(
    pool: &PgPool,
    project: Option<&str>,
    sources: &[&str],
) -> Result<Vec<DpoPair>> {
    Ok(sqlx::query_as(
        "with tally as ( \
             select v.item_id, v.response_a_id, v.response_b_id, \
                    count(*) filter (where v.winner = 'a') as a_wins, \
                    count(*) filter (where v.winner = 'b') as b_wins, \
                    count(*) filter (where v.winner in ('tie', 'both_bad')) as tied \
             from vote v \
             left join project pr on pr.project_id = v.project_id \
             left join app_user u on u.user_id = v.annotator_id \
             where v.response_a_id is not null and v.response_b_id is not null \
               and v.item_id is not null and v.source = any($2) \
               and ($1::text is null or pr.name = $1) and not coalesce(u.excluded, false) \
             group by 1, 2, 3) \
         select p.text as prompt, \
                case when t.a_wins > t.b_wins then ra.text else rb.text end as chosen, \
                case when t.a_wins > t.b_wins then rb.text else ra.text end as rejected, \
                case when t.a_wins > t.b_wins then ma.name else mb.name end as chosen_model, \
                case when t.a_wins > t.b_wins then mb.name else ma.name end as rejected_model, \
                greatest(t.a_wins, t.b_wins) as votes_chosen, least(t.a_wins, t.b_wins) as votes_rejected, \
                t.tied as votes_tied, pr.name as project, \
                coalesce(i.external_key, i.item_id::text) as item, 'majority' as policy \
         from tally t \
         join item i on i.item_id = t.item_id join prompt p on p.prompt_id = i.prompt_id \
         join project pr on pr.project_id = i.project_id \
         join response ra on ra.response_id = t.response_a_id \
         join response rb on rb.response_id = t.response_b_id \
         join model ma on ma.model_id = ra.model_id join model mb on mb.model_id = rb.model_id \
         where t.a_wins <> t.b_wins \
           and btrim(ra.text) <> '' and btrim(rb.text) <> '' and btrim(p.text) <> '' \
         order by i.item_id",
    )
    .bind(project)
    .bind(sources)
    .fetch_all(pool)
    .await?)
}

/// One rating row with its context.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
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
    /// When it was given.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

/// Ratings, optionally of one project; excluded annotators left out.
///
/// # Errors
/// Only on database failure.
pub async fn ratings(pool: &PgPool, project: Option<&str>) -> Result<Vec<RatingExport>> {
    Ok(sqlx::query_as(
        "select r.rating_id, pr.name as project, coalesce(i.external_key, i.item_id::text) as item, \
                r.assignment_id, a.display_order, r.response_id, m.name as model, r.criterion, \
                r.score, r.not_applicable, r.rationale, r.time_ms, r.guideline_version, r.source, \
                r.annotator_id, u.external_id as annotator_external_id, r.created_at \
         from rating r join project pr on pr.project_id = r.project_id \
         join item i on i.item_id = r.item_id \
         join response re on re.response_id = r.response_id join model m on m.model_id = re.model_id \
         left join assignment a on a.assignment_id = r.assignment_id \
         left join app_user u on u.user_id = r.annotator_id \
         where ($1::text is null or pr.name = $1) and not coalesce(u.excluded, false) \
         order by r.rating_id",
    )
    .bind(project)
    .fetch_all(pool)
    .await?)
}

/// One ranking with its context.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
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
    /// When it was given.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

/// Rankings, optionally of one project; excluded annotators left out.
///
/// # Errors
/// Only on database failure.
pub async fn rankings(pool: &PgPool, project: Option<&str>) -> Result<Vec<RankingExport>> {
    Ok(sqlx::query_as(
        "select k.ranking_id, pr.name as project, coalesce(i.external_key, i.item_id::text) as item, \
                k.assignment_id, a.display_order, k.tie_groups, k.not_rankable, k.rationale, \
                k.time_ms, k.guideline_version, k.source, k.annotator_id, \
                u.external_id as annotator_external_id, k.created_at \
         from ranking k join project pr on pr.project_id = k.project_id \
         join item i on i.item_id = k.item_id \
         left join assignment a on a.assignment_id = k.assignment_id \
         left join app_user u on u.user_id = k.annotator_id \
         where ($1::text is null or pr.name = $1) and not coalesce(u.excluded, false) \
         order by k.ranking_id",
    )
    .bind(project)
    .fetch_all(pool)
    .await?)
}

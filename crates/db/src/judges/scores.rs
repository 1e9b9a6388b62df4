//! Rating judges: the responses and criteria a job still has to score, each score recorded once
//! (and, when it parsed, as an `llm_judge` rating in the same transaction), and the scores with
//! the humans' ratings of the same response for the audit.

use sqlx::{PgExecutor, PgPool};

use super::Job;
use crate::Result;

/// One response of an item still to score on one criterion.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct PendingScore {
    /// The item.
    pub item_id: i64,
    /// Prompt text.
    pub prompt: String,
    /// The response.
    pub response_id: i64,
    /// Its text.
    pub text: String,
    /// The criterion's name.
    pub criterion: String,
}

/// The scores the job still has to give on the items after item `after` (every response of an
/// item on every criterion of `criteria`), for at most `limit` items, in item, response and
/// criterion order.
///
/// # Errors
/// Only on database failure.
pub async fn pending(
    db: impl PgExecutor<'_>,
    job: &Job,
    criteria: &[String],
    after: i64,
    limit: i64,
) -> Result<Vec<PendingScore>> {
    Ok(sqlx::query_as(
        "with wanted as ( \
             select i.item_id, p.text as prompt, ir.response_id, ir.position, r.text, \
                    c.criterion, c.ord \
             from item i join prompt p on p.prompt_id = i.prompt_id \
             join item_response ir on ir.item_id = i.item_id \
             join response r on r.response_id = ir.response_id \
             cross join unnest($4::text[]) with ordinality as c(criterion, ord) \
             where i.project_id = $1 and i.item_id > $5 \
               and not exists (select 1 from judge_score s \
                               where s.judge_model_id = $2 and s.template_id = $3 \
                                 and s.item_id = i.item_id and s.response_id = ir.response_id \
                                 and s.criterion = c.criterion)), \
         items as (select distinct item_id from wanted order by item_id limit $6) \
         select w.item_id, w.prompt, w.response_id, w.text, w.criterion \
         from wanted w join items using (item_id) \
         order by w.item_id, w.position, w.ord",
    )
    .bind(job.project_id)
    .bind(job.judge_model_id)
    .bind(job.template_id)
    .bind(criteria)
    .bind(after)
    .bind(limit)
    .fetch_all(db)
    .await?)
}

/// How far a rating job has got: the project's items with a response, and those of them with a
/// score (parsed or not) for every response on every criterion of `criteria`.
///
/// # Errors
/// Only on database failure.
pub async fn progress(
    db: impl PgExecutor<'_>,
    job: &Job,
    criteria: &[String],
) -> Result<(i64, i64)> {
    Ok(sqlx::query_as(
        "with items as ( \
             select ir.item_id, count(*) as responses from item_response ir \
             join item i on i.item_id = ir.item_id where i.project_id = $1 \
             group by ir.item_id), \
         scored as ( \
             select s.item_id, count(*) as scores from judge_score s \
             join items using (item_id) \
             where s.judge_model_id = $2 and s.template_id = $3 and s.criterion = any($4) \
             group by s.item_id) \
         select count(*), \
                count(*) filter (where coalesce(sc.scores, 0) \
                                       = it.responses * cardinality($4::text[])) \
         from items it left join scored sc using (item_id)",
    )
    .bind(job.project_id)
    .bind(job.judge_model_id)
    .bind(job.template_id)
    .bind(criteria)
    .fetch_one(db)
    .await?)
}

/// One score to record.
#[derive(Debug, Clone, PartialEq)]
pub struct NewScore {
    /// The item.
    pub item_id: i64,
    /// The response scored.
    pub response_id: i64,
    /// The criterion.
    pub criterion: String,
    /// The score on the criterion's scale; `None`: unparsable.
    pub score: Option<i32>,
    /// What the judge wrote.
    pub raw_output: String,
    /// The judge's configuration as asked.
    pub judge_config: serde_json::Value,
    /// Milliseconds for the answer.
    pub latency_ms: Option<i32>,
    /// Tokens in.
    pub prompt_tokens: Option<i32>,
    /// Tokens out.
    pub completion_tokens: Option<i32>,
    /// Requests it took (retries included).
    pub attempts: i32,
}

/// Records a score of the job's judge and template once and, when it parsed, its `llm_judge`
/// rating (under the project's current guidelines), in one transaction. Returns whether the
/// score is new and whether a rating was recorded.
///
/// # Errors
/// Only on database failure.
pub async fn record(pool: &PgPool, job: &Job, s: &NewScore) -> Result<(bool, bool)> {
    let mut tx = pool.begin().await?;
    let id: Option<i64> = sqlx::query_scalar(
        "insert into judge_score (judge_job_id, judge_model_id, template_id, item_id, \
             response_id, criterion, score, raw_output, judge_config, latency_ms, prompt_tokens, \
             completion_tokens, attempts) \
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) \
         on conflict on constraint judge_score_once_key do nothing \
         returning judge_score_id",
    )
    .bind(job.judge_job_id)
    .bind(job.judge_model_id)
    .bind(job.template_id)
    .bind(s.item_id)
    .bind(s.response_id)
    .bind(&s.criterion)
    .bind(s.score)
    .bind(&s.raw_output)
    .bind(&s.judge_config)
    .bind(s.latency_ms)
    .bind(s.prompt_tokens)
    .bind(s.completion_tokens)
    .bind(s.attempts)
    .fetch_optional(&mut *tx)
    .await?;
    let mut rated = false;
    if let (Some(id), Some(score)) = (id, s.score) {
        sqlx::query(
            "with r as ( \
                 insert into rating (project_id, item_id, source, response_id, criterion, score, \
                     guideline_version) \
                 select p.project_id, $2, 'llm_judge', $3, $4, $5, p.guidelines_version \
                 from project p where p.project_id = $6 \
                 returning rating_id) \
             update judge_score set rating_id = r.rating_id from r where judge_score_id = $1",
        )
        .bind(id)
        .bind(s.item_id)
        .bind(s.response_id)
        .bind(&s.criterion)
        .bind(score)
        .bind(job.project_id)
        .execute(&mut *tx)
        .await?;
        rated = true;
    }
    tx.commit().await?;
    Ok((id.is_some(), rated))
}

/// One score of a judge and template, with the humans' scores of the same response on the same
/// criterion, for the audit.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ScoreRow {
    /// The judge model.
    pub judge: String,
    /// The template's name.
    pub template: String,
    /// Its version.
    pub version: i32,
    /// The criterion.
    pub criterion: String,
    /// The prompt's category, if any.
    pub category: Option<String>,
    /// The judge's score (`None`: unparsable).
    pub score: Option<i32>,
    /// The response's length in characters.
    pub length: i64,
    /// Human scores of the response on the criterion (every source but `llm_judge`, N/A and
    /// excluded annotators left out).
    pub human: Vec<i32>,
    /// The judge model's family, when named.
    pub judge_family: Option<String>,
    /// The family of the response's model, when named.
    pub family: Option<String>,
}

/// Every score judges gave on a project's responses, ordered by judge, template and criterion.
///
/// # Errors
/// Only on database failure.
pub async fn audit_rows(db: impl PgExecutor<'_>, project_id: i64) -> Result<Vec<ScoreRow>> {
    Ok(sqlx::query_as(
        "with humans as ( \
             select g.item_id, g.response_id, g.criterion, array_agg(g.score) as human \
             from rating g left join app_user u on u.user_id = g.annotator_id \
             where g.project_id = $1 and g.source <> 'llm_judge' and g.score is not null \
               and not coalesce(u.excluded, false) \
             group by g.item_id, g.response_id, g.criterion) \
         select m.name as judge, t.name as template, t.version, s.criterion, p.category, s.score, \
                length(r.text)::bigint as length, \
                coalesce(h.human, array[]::integer[]) as human, \
                m.family as judge_family, rm.family \
         from judge_score s join item i on i.item_id = s.item_id \
         join prompt p on p.prompt_id = i.prompt_id \
         join response r on r.response_id = s.response_id \
         join model rm on rm.model_id = r.model_id \
         join model m on m.model_id = s.judge_model_id \
         join judge_template t on t.template_id = s.template_id \
         left join humans h on h.item_id = s.item_id and h.response_id = s.response_id \
                            and h.criterion = s.criterion \
         where i.project_id = $1 \
         order by m.name, t.name, t.version, s.criterion, s.item_id, s.response_id",
    )
    .bind(project_id)
    .fetch_all(db)
    .await?)
}

//! LLM judges: versioned templates, the judge-job queue (claimed like training runs, with
//! heartbeats and cancellation), each verdict per item and display order, and the one
//! `llm_judge` vote an item gets once its verdicts are in.

use serde::Serialize;
use sqlx::{PgExecutor, PgPool};
use time::OffsetDateTime;

use crate::Result;
pub use crate::training::Signal;

pub mod scores;

/// A judge template.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct Template {
    /// Primary key.
    pub template_id: i64,
    /// Name (several versions share it).
    pub name: String,
    /// Version, from 1.
    pub version: i32,
    /// `pairwise` (a verdict on two answers) or `rating` (a score for one answer on one
    /// criterion).
    pub protocol: String,
    /// The prompt: `{question}`, with `{answer_a}` and `{answer_b}` (pairwise) or `{answer}`
    /// (rating).
    pub body: String,
    /// How the verdict is read.
    pub parse_rule: String,
    /// SHA-256 of the body (hex).
    pub sha256: String,
}

const TEMPLATE_COLUMNS: &str = "template_id, name, version, protocol, body, parse_rule, sha256";

/// Registers `body` under `name` for `protocol`: the version that has this exact body if there
/// is one, else a new version one above the latest. Returns the template and whether it is new.
///
/// # Errors
/// [`crate::Error::Invalid`] when the name's versions are for another protocol; a constraint
/// violation for a bad name or body; otherwise database failures.
pub async fn register_template(
    pool: &PgPool,
    name: &str,
    protocol: &str,
    body: &str,
    sha256: &str,
) -> Result<(Template, bool)> {
    let mut tx = pool.begin().await?;
    // One registration per name at a time, so two never take the same version.
    sqlx::query("select pg_advisory_xact_lock(hashtext('judge_template:' || $1))")
        .bind(name)
        .execute(&mut *tx)
        .await?;
    let existing: Option<Template> = sqlx::query_as(&format!(
        "select {TEMPLATE_COLUMNS} from judge_template where name = $1 and sha256 = $2"
    ))
    .bind(name)
    .bind(sha256)
    .fetch_optional(&mut *tx)
    .await?;
    if let Some(t) = existing {
        tx.commit().await?;
        return Ok((t, false));
    }
    let other: Option<String> = sqlx::query_scalar(
        "select protocol from judge_template where name = $1 and protocol <> $2 limit 1",
    )
    .bind(name)
    .bind(protocol)
    .fetch_optional(&mut *tx)
    .await?;
    if let Some(other) = other {
        return Err(crate::Error::Invalid(format!(
            "the template {name:?} is a {other} template; a {protocol} template needs another name"
        )));
    }
    let parse_rule = if protocol == "rating" {
        "last-bracket-score"
    } else {
        "last-bracket-verdict"
    };
    let created: Template = sqlx::query_as(&format!(
        "insert into judge_template (name, version, protocol, parse_rule, body, sha256) \
         select $1, coalesce(max(version), 0) + 1, $4, $5, $2, $3 from judge_template \
         where name = $1 \
         returning {TEMPLATE_COLUMNS}"
    ))
    .bind(name)
    .bind(body)
    .bind(sha256)
    .bind(protocol)
    .bind(parse_rule)
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok((created, true))
}

/// The latest version of the template `name`.
///
/// # Errors
/// [`crate::Error::NotFound`] for an unknown name.
pub async fn template(db: impl PgExecutor<'_>, name: &str) -> Result<Template> {
    Ok(sqlx::query_as(&format!(
        "select {TEMPLATE_COLUMNS} from judge_template where name = $1 \
         order by version desc limit 1"
    ))
    .bind(name)
    .fetch_one(db)
    .await?)
}

/// The templates' names, in order.
///
/// # Errors
/// Only on database failure.
pub async fn template_names(db: impl PgExecutor<'_>) -> Result<Vec<String>> {
    Ok(
        sqlx::query_scalar("select distinct name from judge_template order by name")
            .fetch_all(db)
            .await?,
    )
}

/// The template with this id.
///
/// # Errors
/// [`crate::Error::NotFound`] for an unknown id.
pub async fn template_by_id(db: impl PgExecutor<'_>, id: i64) -> Result<Template> {
    Ok(sqlx::query_as(&format!(
        "select {TEMPLATE_COLUMNS} from judge_template where template_id = $1"
    ))
    .bind(id)
    .fetch_one(db)
    .await?)
}

/// A model's id and kind by its name.
///
/// # Errors
/// [`crate::Error::NotFound`] for an unknown name.
pub async fn model_by_name(db: impl PgExecutor<'_>, name: &str) -> Result<(i64, String)> {
    Ok(
        sqlx::query_as("select model_id, kind from model where name = $1")
            .bind(name)
            .fetch_one(db)
            .await?,
    )
}

/// Sets (or with `None` clears) a model's family; false for an unknown model.
///
/// # Errors
/// `model_family_check` for a malformed family.
pub async fn set_family(db: impl PgExecutor<'_>, name: &str, family: Option<&str>) -> Result<bool> {
    let done = sqlx::query("update model set family = $2, updated_at = now() where name = $1")
        .bind(name)
        .bind(family)
        .execute(db)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// A job to queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewJob {
    /// The project whose items are judged.
    pub project_id: i64,
    /// The judge.
    pub judge_model_id: i64,
    /// The template.
    pub template_id: i64,
    /// Both display orders.
    pub both_orders: bool,
    /// `tie` or `drop`.
    pub inconsistent_as: String,
    /// Items at most.
    pub max_items: Option<i32>,
    /// Tokens per answer at most.
    pub max_tokens: i32,
    /// Requests at once.
    pub concurrency: i32,
    /// Who asked.
    pub created_by: Option<i64>,
}

/// Queues a job; returns its id.
///
/// # Errors
/// A constraint violation for bad settings; otherwise database failures.
pub async fn create_job(db: impl PgExecutor<'_>, job: &NewJob) -> Result<i64> {
    let (id,): (i64,) = sqlx::query_as(
        "insert into judge_job (project_id, judge_model_id, template_id, both_orders, \
             inconsistent_as, max_items, max_tokens, concurrency, created_by) \
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9) returning judge_job_id",
    )
    .bind(job.project_id)
    .bind(job.judge_model_id)
    .bind(job.template_id)
    .bind(job.both_orders)
    .bind(&job.inconsistent_as)
    .bind(job.max_items)
    .bind(job.max_tokens)
    .bind(job.concurrency)
    .bind(job.created_by)
    .fetch_one(db)
    .await?;
    Ok(id)
}

/// A job as workers and the pages read it.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct Job {
    /// Primary key.
    pub judge_job_id: i64,
    /// Project.
    pub project_id: i64,
    /// Its name.
    pub project: String,
    /// The judge.
    pub judge_model_id: i64,
    /// Its name.
    pub judge: String,
    /// Its kind (`openai` or `local`).
    pub judge_kind: String,
    /// Its configuration.
    pub judge_config: serde_json::Value,
    /// Template.
    pub template_id: i64,
    /// The template's name.
    pub template_name: String,
    /// Its version.
    pub template_version: i32,
    /// The template's protocol: `pairwise` or `rating`.
    pub protocol: String,
    /// The project's protocol settings (a rating project's criteria).
    pub project_config: serde_json::Value,
    /// Both display orders.
    pub both_orders: bool,
    /// What a swap-inconsistent item counts as.
    pub inconsistent_as: String,
    /// Items at most.
    pub max_items: Option<i32>,
    /// Tokens per answer at most.
    pub max_tokens: i32,
    /// Requests at once.
    pub concurrency: i32,
    /// `queued`, `running`, `done`, `failed` or `cancelled`.
    pub status: String,
    /// The worker running it.
    pub worker_id: Option<String>,
    /// Why it failed.
    pub error: Option<String>,
    /// When it was queued.
    pub created_at: OffsetDateTime,
}

const JOB_SELECT: &str = "select j.judge_job_id, j.project_id, p.name as project, \
        j.judge_model_id, m.name as judge, m.kind as judge_kind, m.config as judge_config, \
        j.template_id, t.name as template_name, t.version as template_version, t.protocol, \
        p.config as project_config, j.both_orders, \
        j.inconsistent_as, j.max_items, j.max_tokens, j.concurrency, j.status, j.worker_id, \
        j.error, j.created_at \
     from judge_job j join project p on p.project_id = j.project_id \
     join model m on m.model_id = j.judge_model_id \
     join judge_template t on t.template_id = j.template_id";

/// The job with this id.
///
/// # Errors
/// [`crate::Error::NotFound`] for an unknown id.
pub async fn job(db: impl PgExecutor<'_>, id: i64) -> Result<Job> {
    Ok(
        sqlx::query_as(&format!("{JOB_SELECT} where j.judge_job_id = $1"))
            .bind(id)
            .fetch_one(db)
            .await?,
    )
}

/// The latest jobs, newest first.
///
/// # Errors
/// Only on database failure.
pub async fn jobs(db: impl PgExecutor<'_>, limit: i64) -> Result<Vec<Job>> {
    Ok(sqlx::query_as(&format!(
        "{JOB_SELECT} order by j.judge_job_id desc limit $1"
    ))
    .bind(limit)
    .fetch_all(db)
    .await?)
}

/// Claims the oldest queued job for `worker_id` (or the job `only`, when it is queued), as
/// training runs are claimed: `FOR UPDATE SKIP LOCKED`, so two workers never take the same one.
///
/// # Errors
/// Only on database failure.
pub async fn claim(pool: &PgPool, worker_id: &str, only: Option<i64>) -> Result<Option<Job>> {
    let claimed: Option<(i64,)> = sqlx::query_as(
        "update judge_job set status = 'running', worker_id = $1, heartbeat_at = now(), \
                started_at = coalesce(started_at, now()), attempts = attempts + 1, error = null \
         where judge_job_id = ( \
             select judge_job_id from judge_job \
             where status = 'queued' and ($2::bigint is null or judge_job_id = $2) \
             order by created_at, judge_job_id for update skip locked limit 1) \
         returning judge_job_id",
    )
    .bind(worker_id)
    .bind(only)
    .fetch_optional(pool)
    .await?;
    match claimed {
        Some((id,)) => Ok(Some(job(pool, id).await?)),
        None => Ok(None),
    }
}

/// Records that `worker_id` is alive and still running job `id`; says whether to go on.
///
/// # Errors
/// Only on database failure.
pub async fn heartbeat(db: impl PgExecutor<'_>, id: i64, worker_id: &str) -> Result<Signal> {
    let row: Option<(bool,)> = sqlx::query_as(
        "update judge_job set heartbeat_at = now() \
         where judge_job_id = $1 and worker_id = $2 and status = 'running' \
         returning cancel_requested",
    )
    .bind(id)
    .bind(worker_id)
    .fetch_optional(db)
    .await?;
    Ok(crate::training::signal(row))
}

/// Ends `worker_id`'s run of job `id` with `status` (`done`, `failed`, `cancelled`, or `queued`
/// to hand it back); false when the job is no longer this worker's.
///
/// # Errors
/// Only on database failure.
pub async fn finish(
    db: impl PgExecutor<'_>,
    id: i64,
    worker_id: &str,
    status: &str,
    error: Option<&str>,
) -> Result<bool> {
    let done = sqlx::query(
        "update judge_job set status = $3, error = $4, \
                finished_at = case when $3 = 'queued' then null else now() end, \
                worker_id = case when $3 = 'queued' then null else worker_id end \
         where judge_job_id = $1 and worker_id = $2 and status = 'running'",
    )
    .bind(id)
    .bind(worker_id)
    .bind(status)
    .bind(error)
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Asks a queued or running job to stop: a queued one is cancelled at once, a running one at
/// its worker's next heartbeat. False when the job has already ended.
///
/// # Errors
/// [`crate::Error::NotFound`] for an unknown id.
pub async fn cancel(pool: &PgPool, id: i64) -> Result<bool> {
    let stopping = sqlx::query(
        "update judge_job set \
             status = case when status = 'queued' then 'cancelled' else status end, \
             finished_at = case when status = 'queued' then now() else finished_at end, \
             cancel_requested = true \
         where judge_job_id = $1 and status in ('queued', 'running')",
    )
    .bind(id)
    .execute(pool)
    .await?
    .rows_affected()
        == 1;
    if stopping {
        return Ok(true);
    }
    let exists: Option<(i64,)> =
        sqlx::query_as("select judge_job_id from judge_job where judge_job_id = $1")
            .bind(id)
            .fetch_optional(pool)
            .await?;
    exists.map(|_| false).ok_or(crate::Error::NotFound)
}

/// Hands running jobs whose worker has not reported for `stale_after_secs` back to the queue
/// (their verdicts so far are kept; the next worker judges only what is missing). Returns how
/// many.
///
/// # Errors
/// Only on database failure.
pub async fn requeue_stale(db: impl PgExecutor<'_>, stale_after_secs: f64) -> Result<u64> {
    let done = sqlx::query(
        "update judge_job set status = 'queued', worker_id = null \
         where status = 'running' and heartbeat_at < now() - make_interval(secs => $1)",
    )
    .bind(stale_after_secs)
    .execute(db)
    .await?;
    Ok(done.rows_affected())
}

/// An item still to judge: its prompt and its two responses in the item's order.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Pending {
    /// The item.
    pub item_id: i64,
    /// Prompt text.
    pub prompt: String,
    /// The responses' texts, the item's first one first.
    pub texts: Vec<String>,
    /// The orders still to judge: false for A/B as stored, true for swapped.
    pub missing: Vec<bool>,
}

/// The items of the job's project (two responses each, in item order, after item `after`) that
/// still miss a verdict of the job's judge and template in an order the job asks for, at most
/// `limit`.
///
/// # Errors
/// Only on database failure.
pub async fn pending(
    db: impl PgExecutor<'_>,
    job: &Job,
    after: i64,
    limit: i64,
) -> Result<Vec<Pending>> {
    Ok(sqlx::query_as(
        "with items as ( \
             select i.item_id, p.text as prompt, \
                    array_agg(r.text order by ir.position) as texts \
             from item i join prompt p on p.prompt_id = i.prompt_id \
             join item_response ir on ir.item_id = i.item_id \
             join response r on r.response_id = ir.response_id \
             where i.project_id = $1 and i.item_id > $6 \
             group by i.item_id, p.text having count(*) = 2), \
         orders as ( \
             select s.swapped from unnest(array[false, true]) as s(swapped) \
             where $4 or not s.swapped) \
         select it.item_id, it.prompt, it.texts, \
                array_agg(o.swapped order by o.swapped) as missing \
         from items it cross join orders o \
         where not exists (select 1 from judge_verdict v \
                           where v.judge_model_id = $2 and v.template_id = $3 \
                             and v.item_id = it.item_id and v.swapped = o.swapped) \
         group by it.item_id, it.prompt, it.texts \
         order by it.item_id limit $5",
    )
    .bind(job.project_id)
    .bind(job.judge_model_id)
    .bind(job.template_id)
    .bind(job.both_orders)
    .bind(limit)
    .bind(after)
    .fetch_all(db)
    .await?)
}

/// How far a job has got: items of its project with two responses, and those of them whose
/// verdicts (every order the job asks for) are in.
///
/// # Errors
/// Only on database failure.
pub async fn progress(db: impl PgExecutor<'_>, job: &Job) -> Result<(i64, i64)> {
    Ok(sqlx::query_as(
        "with items as ( \
             select i.item_id from item i join item_response ir on ir.item_id = i.item_id \
             where i.project_id = $1 group by i.item_id having count(*) = 2) \
         select count(*), \
                count(*) filter (where (select count(*) from judge_verdict v \
                                        where v.judge_model_id = $2 and v.template_id = $3 \
                                          and v.item_id = items.item_id \
                                          and ($4 or not v.swapped)) \
                                       = case when $4 then 2 else 1 end) \
         from items",
    )
    .bind(job.project_id)
    .bind(job.judge_model_id)
    .bind(job.template_id)
    .bind(job.both_orders)
    .fetch_one(db)
    .await?)
}

/// One verdict to record.
#[derive(Debug, Clone, PartialEq)]
pub struct NewVerdict {
    /// The item.
    pub item_id: i64,
    /// Shown swapped.
    pub swapped: bool,
    /// `a`, `b`, `tie`, `both_bad` (in the item's order) or `unparsable`.
    pub verdict: String,
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

/// What recording a verdict did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Recorded {
    /// The verdict is new (false: this order was judged already, and nothing changed).
    pub verdict: bool,
    /// The item's vote was recorded now (its last verdict came in).
    pub vote: bool,
}

/// Records a verdict of the job's judge and template once, and when the item then has every
/// verdict the job asks for, its `llm_judge` vote (once), in one transaction: decided the same
/// way in both orders or only one asked, that winner; swap-inconsistent (or one order
/// unparsable), the job's `inconsistent_as` (a tie, or no vote); unparsable in every order, no
/// vote.
///
/// # Errors
/// Only on database failure.
pub async fn record(pool: &PgPool, job: &Job, v: &NewVerdict) -> Result<Recorded> {
    let mut tx = pool.begin().await?;
    let inserted = sqlx::query(
        "insert into judge_verdict (judge_job_id, judge_model_id, template_id, item_id, swapped, \
             verdict, raw_output, judge_config, latency_ms, prompt_tokens, completion_tokens, \
             attempts) \
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) \
         on conflict on constraint judge_verdict_once_key do nothing",
    )
    .bind(job.judge_job_id)
    .bind(job.judge_model_id)
    .bind(job.template_id)
    .bind(v.item_id)
    .bind(v.swapped)
    .bind(&v.verdict)
    .bind(&v.raw_output)
    .bind(&v.judge_config)
    .bind(v.latency_ms)
    .bind(v.prompt_tokens)
    .bind(v.completion_tokens)
    .bind(v.attempts)
    .execute(&mut *tx)
    .await?
    .rows_affected()
        == 1;
    let verdicts: Vec<(bool, String)> = sqlx::query_as(
        "select swapped, verdict from judge_verdict \
         where judge_model_id = $1 and template_id = $2 and item_id = $3 and ($4 or not swapped) \
         order by swapped",
    )
    .bind(job.judge_model_id)
    .bind(job.template_id)
    .bind(v.item_id)
    .bind(job.both_orders)
    .fetch_all(&mut *tx)
    .await?;
    let needed = if job.both_orders { 2 } else { 1 };
    let mut vote = false;
    if verdicts.len() == needed
        && let Some(winner) = item_winner(&verdicts, &job.inconsistent_as)
    {
        let key = format!(
            "judge:{}:{}:{}",
            job.judge_model_id, job.template_id, v.item_id
        );
        vote = sqlx::query(
            "insert into vote (project_id, item_id, source, model_a_id, model_b_id, \
                 response_a_id, response_b_id, winner, rationale, import_key) \
             select i.project_id, i.item_id, 'llm_judge', ra.model_id, rb.model_id, \
                    ra.response_id, rb.response_id, $2, $3, $4 \
             from item i \
             join item_response ia on ia.item_id = i.item_id and ia.position = 0 \
             join response ra on ra.response_id = ia.response_id \
             join item_response ib on ib.item_id = i.item_id and ib.position = 1 \
             join response rb on rb.response_id = ib.response_id \
             where i.item_id = $1 and ra.model_id <> rb.model_id \
             on conflict on constraint vote_import_key_key do nothing",
        )
        .bind(v.item_id)
        .bind(winner.0)
        .bind(winner.1)
        .bind(key)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
    }
    tx.commit().await?;
    Ok(Recorded {
        verdict: inserted,
        vote,
    })
}

/// What an item's verdicts (in the item's order, every order asked) decide.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome<'a> {
    /// Nothing parsable.
    Undecided,
    /// A winner: the one parsable verdict, both when they agree, or `tie` when two verdicts
    /// name no response (a tie and "both bad").
    Winner(&'a str),
    /// Swap-inconsistent: the orders name different responses, or one names a response and
    /// the other none.
    Inconsistent,
}

/// The outcome of an item's verdicts: the one rule for its vote and for the audit.
#[must_use]
pub fn outcome<'a>(verdicts: &[&'a str]) -> Outcome<'a> {
    let decisive = |v: &str| v == "a" || v == "b";
    let parsed: Vec<&'a str> = verdicts
        .iter()
        .copied()
        .filter(|v| *v != "unparsable")
        .collect();
    match parsed.as_slice() {
        [] => Outcome::Undecided,
        [one] => Outcome::Winner(one),
        [x, y] if x == y => Outcome::Winner(x),
        [x, y] if !decisive(x) && !decisive(y) => Outcome::Winner("tie"),
        _ => Outcome::Inconsistent,
    }
}

/// The vote of an item's verdicts (every order asked), with a note when they disagree: `None`
/// for no vote.
fn item_winner(
    verdicts: &[(bool, String)],
    inconsistent_as: &str,
) -> Option<(String, Option<String>)> {
    let labels: Vec<&str> = verdicts.iter().map(|(_, v)| v.as_str()).collect();
    match outcome(&labels) {
        Outcome::Undecided => None,
        Outcome::Winner(w) => Some((w.to_owned(), None)),
        Outcome::Inconsistent => (inconsistent_as == "tie").then(|| {
            let note = format!(
                "swap-inconsistent: {}",
                verdicts
                    .iter()
                    .map(|(swapped, v)| format!("{} {v}", if *swapped { "B/A" } else { "A/B" }))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            ("tie".to_owned(), Some(note))
        }),
    }
}

/// One item's verdicts by a judge and template, with the item's human votes, for the audit.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct AuditRow {
    /// The judge (a model's name; for imported judge votes, their annotator's).
    pub judge: String,
    /// The template's name (`imported` for imported judge votes).
    pub template: String,
    /// Its version (0 for imported judge votes).
    pub version: i32,
    /// The item.
    pub item_id: i64,
    /// Its category (from the prompt), if any.
    pub category: Option<String>,
    /// Verdict with the item's first response shown as A (an imported vote's winner), if any.
    pub ab: Option<String>,
    /// Verdict with the responses swapped, if judged.
    pub ba: Option<String>,
    /// Characters of the item's first response minus its second.
    pub length_diff: i64,
    /// Human votes (every source but `llm_judge`, excluded annotators left out) for the first
    /// response, the second, a tie and "both bad".
    pub human: Vec<i64>,
    /// The judge model's family, when named.
    pub judge_family: Option<String>,
    /// The families of the models of the first and the second response (`None` where unnamed).
    pub families: Vec<Option<String>>,
}

/// Every judged item of a project (two responses): per judge and template, both orders'
/// verdicts, then the imported `llm_judge` votes as a judge of their own; with the length
/// difference of the responses and the human votes. Winners are in the item's order.
///
/// # Errors
/// Only on database failure.
pub async fn audit_rows(db: impl PgExecutor<'_>, project_id: i64) -> Result<Vec<AuditRow>> {
    Ok(sqlx::query_as(
        "with firsts as ( \
             select ir.item_id, max(ir.response_id) filter (where ir.position = 0) as first_id, \
                    array_agg(m.family order by ir.position) as families, \
                    sum(case when ir.position = 0 then length(r.text) \
                             else -length(r.text) end)::bigint as length_diff \
             from item_response ir join response r on r.response_id = ir.response_id \
             join model m on m.model_id = r.model_id \
             join item i on i.item_id = ir.item_id \
             where i.project_id = $1 group by ir.item_id having count(*) = 2), \
         votes as ( \
             select v.item_id, v.source, v.import_key, v.annotator_id, \
                    case when v.winner in ('a', 'b') and v.response_a_id <> f.first_id \
                         then case v.winner when 'a' then 'b' else 'a' end \
                         else v.winner end as winner \
             from vote v join firsts f on f.item_id = v.item_id \
             left join app_user u on u.user_id = v.annotator_id \
             where not coalesce(u.excluded, false)), \
         humans as ( \
             select item_id, array[count(*) filter (where winner = 'a'), \
                                   count(*) filter (where winner = 'b'), \
                                   count(*) filter (where winner = 'tie'), \
                                   count(*) filter (where winner = 'both_bad')] as human \
             from votes where source <> 'llm_judge' group by item_id), \
         judged as ( \
             select m.name as judge, t.name as template, t.version, v.item_id, \
                    max(v.verdict) filter (where not v.swapped) as ab, \
                    max(v.verdict) filter (where v.swapped) as ba, m.family as judge_family \
             from judge_verdict v join firsts f on f.item_id = v.item_id \
             join model m on m.model_id = v.judge_model_id \
             join judge_template t on t.template_id = v.template_id \
             group by m.name, m.family, t.name, t.version, v.item_id \
             union all \
             select coalesce(u.external_id, u.username, 'imported judge'), 'imported', 0, \
                    vo.item_id, vo.winner, null, null \
             from votes vo left join app_user u on u.user_id = vo.annotator_id \
             where vo.source = 'llm_judge' \
               and (vo.import_key is null or vo.import_key not like 'judge:%')) \
         select j.judge, j.template, j.version, j.item_id, p.category, j.ab, j.ba, \
                f.length_diff, coalesce(h.human, array[0, 0, 0, 0]::bigint[]) as human, \
                j.judge_family, f.families \
         from judged j join firsts f on f.item_id = j.item_id \
         join item i on i.item_id = j.item_id join prompt p on p.prompt_id = i.prompt_id \
         left join humans h on h.item_id = j.item_id \
         order by j.judge, j.template, j.version, j.item_id",
    )
    .bind(project_id)
    .fetch_all(db)
    .await?)
}

/// The named constraints this module's queries can raise, with their users' messages.
pub const CONSTRAINTS: &[crate::Constraint] = &[
    crate::Constraint {
        name: "judge_template_name_check",
        violation: crate::Violation::Invalid,
        message: "a template name is 1 to 64 letters, digits, '.', '_' or '-'",
    },
    crate::Constraint {
        name: "judge_template_body_check",
        violation: crate::Violation::Invalid,
        message: "a template has at most 20000 characters and contains {question}, and \
                  {answer_a} and {answer_b} (pairwise) or {answer} (rating)",
    },
    crate::Constraint {
        name: "judge_template_protocol_check",
        violation: crate::Violation::Invalid,
        message: "a template is `pairwise` or `rating`",
    },
    crate::Constraint {
        name: "model_family_check",
        violation: crate::Violation::Invalid,
        message: "a family is 1 to 64 letters, digits, '.', '_' or '-'",
    },
    crate::Constraint {
        name: "judge_job_max_items_check",
        violation: crate::Violation::Invalid,
        message: "the item limit is a positive number",
    },
    crate::Constraint {
        name: "judge_job_max_tokens_check",
        violation: crate::Violation::Invalid,
        message: "max tokens is from 16 to 32768",
    },
    crate::Constraint {
        name: "judge_job_concurrency_check",
        violation: crate::Violation::Invalid,
        message: "concurrency is from 1 to 64",
    },
];

#[cfg(test)]
mod tests {
    use super::item_winner;

    fn v(list: &[(bool, &str)]) -> Vec<(bool, String)> {
        list.iter().map(|(s, x)| (*s, (*x).to_owned())).collect()
    }

    #[test]
    fn both_orders_agreeing_give_their_winner_and_disagreeing_a_tie_or_nothing() {
        assert_eq!(
            item_winner(&v(&[(false, "a"), (true, "a")]), "tie"),
            Some(("a".to_owned(), None))
        );
        let (winner, note) = item_winner(&v(&[(false, "a"), (true, "b")]), "tie").unwrap();
        assert_eq!(winner, "tie");
        assert_eq!(note.unwrap(), "swap-inconsistent: A/B a, B/A b");
        assert_eq!(item_winner(&v(&[(false, "a"), (true, "b")]), "drop"), None);
        // One order unparsable: the other decides (it is not a disagreement).
        assert_eq!(
            item_winner(&v(&[(false, "a"), (true, "unparsable")]), "tie"),
            Some(("a".to_owned(), None))
        );
        // A tie in one order and "both bad" in the other: a tie.
        assert_eq!(
            item_winner(&v(&[(false, "tie"), (true, "both_bad")]), "drop"),
            Some(("tie".to_owned(), None))
        );
        assert_eq!(
            item_winner(&v(&[(false, "unparsable"), (true, "unparsable")]), "tie"),
            None
        );
        assert_eq!(
            item_winner(&v(&[(false, "both_bad")]), "tie"),
            Some(("both_bad".to_owned(), None))
        );
    }
}

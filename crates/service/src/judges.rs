//! LLM judges (docs/design.md §3, flow 5): versioned templates, judge jobs over a project's
//! items in both display orders, the reading of a verdict, and the audit of each judge against
//! the humans. Asking the judge is the binary's part (its model backends); everything else is
//! here.

use std::collections::BTreeMap;

use api::judges::{JudgeAudit, JudgeAuditRow, JudgeJobView, Share};
use sha2::{Digest, Sha256};

pub use db::judges::{Job, NewVerdict, Pending, Signal, Template};

use crate::{AppError, OrApp};

pub mod ratings;

/// The template a job uses when none is named.
pub const DEFAULT_TEMPLATE: &str = "pairwise-verdict";

/// The default template's prompt: reasoning first, then one of four verdicts on the last line.
pub const DEFAULT_TEMPLATE_BODY: &str = "\
You compare two answers to the same question. Judge which one serves the person who asked \
better: correct, complete, clear and honest. The order of the answers and their length say \
nothing about their quality.

First explain your reasoning in a few sentences. Then end with exactly one verdict on its own \
line:
[[A]] if answer A is better,
[[B]] if answer B is better,
[[C]] if they are equally good,
[[D]] if both are bad.

[Question]
{question}

[Answer A]
{answer_a}

[Answer B]
{answer_b}
";

/// Registers a template under `name` (a new version when the body differs from every stored
/// one; the same body again changes nothing). Returns it and whether it is new. Its protocol
/// follows from its placeholders: `{answer_a}` and `{answer_b}` make a pairwise template,
/// `{answer}` alone a rating template.
///
/// # Errors
/// 422 for a bad name, a body without its placeholders, or a name whose versions are for the
/// other protocol.
pub async fn register_template(
    pool: &db::PgPool,
    name: &str,
    body: &str,
) -> Result<(Template, bool), AppError> {
    let sha = hex_sha256(body);
    db::judges::register_template(pool, name.trim(), template_protocol(body), body, &sha)
        .await
        .or_app()
}

/// The protocol a template body is written for (see [`register_template`]).
#[must_use]
pub fn template_protocol(body: &str) -> &'static str {
    let pairwise = body.contains("{answer_a}") || body.contains("{answer_b}");
    if !pairwise && body.contains("{answer}") {
        "rating"
    } else {
        "pairwise"
    }
}

/// Lowercase hex SHA-256 of `text`.
#[must_use]
pub fn hex_sha256(text: &str) -> String {
    use std::fmt::Write;
    Sha256::digest(text.as_bytes())
        .iter()
        .fold(String::with_capacity(64), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

/// The template's prompt for one item: `{question}`, `{answer_a}` and `{answer_b}` replaced.
#[must_use]
pub fn render(body: &str, question: &str, answer_a: &str, answer_b: &str) -> String {
    fill(
        body,
        &[
            ("{question}", question),
            ("{answer_a}", answer_a),
            ("{answer_b}", answer_b),
        ],
    )
}

/// Replaces each placeholder of `values` in one pass, so text inside a value is never read as
/// a placeholder; other braces stay as they are.
#[must_use]
pub fn fill(body: &str, values: &[(&str, &str)]) -> String {
    let mut out =
        String::with_capacity(body.len() + values.iter().map(|v| v.1.len()).sum::<usize>());
    let mut rest = body;
    while let Some(at) = rest.find('{') {
        out.push_str(&rest[..at]);
        let tail = &rest[at..];
        let (value, len) = values
            .iter()
            .find(|(key, _)| tail.starts_with(key))
            .map_or(("{", 1), |(key, value)| (*value, key.len()));
        out.push_str(value);
        rest = &tail[len..];
    }
    out.push_str(rest);
    out
}

/// A verdict as the judge wrote it (A and B are the answers as shown).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Label {
    /// `[[A]]`.
    A,
    /// `[[B]]`.
    B,
    /// `[[C]]`: a tie.
    Tie,
    /// `[[D]]`: both bad.
    BothBad,
}

/// Reads the verdict: the last `[[A]]`, `[[B]]`, `[[C]]` or `[[D]]` in the output (the
/// reasoning before it may quote the labels). `None`: unparsable.
#[must_use]
pub fn parse_verdict(output: &str) -> Option<Label> {
    let bytes = output.as_bytes();
    (0..bytes.len().saturating_sub(4)).rev().find_map(|i| {
        if &bytes[i..i + 2] != b"[[" || &bytes[i + 3..i + 5] != b"]]" {
            return None;
        }
        match bytes[i + 2] {
            b'A' => Some(Label::A),
            b'B' => Some(Label::B),
            b'C' => Some(Label::Tie),
            b'D' => Some(Label::BothBad),
            _ => None,
        }
    })
}

/// The stored verdict in the item's order (`a`: its first response) for a label given with the
/// responses shown `swapped` or not; `unparsable` for none.
#[must_use]
pub const fn item_verdict(label: Option<Label>, swapped: bool) -> &'static str {
    match (label, swapped) {
        (Some(Label::A), false) | (Some(Label::B), true) => "a",
        (Some(Label::B), false) | (Some(Label::A), true) => "b",
        (Some(Label::Tie), _) => "tie",
        (Some(Label::BothBad), _) => "both_bad",
        (None, _) => "unparsable",
    }
}

/// What a judge job is asked to do (`verdict judge run`, the API).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobRequest {
    /// Project name.
    pub project: String,
    /// The judge model's name.
    pub judge: String,
    /// Template name ([`DEFAULT_TEMPLATE`] when `None`, registered on first use).
    pub template: Option<String>,
    /// Both display orders.
    pub both_orders: bool,
    /// Items at most.
    pub max_items: Option<i32>,
    /// Requests at once.
    pub concurrency: i32,
    /// Tokens per answer at most.
    pub max_tokens: i32,
    /// What a swap-inconsistent item counts as: `tie` or `drop`.
    pub inconsistent_as: String,
    /// Who asks.
    pub created_by: Option<i64>,
}

/// What an item limit must be.
const LIMIT_RULE: &str = "the item limit is a positive number";

/// A job as the admin page's form sends it (empty fields: the defaults).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobForm {
    /// Project name.
    pub project: String,
    /// The judge model's name.
    pub judge: String,
    /// Template name.
    pub template: Option<String>,
    /// `both` or `one`.
    pub orders: Option<String>,
    /// Items at most, as typed.
    pub limit: Option<String>,
}

/// The job a form asks for.
///
/// # Errors
/// 422 for a limit that is not a positive whole number, or unknown orders.
pub fn form_request(form: JobForm, created_by: Option<i64>) -> Result<JobRequest, AppError> {
    let limit = match form
        .limit
        .as_deref()
        .map(str::trim)
        .filter(|l| !l.is_empty())
    {
        None => None,
        Some(l) => match l.parse::<i32>() {
            Ok(n) if n > 0 => Some(n),
            _ => return Err(AppError::Unprocessable(LIMIT_RULE.into())),
        },
    };
    let body = api::judges::NewJudgeJob {
        project: form.project,
        judge: form.judge,
        template: form.template.filter(|t| !t.trim().is_empty()),
        orders: form.orders.filter(|o| !o.trim().is_empty()),
        limit,
        concurrency: None,
        max_tokens: None,
        inconsistent_as: None,
    };
    request_of(&body, created_by)
}

/// A job as `POST /api/v1/judge-jobs` asks for it, with the CLI's defaults for what it leaves
/// out.
///
/// # Errors
/// 422 for orders other than `both` or `one`.
pub fn request_of(
    body: &api::judges::NewJudgeJob,
    created_by: Option<i64>,
) -> Result<JobRequest, AppError> {
    let both_orders = match body.orders.as_deref().unwrap_or("both") {
        "both" => true,
        "one" => false,
        _ => {
            return Err(AppError::Unprocessable("orders is `both` or `one`".into()));
        }
    };
    Ok(JobRequest {
        project: body.project.clone(),
        judge: body.judge.clone(),
        template: body.template.clone(),
        both_orders,
        max_items: body.limit,
        concurrency: body.concurrency.unwrap_or(4),
        max_tokens: body.max_tokens.unwrap_or(1024),
        inconsistent_as: body.inconsistent_as.clone().unwrap_or_else(|| "tie".into()),
        created_by,
    })
}

/// Queues a judge job after checking that the project is pairwise or rating, the judge can
/// answer (`openai` or `local`) and the template exists and fits the project; returns it. A
/// rating job scores each response once, so its orders are ignored.
///
/// # Errors
/// 404 for an unknown project, judge or template; 422 for a project, judge or template that
/// cannot take part, or settings out of range.
pub async fn queue(pool: &db::PgPool, r: &JobRequest) -> Result<Job, AppError> {
    let (project_id, protocol) =
        crate::error::or_not_found(db::projects::by_name(pool, &r.project).await, || {
            format!("no project named {:?}", r.project)
        })?;
    if protocol != "pairwise" && protocol != "rating" {
        return Err(AppError::Unprocessable(format!(
            "judges compare two responses or rate one: {:?} is a {protocol} project",
            r.project
        )));
    }
    let (judge_model_id, kind) =
        crate::error::or_not_found(db::judges::model_by_name(pool, &r.judge).await, || {
            format!("no model named {:?}", r.judge)
        })?;
    if !matches!(kind.as_str(), "openai" | "local") {
        return Err(AppError::Unprocessable(format!(
            "{:?} is a {kind} model: a judge is an `openai` endpoint or a `local` model",
            r.judge
        )));
    }
    let template = job_template(pool, r.template.as_deref(), &protocol).await?;
    if template.protocol != protocol {
        return Err(AppError::Unprocessable(format!(
            "the template {:?} is for {} projects; {:?} is a {protocol} project",
            template.name, template.protocol, r.project
        )));
    }
    if r.max_items.is_some_and(|n| n <= 0) {
        return Err(AppError::Unprocessable(LIMIT_RULE.into()));
    }
    if !matches!(r.inconsistent_as.as_str(), "tie" | "drop") {
        return Err(AppError::Unprocessable(
            "a swap-inconsistent item counts as `tie` or `drop`".into(),
        ));
    }
    let job = db::judges::NewJob {
        project_id,
        judge_model_id,
        template_id: template.template_id,
        both_orders: r.both_orders && protocol == "pairwise",
        inconsistent_as: r.inconsistent_as.clone(),
        max_items: r.max_items,
        max_tokens: r.max_tokens,
        concurrency: r.concurrency,
        created_by: r.created_by,
    };
    let id = db::judges::create_job(pool, &job).await.or_app()?;
    db::judges::job(pool, id).await.or_app()
}

/// The latest version of the template `name`, or of the project protocol's built-in one when
/// `None` (the built-in templates are registered on first use).
async fn job_template(
    pool: &db::PgPool,
    name: Option<&str>,
    protocol: &str,
) -> Result<Template, AppError> {
    let builtin = if protocol == "rating" {
        (ratings::DEFAULT_TEMPLATE, ratings::DEFAULT_TEMPLATE_BODY)
    } else {
        (DEFAULT_TEMPLATE, DEFAULT_TEMPLATE_BODY)
    };
    let name = name.unwrap_or(builtin.0);
    match db::judges::template(pool, name).await {
        Ok(t) => Ok(t),
        Err(db::Error::NotFound) => {
            let known = [
                (DEFAULT_TEMPLATE, DEFAULT_TEMPLATE_BODY),
                (ratings::DEFAULT_TEMPLATE, ratings::DEFAULT_TEMPLATE_BODY),
            ];
            match known.iter().find(|(n, _)| *n == name) {
                Some((n, body)) => Ok(register_template(pool, n, body).await?.0),
                None => Err(AppError::NotFound(format!(
                    "no judge template named {name:?}"
                ))),
            }
        }
        Err(e) => Err(crate::db_error(e)),
    }
}

/// Claims a queued job for `worker` (only job `only`, when given).
///
/// # Errors
/// Internal on database failure.
pub async fn claim(
    pool: &db::PgPool,
    worker: &str,
    only: Option<i64>,
) -> Result<Option<Job>, AppError> {
    db::judges::claim(pool, worker, only).await.or_app()
}

/// Reports that `worker` is alive on job `id`; says whether to go on.
///
/// # Errors
/// Internal on database failure.
pub async fn heartbeat(pool: &db::PgPool, id: i64, worker: &str) -> Result<Signal, AppError> {
    db::judges::heartbeat(pool, id, worker).await.or_app()
}

/// Ends `worker`'s run of job `id` (`done`, `failed`, `cancelled`, or `queued` to hand it back).
///
/// # Errors
/// Internal on database failure.
pub async fn finish(
    pool: &db::PgPool,
    id: i64,
    worker: &str,
    status: &str,
    error: Option<&str>,
) -> Result<bool, AppError> {
    db::judges::finish(pool, id, worker, status, error)
        .await
        .or_app()
}

/// Asks a job to stop.
///
/// # Errors
/// 404 for an unknown job; 409 for one that has ended.
pub async fn cancel(pool: &db::PgPool, id: i64) -> Result<(), AppError> {
    let stopping = crate::error::or_not_found(db::judges::cancel(pool, id).await, || {
        format!("no judge job #{id}")
    })?;
    if stopping {
        Ok(())
    } else {
        Err(AppError::Conflict(format!(
            "judge job #{id} has already ended"
        )))
    }
}

/// Hands jobs whose worker went quiet back to the queue; returns how many.
///
/// # Errors
/// Internal on database failure.
pub async fn requeue_stale(pool: &db::PgPool, stale_after_secs: f64) -> Result<u64, AppError> {
    db::judges::requeue_stale(pool, stale_after_secs)
        .await
        .or_app()
}

/// The job's template.
///
/// # Errors
/// Internal on database failure.
pub async fn template_of(pool: &db::PgPool, job: &Job) -> Result<Template, AppError> {
    db::judges::template_by_id(pool, job.template_id)
        .await
        .or_app()
}

/// One request a job still has to make: an item in one display order (pairwise), or one
/// response on one criterion (rating).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Task {
    /// A pairwise item, shown swapped or not.
    Order(Pending, bool),
    /// A response to score.
    Score(ratings::ScoreTask),
}

impl Task {
    /// The item it belongs to.
    #[must_use]
    pub const fn item_id(&self) -> i64 {
        match self {
            Self::Order(item, _) => item.item_id,
            Self::Score(task) => task.pending.item_id,
        }
    }

    /// The template's prompt for it.
    #[must_use]
    pub fn prompt(&self, body: &str) -> String {
        match self {
            Self::Order(item, swapped) => {
                let (first, second) = if *swapped { (1, 0) } else { (0, 1) };
                render(body, &item.prompt, &item.texts[first], &item.texts[second])
            }
            Self::Score(task) => task.prompt(body),
        }
    }
}

/// The tasks of up to `limit` items after item `after` that the job still has to judge, in
/// item order; with the last item's id (where the next call goes on from), `None` when none
/// is left.
///
/// # Errors
/// Internal on database failure.
pub async fn tasks(
    pool: &db::PgPool,
    job: &Job,
    after: i64,
    limit: i64,
) -> Result<(Vec<Task>, Option<i64>), AppError> {
    if job.protocol == "rating" {
        let criteria = ratings::criteria(&job.project_config);
        let names: Vec<String> = criteria.iter().map(|c| c.name.clone()).collect();
        let rows = db::judges::scores::pending(pool, job, &names, after, limit)
            .await
            .or_app()?;
        let last = rows.last().map(|r| r.item_id);
        let tasks = rows
            .into_iter()
            .filter_map(|pending| {
                let criterion = criteria
                    .iter()
                    .find(|c| c.name == pending.criterion)?
                    .clone();
                Some(Task::Score(ratings::ScoreTask { pending, criterion }))
            })
            .collect();
        return Ok((tasks, last));
    }
    let items = db::judges::pending(pool, job, after, limit)
        .await
        .or_app()?;
    let last = items.last().map(|i| i.item_id);
    let tasks = items
        .into_iter()
        .flat_map(|item| {
            let missing = item.missing.clone();
            missing
                .into_iter()
                .map(move |swapped| Task::Order(item.clone(), swapped))
        })
        .collect();
    Ok((tasks, last))
}

/// A judge's answer to one task, as it came.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    /// What the judge wrote.
    pub text: String,
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

/// What recording an answer did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Recording {
    /// The verdict or score is new (false: it was recorded before, and nothing changed).
    pub new: bool,
    /// It named no verdict (no score on the scale).
    pub unparsable: bool,
    /// A judgement was recorded now: the item's vote (its last verdict came in), or the
    /// score's rating.
    pub judgement: bool,
}

/// Reads an answer to a task and records it once, with the judgement it completes.
///
/// # Errors
/// Internal on database failure.
pub async fn record(
    pool: &db::PgPool,
    job: &Job,
    task: &Task,
    answer: Answer,
) -> Result<Recording, AppError> {
    let raw_output = answer.text.replace('\0', "");
    match task {
        Task::Order(item, swapped) => {
            let label = parse_verdict(&raw_output);
            let verdict = NewVerdict {
                item_id: item.item_id,
                swapped: *swapped,
                verdict: item_verdict(label, *swapped).to_owned(),
                raw_output,
                judge_config: answer.judge_config,
                latency_ms: answer.latency_ms,
                prompt_tokens: answer.prompt_tokens,
                completion_tokens: answer.completion_tokens,
                attempts: answer.attempts,
            };
            let r = db::judges::record(pool, job, &verdict).await.or_app()?;
            Ok(Recording {
                new: r.verdict,
                unparsable: label.is_none(),
                judgement: r.vote,
            })
        }
        Task::Score(t) => {
            let score = ratings::parse_score(&raw_output, t.criterion.min, t.criterion.max);
            let new = ratings::NewScore {
                item_id: t.pending.item_id,
                response_id: t.pending.response_id,
                criterion: t.pending.criterion.clone(),
                score,
                raw_output,
                judge_config: answer.judge_config,
                latency_ms: answer.latency_ms,
                prompt_tokens: answer.prompt_tokens,
                completion_tokens: answer.completion_tokens,
                attempts: answer.attempts,
            };
            let (new, rated) = db::judges::scores::record(pool, job, &new).await.or_app()?;
            Ok(Recording {
                new,
                unparsable: score.is_none(),
                judgement: rated,
            })
        }
    }
}

/// How far a job has got: items with every verdict (or score) it asks for, and items it can
/// judge.
///
/// # Errors
/// Internal on database failure.
pub async fn progress(pool: &db::PgPool, job: &Job) -> Result<(i64, i64), AppError> {
    let (total, done) = if job.protocol == "rating" {
        let names: Vec<String> = ratings::criteria(&job.project_config)
            .into_iter()
            .map(|c| c.name)
            .collect();
        db::judges::scores::progress(pool, job, &names).await
    } else {
        db::judges::progress(pool, job).await
    }
    .or_app()?;
    Ok((done, total))
}

/// The job with its progress.
///
/// # Errors
/// 404 for an unknown job; Internal on database failure.
pub async fn view(pool: &db::PgPool, id: i64) -> Result<JudgeJobView, AppError> {
    let job = crate::error::or_not_found(db::judges::job(pool, id).await, || {
        format!("no judge job #{id}")
    })?;
    view_of(pool, job).await
}

/// A job as the pages show it: one query for its progress.
async fn view_of(pool: &db::PgPool, job: Job) -> Result<JudgeJobView, AppError> {
    let (done, total) = progress(pool, &job).await?;
    Ok(JudgeJobView {
        judge_job_id: job.judge_job_id,
        project: job.project,
        judge: job.judge,
        template: format!("{} v{}", job.template_name, job.template_version),
        both_orders: job.both_orders,
        status: job.status,
        items_done: done,
        items_total: total,
        error: job.error,
    })
}

/// The admin page's judges card: the latest `limit` jobs with their progress, and the names a
/// new job may use.
///
/// # Errors
/// Internal on database failure.
pub async fn panel(pool: &db::PgPool, limit: i64) -> Result<api::judges::JudgePanel, AppError> {
    let mut jobs = Vec::new();
    for job in db::judges::jobs(pool, limit).await.or_app()? {
        jobs.push(view_of(pool, job).await?);
    }
    let projects = crate::projects::summaries(pool, false)
        .await?
        .into_iter()
        .filter(|p| p.protocol == "pairwise" || p.protocol == "rating")
        .map(|p| p.name)
        .collect();
    let judges = crate::models::list(pool)
        .await?
        .into_iter()
        .filter(|m| m.kind == "openai" || m.kind == "local")
        .map(|m| m.name)
        .collect();
    let mut templates = db::judges::template_names(pool).await.or_app()?;
    for builtin in [ratings::DEFAULT_TEMPLATE, DEFAULT_TEMPLATE] {
        if !templates.iter().any(|t| t == builtin) {
            templates.insert(0, builtin.to_owned());
        }
    }
    Ok(api::judges::JudgePanel {
        jobs,
        choices: api::judges::JudgeChoices {
            projects,
            judges,
            templates,
        },
    })
}

/// Names (or with `None` clears) a model's family, for the audit's self-preference.
///
/// # Errors
/// 404 for an unknown model; 422 for a malformed family.
pub async fn set_family(
    pool: &db::PgPool,
    model: &str,
    family: Option<&str>,
) -> Result<(), AppError> {
    let family = family.map(str::trim).filter(|f| !f.is_empty());
    if db::judges::set_family(pool, model.trim(), family)
        .await
        .or_app()?
    {
        Ok(())
    } else {
        Err(AppError::NotFound(format!(
            "no model named {:?}",
            model.trim()
        )))
    }
}

/// The judge audit of the project named `project`.
///
/// # Errors
/// 404 for an unknown project; Internal on database failure.
pub async fn audit_by_name(pool: &db::PgPool, project: &str) -> Result<JudgeAudit, AppError> {
    let (project_id, _) =
        crate::error::or_not_found(db::projects::by_name(pool, project).await, || {
            format!("no project named {project:?}")
        })?;
    audit(pool, project_id).await
}

/// The judge audit of a project: per judge and template, then per category.
///
/// # Errors
/// 404 for an unknown project; Internal on database failure.
pub async fn audit(pool: &db::PgPool, project_id: i64) -> Result<JudgeAudit, AppError> {
    crate::error::or_not_found(db::projects::name(pool, project_id).await, || {
        "no such project".into()
    })?;
    let rows = db::judges::audit_rows(pool, project_id).await.or_app()?;
    let scores = db::judges::scores::audit_rows(pool, project_id)
        .await
        .or_app()?;
    Ok(JudgeAudit {
        project_id,
        rows: audit_of(&rows),
        ratings: ratings::audit_of(&scores),
    })
}

/// The audit's figures from the judged items (pure, for the tests).
#[must_use]
pub fn audit_of(rows: &[db::judges::AuditRow]) -> Vec<JudgeAuditRow> {
    let mut groups: BTreeMap<(String, String, Option<String>), Vec<&db::judges::AuditRow>> =
        BTreeMap::new();
    for r in rows {
        let template = if r.version == 0 {
            r.template.clone()
        } else {
            format!("{} v{}", r.template, r.version)
        };
        groups
            .entry((r.judge.clone(), template.clone(), None))
            .or_default()
            .push(r);
        if let Some(c) = &r.category {
            groups
                .entry((r.judge.clone(), template, Some(c.clone())))
                .or_default()
                .push(r);
        }
    }
    groups
        .into_iter()
        .map(|((judge, template, category), items)| audit_group(judge, template, category, &items))
        .collect()
}

/// Whether a stored verdict names a response.
fn decisive(v: &str) -> bool {
    v == "a" || v == "b"
}

/// The item's decision from its verdicts ([`db::judges::outcome`], the rule its vote follows);
/// `None` when swap-inconsistent or unparsable.
fn decision(r: &db::judges::AuditRow) -> Option<&str> {
    let verdicts: Vec<&str> = [r.ab.as_deref(), r.ba.as_deref()]
        .into_iter()
        .flatten()
        .collect();
    match db::judges::outcome(&verdicts) {
        db::judges::Outcome::Winner(w) => Some(w),
        db::judges::Outcome::Undecided | db::judges::Outcome::Inconsistent => None,
    }
}

/// The label of a winner for Cohen's κ: `a`, `b`, `tie`, `both_bad`.
fn label(winner: &str) -> i64 {
    match winner {
        "a" => 1,
        "b" => 2,
        "tie" => 0,
        _ => 3,
    }
}

/// The human majority of an item's votes (`[a, b, tie, both_bad]`): the one label with the
/// most votes, `None` without votes or on a draw.
fn majority(human: &[i64]) -> Option<i64> {
    let top = human.iter().copied().max().filter(|&n| n > 0)?;
    let mut leaders = human.iter().enumerate().filter(|(_, n)| **n == top);
    let (k, _) = leaders.next()?;
    if leaders.next().is_some() {
        return None;
    }
    Some(label(["a", "b", "tie", "both_bad"][k]))
}

fn audit_group(
    judge: String,
    template: String,
    category: Option<String>,
    items: &[&db::judges::AuditRow],
) -> JudgeAuditRow {
    let verdicts: Vec<(&str, bool, i64)> = items
        .iter()
        .flat_map(|r| {
            [(r.ab.as_deref(), false), (r.ba.as_deref(), true)]
                .into_iter()
                .filter_map(move |(v, swapped)| v.map(|v| (v, swapped, r.length_diff)))
        })
        .collect();
    let unparsable = verdicts.iter().filter(|v| v.0 == "unparsable").count() as u64;
    // Swap consistency: items decisive in both orders.
    let both: Vec<bool> = items
        .iter()
        .filter_map(|r| match (r.ab.as_deref(), r.ba.as_deref()) {
            (Some(x), Some(y)) if decisive(x) && decisive(y) => Some(x == y),
            _ => None,
        })
        .collect();
    let consistent = both.iter().filter(|c| **c).count();
    // Position: a decisive verdict picked the answer shown first when it names the item's first
    // response shown unswapped, or its second shown swapped.
    let shown: Vec<(bool, i64)> = verdicts
        .iter()
        .filter(|v| decisive(v.0))
        .map(|&(v, swapped, diff)| ((v == "a") != swapped, diff))
        .collect();
    let first = shown.iter().filter(|s| s.0).count();
    // Length: "the item's first response wins" against its length advantage.
    let points: Vec<(f64, f64)> = verdicts
        .iter()
        .filter(|v| decisive(v.0))
        .map(|&(v, _, diff)| (diff as f64 / 1000.0, if v == "a" { 1.0 } else { 0.0 }))
        .collect();
    // Humans: items with a strict majority and a judge decision.
    let mut judge_labels = Vec::new();
    let mut human_labels = Vec::new();
    for r in items {
        if let (Some(d), Some(m)) = (decision(r), majority(&r.human)) {
            judge_labels.push(label(d));
            human_labels.push(m);
        }
    }
    let agree = judge_labels
        .iter()
        .zip(&human_labels)
        .filter(|(j, h)| j == h)
        .count();
    // Self-preference: decisive verdicts on items with exactly one response of the judge's
    // family.
    let own: Vec<bool> = items
        .iter()
        .filter_map(|r| {
            let family = r.judge_family.as_deref()?;
            let mine: Vec<bool> = r
                .families
                .iter()
                .map(|f| f.as_deref() == Some(family))
                .collect();
            match mine.as_slice() {
                [true, false] => Some((r, "a")),
                [false, true] => Some((r, "b")),
                _ => None,
            }
        })
        .flat_map(|(r, side)| {
            [r.ab.as_deref(), r.ba.as_deref()]
                .into_iter()
                .flatten()
                .filter(|v| decisive(v))
                .map(move |v| v == side)
        })
        .collect();
    JudgeAuditRow {
        judge,
        template,
        category,
        items: items.len() as u64,
        verdicts: verdicts.len() as u64,
        unparsable,
        swap_consistency: share(consistent, both.len()),
        first_position_wins: share(first, shown.len()),
        length_slope_per_1000_chars: slope(&points),
        with_humans: human_labels.len() as u64,
        human_agreement: share(agree, human_labels.len()),
        human_kappa: ranking::agreement::cohen_kappa(&judge_labels, &human_labels),
        own_family_wins: share(own.iter().filter(|o| **o).count(), own.len()),
    }
}

/// `k` of `n` with its 95% Wilson interval; `None` for `n = 0`.
fn share(k: usize, n: usize) -> Option<Share> {
    let (lower, upper) = ranking::leaderboard::wilson(k as f64, n as f64, ranking::sandwich::Z95)?;
    Some(Share {
        value: k as f64 / n as f64,
        lower,
        upper,
        n: n as u64,
    })
}

/// Least-squares slope of y on x; `None` with fewer than two distinct x.
fn slope(points: &[(f64, f64)]) -> Option<f64> {
    let n = points.len() as f64;
    if points.len() < 2 {
        return None;
    }
    let mx = points.iter().map(|p| p.0).sum::<f64>() / n;
    let my = points.iter().map(|p| p.1).sum::<f64>() / n;
    let sxx: f64 = points.iter().map(|p| (p.0 - mx).powi(2)).sum();
    let sxy: f64 = points.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    (sxx > 1e-12).then(|| sxy / sxx)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_bracketed_verdict_counts() {
        assert_eq!(parse_verdict("A is short. [[B]]"), Some(Label::B));
        assert_eq!(
            parse_verdict("I will answer [[A]] or [[B]]... Final: [[A]]\n"),
            Some(Label::A)
        );
        assert_eq!(parse_verdict("[[C]]"), Some(Label::Tie));
        assert_eq!(parse_verdict("both fail [[D]]."), Some(Label::BothBad));
        assert_eq!(parse_verdict("A is better"), None);
        assert_eq!(parse_verdict("[[E]] [[a]]"), None);
        assert_eq!(parse_verdict(""), None);
        assert_eq!(parse_verdict("[[A"), None);
    }

    #[test]
    fn verdicts_are_stored_in_the_items_order() {
        assert_eq!(item_verdict(Some(Label::A), false), "a");
        assert_eq!(item_verdict(Some(Label::A), true), "b");
        assert_eq!(item_verdict(Some(Label::B), true), "a");
        assert_eq!(item_verdict(Some(Label::Tie), true), "tie");
        assert_eq!(item_verdict(None, false), "unparsable");
    }

    #[test]
    fn rendering_fills_each_placeholder_once() {
        let out = render(
            "Q: {question}\nA: {answer_a}\nB: {answer_b} {x}",
            "why?",
            "see {answer_b}",
            "b",
        );
        assert_eq!(out, "Q: why?\nA: see {answer_b}\nB: b {x}");
        assert_eq!(
            hex_sha256("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    fn row(
        item: i64,
        ab: Option<&str>,
        ba: Option<&str>,
        diff: i64,
        human: [i64; 4],
    ) -> db::judges::AuditRow {
        db::judges::AuditRow {
            judge: "j".into(),
            template: "t".into(),
            version: 1,
            item_id: item,
            category: None,
            ab: ab.map(str::to_owned),
            ba: ba.map(str::to_owned),
            length_diff: diff,
            human: human.to_vec(),
            judge_family: None,
            families: vec![None, None],
        }
    }

    #[test]
    fn the_audit_counts_swaps_positions_and_agreement() {
        // A judge that always picks the answer shown first: every item swap-inconsistent.
        let first: Vec<_> = (0..4)
            .map(|k| row(k, Some("a"), Some("b"), 0, [3, 0, 0, 0]))
            .collect();
        let a = &audit_of(&first)[0];
        assert_eq!(a.items, 4);
        assert_eq!(a.swap_consistency.unwrap().value, 0.0);
        assert_eq!(a.first_position_wins.unwrap().value, 1.0);
        assert_eq!(a.with_humans, 0, "no decision where the orders disagree");
        // A consistent judge that agrees with the humans on 3 of 4 items.
        let good = vec![
            row(0, Some("a"), Some("a"), 500, [3, 1, 0, 0]),
            row(1, Some("b"), Some("b"), -500, [0, 2, 0, 0]),
            row(2, Some("a"), Some("a"), 1000, [1, 0, 0, 0]),
            row(3, Some("a"), Some("unparsable"), -1000, [0, 3, 1, 0]),
        ];
        let g = &audit_of(&good)[0];
        assert_eq!(g.swap_consistency.unwrap().value, 1.0);
        assert_eq!(g.unparsable, 1);
        assert_eq!(g.with_humans, 4);
        assert_eq!(g.human_agreement.unwrap().value, 0.75);
        assert!(g.human_kappa.unwrap() > 0.0);
        let s = g.first_position_wins.unwrap();
        assert_eq!((s.value, s.n), (4.0 / 7.0, 7));
        assert!(g.length_slope_per_1000_chars.unwrap() > 0.0);
    }
}

//! Assignments and pairwise votes: which item an annotator judges next, and recording the
//! judgement exactly once.

use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use time::OffsetDateTime;

use crate::{Error, Result};

/// An issued assignment with what the annotator sees.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Issued {
    /// Primary key.
    pub assignment_id: i64,
    /// The item.
    pub item_id: i64,
    /// Prompt text.
    pub prompt: String,
    /// Responses in display order (left first): id and text.
    pub responses: Vec<(i64, String)>,
    /// When the assignment lapses (RFC 3339 on the wire).
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    /// Guideline version in force.
    pub guideline_version: i32,
    /// The project's guidelines (Markdown) at that version.
    pub guidelines: String,
    /// `off`, `optional` or `required`.
    pub rationale_mode: String,
    /// `off` or `slight_clear`.
    pub strength_scale: String,
    /// `pairwise`, `rating` or `ranking`.
    pub protocol: String,
    /// Protocol settings ([`crate::judgements::ProtocolConfig`]).
    pub config: serde_json::Value,
}

/// What issuing an assignment reads of its project.
#[derive(sqlx::FromRow)]
struct ProjectRules {
    assignment_ttl_seconds: i32,
    guidelines_version: i32,
    guidelines: String,
    rationale_mode: String,
    strength_scale: String,
    protocol: String,
    config: serde_json::Value,
    judge_routing: bool,
}

/// An issued assignment's item, prompt and display order.
#[derive(sqlx::FromRow)]
struct IssuedRow {
    item_id: i64,
    prompt: String,
    display_order: Vec<i64>,
    expires_at: OffsetDateTime,
}

/// A recorded vote with its models' names.
#[derive(sqlx::FromRow)]
struct VoteRow {
    vote_id: i64,
    winner: String,
    a_was_left: Option<bool>,
    name_a: String,
    name_b: String,
}

/// The distinct pairs of models (lower id first) of a project's two-response items.
///
/// # Errors
/// Only on database failure.
pub async fn model_pairs(pool: &PgPool, project_id: i64) -> Result<Vec<(i64, i64)>> {
    Ok(sqlx::query_as(
        "select distinct min(r.model_id), max(r.model_id) from item i \
         join item_response ir on ir.item_id = i.item_id \
         join response r on r.response_id = ir.response_id \
         where i.project_id = $1 group by i.item_id having count(*) = 2",
    )
    .bind(project_id)
    .fetch_all(pool)
    .await?)
}

/// Expires lapsed assignments, then returns the annotator's open assignment in the project, or
/// issues the least-annotated item they have not seen (items below the overlap target first,
/// of them first those the LLM judges are unsure of when the project routes by them; among
/// equally loaded ones, two-response items whose model pair (lower id first) scores highest in
/// `prefer`, then at random). `None` when nothing is left for them.
///
/// The arena's project is not annotated through assignments: its items are battles, judged only
/// by the annotator who started them, so it answers as unknown.
///
/// # Errors
/// [`Error::NotFound`] for an unknown project or the arena's; otherwise database failures.
pub async fn next(
    pool: &PgPool,
    project_id: i64,
    user_id: i64,
    prefer: &[(i64, i64, f64)],
) -> Result<Option<Issued>> {
    let mut tx = pool.begin().await?;
    let project: Option<ProjectRules> = sqlx::query_as(
        "select assignment_ttl_seconds, guidelines_version, guidelines, rationale_mode, \
                strength_scale, protocol, config, judge_routing from project \
         where project_id = $1 and not is_arena",
    )
    .bind(project_id)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(ProjectRules {
        assignment_ttl_seconds: ttl,
        guidelines_version: guideline_version,
        guidelines,
        rationale_mode,
        strength_scale,
        protocol,
        config,
        judge_routing,
    }) = project
    else {
        return Err(Error::NotFound);
    };
    sqlx::query(
        "update assignment set status = 'expired' \
         where status = 'issued' and expires_at < now() and user_id = $1",
    )
    .bind(user_id)
    .execute(&mut *tx)
    .await?;
    let open: Option<(i64,)> = sqlx::query_as(
        "select a.assignment_id from assignment a join item i on i.item_id = a.item_id \
         where a.user_id = $1 and i.project_id = $2 and a.status = 'issued' \
         order by a.issued_at limit 1",
    )
    .bind(user_id)
    .bind(project_id)
    .fetch_optional(&mut *tx)
    .await?;
    let assignment_id = if let Some((id,)) = open {
        id
    } else {
        // An attention check (a gold item) every `attention_every` assignments.
        let every = crate::judgements::ProtocolConfig::from_json(&config)
            .qc
            .attention_every
            .filter(|n| *n > 0);
        let attention = match every {
            Some(n) => {
                let (taken,): (i64,) = sqlx::query_as(
                    "select count(*) from assignment a join item i on i.item_id = a.item_id \
                     where a.user_id = $1 and i.project_id = $2",
                )
                .bind(user_id)
                .bind(project_id)
                .fetch_one(&mut *tx)
                .await?;
                (taken + 1) % i64::from(n) == 0
            }
            None => false,
        };
        // Load = completed judgements + live assignments; below-target items first, then the
        // least loaded, then the preferred model pairs, random among equals so that concurrent
        // annotators spread out.
        let (pref_a, pref_b, pref_score): (Vec<i64>, Vec<i64>, Vec<f64>) = (
            prefer.iter().map(|p| p.0).collect(),
            prefer.iter().map(|p| p.1).collect(),
            prefer.iter().map(|p| p.2).collect(),
        );
        let picked: Option<(i64,)> = sqlx::query_as(
            "select i.item_id from item i \
             join project p on p.project_id = i.project_id \
             left join lateral ( \
                 select count(*) filter (where a.status = 'completed' \
                                            or (a.status = 'issued' and a.expires_at > now())) as load \
                 from assignment a where a.item_id = i.item_id) l on true \
             left join lateral ( \
                 select s.score from unnest($4::bigint[], $5::bigint[], $6::float8[]) \
                        as s(model_a, model_b, score) \
                 where cardinality($4::bigint[]) > 0 \
                   and (s.model_a, s.model_b) = ( \
                       select min(r.model_id), max(r.model_id) from item_response ir \
                       join response r on r.response_id = ir.response_id \
                       where ir.item_id = i.item_id having count(*) = 2) \
                 limit 1) pair on true \
             left join lateral ( \
                 select count(distinct v.verdict) filter (where v.verdict <> 'unparsable') > 1 \
                        or bool_or(v.verdict = 'unparsable') as unsure \
                 from judge_verdict v where $7 and v.item_id = i.item_id) judged on true \
             where i.project_id = $1 \
               and not exists (select 1 from assignment a \
                               where a.item_id = i.item_id and a.user_id = $2) \
             order by ($3 and not i.is_gold), (l.load >= p.overlap_target), \
                      coalesce(judged.unsure, false) desc, l.load, \
                      pair.score desc nulls last, random() \
             limit 1",
        )
        .bind(project_id)
        .bind(user_id)
        .bind(attention)
        .bind(&pref_a)
        .bind(&pref_b)
        .bind(&pref_score)
        .bind(judge_routing)
        .fetch_optional(&mut *tx)
        .await?;
        let Some((item_id,)) = picked else {
            tx.commit().await?;
            return Ok(None);
        };
        let (id,): (i64,) = sqlx::query_as(
            "insert into assignment (item_id, user_id, display_order, expires_at) \
             select $1, $2, array_agg(response_id order by random()), \
                    now() + make_interval(secs => $3) \
             from item_response where item_id = $1 \
             returning assignment_id",
        )
        .bind(item_id)
        .bind(user_id)
        .bind(f64::from(ttl))
        .fetch_one(&mut *tx)
        .await?;
        id
    };
    let IssuedRow {
        item_id,
        prompt,
        display_order: order,
        expires_at,
    } = sqlx::query_as(
        "select a.item_id, p.text as prompt, a.display_order, a.expires_at from assignment a \
         join item i on i.item_id = a.item_id join prompt p on p.prompt_id = i.prompt_id \
         where a.assignment_id = $1",
    )
    .bind(assignment_id)
    .fetch_one(&mut *tx)
    .await?;
    let texts: Vec<(i64, String)> =
        sqlx::query_as("select response_id, text from response where response_id = any($1)")
            .bind(&order)
            .fetch_all(&mut *tx)
            .await?;
    let responses = order
        .iter()
        .filter_map(|id| texts.iter().find(|(r, _)| r == id).cloned())
        .collect();
    tx.commit().await?;
    Ok(Some(Issued {
        assignment_id,
        item_id,
        prompt,
        responses,
        expires_at,
        guideline_version,
        guidelines,
        rationale_mode,
        strength_scale,
        protocol,
        config,
    }))
}

pub use crate::judgements::{Choice, VoteError};

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

/// The assignment as the vote statement found it (locked), and the vote it wrote, if any.
#[derive(sqlx::FromRow)]
struct Attempt {
    owner: i64,
    status: String,
    lapsed: bool,
    display_order: Vec<i64>,
    rationale_mode: String,
    strength_scale: String,
    responses: Vec<i64>,
    names: Vec<String>,
    vote_id: Option<i64>,
    winner: Option<String>,
}

/// Locks the assignment, checks it (owner, open, a pair, the project's rationale and strength
/// rules), and when everything holds inserts the vote and completes the assignment: one
/// statement, so one round trip and one commit. The vote's trigger updates the leaderboard
/// counts in the same transaction.
const VOTE_SQL: &str = "\
with a as ( \
    select a.assignment_id, a.user_id as owner, a.status, a.expires_at < now() as lapsed, \
           a.display_order, a.item_id, i.project_id, p.guidelines_version, p.rationale_mode, \
           p.strength_scale, \
           least(extract(epoch from clock_timestamp() - a.issued_at) * 1000, 2147483647)::int \
               as elapsed_ms, \
           r.responses, r.models, r.names \
    from assignment a join item i on i.item_id = a.item_id \
    join project p on p.project_id = i.project_id \
    cross join lateral ( \
        select array_agg(ir.response_id order by ir.position) as responses, \
               array_agg(re.model_id order by ir.position) as models, \
               array_agg(m.name order by ir.position) as names \
        from item_response ir join response re on re.response_id = ir.response_id \
        join model m on m.model_id = re.model_id where ir.item_id = a.item_id) r \
    where a.assignment_id = $1 for update of a), \
ok as ( \
    select a.*, \
           case when $3 in ('tie', 'both_bad') then $3 \
                when ($3 = 'left') = (a.display_order[1] = a.responses[1]) then 'a' \
                else 'b' end as winner \
    from a \
    where a.owner = $2 and a.status = 'issued' and not a.lapsed \
      and cardinality(a.responses) = 2 \
      and (a.rationale_mode <> 'required' or $5::text is not null) \
      and (a.rationale_mode <> 'off' or $5::text is null) \
      and ($4::text is null or (a.strength_scale = 'slight_clear' and $4 in ('slight', 'clear')))), \
done as ( \
    update assignment set status = 'completed', completed_at = now() \
    where assignment_id = (select assignment_id from ok)), \
ins as ( \
    insert into vote (project_id, item_id, assignment_id, annotator_id, source, model_a_id, \
                      model_b_id, response_a_id, response_b_id, winner, strength, rationale, \
                      time_to_vote_ms, a_was_left, guideline_version) \
    select project_id, item_id, assignment_id, owner, 'human', models[1], models[2], \
           responses[1], responses[2], winner, $4, $5, coalesce($6, elapsed_ms), \
           display_order[1] = responses[1], guidelines_version \
    from ok returning vote_id, winner) \
select a.owner, a.status, a.lapsed, a.display_order, a.rationale_mode, a.strength_scale, \
       a.responses, a.names, (select vote_id from ins) as vote_id, \
       (select winner from ins) as winner \
from a";

/// Records a pairwise vote for an assignment, once: a repeated submission (even concurrent)
/// returns the first vote. The vote, the assignment's completion and the leaderboard counts
/// commit together, in one statement.
///
/// # Errors
/// See [`VoteError`].
pub async fn vote(
    pool: &PgPool,
    assignment_id: i64,
    user_id: i64,
    v: &NewVote,
) -> Result<Recorded, VoteError> {
    let rationale = v
        .rationale
        .as_deref()
        .map(str::trim)
        .filter(|r| !r.is_empty());
    let choice = match v.choice {
        Choice::Left => "left",
        Choice::Right => "right",
        Choice::Tie => "tie",
        Choice::BothBad => "both_bad",
    };
    let row: Option<Attempt> = sqlx::query_as(VOTE_SQL)
        .bind(assignment_id)
        .bind(user_id)
        .bind(choice)
        .bind(&v.strength)
        .bind(rationale)
        .bind(v.time_to_vote_ms)
        .fetch_optional(pool)
        .await
        .map_err(Error::from)?;
    let Some(a) = row else {
        return Err(VoteError::NotFound);
    };
    if let (Some(vote_id), Some(winner)) = (a.vote_id, a.winner) {
        let a_was_left = a.display_order.first() == a.responses.first();
        let mut names = a.names.into_iter();
        let (name_a, name_b) = (
            names.next().unwrap_or_default(),
            names.next().unwrap_or_default(),
        );
        let (left_model, right_model) = if a_was_left {
            (name_a, name_b)
        } else {
            (name_b, name_a)
        };
        return Ok(Recorded {
            vote_id,
            left_model,
            right_model,
            winner,
            created: true,
        });
    }
    // Nothing was written: say why.
    if a.owner != user_id {
        return Err(VoteError::NotYours);
    }
    if a.status == "completed" {
        let mut conn = pool.acquire().await?;
        return Ok(read_vote(&mut conn, assignment_id, false).await?);
    }
    if a.status != "issued" || a.lapsed {
        return Err(VoteError::Expired);
    }
    if a.responses.len() != 2 {
        return Err(VoteError::NotAPair);
    }
    if a.rationale_mode == "required" && rationale.is_none() {
        return Err(VoteError::Invalid(
            "this project asks for a rationale with every vote".into(),
        ));
    }
    if a.rationale_mode == "off" && rationale.is_some() {
        return Err(VoteError::Invalid(
            "this project takes no rationales".into(),
        ));
    }
    Err(VoteError::Invalid(
        match (v.strength.as_deref(), a.strength_scale.as_str()) {
            (Some(_), "off") => "this project has no strength scale".into(),
            (Some(other), _) => format!("strength is slight or clear, not {other:?}"),
            (None, _) => "the vote could not be recorded".into(),
        },
    ))
}

async fn read_vote(
    db: &mut sqlx::PgConnection,
    assignment_id: i64,
    created: bool,
) -> Result<Recorded> {
    let VoteRow {
        vote_id,
        winner,
        a_was_left,
        name_a,
        name_b,
    } = sqlx::query_as(
        "select v.vote_id, v.winner, v.a_was_left, ma.name as name_a, mb.name as name_b \
         from vote v \
         join model ma on ma.model_id = v.model_a_id join model mb on mb.model_id = v.model_b_id \
         where v.assignment_id = $1",
    )
    .bind(assignment_id)
    .fetch_one(db)
    .await?;
    let (left_model, right_model) = if a_was_left.unwrap_or(true) {
        (name_a, name_b)
    } else {
        (name_b, name_a)
    };
    Ok(Recorded {
        vote_id,
        left_model,
        right_model,
        winner,
        created,
    })
}

/// Marks an open assignment skipped; the item returns to the pool for others.
///
/// # Errors
/// [`VoteError::NotFound`] / [`VoteError::NotYours`] / [`VoteError::Expired`] (already closed).
pub async fn skip(pool: &PgPool, assignment_id: i64, user_id: i64) -> Result<(), VoteError> {
    let row: Option<(i64, String)> =
        sqlx::query_as("select user_id, status from assignment where assignment_id = $1")
            .bind(assignment_id)
            .fetch_optional(pool)
            .await?;
    match row {
        None => Err(VoteError::NotFound),
        Some((owner, _)) if owner != user_id => Err(VoteError::NotYours),
        Some((_, status)) if status != "issued" => Err(VoteError::Expired),
        Some(_) => {
            sqlx::query("update assignment set status = 'skipped' where assignment_id = $1 and status = 'issued'")
                .bind(assignment_id)
                .execute(pool)
                .await?;
            Ok(())
        }
    }
}

/// `(judged, items)`: how many of the project's items this annotator has judged, of how many.
///
/// # Errors
/// Only on database failure.
pub async fn progress(pool: &PgPool, project_id: i64, user_id: i64) -> Result<(i64, i64)> {
    Ok(sqlx::query_as(
        "select (select count(*) from assignment a join item i on i.item_id = a.item_id \
                 where i.project_id = $1 and a.user_id = $2 and a.status = 'completed'), \
                (select count(*) from item where project_id = $1)",
    )
    .bind(project_id)
    .bind(user_id)
    .fetch_one(pool)
    .await?)
}

/// The named constraints this module's queries can raise, with their users' messages.
pub const CONSTRAINTS: &[crate::Constraint] = &[
    crate::Constraint {
        name: "vote_strength_check",
        violation: crate::Violation::Invalid,
        message: "strength is slight or clear",
    },
    crate::Constraint {
        name: "vote_distinct_models_check",
        violation: crate::Violation::Invalid,
        message: "a vote compares two different models",
    },
    crate::Constraint {
        name: "vote_time_check",
        violation: crate::Violation::Invalid,
        message: "time_to_vote_ms is not negative",
    },
];

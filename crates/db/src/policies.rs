//! Training policies (docs/design.md §3, flow 6): the policies, their rounds, and the steps of
//! the loop, each in one transaction with the rows it changes locked, so that several workers
//! never start two rounds of a policy nor leave it two champions.

use serde::Serialize;
use sqlx::{PgExecutor, PgPool, Postgres, Transaction};
use time::OffsetDateTime;

use crate::Result;

/// A transaction of the loop's steps.
pub type Tx = Transaction<'static, Postgres>;

/// Begins a step of the loop.
///
/// # Errors
/// Only on database failure.
pub async fn begin(pool: &PgPool) -> Result<Tx> {
    Ok(pool.begin().await?)
}

/// Commits a step of the loop.
///
/// # Errors
/// Only on database failure.
pub async fn commit(tx: Tx) -> Result<()> {
    Ok(tx.commit().await?)
}

/// A policy to create.
#[derive(Debug, Clone, PartialEq)]
pub struct NewPolicy<'a> {
    /// Name.
    pub name: &'a str,
    /// Whose votes count.
    pub project_id: i64,
    /// The first champion (the first round's base).
    pub champion_model_id: i64,
    /// New votes that start a round.
    pub min_new_votes: i32,
    /// Minutes after which any new vote starts a round.
    pub every_minutes: Option<i32>,
    /// Rounds per UTC day at most.
    pub daily_cap: i32,
    /// Decided battles before the gate decides.
    pub gate_min_battles: i32,
    /// Decided battles after which an undecided child retires.
    pub gate_max_battles: i32,
    /// The run template.
    pub launch: &'a serde_json::Value,
    /// Who created it.
    pub created_by: Option<i64>,
}

/// Creates a policy; its votes are those that come in from now on (the watermark is the
/// project's newest vote). Returns its id.
///
/// # Errors
/// A constraint violation for a taken name or settings out of range.
pub async fn create(db: impl PgExecutor<'_>, p: &NewPolicy<'_>) -> Result<i64> {
    Ok(sqlx::query_scalar(
        "insert into training_policy (name, project_id, champion_model_id, min_new_votes, \
             every_minutes, daily_cap, gate_min_battles, gate_max_battles, launch, created_by, \
             last_vote_id) \
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, \
                 (select coalesce(max(vote_id), 0) from vote where project_id = $2)) \
         returning policy_id",
    )
    .bind(p.name)
    .bind(p.project_id)
    .bind(p.champion_model_id)
    .bind(p.min_new_votes)
    .bind(p.every_minutes)
    .bind(p.daily_cap)
    .bind(p.gate_min_battles)
    .bind(p.gate_max_battles)
    .bind(p.launch)
    .bind(p.created_by)
    .fetch_one(db)
    .await?)
}

/// A policy as stored, with names.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct Policy {
    /// Primary key.
    pub policy_id: i64,
    /// Name.
    pub name: String,
    /// Project.
    pub project_id: i64,
    /// Its name.
    pub project: String,
    /// Champion.
    pub champion_model_id: i64,
    /// Its name.
    pub champion: String,
    /// New votes that start a round.
    pub min_new_votes: i32,
    /// Minutes after which any new vote starts a round.
    pub every_minutes: Option<i32>,
    /// Rounds per UTC day at most.
    pub daily_cap: i32,
    /// Decided battles before the gate decides.
    pub gate_min_battles: i32,
    /// Decided battles after which an undecided child retires.
    pub gate_max_battles: i32,
    /// The run template.
    pub launch: serde_json::Value,
    /// Paused.
    pub paused: bool,
    /// Votes above this id are new.
    pub last_vote_id: i64,
    /// When the last round started.
    pub last_round_at: Option<OffsetDateTime>,
    /// Why the last attempt to start a round did not.
    pub last_error: Option<String>,
    /// Created.
    pub created_at: OffsetDateTime,
}

const POLICY_SELECT: &str = "select t.policy_id, t.name, t.project_id, p.name as project, \
        t.champion_model_id, m.name as champion, t.min_new_votes, t.every_minutes, \
        t.daily_cap, t.gate_min_battles, t.gate_max_battles, t.launch, t.paused, \
        t.last_vote_id, t.last_round_at, t.last_error, t.created_at \
     from training_policy t join project p on p.project_id = t.project_id \
     join model m on m.model_id = t.champion_model_id";

/// One policy.
///
/// # Errors
/// [`crate::Error::NotFound`] for an unknown id.
pub async fn get(db: impl PgExecutor<'_>, id: i64) -> Result<Policy> {
    Ok(
        sqlx::query_as(&format!("{POLICY_SELECT} where t.policy_id = $1"))
            .bind(id)
            .fetch_one(db)
            .await?,
    )
}

/// A policy's id by its name.
///
/// # Errors
/// [`crate::Error::NotFound`] for an unknown name.
pub async fn id_by_name(db: impl PgExecutor<'_>, name: &str) -> Result<i64> {
    Ok(
        sqlx::query_scalar("select policy_id from training_policy where name = $1")
            .bind(name)
            .fetch_one(db)
            .await?,
    )
}

/// Every policy, by name.
///
/// # Errors
/// Only on database failure.
pub async fn list(db: impl PgExecutor<'_>) -> Result<Vec<Policy>> {
    Ok(sqlx::query_as(&format!("{POLICY_SELECT} order by t.name"))
        .fetch_all(db)
        .await?)
}

/// Pauses or resumes a policy; false for an unknown id.
///
/// # Errors
/// Only on database failure.
pub async fn set_paused(db: impl PgExecutor<'_>, id: i64, paused: bool) -> Result<bool> {
    Ok(sqlx::query(
        "update training_policy set paused = $2, updated_at = now() where policy_id = $1",
    )
    .bind(id)
    .bind(paused)
    .execute(db)
    .await?
    .rows_affected()
        == 1)
}

/// Says why a round did not start (or clears it); a policy with a reason is tried again a
/// minute later at the earliest (see [`idle`]).
///
/// # Errors
/// Only on database failure.
pub async fn set_error(db: impl PgExecutor<'_>, id: i64, error: Option<&str>) -> Result<()> {
    sqlx::query(
        "update training_policy set last_error = $2, updated_at = now() where policy_id = $1",
    )
    .bind(id)
    .bind(error)
    .execute(db)
    .await?;
    Ok(())
}

/// Ids of the policies that may start a round: not paused, no round open, and not refused in
/// the last minute (a round that could not start is not prepared again on every pass).
///
/// # Errors
/// Only on database failure.
pub async fn idle(db: impl PgExecutor<'_>) -> Result<Vec<i64>> {
    Ok(sqlx::query_scalar(
        "select t.policy_id from training_policy t where not t.paused \
           and (t.last_error is null or t.updated_at < now() - interval '1 minute') \
           and not exists (select 1 from policy_round r where r.policy_id = t.policy_id \
                           and r.status in ('training', 'gating')) \
         order by t.policy_id",
    )
    .fetch_all(db)
    .await?)
}

/// Locks an idle policy for starting a round: `None` when another worker holds it, or it was
/// paused or got an open round meanwhile. With the rounds it started today (UTC).
///
/// # Errors
/// Only on database failure.
pub async fn lock_idle(
    tx: &mut Transaction<'_, Postgres>,
    id: i64,
) -> Result<Option<(Policy, i64)>> {
    let locked: Option<i64> = sqlx::query_scalar(
        "select policy_id from training_policy where policy_id = $1 and not paused \
         for update skip locked",
    )
    .bind(id)
    .fetch_optional(&mut **tx)
    .await?;
    if locked.is_none() {
        return Ok(None);
    }
    let (open, today): (bool, i64) = sqlx::query_as(
        "select coalesce(bool_or(status in ('training', 'gating')), false), \
                count(*) filter (where created_at >= date_trunc('day', now() at time zone 'utc') \
                                                      at time zone 'utc') \
         from policy_round where policy_id = $1",
    )
    .bind(id)
    .fetch_one(&mut **tx)
    .await?;
    if open {
        return Ok(None);
    }
    Ok(Some((get(&mut **tx, id).await?, today)))
}

/// Starts the next round of a locked policy on run `run_id` (queued in the same transaction):
/// moves its watermark to `last_vote_id`. Returns the round's number.
///
/// # Errors
/// Only on database failure (the open-round index refuses a second open round).
pub async fn start_round(
    tx: &mut Transaction<'_, Postgres>,
    policy: &Policy,
    run_id: i64,
    votes: i32,
    last_vote_id: i64,
) -> Result<i32> {
    let round: i32 = sqlx::query_scalar(
        "insert into policy_round (policy_id, round, training_run_id, parent_model_id, votes, \
             last_vote_id) \
         select $1, coalesce(max(round), 0) + 1, $2, $3, $4, $5 from policy_round \
         where policy_id = $1 \
         returning round",
    )
    .bind(policy.policy_id)
    .bind(run_id)
    .bind(policy.champion_model_id)
    .bind(votes)
    .bind(last_vote_id)
    .fetch_one(&mut **tx)
    .await?;
    sqlx::query(
        "update training_policy set last_vote_id = $2, last_round_at = now(), last_error = null, \
             updated_at = now() where policy_id = $1",
    )
    .bind(policy.policy_id)
    .bind(last_vote_id)
    .execute(&mut **tx)
    .await?;
    Ok(round)
}

/// The number the policy's next round gets (as [`start_round`] numbers it).
///
/// # Errors
/// Only on database failure.
pub async fn next_round(db: impl PgExecutor<'_>, policy_id: i64) -> Result<i32> {
    Ok(sqlx::query_scalar(
        "select coalesce(max(round), 0) + 1 from policy_round where policy_id = $1",
    )
    .bind(policy_id)
    .fetch_one(db)
    .await?)
}

/// A round with what the lineage shows.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct Round {
    /// Primary key.
    pub round_id: i64,
    /// Policy.
    pub policy_id: i64,
    /// Number, from 1.
    pub round: i32,
    /// Its run.
    pub training_run_id: i64,
    /// The run's status.
    pub run_status: String,
    /// Parent (the champion when it started).
    pub parent_model_id: i64,
    /// Its name.
    pub parent: String,
    /// The child, once trained.
    pub child_model_id: Option<i64>,
    /// Its name.
    pub child: Option<String>,
    /// Whether it is in the arena.
    pub child_enabled: Option<bool>,
    /// `training`, `gating`, `promoted`, `retired` or `failed`.
    pub status: String,
    /// New votes that started it.
    pub votes: i32,
    /// Votes in the run's frozen snapshot (those that gave pairs).
    pub snapshot_votes: Option<i32>,
    /// The run's last logged metrics (loss, reward accuracy, ...).
    pub last_metrics: Option<serde_json::Value>,
    /// The child's output folder.
    pub output_dir: Option<String>,
    /// Head to head against the parent: the child's wins.
    pub wins: i32,
    /// Losses.
    pub losses: i32,
    /// Ties.
    pub ties: i32,
    /// Lower bound of the win rate's 95% interval.
    pub win_lower: Option<f64>,
    /// Upper bound.
    pub win_upper: Option<f64>,
    /// What the gate decided, in words.
    pub decision: Option<String>,
    /// When.
    pub decided_at: Option<OffsetDateTime>,
    /// Started.
    pub created_at: OffsetDateTime,
}

const ROUND_SELECT: &str = "select r.round_id, r.policy_id, r.round, r.training_run_id, \
        tr.status as run_status, r.parent_model_id, pm.name as parent, r.child_model_id, \
        cm.name as child, cm.enabled as child_enabled, r.status, r.votes, \
        (case when jsonb_typeof(tr.snapshot -> 'vote_ids') = 'array' \
              then jsonb_array_length(tr.snapshot -> 'vote_ids') end)::integer as snapshot_votes, \
        (select m.metrics from training_metric m where m.training_run_id = r.training_run_id \
         order by m.step desc limit 1) as last_metrics, \
        tr.output_dir, r.wins, r.losses, r.ties, r.win_lower, r.win_upper, r.decision, \
        r.decided_at, r.created_at \
     from policy_round r join training_run tr on tr.training_run_id = r.training_run_id \
     join model pm on pm.model_id = r.parent_model_id \
     left join model cm on cm.model_id = r.child_model_id";

/// A policy's rounds, first first.
///
/// # Errors
/// Only on database failure.
pub async fn rounds(db: impl PgExecutor<'_>, policy_id: i64) -> Result<Vec<Round>> {
    Ok(sqlx::query_as(&format!(
        "{ROUND_SELECT} where r.policy_id = $1 order by r.round"
    ))
    .bind(policy_id)
    .fetch_all(db)
    .await?)
}

/// The rounds of several policies, by policy and number (one query for a list of policies).
///
/// # Errors
/// Only on database failure.
pub async fn rounds_of(db: impl PgExecutor<'_>, policy_ids: &[i64]) -> Result<Vec<Round>> {
    Ok(sqlx::query_as(&format!(
        "{ROUND_SELECT} where r.policy_id = any($1) order by r.policy_id, r.round"
    ))
    .bind(policy_ids)
    .fetch_all(db)
    .await?)
}

/// Moves the rounds whose run ended on: a succeeded run's model becomes the child, enabled in
/// the arena with its parent, and the round goes to the gate; a failed or cancelled run fails
/// the round. Returns the rounds moved, as (round id, new status).
///
/// # Errors
/// Only on database failure.
pub async fn advance(pool: &PgPool) -> Result<Vec<(i64, String)>> {
    let mut tx = pool.begin().await?;
    #[derive(sqlx::FromRow)]
    struct Ended {
        round_id: i64,
        parent_model_id: i64,
        status: String,
        output_model_id: Option<i64>,
        error: Option<String>,
    }
    let ended: Vec<Ended> = sqlx::query_as(
        "select r.round_id, r.parent_model_id, tr.status, tr.output_model_id, tr.error \
         from policy_round r join training_run tr on tr.training_run_id = r.training_run_id \
         where r.status = 'training' and tr.status in ('succeeded', 'failed', 'cancelled') \
         for update of r skip locked",
    )
    .fetch_all(&mut *tx)
    .await?;
    let mut moved = Vec::new();
    for Ended {
        round_id,
        parent_model_id: parent,
        status: run_status,
        output_model_id: child,
        error,
    } in ended
    {
        if let (Some(child), "succeeded") = (child, run_status.as_str()) {
            sqlx::query(
                "update model set enabled = true, updated_at = now() \
                 where model_id in ($1, $2)",
            )
            .bind(child)
            .bind(parent)
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "update policy_round set status = 'gating', child_model_id = $2 \
                 where round_id = $1",
            )
            .bind(round_id)
            .bind(child)
            .execute(&mut *tx)
            .await?;
            moved.push((round_id, "gating".to_owned()));
        } else {
            let why = format!(
                "the run {run_status}{}",
                error.map_or_else(String::new, |e| format!(": {e}"))
            );
            sqlx::query(
                "update policy_round set status = 'failed', decision = $2, decided_at = now() \
                 where round_id = $1",
            )
            .bind(round_id)
            .bind(why)
            .execute(&mut *tx)
            .await?;
            moved.push((round_id, "failed".to_owned()));
        }
    }
    tx.commit().await?;
    Ok(moved)
}

/// Ids of the rounds at the gate.
///
/// # Errors
/// Only on database failure.
pub async fn gating(db: impl PgExecutor<'_>) -> Result<Vec<i64>> {
    Ok(sqlx::query_scalar(
        "select round_id from policy_round where status = 'gating' order by round_id",
    )
    .fetch_all(db)
    .await?)
}

/// A round at the gate, locked, with its policy (locked too: the champion changes only under
/// that lock). `None` when another worker holds the round or it left the gate.
///
/// # Errors
/// Only on database failure.
pub async fn lock_gating(
    tx: &mut Transaction<'_, Postgres>,
    round_id: i64,
) -> Result<Option<(Round, Policy)>> {
    let locked: Option<i64> = sqlx::query_scalar(
        "select round_id from policy_round where round_id = $1 and status = 'gating' \
         for update skip locked",
    )
    .bind(round_id)
    .fetch_optional(&mut **tx)
    .await?;
    if locked.is_none() {
        return Ok(None);
    }
    let round: Round = sqlx::query_as(&format!("{ROUND_SELECT} where r.round_id = $1"))
        .bind(round_id)
        .fetch_one(&mut **tx)
        .await?;
    sqlx::query("select 1 from training_policy where policy_id = $1 for update")
        .bind(round.policy_id)
        .execute(&mut **tx)
        .await?;
    let policy = get(&mut **tx, round.policy_id).await?;
    Ok(Some((round, policy)))
}

/// The head-to-head record of `child` against `parent`, from the child's side (wins, losses,
/// ties), counting the votes of `sources` in any project: the child is new, so these are the
/// arena's battles of the two, wherever the policy's own votes come from.
///
/// # Errors
/// Only on database failure.
pub async fn head_to_head(
    db: impl PgExecutor<'_>,
    child: i64,
    parent: i64,
    sources: &[String],
) -> Result<[i64; 3]> {
    let record: (i64, i64, i64) = sqlx::query_as(
        "select count(*) filter (where (v.winner = 'a') = (v.model_a_id = $1) \
                                  and v.winner in ('a', 'b')), \
                count(*) filter (where (v.winner = 'a') <> (v.model_a_id = $1) \
                                  and v.winner in ('a', 'b')), \
                count(*) filter (where v.winner in ('tie', 'both_bad')) \
         from vote v left join app_user u on u.user_id = v.annotator_id \
         where v.source = any($3) and not coalesce(u.excluded, false) \
           and ((v.model_a_id = $1 and v.model_b_id = $2) \
                or (v.model_a_id = $2 and v.model_b_id = $1))",
    )
    .bind(child)
    .bind(parent)
    .bind(sources)
    .fetch_one(db)
    .await?;
    Ok([record.0, record.1, record.2])
}

/// What the gate found for a locked round.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    /// The child's wins, losses and ties.
    pub record: [i64; 3],
    /// The win rate's 95% interval.
    pub interval: Option<(f64, f64)>,
    /// `None`: keep battling; `promoted` or `retired`.
    pub status: Option<&'static str>,
    /// Why, in words.
    pub decision: Option<String>,
}

/// Writes the gate's finding on a round locked by [`lock_gating`]: its record always; when it
/// decided, its status, and on promotion the policy's new champion (the parent leaves the
/// arena), on retirement the child leaves the arena.
///
/// # Errors
/// Only on database failure.
pub async fn decide(tx: &mut Transaction<'_, Postgres>, round: &Round, v: &Verdict) -> Result<()> {
    let to_i32 = |n: i64| i32::try_from(n).unwrap_or(i32::MAX);
    sqlx::query(
        "update policy_round set wins = $2, losses = $3, ties = $4, win_lower = $5, \
             win_upper = $6, status = coalesce($7, status), decision = coalesce($8, decision), \
             decided_at = case when $7 is null then decided_at else now() end \
         where round_id = $1",
    )
    .bind(round.round_id)
    .bind(to_i32(v.record[0]))
    .bind(to_i32(v.record[1]))
    .bind(to_i32(v.record[2]))
    .bind(v.interval.map(|i| i.0))
    .bind(v.interval.map(|i| i.1))
    .bind(v.status)
    .bind(v.decision.as_deref())
    .execute(&mut **tx)
    .await?;
    match (v.status, round.child_model_id) {
        (Some("promoted"), Some(child)) => {
            sqlx::query(
                "update training_policy set champion_model_id = $2, updated_at = now() \
                 where policy_id = $1 and champion_model_id = $3",
            )
            .bind(round.policy_id)
            .bind(child)
            .bind(round.parent_model_id)
            .execute(&mut **tx)
            .await?;
            sqlx::query("update model set enabled = false, updated_at = now() where model_id = $1")
                .bind(round.parent_model_id)
                .execute(&mut **tx)
                .await?;
        }
        (Some("retired"), Some(child)) => {
            sqlx::query("update model set enabled = false, updated_at = now() where model_id = $1")
                .bind(child)
                .execute(&mut **tx)
                .await?;
        }
        _ => {}
    }
    Ok(())
}

/// The policy's new votes: how many of its project's votes on items, of `sources`, lie above its
/// watermark, and the largest of their ids.
///
/// # Errors
/// Only on database failure.
pub async fn new_votes(
    db: impl PgExecutor<'_>,
    policy: &Policy,
    sources: &[String],
) -> Result<(i64, Option<i64>)> {
    Ok(sqlx::query_as(
        "select count(*), max(v.vote_id) from vote v \
         left join app_user u on u.user_id = v.annotator_id \
         where v.project_id = $1 and v.vote_id > $2 and v.source = any($3) \
           and v.item_id is not null and not coalesce(u.excluded, false)",
    )
    .bind(policy.project_id)
    .bind(policy.last_vote_id)
    .bind(sources)
    .fetch_one(db)
    .await?)
}

/// The named constraints this module's queries can raise, with their users' messages.
pub const CONSTRAINTS: &[crate::Constraint] = &[
    crate::Constraint {
        name: "training_policy_name_key",
        violation: crate::Violation::Conflict,
        message: "a training policy with this name exists",
    },
    crate::Constraint {
        name: "training_policy_name_check",
        violation: crate::Violation::Invalid,
        message: "a policy name is 1 to 64 letters, digits, '.', '_' or '-'",
    },
    crate::Constraint {
        name: "training_policy_min_new_votes_check",
        violation: crate::Violation::Invalid,
        message: "min_new_votes is from 1 to 1000000",
    },
    crate::Constraint {
        name: "training_policy_every_minutes_check",
        violation: crate::Violation::Invalid,
        message: "every_minutes is from 1 to 525600, or absent",
    },
    crate::Constraint {
        name: "training_policy_daily_cap_check",
        violation: crate::Violation::Invalid,
        message: "daily_cap is from 1 to 1000",
    },
    crate::Constraint {
        name: "training_policy_gate_check",
        violation: crate::Violation::Invalid,
        message: "gate_min_battles is from 1 to 100000 and gate_max_battles at least as many",
    },
];

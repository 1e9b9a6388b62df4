//! Open-arena battles: the annotator's prompt, two models generating, then an item and an
//! assignment in the arena project so that the vote takes the ordinary pairwise path. A
//! battle whose generation failed gets no item and is never counted.

use serde::{Deserialize, Serialize};
use sqlx::PgPool;

use crate::{Error, Result};

/// Name of the project that holds arena battles.
pub const ARENA_PROJECT: &str = "Arena";

/// A contestant of a battle.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, sqlx::FromRow)]
pub struct Contestant {
    /// Model id.
    pub model_id: i64,
    /// Name (revealed only after the vote).
    pub name: String,
    /// `openai` or `local`.
    pub kind: String,
    /// Backend settings.
    pub config: serde_json::Value,
}

/// A battle with what a generator needs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Battle {
    /// Primary key.
    pub battle_id: i64,
    /// The annotator.
    pub user_id: i64,
    /// `generating`, `ready` or `failed`.
    pub status: String,
    /// The prompt.
    pub prompt: String,
    /// Model A.
    pub a: Contestant,
    /// Model B.
    pub b: Contestant,
    /// Model A's answer is shown on the left.
    pub a_is_left: bool,
    /// Once ready.
    pub assignment_id: Option<i64>,
    /// Why generation failed.
    pub error: Option<String>,
}

/// The arena project's id, created (as an arena project) if missing.
///
/// # Errors
/// Only on database failure.
pub async fn project(pool: &PgPool) -> Result<i64> {
    // Every battle asks: a plain read when the project exists, no write.
    let existing: Option<i64> =
        sqlx::query_scalar("select project_id from project where name = $1")
            .bind(ARENA_PROJECT)
            .fetch_optional(pool)
            .await?;
    if let Some(id) = existing {
        return Ok(id);
    }
    let mut tx = pool.begin().await?;
    let (id,): (i64,) = sqlx::query_as(
        "insert into project (name, protocol, is_arena, overlap_target, guidelines) \
         values ($1, 'pairwise', true, 1, 'Ask anything. Two anonymous models answer; vote for the better answer.') \
         on conflict on constraint project_name_key do update set name = excluded.name \
         returning project_id",
    )
    .bind(ARENA_PROJECT)
    .fetch_one(&mut *tx)
    .await?;
    crate::imports::record_guidelines(&mut tx, id).await?;
    tx.commit().await?;
    Ok(id)
}

/// Starts a battle: stores the prompt and the two models (A shown left when `a_is_left`).
///
/// # Errors
/// [`Error::Invalid`] for an empty prompt or the same model twice.
pub async fn start(
    pool: &PgPool,
    user_id: i64,
    prompt: &str,
    model_a: i64,
    model_b: i64,
    a_is_left: bool,
) -> Result<i64> {
    let prompt = prompt.trim();
    if prompt.is_empty() {
        return Err(Error::Invalid("type a prompt first".into()));
    }
    if model_a == model_b {
        return Err(Error::Invalid("a battle needs two different models".into()));
    }
    let project_id = project(pool).await?;
    let mut tx = pool.begin().await?;
    // Annotators' prompts are their own even when the text repeats: keyed by a fresh hash.
    let (prompt_id,): (i64,) = sqlx::query_as(
        "insert into prompt (text, source, content_hash) \
         values ($1, 'annotator', 'arena:' || md5(random()::text || clock_timestamp()::text)) \
         returning prompt_id",
    )
    .bind(prompt)
    .fetch_one(&mut *tx)
    .await?;
    let (battle_id,): (i64,) = sqlx::query_as(
        "insert into arena_battle (project_id, user_id, prompt_id, model_a_id, model_b_id, a_is_left) \
         values ($1, $2, $3, $4, $5, $6) returning battle_id",
    )
    .bind(project_id)
    .bind(user_id)
    .bind(prompt_id)
    .bind(model_a)
    .bind(model_b)
    .bind(a_is_left)
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(battle_id)
}

#[derive(sqlx::FromRow)]
struct BattleRow {
    battle_id: i64,
    user_id: i64,
    status: String,
    prompt: String,
    a_is_left: bool,
    assignment_id: Option<i64>,
    error: Option<String>,
    a_id: i64,
    a_name: String,
    a_kind: String,
    a_config: serde_json::Value,
    b_id: i64,
    b_name: String,
    b_kind: String,
    b_config: serde_json::Value,
}

/// A battle by id.
///
/// # Errors
/// [`Error::NotFound`] when there is none.
pub async fn get(pool: &PgPool, battle_id: i64) -> Result<Battle> {
    let r: BattleRow = sqlx::query_as(
        "select b.battle_id, b.user_id, b.status, p.text as prompt, b.a_is_left, b.assignment_id, \
                b.error, ma.model_id as a_id, ma.name as a_name, ma.kind as a_kind, \
                ma.config as a_config, mb.model_id as b_id, mb.name as b_name, \
                mb.kind as b_kind, mb.config as b_config \
         from arena_battle b join prompt p on p.prompt_id = b.prompt_id \
         join model ma on ma.model_id = b.model_a_id join model mb on mb.model_id = b.model_b_id \
         where b.battle_id = $1",
    )
    .bind(battle_id)
    .fetch_one(pool)
    .await?;
    Ok(Battle {
        battle_id: r.battle_id,
        user_id: r.user_id,
        status: r.status,
        prompt: r.prompt,
        a_is_left: r.a_is_left,
        assignment_id: r.assignment_id,
        error: r.error,
        a: Contestant {
            model_id: r.a_id,
            name: r.a_name,
            kind: r.a_kind,
            config: r.a_config,
        },
        b: Contestant {
            model_id: r.b_id,
            name: r.b_name,
            kind: r.b_kind,
            config: r.b_config,
        },
    })
}

/// Claims a battle for generation; false when it was already claimed (another tab).
///
/// # Errors
/// Only on database failure.
pub async fn claim(pool: &PgPool, battle_id: i64) -> Result<bool> {
    let r = sqlx::query(
        "update arena_battle set started_at = now(), updated_at = now() \
         where battle_id = $1 and status = 'generating' and started_at is null",
    )
    .bind(battle_id)
    .execute(pool)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// Records both answers and opens the vote: responses, an item in the arena project and an
/// assignment for the annotator (display order as drawn), in one transaction. Returns the
/// assignment id.
///
/// # Errors
/// [`Error::Invalid`] when the battle is not generating any more.
pub async fn complete(
    pool: &PgPool,
    battle_id: i64,
    answer_a: &str,
    answer_b: &str,
    meta_a: &serde_json::Value,
    meta_b: &serde_json::Value,
) -> Result<i64> {
    let mut tx = pool.begin().await?;
    /// What completing a battle reads of it.
    #[derive(sqlx::FromRow)]
    struct Generating {
        project_id: i64,
        user_id: i64,
        prompt_id: i64,
        model_a_id: i64,
        model_b_id: i64,
        a_is_left: bool,
        assignment_ttl_seconds: i32,
    }
    let b: Option<Generating> = sqlx::query_as(
        "select b.project_id, b.user_id, b.prompt_id, b.model_a_id, b.model_b_id, b.a_is_left, \
                p.assignment_ttl_seconds \
         from arena_battle b join project p on p.project_id = b.project_id \
         where b.battle_id = $1 and b.status = 'generating' for update of b",
    )
    .bind(battle_id)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(Generating {
        project_id,
        user_id,
        prompt_id,
        model_a_id: model_a,
        model_b_id: model_b,
        a_is_left,
        assignment_ttl_seconds: ttl,
    }) = b
    else {
        return Err(Error::Invalid("this battle is no longer generating".into()));
    };
    let mut responses = [0_i64; 2];
    for (k, (model, text, meta)) in [(model_a, answer_a, meta_a), (model_b, answer_b, meta_b)]
        .into_iter()
        .enumerate()
    {
        responses[k] = crate::imports::response(&mut tx, prompt_id, model, text, meta).await?;
    }
    let (item_id, _) = crate::imports::item(
        &mut tx,
        project_id,
        prompt_id,
        &format!("battle:{battle_id}"),
        &responses,
    )
    .await?;
    let order = if a_is_left {
        vec![responses[0], responses[1]]
    } else {
        vec![responses[1], responses[0]]
    };
    let (assignment_id,): (i64,) = sqlx::query_as(
        "insert into assignment (item_id, user_id, display_order, expires_at) \
         values ($1, $2, $3, now() + make_interval(secs => $4)) returning assignment_id",
    )
    .bind(item_id)
    .bind(user_id)
    .bind(&order)
    .bind(f64::from(ttl))
    .fetch_one(&mut *tx)
    .await?;
    sqlx::query(
        "update arena_battle set status = 'ready', item_id = $2, assignment_id = $3, \
                updated_at = now() where battle_id = $1",
    )
    .bind(battle_id)
    .bind(item_id)
    .bind(assignment_id)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(assignment_id)
}

/// A ready battle's assignment and its two answers in display order (left, right), so that a
/// client whose event stream dropped can pick the battle up again.
///
/// # Errors
/// Only on database failure; a battle that is not ready is `Ok(None)`.
pub async fn answers(pool: &PgPool, battle_id: i64) -> Result<Option<(i64, String, String)>> {
    Ok(sqlx::query_as(
        "select a.assignment_id, l.text, r.text \
         from arena_battle b join assignment a on a.assignment_id = b.assignment_id \
         join response l on l.response_id = a.display_order[1] \
         join response r on r.response_id = a.display_order[2] \
         where b.battle_id = $1 and b.status = 'ready'",
    )
    .bind(battle_id)
    .fetch_optional(pool)
    .await?)
}

/// Marks failed the battles that can no longer finish: generating for longer than
/// `generating_for` (the server answering them died, or a backend hangs), or never claimed by
/// an event stream within `unclaimed_for`. Returns how many.
///
/// # Errors
/// Only on database failure.
pub async fn reap(
    pool: &PgPool,
    generating_for: std::time::Duration,
    unclaimed_for: std::time::Duration,
) -> Result<u64> {
    let r = sqlx::query(
        "update arena_battle set status = 'failed', updated_at = now(), \
                error = case when started_at is null \
                    then 'nobody opened this battle in time: start a new round' \
                    else 'generation did not finish in time: start a new round' end \
         where status = 'generating' \
           and (started_at < now() - make_interval(secs => $1) \
                or (started_at is null and created_at < now() - make_interval(secs => $2)))",
    )
    .bind(generating_for.as_secs_f64())
    .bind(unclaimed_for.as_secs_f64())
    .execute(pool)
    .await?;
    Ok(r.rows_affected())
}

/// Marks a battle failed with the reason; it never becomes votable.
///
/// # Errors
/// Only on database failure.
pub async fn fail(pool: &PgPool, battle_id: i64, error: &str) -> Result<()> {
    sqlx::query(
        "update arena_battle set status = 'failed', error = $2, updated_at = now() \
         where battle_id = $1 and status = 'generating'",
    )
    .bind(battle_id)
    .bind(error)
    .execute(pool)
    .await?;
    Ok(())
}

/// Registers an OpenAI-compatible model (admins), enabled for the arena.
///
/// # Errors
/// A taken name as the `model_name_key` constraint.
pub async fn register_model(
    pool: &PgPool,
    name: &str,
    kind: &str,
    config: &serde_json::Value,
) -> Result<i64> {
    let (id,): (i64,) = sqlx::query_as(
        "insert into model (name, kind, config) values ($1, $2, $3) returning model_id",
    )
    .bind(name.trim())
    .bind(kind)
    .bind(config)
    .fetch_one(pool)
    .await?;
    Ok(id)
}

/// A model's kind-specific settings.
///
/// # Errors
/// [`crate::Error::NotFound`] for an unknown model.
pub async fn model_config(pool: &PgPool, model_id: i64) -> Result<serde_json::Value> {
    let (config,): (serde_json::Value,) =
        sqlx::query_as("select config from model where model_id = $1")
            .bind(model_id)
            .fetch_one(pool)
            .await?;
    Ok(config)
}

/// The named constraints this module's queries can raise, with their users' messages.
pub const CONSTRAINTS: &[crate::Constraint] = &[
    crate::Constraint {
        name: "model_name_key",
        violation: crate::Violation::Conflict,
        message: "a model with that name exists",
    },
    crate::Constraint {
        name: "model_kind_check",
        violation: crate::Violation::Invalid,
        message: "a model's kind is dataset, local or openai",
    },
    crate::Constraint {
        name: "model_sampling_weight_check",
        violation: crate::Violation::Invalid,
        message: "a sampling weight is not negative",
    },
    crate::Constraint {
        name: "arena_battle_distinct_models_check",
        violation: crate::Violation::Invalid,
        message: "a battle needs two different models",
    },
];

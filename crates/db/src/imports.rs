//! Idempotent writes used by the importers: every function either creates a row or finds the
//! one an earlier import created, so importing the same file twice changes nothing. Callers run
//! them inside one transaction per file.

use sqlx::PgConnection;

use crate::Result;

/// The id of the `dataset` model with this name, created if missing.
///
/// # Errors
/// Only on database failure.
pub async fn model(db: &mut PgConnection, name: &str) -> Result<i64> {
    let (id,): (i64,) = sqlx::query_as(
        "insert into model (name, kind) values ($1, 'dataset') \
         on conflict on constraint model_name_key do update set name = excluded.name \
         returning model_id",
    )
    .bind(name)
    .fetch_one(db)
    .await?;
    Ok(id)
}

/// The id of the prompt with this text (by content hash), created if missing.
///
/// # Errors
/// Only on database failure.
pub async fn prompt(db: &mut PgConnection, text: &str, category: Option<&str>) -> Result<i64> {
    let (id,): (i64,) = sqlx::query_as(
        "insert into prompt (text, category, source, content_hash) values ($1, $2, 'import', md5($1)) \
         on conflict on constraint prompt_content_hash_key do update set text = excluded.text \
         returning prompt_id",
    )
    .bind(text)
    .bind(category)
    .fetch_one(db)
    .await?;
    Ok(id)
}

/// Stores a prompt's conversation (earlier turns) and tags.
///
/// # Errors
/// Only on database failure.
pub async fn set_conversation(
    db: &mut PgConnection,
    prompt_id: i64,
    conversation: &serde_json::Value,
    tags: &[String],
) -> Result<()> {
    sqlx::query("update prompt set conversation = $2, tags = $3 where prompt_id = $1")
        .bind(prompt_id)
        .bind(conversation)
        .bind(tags)
        .execute(db)
        .await?;
    Ok(())
}

/// The id of this model's response with this text to this prompt, created if missing.
///
/// # Errors
/// Only on database failure.
pub async fn response(
    db: &mut PgConnection,
    prompt_id: i64,
    model_id: i64,
    text: &str,
    metadata: &serde_json::Value,
) -> Result<i64> {
    let (id,): (i64,) = sqlx::query_as(
        "insert into response (prompt_id, model_id, text, metadata, content_hash) \
         values ($1, $2, $3, $4, md5($3)) \
         on conflict on constraint response_prompt_model_content_key \
         do update set text = excluded.text \
         returning response_id",
    )
    .bind(prompt_id)
    .bind(model_id)
    .bind(text)
    .bind(metadata)
    .fetch_one(db)
    .await?;
    Ok(id)
}

/// The id of the pairwise project with this name, created if missing.
///
/// # Errors
/// Only on database failure.
pub async fn pairwise_project(db: &mut PgConnection, name: &str) -> Result<i64> {
    let (id,): (i64,) = sqlx::query_as(
        "insert into project (name, protocol) values ($1, 'pairwise') \
         on conflict on constraint project_name_key do update set name = excluded.name \
         returning project_id",
    )
    .bind(name)
    .fetch_one(&mut *db)
    .await?;
    record_guidelines(db, id).await?;
    Ok(id)
}

/// Records a project's current guidelines as a version, if that version is not recorded yet.
///
/// # Errors
/// Only on database failure.
pub async fn record_guidelines(db: &mut PgConnection, project_id: i64) -> Result<()> {
    sqlx::query(
        "insert into guideline_version (project_id, version, text) \
         select project_id, guidelines_version, guidelines from project where project_id = $1 \
         on conflict do nothing",
    )
    .bind(project_id)
    .execute(db)
    .await?;
    Ok(())
}

/// The id of the item with this external key in the project, created with its responses (in
/// this order) if missing. Returns `(item_id, created)`.
///
/// # Errors
/// Only on database failure.
pub async fn item(
    db: &mut PgConnection,
    project_id: i64,
    prompt_id: i64,
    external_key: &str,
    response_ids: &[i64],
) -> Result<(i64, bool)> {
    let existing: Option<(i64,)> =
        sqlx::query_as("select item_id from item where project_id = $1 and external_key = $2")
            .bind(project_id)
            .bind(external_key)
            .fetch_optional(&mut *db)
            .await?;
    if let Some((id,)) = existing {
        return Ok((id, false));
    }
    let (id,): (i64,) = sqlx::query_as(
        "insert into item (project_id, prompt_id, external_key) values ($1, $2, $3) returning item_id",
    )
    .bind(project_id)
    .bind(prompt_id)
    .bind(external_key)
    .fetch_one(&mut *db)
    .await?;
    let positions: Vec<i32> = (0..response_ids.len() as i32).collect();
    sqlx::query(
        "insert into item_response (item_id, response_id, position) \
         select $1, r, p from unnest($2::bigint[], $3::int[]) as t (r, p)",
    )
    .bind(id)
    .bind(response_ids)
    .bind(&positions)
    .execute(&mut *db)
    .await?;
    Ok((id, true))
}

/// The id of the annotator standing for an imported judge (external id `source:name`),
/// created if missing.
///
/// # Errors
/// Only on database failure.
pub async fn annotator(db: &mut PgConnection, external_id: &str, cohort: &str) -> Result<i64> {
    let (id,): (i64,) = sqlx::query_as(
        "insert into app_user (role, external_id, cohorts) values ('annotator', $1, array[$2]) \
         on conflict on constraint app_user_external_id_key do update set external_id = excluded.external_id \
         returning user_id",
    )
    .bind(external_id)
    .bind(cohort)
    .fetch_one(db)
    .await?;
    Ok(id)
}

/// An imported pairwise judgement.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportedVote {
    /// Key that makes re-imports idempotent.
    pub import_key: String,
    /// Project, if any.
    pub project_id: Option<i64>,
    /// Item, if any.
    pub item_id: Option<i64>,
    /// Judge.
    pub annotator_id: Option<i64>,
    /// `human`, `llm_judge` or `import`.
    pub source: &'static str,
    /// Side A.
    pub model_a_id: i64,
    /// Side B.
    pub model_b_id: i64,
    /// Response of side A.
    pub response_a_id: Option<i64>,
    /// Response of side B.
    pub response_b_id: Option<i64>,
    /// `a`, `b`, `tie` or `both_bad`.
    pub winner: &'static str,
    /// Written reason.
    pub rationale: Option<String>,
    /// When it was cast, if known (else now).
    pub created_at: Option<time::OffsetDateTime>,
}

/// Inserts votes in batches, skipping those whose import key exists. Returns how many were new.
///
/// # Errors
/// Constraint violations by name, e.g. `vote_distinct_models_check`.
pub async fn votes(db: &mut PgConnection, votes: &[ImportedVote]) -> Result<u64> {
    let mut inserted = 0;
    for chunk in votes.chunks(5_000) {
        let col = |f: fn(&ImportedVote) -> Option<i64>| chunk.iter().map(f).collect::<Vec<_>>();
        let keys: Vec<&str> = chunk.iter().map(|v| v.import_key.as_str()).collect();
        let sources: Vec<&str> = chunk.iter().map(|v| v.source).collect();
        let winners: Vec<&str> = chunk.iter().map(|v| v.winner).collect();
        let rationales: Vec<Option<&str>> = chunk.iter().map(|v| v.rationale.as_deref()).collect();
        let times: Vec<Option<time::OffsetDateTime>> = chunk.iter().map(|v| v.created_at).collect();
        let done = sqlx::query(
            "insert into vote (import_key, project_id, item_id, annotator_id, source, model_a_id, \
                               model_b_id, response_a_id, response_b_id, winner, rationale, created_at) \
             select k, p, i, u, s, ma, mb, ra, rb, w, r, coalesce(t, now()) \
             from unnest($1::text[], $2::bigint[], $3::bigint[], $4::bigint[], $5::text[], \
                         $6::bigint[], $7::bigint[], $8::bigint[], $9::bigint[], $10::text[], \
                         $11::text[], $12::timestamptz[]) \
                  as x (k, p, i, u, s, ma, mb, ra, rb, w, r, t) \
             on conflict on constraint vote_import_key_key do nothing",
        )
        .bind(&keys)
        .bind(col(|v| v.project_id))
        .bind(col(|v| v.item_id))
        .bind(col(|v| v.annotator_id))
        .bind(&sources)
        .bind(col(|v| Some(v.model_a_id)))
        .bind(col(|v| Some(v.model_b_id)))
        .bind(col(|v| v.response_a_id))
        .bind(col(|v| v.response_b_id))
        .bind(&winners)
        .bind(&rationales)
        .bind(&times)
        .execute(&mut *db)
        .await?;
        inserted += done.rows_affected();
    }
    Ok(inserted)
}

/// Marks an item as gold with its known pairwise answer (`a` = the item's first response).
///
/// # Errors
/// Only on database failure.
pub async fn set_gold(db: &mut PgConnection, item_id: i64, winner: &str) -> Result<()> {
    sqlx::query("update item set is_gold = true, gold_answer = $2 where item_id = $1")
        .bind(item_id)
        .bind(serde_json::json!({ "winner": winner }))
        .execute(db)
        .await?;
    Ok(())
}

/// An item of two responses, in display-position order: `(item_id, [(response_id, model_id); 2])`.
pub type ItemPair = (i64, [(i64, i64); 2]);

/// The items of a project that show exactly two responses, with each response's model, for
/// judgements recorded without assignments (imports, the demo's simulated annotators).
///
/// # Errors
/// Only on database failure.
pub async fn item_pairs(db: impl sqlx::PgExecutor<'_>, project_id: i64) -> Result<Vec<ItemPair>> {
    /// An item's responses and their models, in position order.
    #[derive(sqlx::FromRow)]
    struct Row {
        item_id: i64,
        responses: Vec<i64>,
        models: Vec<i64>,
    }
    let rows: Vec<Row> = sqlx::query_as(
        "select i.item_id, array_agg(ir.response_id order by ir.position) as responses, \
                array_agg(r.model_id order by ir.position) as models \
         from item i join item_response ir on ir.item_id = i.item_id \
         join response r on r.response_id = ir.response_id \
         where i.project_id = $1 group by i.item_id having count(*) = 2 order by i.item_id",
    )
    .bind(project_id)
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .map(
            |Row {
                 item_id,
                 responses: r,
                 models: m,
             }| (item_id, [(r[0], m[0]), (r[1], m[1])]),
        )
        .collect())
}

/// The named constraints this module's queries can raise, with their users' messages.
pub const CONSTRAINTS: &[crate::Constraint] = &[crate::Constraint {
    name: "item_project_external_key_key",
    violation: crate::Violation::Conflict,
    message: "the project has an item with that key already",
}];

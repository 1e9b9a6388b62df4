//! Projects: creation from imported responses, settings, and versioned guidelines.

use serde::{Deserialize, Serialize};
use sqlx::{PgExecutor, PgPool};

use crate::Result;

/// A project with its settings and counts, as admins see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, sqlx::FromRow)]
pub struct ProjectAdmin {
    /// Primary key.
    pub project_id: i64,
    /// Name.
    pub name: String,
    /// `pairwise`, `rating` or `ranking`.
    pub protocol: String,
    /// Annotator-written prompts (open arena).
    pub is_arena: bool,
    /// Guidelines (Markdown), current version.
    pub guidelines: String,
    /// Current guideline version.
    pub guidelines_version: i32,
    /// Judgements wanted per item.
    pub overlap_target: i32,
    /// `off`, `optional`, `required`.
    pub rationale_mode: String,
    /// `off`, `slight_clear`.
    pub strength_scale: String,
    /// Seconds before an unanswered assignment returns to the pool.
    pub assignment_ttl_seconds: i32,
    /// Items on which the LLM judges are unsure go to annotators first.
    pub judge_routing: bool,
    /// Items.
    pub items: i64,
    /// Votes.
    pub votes: i64,
}

/// Every project with settings and counts, oldest first.
///
/// # Errors
/// Only on database failure.
pub async fn list(db: impl PgExecutor<'_>) -> Result<Vec<ProjectAdmin>> {
    Ok(sqlx::query_as(
        "select p.project_id, p.name, p.protocol, p.is_arena, p.guidelines, p.guidelines_version, \
                p.overlap_target, p.rationale_mode, p.strength_scale, p.assignment_ttl_seconds, \
                p.judge_routing, \
                (select count(*) from item i where i.project_id = p.project_id) as items, \
                (select count(*) from vote v where v.project_id = p.project_id) as votes \
         from project p order by p.project_id",
    )
    .fetch_all(db)
    .await?)
}

/// The settings an admin chooses for a project.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProjectSettings {
    /// Guidelines (Markdown). A change creates a new version.
    pub guidelines: String,
    /// Judgements wanted per item (1–1000).
    pub overlap_target: i32,
    /// `off`, `optional`, `required`.
    pub rationale_mode: String,
    /// `off`, `slight_clear`.
    pub strength_scale: String,
    /// Seconds before an unanswered assignment returns to the pool (10 s – 7 days).
    pub assignment_ttl_seconds: i32,
    /// Hand annotators first the items on which the LLM judges are unsure (swap-inconsistent,
    /// disagreeing or unparsable verdicts).
    #[serde(default)]
    pub judge_routing: bool,
}

impl Default for ProjectSettings {
    fn default() -> Self {
        Self {
            guidelines: String::new(),
            overlap_target: 3,
            rationale_mode: "optional".into(),
            strength_scale: "off".into(),
            assignment_ttl_seconds: 1800,
            judge_routing: false,
        }
    }
}

/// A model that has responses to compete with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, sqlx::FromRow)]
pub struct ModelResponses {
    /// Model id.
    pub model_id: i64,
    /// Name.
    pub name: String,
    /// Prompts it answered (within the source project, when one is given).
    pub prompts: i64,
}

/// Models with responses, optionally only to the prompts of `source_project`'s items.
///
/// # Errors
/// Only on database failure.
pub async fn models_with_responses(
    db: impl PgExecutor<'_>,
    source_project: Option<i64>,
) -> Result<Vec<ModelResponses>> {
    Ok(sqlx::query_as(
        "select m.model_id, m.name, count(distinct r.prompt_id) as prompts \
         from model m join response r on r.model_id = m.model_id \
         where $1::bigint is null \
            or r.prompt_id in (select prompt_id from item where project_id = $1) \
         group by m.model_id order by m.name",
    )
    .bind(source_project)
    .fetch_all(db)
    .await?)
}

/// Creates a pairwise project whose items pit the chosen models' responses against each other:
/// for every prompt (of `source_project`'s items, or every prompt) and every two chosen models
/// that both answered it, one item with the two responses (each model's first response).
/// Returns `(project_id, items)`. One transaction.
///
/// # Errors
/// A taken name or invalid settings as constraint errors; fewer than two models as
/// [`crate::Error::Invalid`].
pub async fn create_pairwise(
    pool: &PgPool,
    name: &str,
    settings: &ProjectSettings,
    source_project: Option<i64>,
    models: &[i64],
    created_by: Option<i64>,
) -> Result<(i64, usize)> {
    create(
        pool,
        &NewProject {
            name,
            protocol: "pairwise",
            config: &serde_json::json!({}),
            settings,
            source_project,
            models,
            created_by,
        },
    )
    .await
}

/// What a new project is made of.
#[derive(Debug, Clone, Copy)]
pub struct NewProject<'a> {
    /// Name.
    pub name: &'a str,
    /// `pairwise`, `rating` or `ranking`.
    pub protocol: &'a str,
    /// Protocol settings ([`crate::judgements::ProtocolConfig`] as JSON).
    pub config: &'a serde_json::Value,
    /// Settings.
    pub settings: &'a ProjectSettings,
    /// Prompts of this project only (every prompt when `None`).
    pub source_project: Option<i64>,
    /// The competing models.
    pub models: &'a [i64],
    /// Creator.
    pub created_by: Option<i64>,
}

/// Creates a project from imported responses. Pairwise projects, and rating projects that
/// also ask for a choice (`with_choice`), get one item per prompt and pair of chosen models;
/// ranking projects one item per prompt with every chosen model's response (2 to 8); plain
/// rating projects one item per prompt with the chosen models' responses. Returns the project
/// id and the number of items.
///
/// # Errors
/// [`crate::Error::Invalid`] when the models make no item; constraint errors for a taken name
/// or invalid settings.
pub async fn create(pool: &PgPool, p: &NewProject<'_>) -> Result<(i64, usize)> {
    let NewProject {
        name,
        protocol,
        config,
        settings,
        source_project,
        models,
        created_by,
    } = *p;
    let cfg = crate::judgements::ProtocolConfig::from_json(config);
    cfg.validate().map_err(crate::Error::Invalid)?;
    let pairs = protocol == "pairwise" || (protocol == "rating" && cfg.with_choice);
    let mut models = models.to_vec();
    models.sort_unstable();
    models.dedup();
    let least = if protocol == "rating" && !pairs { 1 } else { 2 };
    if models.len() < least {
        return Err(crate::Error::Invalid(if least == 2 {
            "choose at least two models whose responses compete".into()
        } else {
            "choose at least one model whose responses are rated".into()
        }));
    }
    if protocol == "ranking" && models.len() > 8 {
        return Err(crate::Error::Invalid(
            "a ranking shows 2 to 8 responses: choose at most 8 models".into(),
        ));
    }
    let mut tx = pool.begin().await?;
    let (project_id,): (i64,) = sqlx::query_as(
        "insert into project (name, protocol, guidelines, overlap_target, rationale_mode, \
                              strength_scale, assignment_ttl_seconds, created_by, config, \
                              judge_routing) \
         values ($1, $8, $2, $3, $4, $5, $6, $7, $9, $10) returning project_id",
    )
    .bind(name.trim())
    .bind(&settings.guidelines)
    .bind(settings.overlap_target)
    .bind(&settings.rationale_mode)
    .bind(&settings.strength_scale)
    .bind(settings.assignment_ttl_seconds)
    .bind(created_by)
    .bind(protocol)
    .bind(serde_json::to_value(&cfg).map_err(|e| crate::Error::Invalid(e.to_string()))?)
    .bind(settings.judge_routing)
    .fetch_one(&mut *tx)
    .await?;
    sqlx::query("insert into guideline_version (project_id, version, text) values ($1, 1, $2)")
        .bind(project_id)
        .bind(&settings.guidelines)
        .execute(&mut *tx)
        .await?;
    // Each chosen model's first response per prompt.
    /// A chosen model's first response to a prompt.
    #[derive(sqlx::FromRow)]
    struct First {
        prompt_id: i64,
        model_id: i64,
        response_id: i64,
    }
    let firsts: Vec<First> = sqlx::query_as(
        "select distinct on (r.prompt_id, r.model_id) r.prompt_id, r.model_id, r.response_id \
         from response r \
         where r.model_id = any($1) \
           and ($2::bigint is null \
                or r.prompt_id in (select prompt_id from item where project_id = $2)) \
         order by r.prompt_id, r.model_id, r.response_id",
    )
    .bind(&models)
    .bind(source_project)
    .fetch_all(&mut *tx)
    .await?;
    // Each item: a prompt, a key and its responses in canonical order.
    let (mut prompts, mut keys, mut members) = (vec![], vec![], Vec::<Vec<i64>>::new());
    if pairs {
        for (k, a) in firsts.iter().enumerate() {
            for b in firsts[k + 1..]
                .iter()
                .take_while(|b| b.prompt_id == a.prompt_id)
            {
                prompts.push(a.prompt_id);
                keys.push(format!("{}:{}:{}", a.prompt_id, a.model_id, b.model_id));
                members.push(vec![a.response_id, b.response_id]);
            }
        }
    } else {
        for chunk in firsts.chunk_by(|a, b| a.prompt_id == b.prompt_id) {
            if chunk.len() >= least {
                prompts.push(chunk[0].prompt_id);
                keys.push(chunk[0].prompt_id.to_string());
                members.push(chunk.iter().map(|r| r.response_id).collect());
            }
        }
    }
    if prompts.is_empty() {
        return Err(crate::Error::Invalid(if least == 2 {
            "no prompt has responses from two of the chosen models".into()
        } else {
            "no prompt has a response from the chosen models".into()
        }));
    }
    let ids: Vec<(i64, String)> = sqlx::query_as(
        "insert into item (project_id, prompt_id, external_key) \
         select $1, p, k from unnest($2::bigint[], $3::text[]) as t (p, k) \
         returning item_id, external_key",
    )
    .bind(project_id)
    .bind(&prompts)
    .bind(&keys)
    .fetch_all(&mut *tx)
    .await?;
    let index: std::collections::HashMap<&str, usize> = keys
        .iter()
        .enumerate()
        .map(|(i, k)| (k.as_str(), i))
        .collect();
    let (mut items, mut responses, mut positions) = (vec![], vec![], vec![]);
    for (item_id, key) in &ids {
        let i = index[key.as_str()];
        for (pos, r) in members[i].iter().enumerate() {
            items.push(*item_id);
            responses.push(*r);
            positions.push(i32::try_from(pos).unwrap_or(i32::MAX));
        }
    }
    sqlx::query(
        "insert into item_response (item_id, response_id, position) \
         select * from unnest($1::bigint[], $2::bigint[], $3::int[])",
    )
    .bind(&items)
    .bind(&responses)
    .bind(&positions)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok((project_id, ids.len()))
}

/// Updates a project's settings; changed guidelines become a new version (the old text stays
/// readable, and judgements keep the version they were made under). Returns the version now
/// in force.
///
/// # Errors
/// [`crate::Error::NotFound`] for an unknown project; invalid settings as constraint errors.
pub async fn update_settings(pool: &PgPool, project_id: i64, s: &ProjectSettings) -> Result<i32> {
    let mut tx = pool.begin().await?;
    let (current, version): (String, i32) = sqlx::query_as(
        "select guidelines, guidelines_version from project where project_id = $1 for update",
    )
    .bind(project_id)
    .fetch_one(&mut *tx)
    .await?;
    let version = if current == s.guidelines {
        version
    } else {
        // Keep the outgoing text if it was never recorded (projects made before versioning).
        sqlx::query(
            "insert into guideline_version (project_id, version, text) values ($1, $2, $3) \
             on conflict do nothing",
        )
        .bind(project_id)
        .bind(version)
        .bind(&current)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "insert into guideline_version (project_id, version, text) values ($1, $2, $3)",
        )
        .bind(project_id)
        .bind(version + 1)
        .bind(&s.guidelines)
        .execute(&mut *tx)
        .await?;
        version + 1
    };
    sqlx::query(
        "update project set guidelines = $2, guidelines_version = $3, overlap_target = $4, \
                rationale_mode = $5, strength_scale = $6, assignment_ttl_seconds = $7, \
                judge_routing = $8, updated_at = now() \
         where project_id = $1",
    )
    .bind(project_id)
    .bind(&s.guidelines)
    .bind(version)
    .bind(s.overlap_target)
    .bind(&s.rationale_mode)
    .bind(&s.strength_scale)
    .bind(s.assignment_ttl_seconds)
    .bind(s.judge_routing)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(version)
}

/// The text of every guideline version of a project, oldest first.
///
/// # Errors
/// Only on database failure.
pub async fn guideline_versions(
    db: impl PgExecutor<'_>,
    project_id: i64,
) -> Result<Vec<(i32, String)>> {
    Ok(sqlx::query_as(
        "select version, text from guideline_version where project_id = $1 order by version",
    )
    .bind(project_id)
    .fetch_all(db)
    .await?)
}

/// The named constraints this module's queries can raise, with their users' messages.
pub const CONSTRAINTS: &[crate::Constraint] = &[
    crate::Constraint {
        name: "project_name_key",
        violation: crate::Violation::Conflict,
        message: "a project with that name exists",
    },
    crate::Constraint {
        name: "project_protocol_check",
        violation: crate::Violation::Invalid,
        message: "the protocol is pairwise, rating or ranking",
    },
    crate::Constraint {
        name: "project_overlap_target_check",
        violation: crate::Violation::Invalid,
        message: "the overlap target is a whole number from 1 to 1000",
    },
    crate::Constraint {
        name: "project_rationale_mode_check",
        violation: crate::Violation::Invalid,
        message: "the rationale mode is off, optional or required",
    },
    crate::Constraint {
        name: "project_strength_scale_check",
        violation: crate::Violation::Invalid,
        message: "the strength scale is off or slight_clear",
    },
    crate::Constraint {
        name: "project_assignment_ttl_check",
        violation: crate::Violation::Invalid,
        message: "the assignment time limit is 10 s to 7 days",
    },
];

/// A project's id and protocol by its name.
///
/// # Errors
/// [`crate::Error::NotFound`] for an unknown name.
pub async fn by_name(db: impl PgExecutor<'_>, name: &str) -> Result<(i64, String)> {
    Ok(
        sqlx::query_as("select project_id, protocol from project where name = $1")
            .bind(name)
            .fetch_one(db)
            .await?,
    )
}

/// A project's name.
///
/// # Errors
/// [`crate::Error::NotFound`] for an unknown id.
pub async fn name(db: impl PgExecutor<'_>, id: i64) -> Result<String> {
    let (name,): (String,) = sqlx::query_as("select name from project where project_id = $1")
        .bind(id)
        .fetch_one(db)
        .await?;
    Ok(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn seed(pool: &PgPool) -> Vec<i64> {
        let mut tx = pool.begin().await.unwrap();
        let mut models = vec![];
        for m in ["m1", "m2", "m3"] {
            models.push(crate::imports::model(&mut tx, m).await.unwrap());
        }
        let meta = serde_json::json!({});
        for (k, answered) in [vec![0, 1, 2], vec![0, 1], vec![2]].iter().enumerate() {
            let p = crate::imports::prompt(&mut tx, &format!("prompt {k}"), None)
                .await
                .unwrap();
            for &m in answered {
                crate::imports::response(&mut tx, p, models[m], &format!("r{k}{m}"), &meta)
                    .await
                    .unwrap();
            }
        }
        tx.commit().await.unwrap();
        models
    }

    #[sqlx::test(migrator = "crate::MIGRATOR")]
    async fn items_pair_the_chosen_models(pool: PgPool) {
        let models = seed(&pool).await;
        let (id, items) =
            create_pairwise(&pool, "P", &ProjectSettings::default(), None, &models, None)
                .await
                .unwrap();
        // prompt 0: 3 pairs; prompt 1: 1 pair; prompt 2: one model only.
        assert_eq!(items, 4);
        let pairs: i64 = sqlx::query_scalar(
            "select count(*) from (select item_id from item_response ir join item i using (item_id) \
             where i.project_id = $1 group by item_id having count(*) = 2) t",
        )
        .bind(id)
        .fetch_one(&pool)
        .await
        .unwrap();
        assert_eq!(pairs, 4);
        let (_, two) = create_pairwise(
            &pool,
            "Q",
            &ProjectSettings::default(),
            Some(id),
            &models[..2],
            None,
        )
        .await
        .unwrap();
        assert_eq!(two, 2);
        let err = create_pairwise(&pool, "P", &ProjectSettings::default(), None, &models, None)
            .await
            .unwrap_err();
        assert_eq!(err.constraint(), Some("project_name_key"));
        let err = create_pairwise(
            &pool,
            "R",
            &ProjectSettings::default(),
            None,
            &models[..1],
            None,
        )
        .await
        .unwrap_err();
        assert!(matches!(err, crate::Error::Invalid(_)));
        let bad = ProjectSettings {
            overlap_target: 0,
            ..ProjectSettings::default()
        };
        let err = create_pairwise(&pool, "S", &bad, None, &models, None)
            .await
            .unwrap_err();
        assert_eq!(err.constraint(), Some("project_overlap_target_check"));
        assert_eq!(
            list(&pool).await.unwrap().len(),
            2,
            "failed creations left nothing"
        );
    }

    #[sqlx::test(migrator = "crate::MIGRATOR")]
    async fn changed_guidelines_make_a_new_version(pool: PgPool) {
        let models = seed(&pool).await;
        let mut s = ProjectSettings {
            guidelines: "Be kind.".into(),
            ..ProjectSettings::default()
        };
        let (id, _) = create_pairwise(&pool, "P", &s, None, &models, None)
            .await
            .unwrap();
        s.overlap_target = 5;
        assert_eq!(update_settings(&pool, id, &s).await.unwrap(), 1);
        s.guidelines = "Be kind and exact.".into();
        assert_eq!(update_settings(&pool, id, &s).await.unwrap(), 2);
        let versions = guideline_versions(&pool, id).await.unwrap();
        assert_eq!(
            versions,
            vec![
                (1, "Be kind.".to_owned()),
                (2, "Be kind and exact.".to_owned())
            ]
        );
        let p = &list(&pool).await.unwrap()[0];
        assert_eq!((p.overlap_target, p.guidelines_version), (5, 2));
        assert!(matches!(
            update_settings(&pool, 999, &s).await.unwrap_err(),
            crate::Error::NotFound
        ));
    }
}

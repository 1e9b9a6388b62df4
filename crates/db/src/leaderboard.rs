//! Inputs of the leaderboard: aggregated pairwise counts (kept by triggers on `vote`), the
//! models, and the filter options.

use serde::{Deserialize, Serialize};
use sqlx::PgExecutor;
use time::Date;

use crate::Result;

/// Which votes a leaderboard counts.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Filter {
    /// One project.
    pub project_id: Option<i64>,
    /// One prompt category.
    pub category: Option<String>,
    /// Only votes of annotators in this cohort.
    pub cohort: Option<String>,
    /// `human`, `llm_judge` or `import`.
    pub source: Option<String>,
    /// First day (UTC), inclusive.
    pub from: Option<Date>,
    /// Last day (UTC), inclusive.
    pub to: Option<Date>,
    /// Leave out ties and "both bad".
    pub exclude_ties: bool,
}

/// A vote with the tables the filter reads: `vote v`, its annotator `u` and the item's prompt
/// `p` (both left joined).
const VOTES_JOINED: &str = "from vote v \
     left join app_user u on u.user_id = v.annotator_id \
     left join item i on i.item_id = v.item_id \
     left join prompt p on p.prompt_id = i.prompt_id";

/// The filter's conditions on `v` and `p`, bound as `$1`–`$6` by [`bind_conditions`]: project,
/// category, source, first day, last day, ties left out. (Excluded annotators and the cohort
/// are left to each query, which reads them differently.)
const VOTE_CONDITIONS: &str = "($1::bigint is null or v.project_id = $1) \
     and ($2::text is null or coalesce(p.category, '') = $2) \
     and ($3::text is null or v.source = $3) \
     and ($4::date is null or (v.created_at at time zone 'utc')::date >= $4) \
     and ($5::date is null or (v.created_at at time zone 'utc')::date <= $5) \
     and (not $6 or v.winner in ('a', 'b'))";

/// Votes of the filter's cohort (`$7`; all without one), excluded annotators left out.
const IN_COHORT: &str =
    "($7::text is null or $7 = any(u.cohorts)) and not coalesce(u.excluded, false)";

/// Binds [`VOTE_CONDITIONS`]' `$1`–`$6`.
fn bind_conditions<'q, O>(
    q: sqlx::query::QueryAs<'q, sqlx::Postgres, O, sqlx::postgres::PgArguments>,
    f: &'q Filter,
) -> sqlx::query::QueryAs<'q, sqlx::Postgres, O, sqlx::postgres::PgArguments> {
    q.bind(f.project_id)
        .bind(&f.category)
        .bind(&f.source)
        .bind(f.from)
        .bind(f.to)
        .bind(f.exclude_ties)
}

/// How often `model_a` vs `model_b` ended with `winner`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, sqlx::FromRow)]
pub struct PairCount {
    /// Model on side A.
    pub model_a_id: i64,
    /// Model on side B.
    pub model_b_id: i64,
    /// `a`, `b`, `tie` or `both_bad`.
    pub winner: String,
    /// Number of votes.
    pub n: i64,
}

/// The counts for a filter: from the maintained aggregate, or, for a cohort slice, from the
/// votes of that cohort's annotators.
///
/// # Errors
/// Only on database failure.
pub async fn pair_counts(db: impl PgExecutor<'_>, f: &Filter) -> Result<Vec<PairCount>> {
    let rows = if let Some(cohort) = &f.cohort {
        cohort_side_counts(db, f, cohort, true).await?
    } else {
        // The maintained counts, less the votes of excluded annotators (few, read through the
        // annotator index).
        let sql = format!(
            "with agg as ( \
                 select model_a_id, model_b_id, winner, sum(n) as n \
                 from vote_count \
                 where ($1::bigint is null or project_id = $1) \
                   and ($2::text is null or category = $2) \
                   and ($3::text is null or source = $3) \
                   and ($4::date is null or day >= $4) \
                   and ($5::date is null or day <= $5) \
                   and (not $6 or winner in ('a', 'b')) \
                 group by 1, 2, 3), \
             ex as ( \
                 select v.model_a_id, v.model_b_id, v.winner, count(*) as n \
                 from app_user u join vote v on v.annotator_id = u.user_id \
                 left join item i on i.item_id = v.item_id \
                 left join prompt p on p.prompt_id = i.prompt_id \
                 where u.excluded and {VOTE_CONDITIONS} \
                 group by 1, 2, 3) \
             select a.model_a_id, a.model_b_id, a.winner, (a.n - coalesce(e.n, 0))::bigint as n \
             from agg a left join ex e using (model_a_id, model_b_id, winner) \
             where a.n - coalesce(e.n, 0) > 0"
        );
        bind_conditions(sqlx::query_as::<_, PairCount>(&sql), f)
            .fetch_all(db)
            .await?
    };
    Ok(rows)
}

/// Whether the votes under a filter include battles of an arena project, whose pairs the active
/// sampler chose (the cohort aside: read from the maintained counts).
///
/// # Errors
/// Only on database failure.
pub async fn has_arena_votes(db: impl PgExecutor<'_>, f: &Filter) -> Result<bool> {
    let found: bool = sqlx::query_scalar(
        "select exists (select 1 from vote_count c \
             join project pr on pr.project_id = c.project_id \
             where pr.is_arena and c.n > 0 \
               and ($1::bigint is null or c.project_id = $1) \
               and ($2::text is null or c.category = $2) \
               and ($3::text is null or c.source = $3) \
               and ($4::date is null or c.day >= $4) \
               and ($5::date is null or c.day <= $5) \
               and (not $6 or c.winner in ('a', 'b')))",
    )
    .bind(f.project_id)
    .bind(&f.category)
    .bind(&f.source)
    .bind(f.from)
    .bind(f.to)
    .bind(f.exclude_ties)
    .fetch_one(db)
    .await?;
    Ok(found)
}

/// The counts of every vote under a filter that its cohort's annotators did not cast (votes
/// without an annotator included), to compare the cohort with; empty without a cohort.
///
/// # Errors
/// Only on database failure.
pub async fn others_pair_counts(db: impl PgExecutor<'_>, f: &Filter) -> Result<Vec<PairCount>> {
    match &f.cohort {
        Some(cohort) => cohort_side_counts(db, f, cohort, false).await,
        None => Ok(Vec::new()),
    }
}

/// Counts of the votes cast by the cohort's annotators (`inside`), or of all the others.
async fn cohort_side_counts(
    db: impl PgExecutor<'_>,
    f: &Filter,
    cohort: &str,
    inside: bool,
) -> Result<Vec<PairCount>> {
    let sql = format!(
        "select v.model_a_id, v.model_b_id, v.winner, count(*)::bigint as n {VOTES_JOINED} \
         where coalesce($7 = any(u.cohorts), false) = $8 and not coalesce(u.excluded, false) \
           and {VOTE_CONDITIONS} \
         group by 1, 2, 3"
    );
    Ok(bind_conditions(sqlx::query_as::<_, PairCount>(&sql), f)
        .bind(cohort)
        .bind(inside)
        .fetch_all(db)
        .await?)
}

/// A vote with the style counts (docs/design.md §5.5) of both responses, for style control.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct StyleVote {
    /// Model on side A.
    pub model_a_id: i64,
    /// Model on side B.
    pub model_b_id: i64,
    /// `a`, `b`, `tie` or `both_bad`.
    pub winner: String,
    /// A's tokens, headers, list items, bold spans.
    pub a_tokens: f64,
    /// A's markdown headers.
    pub a_headers: f64,
    /// A's list items.
    pub a_lists: f64,
    /// A's bold spans.
    pub a_bold: f64,
    /// B's tokens.
    pub b_tokens: f64,
    /// B's markdown headers.
    pub b_headers: f64,
    /// B's list items.
    pub b_lists: f64,
    /// B's bold spans.
    pub b_bold: f64,
}

/// Votes matching the filter whose two responses both carry style counts
/// (`response.metadata.style`), with those counts.
///
/// # Errors
/// Only on database failure.
pub async fn style_votes(db: impl PgExecutor<'_>, f: &Filter) -> Result<Vec<StyleVote>> {
    let sql = format!(
        "select v.model_a_id, v.model_b_id, v.winner, \
                (ra.metadata->'style'->>'tokens')::float8 as a_tokens, \
                (ra.metadata->'style'->>'headers')::float8 as a_headers, \
                (ra.metadata->'style'->>'lists')::float8 as a_lists, \
                (ra.metadata->'style'->>'bold')::float8 as a_bold, \
                (rb.metadata->'style'->>'tokens')::float8 as b_tokens, \
                (rb.metadata->'style'->>'headers')::float8 as b_headers, \
                (rb.metadata->'style'->>'lists')::float8 as b_lists, \
                (rb.metadata->'style'->>'bold')::float8 as b_bold \
         from vote v \
         join response ra on ra.response_id = v.response_a_id \
         join response rb on rb.response_id = v.response_b_id \
         left join app_user u on u.user_id = v.annotator_id \
         left join item i on i.item_id = v.item_id \
         left join prompt p on p.prompt_id = i.prompt_id \
         where ra.metadata->'style' is not null and rb.metadata->'style' is not null \
           and {IN_COHORT} and {VOTE_CONDITIONS} \
         order by v.created_at, v.vote_id"
    );
    Ok(bind_conditions(sqlx::query_as::<_, StyleVote>(&sql), f)
        .bind(&f.cohort)
        .fetch_all(db)
        .await?)
}

/// One vote on an item, for prediction-powered ratings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, sqlx::FromRow)]
pub struct ItemVote {
    /// The item voted on.
    pub item_id: i64,
    /// Model on side A.
    pub model_a_id: i64,
    /// Model on side B.
    pub model_b_id: i64,
    /// `a`, `b`, `tie` or `both_bad`.
    pub winner: String,
    /// Whether an LLM judge cast it (`source = 'llm_judge'`); otherwise a person did (`human`
    /// or `import`).
    pub judge: bool,
}

/// The votes on items under a filter (its `source` ignored), by item, oldest first.
///
/// # Errors
/// Only on database failure.
pub async fn item_votes(db: impl PgExecutor<'_>, f: &Filter) -> Result<Vec<ItemVote>> {
    let sql = format!(
        "select v.item_id, v.model_a_id, v.model_b_id, v.winner, v.source = 'llm_judge' as judge \
         {VOTES_JOINED} \
         where v.item_id is not null and v.winner is not null and {IN_COHORT} and {VOTE_CONDITIONS} \
         order by v.item_id, v.created_at, v.vote_id"
    );
    let any_source = Filter {
        source: None,
        ..f.clone()
    };
    Ok(
        bind_conditions(sqlx::query_as::<_, ItemVote>(&sql), &any_source)
            .bind(&f.cohort)
            .fetch_all(db)
            .await?,
    )
}

/// A vote with who cast it and where model A was shown, for annotator reliability weights.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, sqlx::FromRow)]
pub struct AnnotatorVote {
    /// Who voted (none for imported votes without an annotator).
    pub annotator_id: Option<i64>,
    /// Model on side A.
    pub model_a_id: i64,
    /// Model on side B.
    pub model_b_id: i64,
    /// `a`, `b`, `tie` or `both_bad`.
    pub winner: String,
    /// Whether A was shown on the left (unknown for imports).
    pub a_was_left: Option<bool>,
}

/// The votes under a filter, one row each, oldest first.
///
/// # Errors
/// Only on database failure.
pub async fn annotator_votes(db: impl PgExecutor<'_>, f: &Filter) -> Result<Vec<AnnotatorVote>> {
    let sql = format!(
        "select v.annotator_id, v.model_a_id, v.model_b_id, v.winner, v.a_was_left \
         {VOTES_JOINED} \
         where {IN_COHORT} and {VOTE_CONDITIONS} \
         order by v.created_at, v.vote_id"
    );
    Ok(bind_conditions(sqlx::query_as::<_, AnnotatorVote>(&sql), f)
        .bind(&f.cohort)
        .fetch_all(db)
        .await?)
}

/// A model as the leaderboard shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, sqlx::FromRow)]
pub struct ModelInfo {
    /// Primary key.
    pub model_id: i64,
    /// Name.
    pub name: String,
    /// `dataset`, `local` or `openai`.
    pub kind: String,
    /// The model it was trained from, if Verdict trained it.
    pub parent_model_id: Option<i64>,
    /// Whether the arena may schedule it.
    pub enabled: bool,
    /// Admin-set sampling weight.
    pub sampling_weight: f64,
}

/// Every model.
///
/// # Errors
/// Only on database failure.
pub async fn models(db: impl PgExecutor<'_>) -> Result<Vec<ModelInfo>> {
    Ok(sqlx::query_as(
        "select model_id, name, kind, parent_model_id, enabled, sampling_weight from model \
         order by model_id",
    )
    .fetch_all(db)
    .await?)
}

/// Changes whether the arena may schedule a model and its sampling weight. Returns the
/// updated model.
///
/// # Errors
/// [`crate::Error::NotFound`] for an unknown model; `model_sampling_weight_check` for a
/// negative weight.
pub async fn update_model_scheduling(
    db: impl PgExecutor<'_>,
    model_id: i64,
    enabled: Option<bool>,
    sampling_weight: Option<f64>,
) -> Result<ModelInfo> {
    Ok(sqlx::query_as(
        "update model set enabled = coalesce($2, enabled), \
                          sampling_weight = coalesce($3, sampling_weight), updated_at = now() \
         where model_id = $1 \
         returning model_id, name, kind, parent_model_id, enabled, sampling_weight",
    )
    .bind(model_id)
    .bind(enabled)
    .bind(sampling_weight)
    .fetch_one(db)
    .await?)
}

/// Values the filters can take.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FilterOptions {
    /// Projects: id and name.
    pub projects: Vec<(i64, String)>,
    /// Categories that have votes.
    pub categories: Vec<String>,
    /// Cohort labels of annotators.
    pub cohorts: Vec<String>,
}

/// A fingerprint of everything a leaderboard reads: the votes (how many, the newest), the
/// models (every column) and the annotators who are excluded or in cohorts. Equal fingerprints
/// mean an equal leaderboard for the same query, so it can be served from a cache.
///
/// # Errors
/// Only on database failure.
pub async fn data_version(db: &sqlx::PgPool) -> Result<String> {
    let (version,): (String,) = sqlx::query_as(
        "select concat_ws('|', \
            (select count(*) from vote), \
            (select coalesce(max(vote_id), 0) from vote), \
            (select md5(coalesce(string_agg(m::text, ',' order by m.model_id), '')) from model m), \
            (select md5(coalesce(string_agg(u.user_id || ':' || u.excluded || ':' \
                        || array_to_string(u.cohorts, ';'), ',' order by u.user_id), '')) \
             from app_user u where u.excluded or cardinality(u.cohorts) > 0))",
    )
    .fetch_one(db)
    .await?;
    Ok(version)
}

/// The filter options.
///
/// # Errors
/// Only on database failure.
pub async fn filter_options(db: &sqlx::PgPool) -> Result<FilterOptions> {
    let projects = sqlx::query_as("select project_id, name from project order by name")
        .fetch_all(db)
        .await?;
    let categories: Vec<(String,)> =
        sqlx::query_as("select distinct category from vote_count where category <> '' order by 1")
            .fetch_all(db)
            .await?;
    let cohorts: Vec<(String,)> =
        sqlx::query_as("select distinct unnest(cohorts) from app_user order by 1")
            .fetch_all(db)
            .await?;
    Ok(FilterOptions {
        projects,
        categories: categories.into_iter().map(|c| c.0).collect(),
        cohorts: cohorts.into_iter().map(|c| c.0).collect(),
    })
}

/// Records a pairwise vote without an assignment (imports, tests). Returns its id.
///
/// # Errors
/// Constraint violations by name (e.g. `vote_winner_check`, `vote_distinct_models_check`).
pub async fn insert_plain_vote(
    db: impl PgExecutor<'_>,
    project_id: Option<i64>,
    annotator_id: Option<i64>,
    source: &str,
    model_a_id: i64,
    model_b_id: i64,
    winner: &str,
) -> Result<i64> {
    let (id,): (i64,) = sqlx::query_as(
        "insert into vote (project_id, annotator_id, source, model_a_id, model_b_id, winner) \
         values ($1, $2, $3, $4, $5, $6) returning vote_id",
    )
    .bind(project_id)
    .bind(annotator_id)
    .bind(source)
    .bind(model_a_id)
    .bind(model_b_id)
    .bind(winner)
    .fetch_one(db)
    .await?;
    Ok(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn model(pool: &sqlx::PgPool, name: &str) -> i64 {
        let (id,): (i64,) = sqlx::query_as(
            "insert into model (name, kind) values ($1, 'dataset') returning model_id",
        )
        .bind(name)
        .fetch_one(pool)
        .await
        .unwrap();
        id
    }

    fn total(rows: &[PairCount]) -> i64 {
        rows.iter().map(|r| r.n).sum()
    }

    #[sqlx::test(migrator = "crate::MIGRATOR")]
    async fn counts_follow_inserts_and_deletes_in_the_same_transaction(pool: sqlx::PgPool) {
        let (x, y) = (model(&pool, "x").await, model(&pool, "y").await);
        let mut tx = pool.begin().await.unwrap();
        for winner in ["a", "a", "b", "tie", "both_bad"] {
            insert_plain_vote(&mut *tx, None, None, "human", x, y, winner)
                .await
                .unwrap();
        }
        insert_plain_vote(&mut *tx, None, None, "llm_judge", x, y, "b")
            .await
            .unwrap();
        tx.commit().await.unwrap();

        let all = pair_counts(&pool, &Filter::default()).await.unwrap();
        assert_eq!(total(&all), 6);
        let a_wins = all.iter().find(|r| r.winner == "a").unwrap();
        assert_eq!((a_wins.model_a_id, a_wins.model_b_id, a_wins.n), (x, y, 2));
        let human = Filter {
            source: Some("human".into()),
            ..Filter::default()
        };
        assert_eq!(total(&pair_counts(&pool, &human).await.unwrap()), 5);
        let decided = Filter {
            exclude_ties: true,
            ..Filter::default()
        };
        assert_eq!(total(&pair_counts(&pool, &decided).await.unwrap()), 4);

        // A rolled-back vote leaves no trace in the counts.
        let mut tx = pool.begin().await.unwrap();
        insert_plain_vote(&mut *tx, None, None, "human", x, y, "a")
            .await
            .unwrap();
        tx.rollback().await.unwrap();
        assert_eq!(
            total(&pair_counts(&pool, &Filter::default()).await.unwrap()),
            6
        );

        sqlx::query("delete from vote where winner = 'tie'")
            .execute(&pool)
            .await
            .unwrap();
        assert_eq!(
            total(&pair_counts(&pool, &Filter::default()).await.unwrap()),
            5
        );
    }

    #[sqlx::test(migrator = "crate::MIGRATOR")]
    async fn cohort_slices_read_their_annotators_votes(pool: sqlx::PgPool) {
        let (x, y) = (model(&pool, "x").await, model(&pool, "y").await);
        let (expert,): (i64,) = sqlx::query_as(
            "insert into app_user (role, cohorts) values ('annotator', '{experts}') returning user_id",
        )
        .fetch_one(&pool)
        .await
        .unwrap();
        insert_plain_vote(&pool, None, Some(expert), "human", x, y, "a")
            .await
            .unwrap();
        insert_plain_vote(&pool, None, None, "human", x, y, "b")
            .await
            .unwrap();
        let experts = Filter {
            cohort: Some("experts".into()),
            ..Filter::default()
        };
        let rows = pair_counts(&pool, &experts).await.unwrap();
        assert_eq!((total(&rows), rows[0].winner.as_str()), (1, "a"));
        let options = filter_options(&pool).await.unwrap();
        assert_eq!(options.cohorts, vec!["experts".to_owned()]);
    }

    #[sqlx::test(migrator = "crate::MIGRATOR")]
    async fn excluded_annotators_leave_the_counts_until_included_again(pool: sqlx::PgPool) {
        let (x, y) = (model(&pool, "x").await, model(&pool, "y").await);
        let (spammer,): (i64,) =
            sqlx::query_as("insert into app_user (role) values ('annotator') returning user_id")
                .fetch_one(&pool)
                .await
                .unwrap();
        for _ in 0..3 {
            insert_plain_vote(&pool, None, Some(spammer), "human", x, y, "b")
                .await
                .unwrap();
        }
        insert_plain_vote(&pool, None, None, "human", x, y, "a")
            .await
            .unwrap();
        let all = Filter::default();
        assert_eq!(total(&pair_counts(&pool, &all).await.unwrap()), 4);
        crate::quality::set_excluded(&pool, spammer, true)
            .await
            .unwrap();
        let rows = pair_counts(&pool, &all).await.unwrap();
        assert_eq!(
            (total(&rows), rows.len(), rows[0].winner.as_str()),
            (1, 1, "a")
        );
        let slice = Filter {
            exclude_ties: true,
            ..Filter::default()
        };
        assert_eq!(total(&pair_counts(&pool, &slice).await.unwrap()), 1);
        crate::quality::set_excluded(&pool, spammer, false)
            .await
            .unwrap();
        assert_eq!(total(&pair_counts(&pool, &all).await.unwrap()), 4);
    }
}

//! Choosing battles from the current leaderboard (docs/design.md §5.7).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use rand::SeedableRng;
use ranking::bt::BtConfig;
use ranking::sampler::{self, SamplerConfig};

use crate::OrApp;
use api::AppError;
use api::leaderboard::{LeaderboardQuery, ModelRef, NextPair};

/// Reads the `project` parameter of a next-pair request: empty or absent means the arena.
///
/// # Errors
/// 400 for anything but a project id.
pub fn parse_project(project: Option<&str>) -> Result<Option<i64>, AppError> {
    match project.map(str::trim).filter(|p| !p.is_empty()) {
        Some(p) => p
            .parse::<i64>()
            .map(Some)
            .map_err(|_| AppError::BadRequest("`project` is a project id".into())),
        None => Ok(None),
    }
}

/// Samples the next pair among enabled models with positive weight: the pair whose battle is
/// expected to shrink the project's leaderboard intervals the most (docs/design.md §5.18),
/// times the admin weights, with a floor for every pair; models without votes are the most
/// uncertain, so new contestants are scheduled early.
///
/// # Errors
/// 409 when fewer than two models can be scheduled; Internal on database failure.
pub async fn next_pair(pool: &db::PgPool, project: Option<i64>) -> Result<NextPair, AppError> {
    let models: Vec<db::leaderboard::ModelInfo> = db::leaderboard::models(pool)
        .await
        .or_app()?
        .into_iter()
        .filter(|m| m.enabled && m.sampling_weight > 0.0 && m.kind != "dataset")
        .collect();
    if models.len() < 2 {
        return Err(AppError::Conflict(
            "the arena needs at least two enabled models that generate answers".into(),
        ));
    }
    // The sampler's information matrix is the plain fit's, so it reads the plain ratings.
    let query = LeaderboardQuery {
        project,
        reweight: Some(false),
        ..LeaderboardQuery::default()
    };
    let board = crate::leaderboard::compute(pool, &query).await?;
    let row_of: HashMap<i64, usize> = board
        .rows
        .iter()
        .enumerate()
        .map(|(k, r)| (r.model_id, k))
        .collect();
    let bt = BtConfig::new();
    let per_theta = bt.scale / bt.base.ln();
    let theta: Vec<f64> = models
        .iter()
        .map(|m| {
            let rating = row_of.get(&m.model_id).and_then(|&k| board.rows[k].rating);
            rating.map_or(f64::NAN, |r| (r - bt.init_rating) / per_theta)
        })
        .collect();
    let weights: Vec<f64> = models.iter().map(|m| m.sampling_weight).collect();
    let battles: Vec<Vec<f64>> = models
        .iter()
        .map(|a| {
            models
                .iter()
                .map(
                    |b| match (row_of.get(&a.model_id), row_of.get(&b.model_id)) {
                        (Some(&i), Some(&j)) => board.battles[i][j],
                        _ => 0.0,
                    },
                )
                .collect()
        })
        .collect();
    let mut rng = rand::rngs::StdRng::from_os_rng();
    // A model Verdict trained plays its parent first, so the leaderboard soon says whether
    // training helped.
    let parents: Vec<Option<usize>> = models
        .iter()
        .map(|m| {
            m.parent_model_id
                .and_then(|p| models.iter().position(|x| x.model_id == p))
        })
        .collect();
    let lineage = sampler::lineage_first(&parents, &battles, sampler::LINEAGE_BATTLES, &mut rng);
    let scores =
        ranking::active::pair_scores(&battles, &theta, &weights, SamplerConfig::new().floor);
    let (l, r) = lineage
        .or_else(|| sampler::sample_pair(&scores, &mut rng))
        .ok_or_else(|| {
            AppError::Conflict("no two models can be scheduled against each other".into())
        })?;
    let to_ref = |m: &db::leaderboard::ModelInfo| ModelRef {
        model_id: m.model_id,
        name: m.name.clone(),
    };
    Ok(NextPair {
        left: to_ref(&models[l]),
        right: to_ref(&models[r]),
    })
}

/// How long a project's pair scores serve before they are computed again. Every next-item
/// request reads them; a few seconds' old scores order the items nearly as well, and the
/// annotation loop is spared a query and a fit per request.
const PAIR_SCORES_FOR: std::time::Duration = std::time::Duration::from_secs(2);

/// A project's model pairs with their active scores ([`project_pair_scores`]).
pub type PairScoreList = Arc<Vec<(i64, i64, f64)>>;

/// Pair scores computed lately, by project: one per database, held by the app's state, so that
/// each project's scores are computed at most once every [`PAIR_SCORES_FOR`] on a node.
#[derive(Debug, Default)]
pub struct PairScores {
    entries: Mutex<HashMap<i64, (Instant, PairScoreList)>>,
}

impl PairScores {
    /// The project's pair scores, computed again when the last ones are older than
    /// [`PAIR_SCORES_FOR`].
    ///
    /// # Errors
    /// Internal on database failure.
    pub async fn get(&self, pool: &db::PgPool, project_id: i64) -> Result<PairScoreList, AppError> {
        let lock = || {
            self.entries
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
        };
        if let Some((at, scores)) = lock().get(&project_id)
            && at.elapsed() < PAIR_SCORES_FOR
        {
            return Ok(Arc::clone(scores));
        }
        let scores = Arc::new(project_pair_scores(pool, project_id).await?);
        let mut entries = lock();
        entries.retain(|_, (at, _)| at.elapsed() < PAIR_SCORES_FOR);
        entries.insert(project_id, (Instant::now(), Arc::clone(&scores)));
        Ok(scores)
    }
}

/// For a pairwise project: each model pair of its items with its active score (docs/design.md
/// §5.18) at the plain fit of the project's votes, lower model id first. Equally loaded items
/// go out in this order, so that the votes land where they narrow the project's intervals most.
///
/// # Errors
/// Internal on database failure.
pub async fn project_pair_scores(
    pool: &db::PgPool,
    project_id: i64,
) -> Result<Vec<(i64, i64, f64)>, AppError> {
    let pairs = db::assignments::model_pairs(pool, project_id)
        .await
        .or_app()?;
    if pairs.len() < 2 {
        // One pair (or none): nothing to choose between.
        return Ok(Vec::new());
    }
    let filter = db::leaderboard::Filter {
        project_id: Some(project_id),
        ..db::leaderboard::Filter::default()
    };
    let votes = db::leaderboard::pair_counts(pool, &filter).await.or_app()?;
    let mut ids: Vec<i64> = pairs.iter().flat_map(|&(a, b)| [a, b]).collect();
    ids.sort_unstable();
    ids.dedup();
    let index: HashMap<i64, usize> = ids.iter().enumerate().map(|(k, &id)| (id, k)).collect();
    let battles = votes.iter().filter_map(|v| {
        let outcome = match v.winner.as_str() {
            "a" => ranking::Outcome::A,
            "b" => ranking::Outcome::B,
            "both_bad" => ranking::Outcome::BothBad,
            _ => ranking::Outcome::Tie,
        };
        let (a, b) = (*index.get(&v.model_a_id)?, *index.get(&v.model_b_id)?);
        Some(std::iter::repeat_n(
            (a, b, outcome),
            usize::try_from(v.n).unwrap_or(0),
        ))
    });
    let counts = ranking::bt::Counts::from_battles(ids.len(), battles.flatten());
    let scores = ranking::active::scores_at_fit(&counts, SamplerConfig::new().floor);
    let wanted: std::collections::HashSet<(i64, i64)> = pairs.into_iter().collect();
    Ok(scores
        .into_iter()
        .map(|(i, j, s)| (ids[i].min(ids[j]), ids[i].max(ids[j]), s))
        .filter(|&(a, b, _)| wanted.contains(&(a, b)))
        .collect())
}

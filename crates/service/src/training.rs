//! Training runs launched from the app (docs/design.md §3.4, §6): pair derivation under
//! the run's policies, preview, launch and the run's view, shared by server functions, the REST
//! API and the worker.

use crate::OrApp;
use api::AppError;
pub use api::training::MetricRow;
use api::training::{
    LaunchPreview, LaunchRequest, MetricPoint, PairExample, PairPolicy, RankingPairs,
    ReferenceProgress, RunFilter, RunView, Snapshot,
};

/// `(chosen, rejected)` response pairs from tie groups (best first); tied responses give none.
#[must_use]
pub fn ranking_pairs(groups: &[Vec<i64>], policy: RankingPairs) -> Vec<(i64, i64)> {
    let mut out = Vec::new();
    let cross = |hi: &Vec<i64>, lo: &Vec<i64>, out: &mut Vec<(i64, i64)>| {
        for a in hi {
            for b in lo {
                out.push((*a, *b));
            }
        }
    };
    match policy {
        RankingPairs::AllPairs => {
            for (k, hi) in groups.iter().enumerate() {
                for lo in &groups[k + 1..] {
                    cross(hi, lo, &mut out);
                }
            }
        }
        RankingPairs::Adjacent => {
            for w in groups.windows(2) {
                cross(&w[0], &w[1], &mut out);
            }
        }
        RankingPairs::BestVsWorst => {
            if groups.len() >= 2 {
                cross(&groups[0], &groups[groups.len() - 1], &mut out);
            }
        }
    }
    out
}

/// `(chosen, rejected)` pairs of one rating form: responses whose scores differ by at least
/// `margin`.
#[must_use]
pub fn rating_pairs(scores: &[(i64, f64)], margin: f64) -> Vec<(i64, i64)> {
    let mut out = Vec::new();
    for (k, (a, sa)) in scores.iter().enumerate() {
        for (b, sb) in &scores[k + 1..] {
            if sa - sb >= margin {
                out.push((*a, *b));
            } else if sb - sa >= margin {
                out.push((*b, *a));
            }
        }
    }
    out
}

/// Votes for two responses and how many tied (each vote counted at its weight: 1, or its
/// annotator's reliability).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Tally {
    /// Votes for the first response.
    pub first: f64,
    /// Votes for the second.
    pub second: f64,
    /// Ties and "both bad".
    pub tied: f64,
}

/// The pair a policy derives from a tally: `Some((first_is_chosen, confidence))`, or `None`
/// when there is no majority or the agreement is below `min_agreement` (the share of decisive
/// votes on the majority side).
#[must_use]
pub fn decide(t: Tally, policy: PairPolicy, min_agreement: Option<f64>) -> Option<(bool, f64)> {
    // Weighted sums that differ by rounding only are a split.
    if (t.first - t.second).abs() <= 1e-9 * (t.first + t.second).max(1.0) {
        return None;
    }
    let (win, lose) = (t.first.max(t.second), t.first.min(t.second));
    if let Some(min) = min_agreement
        && win / (win + lose) < min
    {
        return None;
    }
    let confidence = match policy {
        PairPolicy::Majority => 1.0,
        PairPolicy::Soft => (win + 0.5 * t.tied) / (win + lose + t.tied),
    };
    Some((t.first > t.second, confidence))
}

/// Pairs derived from a snapshot: the rows to train on and the judgements behind them.
#[derive(Debug, Clone, PartialEq)]
pub struct Derived {
    /// Pairs: votes first (in item order), then rankings, then ratings.
    pub pairs: Vec<DerivedPair>,
    /// The snapshot that gives exactly these pairs.
    pub snapshot: Snapshot,
}

/// One training pair with its provenance.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct DerivedPair {
    /// Prompt.
    pub prompt: String,
    /// Preferred response.
    pub chosen: String,
    /// Other response.
    pub rejected: String,
    /// Probability that `chosen` is better.
    pub confidence: f64,
    /// Model of `chosen`.
    pub chosen_model: String,
    /// Model of `rejected`.
    pub rejected_model: String,
    /// Votes for `chosen` (1 for a ranking or rating pair).
    pub votes_chosen: i64,
    /// Votes for `rejected`.
    pub votes_rejected: i64,
    /// Ties and "both bad".
    pub votes_tied: i64,
    /// Project.
    pub project: String,
    /// Item key.
    pub item: String,
    /// `majority`, `soft`, `ranking:<policy>` or `rating:margin=<m>`.
    pub policy: String,
}

fn parse_day(field: &str, s: &Option<String>) -> Result<Option<time::Date>, AppError> {
    let Some(s) = s.as_deref().map(str::trim).filter(|s| !s.is_empty()) else {
        return Ok(None);
    };
    time::Date::parse(s, &time::format_description::well_known::Iso8601::DATE)
        .map(Some)
        .map_err(|_| AppError::Unprocessable(format!("filter.{field}: {s:?} is not YYYY-MM-DD")))
}

/// The database filter for a request's filter, validated.
///
/// # Errors
/// 422 naming the field.
pub fn vote_filter(f: &RunFilter) -> Result<db::training::VoteFilter, AppError> {
    for s in &f.sources {
        if !["human", "import", "llm_judge"].contains(&s.as_str()) {
            return Err(AppError::Unprocessable(format!(
                "filter.sources: {s:?} is not human, import or llm_judge"
            )));
        }
    }
    if let Some(m) = f.min_agreement
        && !(m.is_finite() && (0.5..=1.0).contains(&m))
    {
        return Err(AppError::Unprocessable(
            "filter.min_agreement: a share from 0.5 to 1".into(),
        ));
    }
    let from = parse_day("from", &f.from)?;
    let to = parse_day("to", &f.to)?;
    if let (Some(a), Some(b)) = (from, to)
        && a > b
    {
        return Err(AppError::Unprocessable(
            "filter.to: the last day comes before the first".into(),
        ));
    }
    Ok(db::training::VoteFilter {
        projects: f.projects.clone(),
        from,
        to,
        sources: f.sources.clone(),
        cohorts: f
            .cohorts
            .iter()
            .map(|c| c.trim().to_owned())
            .filter(|c| !c.is_empty())
            .collect(),
        exclude_annotators: f.exclude_annotators.clone(),
        after_id: f.after_vote,
    })
}

/// Derives the pairs of a snapshot's judgements under its policies; the returned
/// snapshot keeps only the judgements that gave pairs.
///
/// # Errors
/// Internal on database failure.
pub async fn derive(pool: &db::PgPool, snap: &Snapshot) -> Result<Derived, AppError> {
    let weights: Vec<(i64, f64)> = snap
        .annotator_weights
        .iter()
        .map(|(&id, &w)| (id, w))
        .collect();
    let tallies = db::training::tallies(pool, &snap.vote_ids, &weights)
        .await
        .or_app()?;
    let mut pairs = Vec::new();
    let mut used = snap.clone();
    used.vote_ids.clear();
    for t in tallies {
        let tally = Tally {
            first: t.first_weight,
            second: t.second_weight,
            tied: t.tied_weight,
        };
        let Some((first_chosen, confidence)) = decide(tally, snap.policy, snap.min_agreement)
        else {
            continue;
        };
        used.vote_ids.extend_from_slice(&t.vote_ids);
        let (chosen, rejected, cm, rm, vc, vr) = if first_chosen {
            (
                t.first,
                t.second,
                t.first_model,
                t.second_model,
                t.first_wins,
                t.second_wins,
            )
        } else {
            (
                t.second,
                t.first,
                t.second_model,
                t.first_model,
                t.second_wins,
                t.first_wins,
            )
        };
        pairs.push(DerivedPair {
            prompt: t.prompt,
            chosen,
            rejected,
            confidence,
            chosen_model: cm,
            rejected_model: rm,
            votes_chosen: vc,
            votes_rejected: vr,
            votes_tied: t.tied,
            project: t.project,
            item: t.item,
            policy: snap.policy.as_str().into(),
        });
    }
    used.vote_ids.sort_unstable();
    used.ranking_ids.clear();
    if let Some(policy) = snap.ranking_pairs {
        for k in db::training::rankings_with_texts(pool, &snap.ranking_ids)
            .await
            .or_app()?
        {
            let groups: Vec<Vec<i64>> =
                serde_json::from_value(k.tie_groups.clone()).unwrap_or_default();
            let at = |id: i64| k.response_ids.iter().position(|r| *r == id);
            let before = pairs.len();
            for (c, r) in ranking_pairs(&groups, policy) {
                let (Some(c), Some(r)) = (at(c), at(r)) else {
                    continue;
                };
                if k.texts[c].trim().is_empty() || k.texts[r].trim().is_empty() {
                    continue;
                }
                pairs.push(DerivedPair {
                    prompt: k.prompt.clone(),
                    chosen: k.texts[c].clone(),
                    rejected: k.texts[r].clone(),
                    confidence: 1.0,
                    chosen_model: k.models[c].clone(),
                    rejected_model: k.models[r].clone(),
                    votes_chosen: 1,
                    votes_rejected: 0,
                    votes_tied: 0,
                    project: k.project.clone(),
                    item: k.item.clone(),
                    policy: format!("ranking:{}", policy.as_str()),
                });
            }
            if pairs.len() > before {
                used.ranking_ids.push(k.ranking_id);
            }
        }
    }
    used.rating_ids.clear();
    if let Some(margin) = snap.rating_margin {
        let rows = db::training::ratings_with_texts(pool, &snap.rating_ids)
            .await
            .or_app()?;
        for form in rows.chunk_by(|a, b| a.form == b.form) {
            // Mean score per response over the form's criteria.
            let means: Vec<(i64, f64)> = form
                .chunk_by(|a, b| a.response_id == b.response_id)
                .map(|resp| {
                    let sum: f64 = resp.iter().map(|r| f64::from(r.score)).sum();
                    (resp[0].response_id, sum / resp.len() as f64)
                })
                .collect();
            let found = rating_pairs(&means, margin);
            if found.is_empty() {
                continue;
            }
            let text = |id: i64| form.iter().find(|r| r.response_id == id);
            for (c, r) in found {
                let (Some(c), Some(r)) = (text(c), text(r)) else {
                    continue;
                };
                pairs.push(DerivedPair {
                    prompt: c.prompt.clone(),
                    chosen: c.text.clone(),
                    rejected: r.text.clone(),
                    confidence: 1.0,
                    chosen_model: c.model.clone(),
                    rejected_model: r.model.clone(),
                    votes_chosen: 1,
                    votes_rejected: 0,
                    votes_tied: 0,
                    project: c.project.clone(),
                    item: c.item.clone(),
                    policy: format!("rating:margin={margin}"),
                });
            }
            used.rating_ids.extend(form.iter().map(|r| r.rating_id));
        }
        used.rating_ids.sort_unstable();
    }
    used.pairs = pairs.len();
    Ok(Derived {
        pairs,
        snapshot: used,
    })
}

/// NoisyBT (docs/design.md §5.14) on the matched votes, the responses as the items: each
/// annotator's vote weight.
async fn reliability_weights(
    pool: &db::PgPool,
    vote_ids: &[i64],
) -> Result<std::collections::BTreeMap<i64, f64>, AppError> {
    let choices = db::training::vote_choices(pool, vote_ids).await.or_app()?;
    let skills = tokio::task::spawn_blocking(move || {
        crate::quality::noisy_skills(choices.iter().map(|c| crate::quality::Choice {
            annotator: c.annotator_id,
            a: c.response_a_id,
            b: c.response_b_id,
            winner: &c.winner,
            a_was_left: c.a_was_left,
        }))
    })
    .await
    .map_err(AppError::internal)?;
    Ok(skills.into_iter().map(|(id, r)| (id, r.weight)).collect())
}

/// What a launch would train on.
///
/// # Errors
/// 422 for invalid settings, a base model that is not a local model, or an invalid filter.
pub async fn preview(
    pool: &db::PgPool,
    req: &LaunchRequest,
) -> Result<(LaunchPreview, Derived), AppError> {
    let (preview, derived, _) = checked_preview(pool, req).await?;
    Ok((preview, derived))
}

/// The request's settings and base model, checked as a launch checks them, so that a preview
/// never shows a run that cannot go.
async fn checked_base(
    pool: &db::PgPool,
    req: &LaunchRequest,
) -> Result<db::leaderboard::ModelInfo, AppError> {
    req.config.validate().map_err(AppError::Unprocessable)?;
    if let Some(name) = &req.output_name
        && (name.trim().is_empty() || name.chars().count() > 200)
    {
        return Err(AppError::Unprocessable(
            "output_name: 1 to 200 characters, or absent".into(),
        ));
    }
    let model = db::leaderboard::models(pool)
        .await
        .or_app()?
        .into_iter()
        .find(|m| m.model_id == req.base_model_id)
        .ok_or_else(|| {
            AppError::Unprocessable(format!("base_model_id: no model #{}", req.base_model_id))
        })?;
    if model.kind != "local" {
        return Err(AppError::Unprocessable(format!(
            "base_model_id: {} is a {} model; only local models can be trained",
            model.name, model.kind
        )));
    }
    Ok(model)
}

async fn checked_preview(
    pool: &db::PgPool,
    req: &LaunchRequest,
) -> Result<(LaunchPreview, Derived, db::leaderboard::ModelInfo), AppError> {
    let model = checked_base(pool, req).await?;
    let filter = vote_filter(&req.filter)?;
    if req.filter.after_vote.is_some()
        && (req.ranking_pairs.is_some() || req.rating_margin.is_some())
    {
        return Err(AppError::Unprocessable(
            "filter.after_vote: counts votes only; leave out rankings and ratings".into(),
        ));
    }
    if let Some(m) = req.rating_margin
        && !(m.is_finite() && m > 0.0)
    {
        return Err(AppError::Unprocessable(
            "rating_margin: a score difference above 0".into(),
        ));
    }
    let matched = db::training::select_votes(pool, &filter).await.or_app()?;
    let annotator_weights = if req.filter.weight_annotators {
        reliability_weights(pool, &matched).await?
    } else {
        std::collections::BTreeMap::new()
    };
    let mut snap = Snapshot {
        vote_ids: matched.clone(),
        policy: req.policy,
        min_agreement: req.filter.min_agreement,
        ranking_pairs: req.ranking_pairs,
        rating_margin: req.rating_margin,
        annotator_weights,
        ..Snapshot::default()
    };
    if req.ranking_pairs.is_some() {
        snap.ranking_ids = db::training::select_rankings(pool, &filter)
            .await
            .or_app()?;
    }
    if req.rating_margin.is_some() {
        snap.rating_ids = db::training::select_ratings(pool, &filter).await.or_app()?;
    }
    let derived = derive(pool, &snap).await?;
    let preview = LaunchPreview {
        pairs: derived.pairs.len(),
        votes: derived.snapshot.vote_ids.len(),
        rankings: derived.snapshot.ranking_ids.len(),
        ratings: derived.snapshot.rating_ids.len(),
        matched_votes: matched.len(),
        examples: derived
            .pairs
            .iter()
            .take(3)
            .map(|p| PairExample {
                prompt: p.prompt.clone(),
                chosen: p.chosen.clone(),
                rejected: p.rejected.clone(),
                chosen_model: p.chosen_model.clone(),
                rejected_model: p.rejected_model.clone(),
                confidence: p.confidence,
            })
            .collect(),
    };
    Ok((preview, derived, model))
}

/// Validates and queues a run; returns its id. The snapshot (the exact vote ids, the
/// policy and the filter) is frozen here.
///
/// # Errors
/// 422 naming what is wrong: an invalid config or filter, a base model that is not a
/// loadable local model, a filter that yields no pairs.
pub async fn launch(
    pool: &db::PgPool,
    models: &dyn crate::models::ModelCheck,
    launched_by: Option<i64>,
    req: &LaunchRequest,
) -> Result<i64, AppError> {
    let run = prepare(pool, models, req).await?;
    db::training::create(
        pool,
        launched_by,
        run.base_model_id,
        &run.snapshot,
        &run.config,
    )
    .await
    .or_app()
}

/// A launch checked and frozen, ready to be queued (by [`launch`], or by a training policy in
/// its own transaction).
#[derive(Debug, Clone, PartialEq)]
pub struct Prepared {
    /// The base model.
    pub base_model_id: i64,
    /// The frozen snapshot, with the filter and the output name.
    pub snapshot: serde_json::Value,
    /// The training settings.
    pub config: serde_json::Value,
}

/// Checks a launch as [`launch`] does and freezes its snapshot, without queueing it.
///
/// # Errors
/// As [`launch`].
pub async fn prepare(
    pool: &db::PgPool,
    models: &dyn crate::models::ModelCheck,
    req: &LaunchRequest,
) -> Result<Prepared, AppError> {
    let (preview, derived, model) = checked_preview(pool, req).await?;
    if preview.pairs == 0 {
        return Err(AppError::Unprocessable(format!(
            "the filter yields no preference pairs ({} matching votes, none with a majority \
             for one response)",
            preview.matched_votes
        )));
    }
    let config = db::arena::model_config(pool, model.model_id)
        .await
        .or_app()?;
    models
        .check_model(config, Some(req.config.clone()))
        .await
        .map_err(|e| {
            AppError::Unprocessable(format!("base_model_id: {} does not load: {e}", model.name))
        })?;
    let mut snapshot = serde_json::to_value(&derived.snapshot).map_err(AppError::internal)?;
    snapshot["filter"] = serde_json::to_value(&req.filter).map_err(AppError::internal)?;
    snapshot["output_name"] = req.output_name.as_deref().map(str::trim).into();
    let config = serde_json::to_value(&req.config).map_err(AppError::internal)?;
    Ok(Prepared {
        base_model_id: model.model_id,
        snapshot,
        config,
    })
}

/// What the launch form can choose from: local models and pairwise projects.
///
/// # Errors
/// Internal on database failure.
pub async fn launch_choices(pool: &db::PgPool) -> Result<api::training::LaunchChoices, AppError> {
    let models = db::leaderboard::models(pool)
        .await
        .or_app()?
        .into_iter()
        .filter(|m| m.kind == "local")
        .map(|m| (m.model_id, m.name))
        .collect();
    let projects = db::projects::list(pool)
        .await
        .or_app()?
        .into_iter()
        .filter(|p| p.protocol == "pairwise")
        .map(|p| (p.project_id, p.name, p.votes))
        .collect();
    Ok(api::training::LaunchChoices { models, projects })
}

/// The snapshot frozen in a run. A stored snapshot that does not parse is an error, never an
/// empty default (which would read as "no votes left").
///
/// # Errors
/// Internal (logged once) when the stored JSON is not a snapshot.
pub fn snapshot(stored: &serde_json::Value) -> Result<Snapshot, AppError> {
    serde_json::from_value(stored.clone())
        .map_err(|e| AppError::internal(format!("a stored training snapshot does not parse: {e}")))
}

/// A run with its metrics.
///
/// # Errors
/// 404 for an unknown run.
pub async fn view(pool: &db::PgPool, id: i64) -> Result<RunView, AppError> {
    let run = crate::error::or_not_found(db::training::get(pool, id).await, || {
        format!("no training run #{id}")
    })?;
    let metrics = db::training::metrics(pool, id, 0).await.or_app()?;
    to_view(run, metrics)
}

/// The latest runs without their metrics.
///
/// # Errors
/// Internal on database failure.
pub async fn list(pool: &db::PgPool) -> Result<Vec<RunView>, AppError> {
    db::training::list(pool, 100)
        .await
        .or_app()?
        .into_iter()
        .map(|r| to_view(r, Vec::new()))
        .collect()
}

/// A run's steps after step `after` (every step with 0).
///
/// # Errors
/// 404 for an unknown run; Internal on database failure.
pub async fn metrics(pool: &db::PgPool, id: i64, after: i32) -> Result<Vec<MetricRow>, AppError> {
    crate::error::or_not_found(db::training::get(pool, id).await, || {
        format!("no training run #{id}")
    })?;
    let rows = db::training::metrics(pool, id, after).await.or_app()?;
    Ok(rows
        .into_iter()
        .map(|r| MetricRow {
            step: r.step,
            metrics: r.metrics,
        })
        .collect())
}

/// The pairs a run trains on, derived again from its frozen snapshot (TRL's format with
/// confidence and provenance).
///
/// # Errors
/// 404 for an unknown run; 500 for a snapshot that does not parse.
pub async fn snapshot_pairs(pool: &db::PgPool, id: i64) -> Result<Derived, AppError> {
    let run = crate::error::or_not_found(db::training::get(pool, id).await, || {
        format!("no training run #{id}")
    })?;
    derive(pool, &snapshot(&run.snapshot)?).await
}

/// Puts a run's output model in the arena, with its parent so that the two can meet (the run
/// page and `verdict demo`); returns the run.
///
/// # Errors
/// 404 for an unknown run; 409 for a run that has not produced a model (yet).
pub async fn put_in_arena(pool: &db::PgPool, id: i64) -> Result<RunView, AppError> {
    let run = view(pool, id).await?;
    let model = run
        .output_model_id
        .ok_or_else(|| AppError::Conflict("the run has not produced a model (yet)".into()))?;
    for m in [model, run.base_model_id] {
        db::leaderboard::update_model_scheduling(pool, m, Some(true), None)
            .await
            .or_app()?;
    }
    Ok(run)
}

/// Asks a run to stop (every edge: the run page, REST, `verdict run cancel`): a queued run is
/// cancelled at once, a running one between steps or reference batches.
///
/// # Errors
/// 404 for an unknown run, 422 for one that has ended.
pub async fn cancel(pool: &db::PgPool, id: i64) -> Result<RunView, AppError> {
    crate::error::or_not_found(db::training::request_cancel(pool, id).await, || {
        format!("no training run #{id}")
    })?;
    view(pool, id).await
}

fn to_view(
    run: db::training::Run,
    metrics: Vec<db::training::MetricRow>,
) -> Result<RunView, AppError> {
    let snap = snapshot(&run.snapshot)?;
    let metrics: Vec<MetricPoint> = metrics
        .into_iter()
        .map(|m| MetricPoint {
            step: m.step,
            values: match m.metrics {
                serde_json::Value::Object(o) => o,
                _ => serde_json::Map::new(),
            },
        })
        .collect();
    let eta_seconds = match (run.status.as_str(), run.total_steps) {
        ("running", Some(total)) if !metrics.is_empty() => {
            let mean =
                metrics.iter().filter_map(|m| m.get("seconds")).sum::<f64>() / metrics.len() as f64;
            Some(mean * f64::from((total - run.step).max(0)))
        }
        _ => None,
    };
    let reference = reference_progress(&run, time::OffsetDateTime::now_utc());
    let last = metrics.last();
    let text = |name: &str| {
        last.and_then(|m| m.values.get(name))
            .and_then(serde_json::Value::as_str)
            .map(str::to_owned)
    };
    let (device, dtype) = (text("device"), text("dtype"));
    let gpu_memory_mib = last.and_then(|m| m.get("gpu_memory_mib"));
    let tokens_per_second = last.and_then(|m| m.get("tokens_per_second"));
    Ok(RunView {
        id: run.training_run_id,
        status: run.status,
        base_model: run.base_model,
        base_model_id: run.base_model_id,
        launched_by: run.launched_by_name,
        error: run.error,
        step: run.step,
        total_steps: run.total_steps,
        eta_seconds,
        snapshot_votes: snap.vote_ids.len(),
        snapshot_judgements: snap.judgements(),
        snapshot_pairs: snap.pairs,
        policy: snap.policy_label(),
        config: run.config,
        cancel_requested: run.cancel_requested,
        output_model_id: run.output_model_id,
        output_model: run.output_model,
        output_model_enabled: run.output_model_enabled,
        attempts: run.attempts,
        created_at: run
            .created_at
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default(),
        metrics,
        reference,
        device,
        dtype,
        gpu_memory_mib,
        tokens_per_second,
    })
}

/// The reference phase's progress, with the time left estimated from its rate so far.
fn reference_progress(
    run: &db::training::Run,
    now: time::OffsetDateTime,
) -> Option<ReferenceProgress> {
    let (done, total) = (run.reference_done?, run.reference_total?);
    let eta_seconds = match run.reference_started_at {
        Some(started) if run.status == "running" && done > 0 && done < total => {
            let elapsed = (now - started).as_seconds_f64().max(0.0);
            Some(elapsed / f64::from(done) * f64::from(total - done))
        }
        _ => None,
    };
    Some(ReferenceProgress {
        done,
        total,
        eta_seconds,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use api::training::RunConfig;

    #[test]
    fn a_stored_snapshot_that_does_not_parse_is_an_error() {
        let good = serde_json::to_value(Snapshot::default()).unwrap();
        assert_eq!(snapshot(&good).unwrap(), Snapshot::default());
        let broken = serde_json::json!({ "vote_ids": "not a list" });
        assert_eq!(snapshot(&broken).unwrap_err(), AppError::Internal);
    }

    fn t(first: i64, second: i64, tied: i64) -> Tally {
        Tally {
            first: first as f64,
            second: second as f64,
            tied: tied as f64,
        }
    }

    #[test]
    fn weighted_votes_decide_by_their_weight() {
        // One reliable vote outweighs two unreliable ones; equal weighted sums are a split,
        // whatever the rounding of the sums.
        let w = |first, second, tied| Tally {
            first,
            second,
            tied,
        };
        assert_eq!(
            decide(w(0.9, 0.2 + 0.2, 0.0), PairPolicy::Majority, None),
            Some((true, 1.0))
        );
        assert_eq!(
            decide(w(0.1 + 0.2, 0.3, 0.0), PairPolicy::Majority, None),
            None
        );
        let (first, c) = decide(w(0.2, 0.8, 0.5), PairPolicy::Soft, None).unwrap();
        assert!(!first && (c - (0.8 + 0.25) / 1.5).abs() < 1e-12);
    }

    #[test]
    fn majority_drops_ties_and_splits() {
        assert_eq!(
            decide(t(2, 1, 5), PairPolicy::Majority, None),
            Some((true, 1.0))
        );
        assert_eq!(
            decide(t(0, 3, 0), PairPolicy::Majority, None),
            Some((false, 1.0))
        );
        assert_eq!(decide(t(2, 2, 1), PairPolicy::Majority, None), None);
        assert_eq!(decide(t(0, 0, 4), PairPolicy::Majority, None), None);
    }

    #[test]
    fn soft_labels_count_ties_half() {
        // 3 for, 1 against, 2 tied: (3 + 1) / 6.
        let (first, c) = decide(t(1, 3, 2), PairPolicy::Soft, None).unwrap();
        assert!(!first);
        assert!((c - 4.0 / 6.0).abs() < 1e-12);
    }

    #[test]
    fn agreement_threshold_uses_decisive_votes() {
        // 2 of 3 decisive votes agree: 0.667.
        assert!(decide(t(2, 1, 9), PairPolicy::Majority, Some(0.6)).is_some());
        assert!(decide(t(2, 1, 9), PairPolicy::Majority, Some(0.7)).is_none());
        assert!(decide(t(3, 0, 0), PairPolicy::Majority, Some(1.0)).is_some());
    }

    #[test]
    fn rankings_and_ratings_give_pairs_by_policy() {
        let groups = vec![vec![1], vec![2, 3], vec![4]];
        assert_eq!(
            ranking_pairs(&groups, RankingPairs::AllPairs),
            [(1, 2), (1, 3), (1, 4), (2, 4), (3, 4)]
        );
        assert_eq!(
            ranking_pairs(&groups, RankingPairs::Adjacent),
            [(1, 2), (1, 3), (2, 4), (3, 4)]
        );
        assert_eq!(ranking_pairs(&groups, RankingPairs::BestVsWorst), [(1, 4)]);
        assert!(ranking_pairs(&[vec![1, 2]], RankingPairs::AllPairs).is_empty());
        assert_eq!(
            rating_pairs(&[(1, 5.0), (2, 3.0), (3, 4.5)], 1.0),
            [(1, 2), (3, 2)]
        );
        assert!(rating_pairs(&[(1, 5.0), (2, 3.0)], 2.5).is_empty());
    }

    #[test]
    fn config_errors_name_the_field() {
        let mut c = RunConfig::default();
        assert_eq!(c.validate(), Ok(()));
        c.loss = "kto".into();
        assert!(c.validate().unwrap_err().starts_with("config.loss"));
        c = RunConfig {
            beta: 0.0,
            ..RunConfig::default()
        };
        assert!(c.validate().unwrap_err().starts_with("config.beta"));
        c = RunConfig {
            batch_size: 0,
            ..RunConfig::default()
        };
        assert!(c.validate().unwrap_err().starts_with("config.batch_size"));
        c = RunConfig {
            learning_rate: f64::NAN,
            ..RunConfig::default()
        };
        assert!(
            c.validate()
                .unwrap_err()
                .starts_with("config.learning_rate")
        );
    }
}

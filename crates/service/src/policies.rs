//! Training policies (docs/design.md §3, flow 6): collected votes trigger DPO rounds. A policy
//! starts a round from its champion when enough new qualifying votes came in (or on its
//! schedule), on those votes only; the child battles the champion in the arena, and the
//! promotion gate makes it the next champion, or retires it, on the evidence of those battles.
//! Workers call [`tick`]; every step is one transaction with its rows locked.

use api::policies::{NewPolicy, PolicyView, RoundView};
use api::training::{LaunchRequest, RunFilter};
use ranking::gate::{self, Decision};

use crate::{AppError, OrApp};

/// The run template a policy stores: what a round's launch request takes from it.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
struct Template {
    #[serde(default)]
    filter: RunFilter,
    #[serde(default)]
    policy: api::training::PairPolicy,
    #[serde(default)]
    config: api::training::RunConfig,
}

/// Creates a policy after checking its project, base model and settings; its votes are those
/// that come in from now on.
///
/// # Errors
/// 404 for an unknown project or model; 422 for a base that is not a local model or settings
/// out of range; 409 for a taken name.
pub async fn create(
    pool: &db::PgPool,
    p: &NewPolicy,
    created_by: Option<i64>,
) -> Result<PolicyView, AppError> {
    let (project_id, _) =
        crate::error::or_not_found(db::projects::by_name(pool, p.project.trim()).await, || {
            format!("no project named {:?}", p.project.trim())
        })?;
    let (base, kind) = crate::error::or_not_found(
        db::judges::model_by_name(pool, p.base_model.trim()).await,
        || format!("no model named {:?}", p.base_model.trim()),
    )?;
    if kind != "local" {
        return Err(AppError::Unprocessable(format!(
            "base_model: {:?} is a {kind} model; only local models can be trained",
            p.base_model.trim()
        )));
    }
    p.config.validate().map_err(AppError::Unprocessable)?;
    let filter = RunFilter {
        sources: p.sources.clone(),
        ..RunFilter::default()
    };
    crate::training::vote_filter(&filter)?;
    let launch = serde_json::to_value(Template {
        filter,
        policy: p.policy,
        config: p.config.clone(),
    })
    .map_err(AppError::internal)?;
    let id = db::policies::create(
        pool,
        &db::policies::NewPolicy {
            name: p.name.trim(),
            project_id,
            champion_model_id: base,
            min_new_votes: p
                .min_new_votes
                .unwrap_or(api::policies::DEFAULT_MIN_NEW_VOTES),
            every_minutes: p.every_minutes,
            daily_cap: p.daily_cap.unwrap_or(api::policies::DEFAULT_DAILY_CAP),
            gate_min_battles: p
                .gate_min_battles
                .unwrap_or(api::policies::DEFAULT_GATE_MIN_BATTLES),
            gate_max_battles: p
                .gate_max_battles
                .unwrap_or(api::policies::DEFAULT_GATE_MAX_BATTLES),
            launch: &launch,
            created_by,
        },
    )
    .await
    .or_app()?;
    show(pool, id).await
}

/// The policy the page's form asks for: empty numbers take the defaults.
///
/// # Errors
/// 422 naming a field that is not a positive whole number.
pub fn form(f: &api::policies::PolicyForm) -> Result<NewPolicy, AppError> {
    let number = |field: &str, text: &str| -> Result<Option<i32>, AppError> {
        let text = text.trim();
        if text.is_empty() {
            return Ok(None);
        }
        match text.parse::<i32>() {
            Ok(n) if n > 0 => Ok(Some(n)),
            _ => Err(AppError::Unprocessable(format!(
                "{field}: {text:?} is not a positive whole number"
            ))),
        }
    };
    let lora = number("lora_rank", &f.lora_rank)?;
    Ok(NewPolicy {
        name: f.name.clone(),
        project: f.project.clone(),
        base_model: f.base_model.clone(),
        min_new_votes: number("min_new_votes", &f.min_new_votes)?,
        every_minutes: None,
        daily_cap: None,
        gate_min_battles: number("gate_min_battles", &f.gate_min_battles)?,
        gate_max_battles: number("gate_max_battles", &f.gate_max_battles)?,
        sources: Vec::new(),
        policy: api::training::PairPolicy::Majority,
        config: api::training::RunConfig {
            lora_rank: lora.and_then(|r| u32::try_from(r).ok()),
            ..api::training::RunConfig::default()
        },
    })
}

/// Every policy with its lineage.
///
/// # Errors
/// Internal on database failure.
pub async fn list(pool: &db::PgPool) -> Result<Vec<PolicyView>, AppError> {
    let policies = db::policies::list(pool).await.or_app()?;
    let ids: Vec<i64> = policies.iter().map(|p| p.policy_id).collect();
    let mut rounds: std::collections::HashMap<i64, Vec<db::policies::Round>> =
        std::collections::HashMap::new();
    for r in db::policies::rounds_of(pool, &ids).await.or_app()? {
        rounds.entry(r.policy_id).or_default().push(r);
    }
    let mut out = Vec::with_capacity(policies.len());
    for p in policies {
        let mine = rounds.remove(&p.policy_id).unwrap_or_default();
        out.push(view_of(pool, p, mine).await?);
    }
    Ok(out)
}

/// One policy with its lineage.
///
/// # Errors
/// 404 for an unknown policy.
pub async fn show(pool: &db::PgPool, id: i64) -> Result<PolicyView, AppError> {
    let p = crate::error::or_not_found(db::policies::get(pool, id).await, || {
        format!("no training policy #{id}")
    })?;
    let rounds = db::policies::rounds(pool, p.policy_id).await.or_app()?;
    view_of(pool, p, rounds).await
}

/// The id of the policy named `name`.
///
/// # Errors
/// 404 for an unknown name.
pub async fn id_by_name(pool: &db::PgPool, name: &str) -> Result<i64, AppError> {
    crate::error::or_not_found(db::policies::id_by_name(pool, name.trim()).await, || {
        format!("no training policy named {:?}", name.trim())
    })
}

/// Pauses (or resumes) a policy: a paused one starts no round; its open round, if any, goes on
/// to its gate.
///
/// # Errors
/// 404 for an unknown policy.
pub async fn set_paused(pool: &db::PgPool, id: i64, paused: bool) -> Result<PolicyView, AppError> {
    if !db::policies::set_paused(pool, id, paused).await.or_app()? {
        return Err(AppError::NotFound(format!("no training policy #{id}")));
    }
    show(pool, id).await
}

fn sources(p: &db::policies::Policy) -> Vec<String> {
    let t: Template = serde_json::from_value(p.launch.clone()).unwrap_or_default();
    if t.filter.sources.is_empty() {
        vec!["human".into(), "import".into()]
    } else {
        t.filter.sources
    }
}

fn rfc3339(t: time::OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// A policy as the API shows it, with its rounds (in order) and its count of new votes.
async fn view_of(
    pool: &db::PgPool,
    p: db::policies::Policy,
    rounds: Vec<db::policies::Round>,
) -> Result<PolicyView, AppError> {
    let sources = sources(&p);
    let (new_votes, _) = db::policies::new_votes(pool, &p, &sources).await.or_app()?;
    let rounds = rounds.into_iter().map(round_view).collect();
    Ok(PolicyView {
        policy_id: p.policy_id,
        name: p.name,
        project_id: p.project_id,
        project: p.project,
        champion_model_id: p.champion_model_id,
        champion: p.champion,
        min_new_votes: p.min_new_votes,
        every_minutes: p.every_minutes,
        daily_cap: p.daily_cap,
        gate_min_battles: p.gate_min_battles,
        gate_max_battles: p.gate_max_battles,
        sources,
        paused: p.paused,
        new_votes,
        last_round_at: p.last_round_at.map(rfc3339),
        last_error: p.last_error,
        rounds,
    })
}

fn round_view(r: db::policies::Round) -> RoundView {
    let metric = |key: &str| {
        r.last_metrics
            .as_ref()
            .and_then(|m| m.get(key))
            .and_then(serde_json::Value::as_f64)
    };
    RoundView {
        round: r.round,
        training_run_id: r.training_run_id,
        run_status: r.run_status.clone(),
        parent_model_id: r.parent_model_id,
        parent: r.parent.clone(),
        child_model_id: r.child_model_id,
        child: r.child.clone(),
        status: r.status.clone(),
        votes: r.votes,
        snapshot_votes: r.snapshot_votes,
        loss: metric("loss"),
        reward_accuracy: metric("rewards/accuracies"),
        wins: r.wins,
        losses: r.losses,
        ties: r.ties,
        win_lower: r.win_lower,
        win_upper: r.win_upper,
        decision: r.decision,
        decided_at: r.decided_at.map(rfc3339),
    }
}

/// What one pass of the loop did, in words (for the workers' log and `verdict bench loop`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tick {
    /// Rounds started: (policy, round, run id).
    pub started: Vec<(String, i32, i64)>,
    /// Rounds whose run ended: (round id, new status).
    pub advanced: Vec<(i64, String)>,
    /// Gate decisions: (round id, status, decision).
    pub decided: Vec<(i64, String, String)>,
}

/// One pass of the loop: rounds whose run ended move to the gate (or fail), the gate decides
/// where it can, and idle policies with enough new votes start their next round.
///
/// # Errors
/// Internal on database failure. A policy whose round cannot start (no pairs, a base that does
/// not load) keeps the reason in `last_error` and is tried again on the next pass.
pub async fn tick(
    pool: &db::PgPool,
    models: &dyn crate::models::ModelCheck,
) -> Result<Tick, AppError> {
    let mut out = Tick {
        advanced: db::policies::advance(pool).await.or_app()?,
        ..Tick::default()
    };
    for round_id in db::policies::gating(pool).await.or_app()? {
        if let Some(d) = gate_round(pool, round_id).await? {
            out.decided.push(d);
        }
    }
    for policy_id in db::policies::idle(pool).await.or_app()? {
        if let Some(s) = start_round(pool, models, policy_id).await? {
            out.started.push(s);
        }
    }
    Ok(out)
}

/// Applies the gate to one round (locked), recording its record whatever it decides.
async fn gate_round(
    pool: &db::PgPool,
    round_id: i64,
) -> Result<Option<(i64, String, String)>, AppError> {
    let mut tx = db::policies::begin(pool).await.or_app()?;
    let Some((round, policy)) = db::policies::lock_gating(&mut tx, round_id)
        .await
        .or_app()?
    else {
        return Ok(None);
    };
    let Some(child_id) = round.child_model_id else {
        return Ok(None);
    };
    let record =
        db::policies::head_to_head(&mut *tx, child_id, round.parent_model_id, &sources(&policy))
            .await
            .or_app()?;
    let stored = [round.wins, round.losses, round.ties].map(i64::from);
    let [wins, losses, ties] = record.map(|n| u64::try_from(n).unwrap_or(0));
    let g = gate::decide(
        wins,
        losses,
        u64::try_from(policy.gate_min_battles).unwrap_or(1),
        u64::try_from(policy.gate_max_battles).unwrap_or(1),
    );
    let numbers = format!(
        "{wins}–{losses} (ties {ties}), win rate {} with 95% interval {}",
        g.win_rate.map_or_else(|| "–".into(), |w| format!("{w:.3}")),
        g.interval
            .map_or_else(|| "–".into(), |(l, u)| format!("[{l:.3}, {u:.3}]"))
    );
    let child = round.child.clone().unwrap_or_default();
    let (status, decision) = match g.decision {
        // An admin took the child out of the arena: it can battle no more.
        Decision::Wait if round.child_enabled == Some(false) => (
            Some("retired"),
            Some(format!(
                "{child} was taken out of the arena before the gate decided: {numbers}; retired"
            )),
        ),
        Decision::Wait => (None, None),
        Decision::Promote => (
            Some("promoted"),
            Some(format!(
                "{child} beats {}: {numbers}; it is the champion now",
                round.parent
            )),
        ),
        Decision::Retire => (
            Some("retired"),
            Some(format!(
                "{child} loses to {}: {numbers}; retired",
                round.parent
            )),
        ),
        Decision::RetireAtCap => (
            Some("retired"),
            Some(format!(
                "{child} and {} are not told apart after {} decided battles: {numbers}; retired",
                round.parent, policy.gate_max_battles
            )),
        ),
    };
    if status.is_none() && record == stored {
        // Nothing new since the last pass: no write.
        return Ok(None);
    }
    let verdict = db::policies::Verdict {
        record,
        interval: g.interval,
        status,
        decision: decision.clone(),
    };
    db::policies::decide(&mut tx, &round, &verdict)
        .await
        .or_app()?;
    db::policies::commit(tx).await.or_app()?;
    Ok(status.map(|s| (round_id, s.to_owned(), decision.unwrap_or_default())))
}

/// Starts the next round of an idle policy when its new votes say so: the run is queued and the
/// round recorded in one transaction, under the policy's lock.
async fn start_round(
    pool: &db::PgPool,
    models: &dyn crate::models::ModelCheck,
    policy_id: i64,
) -> Result<Option<(String, i32, i64)>, AppError> {
    let mut tx = db::policies::begin(pool).await.or_app()?;
    let Some((policy, today)) = db::policies::lock_idle(&mut tx, policy_id).await.or_app()? else {
        return Ok(None);
    };
    let sources = sources(&policy);
    let (count, last) = db::policies::new_votes(&mut *tx, &policy, &sources)
        .await
        .or_app()?;
    let Some(last) = last else {
        return Ok(None);
    };
    let due = count >= i64::from(policy.min_new_votes)
        || policy.every_minutes.is_some_and(|m| {
            policy.last_round_at.is_none_or(|t| {
                time::OffsetDateTime::now_utc() - t >= time::Duration::minutes(i64::from(m))
            })
        });
    if !due || today >= i64::from(policy.daily_cap) {
        return Ok(None);
    }
    let template: Template = serde_json::from_value(policy.launch.clone()).unwrap_or_default();
    let round = db::policies::next_round(&mut *tx, policy.policy_id)
        .await
        .or_app()?;
    let request = LaunchRequest {
        base_model_id: policy.champion_model_id,
        output_name: Some(format!("{}-r{round}", policy.name)),
        filter: RunFilter {
            projects: vec![policy.project_id],
            after_vote: Some(policy.last_vote_id),
            ..template.filter
        },
        policy: template.policy,
        ranking_pairs: None,
        rating_margin: None,
        config: template.config,
    };
    let prepared = match crate::training::prepare(pool, models, &request).await {
        Ok(p) => p,
        Err(AppError::Unprocessable(why)) => {
            db::policies::set_error(&mut *tx, policy.policy_id, Some(&why))
                .await
                .or_app()?;
            db::policies::commit(tx).await.or_app()?;
            return Ok(None);
        }
        Err(e) => return Err(e),
    };
    // The policy launches the run, not a person.
    let run_id = db::training::create(
        &mut *tx,
        None,
        prepared.base_model_id,
        &prepared.snapshot,
        &prepared.config,
    )
    .await
    .or_app()?;
    let votes = i32::try_from(count).unwrap_or(i32::MAX);
    // Votes that came in while the run was prepared may be in its snapshot: the watermark moves
    // past every vote the run learns from, so none is learnt twice.
    let learnt = prepared
        .snapshot
        .get("vote_ids")
        .and_then(serde_json::Value::as_array)
        .and_then(|ids| ids.iter().filter_map(serde_json::Value::as_i64).max());
    let last = learnt.map_or(last, |l| l.max(last));
    let round = db::policies::start_round(&mut tx, &policy, run_id, votes, last)
        .await
        .or_app()?;
    db::policies::commit(tx).await.or_app()?;
    Ok(Some((policy.name, round, run_id)))
}

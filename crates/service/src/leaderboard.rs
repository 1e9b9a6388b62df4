//! The leaderboard service: filters → aggregated counts → Bradley–Terry ratings with sandwich
//! or bootstrap intervals, rank spread, tiers and the pairwise matrices. Used by the leaderboard
//! page and `/api/v1/leaderboard`.

use std::collections::HashMap;

use ranking::bt::{BootstrapConfig, BtConfig, Counts, Unbounded};
use ranking::leaderboard::{self, CiMethod, LeaderboardConfig, MIN_PAIR_COUNT, PROVISIONAL_VOTES};

use crate::OrApp;
use api::AppError;
use api::leaderboard::{
    AnnotatorWeight, FilterChoices, HeadToHead, LeaderboardQuery, LeaderboardResponse,
    LeaderboardRow, TieModelScore,
};
use ranking::ties::TieModel;

/// The `source` that rates by prediction-powered inference (docs/design.md §5.16).
pub const PPI: &str = "ppi";

/// Bootstrap rounds of the app's leaderboard (Chatbot Arena's default).
pub const ROUNDS: usize = 100;

/// The tie model a query asks for (`None`: the default, without the comparison).
///
/// # Errors
/// 400 for an unknown model.
pub fn tie_model(q: &LeaderboardQuery) -> Result<Option<TieModel>, AppError> {
    let Some(name) = nonempty(&q.tie_model) else {
        return Ok(None);
    };
    TieModel::parse(&name)
        .map(Some)
        .ok_or_else(|| AppError::BadRequest(format!("`tie_model` is {}", TieModel::NAMES)))
}

/// The interval method a query asks for (sandwich unless it says `bootstrap`; style control
/// always bootstraps).
///
/// # Errors
/// 400 for a method that is neither.
pub fn ci_method(q: &LeaderboardQuery) -> Result<CiMethod, AppError> {
    if q.style_control {
        return Ok(CiMethod::Bootstrap);
    }
    match nonempty(&q.ci) {
        None => Ok(CiMethod::Sandwich),
        Some(s) => CiMethod::parse(&s)
            .ok_or_else(|| AppError::BadRequest("`ci` is sandwich or bootstrap".into())),
    }
}

fn parse_day(value: Option<&str>, field: &str) -> Result<Option<time::Date>, AppError> {
    let Some(v) = value.map(str::trim).filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    let bad = || AppError::BadRequest(format!("`{field}` must be a date like 2026-01-31"));
    let mut parts = v.splitn(3, '-');
    let (Some(y), Some(m), Some(d)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(bad());
    };
    let (y, m, d): (i32, u8, u8) = (
        y.parse().map_err(|_| bad())?,
        m.parse().map_err(|_| bad())?,
        d.parse().map_err(|_| bad())?,
    );
    let month = time::Month::try_from(m).map_err(|_| bad())?;
    time::Date::from_calendar_date(y, month, d)
        .map(Some)
        .map_err(|_| bad())
}

fn nonempty(v: &Option<String>) -> Option<String> {
    v.as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

/// The leaderboard options that constrain each other, as an edge asks for them (the page and
/// the API's query, or `verdict leaderboard`'s flags): every edge checks them with
/// [`check_options`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Options {
    /// Style control.
    pub style_control: bool,
    /// Reweighting by inverse pair frequency, asked for.
    pub reweight: bool,
    /// The robustness audit.
    pub audit: bool,
    /// Prediction-powered ratings (human and LLM-judge votes).
    pub ppi: bool,
    /// Votes weighted by their annotator's reliability.
    pub weight_annotators: bool,
    /// Bootstrap intervals.
    pub bootstrap: bool,
    /// A tie model asked for by name (`bt` included).
    pub tie_model: Option<TieModel>,
}

/// How an edge names the options in its messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OptionNames {
    /// Style control.
    pub style_control: &'static str,
    /// Reweighting.
    pub reweight: &'static str,
    /// The audit.
    pub audit: &'static str,
    /// PPI.
    pub ppi: &'static str,
    /// Annotator weights.
    pub weight_annotators: &'static str,
    /// Bootstrap intervals.
    pub bootstrap: &'static str,
    /// The tie model.
    pub tie_model: &'static str,
}

/// The names of the page's and the API's query parameters.
pub const QUERY_NAMES: OptionNames = OptionNames {
    style_control: "style_control",
    reweight: "reweight=true",
    audit: "audit",
    ppi: "source=ppi",
    weight_annotators: "weight_annotators",
    bootstrap: "ci=bootstrap",
    tie_model: "tie_model",
};

/// Checks that the options go together: style control, PPI, the audit, annotator weights and
/// the tie models other than `bt` each fit the votes their own way.
///
/// # Errors
/// A message naming the options that clash, as `names` spells them.
pub fn check_options(o: &Options, names: &OptionNames) -> Result<(), String> {
    let n = names;
    let other_ties = o.tie_model.filter(|&m| m != TieModel::Bt);
    if o.style_control && o.reweight {
        return Err(format!(
            "{} does not apply to {}",
            n.reweight, n.style_control
        ));
    }
    if let Some(m) = other_ties
        && (o.bootstrap || o.reweight || o.style_control)
    {
        return Err(format!(
            "the {} tie model takes sandwich intervals, without {}, {} or {}",
            m.name(),
            n.bootstrap,
            n.reweight,
            n.style_control
        ));
    }
    if o.audit && (o.reweight || o.style_control || other_ties.is_some()) {
        return Err(format!(
            "{} works on the plain Bradley–Terry fit: no {}, {} or other {}",
            n.audit, n.reweight, n.style_control, n.tie_model
        ));
    }
    if o.ppi && (o.style_control || o.reweight || o.audit || o.bootstrap || o.tie_model.is_some()) {
        return Err(format!(
            "{} takes its own intervals: no {}, {}, {}, {} or {}",
            n.ppi, n.style_control, n.reweight, n.audit, n.bootstrap, n.tie_model
        ));
    }
    if o.weight_annotators
        && (o.ppi || o.style_control || o.audit || o.bootstrap || other_ties.is_some())
    {
        return Err(format!(
            "{} takes the Bradley–Terry fit with sandwich intervals: no {}, {}, {}, {} or other {}",
            n.weight_annotators, n.ppi, n.style_control, n.audit, n.bootstrap, n.tie_model
        ));
    }
    Ok(())
}

/// Whether a board with these options is reweighted by inverse pair frequency when the query
/// does not say: where [`check_options`] allows it, except with annotator weights, which may be
/// combined with it on request but by default weigh the votes on their own.
fn reweight_by_default(o: &Options) -> bool {
    let reweighted = Options {
        reweight: true,
        ..*o
    };
    !o.weight_annotators && check_options(&reweighted, &QUERY_NAMES).is_ok()
}

/// Converts the query into the database filter, validating it.
///
/// # Errors
/// 400 for a bad date or source.
pub fn filter(q: &LeaderboardQuery) -> Result<db::leaderboard::Filter, AppError> {
    // `ppi` rates on every source: human votes, powered by the judge's.
    let source = nonempty(&q.source).filter(|s| s != PPI);
    if let Some(s) = &source
        && !["human", "llm_judge", "import"].contains(&s.as_str())
    {
        return Err(AppError::BadRequest(
            "`source` is human, llm_judge, import or ppi".into(),
        ));
    }
    Ok(db::leaderboard::Filter {
        project_id: q.project,
        category: nonempty(&q.category),
        cohort: nonempty(&q.cohort),
        source,
        from: parse_day(q.from.as_deref(), "from")?,
        to: parse_day(q.to.as_deref(), "to")?,
        exclude_ties: q.exclude_ties,
    })
}

/// Leaderboards already computed, by query, with the data version they were computed at
/// ([`db::leaderboard::data_version`]). Requests for the same query wait for one computation
/// instead of each running it: a style-controlled board costs a good part of a second of CPU.
#[derive(Debug, Default)]
pub struct Cache {
    entries: std::sync::Mutex<std::collections::HashMap<String, CacheSlot>>,
    hits: std::sync::atomic::AtomicU64,
}

type CacheSlot = std::sync::Arc<tokio::sync::Mutex<Option<(String, LeaderboardResponse)>>>;

/// Queries kept before the cache starts afresh.
const CACHE_QUERIES: usize = 256;

impl Cache {
    /// How many answers came from the cache.
    #[must_use]
    pub fn hits(&self) -> u64 {
        self.hits.load(std::sync::atomic::Ordering::Relaxed)
    }
}

/// The leaderboard for a query, from `cache` when nothing it reads has changed since it was
/// computed (see [`Cache`]).
///
/// # Errors
/// As [`compute`].
pub async fn cached(
    pool: &db::PgPool,
    cache: &Cache,
    q: &LeaderboardQuery,
) -> Result<LeaderboardResponse, AppError> {
    let key = serde_json::to_string(q).map_err(AppError::internal)?;
    let version = db::leaderboard::data_version(pool).await.or_app()?;
    let slot = {
        let mut entries = cache
            .entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if entries.len() >= CACHE_QUERIES && !entries.contains_key(&key) {
            entries.clear();
        }
        std::sync::Arc::clone(entries.entry(key).or_default())
    };
    let mut entry = slot.lock().await;
    if let Some((at, board)) = entry.as_ref()
        && *at == version
    {
        cache
            .hits
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        return Ok(board.clone());
    }
    let board = compute(pool, q).await?;
    *entry = Some((version, board.clone()));
    Ok(board)
}

/// Computes the leaderboard for a query.
///
/// # Errors
/// 400 for bad filters or style control without style data; Internal on database failure.
pub async fn compute(
    pool: &db::PgPool,
    q: &LeaderboardQuery,
) -> Result<LeaderboardResponse, AppError> {
    let f = filter(q)?;
    let ci = ci_method(q)?;
    let tie_model = tie_model(q)?;
    let ppi = nonempty(&q.source).as_deref() == Some(PPI);
    let options = Options {
        style_control: q.style_control,
        reweight: q.reweight == Some(true),
        audit: q.audit,
        ppi,
        weight_annotators: q.weight_annotators,
        bootstrap: ci == CiMethod::Bootstrap && !q.style_control,
        tie_model,
    };
    check_options(&options, &QUERY_NAMES).map_err(AppError::BadRequest)?;
    let reweight = match q.reweight {
        Some(asked) => asked,
        None => {
            reweight_by_default(&options)
                && db::leaderboard::has_arena_votes(pool, &f).await.or_app()?
        }
    };
    let cfg = LeaderboardConfig {
        ci,
        bootstrap: BootstrapConfig {
            rounds: ROUNDS,
            seed: 0,
        },
        reweight: reweight.then_some(MIN_PAIR_COUNT),
        tie_model: tie_model.unwrap_or_default(),
        compare_tie_models: tie_model.map(|_| 5),
        audit: q.audit,
        ..LeaderboardConfig::new()
    };
    let item_votes = if ppi {
        Some(db::leaderboard::item_votes(pool, &f).await.or_app()?)
    } else {
        None
    };
    let weighting = if q.weight_annotators {
        Some(annotator_weights(pool, &f).await?)
    } else {
        None
    };
    let counts = db::leaderboard::pair_counts(pool, &f).await.or_app()?;
    if tie_model == Some(TieModel::GroundedRaoKupper)
        && !counts.iter().any(|c| c.winner == "both_bad")
    {
        return Err(AppError::BadRequest(
            "the grounded-rao-kupper tie model needs \"both bad\" votes; none of the votes \
             selected here is one"
                .into(),
        ));
    }
    let others = db::leaderboard::others_pair_counts(pool, &f)
        .await
        .or_app()?;
    let models = db::leaderboard::models(pool).await.or_app()?;
    let options = db::leaderboard::filter_options(pool).await.or_app()?;
    let style = if q.style_control {
        let votes = db::leaderboard::style_votes(pool, &f).await.or_app()?;
        if votes.is_empty() {
            return Err(AppError::BadRequest(
                "style control needs style counts (length and markdown) of both responses \
                 of each vote; none of the votes selected here has them"
                    .into(),
            ));
        }
        Some(votes)
    } else {
        None
    };
    let weighted_rows = weighting.as_ref().map(|w| w.rows.clone());
    let result = tokio::task::spawn_blocking(move || {
        let (mut rows, total, mut m, ties) =
            build(&counts, weighted_rows.as_deref(), &models, &cfg);
        let before: Vec<i64> = rows.iter().map(|r| r.model_id).collect();
        let style = style.map(|votes| restyle(&mut rows, &votes));
        let ppi = item_votes
            .map(|votes| reppi(&mut rows, &votes))
            .transpose()?;
        if !others.is_empty() {
            cohort_offsets(&mut rows, &counts, &others);
        }
        if style.is_some() || ppi.is_some() {
            m = reorder(&m, &before, &rows);
        }
        Ok::<_, AppError>((rows, total, m, style, ppi, ties))
    })
    .await
    .map_err(|err| {
        tracing::error!(error = %err, "leaderboard task failed");
        AppError::Internal
    })??;
    let (rows, total_votes, m, style, ppi_note, (tie_param, tie_scores)) = result;
    let lineage = head_to_heads(&rows, &m);
    let (style_coefficients, note) = match style {
        Some((coef, used)) => (
            Some(coef),
            Some(format!(
                "style-controlled on the {used} of {total_votes} votes whose responses have style counts"
            )),
        ),
        None => (None, ppi_note),
    };
    Ok(LeaderboardResponse {
        rows,
        total_votes,
        ci: if ppi { PPI } else { ci.name() }.to_owned(),
        reweighted: reweight,
        annotator_weights: weighting.map(|w| w.annotators).unwrap_or_default(),
        provisional_votes: PROVISIONAL_VOTES as u64,
        tie_model: cfg.tie_model.name().to_owned(),
        tie_param,
        tie_model_scores: tie_scores
            .unwrap_or_default()
            .into_iter()
            .map(|s| TieModelScore {
                model: s.model.name().to_owned(),
                log_loss: s.log_loss,
            })
            .collect(),
        bootstrap_rounds: if ci == CiMethod::Bootstrap { ROUNDS } else { 0 },
        battles: m.battles,
        win_fraction: m.win_fraction,
        predicted_win_rate: m.predicted_win_rate,
        style_coefficients,
        note,
        options: FilterChoices {
            projects: options.projects,
            categories: options.categories,
            cohorts: options.cohorts,
        },
        lineage,
    })
}

/// Each trained model on the board against its parent, when the parent is on it too.
fn head_to_heads(rows: &[LeaderboardRow], m: &leaderboard::Matrices) -> Vec<HeadToHead> {
    let mut out = Vec::new();
    for (i, child) in rows.iter().enumerate() {
        let Some(parent) = &child.parent else {
            continue;
        };
        let Some(j) = rows.iter().position(|r| &r.model == parent) else {
            continue;
        };
        let n = m.battles[i][j];
        let wins = m.win_fraction[i][j].map_or(0.0, |f| (f * n).round());
        let ci = leaderboard::wilson(wins, n, 1.959_963_984_540_054);
        out.push(HeadToHead {
            child: child.model.clone(),
            parent: parent.clone(),
            child_wins: wins as u64,
            parent_wins: (n - wins).max(0.0) as u64,
            win_rate: (n > 0.0).then(|| wins / n),
            lower: ci.map(|c| c.0),
            upper: ci.map(|c| c.1),
        });
    }
    out
}

/// The fitted tie parameter and the tie models' held-out scores, when asked for.
type TieResult = (Option<f64>, Option<Vec<ranking::ties::TieModelScore>>);

/// The votes of a slice weighted by their annotators' reliability.
struct Weighting {
    /// Counts of `(model A, model B, winner)` per annotator weight, with that weight.
    rows: Vec<(db::leaderboard::PairCount, f64)>,
    /// Each annotator's weight, lowest first.
    annotators: Vec<AnnotatorWeight>,
}

/// NoisyBT (docs/design.md §5.14) on the slice's decided votes, the models as the items:
/// every vote weighs its annotator's skill; votes without an annotator, or whose annotator cast
/// no decided vote here, weigh 1.
async fn annotator_weights(
    pool: &db::PgPool,
    f: &db::leaderboard::Filter,
) -> Result<Weighting, AppError> {
    let votes = db::leaderboard::annotator_votes(pool, f).await.or_app()?;
    let skills = tokio::task::spawn_blocking({
        let votes = votes.clone();
        move || {
            crate::quality::noisy_skills(votes.iter().filter_map(|v| {
                Some(crate::quality::Choice {
                    annotator: v.annotator_id?,
                    a: v.model_a_id,
                    b: v.model_b_id,
                    winner: &v.winner,
                    a_was_left: v.a_was_left,
                })
            }))
        }
    })
    .await
    .map_err(AppError::internal)?;
    let weight = |who: Option<i64>| who.and_then(|id| skills.get(&id)).map_or(1.0, |r| r.weight);
    let mut grouped: HashMap<(i64, i64, &str, u64), (i64, f64)> = HashMap::new();
    let mut per_person: HashMap<i64, u64> = HashMap::new();
    for v in &votes {
        let w = weight(v.annotator_id);
        let e = grouped
            .entry((v.model_a_id, v.model_b_id, v.winner.as_str(), w.to_bits()))
            .or_insert((0, w));
        e.0 += 1;
        if let Some(id) = v.annotator_id {
            *per_person.entry(id).or_default() += 1;
        }
    }
    let mut rows: Vec<(db::leaderboard::PairCount, f64)> = grouped
        .into_iter()
        .map(|((a, b, winner, _), (n, w))| {
            let c = db::leaderboard::PairCount {
                model_a_id: a,
                model_b_id: b,
                winner: winner.to_owned(),
                n,
            };
            (c, w)
        })
        .collect();
    rows.sort_by(|x, y| {
        (x.0.model_a_id, x.0.model_b_id, &x.0.winner)
            .cmp(&(y.0.model_a_id, y.0.model_b_id, &y.0.winner))
            .then(x.1.total_cmp(&y.1))
    });
    let ids: Vec<i64> = per_person.keys().copied().collect();
    let names: HashMap<i64, String> = db::quality::annotators(pool, &ids)
        .await
        .or_app()?
        .into_iter()
        .map(|a| (a.user_id, a.name))
        .collect();
    let mut annotators: Vec<AnnotatorWeight> = per_person
        .into_iter()
        .map(|(id, votes)| AnnotatorWeight {
            annotator_id: id,
            annotator: names
                .get(&id)
                .cloned()
                .unwrap_or_else(|| format!("user #{id}")),
            weight: weight(Some(id)),
            votes,
        })
        .collect();
    annotators.sort_by(|x, y| {
        x.weight
            .total_cmp(&y.weight)
            .then(x.annotator_id.cmp(&y.annotator_id))
    });
    Ok(Weighting { rows, annotators })
}

/// Counts with one triple per weighted row, and the rows' weights.
fn weighted_counts(
    rows: &[(db::leaderboard::PairCount, f64)],
    index: &HashMap<i64, usize>,
    n: usize,
) -> (Counts, Vec<f64>) {
    let mut triples = Vec::with_capacity(rows.len());
    let mut weights = Vec::with_capacity(rows.len());
    for (c, w) in rows {
        let (Some(&a), Some(&b)) = (index.get(&c.model_a_id), index.get(&c.model_b_id)) else {
            continue;
        };
        if c.n <= 0 {
            continue;
        }
        let y = match c.winner.as_str() {
            "a" => 1.0,
            "b" => 0.0,
            _ => 0.5,
        };
        triples.push(ranking::bt::Triple {
            a,
            b,
            y,
            weight: c.n as f64,
        });
        weights.push(*w);
    }
    (
        Counts {
            n_models: n,
            triples,
        },
        weights,
    )
}

fn build(
    counts: &[db::leaderboard::PairCount],
    weighted: Option<&[(db::leaderboard::PairCount, f64)]>,
    models: &[db::leaderboard::ModelInfo],
    cfg: &LeaderboardConfig,
) -> (Vec<LeaderboardRow>, u64, leaderboard::Matrices, TieResult) {
    // Only models that have votes in this slice take part.
    let mut index: HashMap<i64, usize> = HashMap::new();
    let mut ids: Vec<i64> = Vec::new();
    for c in counts {
        for id in [c.model_a_id, c.model_b_id] {
            index.entry(id).or_insert_with(|| {
                ids.push(id);
                ids.len() - 1
            });
        }
    }
    let n = ids.len();
    let bad: Vec<db::leaderboard::PairCount> = counts
        .iter()
        .filter(|c| c.winner == "both_bad")
        .cloned()
        .collect();
    let (both_bad, _) = to_counts(&bad, &index, n);
    let (counts, total) = to_counts(counts, &index, n);
    let lb = match weighted {
        Some(rows) => {
            let (votes, w) = weighted_counts(rows, &index, n);
            leaderboard::compute_with(
                &votes,
                leaderboard::Extras {
                    both_bad: Some(&both_bad),
                    vote_weights: Some(&w),
                },
                cfg,
            )
        }
        None => leaderboard::compute_with(
            &counts,
            leaderboard::Extras {
                both_bad: Some(&both_bad),
                ..leaderboard::Extras::default()
            },
            cfg,
        ),
    };
    let by_id: HashMap<i64, &db::leaderboard::ModelInfo> =
        models.iter().map(|m| (m.model_id, m)).collect();
    let name = |id: i64| {
        by_id
            .get(&id)
            .map_or_else(|| format!("model #{id}"), |m| m.name.clone())
    };
    let mut ratings = vec![None; n];
    for r in &lb.rows {
        ratings[r.model] = r.rating;
    }
    let full = leaderboard::matrices(&counts, &ratings, &cfg.bt);
    let order: Vec<usize> = lb.rows.iter().map(|r| r.model).collect();
    let m = full.reordered(&order);
    let rows = lb
        .rows
        .iter()
        .map(|r| {
            let id = ids[r.model];
            LeaderboardRow {
                rank_ub: r.rank_ub,
                rank_spread: r.rank_spread,
                tier: r.tier,
                model_id: id,
                model: name(id),
                rating: r.rating,
                lower: r.lower,
                upper: r.upper,
                votes: r.votes as u64,
                provisional: r.provisional,
                votes_to_flip: lb.audit.as_ref().and_then(|a| {
                    a.iter()
                        .find(|p| p.upper == r.model)
                        .and_then(|p| p.votes_to_flip)
                }),
                parent: by_id.get(&id).and_then(|m| m.parent_model_id).map(name),
                note: r.unbounded.map(|u| {
                    match u {
                        Unbounded::AllWins => "no finite rating: never lost",
                        Unbounded::AllLosses => "no finite rating: never won",
                        Unbounded::NoVotes => "no votes",
                    }
                    .to_owned()
                }),
                cohort_offset: None,
            }
        })
        .collect();
    (rows, total, m, (lb.tie_param, lb.tie_model_scores))
}

/// Dense indices for the models of these `(model A, model B)` pairs, in order of appearance.
fn model_index(pairs: impl Iterator<Item = (i64, i64)>) -> HashMap<i64, usize> {
    let mut index = HashMap::new();
    for (a, b) in pairs {
        for id in [a, b] {
            let next = index.len();
            index.entry(id).or_insert(next);
        }
    }
    index
}

/// Aggregated rows as [`Counts`] over the models of `index`, and the number of votes.
fn to_counts(
    rows: &[db::leaderboard::PairCount],
    index: &HashMap<i64, usize>,
    n: usize,
) -> (Counts, u64) {
    let mut table = vec![0u64; n * n * 3];
    let mut total = 0u64;
    for c in rows {
        let (a, b) = (index[&c.model_a_id], index[&c.model_b_id]);
        let slot = match c.winner.as_str() {
            "a" => 2,
            "b" => 0,
            _ => 1,
        };
        let n_votes = u64::try_from(c.n).unwrap_or(0);
        table[(a * n + b) * 3 + slot] += n_votes;
        total += n_votes;
    }
    (Counts::from_table(n, &table), total)
}

/// The matrices of `m` (in the order `before`) in the order of `rows`, with predicted win
/// rates from the rows' (new) ratings.
fn reorder(
    m: &leaderboard::Matrices,
    before: &[i64],
    rows: &[LeaderboardRow],
) -> leaderboard::Matrices {
    let pos: HashMap<i64, usize> = before.iter().enumerate().map(|(k, id)| (*id, k)).collect();
    let order: Vec<usize> = rows.iter().map(|r| pos[&r.model_id]).collect();
    let mut reordered = m.reordered(&order);
    let ratings: Vec<Option<f64>> = rows.iter().map(|r| r.rating).collect();
    reordered.predicted_win_rate = leaderboard::predicted_win_rates(&ratings, &BtConfig::new());
    reordered
}

/// Replaces the ratings of `rows` with style-controlled ones fitted on `votes` (rows keep
/// their vote counts; models without style data lose their rating). Returns the
/// coefficients and the number of votes used.
fn restyle(
    rows: &mut [LeaderboardRow],
    votes: &[db::leaderboard::StyleVote],
) -> (Vec<(String, f64)>, usize) {
    use ranking::Outcome;
    use ranking::style::{self, StyleBattle, StyleConfig, StyleCounts};
    let index = model_index(votes.iter().map(|v| (v.model_a_id, v.model_b_id)));
    let battles: Vec<StyleBattle> = votes
        .iter()
        .map(|v| StyleBattle {
            a: index[&v.model_a_id],
            b: index[&v.model_b_id],
            outcome: Outcome::parse(&v.winner).unwrap_or(Outcome::Tie),
            style_a: StyleCounts {
                tokens: v.a_tokens,
                headers: v.a_headers,
                lists: v.a_lists,
                bold: v.a_bold,
            },
            style_b: StyleCounts {
                tokens: v.b_tokens,
                headers: v.b_headers,
                lists: v.b_lists,
                bold: v.b_bold,
            },
        })
        .collect();
    let n = index.len();
    let feats = style::features(&battles);
    let cfg = StyleConfig::new();
    let point = style::fit(n, &battles, &feats, None, None, &cfg);
    let fits = style::bootstrap(n, &battles, &feats, &point, &cfg, ROUNDS, 0);
    let bt = BtConfig::new();
    let scale = |r: f64| bt.scale * r + bt.init_rating;
    let rounds: Vec<Vec<f64>> = fits
        .iter()
        .map(|f| f.natural.iter().map(|&r| scale(r)).collect())
        .collect();
    let bounds = ranking::bt::confidence_intervals(&rounds, n);
    for row in rows.iter_mut() {
        match index.get(&row.model_id) {
            Some(&k) => {
                row.rating = Some(scale(point.natural[k]));
                row.lower = Some(bounds[k].0).filter(|x| x.is_finite());
                row.upper = Some(bounds[k].1).filter(|x| x.is_finite());
            }
            None => {
                (row.rating, row.lower, row.upper) = (None, None, None);
                row.note = Some("no votes with style counts".into());
            }
        }
    }
    rerank(rows);
    let coef = style::FEATURE_NAMES
        .iter()
        .map(|s| (*s).to_owned())
        .zip(point.coefficients)
        .collect();
    (coef, votes.len())
}

/// Each row's cohort offset: the cohort's votes (`cohort`) against everyone else's (`others`),
/// docs/design.md §5.17.
fn cohort_offsets(
    rows: &mut [LeaderboardRow],
    cohort: &[db::leaderboard::PairCount],
    others: &[db::leaderboard::PairCount],
) {
    let index = model_index(
        cohort
            .iter()
            .chain(others)
            .map(|c| (c.model_a_id, c.model_b_id)),
    );
    let n = index.len();
    let (cohort, _) = to_counts(cohort, &index, n);
    let (others, _) = to_counts(others, &index, n);
    let offsets = ranking::cohort::offsets(&cohort, &others, &BtConfig::new());
    for row in rows {
        row.cohort_offset = index.get(&row.model_id).and_then(|&k| offsets[k]).map(|o| {
            api::leaderboard::CohortOffset {
                offset: o.offset,
                lower: o.lower,
                upper: o.upper,
                p_value: o.p_value,
            }
        });
    }
}

/// Sorts rows by rating (best first, unrated last) and recomputes Rank (UB), rank spread and
/// tiers from their intervals.
fn rerank(rows: &mut [LeaderboardRow]) {
    rows.sort_by(|x, y| {
        y.rating
            .unwrap_or(f64::MIN)
            .total_cmp(&x.rating.unwrap_or(f64::MIN))
    });
    let all: Vec<(f64, f64)> = rows
        .iter()
        .map(|r| (r.lower.unwrap_or(f64::NAN), r.upper.unwrap_or(f64::NAN)))
        .collect();
    let spread = ranking::bt::rank_spread(&all);
    let tiers = ranking::bt::tiers(&all);
    for ((row, spread), tier) in rows.iter_mut().zip(spread).zip(tiers) {
        row.rank_ub = spread.map(|s| s.0);
        row.rank_spread = spread;
        row.tier = tier;
    }
}

/// One vote for prediction-powered ratings: the item (prompt) it was cast on, the two models
/// (dense indices), A's score and whether an LLM judge cast it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PpiVote {
    /// Item or question.
    pub item: u64,
    /// Model A.
    pub a: usize,
    /// Model B.
    pub b: usize,
    /// A's score: 1 win, 0.5 tie, 0 loss.
    pub y: f64,
    /// Cast by an LLM judge (otherwise by a person).
    pub judge: bool,
}

/// PPI++ ratings (docs/design.md §5.16) on the Elo scale.
#[derive(Debug, Clone, PartialEq)]
pub struct PpiRatings {
    /// Rating per model index (NaN for models outside the fit).
    pub ratings: Vec<f64>,
    /// 95% bounds per model index.
    pub bounds: Vec<(f64, f64)>,
    /// Whether the model took part in the fit.
    pub fitted: Vec<bool>,
    /// Human votes paired with a judge vote, judge votes on items without a human vote, and
    /// human votes without a judge vote (left out).
    pub labeled: usize,
    /// See `labeled`.
    pub unlabeled: usize,
    /// See `labeled`.
    pub human_only: usize,
    /// The power-tuning λ.
    pub lambda: f64,
}

impl PpiRatings {
    /// What went into the fit, in words.
    #[must_use]
    pub fn note(&self) -> String {
        format!(
            "prediction-powered (PPI++): {} human votes paired with a judge vote on the same \
             item, {} judge votes on items without a human vote, λ = {:.2}; {} human votes \
             without a judge vote are left out",
            self.labeled, self.unlabeled, self.lambda, self.human_only
        )
    }
}

/// PPI++ on votes grouped by item (consecutive votes with the same `item`): each human vote
/// pairs with the item's first judge vote on the same two models, turned to the human vote's
/// sides; the judge votes of items without a paired human vote are the unlabeled data.
///
/// # Errors
/// The fit's message when it cannot be made (e.g. no human vote paired with a judge vote).
pub fn ppi_ratings(n_models: usize, votes: &[PpiVote]) -> Result<PpiRatings, String> {
    use ranking::ppi::{self, Labeled, PpiData, Unlabeled};
    let (mut labeled, mut unlabeled, mut human_only) = (Vec::new(), Vec::new(), 0usize);
    for item in votes.chunk_by(|x, y| x.item == y.item) {
        let judges: Vec<&PpiVote> = item.iter().filter(|v| v.judge).collect();
        let judge_on = |a: usize, b: usize| {
            judges.iter().find_map(|j| {
                if (j.a, j.b) == (a, b) {
                    Some(j.y)
                } else if (j.a, j.b) == (b, a) {
                    Some(1.0 - j.y)
                } else {
                    None
                }
            })
        };
        let mut paired = false;
        for v in item.iter().filter(|v| !v.judge) {
            match judge_on(v.a, v.b) {
                Some(y_hat) => {
                    labeled.push(Labeled {
                        a: v.a,
                        b: v.b,
                        y: v.y,
                        y_hat,
                    });
                    paired = true;
                }
                None => human_only += 1,
            }
        }
        if !paired {
            unlabeled.extend(judges.iter().map(|j| Unlabeled {
                a: j.a,
                b: j.b,
                y_hat: j.y,
            }));
        }
    }
    // Only the models in the fit's data take part, densely numbered.
    let mut fitted = vec![false; n_models];
    for (a, b) in labeled
        .iter()
        .map(|l| (l.a, l.b))
        .chain(unlabeled.iter().map(|u| (u.a, u.b)))
    {
        (fitted[a], fitted[b]) = (true, true);
    }
    let mut dense = vec![usize::MAX; n_models];
    let mut n = 0;
    for (m, _) in fitted.iter().enumerate().filter(|(_, f)| **f) {
        dense[m] = n;
        n += 1;
    }
    for l in &mut labeled {
        (l.a, l.b) = (dense[l.a], dense[l.b]);
    }
    for u in &mut unlabeled {
        (u.a, u.b) = (dense[u.a], dense[u.b]);
    }
    // The reference: the model in the most labeled battles (best determined).
    let mut per_model = vec![0usize; n];
    for l in &labeled {
        per_model[l.a] += 1;
        per_model[l.b] += 1;
    }
    let reference = (0..n).max_by_key(|&m| per_model[m]).unwrap_or(0);
    let data = PpiData {
        n_models: n,
        reference,
        labeled: &labeled,
        unlabeled: &unlabeled,
    };
    let fit = ppi::fit(&data, None).map_err(|e| e.to_string())?;
    let (theta, var) = fit.centered();
    let bt = BtConfig::new();
    let per_theta = bt.scale / bt.base.ln();
    let dense_ratings: Vec<f64> = theta
        .iter()
        .map(|t| bt.init_rating + per_theta * t)
        .collect();
    let dense_bounds = ranking::sandwich::bounds(&dense_ratings, &var, &bt, ranking::sandwich::Z95);
    let (mut ratings, mut bounds) = (
        vec![f64::NAN; n_models],
        vec![(f64::NAN, f64::NAN); n_models],
    );
    for m in 0..n_models {
        if fitted[m] {
            ratings[m] = dense_ratings[dense[m]];
            bounds[m] = dense_bounds[dense[m]];
        }
    }
    Ok(PpiRatings {
        ratings,
        bounds,
        fitted,
        labeled: labeled.len(),
        unlabeled: unlabeled.len(),
        human_only,
        lambda: fit.lambda,
    })
}

/// Replaces the ratings of `rows` with PPI++ ones from `votes` (sorted by item); returns the
/// note that says what went in.
fn reppi(
    rows: &mut [LeaderboardRow],
    votes: &[db::leaderboard::ItemVote],
) -> Result<String, AppError> {
    use ranking::Outcome;
    let mut index: HashMap<i64, usize> = HashMap::new();
    let mut model = |id: i64| {
        let next = index.len();
        *index.entry(id).or_insert(next)
    };
    let score = |w: &str| Outcome::parse(w).map_or(0.5, Outcome::score_a);
    let ppi_votes: Vec<PpiVote> = votes
        .iter()
        .map(|v| PpiVote {
            item: v.item_id as u64,
            a: model(v.model_a_id),
            b: model(v.model_b_id),
            y: score(&v.winner),
            judge: v.judge,
        })
        .collect();
    let fit = ppi_ratings(index.len(), &ppi_votes).map_err(AppError::BadRequest)?;
    for row in rows.iter_mut() {
        match index.get(&row.model_id).filter(|&&k| fit.fitted[k]) {
            Some(&k) => {
                row.rating = Some(fit.ratings[k]);
                (row.lower, row.upper) = (Some(fit.bounds[k].0), Some(fit.bounds[k].1));
            }
            None => {
                (row.rating, row.lower, row.upper) = (None, None, None);
                row.note = Some("not in the PPI fit: no judge vote on its items".into());
            }
        }
    }
    rerank(rows);
    Ok(fit.note())
}

/// The leaderboard as CSV.
#[must_use]
pub fn to_csv(lb: &LeaderboardResponse) -> String {
    let mut out = String::from(
        "rank_ub,model,rating,lower,upper,votes,parent,note,rank_max,tier,provisional\n",
    );
    let num = |v: Option<f64>| v.map_or_else(String::new, |x| format!("{x:.4}"));
    let quote = |s: &str| {
        let s = crate::spreadsheet::safe_cell(s);
        if s.contains([',', '"', '\n', '\r']) {
            format!("\"{}\"", s.replace('"', "\"\""))
        } else {
            s.into_owned()
        }
    };
    for r in &lb.rows {
        out.push_str(&format!(
            "{},{},{},{},{},{},{},{},{},{},{}\n",
            r.rank_ub.map_or_else(String::new, |v| v.to_string()),
            quote(&r.model),
            num(r.rating),
            num(r.lower),
            num(r.upper),
            r.votes,
            quote(r.parent.as_deref().unwrap_or("")),
            quote(r.note.as_deref().unwrap_or("")),
            r.rank_spread.map_or_else(String::new, |s| s.1.to_string()),
            r.tier.map_or_else(String::new, |v| v.to_string()),
            r.provisional,
        ));
    }
    out
}

/// The query of `GET /api/v1/leaderboard` from its URL parameters, validated, and whether CSV
/// was asked for (`format=csv`; the default is JSON).
///
/// # Errors
/// 400 naming the parameter for a project that is not an id, a flag that is not true or
/// false, or a format that is not json or csv.
pub fn query_from_params(
    params: &HashMap<String, String>,
) -> Result<(LeaderboardQuery, bool), AppError> {
    let text = |k: &str| {
        params
            .get(k)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    };
    let flag = |k: &str| -> Result<bool, AppError> {
        match params.get(k).map(String::as_str) {
            None | Some("" | "false" | "0") => Ok(false),
            Some("true" | "1" | "on") => Ok(true),
            Some(other) => Err(AppError::BadRequest(format!(
                "`{k}` is true or false, not {other:?}"
            ))),
        }
    };
    let project = match text("project") {
        Some(p) => Some(
            p.parse::<i64>()
                .map_err(|_| AppError::BadRequest("`project` is a project id".into()))?,
        ),
        None => None,
    };
    let csv = match text("format").as_deref() {
        None | Some("json") => false,
        Some("csv") => true,
        Some(other) => {
            return Err(AppError::BadRequest(format!(
                "`format` is json or csv, not {other:?}"
            )));
        }
    };
    let query = LeaderboardQuery {
        project,
        category: text("category"),
        cohort: text("cohort"),
        source: text("source"),
        from: text("from"),
        to: text("to"),
        exclude_ties: flag("exclude_ties")?,
        style_control: flag("style_control")?,
        ci: text("ci"),
        reweight: match text("reweight") {
            None => None,
            Some(_) => Some(flag("reweight")?),
        },
        weight_annotators: flag("weight_annotators")?,
        tie_model: text("tie_model"),
        audit: flag("audit")?,
    };
    Ok((query, csv))
}

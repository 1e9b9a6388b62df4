//! A project's quality report, built from the database: agreement coefficients, the
//! per-annotator table with quality-control flags, human vs LLM-judge agreement, rating
//! distributions, and consistency of ratings and rankings with pairwise choices.

use std::collections::{BTreeMap, HashMap, HashSet};

use db::quality::{RankingRow, RatingRow, VoteRow};
use ranking::agreement::{self, Judgement, Level};
use ranking::consistency::{Counts, Pref};

use crate::OrApp;
use api::AppError;
use api::quality::{
    AgreementReport, AnnotatorRow, Coefficients, ConsistencyReport, Distribution, JudgeAgreement,
    PairKappa,
};

/// The wire form of the consistency counts.
fn counts(c: Counts) -> api::quality::Counts {
    api::quality::Counts {
        pairs: c.pairs,
        agree: c.agree,
        disagree: c.disagree,
        order_tie: c.order_tie,
        choice_tie: c.choice_tie,
        both_tie: c.both_tie,
    }
}

/// Everything both reports read, loaded once.
struct Loaded {
    project_id: i64,
    name: String,
    protocol: String,
    cfg: db::judgements::ProtocolConfig,
    votes: Vec<VoteRow>,
    ratings: Vec<RatingRow>,
    rankings: Vec<RankingRow>,
    names: HashMap<i64, String>,
    excluded: HashSet<i64>,
}

async fn load(pool: &db::PgPool, id: i64) -> Result<Loaded, AppError> {
    let (project_id, name, protocol, config) =
        db::quality::project(pool, id).await.map_err(|e| match e {
            db::Error::NotFound => AppError::NotFound(format!("no project #{id}")),
            other => crate::db_error(other),
        })?;
    let votes = db::quality::votes(pool, id).await.or_app()?;
    let ratings = db::quality::ratings(pool, id).await.or_app()?;
    let rankings = db::quality::rankings(pool, id).await.or_app()?;
    let (names, excluded) = people(pool, &votes, &ratings, &rankings).await?;
    Ok(Loaded {
        project_id,
        name,
        protocol,
        cfg: db::judgements::ProtocolConfig::from_json(&config),
        votes,
        ratings,
        rankings,
        names,
        excluded,
    })
}

/// Both reports of a project, from one read of its judgements.
///
/// # Errors
/// 404 for an unknown project; Internal on database failure.
pub async fn reports(
    pool: &db::PgPool,
    id: i64,
) -> Result<(AgreementReport, ConsistencyReport), AppError> {
    let d = load(pool, id).await?;
    Ok((agreement_of(&d), consistency_of(&d)))
}

/// A vote's label with the pair oriented as the item lists it: `(first, second, label)`
/// with label 1 = the item's first response won, 2 = the other, 0 = tie, 3 = both bad.
/// `None` without responses.
fn vote_label(v: &VoteRow) -> Option<(i64, i64, i64)> {
    let (a, b) = (v.response_a_id?, v.response_b_id?);
    let a_first = v.first_response_id.map_or(a < b, |f| f == a);
    let label = match (v.winner.as_str(), a_first) {
        ("a", true) | ("b", false) => 1,
        ("a" | "b", _) => 2,
        ("tie", _) => 0,
        _ => 3,
    };
    Some(if a_first {
        (a, b, label)
    } else {
        (b, a, label)
    })
}

fn pref_of_label(label: i64) -> Pref {
    match label {
        1 => Pref::First,
        2 => Pref::Second,
        _ => Pref::Tie,
    }
}

/// NoisyBT (docs/design.md §5.14) on the human annotators' decided choices, the responses as
/// the items and the side shown left as the position: `annotator → (skill, left bias)`.
fn noisy_bt(votes: &[VoteRow]) -> HashMap<i64, (f64, f64)> {
    noisy_skills(votes.iter().filter(|v| human(&v.source)).filter_map(|v| {
        Some(Choice {
            annotator: v.annotator_id?,
            a: v.response_a_id?,
            b: v.response_b_id?,
            winner: &v.winner,
            a_was_left: v.a_was_left,
        })
    }))
    .into_iter()
    .map(|(id, r)| (id, (r.skill, r.bias)))
    .collect()
}

/// One annotator's NoisyBT estimate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Reliability {
    /// Share of votes that follow the strengths.
    pub skill: f64,
    /// Otherwise, how often the left side.
    pub bias: f64,
    /// Decided votes behind the estimate.
    pub votes: f64,
    /// The weight of each of their votes when votes are weighted by reliability.
    pub weight: f64,
}

/// One pairwise choice for [`noisy_skills`]: who, the two things compared (responses or
/// models), the stored winner (`a`, `b`, `tie`, `both_bad`) and whether A was shown left
/// (unknown: left).
pub(crate) struct Choice<'a> {
    pub annotator: i64,
    pub a: i64,
    pub b: i64,
    pub winner: &'a str,
    pub a_was_left: Option<bool>,
}

/// NoisyBT (docs/design.md §5.14) on the decided choices, per annotator. Ties carry no side
/// and are left out.
pub(crate) fn noisy_skills<'a>(
    choices: impl IntoIterator<Item = Choice<'a>>,
) -> HashMap<i64, Reliability> {
    use ranking::noisy_bt::{NoisyConfig, NoisyVote, fit};
    let mut people: HashMap<i64, usize> = HashMap::new();
    let mut items: HashMap<i64, usize> = HashMap::new();
    let index = |map: &mut HashMap<i64, usize>, id: i64| {
        let next = map.len();
        *map.entry(id).or_insert(next)
    };
    let mut data = Vec::new();
    for c in choices {
        let a_won = match c.winner {
            "a" => true,
            "b" => false,
            _ => continue,
        };
        let a_left = c.a_was_left.unwrap_or(true);
        let (left, right) = if a_left { (c.a, c.b) } else { (c.b, c.a) };
        data.push(NoisyVote {
            annotator: index(&mut people, c.annotator),
            left: index(&mut items, left),
            right: index(&mut items, right),
            left_won: a_won == a_left,
            count: 1.0,
        });
    }
    if data.is_empty() {
        return HashMap::new();
    }
    let f = fit(items.len(), people.len(), &data, &NoisyConfig::new());
    let weights = f.vote_weights();
    people
        .into_iter()
        .map(|(id, k)| {
            let r = Reliability {
                skill: f.skill[k],
                bias: f.bias[k],
                votes: f.votes[k],
                weight: weights[k],
            };
            (id, r)
        })
        .collect()
}

/// Coefficients of `(annotator, unit, value)` triples.
fn coefficients(
    triples: &[(i64, i64, f64)],
    levels: &[Level],
    names: &HashMap<i64, String>,
) -> Coefficients {
    let coders: Vec<i64> = triples
        .iter()
        .map(|t| t.0)
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    let units: Vec<i64> = triples
        .iter()
        .map(|t| t.1)
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    let ci: HashMap<i64, usize> = coders.iter().enumerate().map(|(k, c)| (*c, k)).collect();
    let ui: HashMap<i64, usize> = units.iter().enumerate().map(|(k, u)| (*u, k)).collect();
    let mut data = vec![vec![None; units.len()]; coders.len()];
    for &(c, u, v) in triples {
        data[ci[&c]][ui[&u]] = Some(v);
    }
    let per_unit: Vec<Vec<f64>> = (0..units.len())
        .map(|u| data.iter().filter_map(|row| row[u]).collect())
        .collect();
    let multi = per_unit.iter().filter(|v| v.len() >= 2).count();
    // Fleiss: the units with the most common number (≥ 2) of judgements.
    let mut sizes: BTreeMap<usize, usize> = BTreeMap::new();
    for v in per_unit.iter().filter(|v| v.len() >= 2) {
        *sizes.entry(v.len()).or_default() += 1;
    }
    let raters = sizes
        .iter()
        .max_by_key(|(size, n)| (**n, **size))
        .map_or(0, |(s, _)| *s);
    let mut cats: Vec<f64> = triples.iter().map(|t| t.2).collect();
    cats.sort_by(f64::total_cmp);
    cats.dedup();
    let table: Vec<Vec<f64>> = per_unit
        .iter()
        .filter(|v| v.len() == raters)
        .map(|v| {
            cats.iter()
                .map(|c| v.iter().filter(|x| *x == c).count() as f64)
                .collect()
        })
        .collect();
    let mut pairs = Vec::new();
    for i in 0..coders.len() {
        for j in i + 1..coders.len() {
            let (a, b): (Vec<i64>, Vec<i64>) = (0..units.len())
                .filter_map(|u| Some((data[i][u]? as i64, data[j][u]? as i64)))
                .unzip();
            if a.len() >= 2 {
                pairs.push(PairKappa {
                    a: names.get(&coders[i]).cloned().unwrap_or_default(),
                    b: names.get(&coders[j]).cloned().unwrap_or_default(),
                    units: a.len(),
                    kappa: agreement::cohen_kappa(&a, &b),
                });
            }
        }
    }
    pairs.sort_by_key(|p| std::cmp::Reverse(p.units));
    pairs.truncate(10);
    let alpha = |l: Level| {
        levels
            .contains(&l)
            .then(|| agreement::krippendorff_alpha(&data, l))
            .flatten()
    };
    Coefficients {
        units: multi,
        judgements: triples.len(),
        fleiss_kappa: if table.is_empty() {
            None
        } else {
            agreement::fleiss_kappa(&table)
        },
        fleiss_raters: raters,
        fleiss_units: table.len(),
        alpha_nominal: alpha(Level::Nominal),
        alpha_interval: alpha(Level::Interval),
        alpha_ordinal: alpha(Level::Ordinal),
        cohen: pairs,
    }
}

/// Rank place (1 = best) of each response in a ranking.
fn places(r: &RankingRow) -> HashMap<i64, f64> {
    let groups: Vec<Vec<i64>> = serde_json::from_value(r.tie_groups.clone()).unwrap_or_default();
    let mut out = HashMap::new();
    for (g, group) in groups.iter().enumerate() {
        for id in group {
            out.insert(*id, (g + 1) as f64);
        }
    }
    out
}

/// Names of the annotators behind the judgements, and which of them are excluded.
async fn people(
    pool: &db::PgPool,
    votes: &[VoteRow],
    ratings: &[RatingRow],
    rankings: &[RankingRow],
) -> Result<(HashMap<i64, String>, HashSet<i64>), AppError> {
    let mut ids: Vec<i64> = votes
        .iter()
        .filter_map(|v| v.annotator_id)
        .chain(ratings.iter().filter_map(|r| r.annotator_id))
        .chain(rankings.iter().filter_map(|r| r.annotator_id))
        .collect();
    ids.sort_unstable();
    ids.dedup();
    let people = db::quality::annotators(pool, &ids).await.or_app()?;
    let names = people.iter().map(|a| (a.user_id, a.name.clone())).collect();
    let excluded = people
        .iter()
        .filter(|a| a.excluded)
        .map(|a| a.user_id)
        .collect();
    Ok((names, excluded))
}

fn human(source: &str) -> bool {
    source != "llm_judge"
}

/// The agreement report of a project.
///
/// # Errors
/// 404 for an unknown project; Internal on database failure.
pub async fn agreement(pool: &db::PgPool, id: i64) -> Result<AgreementReport, AppError> {
    Ok(agreement_of(&load(pool, id).await?))
}

fn agreement_of(d: &Loaded) -> AgreementReport {
    let (project_id, name, protocol, cfg) =
        (d.project_id, d.name.clone(), d.protocol.clone(), &d.cfg);
    let (votes, ratings, rankings) = (&d.votes, &d.ratings, &d.rankings);
    let (names, excluded) = (&d.names, &d.excluded);
    let counted = |a: Option<i64>| a.is_some_and(|a| !excluded.contains(&a));

    // Pairwise choices: unit = item and response pair.
    let mut unit_of: HashMap<(i64, i64, i64), i64> = HashMap::new();
    let mut unit = |key: (i64, i64, i64)| {
        let n = unit_of.len() as i64;
        *unit_of.entry(key).or_insert(n)
    };
    let mut vote_triples = Vec::new();
    let mut judgements = Vec::new();
    for v in votes.iter().filter(|v| human(&v.source)) {
        let (Some((lo, hi, label)), Some(annotator)) = (vote_label(v), v.annotator_id) else {
            continue;
        };
        let u = unit((v.item_id, lo, hi));
        if counted(v.annotator_id) {
            vote_triples.push((annotator, u, label as f64));
        }
        let picked_left = match (v.winner.as_str(), v.a_was_left) {
            ("a", Some(left)) => Some(left),
            ("b", Some(left)) => Some(!left),
            _ => None,
        };
        let gold_correct = if v.is_gold {
            v.gold_answer
                .as_ref()
                .and_then(|g| g.get("winner"))
                .and_then(serde_json::Value::as_str)
                .map(|want| {
                    // The gold answer names A as the item's first response.
                    let first_is_a = v.first_response_id == v.response_a_id;
                    let got = match (v.winner.as_str(), first_is_a) {
                        ("a", true) | ("b", false) => "a",
                        ("a" | "b", _) => "b",
                        (w, _) => w,
                    };
                    got == want
                })
        } else {
            None
        };
        judgements.push(Judgement {
            annotator,
            unit: u,
            label,
            tie: label == 0 || label == 3,
            picked_left,
            time_ms: v.time_to_vote_ms.map(f64::from),
            gold_correct,
        });
    }
    let vote_coef = coefficients(&vote_triples, &[Level::Nominal], names);

    // Ratings per criterion: unit = response (within its item).
    let mut rating_coefs = Vec::new();
    for c in &cfg.criteria {
        let triples: Vec<(i64, i64, f64)> = ratings
            .iter()
            .filter(|r| r.criterion == c.name && human(&r.source) && counted(r.annotator_id))
            .filter_map(|r| Some((r.annotator_id?, r.response_id, f64::from(r.score?))))
            .collect();
        if !triples.is_empty() {
            rating_coefs.push((
                c.name.clone(),
                coefficients(
                    &triples,
                    &[Level::Nominal, Level::Interval, Level::Ordinal],
                    names,
                ),
            ));
        }
    }
    // Rating forms count once each in the annotator table (unit = item).
    if votes.is_empty() {
        let mut forms: BTreeMap<(i64, i64), (i64, Option<i32>, i64)> = BTreeMap::new();
        for r in ratings.iter().filter(|r| human(&r.source)) {
            let (Some(a), Some(asg)) = (r.annotator_id, r.assignment_id) else {
                continue;
            };
            let e = forms.entry((a, asg)).or_insert((r.item_id, r.time_ms, 0));
            e.2 += i64::from(r.score.unwrap_or(0));
        }
        for ((a, _), (item, time, total)) in forms {
            judgements.push(Judgement {
                annotator: a,
                unit: item,
                label: total,
                tie: false,
                picked_left: None,
                time_ms: time.map(f64::from),
                gold_correct: None,
            });
        }
    }
    // Rankings: unit = response, value = place.
    let mut rank_triples = Vec::new();
    for r in rankings.iter().filter(|r| human(&r.source)) {
        let Some(a) = r.annotator_id else { continue };
        let p = places(r);
        if counted(r.annotator_id) {
            rank_triples.extend(p.iter().map(|(resp, place)| (a, *resp, *place)));
        }
        let mut order: Vec<(i64, f64)> = p.into_iter().collect();
        order.sort_by(|x, y| x.1.total_cmp(&y.1).then(x.0.cmp(&y.0)));
        judgements.push(Judgement {
            annotator: a,
            unit: r.item_id,
            label: order.first().map_or(0, |x| x.0),
            tie: order.len() >= 2 && order[0].1 == order[1].1,
            picked_left: None,
            time_ms: r.time_ms.map(f64::from),
            gold_correct: None,
        });
    }
    let rank_coef = coefficients(
        &rank_triples,
        &[Level::Nominal, Level::Interval, Level::Ordinal],
        names,
    );

    // Human majority vs the LLM judge per unit.
    let mut human_counts: HashMap<i64, BTreeMap<i64, usize>> = HashMap::new();
    let mut judge: HashMap<i64, i64> = HashMap::new();
    for v in votes {
        let Some((lo, hi, label)) = vote_label(v) else {
            continue;
        };
        let u = unit((v.item_id, lo, hi));
        if v.source == "llm_judge" {
            judge.insert(u, label);
        } else if v.annotator_id.is_none() || counted(v.annotator_id) {
            *human_counts.entry(u).or_default().entry(label).or_default() += 1;
        }
    }
    let llm_judge = (!judge.is_empty()).then(|| {
        let (mut h, mut j) = (Vec::new(), Vec::new());
        for (u, label) in &judge {
            let Some(counts) = human_counts.get(u) else {
                continue;
            };
            let top = counts.values().max().copied().unwrap_or(0);
            let leaders: Vec<i64> = counts
                .iter()
                .filter(|(_, n)| **n == top)
                .map(|(l, _)| *l)
                .collect();
            if leaders.len() == 1 {
                h.push(leaders[0]);
                j.push(*label);
            }
        }
        JudgeAgreement {
            items: h.len(),
            agreement: (!h.is_empty())
                .then(|| h.iter().zip(&j).filter(|(a, b)| a == b).count() as f64 / h.len() as f64),
            kappa: agreement::cohen_kappa(&h, &j),
        }
    });

    let stats = agreement::annotator_stats(&judgements);
    let reliability = noisy_bt(votes);
    let qc = &cfg.qc;
    let annotators = stats
        .into_iter()
        .map(|s| {
            let mine: Vec<&Judgement> = judgements
                .iter()
                .filter(|j| j.annotator == s.annotator)
                .collect();
            let fast_share = qc.min_time_ms.and_then(|min| {
                let timed: Vec<f64> = mine.iter().filter_map(|j| j.time_ms).collect();
                (!timed.is_empty()).then(|| {
                    timed.iter().filter(|t| **t < f64::from(min)).count() as f64
                        / timed.len() as f64
                })
            });
            let mut flags = Vec::new();
            if let (Some(min), Some(acc)) = (qc.min_gold_accuracy, s.gold_accuracy)
                && acc < min
            {
                flags.push(format!(
                    "gold accuracy {:.0}% below {:.0}%",
                    acc * 100.0,
                    min * 100.0
                ));
            }
            if let (Some(max), Some(share)) = (qc.max_fast_share, fast_share)
                && share > max
            {
                flags.push(format!(
                    "{:.0}% of judgements faster than {} ms",
                    share * 100.0,
                    qc.min_time_ms.unwrap_or(0)
                ));
            }
            AnnotatorRow {
                user_id: s.annotator,
                name: names.get(&s.annotator).cloned().unwrap_or_default(),
                excluded: excluded.contains(&s.annotator),
                judgements: s.judgements,
                median_time_ms: s.median_time_ms,
                left_share: s.left_share,
                tie_rate: s.tie_rate,
                loo_agreement: s.loo_agreement,
                loo_units: s.loo_units,
                gold_accuracy: s.gold_accuracy,
                gold_items: s.gold_items,
                fast_share,
                skill: reliability.get(&s.annotator).map(|r| r.0),
                side_bias: reliability.get(&s.annotator).map(|r| r.1),
                flags,
            }
        })
        .collect();

    AgreementReport {
        project_id,
        project: name,
        protocol,
        votes: vote_coef,
        ratings: rating_coefs,
        rankings: rank_coef,
        llm_judge,
        annotators,
        distributions: distributions(ratings, cfg, excluded),
    }
}

fn distributions(
    ratings: &[RatingRow],
    cfg: &db::judgements::ProtocolConfig,
    excluded: &HashSet<i64>,
) -> Vec<Distribution> {
    let mut out: BTreeMap<(String, String), Distribution> = BTreeMap::new();
    for r in ratings
        .iter()
        .filter(|r| !r.annotator_id.is_some_and(|a| excluded.contains(&a)))
    {
        let Some(c) = cfg.criteria.iter().find(|c| c.name == r.criterion) else {
            continue;
        };
        let d = out
            .entry((r.model.clone(), r.criterion.clone()))
            .or_insert_with(|| Distribution {
                model: r.model.clone(),
                criterion: r.criterion.clone(),
                min: c.min,
                max: c.max,
                counts: vec![0; usize::try_from(c.max - c.min + 1).unwrap_or(0)],
                not_applicable: 0,
                mean: None,
            });
        match r.score {
            Some(s) if s >= c.min && s <= c.max => {
                d.counts[usize::try_from(s - c.min).unwrap_or(0)] += 1;
            }
            Some(_) => {}
            None => d.not_applicable += 1,
        }
    }
    out.into_values()
        .map(|mut d| {
            let n: usize = d.counts.iter().sum();
            d.mean = (n > 0).then(|| {
                d.counts
                    .iter()
                    .enumerate()
                    .map(|(k, c)| (f64::from(d.min) + k as f64) * *c as f64)
                    .sum::<f64>()
                    / n as f64
            });
            d
        })
        .collect()
}

/// The consistency report of a project: ratings (first criterion) and rankings against
/// pairwise choices on the same items, for the same annotator and across annotators.
/// Judgements of excluded annotators and of LLM judges are left out.
///
/// # Errors
/// 404 for an unknown project; Internal on database failure.
pub async fn consistency(pool: &db::PgPool, id: i64) -> Result<ConsistencyReport, AppError> {
    Ok(consistency_of(&load(pool, id).await?))
}

fn consistency_of(d: &Loaded) -> ConsistencyReport {
    let (project_id, name, cfg) = (d.project_id, d.name.clone(), &d.cfg);
    let (votes, ratings, rankings, excluded) = (&d.votes, &d.ratings, &d.rankings, &d.excluded);
    let keep =
        |source: &str, a: Option<i64>| human(source) && !a.is_some_and(|a| excluded.contains(&a));
    let criterion = cfg.criteria.first().map(|c| c.name.clone());
    // (item, annotator, response) -> score; (item, response) -> scores.
    let mut score: HashMap<(i64, i64, i64), f64> = HashMap::new();
    let mut all_scores: HashMap<(i64, i64), Vec<f64>> = HashMap::new();
    for r in ratings.iter().filter(|r| keep(&r.source, r.annotator_id)) {
        if Some(&r.criterion) != criterion.as_ref() {
            continue;
        }
        let Some(s) = r.score else { continue };
        if let Some(a) = r.annotator_id {
            score.insert((r.item_id, a, r.response_id), f64::from(s));
        }
        all_scores
            .entry((r.item_id, r.response_id))
            .or_default()
            .push(f64::from(s));
    }
    let mut place: HashMap<(i64, i64, i64), f64> = HashMap::new();
    let mut all_places: HashMap<(i64, i64), Vec<f64>> = HashMap::new();
    for r in rankings.iter().filter(|r| keep(&r.source, r.annotator_id)) {
        for (resp, p) in places(r) {
            if let Some(a) = r.annotator_id {
                place.insert((r.item_id, a, resp), p);
            }
            all_places.entry((r.item_id, resp)).or_default().push(p);
        }
    }
    let mean = |v: &Vec<f64>| v.iter().sum::<f64>() / v.len() as f64;
    let (mut rs, mut ra, mut ks, mut ka) = (
        Counts::default(),
        Counts::default(),
        Counts::default(),
        Counts::default(),
    );
    // Majority choice per item and pair (decisive votes; a tie count when equal).
    let mut tally: BTreeMap<(i64, i64, i64), [usize; 3]> = BTreeMap::new();
    for v in votes.iter().filter(|v| keep(&v.source, v.annotator_id)) {
        let Some((lo, hi, label)) = vote_label(v) else {
            continue;
        };
        let choice = pref_of_label(label);
        if let Some(a) = v.annotator_id {
            if let (Some(x), Some(y)) = (
                score.get(&(v.item_id, a, lo)),
                score.get(&(v.item_id, a, hi)),
            ) {
                rs.add(Pref::from_values(*x, *y), choice);
            }
            if let (Some(x), Some(y)) = (
                place.get(&(v.item_id, a, lo)),
                place.get(&(v.item_id, a, hi)),
            ) {
                ks.add(Pref::from_values(-*x, -*y), choice);
            }
        }
        let t = tally.entry((v.item_id, lo, hi)).or_default();
        match choice {
            Pref::First => t[0] += 1,
            Pref::Second => t[1] += 1,
            Pref::Tie => t[2] += 1,
        }
    }
    for ((item, lo, hi), t) in tally {
        let majority = Pref::from_values(t[0] as f64, t[1] as f64);
        if let (Some(x), Some(y)) = (all_scores.get(&(item, lo)), all_scores.get(&(item, hi))) {
            ra.add(Pref::from_values(mean(x), mean(y)), majority);
        }
        if let (Some(x), Some(y)) = (all_places.get(&(item, lo)), all_places.get(&(item, hi))) {
            ka.add(Pref::from_values(-mean(x), -mean(y)), majority);
        }
    }
    ConsistencyReport {
        project_id,
        project: name,
        criterion,
        disagreement: [
            rs.disagreement(),
            ra.disagreement(),
            ks.disagreement(),
            ka.disagreement(),
        ],
        rating_vs_choice_same_annotator: counts(rs),
        rating_vs_choice_across_annotators: counts(ra),
        ranking_vs_choice_same_annotator: counts(ks),
        ranking_vs_choice_across_annotators: counts(ka),
    }
}

/// Excludes an annotator's judgements from leaderboards and exports, or includes them again.
///
/// # Errors
/// 404 for an unknown user; Internal on database failure.
pub async fn set_excluded(pool: &db::PgPool, user_id: i64, excluded: bool) -> Result<(), AppError> {
    crate::error::or_not_found(
        db::quality::set_excluded(pool, user_id, excluded).await,
        || format!("no user #{user_id}"),
    )
}

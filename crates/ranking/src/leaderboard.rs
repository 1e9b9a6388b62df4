//! A whole leaderboard from aggregated counts: Bradley–Terry ratings, sandwich or bootstrap
//! confidence intervals, Rank (UB), rank spread, tiers, vote counts and the pairwise matrices
//! (docs/design.md §5.3–5.6, §5.10–5.12).

use serde::{Deserialize, Serialize};

use crate::bt::{self, BootstrapConfig, BtConfig, Counts, Unbounded};
use crate::sandwich;
use crate::ties::{self, TieModel, TieModelScore};

/// How the 95% intervals are computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CiMethod {
    /// Closed form `H⁻¹ G H⁻¹` at the optimum (LMArena's method since 2025).
    #[default]
    Sandwich,
    /// Quantiles of refits on resampled votes (Chatbot Arena's 2024 method).
    Bootstrap,
}

impl CiMethod {
    /// Parses `sandwich` or `bootstrap`.
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "sandwich" => Some(Self::Sandwich),
            "bootstrap" => Some(Self::Bootstrap),
            _ => None,
        }
    }

    /// The name [`CiMethod::parse`] reads.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::Sandwich => "sandwich",
            Self::Bootstrap => "bootstrap",
        }
    }
}

/// arena-rank's `min_pair_count`: pairs with fewer votes weigh as if they had this many.
pub const MIN_PAIR_COUNT: f64 = 50.0;

/// Below this many votes a model's score is marked provisional (LMArena's practice).
pub const PROVISIONAL_VOTES: f64 = 300.0;

/// Settings of a leaderboard computation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LeaderboardConfig {
    /// Fit settings and scale.
    pub bt: BtConfig,
    /// Interval method.
    pub ci: CiMethod,
    /// Bootstrap rounds and seed (bootstrap only; 0 rounds: no intervals).
    pub bootstrap: BootstrapConfig,
    /// Weight each vote by `1 / max(n_pair, m)` with this `m` (inverse pair frequency).
    pub reweight: Option<f64>,
    /// Shift all ratings so this model (index) has this rating.
    pub anchor: Option<(usize, f64)>,
    /// Models with fewer votes are marked provisional.
    pub provisional_votes: f64,
    /// How ties enter the ratings (other than `bt`: sandwich intervals, no reweighting).
    pub tie_model: TieModel,
    /// Score every tie model by held-out log-loss over this many folds.
    pub compare_tie_models: Option<usize>,
    /// Audit each adjacent pair: the votes whose removal flips it (`bt` without reweighting).
    pub audit: bool,
}

impl LeaderboardConfig {
    /// LMArena's defaults: sandwich intervals, no reweighting, no anchor, provisional below 300
    /// votes (the bootstrap, when chosen, has 100 rounds).
    #[must_use]
    pub const fn new() -> Self {
        Self {
            bt: BtConfig::new(),
            ci: CiMethod::Sandwich,
            bootstrap: BootstrapConfig::new(),
            reweight: None,
            anchor: None,
            provisional_votes: PROVISIONAL_VOTES,
            tie_model: TieModel::Bt,
            compare_tie_models: None,
            audit: false,
        }
    }
}

impl Default for LeaderboardConfig {
    fn default() -> Self {
        Self::new()
    }
}

/// One model's line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelRating {
    /// The model's index in the input.
    pub model: usize,
    /// Rating (full-data fit); `None` when the model has no finite rating.
    pub rating: Option<f64>,
    /// 2.5% bootstrap quantile.
    pub lower: Option<f64>,
    /// 97.5% bootstrap quantile.
    pub upper: Option<f64>,
    /// 1 + number of models whose lower bound is above this model's upper bound.
    pub rank_ub: Option<usize>,
    /// Best and worst rank the intervals allow.
    pub rank_spread: Option<(usize, usize)>,
    /// Tier (1 = top): models statistically tied with their tier's leader.
    pub tier: Option<usize>,
    /// Votes involving this model.
    pub votes: f64,
    /// Fewer votes than [`LeaderboardConfig::provisional_votes`].
    pub provisional: bool,
    /// Why there is no finite rating, if there is none.
    pub unbounded: Option<Unbounded>,
}

/// The result, rows sorted by rating (best first; unrated models last).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Leaderboard {
    /// Per-model results.
    pub rows: Vec<ModelRating>,
    /// Newton iterations of the full-data fit.
    pub iterations: usize,
    /// Bootstrap rounds whose fit did not reach the tolerance.
    pub unconverged_rounds: usize,
    /// Rao–Kupper's `η`, Davidson's `ν` or the grounded model's `κ`, when one was fitted.
    pub tie_param: Option<f64>,
    /// Held-out log-loss of each tie model, best first, when asked for.
    pub tie_model_scores: Option<Vec<TieModelScore>>,
    /// Each adjacent pair of rated models and the votes that flip it, when asked for.
    pub audit: Option<Vec<crate::audit::PairAudit>>,
}

/// Shifts scaled ratings so the anchor model has its rating.
fn anchored(mut scaled: Vec<f64>, anchor: Option<(usize, f64)>) -> Vec<f64> {
    if let Some((m, rating)) = anchor {
        let shift = rating - scaled[m];
        if shift.is_finite() {
            scaled.iter_mut().for_each(|r| *r += shift);
        }
    }
    scaled
}

/// What a leaderboard may read besides the counts.
#[derive(Debug, Clone, Copy, Default)]
pub struct Extras<'a> {
    /// The "both bad" votes among the ties of the counts: the grounded Rao–Kupper tie model
    /// needs them, and the tie-model comparison scores it with them.
    pub both_bad: Option<&'a Counts>,
    /// One factor per triple of the counts (e.g. its annotator's reliability, docs/design.md
    /// §5.14): the Bradley–Terry fit and its sandwich weigh each vote by it (times the pair
    /// weight with `reweight`). With these the intervals are always sandwich intervals, and the
    /// tie models and the audit do not apply (they read the unweighted votes).
    pub vote_weights: Option<&'a [f64]>,
}

/// Computes the leaderboard.
#[must_use]
pub fn compute(counts: &Counts, cfg: &LeaderboardConfig) -> Leaderboard {
    compute_with(counts, Extras::default(), cfg)
}

/// [`compute`] with the [`Extras`].
#[must_use]
pub fn compute_with(counts: &Counts, extras: Extras<'_>, cfg: &LeaderboardConfig) -> Leaderboard {
    let both_bad = extras.both_bad;
    let mut lb = if cfg.tie_model == TieModel::Bt {
        compute_bt(counts, extras.vote_weights, cfg)
    } else {
        compute_tie_model(counts, both_bad, cfg)
    };
    lb.tie_model_scores = cfg
        .compare_tie_models
        .map(|k| ties::cross_validate_with(counts, both_bad, k, &cfg.bt));
    lb
}

/// Ratings and sandwich intervals under Rao–Kupper, Davidson, `ignore` or grounded Rao–Kupper.
fn compute_tie_model(
    counts: &Counts,
    both_bad: Option<&Counts>,
    cfg: &LeaderboardConfig,
) -> Leaderboard {
    let unbounded = ties::unbounded_with(counts, both_bad, cfg.tie_model);
    let fit = ties::fit_with(counts, both_bad, cfg.tie_model, &cfg.bt);
    let ratings = anchored(fit.scaled(&cfg.bt), cfg.anchor);
    let var = ties::sandwich_variances_with(counts, both_bad, &fit);
    let bounds = sandwich::bounds(&ratings, &var, &cfg.bt, sandwich::Z95);
    let mut rows = ranked_rows(&ratings, &bounds, &counts.votes_per_model(), &unbounded);
    for r in &mut rows {
        r.provisional = r.votes < cfg.provisional_votes;
    }
    Leaderboard {
        rows,
        iterations: 0,
        unconverged_rounds: usize::from(!fit.converged),
        tie_param: cfg.tie_model.fits_tie_param().then_some(fit.tie_param),
        tie_model_scores: None,
        audit: None,
    }
}

fn compute_bt(
    counts: &Counts,
    vote_weights: Option<&[f64]>,
    cfg: &LeaderboardConfig,
) -> Leaderboard {
    let n = counts.n_models;
    let unbounded = bt::unbounded_models(counts);
    let excluded: Vec<bool> = unbounded.iter().map(Option::is_some).collect();
    let pair = cfg.reweight.map(|m| sandwich::pair_weights(counts, m));
    let weights = match (pair, vote_weights) {
        (Some(p), Some(v)) => Some(p.iter().zip(v).map(|(a, b)| a * b).collect::<Vec<f64>>()),
        (Some(p), None) => Some(p),
        (None, Some(v)) => Some(v.to_vec()),
        (None, None) => None,
    };
    let point = match &weights {
        Some(w) => bt::fit(&sandwich::weighted(counts, w), &excluded, None, &cfg.bt),
        None => bt::fit(counts, &excluded, None, &cfg.bt),
    };
    let ratings = anchored(point.scaled(&cfg.bt), cfg.anchor);
    let ci = if vote_weights.is_some() {
        CiMethod::Sandwich
    } else {
        cfg.ci
    };
    let (bounds, unconverged) = match ci {
        CiMethod::Sandwich => {
            let var = sandwich::variances(counts, weights.as_deref(), &excluded, &point, &cfg.bt);
            (sandwich::bounds(&ratings, &var, &cfg.bt, sandwich::Z95), 0)
        }
        CiMethod::Bootstrap if cfg.bootstrap.rounds > 0 => {
            let fits = bt::bootstrap_reweighted(
                counts,
                &excluded,
                &point,
                &cfg.bt,
                &cfg.bootstrap,
                cfg.reweight,
            );
            let unconverged = fits.iter().filter(|f| !f.converged).count();
            let rounds: Vec<Vec<f64>> = fits
                .iter()
                .map(|f| anchored(f.scaled(&cfg.bt), cfg.anchor))
                .collect();
            (bt::confidence_intervals(&rounds, n), unconverged)
        }
        CiMethod::Bootstrap => (vec![(f64::NAN, f64::NAN); n], 0),
    };
    let mut rows = ranked_rows(&ratings, &bounds, &counts.votes_per_model(), &unbounded);
    for r in &mut rows {
        r.provisional = r.votes < cfg.provisional_votes;
    }
    let audit = (cfg.audit && weights.is_none()).then(|| {
        let order: Vec<usize> = rows
            .iter()
            .filter(|r| r.rating.is_some())
            .map(|r| r.model)
            .collect();
        crate::audit::audit(counts, &point, &order, &cfg.bt)
    });
    Leaderboard {
        rows,
        iterations: point.iterations,
        unconverged_rounds: unconverged,
        tie_param: None,
        tie_model_scores: None,
        audit,
    }
}

/// One row per model from its (scaled) rating, 95% bounds, votes and finiteness, with Rank
/// (UB), sorted best first: undefeated models on top, unrated ones last, ties by index.
#[must_use]
pub fn ranked_rows(
    ratings: &[f64],
    bounds: &[(f64, f64)],
    votes: &[f64],
    unbounded: &[Option<Unbounded>],
) -> Vec<ModelRating> {
    let ranks = bt::rank_upper_bound(bounds);
    let spread = bt::rank_spread(bounds);
    let finite = |x: f64| x.is_finite().then_some(x);
    let mut rows: Vec<ModelRating> = (0..ratings.len())
        .map(|m| ModelRating {
            model: m,
            rating: finite(ratings[m]),
            lower: finite(bounds[m].0),
            upper: finite(bounds[m].1),
            rank_ub: ranks[m],
            rank_spread: spread[m],
            tier: None,
            votes: votes[m],
            provisional: false,
            unbounded: unbounded[m],
        })
        .collect();
    rows.sort_by(|x, y| {
        let key = |r: &ModelRating| match (r.rating, r.unbounded) {
            (Some(v), _) => v,
            (None, Some(Unbounded::AllWins)) => f64::INFINITY,
            _ => f64::NEG_INFINITY,
        };
        key(y).total_cmp(&key(x)).then(x.model.cmp(&y.model))
    });
    let sorted: Vec<(f64, f64)> = rows
        .iter()
        .map(|r| match (r.rating, r.lower, r.upper) {
            (Some(_), Some(l), Some(u)) => (l, u),
            _ => (f64::NAN, f64::NAN),
        })
        .collect();
    for (r, t) in rows.iter_mut().zip(bt::tiers(&sorted)) {
        r.tier = t;
    }
    rows
}

/// Pairwise matrices, indexed `[row model][column model]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Matrices {
    /// Decided battles between the two models (ties excluded), symmetric.
    pub battles: Vec<Vec<f64>>,
    /// Share of those the row model won; `None` without decided battles.
    pub win_fraction: Vec<Vec<Option<f64>>>,
    /// `1/(1+10^((R_col − R_row)/400))` from the ratings; `None` where a rating is missing.
    pub predicted_win_rate: Vec<Vec<Option<f64>>>,
}

/// Builds the matrices from counts and (scaled) ratings.
#[must_use]
pub fn matrices(counts: &Counts, ratings: &[Option<f64>], cfg: &BtConfig) -> Matrices {
    let n = counts.n_models;
    let mut wins = vec![vec![0.0; n]; n];
    for t in &counts.triples {
        if t.y == 1.0 {
            wins[t.a][t.b] += t.weight;
        } else if t.y == 0.0 {
            wins[t.b][t.a] += t.weight;
        }
    }
    let battles: Vec<Vec<f64>> = (0..n)
        .map(|i| (0..n).map(|j| wins[i][j] + wins[j][i]).collect())
        .collect();
    let win_fraction = (0..n)
        .map(|i| {
            (0..n)
                .map(|j| (battles[i][j] > 0.0).then(|| wins[i][j] / battles[i][j]))
                .collect()
        })
        .collect();
    let predicted_win_rate = predicted_win_rates(ratings, cfg);
    Matrices {
        battles,
        win_fraction,
        predicted_win_rate,
    }
}

/// `1/(1+10^((R_col − R_row)/400))` for every pair of (scaled) ratings; `None` where one is
/// missing.
#[must_use]
pub fn predicted_win_rates(ratings: &[Option<f64>], cfg: &BtConfig) -> Vec<Vec<Option<f64>>> {
    ratings
        .iter()
        .map(|ri| {
            ratings
                .iter()
                .map(|rj| match (ri, rj) {
                    (Some(ri), Some(rj)) => {
                        Some(1.0 / (1.0 + cfg.base.powf((rj - ri) / cfg.scale)))
                    }
                    _ => None,
                })
                .collect()
        })
        .collect()
}

impl Matrices {
    /// The matrices with rows and columns taken in `order` (indices into the current order).
    #[must_use]
    pub fn reordered(&self, order: &[usize]) -> Self {
        fn pick<T: Copy>(m: &[Vec<T>], order: &[usize]) -> Vec<Vec<T>> {
            order
                .iter()
                .map(|&i| order.iter().map(|&j| m[i][j]).collect())
                .collect()
        }
        Self {
            battles: pick(&self.battles, order),
            win_fraction: pick(&self.win_fraction, order),
            predicted_win_rate: pick(&self.predicted_win_rate, order),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Outcome;

    #[test]
    fn a_vote_weight_of_zero_is_a_vote_left_out_and_one_is_a_plain_vote() {
        let good = Counts::from_battles(5, crate::testing::random_battles(5, 3000, 3));
        // A second annotator whose votes favour the weakest model.
        let spam = Counts::from_battles(
            5,
            crate::testing::random_battles(5, 2000, 4)
                .into_iter()
                .map(|(a, b, _)| (a, b, if a == 0 { Outcome::A } else { Outcome::B })),
        );
        let both = Counts {
            n_models: 5,
            triples: good.triples.iter().chain(&spam.triples).copied().collect(),
        };
        let w: Vec<f64> = (0..both.triples.len())
            .map(|k| if k < good.triples.len() { 1.0 } else { 0.0 })
            .collect();
        for reweight in [None, Some(MIN_PAIR_COUNT)] {
            let cfg = LeaderboardConfig {
                reweight,
                ..LeaderboardConfig::new()
            };
            let alone = compute(&good, &cfg);
            let weighted = compute_with(
                &both,
                Extras {
                    vote_weights: Some(&w),
                    ..Extras::default()
                },
                &cfg,
            );
            let spammed = compute(&both, &cfg);
            let by_model = |lb: &Leaderboard| {
                let mut v: Vec<_> = lb
                    .rows
                    .iter()
                    .map(|r| (r.model, r.rating, r.upper))
                    .collect();
                v.sort_by_key(|r| r.0);
                v
            };
            for ((_, ra, ua), (_, rb, ub)) in by_model(&alone).iter().zip(by_model(&weighted)) {
                if reweight.is_none() {
                    assert!((ra.unwrap() - rb.unwrap()).abs() < 1e-6, "{ra:?} vs {rb:?}");
                    // The sandwich's Hessian regulariser differs for weighted votes
                    // (docs/design.md §5.10): about 1e-3 points here.
                    assert!((ua.unwrap() - ub.unwrap()).abs() < 0.01, "{ua:?} vs {ub:?}");
                } else {
                    // The pair weights count the spam votes too, so only the order is kept.
                    assert!(ra.is_some() && rb.is_some());
                }
            }
            assert_eq!(
                alone.rows.iter().map(|r| r.model).collect::<Vec<_>>(),
                weighted.rows.iter().map(|r| r.model).collect::<Vec<_>>()
            );
            assert_ne!(
                alone.rows[0].model, spammed.rows[0].model,
                "the spam must matter unweighted for the test to mean anything"
            );
        }
        // Weights of 1 are plain votes.
        let ones = vec![1.0; good.triples.len()];
        let cfg = LeaderboardConfig::new();
        let plain = compute(&good, &cfg);
        let weighted = compute_with(
            &good,
            Extras {
                vote_weights: Some(&ones),
                ..Extras::default()
            },
            &cfg,
        );
        for (a, b) in plain.rows.iter().zip(&weighted.rows) {
            assert!((a.rating.unwrap() - b.rating.unwrap()).abs() < 1e-9);
            assert!((a.lower.unwrap() - b.lower.unwrap()).abs() < 0.01);
        }
    }

    #[test]
    fn matrices_exclude_ties() {
        let c = Counts::from_battles(
            2,
            [
                (0, 1, Outcome::A),
                (1, 0, Outcome::B),
                (0, 1, Outcome::B),
                (0, 1, Outcome::Tie),
            ],
        );
        let m = matrices(&c, &[Some(1100.0), Some(1000.0)], &BtConfig::new());
        assert_eq!(m.battles[0][1], 3.0);
        assert_eq!(m.win_fraction[0][1], Some(2.0 / 3.0));
        assert_eq!(m.win_fraction[1][0], Some(1.0 / 3.0));
        let p = m.predicted_win_rate[0][1].unwrap();
        assert!((p - 0.640_065).abs() < 1e-6);
        let swapped = m.reordered(&[1, 0]);
        assert_eq!(swapped.win_fraction[0][1], Some(1.0 / 3.0));
        assert_eq!(swapped.battles[1][0], 3.0);
    }

    #[test]
    fn anchoring_shifts_everything() {
        let c = Counts::from_battles(3, crate::testing::random_battles(3, 90, 5));
        for ci in [CiMethod::Bootstrap, CiMethod::Sandwich] {
            let cfg = LeaderboardConfig {
                ci,
                bootstrap: BootstrapConfig {
                    rounds: 10,
                    seed: 1,
                },
                anchor: Some((1, 1234.0)),
                ..LeaderboardConfig::new()
            };
            let lb = compute(&c, &cfg);
            let row1 = lb.rows.iter().find(|r| r.model == 1).unwrap();
            assert!((row1.rating.unwrap() - 1234.0).abs() < 1e-9);
            assert!(lb.rows.iter().all(|r| r.lower.unwrap() <= r.upper.unwrap()));
            assert!(lb.rows.iter().all(|r| r.provisional && r.tier.is_some()));
        }
    }

    #[test]
    fn sandwich_and_bootstrap_agree_on_plenty_of_votes() {
        // 4 models, 4,000 votes: both 95% intervals estimate the same sampling spread.
        let c = Counts::from_battles(4, crate::testing::random_battles(4, 4000, 11));
        let run = |ci| {
            compute(
                &c,
                &LeaderboardConfig {
                    ci,
                    bootstrap: BootstrapConfig {
                        rounds: 400,
                        seed: 3,
                    },
                    ..LeaderboardConfig::new()
                },
            )
        };
        let (s, b) = (run(CiMethod::Sandwich), run(CiMethod::Bootstrap));
        for (rs, rb) in s.rows.iter().zip(&b.rows) {
            assert_eq!(rs.model, rb.model);
            let ws = rs.upper.unwrap() - rs.lower.unwrap();
            let wb = rb.upper.unwrap() - rb.lower.unwrap();
            assert!((ws / wb - 1.0).abs() < 0.15, "{ws} vs {wb}");
            assert!(!rs.provisional);
        }
    }
}

/// The Wilson score interval of `wins` successes in `n` trials at normal quantile `z` (1.96
/// for 95%): `None` without trials.
#[must_use]
pub fn wilson(wins: f64, n: f64, z: f64) -> Option<(f64, f64)> {
    if n <= 0.0 {
        return None;
    }
    let p = wins / n;
    let z2 = z * z;
    let centre = (p + z2 / (2.0 * n)) / (1.0 + z2 / n);
    let half = z / (1.0 + z2 / n) * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt();
    Some(((centre - half).max(0.0), (centre + half).min(1.0)))
}

#[cfg(test)]
mod wilson_tests {
    use super::wilson;

    #[test]
    fn matches_the_textbook_values() {
        // 12 of 20 (the closed form evaluated independently in Python): (0.386582, 0.781193).
        let (lo, hi) = wilson(12.0, 20.0, 1.959_963_984_540_054).unwrap();
        assert!((lo - 0.386_582_5).abs() < 1e-6, "{lo}");
        assert!((hi - 0.781_193_3).abs() < 1e-6, "{hi}");
        let (lo, hi) = wilson(0.0, 5.0, 1.96).unwrap();
        assert_eq!(lo, 0.0);
        assert!(hi > 0.4 && hi < 0.44, "{hi}");
        assert_eq!(wilson(0.0, 0.0, 1.96), None);
    }
}

//! A whole leaderboard from aggregated counts: Bradley–Terry ratings, bootstrap confidence
//! intervals, Rank (UB), vote counts and the pairwise matrices (docs/design.md §5.3–5.6).

use serde::{Deserialize, Serialize};

use crate::bt::{self, BootstrapConfig, BtConfig, Counts, Unbounded};

/// Settings of a leaderboard computation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LeaderboardConfig {
    /// Fit settings and scale.
    pub bt: BtConfig,
    /// Bootstrap rounds and seed (0 rounds: no intervals).
    pub bootstrap: BootstrapConfig,
    /// Shift all ratings so this model (index) has this rating.
    pub anchor: Option<(usize, f64)>,
}

impl LeaderboardConfig {
    /// Chatbot Arena's defaults: 100 bootstrap rounds, no anchor.
    #[must_use]
    pub const fn new() -> Self {
        Self {
            bt: BtConfig::new(),
            bootstrap: BootstrapConfig::new(),
            anchor: None,
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
    /// Votes involving this model.
    pub votes: f64,
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

/// Computes the leaderboard.
#[must_use]
pub fn compute(counts: &Counts, cfg: &LeaderboardConfig) -> Leaderboard {
    let n = counts.n_models;
    let unbounded = bt::unbounded_models(counts);
    let excluded: Vec<bool> = unbounded.iter().map(Option::is_some).collect();
    let point = bt::fit(counts, &excluded, None, &cfg.bt);
    let ratings = anchored(point.scaled(&cfg.bt), cfg.anchor);
    let (bounds, unconverged) = if cfg.bootstrap.rounds > 0 {
        let fits = bt::bootstrap(counts, &excluded, &point, &cfg.bt, &cfg.bootstrap);
        let unconverged = fits.iter().filter(|f| !f.converged).count();
        let rounds: Vec<Vec<f64>> = fits
            .iter()
            .map(|f| anchored(f.scaled(&cfg.bt), cfg.anchor))
            .collect();
        (bt::confidence_intervals(&rounds, n), unconverged)
    } else {
        (vec![(f64::NAN, f64::NAN); n], 0)
    };
    let rows = ranked_rows(&ratings, &bounds, &counts.votes_per_model(), &unbounded);
    Leaderboard {
        rows,
        iterations: point.iterations,
        unconverged_rounds: unconverged,
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
    let finite = |x: f64| x.is_finite().then_some(x);
    let mut rows: Vec<ModelRating> = (0..ratings.len())
        .map(|m| ModelRating {
            model: m,
            rating: finite(ratings[m]),
            lower: finite(bounds[m].0),
            upper: finite(bounds[m].1),
            rank_ub: ranks[m],
            votes: votes[m],
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
        let cfg = LeaderboardConfig {
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

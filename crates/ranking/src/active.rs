//! Active pair selection (docs/design.md §5.18): the pair whose next battle is expected to
//! shrink the leaderboard's intervals the most, and a simulation that counts how many votes
//! each sampler needs on models of known strength.
//!
//! With Fisher information `H = Σ n p(1−p) d dᵀ + λI` at the current fit (`d = e_i − e_j`, the
//! bread of the sandwich), one more battle of `(i, j)` adds `s = p(1−p)` times `d dᵀ`, and by
//! Sherman–Morrison the summed variances fall by `s ‖H⁻¹d‖² / (1 + s dᵀH⁻¹d)`. That is the
//! pair's score, times both models' admin weights, plus a floor of the mean score for every
//! pair, as the heuristic sampler does.
//!
//! Choosing pairs from past outcomes leaves the Bradley–Terry likelihood as it is, so where the
//! model holds the plain fit stays unbiased. Where it does not (some matchups go otherwise than
//! the two strengths say), the fit is a compromise over the pairs that were played, and the
//! sampler decides which: reweighting by inverse pair frequency (§5.10) gives every pair the
//! same say again, which is what uniform sampling would have fitted. The simulation measures both.

use rand::{Rng, SeedableRng};
use serde::Serialize;

use crate::bt::{self, BtConfig, Counts};
use crate::leaderboard::MIN_PAIR_COUNT;
use crate::linalg::{cholesky, cholesky_solve, sigmoid};
use crate::sampler::{self, Candidate, SamplerConfig};
use crate::sandwich;

/// Ridge of the information matrix per vote (as the sandwich's), and its least value, which
/// stands for a weak prior on models without battles.
const RIDGE: f64 = 1e-5;
const MIN_RIDGE: f64 = 1e-2;

/// Scores every pair of models with a positive weight: the expected fall of the summed
/// variances of the natural-log strengths from one more battle, times the two weights, plus
/// `floor` times the mean. `battles[i][j]` counts the battles of `i` and `j` (symmetric);
/// `theta` are the current natural-log strengths (NaN or infinite for a model without a
/// finite rating: treated as 0).
#[must_use]
pub fn pair_scores(
    battles: &[Vec<f64>],
    theta: &[f64],
    weights: &[f64],
    floor: f64,
) -> Vec<(usize, usize, f64)> {
    let n = theta.len();
    let t = |m: usize| if theta[m].is_finite() { theta[m] } else { 0.0 };
    let mut h = vec![0.0; n * n];
    let mut total = 0.0;
    for a in 0..n {
        for b in a + 1..n {
            let count = battles[a][b];
            if count <= 0.0 {
                continue;
            }
            let p = sigmoid(t(a) - t(b));
            let v = count * p * (1.0 - p);
            h[a * n + a] += v;
            h[b * n + b] += v;
            h[a * n + b] -= v;
            h[b * n + a] -= v;
            total += count;
        }
    }
    let ridge = (RIDGE * total).max(MIN_RIDGE);
    for d in 0..n {
        h[d * n + d] += ridge;
    }
    let mut scores = Vec::new();
    if cholesky(&mut h, n).is_none() {
        return scores;
    }
    // C = H⁻¹, column by column.
    let mut c = vec![0.0; n * n];
    let mut col = vec![0.0; n];
    for j in 0..n {
        col.fill(0.0);
        col[j] = 1.0;
        cholesky_solve(&h, &mut col, n);
        for i in 0..n {
            c[i * n + j] = col[i];
        }
    }
    for i in 0..n {
        for j in i + 1..n {
            if weights[i] <= 0.0 || weights[j] <= 0.0 {
                continue;
            }
            let p = sigmoid(t(i) - t(j));
            let s = p * (1.0 - p);
            let q = c[i * n + i] + c[j * n + j] - 2.0 * c[i * n + j];
            let norm: f64 = (0..n).map(|k| (c[k * n + i] - c[k * n + j]).powi(2)).sum();
            scores.push((i, j, weights[i] * weights[j] * s * norm / (1.0 + s * q)));
        }
    }
    if !scores.is_empty() {
        let mean = scores.iter().map(|s| s.2).sum::<f64>() / scores.len() as f64;
        for s in &mut scores {
            s.2 += floor * mean;
        }
    }
    scores
}

/// [`pair_scores`] at the plain Bradley–Terry fit of `counts`, every model weighing 1: what a
/// pairwise project orders its equally loaded items by. Only decided votes count as battles;
/// a model without a finite rating counts as strength 0.
#[must_use]
pub fn scores_at_fit(counts: &Counts, floor: f64) -> Vec<(usize, usize, f64)> {
    let n = counts.n_models;
    let cfg = BtConfig::new();
    let excluded: Vec<bool> = bt::unbounded_models(counts)
        .iter()
        .map(Option::is_some)
        .collect();
    let theta: Vec<f64> = if excluded.iter().all(|&x| x) {
        vec![0.0; n]
    } else {
        let fit = bt::fit(counts, &excluded, None, &cfg);
        fit.natural.iter().map(|r| cfg.base.ln() * r).collect()
    };
    let mut battles = vec![vec![0.0; n]; n];
    for t in counts.triples.iter().filter(|t| t.y == 0.0 || t.y == 1.0) {
        battles[t.a][t.b] += t.weight;
        battles[t.b][t.a] += t.weight;
    }
    pair_scores(&battles, &theta, &vec![1.0; n], floor)
}

/// The samplers the simulation compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Sampler {
    /// Every pair alike.
    Uniform,
    /// [`sampler::pair_scores`]: close ratings, wide intervals, few battles.
    Heuristic,
    /// [`pair_scores`]: the largest expected shrinkage of the intervals.
    Active,
}

impl Sampler {
    /// The name in tables.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::Uniform => "uniform",
            Self::Heuristic => "heuristic (interval width, closeness, battles)",
            Self::Active => "active (expected interval shrinkage)",
        }
    }
}

/// Settings of a simulation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SimConfig {
    /// Models, with strengths drawn from N(0, `spread`²) in natural-log units.
    pub models: usize,
    /// Standard deviation of the strengths.
    pub spread: f64,
    /// Votes at most.
    pub budget: usize,
    /// Votes between refits (the leaderboard is refitted, the sampler re-scored).
    pub batch: usize,
    /// Target: every model's 95% interval at most this wide (rating points).
    pub width: f64,
    /// Target: the top `top` models in the right order, from then on to the end.
    pub top: usize,
    /// Seed of the strengths and the votes.
    pub seed: u64,
    /// Standard deviation of per-matchup effects (natural-log units) added to the strength
    /// difference, so that Bradley–Terry does not hold exactly: `P(a beats b) = σ(sa − sb +
    /// m_ab)`, `m_ba = −m_ab`. 0: Bradley–Terry holds.
    pub matchup: f64,
}

/// What one simulated run reached.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct SimResult {
    /// Votes until every interval was at most [`SimConfig::width`] wide (`None`: not within
    /// the budget).
    pub votes_to_width: Option<usize>,
    /// Votes from which on the top models stayed in the right order (`None`: not settled at the
    /// end).
    pub votes_to_top: Option<usize>,
    /// The widest interval at the end.
    pub final_max_width: f64,
    /// Root-mean-square distance in rating points of the final plain fit from the ratings
    /// uniform sampling aims at: the fit of the true win probabilities with every pair alike.
    pub error_plain: f64,
    /// The same for the fit reweighted by inverse pair frequency (`1 / max(n, 50)`).
    pub error_reweighted: f64,
}

/// Draws `n` values from N(0, `sd`²).
fn normals(rng: &mut impl Rng, n: usize, sd: f64) -> Vec<f64> {
    (0..n)
        .map(|_| {
            // Box–Muller: the values only need to be normal-ish and seeded.
            let (u, v): (f64, f64) = (rng.random_range(1e-12..1.0), rng.random());
            sd * (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
        })
        .collect()
}

/// Root-mean-square distance in rating points of two natural-scale fits, each centred over the
/// models both rate.
fn rms_points(x: &[f64], y: &[f64], cfg: &BtConfig) -> f64 {
    let both: Vec<usize> = (0..x.len())
        .filter(|&m| x[m].is_finite() && y[m].is_finite())
        .collect();
    if both.is_empty() {
        return f64::NAN;
    }
    let k = both.len() as f64;
    let (mx, my) = (
        both.iter().map(|&m| x[m]).sum::<f64>() / k,
        both.iter().map(|&m| y[m]).sum::<f64>() / k,
    );
    let ss: f64 = both
        .iter()
        .map(|&m| (cfg.scale * ((x[m] - mx) - (y[m] - my))).powi(2))
        .sum();
    (ss / k).sqrt()
}

/// Simulates `cfg.budget` votes drawn by `sampler` on models of known strength (Bradley–Terry
/// outcomes, no ties), refitting every `cfg.batch` votes with sandwich intervals.
#[must_use]
pub fn simulate(sampler: Sampler, cfg: &SimConfig) -> SimResult {
    let n = cfg.models.max(2);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(cfg.seed);
    let strength = normals(&mut rng, n, cfg.spread);
    // The matchups draw from their own stream, so the strengths do not depend on them.
    let mut matchup_rng = rand_chacha::ChaCha8Rng::seed_from_u64(cfg.seed ^ 0xbad_5eed);
    let drawn = normals(&mut matchup_rng, n * n, cfg.matchup);
    let p_win = |a: usize, b: usize| {
        let m = if a < b {
            drawn[a * n + b]
        } else {
            -drawn[b * n + a]
        };
        sigmoid(strength[a] - strength[b] + m)
    };
    let mut truth: Vec<usize> = (0..n).collect();
    truth.sort_by(|&x, &y| strength[y].total_cmp(&strength[x]));
    let top = cfg.top.min(n);
    // The votes draw from their own stream, so every sampler sees the same strengths.
    let mut votes_rng = rand_chacha::ChaCha8Rng::seed_from_u64(cfg.seed ^ 0x5eed);
    let mut table = vec![0u64; n * n * 3];
    let bt_cfg = BtConfig::new();
    let per_theta = bt_cfg.scale / bt_cfg.base.ln();
    let weights = vec![1.0; n];
    let mut theta: Vec<f64> = vec![0.0; n];
    let mut widths = vec![f64::INFINITY; n];
    let mut battles = vec![vec![0.0; n]; n];
    let (mut to_width, mut top_since) = (None, None);
    let mut done = 0;
    let mut final_max = f64::INFINITY;
    let mut last = None;
    while done < cfg.budget {
        let scores = match sampler {
            Sampler::Uniform => (0..n)
                .flat_map(|i| (i + 1..n).map(move |j| (i, j, 1.0)))
                .collect(),
            Sampler::Heuristic => {
                let models: Vec<Candidate> = (0..n)
                    .map(|m| Candidate {
                        weight: 1.0,
                        rating: theta[m]
                            .is_finite()
                            .then(|| bt_cfg.init_rating + per_theta * theta[m]),
                        ci_width: widths[m].is_finite().then_some(widths[m]),
                    })
                    .collect();
                sampler::pair_scores(&models, &battles, &SamplerConfig::new())
            }
            Sampler::Active => pair_scores(&battles, &theta, &weights, SamplerConfig::new().floor),
        };
        let step = cfg.batch.min(cfg.budget - done);
        for _ in 0..step {
            let Some((a, b)) = sampler::sample_pair(&scores, &mut votes_rng) else {
                break;
            };
            let win = votes_rng.random_bool(p_win(a, b));
            table[(a * n + b) * 3 + if win { 2 } else { 0 }] += 1;
            battles[a][b] += 1.0;
            battles[b][a] += 1.0;
        }
        done += step;
        // Refit.
        let counts = Counts::from_table(n, &table);
        let unbounded = bt::unbounded_models(&counts);
        let excluded: Vec<bool> = unbounded.iter().map(Option::is_some).collect();
        let fit = bt::fit(&counts, &excluded, None, &bt_cfg);
        let var = sandwich::variances(&counts, None, &excluded, &fit, &bt_cfg);
        let alpha = bt_cfg.base.ln();
        theta = fit.natural.iter().map(|r| alpha * r).collect();
        last = Some((counts, excluded, fit));
        widths = var
            .iter()
            .map(|v| 2.0 * sandwich::Z95 * v.sqrt() * per_theta)
            .map(|w| if w.is_finite() { w } else { f64::INFINITY })
            .collect();
        final_max = widths.iter().copied().fold(0.0, f64::max);
        if to_width.is_none() && final_max <= cfg.width {
            to_width = Some(done);
        }
        let mut order: Vec<usize> = (0..n).collect();
        let key = |m: usize| {
            if theta[m].is_finite() {
                theta[m]
            } else {
                f64::NEG_INFINITY
            }
        };
        order.sort_by(|&x, &y| key(y).total_cmp(&key(x)));
        if order[..top] == truth[..top] {
            top_since.get_or_insert(done);
        } else {
            top_since = None;
        }
    }
    // What uniform sampling aims at: every pair alike, at its true win probability.
    let target = {
        let triples = (0..n)
            .flat_map(|a| (a + 1..n).map(move |b| (a, b)))
            .flat_map(|(a, b)| {
                let p = p_win(a, b);
                [(1.0, p), (0.0, 1.0 - p)].map(|(y, weight)| bt::Triple { a, b, y, weight })
            })
            .collect();
        let all = Counts {
            n_models: n,
            triples,
        };
        bt::fit(&all, &vec![false; n], None, &bt_cfg)
    };
    let (error_plain, error_reweighted) = match &last {
        Some((counts, excluded, fit)) => {
            let weights = sandwich::pair_weights(counts, MIN_PAIR_COUNT);
            let reweighted = bt::fit(
                &sandwich::weighted(counts, &weights),
                excluded,
                None,
                &bt_cfg,
            );
            (
                rms_points(&fit.natural, &target.natural, &bt_cfg),
                rms_points(&reweighted.natural, &target.natural, &bt_cfg),
            )
        }
        None => (f64::NAN, f64::NAN),
    };
    SimResult {
        votes_to_width: to_width,
        votes_to_top: top_since,
        final_max_width: final_max,
        error_plain,
        error_reweighted,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Outcome;

    #[test]
    fn the_score_is_the_fall_of_the_summed_variances() {
        // Check Sherman–Morrison against refitting the information by hand: two models, a
        // third with no battles.
        let battles = vec![vec![0.0, 3.0, 0.0], vec![3.0, 0.0, 0.0], vec![0.0; 3]];
        let scores = pair_scores(&battles, &[0.0; 3], &[1.0; 3], 0.0);
        // The summed variances tr(H⁻¹), with one more battle of `extra` when given.
        let trace = |extra: Option<(usize, usize)>| {
            let n = 3;
            let mut h = vec![0.0; 9];
            let mut add = |a: usize, b: usize, v: f64| {
                h[a * n + a] += v;
                h[b * n + b] += v;
                h[a * n + b] -= v;
                h[b * n + a] -= v;
            };
            add(0, 1, 3.0 * 0.25);
            if let Some((a, b)) = extra {
                add(a, b, 0.25);
            }
            for d in 0..n {
                h[d * n + d] += MIN_RIDGE;
            }
            cholesky(&mut h, n).unwrap();
            (0..n)
                .map(|j| {
                    let mut e = vec![0.0; n];
                    e[j] = 1.0;
                    cholesky_solve(&h, &mut e, n);
                    e[j]
                })
                .sum::<f64>()
        };
        let before = trace(None);
        for &(i, j, s) in &scores {
            let fall = before - trace(Some((i, j)));
            assert!(
                (s - fall).abs() < 1e-9 * fall.abs().max(1.0),
                "({i}, {j}): {s} vs {fall}"
            );
        }
        // The model without battles is the one to ask about.
        let best = scores.iter().max_by(|x, y| x.2.total_cmp(&y.2)).unwrap();
        assert!(best.1 == 2, "{best:?}");
    }

    #[test]
    fn active_sampling_needs_fewer_votes_than_uniform() {
        let cfg = SimConfig {
            models: 10,
            spread: 1.0,
            budget: 12_000,
            batch: 200,
            width: 70.0,
            top: 3,
            seed: 7,
            matchup: 0.0,
        };
        let uniform = simulate(Sampler::Uniform, &cfg);
        let active = simulate(Sampler::Active, &cfg);
        let (u, a) = (
            uniform.votes_to_width.unwrap(),
            active.votes_to_width.unwrap(),
        );
        assert!(a < u, "active {a} vs uniform {u}");
    }

    #[test]
    fn reweighting_undoes_the_samplers_choice_of_pairs() {
        // Where Bradley–Terry does not hold, the plain fit of actively sampled votes drifts
        // from what uniform sampling aims at; the reweighted fit stays near it. Where it holds,
        // both find the truth.
        let cfg = |seed, matchup| SimConfig {
            models: 10,
            spread: 1.0,
            budget: 200_000,
            batch: 2_000,
            width: 0.0,
            top: 1,
            seed,
            matchup,
        };
        let mean = |matchup: f64| {
            let runs: Vec<SimResult> = (0..4)
                .map(|seed| simulate(Sampler::Active, &cfg(seed, matchup)))
                .collect();
            let k = runs.len() as f64;
            (
                runs.iter().map(|r| r.error_plain).sum::<f64>() / k,
                runs.iter().map(|r| r.error_reweighted).sum::<f64>() / k,
            )
        };
        let (plain, reweighted) = mean(1.0);
        eprintln!("misspecified: plain {plain:.1}, reweighted {reweighted:.1}");
        assert!(
            reweighted < 0.6 * plain,
            "plain {plain}, reweighted {reweighted}"
        );
        let (plain, reweighted) = mean(0.0);
        eprintln!("well specified: plain {plain:.1}, reweighted {reweighted:.1}");
        assert!(
            plain < 4.0 && reweighted < 4.0,
            "plain {plain}, reweighted {reweighted}"
        );
    }

    #[test]
    fn a_fitted_board_asks_about_its_least_known_pair() {
        // Models 0–1 met 40 times, 1–2 twice, 0–2 never: the pairs with model 2 come first
        // (1–2 a little ahead of 0–2, whose outcome is likelier foretold), 0–1 far behind.
        let mut battles = Vec::new();
        for k in 0..40 {
            battles.push((0, 1, if k % 3 == 0 { Outcome::B } else { Outcome::A }));
        }
        battles.push((1, 2, Outcome::A));
        battles.push((1, 2, Outcome::B));
        let scores = scores_at_fit(&Counts::from_battles(3, battles), 0.0);
        let mut order: Vec<(usize, usize, f64)> = scores;
        order.sort_by(|x, y| y.2.total_cmp(&x.2));
        let pairs: Vec<(usize, usize)> = order.iter().map(|s| (s.0, s.1)).collect();
        assert_eq!(pairs, [(1, 2), (0, 2), (0, 1)], "{order:?}");
        assert!(order[2].2 < 0.05 * order[1].2, "{order:?}");
        // With no votes at all every pair scores alike.
        let empty = scores_at_fit(&Counts::from_battles(3, []), 0.0);
        assert_eq!(empty.len(), 3);
        assert!(
            empty
                .iter()
                .all(|s| (s.2 - empty[0].2).abs() < 1e-12 && s.2 > 0.0)
        );
    }

    #[test]
    fn weights_of_zero_exclude_a_model() {
        let battles = vec![
            vec![0.0, 1.0, 0.0],
            vec![1.0, 0.0, 1.0],
            vec![0.0, 1.0, 0.0],
        ];
        let scores = pair_scores(&battles, &[0.0; 3], &[1.0, 0.0, 1.0], 0.05);
        assert_eq!(scores.len(), 1);
        assert_eq!((scores[0].0, scores[0].1), (0, 2));
    }
}

//! Closed-form confidence intervals for Bradley–Terry ratings (docs/design.md §5.10): the
//! sandwich estimator `Var(θ) = H⁻¹ G H⁻¹` at the optimum, as LMArena computes them since
//! 2025, and the inverse pair-frequency weights that keep rarely paired models from being
//! outvoted by frequent pairs.
//!
//! The parameters are natural-log strengths `θ = ln10 · r`, so that `P(a beats b) = σ(θa − θb)`.
//! For every vote of weight `w` on pair `(i, j)` with score `y` for `i`:
//! `H += w p(1−p) (eᵢ−eⱼ)(eᵢ−eⱼ)ᵀ` and `G += w² (y−p)² (eᵢ−eⱼ)(eᵢ−eⱼ)ᵀ`, `p = σ(θi − θj)`.
//! `H` is singular along each group's shift direction, so `λI` is added with
//! `λ = 10⁻⁵ · (number of votes)` for unweighted votes and `10⁻⁵` for weighted ones; `G` has no
//! variance in that direction, so the shift stays unmeasured, as it should.

use crate::bt::{BtConfig, BtFit, Counts};
use crate::linalg::{cholesky, cholesky_solve, sigmoid};

/// Hessian regulariser per vote (unweighted) or in all (weighted).
pub const HESSIAN_REG: f64 = 1e-5;

/// The normal quantile of a two-sided 95% interval.
pub const Z95: f64 = 1.959_963_984_540_054;

/// The weight of each triple of `counts` under inverse pair-frequency weighting: `1 / max(n,
/// min_pair_count)`, `n` the votes of the triple's unordered pair.
#[must_use]
pub fn pair_weights(counts: &Counts, min_pair_count: f64) -> Vec<f64> {
    let mut per_pair: std::collections::HashMap<(usize, usize), f64> = Default::default();
    for t in &counts.triples {
        *per_pair.entry((t.a.min(t.b), t.a.max(t.b))).or_default() += t.weight;
    }
    counts
        .triples
        .iter()
        .map(|t| 1.0 / per_pair[&(t.a.min(t.b), t.a.max(t.b))].max(min_pair_count))
        .collect()
}

/// `counts` with each triple's weight multiplied by its factor in `weights`.
#[must_use]
pub fn weighted(counts: &Counts, weights: &[f64]) -> Counts {
    let triples = counts
        .triples
        .iter()
        .zip(weights)
        .map(|(t, w)| crate::bt::Triple {
            weight: t.weight * w,
            ..*t
        })
        .collect();
    Counts {
        n_models: counts.n_models,
        triples,
    }
}

/// Per unordered pair: the sums the two matrices need.
struct PairSums {
    i: usize,
    j: usize,
    /// `Σ c·w` (votes times weight).
    weight: f64,
    /// `Σ c·w²`, `Σ c·w²·y`, `Σ c·w²·y²` (y is `i`'s score).
    w2: f64,
    w2y: f64,
    w2yy: f64,
}

fn pair_sums(counts: &Counts, weights: Option<&[f64]>, excluded: &[bool]) -> Vec<PairSums> {
    let mut index: std::collections::HashMap<(usize, usize), usize> = Default::default();
    let mut out: Vec<PairSums> = Vec::new();
    for (k, t) in counts.triples.iter().enumerate() {
        if t.weight <= 0.0 || t.a == t.b || excluded[t.a] || excluded[t.b] {
            continue;
        }
        let w = weights.map_or(1.0, |w| w[k]);
        let (i, j, y) = if t.a < t.b {
            (t.a, t.b, t.y)
        } else {
            (t.b, t.a, 1.0 - t.y)
        };
        let slot = *index.entry((i, j)).or_insert_with(|| {
            out.push(PairSums {
                i,
                j,
                weight: 0.0,
                w2: 0.0,
                w2y: 0.0,
                w2yy: 0.0,
            });
            out.len() - 1
        });
        let s = &mut out[slot];
        let c = t.weight;
        s.weight += c * w;
        s.w2 += c * w * w;
        s.w2y += c * w * w * y;
        s.w2yy += c * w * w * y * y;
    }
    out
}

/// Sandwich variances of the natural-log strengths `θ` at `fit` (the optimum of the loss
/// weighted by `weights`, one factor per triple of `counts`, or unweighted). Excluded models
/// and models without a finite rating get NaN.
#[must_use]
pub fn variances(
    counts: &Counts,
    weights: Option<&[f64]>,
    excluded: &[bool],
    fit: &BtFit,
    cfg: &BtConfig,
) -> Vec<f64> {
    let n = counts.n_models;
    let alpha = cfg.base.ln();
    let theta: Vec<f64> = fit.natural.iter().map(|r| alpha * r).collect();
    let skip: Vec<bool> = (0..n)
        .map(|m| excluded[m] || !theta[m].is_finite())
        .collect();
    let pairs = pair_sums(counts, weights, &skip);
    // Models that take part, densely numbered.
    let mut dense = vec![usize::MAX; n];
    let mut members = Vec::new();
    for p in &pairs {
        for m in [p.i, p.j] {
            if dense[m] == usize::MAX {
                dense[m] = members.len();
                members.push(m);
            }
        }
    }
    let k = members.len();
    let mut out = vec![f64::NAN; n];
    if k == 0 {
        return out;
    }
    let total: f64 = counts
        .triples
        .iter()
        .filter(|t| !skip[t.a] && !skip[t.b] && t.a != t.b)
        .map(|t| t.weight)
        .sum();
    let reg = if weights.is_some() {
        HESSIAN_REG
    } else {
        HESSIAN_REG * total
    };
    let mut h = vec![0.0; k * k];
    // G's contribution per pair, on (eᵢ − eⱼ)(eᵢ − eⱼ)ᵀ.
    let mut g = Vec::with_capacity(pairs.len());
    for p in &pairs {
        let prob = sigmoid(theta[p.i] - theta[p.j]);
        let hv = p.weight * prob * (1.0 - prob);
        let gv = p.w2yy - 2.0 * prob * p.w2y + prob * prob * p.w2;
        let (a, b) = (dense[p.i], dense[p.j]);
        h[a * k + a] += hv;
        h[b * k + b] += hv;
        h[a * k + b] -= hv;
        h[b * k + a] -= hv;
        g.push((a, b, gv));
    }
    for d in 0..k {
        h[d * k + d] += reg;
    }
    if cholesky(&mut h, k).is_none() {
        return out;
    }
    // Column m of H⁻¹ is u = H⁻¹ eₘ; Var(θₘ) = uᵀ G u = Σ_pairs g (u_a − u_b)².
    let mut u = vec![0.0; k];
    for (d, &m) in members.iter().enumerate() {
        u.iter_mut().for_each(|x| *x = 0.0);
        u[d] = 1.0;
        cholesky_solve(&h, &mut u, k);
        out[m] = g
            .iter()
            .map(|&(a, b, gv)| {
                let diff = u[a] - u[b];
                gv * diff * diff
            })
            .sum();
    }
    out
}

/// Sandwich bounds on the reported scale: `rating ± z · sd(θ) · scale / ln(base)`.
#[must_use]
pub fn bounds(ratings: &[f64], variances: &[f64], cfg: &BtConfig, z: f64) -> Vec<(f64, f64)> {
    let per_theta = cfg.scale / cfg.base.ln();
    ratings
        .iter()
        .zip(variances)
        .map(|(&r, &v)| {
            let half = z * v.sqrt() * per_theta;
            (r - half, r + half)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Outcome;
    use crate::bt;

    #[test]
    fn two_models_match_the_binomial_variance() {
        // 30 wins of 40: θ = ln 3, and Var = 1 / (n p (1−p)) up to the tiny regulariser; the
        // difference θ0 − θ1 has that variance, each θ a quarter of it (θ0 = −θ1).
        let mut battles = vec![(0, 1, Outcome::A); 30];
        battles.extend(vec![(0, 1, Outcome::B); 10]);
        let c = Counts::from_battles(2, battles);
        let cfg = BtConfig::new();
        let ex = [false, false];
        let f = bt::fit(&c, &ex, None, &cfg);
        let v = variances(&c, None, &ex, &f, &cfg);
        let expected = 1.0 / (40.0 * 0.75 * 0.25) / 4.0;
        assert!((v[0] - expected).abs() < 1e-3 * expected, "{v:?}");
        assert!((v[0] - v[1]).abs() < 1e-12);
    }

    #[test]
    fn reweighting_balances_pairs() {
        // Pair (0,1) has 200 votes, (1,2) 10: with min_pair_count 50 they weigh 1/200 and 1/50.
        let mut battles = vec![(0, 1, Outcome::A); 120];
        battles.extend(vec![(0, 1, Outcome::B); 80]);
        battles.extend(vec![(1, 2, Outcome::A); 6]);
        battles.extend(vec![(2, 1, Outcome::A); 4]);
        let c = Counts::from_battles(3, battles);
        let w = pair_weights(&c, 50.0);
        for (t, w) in c.triples.iter().zip(&w) {
            let expected = if t.a.max(t.b) == 2 {
                1.0 / 50.0
            } else {
                1.0 / 200.0
            };
            assert_eq!(*w, expected);
        }
        let wc = weighted(&c, &w);
        assert!((wc.total() - (1.0 + 10.0 / 50.0)).abs() < 1e-12);
    }

    #[test]
    fn excluded_models_have_no_variance() {
        let c = Counts::from_battles(
            3,
            [(0, 1, Outcome::A), (1, 0, Outcome::A), (0, 1, Outcome::Tie)],
        );
        let u = bt::unbounded_models(&c);
        let ex: Vec<bool> = u.iter().map(Option::is_some).collect();
        assert_eq!(ex, [false, false, true]);
        let cfg = BtConfig::new();
        let f = bt::fit(&c, &ex, None, &cfg);
        let v = variances(&c, None, &ex, &f, &cfg);
        assert!(v[0] > 0.0 && v[1] > 0.0 && v[2].is_nan(), "{v:?}");
    }
}

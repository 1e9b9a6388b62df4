//! Robustness audit of a Bradley–Terry leaderboard (docs/design.md §5.15): for each adjacent pair
//! on the board, the smallest number of votes whose removal flips their order (after Huang et
//! al. 2025, "How robust are LLM leaderboards?").
//!
//! Each vote's influence on the gap `φ = rᵢ − rⱼ` is approximated to first order: removing vote
//! `k` moves the optimum by `H⁻¹∇ℓₖ`, so `Δφₖ ≈ (eᵢ − eⱼ)ᵀ H⁻¹ ∇ℓₖ` (`H` the Hessian of the
//! summed loss, `ℓₖ` the vote's loss). Votes are taken most gap-closing first, and the count is
//! then confirmed by refitting without them: the smallest prefix of that order whose removal
//! really flips the pair (found by growing and then bisecting the prefix).

use serde::{Deserialize, Serialize};

use crate::bt::{self, BtConfig, Counts, Triple};
use crate::linalg::{cholesky, cholesky_solve, sigmoid};

/// A group of identical votes: `count` votes of `a` against `b` with A's score `y`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct VoteGroup {
    /// Model A (index).
    pub a: usize,
    /// Model B (index).
    pub b: usize,
    /// A's score: 1, ½ or 0.
    pub y: f64,
    /// How many of these votes the flip removes.
    pub count: u64,
}

/// One adjacent pair's result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PairAudit {
    /// The higher-rated model (index).
    pub upper: usize,
    /// The model right below it.
    pub lower: usize,
    /// Their rating gap on the reported scale.
    pub gap: f64,
    /// Fewest votes (in the influence order) whose removal flips them, confirmed by refitting;
    /// `None` when removing every vote that narrows the gap does not flip them.
    pub votes_to_flip: Option<u64>,
    /// The share of all votes that is.
    pub share: Option<f64>,
    /// The votes removed, most influential first (at most 10 groups).
    pub most_influential: Vec<VoteGroup>,
}

/// Audits each adjacent pair of `order` (model indices, best first, all with finite ratings in
/// `fit`) on unweighted counts.
#[must_use]
pub fn audit(counts: &Counts, fit: &bt::BtFit, order: &[usize], cfg: &BtConfig) -> Vec<PairAudit> {
    let n = counts.n_models;
    let alpha = cfg.base.ln();
    let r: Vec<f64> = fit
        .natural
        .iter()
        .map(|v| if v.is_finite() { *v } else { 0.0 })
        .collect();
    // Hessian of the summed loss, regularised along the (gap-invariant) shift direction.
    let mut h = vec![0.0; n * n];
    let total = counts.total();
    for t in &counts.triples {
        if !fit.natural[t.a].is_finite() || !fit.natural[t.b].is_finite() {
            continue;
        }
        let p = sigmoid(alpha * (r[t.a] - r[t.b]));
        let c = t.weight * alpha * alpha * p * (1.0 - p);
        h[t.a * n + t.a] += c;
        h[t.b * n + t.b] += c;
        h[t.a * n + t.b] -= c;
        h[t.b * n + t.a] -= c;
    }
    for d in 0..n {
        h[d * n + d] += 1e-9 * total.max(1.0) + if h[d * n + d] == 0.0 { 1.0 } else { 0.0 };
    }
    if cholesky(&mut h, n).is_none() {
        return Vec::new();
    }
    order
        .windows(2)
        .map(|w| audit_pair(counts, &h, &r, w[0], w[1], cfg))
        .collect()
}

fn audit_pair(
    counts: &Counts,
    factor: &[f64],
    r: &[f64],
    upper: usize,
    lower: usize,
    cfg: &BtConfig,
) -> PairAudit {
    let n = counts.n_models;
    let alpha = cfg.base.ln();
    let mut u = vec![0.0; n];
    u[upper] = 1.0;
    u[lower] = -1.0;
    cholesky_solve(factor, &mut u, n);
    // Δφ per vote of each triple: ∇ℓ = −α(y − p)(e_a − e_b).
    let mut effects: Vec<(usize, f64)> = counts
        .triples
        .iter()
        .enumerate()
        .filter_map(|(k, t)| {
            let p = sigmoid(alpha * (r[t.a] - r[t.b]));
            let delta = -alpha * (t.y - p) * (u[t.a] - u[t.b]);
            (delta < 0.0 && t.weight >= 1.0).then_some((k, delta))
        })
        .collect();
    effects.sort_by(|x, y| x.1.total_cmp(&y.1));
    let gap = r[upper] - r[lower];
    let available: u64 = effects
        .iter()
        .map(|&(k, _)| counts.triples[k].weight as u64)
        .sum();
    // The linear estimate of how many votes it takes.
    let mut estimate = 0u64;
    let mut closed = 0.0;
    for &(k, d) in &effects {
        let c = counts.triples[k].weight as u64;
        let need = ((gap - closed) / -d).ceil().max(0.0) as u64;
        if need <= c {
            estimate += need;
            closed = gap;
            break;
        }
        estimate += c;
        closed += -d * c as f64;
    }
    if closed < gap {
        estimate = available;
    }
    let flips = |m: u64| flipped(counts, &effects, m, upper, lower, cfg);
    // Grow from the estimate until it flips, then bisect down.
    let mut hi = estimate.max(1).min(available);
    let mut lo = 0u64;
    let mut found = false;
    loop {
        if hi == 0 {
            break;
        }
        if flips(hi) {
            found = true;
            break;
        }
        lo = hi;
        if hi == available {
            break;
        }
        hi = (hi + hi / 2 + 1).min(available);
    }
    let votes_to_flip = found.then(|| {
        while hi - lo > 1 {
            let mid = lo + (hi - lo) / 2;
            if flips(mid) {
                hi = mid;
            } else {
                lo = mid;
            }
        }
        hi
    });
    let most_influential = votes_to_flip
        .map(|m| removed(counts, &effects, m).into_iter().take(10).collect())
        .unwrap_or_default();
    PairAudit {
        upper,
        lower,
        gap: cfg.scale * gap,
        votes_to_flip,
        share: votes_to_flip.map(|m| m as f64 / counts.total().max(1.0)),
        most_influential,
    }
}

/// The first `m` votes in influence order, as groups.
fn removed(counts: &Counts, effects: &[(usize, f64)], m: u64) -> Vec<VoteGroup> {
    let mut left = m;
    let mut out = Vec::new();
    for &(k, _) in effects {
        if left == 0 {
            break;
        }
        let t = counts.triples[k];
        let take = (t.weight as u64).min(left);
        left -= take;
        out.push(VoteGroup {
            a: t.a,
            b: t.b,
            y: t.y,
            count: take,
        });
    }
    out
}

/// Whether refitting without the first `m` votes (influence order) puts `lower` at or above
/// `upper`.
fn flipped(
    counts: &Counts,
    effects: &[(usize, f64)],
    m: u64,
    upper: usize,
    lower: usize,
    cfg: &BtConfig,
) -> bool {
    let mut weights: Vec<f64> = counts.triples.iter().map(|t| t.weight).collect();
    for g in removed(counts, effects, m) {
        if let Some(k) = counts
            .triples
            .iter()
            .position(|t| t.a == g.a && t.b == g.b && t.y == g.y)
        {
            weights[k] -= g.count as f64;
        }
    }
    let reduced = Counts {
        n_models: counts.n_models,
        triples: counts
            .triples
            .iter()
            .zip(&weights)
            .filter(|(_, w)| **w > 0.0)
            .map(|(t, w)| Triple { weight: *w, ..*t })
            .collect(),
    };
    let unbounded = bt::unbounded_models(&reduced);
    use bt::Unbounded::{AllLosses, AllWins};
    match (unbounded[upper], unbounded[lower]) {
        (_, Some(AllWins)) | (Some(AllLosses), _) => return true,
        (Some(AllWins), _) | (_, Some(AllLosses)) => return false,
        _ => {}
    }
    let excluded: Vec<bool> = unbounded.iter().map(Option::is_some).collect();
    let f = bt::fit(&reduced, &excluded, None, cfg);
    let (a, b) = (f.natural[upper], f.natural[lower]);
    a.is_finite() && b.is_finite() && b >= a
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Outcome;

    #[test]
    fn a_close_pair_flips_with_few_votes_and_the_count_is_minimal() {
        // 0 and 1 are close (11–9 head to head), 2 is far below both.
        let mut battles = vec![(0, 1, Outcome::A); 11];
        battles.extend(vec![(0, 1, Outcome::B); 9]);
        battles.extend(vec![(0, 2, Outcome::A); 30]);
        battles.extend(vec![(2, 0, Outcome::A); 3]);
        battles.extend(vec![(1, 2, Outcome::A); 30]);
        battles.extend(vec![(2, 1, Outcome::A); 3]);
        let c = Counts::from_battles(3, battles);
        let cfg = BtConfig::new();
        let f = bt::fit(&c, &[false; 3], None, &cfg);
        let order = [0, 1, 2];
        let a = audit(&c, &f, &order, &cfg);
        assert_eq!(a.len(), 2);
        let close = a[0].votes_to_flip.expect("flippable");
        let far = a[1].votes_to_flip.expect("flippable");
        assert!(close <= 3, "{a:?}");
        assert!(far > close, "{a:?}");
        // Minimal: the same removal but one vote fewer does not flip the pair, all of it does.
        let removed_total: u64 = a[0].most_influential.iter().map(|g| g.count).sum();
        assert_eq!(removed_total, close);
        let gap_without = |groups: &[VoteGroup], spare: u64| {
            let mut triples = c.triples.clone();
            let last = groups.len() - 1;
            for (k, g) in groups.iter().enumerate() {
                let t = triples
                    .iter_mut()
                    .find(|t| t.a == g.a && t.b == g.b && t.y == g.y)
                    .unwrap();
                t.weight -= (g.count - if k == last { spare } else { 0 }) as f64;
            }
            triples.retain(|t| t.weight > 0.0);
            let reduced = Counts {
                n_models: 3,
                triples,
            };
            let f = bt::fit(&reduced, &[false; 3], None, &cfg);
            f.natural[0] - f.natural[1]
        };
        assert!(gap_without(&a[0].most_influential, 0) <= 0.0);
        assert!(gap_without(&a[0].most_influential, 1) > 0.0);
        // The removed votes are ones that favour the upper model.
        for g in &a[0].most_influential {
            assert!(
                (g.a == 0 && g.y == 1.0)
                    || (g.b == 0 && g.y == 0.0)
                    || (g.a == 1 && g.y == 0.0)
                    || (g.b == 1 && g.y == 1.0),
                "{g:?}"
            );
        }
    }
}

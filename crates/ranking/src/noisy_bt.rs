//! Annotator reliability for pairwise votes (docs/design.md §5.14): the noisy Bradley–Terry
//! model of crowd-kit's `NoisyBT`. Each annotator `w` either judges by the models' strengths
//! (with probability `skill = σ(γ_w)`) or picks a side by habit (the left one with probability
//! `bias = σ(q_w)`):
//!
//! `P(y) = σ(γ_w)·σ(y·(s_left − s_right)) + (1 − σ(γ_w))·σ(y·q_w)`, `y = +1` when left won.
//!
//! The plain likelihood lets many annotators run off to skill 0 or 1, so the fit is a maximum
//! a posteriori estimate with weak normal priors: `γ ~ N(2, 1.5²)` (skill about 0.88, anywhere
//! from 0.3 to 0.99 plausible), `q ~ N(0, 1)` (no side preferred), `s ~ N(0, 3²)` (which also
//! pins the strengths' shift). Ties carry no left/right signal and are left out.

use serde::{Deserialize, Serialize};

use rand::{Rng, SeedableRng};

use crate::linalg::{lbfgs, sigmoid};

/// Votes of one annotator on one ordered (left, right) pair with one result, and how many.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NoisyVote {
    /// Annotator index.
    pub annotator: usize,
    /// Model shown on the left (A).
    pub left: usize,
    /// Model shown on the right (B).
    pub right: usize,
    /// Whether the left model won.
    pub left_won: bool,
    /// Number of such votes.
    pub count: f64,
}

/// Priors and stopping rule of the fit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NoisyConfig {
    /// Prior mean of `γ` (logit of skill).
    pub skill_mean: f64,
    /// Prior standard deviation of `γ`.
    pub skill_sd: f64,
    /// Prior standard deviation of `q` (logit of the left-side bias), mean 0.
    pub bias_sd: f64,
    /// Prior standard deviation of the strengths, mean 0.
    pub score_sd: f64,
    /// Stop when the mean gradient's norm is at most this.
    pub tol: f64,
    /// Iterations at most.
    pub max_iter: usize,
}

impl NoisyConfig {
    /// The priors above, converged to a mean gradient norm of 1e-7.
    #[must_use]
    pub const fn new() -> Self {
        Self {
            skill_mean: 2.0,
            skill_sd: 1.5,
            bias_sd: 1.0,
            score_sd: 3.0,
            tol: 1e-7,
            max_iter: 5000,
        }
    }
}

impl Default for NoisyConfig {
    fn default() -> Self {
        Self::new()
    }
}

/// The fitted model.
#[derive(Debug, Clone, PartialEq)]
pub struct NoisyFit {
    /// Model strengths `s` (natural log odds scale).
    pub scores: Vec<f64>,
    /// Per annotator `σ(γ)`: the share of votes that follow the strengths.
    pub skill: Vec<f64>,
    /// Per annotator `σ(q)`: when not following the strengths, how often the left side.
    pub bias: Vec<f64>,
    /// Votes per annotator (ties excluded).
    pub votes: Vec<f64>,
    /// Iterations used.
    pub iterations: usize,
    /// Whether the gradient norm reached the tolerance.
    pub converged: bool,
}

/// One annotator's line in reports.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AnnotatorReliability {
    /// Annotator index.
    pub annotator: usize,
    /// `σ(γ)`.
    pub skill: f64,
    /// `σ(q)`.
    pub bias: f64,
    /// Votes behind the estimate.
    pub votes: f64,
}

impl NoisyFit {
    /// Per annotator, the weight of each of their votes when a leaderboard or training pairs
    /// weigh votes by reliability (docs/design.md §5.14): the skill `σ(γ)`, the share of their
    /// votes that follow the strengths (the rest, picked by habit, say nothing about them).
    #[must_use]
    pub fn vote_weights(&self) -> Vec<f64> {
        self.skill.clone()
    }

    /// The per-annotator table.
    #[must_use]
    pub fn annotators(&self) -> Vec<AnnotatorReliability> {
        (0..self.skill.len())
            .map(|w| AnnotatorReliability {
                annotator: w,
                skill: self.skill[w],
                bias: self.bias[w],
                votes: self.votes[w],
            })
            .collect()
    }
}

/// Negative log-likelihood `−Σ count·ln P(y)` at strengths `s`, biases `q` and skills `gamma`
/// (all on the logit scale), with its gradient in the same layout `[s, q, γ]` when `grad` is
/// given. This is crowd-kit's `NoisyBT` loss with `regularization_ratio = 0`. Large inputs are
/// split across threads.
#[must_use]
pub fn nll(
    votes: &[NoisyVote],
    s: &[f64],
    q: &[f64],
    gamma: &[f64],
    grad: Option<&mut [f64]>,
) -> f64 {
    use rayon::prelude::*;
    let (n, w) = (s.len(), q.len());
    // Per annotator: σ(γ) and σ(q), so that each vote needs one σ and one ln.
    let sg: Vec<f64> = gamma.iter().map(|&g| sigmoid(g)).collect();
    let sq: Vec<f64> = q.iter().map(|&v| sigmoid(v)).collect();
    let dim = n + 2 * w;
    let chunk = |part: &[NoisyVote], g: Option<&mut [f64]>| -> f64 {
        let mut g = g;
        let mut total = 0.0;
        for v in part {
            let y = if v.left_won { 1.0 } else { -1.0 };
            let sa = sigmoid(y * (s[v.left] - s[v.right]));
            let k = v.annotator;
            let side = if v.left_won { sq[k] } else { 1.0 - sq[k] };
            let p1 = sg[k] * sa;
            let p2 = (1.0 - sg[k]) * side;
            let p = (p1 + p2).max(f64::MIN_POSITIVE);
            total -= v.count * p.ln();
            if let Some(gr) = g.as_deref_mut() {
                let c = v.count / p;
                // ∂P/∂(s_l − s_r) = y·σ(γ)·σ(a)(1−σ(a)); ∂P/∂q = (1−σ(γ))·y·σ(yq)(1−σ(yq));
                // ∂P/∂γ = σ(γ)(1−σ(γ))·(σ(a) − σ(yq)).
                let d_a = c * y * p1 * (1.0 - sa);
                gr[v.left] -= d_a;
                gr[v.right] += d_a;
                gr[n + k] -= c * y * p2 * (1.0 - side);
                gr[n + w + k] -= c * sg[k] * (1.0 - sg[k]) * (sa - side);
            }
        }
        total
    };
    const PAR: usize = 1 << 14;
    match grad {
        None if votes.len() < PAR => chunk(votes, None),
        // Partial results are collected in order and summed in order: the same result on any
        // number of threads.
        None => votes
            .par_chunks(PAR)
            .map(|part| chunk(part, None))
            .collect::<Vec<f64>>()
            .iter()
            .sum(),
        Some(g) if votes.len() < PAR => {
            g.iter_mut().for_each(|v| *v = 0.0);
            chunk(votes, Some(g))
        }
        Some(g) => {
            let parts: Vec<(f64, Vec<f64>)> = votes
                .par_chunks(PAR)
                .map(|part| {
                    let mut local = vec![0.0; dim];
                    let t = chunk(part, Some(&mut local));
                    (t, local)
                })
                .collect();
            g.iter_mut().for_each(|v| *v = 0.0);
            let mut total = 0.0;
            for (t, local) in &parts {
                total += t;
                g.iter_mut().zip(local).for_each(|(x, y)| *x += y);
            }
            total
        }
    }
}

/// Fits strengths, skills and biases to `votes` over `n_models` models and `n_annotators`
/// annotators (maximum a posteriori, L-BFGS from strengths 0, skill at the prior mean, no bias).
#[must_use]
pub fn fit(
    n_models: usize,
    n_annotators: usize,
    votes: &[NoisyVote],
    cfg: &NoisyConfig,
) -> NoisyFit {
    let (n, w) = (n_models, n_annotators);
    let total: f64 = votes.iter().map(|v| v.count).sum();
    let scale = if total > 0.0 { 1.0 / total } else { 1.0 };
    let mut x = vec![0.0; n + 2 * w];
    x[n + w..].iter_mut().for_each(|g| *g = cfg.skill_mean);
    let objective = |x: &[f64], g: &mut [f64]| -> f64 {
        let (s, rest) = x.split_at(n);
        let (q, gamma) = rest.split_at(w);
        let mut f = nll(votes, s, q, gamma, Some(g));
        // Priors: ½((x − μ)/σ)².
        let mut prior = |i: usize, mean: f64, sd: f64, f: &mut f64| {
            let z = (x[i] - mean) / sd;
            *f += 0.5 * z * z;
            g[i] += z / sd;
        };
        for i in 0..n {
            prior(i, 0.0, cfg.score_sd, &mut f);
        }
        for i in n..n + w {
            prior(i, 0.0, cfg.bias_sd, &mut f);
        }
        for i in n + w..n + 2 * w {
            prior(i, cfg.skill_mean, cfg.skill_sd, &mut f);
        }
        g.iter_mut().for_each(|v| *v *= scale);
        f * scale
    };
    let run = lbfgs(objective, &mut x, cfg.tol, cfg.max_iter);
    let mut per = vec![0.0; w];
    for v in votes {
        per[v.annotator] += v.count;
    }
    NoisyFit {
        scores: x[..n].to_vec(),
        bias: x[n..n + w].iter().map(|&q| sigmoid(q)).collect(),
        skill: x[n + w..].iter().map(|&g| sigmoid(g)).collect(),
        votes: per,
        iterations: run.iterations,
        converged: run.converged,
    }
}

/// Votes from annotators with known skill and bias on models with known strengths: each of
/// `skill.len()` annotators casts `per_annotator` votes on random ordered pairs (seeded).
pub fn simulate(
    strengths: &[f64],
    skill: &[f64],
    bias: &[f64],
    per_annotator: usize,
    seed: u64,
) -> Vec<NoisyVote> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let n = strengths.len();
    let mut out = Vec::new();
    for w in 0..skill.len() {
        for _ in 0..per_annotator {
            let left = rng.random_range(0..n);
            let right = (left + rng.random_range(1..n)) % n;
            let left_won = if rng.random_bool(skill[w]) {
                rng.random_bool(sigmoid(strengths[left] - strengths[right]))
            } else {
                rng.random_bool(bias[w])
            };
            out.push(NoisyVote {
                annotator: w,
                left,
                right,
                left_won,
                count: 1.0,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gradient_matches_finite_differences() {
        let votes = simulate(&[0.0, 1.0, -0.5], &[0.9, 0.4], &[0.5, 0.8], 50, 1);
        let (s, q, g) = (vec![0.2, 0.7, -0.3], vec![0.1, 1.2], vec![1.5, -0.4]);
        let mut grad = vec![0.0; 7];
        let _ = nll(&votes, &s, &q, &g, Some(&mut grad));
        let h = 1e-6;
        for k in 0..7 {
            let mut x: Vec<f64> = s.iter().chain(&q).chain(&g).copied().collect();
            x[k] += h;
            let fp = nll(&votes, &x[..3], &x[3..5], &x[5..], None);
            x[k] -= 2.0 * h;
            let fm = nll(&votes, &x[..3], &x[3..5], &x[5..], None);
            let fd = (fp - fm) / (2.0 * h);
            assert!(
                (fd - grad[k]).abs() < 1e-6 * fd.abs().max(1.0),
                "{k}: {fd} vs {}",
                grad[k]
            );
        }
    }

    #[test]
    fn recovers_skill_and_bias_of_simulated_annotators() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        let strengths: Vec<f64> = (0..8).map(|i| f64::from(i) * 0.6 - 2.1).collect();
        let skill: Vec<f64> = (0..60).map(|_| rng.random_range(0.2..0.9)).collect();
        let bias: Vec<f64> = (0..60).map(|_| rng.random_range(0.1..0.9)).collect();
        let votes = simulate(&strengths, &skill, &bias, 400, 3);
        let f = fit(8, 60, &votes, &NoisyConfig::new());
        assert!(f.converged, "{} iterations", f.iterations);
        let r_skill = crate::linalg::pearson(&f.skill, &skill);
        let r_bias = crate::linalg::pearson(&f.bias, &bias);
        assert!(r_skill >= 0.95, "skill correlation {r_skill}");
        assert!(r_bias >= 0.95, "bias correlation {r_bias}");
        let r_scores = crate::linalg::pearson(&f.scores, &strengths);
        assert!(r_scores > 0.99, "{r_scores}");
    }
}

//! Bradley–Terry maximum-likelihood ratings on aggregated counts (docs/design.md §5.3–5.4), the
//! method of Chatbot Arena's `compute_bt` / `compute_bootstrap_bt`.
//!
//! Votes are grouped into unique `(a, b, outcome)` triples with counts; the unregularised
//! log-loss `−Σ w [y ln σ(z) + (1−y) ln(1−σ(z))]`, `z = ln10·(r_a − r_b)`, is minimised by
//! Newton's method from zero (each connected group of models keeps mean rating 0), and ratings are
//! reported as `400·r + 1000`. Models whose rating has no finite maximum (undefeated or winless
//! within their group) are detected and left out of the fit instead of drifting to infinity.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Binomial, Distribution};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::Outcome;
use crate::linalg::{cholesky, cholesky_solve, log_sigmoid, quantile_sorted, sigmoid, solve_spd};

/// One unique `(a, b, outcome)` with how often it occurred.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Triple {
    /// Model index of side A.
    pub a: usize,
    /// Model index of side B.
    pub b: usize,
    /// A's score: 1 win, 0.5 tie, 0 loss.
    pub y: f64,
    /// Number of votes with this outcome (or a bootstrap weight).
    pub weight: f64,
}

/// Votes aggregated into unique triples.
#[derive(Debug, Clone, PartialEq)]
pub struct Counts {
    /// Number of models (indices `0..n_models`).
    pub n_models: usize,
    /// Unique triples with positive counts.
    pub triples: Vec<Triple>,
}

/// Index of an outcome's score in a dense table: loss 0, tie 1, win 2.
const fn outcome_slot(o: Outcome) -> usize {
    match o {
        Outcome::B => 0,
        Outcome::Tie | Outcome::BothBad => 1,
        Outcome::A => 2,
    }
}

impl Counts {
    /// Aggregates battles `(a, b, outcome)` over `n_models` models.
    ///
    /// # Panics
    /// If a model index is `>= n_models`.
    #[must_use]
    pub fn from_battles(
        n_models: usize,
        battles: impl IntoIterator<Item = (usize, usize, Outcome)>,
    ) -> Self {
        let mut table = vec![0u64; n_models * n_models * 3];
        for (a, b, o) in battles {
            assert!(a < n_models && b < n_models, "model index out of range");
            table[(a * n_models + b) * 3 + outcome_slot(o)] += 1;
        }
        Self::from_table(n_models, &table)
    }

    /// Builds counts from a dense `[a][b][loss, tie, win]` table.
    #[must_use]
    pub fn from_table(n_models: usize, table: &[u64]) -> Self {
        let mut triples = Vec::new();
        for a in 0..n_models {
            for b in 0..n_models {
                for slot in 0..3 {
                    let c = table[(a * n_models + b) * 3 + slot];
                    if c > 0 {
                        triples.push(Triple {
                            a,
                            b,
                            y: slot as f64 / 2.0,
                            weight: c as f64,
                        });
                    }
                }
            }
        }
        Self { n_models, triples }
    }

    /// Total number of votes.
    #[must_use]
    pub fn total(&self) -> f64 {
        self.triples.iter().map(|t| t.weight).sum()
    }

    /// Votes per model (as A or B).
    #[must_use]
    pub fn votes_per_model(&self) -> Vec<f64> {
        let mut v = vec![0.0; self.n_models];
        for t in &self.triples {
            v[t.a] += t.weight;
            v[t.b] += t.weight;
        }
        v
    }
}

/// Why a model has no finite maximum-likelihood rating.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Unbounded {
    /// Never lost (nor tied) against the rest of its group: its rating grows without bound.
    AllWins,
    /// Never won (nor tied): its rating falls without bound.
    AllLosses,
    /// Has no votes at all.
    NoVotes,
}

/// Finds the models without a finite MLE.
///
/// Within the directed "scored against" graph (an edge `i → j` when `i` won or tied against
/// `j`), the MLE is finite exactly when every group is strongly connected. The groups that
/// nothing outside beats are peeled off as [`Unbounded::AllWins`], those that beat nothing
/// outside as [`Unbounded::AllLosses`], until what remains is strongly connected.
#[must_use]
pub fn unbounded_models(counts: &Counts) -> Vec<Option<Unbounded>> {
    let n = counts.n_models;
    let mut status: Vec<Option<Unbounded>> = vec![None; n];
    let mut beats = vec![false; n * n];
    let mut has_votes = vec![false; n];
    for t in &counts.triples {
        if t.weight <= 0.0 {
            continue;
        }
        has_votes[t.a] = true;
        has_votes[t.b] = true;
        if t.y > 0.0 {
            beats[t.a * n + t.b] = true;
        }
        if t.y < 1.0 {
            beats[t.b * n + t.a] = true;
        }
    }
    for i in 0..n {
        if !has_votes[i] {
            status[i] = Some(Unbounded::NoVotes);
        }
    }
    loop {
        let active: Vec<usize> = (0..n).filter(|&i| status[i].is_none()).collect();
        let comp = strongly_connected_components(n, &active, &beats);
        // For each SCC: does anything active outside it beat it, and does it beat anything?
        let n_comp = comp.iter().filter_map(|c| *c).max().map_or(0, |m| m + 1);
        let mut beaten_from_outside = vec![false; n_comp];
        let mut beats_outside = vec![false; n_comp];
        let mut connected = vec![false; n_comp];
        for &i in &active {
            for &j in &active {
                if beats[i * n + j] {
                    let (ci, cj) = (comp[i].unwrap_or(0), comp[j].unwrap_or(0));
                    if ci != cj {
                        beats_outside[ci] = true;
                        beaten_from_outside[cj] = true;
                        connected[ci] = true;
                        connected[cj] = true;
                    }
                }
            }
        }
        let mut changed = false;
        for &i in &active {
            let c = comp[i].unwrap_or(0);
            if !connected[c] {
                continue; // an isolated, strongly connected group: finite within itself
            }
            if !beaten_from_outside[c] {
                status[i] = Some(Unbounded::AllWins);
                changed = true;
            } else if !beats_outside[c] {
                status[i] = Some(Unbounded::AllLosses);
                changed = true;
            }
        }
        if !changed {
            return status;
        }
    }
}

/// Tarjan-free SCC labelling by forward/backward reachability; fine for the model counts of a
/// leaderboard (hundreds).
fn strongly_connected_components(n: usize, active: &[usize], beats: &[bool]) -> Vec<Option<usize>> {
    let mut comp: Vec<Option<usize>> = vec![None; n];
    let mut is_active = vec![false; n];
    for &i in active {
        is_active[i] = true;
    }
    let reach = |start: usize, forward: bool| -> Vec<bool> {
        let mut seen = vec![false; n];
        let mut stack = vec![start];
        seen[start] = true;
        while let Some(u) = stack.pop() {
            for v in 0..n {
                let edge = if forward {
                    beats[u * n + v]
                } else {
                    beats[v * n + u]
                };
                if edge && is_active[v] && !seen[v] {
                    seen[v] = true;
                    stack.push(v);
                }
            }
        }
        seen
    };
    let mut next = 0;
    for &i in active {
        if comp[i].is_some() {
            continue;
        }
        let fwd = reach(i, true);
        let bwd = reach(i, false);
        for &j in active {
            if fwd[j] && bwd[j] {
                comp[j] = Some(next);
            }
        }
        next += 1;
    }
    comp
}

/// Settings of the Bradley–Terry fit and of the reported scale.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BtConfig {
    /// Points per natural unit (400).
    pub scale: f64,
    /// Logistic base (10).
    pub base: f64,
    /// Mean rating (1000).
    pub init_rating: f64,
    /// Stop when the gradient's norm (of the mean loss) is at most this.
    pub tol: f64,
    /// Newton iterations at most.
    pub max_iter: usize,
}

impl BtConfig {
    /// Chatbot Arena's scale, converged to gradient norm 1e-9.
    #[must_use]
    pub const fn new() -> Self {
        Self {
            scale: 400.0,
            base: 10.0,
            init_rating: 1000.0,
            tol: 1e-9,
            max_iter: 100,
        }
    }
}

impl Default for BtConfig {
    fn default() -> Self {
        Self::new()
    }
}

/// A fitted set of ratings.
#[derive(Debug, Clone, PartialEq)]
pub struct BtFit {
    /// Natural-scale ratings `r` (mean 0 within each group); NaN for excluded models.
    pub natural: Vec<f64>,
    /// Newton iterations used.
    pub iterations: usize,
    /// Final gradient norm of the mean loss.
    pub gradient_norm: f64,
    /// Whether `gradient_norm <= tol`.
    pub converged: bool,
}

impl BtFit {
    /// Ratings on the reported scale: `scale·r + init_rating`.
    #[must_use]
    pub fn scaled(&self, cfg: &BtConfig) -> Vec<f64> {
        self.natural
            .iter()
            .map(|r| cfg.scale * r + cfg.init_rating)
            .collect()
    }
}

/// One unordered pair of models with its votes pooled: `score` is model `i`'s total score
/// (wins + half ties, from either side) out of `weight` votes. The likelihood depends on the
/// counts only through these sums, so fitting on pairs is exact and several times faster.
#[derive(Debug, Clone, Copy)]
struct Pair {
    i: usize,
    j: usize,
    score: f64,
    weight: f64,
}

fn pool_pairs(counts: &Counts, excluded: &[bool]) -> Vec<Pair> {
    let n = counts.n_models;
    // Dense pair index (n² slots) for leaderboard-sized model counts, a map beyond.
    let dense = n <= 2048;
    let mut slots: Vec<usize> = if dense {
        vec![usize::MAX; n * n]
    } else {
        Vec::new()
    };
    let mut index: std::collections::HashMap<(usize, usize), usize> = Default::default();
    let mut pairs: Vec<Pair> = Vec::new();
    for t in &counts.triples {
        if t.weight <= 0.0 || excluded[t.a] || excluded[t.b] || t.a == t.b || t.a >= n || t.b >= n {
            continue;
        }
        let (i, j, score) = if t.a < t.b {
            (t.a, t.b, t.y)
        } else {
            (t.b, t.a, 1.0 - t.y)
        };
        let k = if dense {
            let slot = &mut slots[i * n + j];
            if *slot == usize::MAX {
                pairs.push(Pair {
                    i,
                    j,
                    score: 0.0,
                    weight: 0.0,
                });
                *slot = pairs.len() - 1;
            }
            *slot
        } else {
            *index.entry((i, j)).or_insert_with(|| {
                pairs.push(Pair {
                    i,
                    j,
                    score: 0.0,
                    weight: 0.0,
                });
                pairs.len() - 1
            })
        };
        pairs[k].score += t.weight * score;
        pairs[k].weight += t.weight;
    }
    pairs
}

/// The fit's state: pooled pairs, the groups, and the scale of the mean loss.
struct Problem {
    n: usize,
    alpha: f64,
    pairs: Vec<Pair>,
    groups: Vec<Vec<usize>>,
    inv_total: f64,
}

impl Problem {
    fn new(counts: &Counts, excluded: &[bool], cfg: &BtConfig) -> Self {
        Self::from_pairs(counts.n_models, pool_pairs(counts, excluded), excluded, cfg)
    }

    fn from_pairs(n: usize, pairs: Vec<Pair>, excluded: &[bool], cfg: &BtConfig) -> Self {
        let total: f64 = pairs.iter().map(|p| p.weight).sum();
        let groups = connected_groups(n, &pairs, excluded);
        Self {
            n,
            alpha: cfg.base.ln(),
            pairs,
            groups,
            inv_total: if total > 0.0 { 1.0 / total } else { 0.0 },
        }
    }

    fn loss(&self, r: &[f64]) -> f64 {
        self.pairs
            .iter()
            .map(|p| {
                let z = self.alpha * (r[p.i] - r[p.j]);
                -(p.score * log_sigmoid(z) + (p.weight - p.score) * log_sigmoid(-z))
            })
            .sum::<f64>()
            * self.inv_total
    }

    /// Gradient of the mean loss; with `hess`, also its Hessian (lifted along each group's
    /// shift direction so that it is positive definite).
    fn gradient(&self, r: &[f64], grad: &mut [f64], hess: Option<&mut [f64]>, excluded: &[bool]) {
        let (n, alpha) = (self.n, self.alpha);
        grad.iter_mut().for_each(|g| *g = 0.0);
        let mut hess = hess;
        if let Some(h) = hess.as_deref_mut() {
            h.iter_mut().for_each(|x| *x = 0.0);
        }
        for p in &self.pairs {
            let prob = sigmoid(alpha * (r[p.i] - r[p.j]));
            let g = -alpha * (p.score - prob * p.weight) * self.inv_total;
            grad[p.i] += g;
            grad[p.j] -= g;
            if let Some(h) = hess.as_deref_mut() {
                let c = alpha * alpha * p.weight * prob * (1.0 - prob) * self.inv_total;
                h[p.i * n + p.i] += c;
                h[p.j * n + p.j] += c;
                h[p.i * n + p.j] -= c;
                h[p.j * n + p.i] -= c;
            }
        }
        if let Some(h) = hess {
            let diag_mean = (0..n).map(|i| h[i * n + i]).sum::<f64>() / n as f64;
            let lift = if diag_mean > 0.0 { diag_mean } else { 1.0 };
            for group in &self.groups {
                let s = lift / group.len() as f64;
                for &i in group {
                    for &j in group {
                        h[i * n + j] += s;
                    }
                }
            }
            for i in 0..n {
                if excluded[i] || h[i * n + i] == 0.0 {
                    for j in 0..n {
                        h[i * n + j] = 0.0;
                        h[j * n + i] = 0.0;
                    }
                    h[i * n + i] = 1.0;
                    grad[i] = 0.0;
                }
            }
        } else {
            for i in 0..n {
                if excluded[i] {
                    grad[i] = 0.0;
                }
            }
        }
    }
}

/// Fits ratings to `counts`, leaving out the models marked in `excluded` (and the votes that
/// involve them), optionally starting from `start` (natural scale).
#[must_use]
pub fn fit(counts: &Counts, excluded: &[bool], start: Option<&[f64]>, cfg: &BtConfig) -> BtFit {
    fit_with(counts, excluded, start, cfg, None)
}

/// As [`fit`]; with `fixed`, a Cholesky factor of the Hessian near the optimum (see
/// [`hessian_factor`]), iterates `r ← r − H₀⁻¹∇` first — cheap and fast for bootstrap resamples
/// close to the full data — and falls back to full Newton steps if that stalls.
fn fit_with(
    counts: &Counts,
    excluded: &[bool],
    start: Option<&[f64]>,
    cfg: &BtConfig,
    fixed: Option<&[f64]>,
) -> BtFit {
    solve(
        Problem::new(counts, excluded, cfg),
        excluded,
        start,
        cfg,
        fixed,
    )
}

fn solve(
    problem: Problem,
    excluded: &[bool],
    start: Option<&[f64]>,
    cfg: &BtConfig,
    fixed: Option<&[f64]>,
) -> BtFit {
    let n = problem.n;
    let mut r: Vec<f64> = match start {
        Some(s) => s
            .iter()
            .map(|v| if v.is_finite() { *v } else { 0.0 })
            .collect(),
        None => vec![0.0; n],
    };
    center(&mut r, &problem.groups);
    if problem.pairs.is_empty() {
        return finish(r, excluded, 0, 0.0, true);
    }
    let mut grad = vec![0.0; n];
    let mut iterations = 0;
    if let Some(factor) = fixed {
        let mut last = f64::INFINITY;
        while iterations < cfg.max_iter {
            problem.gradient(&r, &mut grad, None, excluded);
            let gnorm = norm(&grad);
            if gnorm <= cfg.tol {
                return finish(r, excluded, iterations, gnorm, true);
            }
            if gnorm > 0.5 * last {
                break; // not contracting fast: switch to Newton
            }
            last = gnorm;
            let mut step: Vec<f64> = grad.iter().map(|g| -g).collect();
            cholesky_solve(factor, &mut step, n);
            for i in 0..n {
                r[i] += step[i];
            }
            center(&mut r, &problem.groups);
            iterations += 1;
        }
    }
    let mut hess = vec![0.0; n * n];
    let mut loss = problem.loss(&r);
    let mut gnorm = f64::INFINITY;
    while iterations < cfg.max_iter {
        problem.gradient(&r, &mut grad, Some(&mut hess), excluded);
        gnorm = norm(&grad);
        if gnorm <= cfg.tol {
            break;
        }
        let mut step: Vec<f64> = grad.iter().map(|g| -g).collect();
        if solve_spd(&mut hess, &mut step, n).is_none() {
            break;
        }
        // Damped Newton: halve the step until the loss does not increase.
        let mut t = 1.0;
        let mut candidate = r.clone();
        loop {
            for i in 0..n {
                candidate[i] = r[i] + t * step[i];
            }
            let l = problem.loss(&candidate);
            if l <= loss + 1e-15 * loss.abs().max(1.0) || t < 1e-10 {
                loss = l;
                break;
            }
            t *= 0.5;
        }
        let moved = step.iter().map(|s| (t * s).abs()).fold(0.0, f64::max);
        std::mem::swap(&mut r, &mut candidate);
        center(&mut r, &problem.groups);
        iterations += 1;
        if moved < 1e-15 {
            break;
        }
    }
    let converged = gnorm <= cfg.tol;
    finish(r, excluded, iterations, gnorm, converged)
}

fn norm(v: &[f64]) -> f64 {
    v.iter().map(|g| g * g).sum::<f64>().sqrt()
}

/// Cholesky factor of the (lifted) Hessian of the mean loss at `r`.
fn hessian_factor(
    counts: &Counts,
    excluded: &[bool],
    r: &[f64],
    cfg: &BtConfig,
) -> Option<Vec<f64>> {
    let problem = Problem::new(counts, excluded, cfg);
    let n = problem.n;
    let r: Vec<f64> = r
        .iter()
        .map(|v| if v.is_finite() { *v } else { 0.0 })
        .collect();
    let mut grad = vec![0.0; n];
    let mut hess = vec![0.0; n * n];
    problem.gradient(&r, &mut grad, Some(&mut hess), excluded);
    cholesky(&mut hess, n)?;
    Some(hess)
}

fn finish(
    mut r: Vec<f64>,
    excluded: &[bool],
    iterations: usize,
    gnorm: f64,
    converged: bool,
) -> BtFit {
    for (v, &ex) in r.iter_mut().zip(excluded) {
        if ex {
            *v = f64::NAN;
        }
    }
    BtFit {
        natural: r,
        iterations,
        gradient_norm: gnorm,
        converged,
    }
}

/// Groups of models linked by votes (ignoring direction), excluded models left out.
fn connected_groups(n: usize, pairs: &[Pair], excluded: &[bool]) -> Vec<Vec<usize>> {
    groups_of(n, pairs.iter().map(|p| (p.i, p.j)), excluded)
}

/// Connected groups of the graph on `0..n` with these edges (models without an edge, and
/// excluded ones, left out), each sorted, in order of their smallest member's root.
pub(crate) fn groups_of(
    n: usize,
    edges: impl Iterator<Item = (usize, usize)>,
    excluded: &[bool],
) -> Vec<Vec<usize>> {
    let mut parent: Vec<usize> = (0..n).collect();
    fn root(parent: &mut [usize], mut i: usize) -> usize {
        while parent[i] != i {
            parent[i] = parent[parent[i]];
            i = parent[i];
        }
        i
    }
    let mut seen = vec![false; n];
    for (i, j) in edges {
        seen[i] = true;
        seen[j] = true;
        let (ra, rb) = (root(&mut parent, i), root(&mut parent, j));
        if ra != rb {
            parent[ra] = rb;
        }
    }
    let mut by_root: std::collections::BTreeMap<usize, Vec<usize>> = Default::default();
    for i in 0..n {
        if seen[i] && !excluded[i] {
            let r = root(&mut parent, i);
            by_root.entry(r).or_default().push(i);
        }
    }
    by_root.into_values().collect()
}

fn center(r: &mut [f64], groups: &[Vec<usize>]) {
    for g in groups {
        let mean = g.iter().map(|&i| r[i]).sum::<f64>() / g.len() as f64;
        for &i in g {
            r[i] -= mean;
        }
    }
}

/// Settings of the bootstrap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BootstrapConfig {
    /// Number of resamples (FastChat's `num_round`).
    pub rounds: usize,
    /// Seed; the same seed gives the same resamples on any number of threads.
    pub seed: u64,
}

impl BootstrapConfig {
    /// 100 rounds, seed 0.
    #[must_use]
    pub const fn new() -> Self {
        Self {
            rounds: 100,
            seed: 0,
        }
    }
}

impl Default for BootstrapConfig {
    fn default() -> Self {
        Self::new()
    }
}

/// A pair's votes split by result: `i` won, tie (either kind), `j` won.
#[derive(Debug, Clone, Copy)]
struct PairOutcomes {
    i: usize,
    j: usize,
    counts: [f64; 3],
    /// Weight of each of the pair's votes in the fit (1 unless reweighted).
    w: f64,
}

fn pair_outcomes(
    counts: &Counts,
    excluded: &[bool],
    min_pair_count: Option<f64>,
) -> Vec<PairOutcomes> {
    let n = counts.n_models;
    let mut slots: std::collections::HashMap<(usize, usize), usize> = Default::default();
    let mut out: Vec<PairOutcomes> = Vec::new();
    for t in &counts.triples {
        if t.weight <= 0.0 || excluded[t.a] || excluded[t.b] || t.a == t.b || t.a >= n || t.b >= n {
            continue;
        }
        let (i, j, y) = if t.a < t.b {
            (t.a, t.b, t.y)
        } else {
            (t.b, t.a, 1.0 - t.y)
        };
        let k = *slots.entry((i, j)).or_insert_with(|| {
            out.push(PairOutcomes {
                i,
                j,
                counts: [0.0; 3],
                w: 1.0,
            });
            out.len() - 1
        });
        let slot = if y == 1.0 {
            0
        } else if y == 0.0 {
            2
        } else {
            1
        };
        out[k].counts[slot] += t.weight;
    }
    if let Some(min) = min_pair_count {
        for p in &mut out {
            p.w = 1.0 / p.counts.iter().sum::<f64>().max(min);
        }
    }
    out
}

/// Draws one multinomial resample of all votes (the same as resampling votes with
/// replacement), by conditional binomials: first how many votes each pair gets, then how they
/// split into wins, ties and losses. The fit depends on a pair's votes only through these, so
/// this has the distribution of resampling the individual `(a, b, outcome)` triples, with a
/// third of the draws.
fn resample(pairs: &[PairOutcomes], total: u64, rng: &mut ChaCha8Rng) -> Vec<Pair> {
    fn binomial(n: u64, p: f64, rng: &mut ChaCha8Rng) -> u64 {
        if n == 0 || p <= 0.0 {
            0
        } else if p >= 1.0 {
            n
        } else {
            Binomial::new(n, p).map_or(0, |d| d.sample(rng))
        }
    }
    let mut remaining_n = total;
    let mut remaining_w: f64 = pairs.iter().map(|p| p.counts.iter().sum::<f64>()).sum();
    pairs
        .iter()
        .map(|p| {
            let w: f64 = p.counts.iter().sum();
            let m = binomial(remaining_n, w / remaining_w, rng);
            remaining_n -= m;
            remaining_w -= w;
            let wins = binomial(m, p.counts[0] / w, rng);
            let rest = w - p.counts[0];
            let ties = if rest > 0.0 {
                binomial(m - wins, p.counts[1] / rest, rng)
            } else {
                0
            };
            Pair {
                i: p.i,
                j: p.j,
                score: p.w * (wins as f64 + 0.5 * ties as f64),
                weight: p.w * m as f64,
            }
        })
        .collect()
}

/// Bootstrap fits: one natural-scale rating vector per round, computed in parallel, each
/// warm-started from `point`.
#[must_use]
pub fn bootstrap(
    counts: &Counts,
    excluded: &[bool],
    point: &BtFit,
    cfg: &BtConfig,
    boot: &BootstrapConfig,
) -> Vec<BtFit> {
    bootstrap_reweighted(counts, excluded, point, cfg, boot, None)
}

/// As [`bootstrap`]; with `min_pair_count`, each resample's votes are weighted as the point fit's
/// were (`1 / max(n, min_pair_count)`, `n` the pair's votes in the original data), as
/// arena-rank's reweighted bootstrap does. `point` is then the reweighted fit.
#[must_use]
pub fn bootstrap_reweighted(
    counts: &Counts,
    excluded: &[bool],
    point: &BtFit,
    cfg: &BtConfig,
    boot: &BootstrapConfig,
    min_pair_count: Option<f64>,
) -> Vec<BtFit> {
    let total = counts.total().round() as u64;
    let pairs = pair_outcomes(counts, excluded, min_pair_count);
    let factor = match min_pair_count {
        None => hessian_factor(counts, excluded, &point.natural, cfg),
        Some(min) => {
            let w = crate::sandwich::pair_weights(counts, min);
            let weighted = crate::sandwich::weighted(counts, &w);
            hessian_factor(&weighted, excluded, &point.natural, cfg)
        }
    };
    (0..boot.rounds)
        .into_par_iter()
        .map(|round| {
            let mut rng = ChaCha8Rng::seed_from_u64(boot.seed);
            rng.set_stream(round as u64);
            let sample = resample(&pairs, total, &mut rng);
            let problem = Problem::from_pairs(counts.n_models, sample, excluded, cfg);
            solve(
                problem,
                excluded,
                Some(&point.natural),
                cfg,
                factor.as_deref(),
            )
        })
        .collect()
}

/// Lower and upper 95% bounds (2.5% and 97.5% quantiles, linear interpolation) per model, on
/// the reported scale, from bootstrap fits.
#[must_use]
pub fn confidence_intervals(rounds: &[Vec<f64>], n_models: usize) -> Vec<(f64, f64)> {
    (0..n_models)
        .map(|m| {
            let mut v: Vec<f64> = rounds
                .iter()
                .map(|r| r[m])
                .filter(|x| x.is_finite())
                .collect();
            v.sort_by(f64::total_cmp);
            (quantile_sorted(&v, 0.025), quantile_sorted(&v, 0.975))
        })
        .collect()
}

/// Rank (UB): 1 + the number of models whose lower bound is strictly above this model's upper
/// bound. Models with NaN bounds get `None`. This is also the best rank of the rank spread
/// ([`rank_spread`]).
#[must_use]
pub fn rank_upper_bound(bounds: &[(f64, f64)]) -> Vec<Option<usize>> {
    bounds
        .iter()
        .map(|&(_, upper)| {
            if upper.is_nan() {
                return None;
            }
            Some(1 + bounds.iter().filter(|&&(lower, _)| lower > upper).count())
        })
        .collect()
}

/// Rank spread: per model the best and the worst rank its interval allows — best = Rank (UB),
/// worst = the number of rated models whose upper bound is not strictly below this model's
/// lower bound (itself included). Models with NaN bounds get `None`.
#[must_use]
pub fn rank_spread(bounds: &[(f64, f64)]) -> Vec<Option<(usize, usize)>> {
    let best = rank_upper_bound(bounds);
    bounds
        .iter()
        .zip(best)
        .map(|(&(lower, _), best)| {
            let best = best?;
            let worse = bounds
                .iter()
                .filter(|&&(_, upper)| !upper.is_nan() && upper < lower)
                .count();
            let rated = bounds.iter().filter(|b| !b.1.is_nan()).count();
            Some((best, rated - worse))
        })
        .collect()
}

/// Tiers over models listed best first (by rating) with their bounds: the first model opens
/// tier 1, and each next model joins the open tier while its upper bound reaches the lower
/// bound of that tier's first model; otherwise it opens the next tier. So every model of a tier
/// is statistically tied with the tier's leader, and each leader is clearly below the one
/// before. Models with NaN bounds get `None` and are skipped.
#[must_use]
pub fn tiers(sorted_bounds: &[(f64, f64)]) -> Vec<Option<usize>> {
    let mut tier = 0;
    let mut leader_lower = f64::NAN;
    sorted_bounds
        .iter()
        .map(|&(lower, upper)| {
            if lower.is_nan() || upper.is_nan() {
                return None;
            }
            if tier == 0 || upper < leader_lower {
                tier += 1;
                leader_lower = lower;
            }
            Some(tier)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(n: usize, battles: &[(usize, usize, Outcome)]) -> Counts {
        Counts::from_battles(n, battles.iter().copied())
    }

    #[test]
    fn two_models_match_the_closed_form() {
        // 3 wins, 1 loss: p = 0.75 = σ(ln10 (ra − rb)), ra = −rb.
        let c = counts(
            2,
            &[
                (0, 1, Outcome::A),
                (0, 1, Outcome::A),
                (1, 0, Outcome::B),
                (0, 1, Outcome::B),
            ],
        );
        let f = fit(&c, &[false, false], None, &BtConfig::new());
        assert!(f.converged);
        let diff = (3.0f64).log10();
        assert!((f.natural[0] - diff / 2.0).abs() < 1e-12, "{:?}", f.natural);
        assert!((f.natural[0] + f.natural[1]).abs() < 1e-15);
    }

    #[test]
    fn undefeated_and_winless_models_are_detected() {
        // 0 beats everyone; 1 and 2 trade wins; 3 loses to everyone.
        let c = counts(
            5,
            &[
                (0, 1, Outcome::A),
                (0, 2, Outcome::A),
                (1, 2, Outcome::A),
                (2, 1, Outcome::A),
                (1, 3, Outcome::A),
                (3, 2, Outcome::B),
            ],
        );
        let u = unbounded_models(&c);
        assert_eq!(
            u,
            vec![
                Some(Unbounded::AllWins),
                None,
                None,
                Some(Unbounded::AllLosses),
                Some(Unbounded::NoVotes)
            ]
        );
        let excluded: Vec<bool> = u.iter().map(Option::is_some).collect();
        let f = fit(&c, &excluded, None, &BtConfig::new());
        assert!(f.converged && f.natural[0].is_nan() && f.natural[1].abs() < 1e-12);
        // A tie makes the same model bounded.
        let c = counts(2, &[(0, 1, Outcome::A), (0, 1, Outcome::Tie)]);
        assert_eq!(unbounded_models(&c), vec![None, None]);
    }

    #[test]
    fn rank_ub_counts_models_clearly_above() {
        let bounds = [
            (1100.0, 1200.0),
            (1050.0, 1150.0),
            (900.0, 1000.0),
            (f64::NAN, f64::NAN),
        ];
        assert_eq!(
            rank_upper_bound(&bounds),
            vec![Some(1), Some(1), Some(3), None]
        );
    }

    #[test]
    fn rank_spread_and_tiers_follow_the_overlaps() {
        // Best first: A overlaps B; B overlaps C; C is clearly below A; D below everyone.
        let bounds = [
            (1100.0, 1200.0),
            (1050.0, 1150.0),
            (1000.0, 1090.0),
            (800.0, 900.0),
            (f64::NAN, f64::NAN),
        ];
        assert_eq!(
            rank_spread(&bounds),
            vec![Some((1, 2)), Some((1, 3)), Some((2, 3)), Some((4, 4)), None]
        );
        assert_eq!(
            tiers(&bounds),
            vec![Some(1), Some(1), Some(2), Some(3), None]
        );
    }

    #[test]
    fn bootstrap_is_deterministic_for_a_seed() {
        let c = counts(3, &crate::testing::random_battles(3, 300, 9));
        let ex = [false; 3];
        let point = fit(&c, &ex, None, &BtConfig::new());
        let boot = BootstrapConfig {
            rounds: 20,
            seed: 42,
        };
        let a = bootstrap(&c, &ex, &point, &BtConfig::new(), &boot);
        let b = bootstrap(&c, &ex, &point, &BtConfig::new(), &boot);
        assert_eq!(a, b);
        assert!(a.iter().all(|f| f.converged));
        assert_ne!(a[0].natural, a[1].natural);
    }
}

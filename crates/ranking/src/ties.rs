//! Tie models for pairwise votes (docs/design.md §5.13): besides Bradley–Terry with a tie as
//! half a win (`bt`, Chatbot Arena's choice), ties can be dropped (`ignore`) or modelled as a
//! third outcome with one extra parameter, Rao–Kupper or Davidson; a k-fold held-out log-loss on
//! the three outcomes says which fits the votes best.
//!
//! With natural-log strengths `θ` and `d = θᵢ − θⱼ`:
//! - **Rao–Kupper**, `η ≥ 0`: `P(i) = σ(d − η)`, `P(j) = σ(−d − η)`,
//!   `P(tie) = (e^{2η} − 1)·P(i)·P(j)`.
//! - **Davidson**, `ν ≥ 0`: `P(i) = e^{d/2} / D`, `P(j) = e^{−d/2} / D`, `P(tie) = ν / D`,
//!   `D = e^{d/2} + e^{−d/2} + ν`.
//!
//! Both are fitted by maximum likelihood (quasi-Newton on `θ` and the log of the tie parameter,
//! each connected group's mean strength held at 0) and reported on the Elo scale like
//! Bradley–Terry (`400/ln10 · θ + 1000`).

use serde::{Deserialize, Serialize};

use crate::bt::{self, BtConfig, Counts};
use crate::linalg::{log_sigmoid, sigmoid};

/// How ties enter the ratings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TieModel {
    /// A tie is half a win for each side (Chatbot Arena; the default).
    #[default]
    Bt,
    /// Rao–Kupper: a threshold `η` on the strength difference below which votes tie.
    RaoKupper,
    /// Davidson: ties in proportion to `ν·√(πᵢπⱼ)`.
    Davidson,
    /// Ties are left out.
    Ignore,
}

impl TieModel {
    /// Every model, in the order reports list them.
    pub const ALL: [Self; 4] = [Self::Bt, Self::RaoKupper, Self::Davidson, Self::Ignore];

    /// Parses `bt`, `rao-kupper`, `davidson` or `ignore`.
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.name() == s)
    }

    /// The name [`TieModel::parse`] reads.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::Bt => "bt",
            Self::RaoKupper => "rao-kupper",
            Self::Davidson => "davidson",
            Self::Ignore => "ignore",
        }
    }
}

/// One unordered pair's votes: `i` won, tied, `j` won (`i < j`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PairVotes {
    /// Lower model index.
    pub i: usize,
    /// Higher model index.
    pub j: usize,
    /// Votes `i` won.
    pub wins: f64,
    /// Ties (both kinds).
    pub ties: f64,
    /// Votes `j` won.
    pub losses: f64,
}

/// Pools `counts` into unordered pairs.
#[must_use]
pub fn pair_votes(counts: &Counts) -> Vec<PairVotes> {
    let mut index: std::collections::HashMap<(usize, usize), usize> = Default::default();
    let mut out: Vec<PairVotes> = Vec::new();
    for t in &counts.triples {
        if t.a == t.b || t.weight <= 0.0 {
            continue;
        }
        let (i, j, y) = if t.a < t.b {
            (t.a, t.b, t.y)
        } else {
            (t.b, t.a, 1.0 - t.y)
        };
        let k = *index.entry((i, j)).or_insert_with(|| {
            out.push(PairVotes {
                i,
                j,
                wins: 0.0,
                ties: 0.0,
                losses: 0.0,
            });
            out.len() - 1
        });
        let p = &mut out[k];
        if y == 1.0 {
            p.wins += t.weight;
        } else if y == 0.0 {
            p.losses += t.weight;
        } else {
            p.ties += t.weight;
        }
    }
    out
}

/// A fitted tie model.
#[derive(Debug, Clone, PartialEq)]
pub struct TieFit {
    /// Which model.
    pub model: TieModel,
    /// Natural-log strengths (mean 0 per group); NaN for models left out.
    pub theta: Vec<f64>,
    /// `η` (Rao–Kupper) or `ν` (Davidson); for `bt` and `ignore`, the share of ties, which
    /// their three-outcome predictions use.
    pub tie_param: f64,
    /// Whether the gradient's norm fell below the tolerance.
    pub converged: bool,
}

impl TieFit {
    /// Ratings on the Elo scale.
    #[must_use]
    pub fn scaled(&self, cfg: &BtConfig) -> Vec<f64> {
        let per = cfg.scale / cfg.base.ln();
        self.theta
            .iter()
            .map(|t| per * t + cfg.init_rating)
            .collect()
    }

    /// Probabilities of (`i` wins, tie, `j` wins) for strengths `ti`, `tj`.
    #[must_use]
    pub fn probabilities(&self, ti: f64, tj: f64) -> [f64; 3] {
        outcome_probabilities(self.model, ti - tj, self.tie_param)
    }
}

/// Probabilities of (win, tie, loss) at strength difference `d` under `model` with its tie
/// parameter (the tie share for `bt` and `ignore`, whose win/loss split is `σ(d)`).
#[must_use]
pub fn outcome_probabilities(model: TieModel, d: f64, tie: f64) -> [f64; 3] {
    match model {
        TieModel::Bt | TieModel::Ignore => {
            let p = sigmoid(d);
            [(1.0 - tie) * p, tie, (1.0 - tie) * (1.0 - p)]
        }
        TieModel::RaoKupper => {
            let (a, b) = (sigmoid(d - tie), sigmoid(-d - tie));
            [a, (2.0 * tie).exp_m1() * a * b, b]
        }
        TieModel::Davidson => {
            let (ea, eb) = ((d / 2.0).exp(), (-d / 2.0).exp());
            let den = ea + eb + tie;
            [ea / den, tie / den, eb / den]
        }
    }
}

/// Negative log-likelihood of pair votes at `(θ, φ)` (φ = ln of the tie parameter) and its
/// gradient (`grad` has `n + 1` entries, the last for φ).
#[must_use]
pub fn nll_and_gradient(
    model: TieModel,
    pairs: &[PairVotes],
    theta: &[f64],
    phi: f64,
    grad: &mut [f64],
) -> f64 {
    let n = theta.len();
    grad.iter_mut().for_each(|g| *g = 0.0);
    let mut nll = 0.0;
    let tie = phi.exp();
    for p in pairs {
        let d = theta[p.i] - theta[p.j];
        let (ll, dd, dphi) = match model {
            TieModel::RaoKupper => {
                // ℓ = (W+T) ln σ(d−η) + (L+T) ln σ(−d−η) + T ln(e^{2η} − 1).
                let (a, b) = (d - tie, -d - tie);
                let (wa, wb) = (p.wins + p.ties, p.losses + p.ties);
                let mut ll = wa * log_sigmoid(a) + wb * log_sigmoid(b);
                let (ga, gb) = (wa * sigmoid(-a), wb * sigmoid(-b));
                let mut deta = -ga - gb;
                if p.ties > 0.0 {
                    let em1 = (2.0 * tie).exp_m1();
                    ll += p.ties * em1.ln();
                    deta += p.ties * 2.0 * (em1 + 1.0) / em1;
                }
                (ll, ga - gb, deta * tie)
            }
            TieModel::Davidson => {
                // ℓ = W d/2 − L d/2 + T ln ν − N ln(2 cosh(d/2) + ν).
                let total = p.wins + p.ties + p.losses;
                let half = d / 2.0;
                let den = 2.0 * half.cosh() + tie;
                let mut ll = (p.wins - p.losses) * half - total * den.ln();
                if p.ties > 0.0 {
                    ll += p.ties * phi;
                }
                let dd = (p.wins - p.losses) / 2.0 - total * half.sinh() / den;
                (ll, dd, p.ties - total * tie / den)
            }
            TieModel::Bt | TieModel::Ignore => {
                // Decided votes only; the tie share is fixed outside the fit.
                let ll = p.wins * log_sigmoid(d) + p.losses * log_sigmoid(-d);
                let dd = p.wins * sigmoid(-d) - p.losses * sigmoid(d);
                (ll, dd, 0.0)
            }
        };
        nll -= ll;
        grad[p.i] -= dd;
        grad[p.j] += dd;
        grad[n] -= dphi;
    }
    nll
}

/// Fits `model` to `counts`. Models without a finite rating (as [`bt::unbounded_models`] finds
/// them, on decided votes only for `ignore`) are left out with NaN.
#[must_use]
pub fn fit(counts: &Counts, model: TieModel, cfg: &BtConfig) -> TieFit {
    let n = counts.n_models;
    let alpha = cfg.base.ln();
    let all = pair_votes(counts);
    let total: f64 = all.iter().map(|p| p.wins + p.ties + p.losses).sum();
    let ties: f64 = all.iter().map(|p| p.ties).sum();
    let tie_share = if total > 0.0 { ties / total } else { 0.0 };
    if model == TieModel::Bt {
        let excluded: Vec<bool> = bt::unbounded_models(counts)
            .iter()
            .map(Option::is_some)
            .collect();
        let f = bt::fit(counts, &excluded, None, cfg);
        return TieFit {
            model,
            theta: f.natural.iter().map(|r| alpha * r).collect(),
            tie_param: tie_share,
            converged: f.converged,
        };
    }
    let decided_only = model == TieModel::Ignore;
    let check = if decided_only {
        decided(counts)
    } else {
        counts.clone()
    };
    let excluded: Vec<bool> = bt::unbounded_models(&check)
        .iter()
        .map(Option::is_some)
        .collect();
    let pairs = kept(&pair_votes(&check), &excluded);
    let groups = bt::groups_of(n, pairs.iter().map(|p| (p.i, p.j)), &vec![false; n]);
    let start_phi = match model {
        // Moment starts: RK's η from the tie share at d = 0, Davidson's ν likewise.
        TieModel::RaoKupper => {
            let s = tie_share.clamp(1e-6, 0.99);
            // P(tie | d=0) = 1 − 2σ(−η) ⇒ η = ln((1+s)/(1−s)).
            ((1.0 + s) / (1.0 - s)).ln().ln()
        }
        TieModel::Davidson => {
            let s = tie_share.clamp(1e-6, 0.99);
            (2.0 * s / (1.0 - s)).ln()
        }
        _ => 0.0,
    };
    let has_ties = pairs.iter().any(|p| p.ties > 0.0);
    let fit_phi = !decided_only && has_ties;
    // Without ties the tie parameter's optimum is 0 (`φ = −∞`), and it is not fitted.
    let phi = if fit_phi { Some(start_phi) } else { None };
    let (mut theta, phi, converged) = minimise(model, &pairs, n, &groups, phi, cfg.tol);
    for (t, &ex) in theta.iter_mut().zip(&excluded) {
        if ex {
            *t = f64::NAN;
        }
    }
    let tie_param = if decided_only {
        tie_share
    } else {
        phi.map_or(0.0, f64::exp)
    };
    TieFit {
        model,
        theta,
        tie_param,
        converged,
    }
}

/// Models without a finite rating under `model`: as Bradley–Terry finds them, on the decided
/// votes only for `ignore`.
#[must_use]
pub fn unbounded(counts: &Counts, model: TieModel) -> Vec<Option<bt::Unbounded>> {
    if model == TieModel::Ignore {
        bt::unbounded_models(&decided(counts))
    } else {
        bt::unbounded_models(counts)
    }
}

fn decided(counts: &Counts) -> Counts {
    Counts {
        n_models: counts.n_models,
        triples: counts
            .triples
            .iter()
            .filter(|t| t.y == 0.0 || t.y == 1.0)
            .copied()
            .collect(),
    }
}

/// Sandwich variances `diag(H⁻¹GH⁻¹)` of the natural-log strengths of a Rao–Kupper, Davidson or
/// `ignore` fit (for `bt` use [`crate::sandwich::variances`]): `G` sums each vote's gradient
/// outer product, `H` is the Hessian of the summed loss by central differences of the analytic
/// gradient, regularised on the strengths as [`crate::sandwich`] does. NaN for models left out.
#[must_use]
pub fn sandwich_variances(counts: &Counts, fit: &TieFit) -> Vec<f64> {
    let n = counts.n_models;
    let data = if fit.model == TieModel::Ignore {
        decided(counts)
    } else {
        counts.clone()
    };
    let skip: Vec<bool> = fit.theta.iter().map(|t| !t.is_finite()).collect();
    let pairs = kept(&pair_votes(&data), &skip);
    let with_phi = matches!(fit.model, TieModel::RaoKupper | TieModel::Davidson)
        && fit.tie_param > 0.0
        && pairs.iter().any(|p| p.ties > 0.0);
    let theta: Vec<f64> = fit
        .theta
        .iter()
        .map(|t| if t.is_finite() { *t } else { 0.0 })
        .collect();
    let phi = if with_phi {
        fit.tie_param.ln()
    } else if fit.model == TieModel::RaoKupper || fit.model == TieModel::Davidson {
        f64::NEG_INFINITY
    } else {
        0.0
    };
    let members: Vec<usize> = (0..n)
        .filter(|&m| !skip[m] && pairs.iter().any(|p| p.i == m || p.j == m))
        .collect();
    let mut out = vec![f64::NAN; n];
    if members.is_empty() {
        return out;
    }
    // Parameters: the members' strengths, then φ when fitted.
    let k = members.len() + usize::from(with_phi);
    let pick = |full: &[f64]| -> Vec<f64> {
        let mut v: Vec<f64> = members.iter().map(|&m| full[m]).collect();
        if with_phi {
            v.push(full[n]);
        }
        v
    };
    let mut full = vec![0.0; n + 1];
    let mut g = vec![0.0; k * k];
    for p in &pairs {
        for (wins, ties, losses, count) in [
            (1.0, 0.0, 0.0, p.wins),
            (0.0, 1.0, 0.0, p.ties),
            (0.0, 0.0, 1.0, p.losses),
        ] {
            if count <= 0.0 {
                continue;
            }
            let one = PairVotes {
                wins,
                ties,
                losses,
                ..*p
            };
            let _ = nll_and_gradient(fit.model, &[one], &theta, phi, &mut full);
            let v = pick(&full);
            for a in 0..k {
                for b in 0..k {
                    g[a * k + b] += count * v[a] * v[b];
                }
            }
        }
    }
    let mut h = vec![0.0; k * k];
    for col in 0..k {
        let step = 1e-5;
        let (mut tp, mut tm) = (theta.clone(), theta.clone());
        let (mut pp, mut pm) = (phi, phi);
        if col < members.len() {
            tp[members[col]] += step;
            tm[members[col]] -= step;
        } else {
            pp += step;
            pm -= step;
        }
        let _ = nll_and_gradient(fit.model, &pairs, &tp, pp, &mut full);
        let gp = pick(&full);
        let _ = nll_and_gradient(fit.model, &pairs, &tm, pm, &mut full);
        let gm = pick(&full);
        for row in 0..k {
            h[row * k + col] = (gp[row] - gm[row]) / (2.0 * step);
        }
    }
    // Symmetrise, and regularise the strengths' shift direction.
    let total: f64 = pairs.iter().map(|p| p.wins + p.ties + p.losses).sum();
    for a in 0..k {
        for b in 0..a {
            let m = 0.5 * (h[a * k + b] + h[b * k + a]);
            h[a * k + b] = m;
            h[b * k + a] = m;
        }
    }
    for d in 0..members.len() {
        h[d * k + d] += crate::sandwich::HESSIAN_REG * total;
    }
    if crate::linalg::cholesky(&mut h, k).is_none() {
        return out;
    }
    let mut u = vec![0.0; k];
    for (d, &m) in members.iter().enumerate() {
        u.iter_mut().for_each(|x| *x = 0.0);
        u[d] = 1.0;
        crate::linalg::cholesky_solve(&h, &mut u, k);
        let mut var = 0.0;
        for a in 0..k {
            for b in 0..k {
                var += u[a] * g[a * k + b] * u[b];
            }
        }
        out[m] = var;
    }
    out
}

fn kept(pairs: &[PairVotes], excluded: &[bool]) -> Vec<PairVotes> {
    pairs
        .iter()
        .filter(|p| !excluded[p.i] && !excluded[p.j])
        .copied()
        .collect()
}

/// Projects a strength-space vector onto "mean 0 within each group" (and zero outside groups).
fn project(v: &mut [f64], groups: &[Vec<usize>], n: usize) {
    let mut inside = vec![false; n];
    for g in groups {
        let mean = g.iter().map(|&i| v[i]).sum::<f64>() / g.len() as f64;
        for &i in g {
            v[i] -= mean;
            inside[i] = true;
        }
    }
    for i in 0..n {
        if !inside[i] {
            v[i] = 0.0;
        }
    }
}

/// L-BFGS on `θ` and, when given a start, `φ`; `θ` kept centred per group (the gradient is
/// projected). The mean negative log-likelihood is minimised so the tolerance does not depend
/// on the vote count. Returns `θ`, `φ` and whether it converged.
fn minimise(
    model: TieModel,
    pairs: &[PairVotes],
    n: usize,
    groups: &[Vec<usize>],
    start_phi: Option<f64>,
    tol: f64,
) -> (Vec<f64>, Option<f64>, bool) {
    let dim = n + usize::from(start_phi.is_some());
    let total: f64 = pairs.iter().map(|p| p.wins + p.ties + p.losses).sum();
    let scale = if total > 0.0 { 1.0 / total } else { 1.0 };
    let mut full = vec![0.0; n + 1];
    let eval = |x: &[f64], g: &mut [f64]| -> f64 {
        let phi = if dim > n { x[n] } else { f64::NEG_INFINITY };
        let f = nll_and_gradient(model, pairs, &x[..n], phi, &mut full);
        for (gi, fi) in g.iter_mut().zip(&full) {
            *gi = fi * scale;
        }
        project(&mut g[..n], groups, n);
        f * scale
    };
    let mut x = vec![0.0; dim];
    if let Some(phi) = start_phi {
        x[n] = phi;
    }
    let run = crate::linalg::lbfgs(eval, &mut x, tol, 5000);
    let phi = (dim > n).then(|| x[n]);
    x.truncate(n);
    (x, phi, run.converged)
}

/// Held-out comparison of the tie models.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TieModelScore {
    /// Which model.
    pub model: TieModel,
    /// Mean negative log-probability of the held-out votes' outcomes (win, tie, loss).
    pub log_loss: f64,
}

/// Smallest probability a held-out prediction is given (a model left out of one fold's fit,
/// or a saturated pair, would otherwise cost an infinite loss).
const FLOOR: f64 = 1e-9;

/// K-fold held-out log-loss of each tie model on the three outcomes, best first. The votes of
/// every `(a, b, outcome)` are dealt to the folds in turn, so folds are balanced and the
/// result is deterministic. Models left out of a fold's fit predict at strength 0.
#[must_use]
pub fn cross_validate(counts: &Counts, k: usize, cfg: &BtConfig) -> Vec<TieModelScore> {
    let k = k.max(2);
    let n = counts.n_models;
    // Whole votes per triple dealt round-robin across folds (continuing across triples).
    let mut folds: Vec<Vec<u64>> = vec![vec![0; counts.triples.len()]; k];
    let mut next = 0usize;
    for (t_idx, t) in counts.triples.iter().enumerate() {
        let c = t.weight.round().max(0.0) as u64;
        let base = c / k as u64;
        let extra = (c % k as u64) as usize;
        for (f, fold) in folds.iter_mut().enumerate() {
            let offset = (f + k - next % k) % k;
            fold[t_idx] = base + u64::from(offset < extra);
        }
        next += extra;
    }
    let with = |keep: &dyn Fn(usize) -> bool| Counts {
        n_models: n,
        triples: counts
            .triples
            .iter()
            .enumerate()
            .filter_map(|(t_idx, t)| {
                let w: u64 = (0..k).filter(|&f| keep(f)).map(|f| folds[f][t_idx]).sum();
                (w > 0).then_some(bt::Triple {
                    weight: w as f64,
                    ..*t
                })
            })
            .collect(),
    };
    let mut scores: Vec<TieModelScore> = TieModel::ALL
        .iter()
        .map(|&model| {
            let (mut loss, mut votes) = (0.0, 0.0);
            for f in 0..k {
                let train = with(&|g| g != f);
                let test = with(&|g| g == f);
                let fit = self::fit(&train, model, cfg);
                for t in &test.triples {
                    let th = |m: usize| {
                        let v = fit.theta[m];
                        if v.is_finite() { v } else { 0.0 }
                    };
                    let probs = fit.probabilities(th(t.a), th(t.b));
                    let p = if t.y == 1.0 {
                        probs[0]
                    } else if t.y == 0.0 {
                        probs[2]
                    } else {
                        probs[1]
                    };
                    loss -= t.weight * p.max(FLOOR).ln();
                    votes += t.weight;
                }
            }
            TieModelScore {
                model,
                log_loss: if votes > 0.0 { loss / votes } else { f64::NAN },
            }
        })
        .collect();
    scores.sort_by(|a, b| a.log_loss.total_cmp(&b.log_loss));
    scores
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Outcome;
    use rand::{Rng, SeedableRng};

    fn check_gradient(model: TieModel) {
        let c = Counts::from_battles(4, crate::testing::random_battles(4, 600, 21));
        let pairs = pair_votes(&c);
        let theta = [0.3, -0.2, 0.1, -0.2];
        let phi = -0.4;
        let mut g = vec![0.0; 5];
        let f0 = nll_and_gradient(model, &pairs, &theta, phi, &mut g);
        assert!(f0.is_finite());
        let h = 1e-6;
        let mut scratch = vec![0.0; 5];
        for k in 0..5 {
            let (mut tp, mut tm) = (theta, theta);
            let (mut pp, mut pm) = (phi, phi);
            if k < 4 {
                tp[k] += h;
                tm[k] -= h;
            } else {
                pp += h;
                pm -= h;
            }
            let fp = nll_and_gradient(model, &pairs, &tp, pp, &mut scratch);
            let fm = nll_and_gradient(model, &pairs, &tm, pm, &mut scratch);
            let fd = (fp - fm) / (2.0 * h);
            assert!(
                (fd - g[k]).abs() < 1e-5 * fd.abs().max(1.0),
                "{model:?} component {k}: finite difference {fd} vs gradient {}",
                g[k]
            );
        }
    }

    #[test]
    fn gradients_match_finite_differences() {
        for m in TieModel::ALL {
            check_gradient(m);
        }
    }

    #[test]
    fn probabilities_sum_to_one() {
        for m in TieModel::ALL {
            for d in [-3.0, -0.5, 0.0, 0.7, 4.0] {
                let p = outcome_probabilities(m, d, 0.4);
                assert!(
                    (p.iter().sum::<f64>() - 1.0).abs() < 1e-12,
                    "{m:?} {d}: {p:?}"
                );
                assert!(p.iter().all(|&x| x > 0.0));
            }
        }
    }

    /// Votes drawn from a Rao–Kupper model with known strengths and η.
    fn rao_kupper_votes(theta: &[f64], eta: f64, count: usize, seed: u64) -> Counts {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let n = theta.len();
        let battles: Vec<(usize, usize, Outcome)> = (0..count)
            .map(|_| {
                let a = rng.random_range(0..n);
                let b = (a + rng.random_range(1..n)) % n;
                let p = outcome_probabilities(TieModel::RaoKupper, theta[a] - theta[b], eta);
                let u: f64 = rng.random();
                let o = if u < p[0] {
                    Outcome::A
                } else if u < p[0] + p[1] {
                    Outcome::Tie
                } else {
                    Outcome::B
                };
                (a, b, o)
            })
            .collect();
        Counts::from_battles(n, battles)
    }

    #[test]
    fn rao_kupper_recovers_its_parameters_and_wins_the_cross_validation() {
        let truth = [-0.9, -0.3, 0.2, 1.0];
        let c = rao_kupper_votes(&truth, 0.6, 20_000, 4);
        let f = fit(&c, TieModel::RaoKupper, &BtConfig::new());
        assert!(f.converged);
        assert!((f.tie_param - 0.6).abs() < 0.05, "η = {}", f.tie_param);
        for (est, t) in f.theta.iter().zip(truth) {
            assert!((est - t).abs() < 0.08, "{:?}", f.theta);
        }
        let scores = cross_validate(&c, 5, &BtConfig::new());
        assert_eq!(scores[0].model, TieModel::RaoKupper, "{scores:?}");
        assert_eq!(scores.len(), 4);
    }

    #[test]
    fn tie_model_sandwich_matches_bradley_terry_sandwich_on_decided_votes() {
        // Without ties every model is Bradley–Terry: the generic sandwich must equal the
        // closed-form one.
        let battles: Vec<_> = crate::testing::random_battles(4, 2000, 13)
            .into_iter()
            .filter(|b| b.2 != Outcome::Tie)
            .collect();
        let c = Counts::from_battles(4, battles);
        let cfg = BtConfig::new();
        let ex = [false; 4];
        let point = bt::fit(&c, &ex, None, &cfg);
        let closed = crate::sandwich::variances(&c, None, &ex, &point, &cfg);
        for model in [TieModel::RaoKupper, TieModel::Davidson, TieModel::Ignore] {
            let f = fit(&c, model, &cfg);
            let v = sandwich_variances(&c, &f);
            for (a, b) in v.iter().zip(&closed) {
                assert!((a / b - 1.0).abs() < 1e-4, "{model:?}: {v:?} vs {closed:?}");
            }
        }
    }

    #[test]
    fn davidson_optimum_has_zero_gradient() {
        let c = Counts::from_battles(5, crate::testing::random_battles(5, 3000, 8));
        let f = fit(&c, TieModel::Davidson, &BtConfig::new());
        assert!(f.converged && f.tie_param > 0.0);
        let mut g = vec![0.0; 6];
        let _ = nll_and_gradient(
            TieModel::Davidson,
            &pair_votes(&c),
            &f.theta,
            f.tie_param.ln(),
            &mut g,
        );
        let total = 3000.0;
        assert!(g.iter().all(|v| v.abs() / total < 1e-7), "{g:?}");
    }
}

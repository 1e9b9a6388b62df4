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
//! - **Grounded Rao–Kupper** (LMArena's P2L `bag` loss), "both bad" as a fourth outcome against
//!   a grounding strength 0, `π = e^θ`, `κ = θ_RK − 1 ≥ 0`:
//!   `P(i) = πᵢ / (πᵢ + (1+κ)πⱼ + 1)`, `P(j) = πⱼ / (πⱼ + (1+κ)πᵢ + 1)`,
//!   `P(both bad) = 1 / (1 + πᵢ + πⱼ)`, `P(tie) = 1 − the others`. The grounding fixes the
//!   strengths' level, so they are not centred: rating 1000 is a model as likely to be "bad" as
//!   to beat the grounding.
//!
//! All are fitted by maximum likelihood (quasi-Newton on `θ` and the log of the tie parameter,
//! each connected group's mean strength held at 0 except under the grounded model) and reported
//! on the Elo scale like Bradley–Terry (`400/ln10 · θ + 1000`).

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
    /// Rao–Kupper with "both bad" as its own outcome, grounded at strength 0 (P2L's `bag`).
    GroundedRaoKupper,
}

impl TieModel {
    /// Every model, in the order reports list them.
    pub const ALL: [Self; 5] = [
        Self::Bt,
        Self::RaoKupper,
        Self::Davidson,
        Self::Ignore,
        Self::GroundedRaoKupper,
    ];

    /// Every name [`TieModel::parse`] reads, for messages.
    pub const NAMES: &'static str = "bt, rao-kupper, davidson, ignore or grounded-rao-kupper";

    /// Parses `bt`, `rao-kupper`, `davidson`, `ignore` or `grounded-rao-kupper`.
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
            Self::GroundedRaoKupper => "grounded-rao-kupper",
        }
    }

    /// Whether the model has a fitted tie parameter (`η`, `ν` or `κ`).
    #[must_use]
    pub const fn fits_tie_param(self) -> bool {
        matches!(
            self,
            Self::RaoKupper | Self::Davidson | Self::GroundedRaoKupper
        )
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
    /// Ties (both kinds, except under the grounded model, where "both bad" is `bad`).
    pub ties: f64,
    /// Votes `j` won.
    pub losses: f64,
    /// "Both bad" votes (grounded model only; 0 otherwise).
    pub bad: f64,
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
                bad: 0.0,
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

/// Pools `counts` into unordered pairs with the "both bad" votes of `both_bad` (a part of the
/// ties of `counts`) moved from `ties` to `bad`.
#[must_use]
pub fn grounded_pair_votes(counts: &Counts, both_bad: &Counts) -> Vec<PairVotes> {
    let mut out = pair_votes(counts);
    let index: std::collections::HashMap<(usize, usize), usize> = out
        .iter()
        .enumerate()
        .map(|(k, p)| ((p.i, p.j), k))
        .collect();
    for t in &both_bad.triples {
        let key = (t.a.min(t.b), t.a.max(t.b));
        if let Some(&k) = index.get(&key) {
            let p = &mut out[k];
            let moved = t.weight.min(p.ties);
            p.ties -= moved;
            p.bad += moved;
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
    /// `η` (Rao–Kupper), `ν` (Davidson) or `κ` (grounded); for `bt` and `ignore`, the share of
    /// ties, which their three-outcome predictions use.
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

    /// Probabilities of (`i` wins, tie, `j` wins) for strengths `ti`, `tj` (under the
    /// grounded model "tie" is either kind).
    #[must_use]
    pub fn probabilities(&self, ti: f64, tj: f64) -> [f64; 3] {
        if self.model == TieModel::GroundedRaoKupper {
            let [w, t, l, b] = grounded_probabilities(ti, tj, self.tie_param);
            return [w, t + b, l];
        }
        outcome_probabilities(self.model, ti - tj, self.tie_param)
    }
}

/// Grounded Rao–Kupper's (`i` wins, tie, `j` wins, both bad) at strengths `ti`, `tj` and `κ`.
#[must_use]
pub fn grounded_probabilities(ti: f64, tj: f64, kappa: f64) -> [f64; 4] {
    let (pi, pj) = (ti.exp(), tj.exp());
    let theta = 1.0 + kappa;
    let w = pi / (pi + theta * pj + 1.0);
    let l = pj / (pj + theta * pi + 1.0);
    let b = 1.0 / (1.0 + pi + pj);
    [w, (1.0 - w - l - b).max(0.0), l, b]
}

/// Probabilities of (win, tie, loss) at strength difference `d` under `model` with its tie
/// parameter (the tie share for `bt` and `ignore`, whose win/loss split is `σ(d)`; the grounded
/// model, which depends on both strengths, at `±d/2`, both kinds of tie together).
#[must_use]
pub fn outcome_probabilities(model: TieModel, d: f64, tie: f64) -> [f64; 3] {
    match model {
        TieModel::GroundedRaoKupper => {
            let [w, t, l, b] = grounded_probabilities(d / 2.0, -d / 2.0, tie);
            [w, t + b, l]
        }
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
        if model == TieModel::GroundedRaoKupper {
            let (ll, di, dj, dphi) = grounded_pair(p, theta[p.i], theta[p.j], phi);
            nll -= ll;
            grad[p.i] -= di;
            grad[p.j] -= dj;
            grad[n] -= dphi;
            continue;
        }
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
            TieModel::GroundedRaoKupper => unreachable!("handled above"),
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

/// One pair's grounded Rao–Kupper log-likelihood and its derivatives by `θᵢ`, `θⱼ` and `φ`
/// (`κ = e^φ`).
fn grounded_pair(p: &PairVotes, ti: f64, tj: f64, phi: f64) -> (f64, f64, f64, f64) {
    let (pi, pj, kappa) = (ti.exp(), tj.exp(), phi.exp());
    let theta = 1.0 + kappa;
    let (d1, d2, d3) = (pi + theta * pj + 1.0, pj + theta * pi + 1.0, 1.0 + pi + pj);
    let (w, l, b) = (pi / d1, pj / d2, 1.0 / d3);
    // Derivatives of each probability by (θᵢ, θⱼ, φ).
    let dw = [w * (1.0 - w), -w * theta * pj / d1, -w * kappa * pj / d1];
    let dl = [-l * theta * pi / d2, l * (1.0 - l), -l * kappa * pi / d2];
    let db = [-b * pi / d3, -b * pj / d3, 0.0];
    let mut ll = 0.0;
    let mut g = [0.0; 3];
    let mut add = |count: f64, prob: f64, dp: [f64; 3]| {
        if count > 0.0 {
            ll += count * prob.ln();
            for (gk, dk) in g.iter_mut().zip(dp) {
                *gk += count * dk / prob;
            }
        }
    };
    add(p.wins, w, dw);
    add(p.losses, l, dl);
    add(p.bad, b, db);
    let t = 1.0 - w - l - b;
    let dt = [
        -dw[0] - dl[0] - db[0],
        -dw[1] - dl[1] - db[1],
        -dw[2] - dl[2] - db[2],
    ];
    add(p.ties, t.max(f64::MIN_POSITIVE), dt);
    (ll, g[0], g[1], g[2])
}

/// Fits `model` to `counts`. Models without a finite rating (as [`bt::unbounded_models`] finds
/// them, on decided votes only for `ignore`) are left out with NaN. The grounded model needs
/// the "both bad" votes: use [`fit_with`].
#[must_use]
pub fn fit(counts: &Counts, model: TieModel, cfg: &BtConfig) -> TieFit {
    fit_with(counts, None, model, cfg)
}

/// [`fit`] with `both_bad`, the "both bad" votes among the ties of `counts` (only the grounded
/// model reads them; without any, every model under it is left out).
#[must_use]
pub fn fit_with(
    counts: &Counts,
    both_bad: Option<&Counts>,
    model: TieModel,
    cfg: &BtConfig,
) -> TieFit {
    if model == TieModel::GroundedRaoKupper {
        return fit_grounded(counts, both_bad, cfg);
    }
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
    let (mut theta, phi, converged) = minimise(model, &pairs, n, Some(&groups), phi, cfg.tol);
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

fn empty(n: usize) -> Counts {
    Counts {
        n_models: n,
        triples: Vec::new(),
    }
}

/// Grounded Rao–Kupper: no centring (the grounding fixes the level), `κ` fitted when there
/// are plain ties.
fn fit_grounded(counts: &Counts, both_bad: Option<&Counts>, cfg: &BtConfig) -> TieFit {
    let n = counts.n_models;
    let none = empty(n);
    let bad = both_bad.unwrap_or(&none);
    let excluded: Vec<bool> = grounded_unbounded(counts, bad)
        .iter()
        .map(Option::is_some)
        .collect();
    let pairs = kept(&grounded_pair_votes(counts, bad), &excluded);
    let phi = pairs.iter().any(|p| p.ties > 0.0).then_some(0.0);
    let model = TieModel::GroundedRaoKupper;
    let (mut theta, phi, converged) = minimise(model, &pairs, n, None, phi, cfg.tol);
    for (t, &ex) in theta.iter_mut().zip(&excluded) {
        if ex {
            *t = f64::NAN;
        }
    }
    TieFit {
        model,
        theta,
        tie_param: phi.map_or(0.0, f64::exp),
        converged,
    }
}

/// Models without a finite grounded rating: Bradley–Terry's check on the votes with the
/// grounding as one more player, beaten by the side that wins and by both sides of a plain tie,
/// beating both sides of a "both bad". Without any "both bad" vote nothing is grounded, and every
/// model counts as never beaten.
fn grounded_unbounded(counts: &Counts, both_bad: &Counts) -> Vec<Option<bt::Unbounded>> {
    let n = counts.n_models;
    let g = n;
    let mut triples = Vec::new();
    let mut push = |a: usize, b: usize, y: f64, weight: f64| {
        if weight > 0.0 {
            triples.push(bt::Triple { a, b, y, weight });
        }
    };
    for p in grounded_pair_votes(counts, both_bad) {
        push(p.i, p.j, 1.0, p.wins);
        push(p.i, g, 1.0, p.wins);
        push(p.j, p.i, 1.0, p.losses);
        push(p.j, g, 1.0, p.losses);
        push(p.i, p.j, 0.5, p.ties);
        push(p.i, g, 1.0, p.ties);
        push(p.j, g, 1.0, p.ties);
        push(g, p.i, 1.0, p.bad);
        push(g, p.j, 1.0, p.bad);
    }
    let mut status = bt::unbounded_models(&Counts {
        n_models: n + 1,
        triples,
    });
    let grounded = status[g].is_none();
    status.truncate(n);
    if !grounded {
        for s in status.iter_mut().filter(|s| s.is_none()) {
            *s = Some(bt::Unbounded::AllWins);
        }
    }
    status
}

/// Models without a finite rating under `model`: as Bradley–Terry finds them, on the decided
/// votes only for `ignore` (for the grounded model, see [`unbounded_with`]).
#[must_use]
pub fn unbounded(counts: &Counts, model: TieModel) -> Vec<Option<bt::Unbounded>> {
    unbounded_with(counts, None, model)
}

/// [`unbounded`] with the "both bad" votes the grounded model needs.
#[must_use]
pub fn unbounded_with(
    counts: &Counts,
    both_bad: Option<&Counts>,
    model: TieModel,
) -> Vec<Option<bt::Unbounded>> {
    match model {
        TieModel::Ignore => bt::unbounded_models(&decided(counts)),
        TieModel::GroundedRaoKupper => {
            grounded_unbounded(counts, both_bad.unwrap_or(&empty(counts.n_models)))
        }
        _ => bt::unbounded_models(counts),
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
    sandwich_variances_with(counts, None, fit)
}

/// [`sandwich_variances`] with the "both bad" votes the grounded model needs (its strengths are
/// not centred, so it needs no regularisation, but takes the same small one).
#[must_use]
pub fn sandwich_variances_with(
    counts: &Counts,
    both_bad: Option<&Counts>,
    fit: &TieFit,
) -> Vec<f64> {
    let n = counts.n_models;
    let data = if fit.model == TieModel::Ignore {
        decided(counts)
    } else {
        counts.clone()
    };
    let skip: Vec<bool> = fit.theta.iter().map(|t| !t.is_finite()).collect();
    let all = if fit.model == TieModel::GroundedRaoKupper {
        grounded_pair_votes(&data, both_bad.unwrap_or(&empty(n)))
    } else {
        pair_votes(&data)
    };
    let pairs = kept(&all, &skip);
    let with_phi =
        fit.model.fits_tie_param() && fit.tie_param > 0.0 && pairs.iter().any(|p| p.ties > 0.0);
    let theta: Vec<f64> = fit
        .theta
        .iter()
        .map(|t| if t.is_finite() { *t } else { 0.0 })
        .collect();
    let phi = if with_phi {
        fit.tie_param.ln()
    } else if fit.model.fits_tie_param() {
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
        for (wins, ties, losses, bad, count) in [
            (1.0, 0.0, 0.0, 0.0, p.wins),
            (0.0, 1.0, 0.0, 0.0, p.ties),
            (0.0, 0.0, 1.0, 0.0, p.losses),
            (0.0, 0.0, 0.0, 1.0, p.bad),
        ] {
            if count <= 0.0 {
                continue;
            }
            let one = PairVotes {
                wins,
                ties,
                losses,
                bad,
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
    let total: f64 = pairs
        .iter()
        .map(|p| p.wins + p.ties + p.losses + p.bad)
        .sum();
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

/// L-BFGS on `θ` and, when given a start, `φ`; with `groups`, `θ` kept centred per group (the
/// gradient is projected). The mean negative log-likelihood is minimised so the tolerance does not depend
/// on the vote count. Returns `θ`, `φ` and whether it converged.
fn minimise(
    model: TieModel,
    pairs: &[PairVotes],
    n: usize,
    groups: Option<&[Vec<usize>]>,
    start_phi: Option<f64>,
    tol: f64,
) -> (Vec<f64>, Option<f64>, bool) {
    let dim = n + usize::from(start_phi.is_some());
    let total: f64 = pairs
        .iter()
        .map(|p| p.wins + p.ties + p.losses + p.bad)
        .sum();
    let scale = if total > 0.0 { 1.0 / total } else { 1.0 };
    let mut full = vec![0.0; n + 1];
    let eval = |x: &[f64], g: &mut [f64]| -> f64 {
        let phi = if dim > n { x[n] } else { f64::NEG_INFINITY };
        let f = nll_and_gradient(model, pairs, &x[..n], phi, &mut full);
        for (gi, fi) in g.iter_mut().zip(&full) {
            *gi = fi * scale;
        }
        if let Some(groups) = groups {
            project(&mut g[..n], groups, n);
        }
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
    cross_validate_with(counts, None, k, cfg)
}

/// [`cross_validate`], scoring the grounded model too when there are "both bad" votes among
/// the ties. It is scored on the same three outcomes (its two kinds of tie together); each
/// fold's "both bad" votes are the fold's share of its pair's ties.
#[must_use]
pub fn cross_validate_with(
    counts: &Counts,
    both_bad: Option<&Counts>,
    k: usize,
    cfg: &BtConfig,
) -> Vec<TieModelScore> {
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
    let bad = both_bad.filter(|b| b.triples.iter().any(|t| t.weight > 0.0));
    // A fold's "both bad": each pair's share of them in proportion to its ties in the fold.
    let bad_in = |train: &Counts| -> Option<Counts> {
        let bad = bad?;
        let ties = |c: &Counts, a: usize, b: usize| -> f64 {
            c.triples
                .iter()
                .filter(|t| t.a == a && t.b == b && t.y != 0.0 && t.y != 1.0)
                .map(|t| t.weight)
                .sum()
        };
        Some(Counts {
            n_models: n,
            triples: bad
                .triples
                .iter()
                .filter_map(|t| {
                    let all = ties(counts, t.a, t.b);
                    let share = if all > 0.0 {
                        ties(train, t.a, t.b) / all
                    } else {
                        0.0
                    };
                    (share > 0.0).then_some(bt::Triple {
                        weight: t.weight * share,
                        ..*t
                    })
                })
                .collect(),
        })
    };
    let mut scores: Vec<TieModelScore> = TieModel::ALL
        .iter()
        .filter(|&&m| m != TieModel::GroundedRaoKupper || bad.is_some())
        .map(|&model| {
            let (mut loss, mut votes) = (0.0, 0.0);
            for f in 0..k {
                let train = with(&|g| g != f);
                let test = with(&|g| g == f);
                let train_bad = bad_in(&train);
                let fit = self::fit_with(&train, train_bad.as_ref(), model, cfg);
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
        // A third of each pair's ties are "both bad" (read by the grounded model only).
        let mut pairs = pair_votes(&c);
        for p in &mut pairs {
            p.bad = (p.ties / 3.0).floor();
            p.ties -= p.bad;
        }
        assert!(pairs.iter().any(|p| p.bad > 0.0 && p.ties > 0.0));
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

    /// Votes drawn from the grounded model with known strengths and κ: the counts and, among
    /// their ties, the "both bad" ones.
    fn grounded_votes(theta: &[f64], kappa: f64, count: usize, seed: u64) -> (Counts, Counts) {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let n = theta.len();
        let (mut all, mut bad) = (Vec::new(), Vec::new());
        for _ in 0..count {
            let a = rng.random_range(0..n);
            let b = (a + rng.random_range(1..n)) % n;
            let [w, t, _, _] = grounded_probabilities(theta[a], theta[b], kappa);
            let [.., bb] = grounded_probabilities(theta[a], theta[b], kappa);
            let u: f64 = rng.random();
            let o = if u < w {
                Outcome::A
            } else if u < w + t {
                Outcome::Tie
            } else if u < w + t + bb {
                bad.push((a, b, Outcome::BothBad));
                Outcome::BothBad
            } else {
                Outcome::B
            };
            all.push((a, b, o));
        }
        (Counts::from_battles(n, all), Counts::from_battles(n, bad))
    }

    #[test]
    fn grounded_rao_kupper_recovers_its_parameters() {
        // Not centred: the grounding fixes the level.
        let truth = [-0.6, 0.2, 0.9, 1.5];
        let (c, bad) = grounded_votes(&truth, 0.8, 40_000, 9);
        let cfg = BtConfig::new();
        let f = fit_with(&c, Some(&bad), TieModel::GroundedRaoKupper, &cfg);
        assert!(f.converged);
        assert!((f.tie_param - 0.8).abs() < 0.1, "κ = {}", f.tie_param);
        for (est, t) in f.theta.iter().zip(truth) {
            assert!((est - t).abs() < 0.08, "{:?}", f.theta);
        }
        // At the optimum the gradient vanishes.
        let pairs = grounded_pair_votes(&c, &bad);
        let mut g = vec![0.0; 5];
        let _ = nll_and_gradient(
            TieModel::GroundedRaoKupper,
            &pairs,
            &f.theta,
            f.tie_param.ln(),
            &mut g,
        );
        assert!(g.iter().all(|v| v.abs() / 40_000.0 < 1e-6), "{g:?}");
        // Its sandwich intervals are finite and shrink with more votes.
        let var = sandwich_variances_with(&c, Some(&bad), &f);
        assert!(var.iter().all(|v| v.is_finite() && *v > 0.0), "{var:?}");
        // The held-out comparison includes it and, on its own votes, puts it first.
        let scores = cross_validate_with(&c, Some(&bad), 5, &cfg);
        assert_eq!(scores.len(), 5);
        assert_eq!(scores[0].model, TieModel::GroundedRaoKupper, "{scores:?}");
        // Without "both bad" votes nothing is grounded: no model has a rating.
        let none = fit(&c, TieModel::GroundedRaoKupper, &cfg);
        assert!(none.theta.iter().all(|t| t.is_nan()));
        assert_eq!(cross_validate(&c, 5, &cfg).len(), 4);
    }

    #[test]
    fn grounded_model_leaves_out_a_model_that_is_only_ever_bad() {
        // Model 2 never wins nor ties plainly: only losses and "both bad", so its strength
        // falls without bound; model 3 only wins, so its strength grows without bound; the
        // other two stay rated.
        let mut battles = Vec::new();
        for _ in 0..30 {
            battles.extend([
                (0, 1, Outcome::A),
                (1, 0, Outcome::A),
                (0, 1, Outcome::Tie),
                (0, 1, Outcome::BothBad),
                (0, 2, Outcome::A),
                (2, 1, Outcome::B),
                (2, 1, Outcome::BothBad),
                (3, 0, Outcome::A),
            ]);
        }
        let bad: Vec<_> = battles
            .iter()
            .copied()
            .filter(|b| b.2 == Outcome::BothBad)
            .collect();
        let (c, bad) = (
            Counts::from_battles(4, battles),
            Counts::from_battles(4, bad),
        );
        let status = unbounded_with(&c, Some(&bad), TieModel::GroundedRaoKupper);
        assert_eq!(
            status,
            vec![
                None,
                None,
                Some(bt::Unbounded::AllLosses),
                Some(bt::Unbounded::AllWins)
            ]
        );
        let f = fit_with(
            &c,
            Some(&bad),
            TieModel::GroundedRaoKupper,
            &BtConfig::new(),
        );
        assert!(f.converged, "{f:?}");
        assert!(f.theta[0].is_finite() && f.theta[1].is_finite());
        assert!(f.theta[2].is_nan() && f.theta[3].is_nan());
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

//! Human + LLM-judge ratings by prediction-powered inference (PPI++, Angelopoulos, Duchi and
//! Zrnic 2023; docs/design.md §5.16).
//!
//! Bradley–Terry is a logistic regression: a battle of `a` against `b` has covariates
//! `x = e_a − e_b` and label `y` = A's score (1, ½ or 0). With one model as the reference
//! (its coefficient fixed at 0) the coefficients are identified. The *labeled* battles carry a
//! human label `y` and a judge label `ŷ` on the same item; the *unlabeled* ones only the judge's.
//! The estimate minimises the rectified loss
//!
//! `L(θ) = λ/N Σ_unlabeled ℓ(θ; x, ŷ) − λ/n Σ_labeled ℓ(θ; x, ŷ) + 1/n Σ_labeled ℓ(θ; x, y)`
//!
//! with `ℓ(θ; x, y) = −y·xᵀθ + ln(1 + e^{xᵀθ})`: unbiased for the human-label optimum whatever
//! the judge's errors, and tighter than the human votes alone as far as the judge agrees with
//! them. λ is tuned for the smallest total variance and clipped to [0, 1]; the intervals are
//! `θ̂ ± z·sqrt(diag(H⁻¹ (n/N·Var(λ∇ℓ̂ᵘ) + Var(∇ℓ − λ∇ℓ̂)) H⁻¹) / n)`. Every step follows
//! `ppi_py` 0.2.3's `ppi_logistic_pointestimate` and `ppi_logistic_ci` (unit sample weights), so
//! the numbers agree with it (`tests/ppi_parity.rs`).
//!
//! Every covariate vector is `e_a − e_b` times a scalar, so each sum of outer products costs
//! four additions per battle, not `d²`.

use crate::linalg::{cholesky, cholesky_solve, sigmoid};

/// A battle with a human label and the judge's label on the same item.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Labeled {
    /// Model A.
    pub a: usize,
    /// Model B.
    pub b: usize,
    /// A's score by the human vote (1, ½ or 0).
    pub y: f64,
    /// A's score by the judge.
    pub y_hat: f64,
}

/// A battle with the judge's label only.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Unlabeled {
    /// Model A.
    pub a: usize,
    /// Model B.
    pub b: usize,
    /// A's score by the judge.
    pub y_hat: f64,
}

/// The votes of a PPI fit.
#[derive(Debug, Clone, Copy)]
pub struct PpiData<'a> {
    /// Number of models (indices below this).
    pub n_models: usize,
    /// The model whose coefficient is fixed at 0.
    pub reference: usize,
    /// Items with both a human and a judge vote.
    pub labeled: &'a [Labeled],
    /// Items with a judge vote only.
    pub unlabeled: &'a [Unlabeled],
}

/// A PPI++ fit in the reference parameterisation (`theta[reference] = 0`, natural logits).
#[derive(Debug, Clone, PartialEq)]
pub struct PpiFit {
    /// Coefficients per model.
    pub theta: Vec<f64>,
    /// Standard errors per model (0 for the reference).
    pub se: Vec<f64>,
    /// Covariance of the coefficients (`n_models²`, row-major; zero row and column for the
    /// reference).
    pub covariance: Vec<f64>,
    /// The power-tuning parameter used.
    pub lambda: f64,
}

impl PpiFit {
    /// Bounds `θ ± z·se` per model.
    #[must_use]
    pub fn bounds(&self, z: f64) -> Vec<(f64, f64)> {
        self.theta
            .iter()
            .zip(&self.se)
            .map(|(&t, &s)| (t - z * s, t + z * s))
            .collect()
    }

    /// Coefficients shifted to mean zero over the models, and the variance of each shifted one
    /// (from the full covariance, so that no model's interval is the reference's).
    #[must_use]
    pub fn centered(&self) -> (Vec<f64>, Vec<f64>) {
        let m = self.theta.len();
        let mean = self.theta.iter().sum::<f64>() / m as f64;
        let cov = &self.covariance;
        let row_mean: Vec<f64> = (0..m)
            .map(|i| cov[i * m..(i + 1) * m].iter().sum::<f64>() / m as f64)
            .collect();
        let all_mean = row_mean.iter().sum::<f64>() / m as f64;
        let var = (0..m)
            .map(|i| (cov[i * m + i] - 2.0 * row_mean[i] + all_mean).max(0.0))
            .collect();
        (self.theta.iter().map(|t| t - mean).collect(), var)
    }
}

/// Why a fit failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PpiError {
    /// Fewer than two labeled or two unlabeled battles.
    TooFewVotes,
    /// The votes leave some model's coefficient undetermined (a model without battles, or a
    /// group of models with no battle against the rest).
    NotIdentified,
}

impl std::fmt::Display for PpiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::TooFewVotes => {
                "PPI needs at least two items with both a human and a judge vote, and two with a judge vote only"
            }
            Self::NotIdentified => {
                "the votes do not connect every model, so PPI cannot rate them all"
            }
        })
    }
}

impl std::error::Error for PpiError {}

/// `e_a − e_b` in the reduced coordinates (the reference dropped): up to two `(index, sign)`.
#[derive(Clone, Copy)]
struct Design {
    a: Option<usize>,
    b: Option<usize>,
}

impl Design {
    fn new(reference: usize, a: usize, b: usize) -> Self {
        let coord = |m: usize| match m.cmp(&reference) {
            std::cmp::Ordering::Less => Some(m),
            std::cmp::Ordering::Equal => None,
            std::cmp::Ordering::Greater => Some(m - 1),
        };
        Self {
            a: coord(a),
            b: coord(b),
        }
    }

    fn dot(self, theta: &[f64]) -> f64 {
        self.a.map_or(0.0, |i| theta[i]) - self.b.map_or(0.0, |j| theta[j])
    }

    /// `v += c·x`.
    fn add(self, v: &mut [f64], c: f64) {
        if let Some(i) = self.a {
            v[i] += c;
        }
        if let Some(j) = self.b {
            v[j] -= c;
        }
    }

    /// `m += c·x xᵀ` for a `d × d` row-major `m`.
    fn add_outer(self, m: &mut [f64], d: usize, c: f64) {
        if let Some(i) = self.a {
            m[i * d + i] += c;
        }
        if let Some(j) = self.b {
            m[j * d + j] += c;
        }
        if let (Some(i), Some(j)) = (self.a, self.b) {
            m[i * d + j] -= c;
            m[j * d + i] -= c;
        }
    }
}

/// `ln(1 + e^x)` as `ppi_py` computes it (`x` itself above 10).
fn log1pexp(x: f64) -> f64 {
    if x > 10.0 { x } else { x.exp().ln_1p() }
}

struct Problem {
    d: usize,
    labeled: Vec<(Design, f64, f64)>,
    unlabeled: Vec<(Design, f64)>,
}

impl Problem {
    fn new(data: &PpiData<'_>) -> Result<Self, PpiError> {
        if data.labeled.len() < 2 || data.unlabeled.len() < 2 || data.n_models < 2 {
            return Err(PpiError::TooFewVotes);
        }
        let r = data.reference;
        Ok(Self {
            d: data.n_models - 1,
            labeled: data
                .labeled
                .iter()
                .map(|v| (Design::new(r, v.a, v.b), v.y, v.y_hat))
                .collect(),
            unlabeled: data
                .unlabeled
                .iter()
                .map(|v| (Design::new(r, v.a, v.b), v.y_hat))
                .collect(),
        })
    }

    fn sizes(&self) -> (f64, f64) {
        (self.labeled.len() as f64, self.unlabeled.len() as f64)
    }

    /// The rectified loss, its gradient and Hessian at `theta` for this λ.
    fn loss(&self, theta: &[f64], lam: f64, grad: &mut [f64], hess: &mut [f64]) -> f64 {
        let (n, big_n) = self.sizes();
        let d = self.d;
        grad.fill(0.0);
        hess.fill(0.0);
        let mut loss = 0.0;
        for &(x, y_hat) in &self.unlabeled {
            let z = x.dot(theta);
            let mu = sigmoid(z);
            loss += lam / big_n * (-y_hat * z + log1pexp(z));
            x.add(grad, lam / big_n * (mu - y_hat));
            x.add_outer(hess, d, lam / big_n * mu * (1.0 - mu));
        }
        for &(x, y, y_hat) in &self.labeled {
            let z = x.dot(theta);
            let mu = sigmoid(z);
            loss += (-y * z + log1pexp(z)) / n - lam / n * (-y_hat * z + log1pexp(z));
            x.add(grad, ((mu - y) - lam * (mu - y_hat)) / n);
            x.add_outer(hess, d, (1.0 - lam) / n * mu * (1.0 - mu));
        }
        loss
    }

    /// Minimises the rectified loss by damped Newton steps (it is convex for λ ∈ [0, 1]).
    fn minimise(&self, lam: f64) -> Result<Vec<f64>, PpiError> {
        let d = self.d;
        let mut theta = vec![0.0; d];
        let mut grad = vec![0.0; d];
        let mut hess = vec![0.0; d * d];
        let mut scratch_g = vec![0.0; d];
        let mut scratch_h = vec![0.0; d * d];
        let mut loss = self.loss(&theta, lam, &mut grad, &mut hess);
        for _ in 0..200 {
            let norm = grad.iter().map(|g| g * g).sum::<f64>().sqrt();
            if norm <= 1e-12 {
                break;
            }
            cholesky(&mut hess, d).ok_or(PpiError::NotIdentified)?;
            let mut step = grad.clone();
            cholesky_solve(&hess, &mut step, d);
            // Backtrack until the loss does not rise; a step that cannot lower it any more
            // means the optimum is reached to rounding.
            let mut t = 1.0;
            let accepted = loop {
                let trial: Vec<f64> = theta.iter().zip(&step).map(|(a, s)| a - t * s).collect();
                let l = self.loss(&trial, lam, &mut scratch_g, &mut scratch_h);
                if l <= loss {
                    break Some((trial, l));
                }
                t *= 0.5;
                if t < 1e-6 {
                    break None;
                }
            };
            let Some((trial, l)) = accepted else { break };
            theta = trial;
            loss = l;
            std::mem::swap(&mut grad, &mut scratch_g);
            std::mem::swap(&mut hess, &mut scratch_h);
        }
        if theta.iter().any(|t| !t.is_finite()) {
            return Err(PpiError::NotIdentified);
        }
        Ok(theta)
    }

    /// `ppi_py`'s `_logistic_get_stats` reduced to what the λ and the intervals need: the
    /// inverse Hessian, and the second moments of the per-battle gradients.
    fn stats(&self, theta: &[f64], use_unlabeled: bool) -> Result<Stats, PpiError> {
        let d = self.d;
        let (n, big_n) = self.sizes();
        let mut hess = vec![0.0; d * d];
        // Each per-battle gradient is x times a residual r: g = x(μ − y), ĝ = x(μ − ŷ).
        let mut labeled = Vec::with_capacity(self.labeled.len());
        for &(x, y, y_hat) in &self.labeled {
            let mu = sigmoid(x.dot(theta));
            let w = if use_unlabeled {
                1.0 / (n + big_n)
            } else {
                1.0 / n
            };
            x.add_outer(&mut hess, d, w * mu * (1.0 - mu));
            labeled.push((x, mu - y, mu - y_hat));
        }
        let mut unlabeled = Vec::with_capacity(self.unlabeled.len());
        for &(x, y_hat) in &self.unlabeled {
            let mu = sigmoid(x.dot(theta));
            if use_unlabeled {
                x.add_outer(&mut hess, d, mu * (1.0 - mu) / (n + big_n));
                unlabeled.push((x, mu - y_hat));
            } else {
                unlabeled.push((x, 0.0));
            }
        }
        Ok(Stats {
            d,
            inv_hessian: inverse(hess, d).ok_or(PpiError::NotIdentified)?,
            labeled,
            unlabeled,
        })
    }
}

struct Stats {
    d: usize,
    inv_hessian: Vec<f64>,
    /// `(x, μ − y, μ − ŷ)` per labeled battle.
    labeled: Vec<(Design, f64, f64)>,
    /// `(x, μ − ŷ)` per unlabeled battle (0 when the unlabeled part is not used).
    unlabeled: Vec<(Design, f64)>,
}

/// Accumulates the mean and the sum of outer products of the vectors `x·r`.
fn moments<'a>(
    d: usize,
    rows: impl Iterator<Item = (Design, f64)> + 'a,
) -> (Vec<f64>, Vec<f64>, f64) {
    let mut mean = vec![0.0; d];
    let mut outer = vec![0.0; d * d];
    let mut count = 0.0;
    for (x, r) in rows {
        x.add(&mut mean, r);
        x.add_outer(&mut outer, d, r * r);
        count += 1.0;
    }
    for m in &mut mean {
        *m /= count;
    }
    (mean, outer, count)
}

/// numpy's `np.cov` (divisor `count − 1`) of the rows `x·r`.
fn covariance<'a>(d: usize, rows: impl Iterator<Item = (Design, f64)> + 'a) -> Vec<f64> {
    let (mean, mut outer, count) = moments(d, rows);
    for i in 0..d {
        for j in 0..d {
            outer[i * d + j] = (outer[i * d + j] - count * mean[i] * mean[j]) / (count - 1.0);
        }
    }
    outer
}

impl Stats {
    /// `ppi_py`'s `_calc_lam_glm(..., clip=True)` with `coord=None`: the λ of least total
    /// variance, clipped to [0, 1].
    fn lambda(&self) -> f64 {
        let d = self.d;
        let n = self.labeled.len() as f64;
        let big_n = self.unlabeled.len() as f64;
        // cov_grads = (1/n)(G_cᵀ Ĝ_c + Ĝ_cᵀ G_c) with centred G = x(μ−y), Ĝ = x(μ−ŷ).
        let mut cross = vec![0.0; d * d];
        let mut g_mean = vec![0.0; d];
        let mut h_mean = vec![0.0; d];
        for &(x, r, s) in &self.labeled {
            x.add_outer(&mut cross, d, 2.0 * r * s);
            x.add(&mut g_mean, r / n);
            x.add(&mut h_mean, s / n);
        }
        let mut cov_grads = cross;
        for i in 0..d {
            for j in 0..d {
                cov_grads[i * d + j] =
                    cov_grads[i * d + j] / n - (g_mean[i] * h_mean[j] + h_mean[i] * g_mean[j]);
            }
        }
        let var_hat = covariance(
            d,
            self.labeled
                .iter()
                .map(|&(x, _, s)| (x, s))
                .chain(self.unlabeled.iter().copied()),
        );
        let num = trace_sandwich(&self.inv_hessian, &cov_grads, d);
        let denom = 2.0 * (1.0 + n / big_n) * trace_sandwich(&self.inv_hessian, &var_hat, d);
        let lam = num / denom;
        if lam.is_nan() {
            0.0
        } else {
            lam.clamp(0.0, 1.0)
        }
    }

    /// `H⁻¹ (n/N·Var(λĝᵘ) + Var(g − λĝ)) H⁻¹ / n`: the covariance of the estimate.
    fn covariance(&self, lam: f64) -> Vec<f64> {
        let d = self.d;
        let n = self.labeled.len() as f64;
        let big_n = self.unlabeled.len() as f64;
        let var_u = covariance(d, self.unlabeled.iter().map(|&(x, s)| (x, lam * s)));
        let var_l = covariance(d, self.labeled.iter().map(|&(x, r, s)| (x, r - lam * s)));
        let middle: Vec<f64> = var_u
            .iter()
            .zip(&var_l)
            .map(|(u, l)| n / big_n * u + l)
            .collect();
        let mut sigma = sandwich(&self.inv_hessian, &middle, d);
        for v in &mut sigma {
            *v /= n;
        }
        sigma
    }
}

/// `A · M · A` for symmetric `A` and `M`.
fn sandwich(a: &[f64], m: &[f64], d: usize) -> Vec<f64> {
    let am = matmul(a, m, d);
    matmul(&am, a, d)
}

fn matmul(a: &[f64], b: &[f64], d: usize) -> Vec<f64> {
    let mut out = vec![0.0; d * d];
    for i in 0..d {
        for k in 0..d {
            let aik = a[i * d + k];
            if aik == 0.0 {
                continue;
            }
            for j in 0..d {
                out[i * d + j] += aik * b[k * d + j];
            }
        }
    }
    out
}

fn trace_sandwich(a: &[f64], m: &[f64], d: usize) -> f64 {
    let s = sandwich(a, m, d);
    (0..d).map(|i| s[i * d + i]).sum()
}

/// The inverse of a symmetric positive-definite matrix, or `None` when it is not.
fn inverse(mut h: Vec<f64>, d: usize) -> Option<Vec<f64>> {
    cholesky(&mut h, d)?;
    let mut inv = vec![0.0; d * d];
    let mut col = vec![0.0; d];
    for j in 0..d {
        col.fill(0.0);
        col[j] = 1.0;
        cholesky_solve(&h, &mut col, d);
        for i in 0..d {
            inv[i * d + j] = col[i];
        }
    }
    Some(inv)
}

/// The estimate with a given λ, or with the tuned one (`None`): `ppi_logistic_pointestimate`.
///
/// # Errors
/// When there are too few votes or they do not connect the models.
pub fn point_estimate(data: &PpiData<'_>, lambda: Option<f64>) -> Result<Vec<f64>, PpiError> {
    let problem = Problem::new(data)?;
    let theta = estimate(&problem, lambda)?;
    Ok(expand(&theta, data.reference))
}

fn estimate(problem: &Problem, lambda: Option<f64>) -> Result<Vec<f64>, PpiError> {
    match lambda {
        Some(lam) => problem.minimise(lam),
        None => {
            let first = problem.minimise(1.0)?;
            let lam = problem.stats(&first, true)?.lambda();
            problem.minimise(lam)
        }
    }
}

/// The estimate and its covariance, λ tuned when `None`: `ppi_logistic_ci`'s steps (the tuned
/// λ is computed at the tuned point estimate, then the estimate is refitted with it).
///
/// # Errors
/// When there are too few votes or they do not connect the models.
pub fn fit(data: &PpiData<'_>, lambda: Option<f64>) -> Result<PpiFit, PpiError> {
    let problem = Problem::new(data)?;
    let lam = match lambda {
        Some(lam) => lam,
        None => {
            let point = estimate(&problem, None)?;
            problem.stats(&point, true)?.lambda()
        }
    };
    let theta = problem.minimise(lam)?;
    let stats = problem.stats(&theta, lam != 0.0)?;
    let reduced = stats.covariance(lam);
    let d = problem.d;
    let m = data.n_models;
    let r = data.reference;
    let full = |i: usize| (i != r).then(|| if i < r { i } else { i - 1 });
    let mut covariance = vec![0.0; m * m];
    for i in 0..m {
        for j in 0..m {
            if let (Some(p), Some(q)) = (full(i), full(j)) {
                covariance[i * m + j] = reduced[p * d + q];
            }
        }
    }
    let se = (0..m)
        .map(|i| covariance[i * m + i].max(0.0).sqrt())
        .collect();
    Ok(PpiFit {
        theta: expand(&theta, r),
        se,
        covariance,
        lambda: lam,
    })
}

fn expand(reduced: &[f64], reference: usize) -> Vec<f64> {
    let mut full = reduced.to_vec();
    full.insert(reference, 0.0);
    full
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    /// Human labels from known strengths; the judge agrees with the human `agree` of the time
    /// and otherwise votes at random.
    fn simulate(n: usize, big_n: usize, agree: f64, seed: u64) -> (Vec<Labeled>, Vec<Unlabeled>) {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let strength = [-0.8, -0.2, 0.3, 0.9];
        let draw = |rng: &mut rand_chacha::ChaCha8Rng| {
            let a = rng.random_range(0..4);
            let b = (a + rng.random_range(1..4)) % 4;
            let y = f64::from(rng.random_bool(sigmoid(strength[a] - strength[b])));
            let y_hat = if rng.random_bool(agree) {
                y
            } else {
                f64::from(rng.random_bool(0.5))
            };
            (a, b, y, y_hat)
        };
        let labeled = (0..n)
            .map(|_| {
                let (a, b, y, y_hat) = draw(&mut rng);
                Labeled { a, b, y, y_hat }
            })
            .collect();
        let unlabeled = (0..big_n)
            .map(|_| {
                let (a, b, _, y_hat) = draw(&mut rng);
                Unlabeled { a, b, y_hat }
            })
            .collect();
        (labeled, unlabeled)
    }

    #[test]
    fn lambda_zero_is_the_human_only_fit() {
        let (labeled, unlabeled) = simulate(400, 4000, 0.8, 1);
        let data = PpiData {
            n_models: 4,
            reference: 0,
            labeled: &labeled,
            unlabeled: &unlabeled,
        };
        let ppi = fit(&data, Some(0.0)).unwrap();
        // The classical logistic MLE on the human labels: its gradient vanishes.
        let mut grad = [0.0; 4];
        for v in &labeled {
            let r = sigmoid(ppi.theta[v.a] - ppi.theta[v.b]) - v.y;
            grad[v.a] += r;
            grad[v.b] -= r;
        }
        assert!(grad[1..].iter().all(|g| g.abs() < 1e-8), "{grad:?}");
        assert_eq!(ppi.theta[0], 0.0);
    }

    #[test]
    fn a_good_judge_narrows_the_intervals_and_a_useless_one_does_not_bias_them() {
        let (labeled, unlabeled) = simulate(300, 6000, 0.9, 2);
        let data = PpiData {
            n_models: 4,
            reference: 0,
            labeled: &labeled,
            unlabeled: &unlabeled,
        };
        let human = fit(&data, Some(0.0)).unwrap();
        let ppi = fit(&data, None).unwrap();
        assert!(ppi.lambda > 0.5, "λ {}", ppi.lambda);
        for m in 1..4 {
            assert!(
                ppi.se[m] < 0.8 * human.se[m],
                "model {m}: {} vs {}",
                ppi.se[m],
                human.se[m]
            );
        }
        // A judge that votes at random gets λ near 0: the estimate stays the human one.
        let (labeled, unlabeled) = simulate(300, 6000, 0.0, 3);
        let data = PpiData {
            labeled: &labeled,
            unlabeled: &unlabeled,
            ..data
        };
        let ppi = fit(&data, None).unwrap();
        assert!(ppi.lambda < 0.2, "λ {}", ppi.lambda);
    }

    #[test]
    fn centering_keeps_differences_and_their_variances() {
        let (labeled, unlabeled) = simulate(300, 3000, 0.7, 4);
        let data = PpiData {
            n_models: 4,
            reference: 2,
            labeled: &labeled,
            unlabeled: &unlabeled,
        };
        let ppi = fit(&data, None).unwrap();
        let (c, var) = ppi.centered();
        assert!(c.iter().sum::<f64>().abs() < 1e-12);
        assert!((c[1] - c[3] - (ppi.theta[1] - ppi.theta[3])).abs() < 1e-12);
        assert!(var.iter().all(|&v| v > 0.0), "{var:?}");
        // The reference itself has no variance before centering, some after.
        assert_eq!(ppi.se[2], 0.0);
    }

    #[test]
    fn too_few_or_disconnected_votes_are_errors() {
        let one = [Labeled {
            a: 0,
            b: 1,
            y: 1.0,
            y_hat: 1.0,
        }];
        let data = PpiData {
            n_models: 2,
            reference: 0,
            labeled: &one,
            unlabeled: &[],
        };
        assert_eq!(fit(&data, None), Err(PpiError::TooFewVotes));
        let (labeled, unlabeled) = simulate(100, 100, 0.8, 5);
        let data = PpiData {
            n_models: 5,
            reference: 0,
            labeled: &labeled,
            unlabeled: &unlabeled,
        };
        // Model 4 has no battle at all.
        assert_eq!(fit(&data, None), Err(PpiError::NotIdentified));
    }
}

//! The small dense linear algebra the rating fits need: a symmetric positive-definite solve,
//! and a limited-memory BFGS minimiser for the fits without a closed-form Hessian.

/// Solves `h · x = rhs` in place for a symmetric positive-definite `h` (row-major, `n × n`) by
/// Cholesky decomposition. Returns `None` when `h` is not positive definite.
#[must_use]
pub fn solve_spd(h: &mut [f64], rhs: &mut [f64], n: usize) -> Option<()> {
    cholesky(h, n)?;
    cholesky_solve(h, rhs, n);
    Some(())
}

/// Overwrites the lower half of a symmetric positive-definite `h` with its Cholesky factor.
/// Returns `None` when `h` is not positive definite.
#[must_use]
pub fn cholesky(h: &mut [f64], n: usize) -> Option<()> {
    debug_assert_eq!(h.len(), n * n);
    // Lower-triangular factor L overwrites the lower half of h.
    for j in 0..n {
        let mut d = h[j * n + j];
        for k in 0..j {
            d -= h[j * n + k] * h[j * n + k];
        }
        if d <= 0.0 || !d.is_finite() {
            return None;
        }
        let d = d.sqrt();
        h[j * n + j] = d;
        for i in j + 1..n {
            let mut s = h[i * n + j];
            for k in 0..j {
                s -= h[i * n + k] * h[j * n + k];
            }
            h[i * n + j] = s / d;
        }
    }
    Some(())
}

/// Solves `L Lᵀ x = rhs` in place with a factor from [`cholesky`].
pub fn cholesky_solve(h: &[f64], rhs: &mut [f64], n: usize) {
    debug_assert_eq!(rhs.len(), n);
    for i in 0..n {
        let mut s = rhs[i];
        for k in 0..i {
            s -= h[i * n + k] * rhs[k];
        }
        rhs[i] = s / h[i * n + i];
    }
    for i in (0..n).rev() {
        let mut s = rhs[i];
        for k in i + 1..n {
            s -= h[k * n + i] * rhs[k];
        }
        rhs[i] = s / h[i * n + i];
    }
}

/// `ln σ(x) = −ln(1 + e^{−x})`, stable for large |x|.
#[must_use]
pub fn log_sigmoid(x: f64) -> f64 {
    if x >= 0.0 {
        -(-x).exp().ln_1p()
    } else {
        x - x.exp().ln_1p()
    }
}

/// The logistic function.
#[must_use]
pub fn sigmoid(x: f64) -> f64 {
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        let e = x.exp();
        e / (1.0 + e)
    }
}

/// Quantile with linear interpolation between order statistics (numpy's default), of a sorted
/// slice.
#[must_use]
pub fn quantile_sorted(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let pos = q.clamp(0.0, 1.0) * (sorted.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = pos.ceil() as usize;
    let frac = pos - lo as f64;
    sorted[lo] + (sorted[hi] - sorted[lo]) * frac
}

/// Pearson's correlation of two equally long samples (NaN when either is constant).
#[must_use]
pub fn pearson(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len().min(b.len()) as f64;
    let (ma, mb) = (a.iter().sum::<f64>() / n, b.iter().sum::<f64>() / n);
    let (mut sab, mut saa, mut sbb) = (0.0, 0.0, 0.0);
    for (x, y) in a.iter().zip(b) {
        sab += (x - ma) * (y - mb);
        saa += (x - ma) * (x - ma);
        sbb += (y - mb) * (y - mb);
    }
    sab / (saa * sbb).sqrt()
}

/// How an L-BFGS run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Minimised {
    /// Iterations taken.
    pub iterations: usize,
    /// Whether the gradient's norm fell to the tolerance.
    pub converged: bool,
}

/// Minimises `f` from `x` (overwritten with the minimiser) by L-BFGS with 10 correction pairs
/// and a backtracking (Armijo) line search. `f(x, grad)` returns the value and writes the
/// gradient; a gradient confined to a subspace keeps the iterates in it (used to hold group
/// means fixed). Stops when `‖∇f‖ ≤ tol`, when the line search cannot decrease `f`, or after
/// `max_iter` iterations.
pub fn lbfgs(
    mut f: impl FnMut(&[f64], &mut [f64]) -> f64,
    x: &mut [f64],
    tol: f64,
    max_iter: usize,
) -> Minimised {
    const MEMORY: usize = 10;
    let dim = x.len();
    let mut g = vec![0.0; dim];
    let mut fx = f(x, &mut g);
    let mut history: std::collections::VecDeque<(Vec<f64>, Vec<f64>, f64)> =
        std::collections::VecDeque::with_capacity(MEMORY);
    let (mut xn, mut gn) = (vec![0.0; dim], vec![0.0; dim]);
    let dot = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f64>();
    for iteration in 0..max_iter {
        let gnorm = dot(&g, &g).sqrt();
        if gnorm <= tol {
            return Minimised {
                iterations: iteration,
                converged: true,
            };
        }
        // Two-loop recursion: dir = −H·g.
        let mut dir: Vec<f64> = g.iter().map(|v| -v).collect();
        let mut alphas = Vec::with_capacity(history.len());
        for (s, y, rho) in history.iter().rev() {
            let a = rho * dot(s, &dir);
            dir.iter_mut().zip(y).for_each(|(d, yv)| *d -= a * yv);
            alphas.push(a);
        }
        if let Some((s, y, _)) = history.back() {
            let gamma = dot(s, y) / dot(y, y);
            dir.iter_mut().for_each(|d| *d *= gamma);
        } else {
            // First step: at most unit length.
            let scale = 1.0 / gnorm.max(1.0);
            dir.iter_mut().for_each(|d| *d *= scale);
        }
        for ((s, y, rho), a) in history.iter().zip(alphas.iter().rev()) {
            let b = rho * dot(y, &dir);
            dir.iter_mut().zip(s).for_each(|(d, sv)| *d += (a - b) * sv);
        }
        let mut slope = dot(&dir, &g);
        if slope >= 0.0 {
            history.clear();
            dir = g.iter().map(|v| -v / gnorm.max(1.0)).collect();
            slope = dot(&dir, &g);
        }
        let mut t = 1.0;
        let accepted = loop {
            for i in 0..dim {
                xn[i] = x[i] + t * dir[i];
            }
            let fv = f(&xn, &mut gn);
            if fv.is_finite() && fv <= fx + 1e-4 * t * slope {
                break Some(fv);
            }
            t *= 0.5;
            if t < 1e-20 {
                break None;
            }
        };
        let Some(fv) = accepted else {
            return Minimised {
                iterations: iteration,
                converged: false,
            };
        };
        let s: Vec<f64> = (0..dim).map(|i| xn[i] - x[i]).collect();
        let y: Vec<f64> = (0..dim).map(|i| gn[i] - g[i]).collect();
        let sy = dot(&s, &y);
        if sy > 1e-300 {
            if history.len() == MEMORY {
                history.pop_front();
            }
            history.push_back((s, y, 1.0 / sy));
        }
        x.copy_from_slice(&xn);
        g.copy_from_slice(&gn);
        fx = fv;
    }
    Minimised {
        iterations: max_iter,
        converged: dot(&g, &g).sqrt() <= tol,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lbfgs_finds_the_minimum_of_a_quadratic_and_of_rosenbrock() {
        let mut x = vec![3.0, -2.0, 1.0];
        let r = lbfgs(
            |x, g| {
                let w = [1.0, 10.0, 100.0];
                for i in 0..3 {
                    g[i] = w[i] * (x[i] - 1.0);
                }
                (0..3).map(|i| 0.5 * w[i] * (x[i] - 1.0).powi(2)).sum()
            },
            &mut x,
            1e-10,
            500,
        );
        assert!(
            r.converged && x.iter().all(|v| (v - 1.0).abs() < 1e-9),
            "{x:?}"
        );
        let mut x = vec![-1.2, 1.0];
        let r = lbfgs(
            |x, g| {
                let (a, b) = (x[0], x[1]);
                g[0] = -2.0 * (1.0 - a) - 400.0 * a * (b - a * a);
                g[1] = 200.0 * (b - a * a);
                (1.0 - a).powi(2) + 100.0 * (b - a * a).powi(2)
            },
            &mut x,
            1e-9,
            2000,
        );
        assert!(
            r.converged && (x[0] - 1.0).abs() < 1e-6 && (x[1] - 1.0).abs() < 1e-6,
            "{x:?}"
        );
    }

    #[test]
    fn solves_a_small_system() {
        let mut h = vec![4.0, 1.0, 1.0, 3.0];
        let mut b = vec![1.0, 2.0];
        solve_spd(&mut h, &mut b, 2).unwrap();
        assert!((b[0] - 1.0 / 11.0).abs() < 1e-12 && (b[1] - 7.0 / 11.0).abs() < 1e-12);
        let mut singular = vec![1.0, 1.0, 1.0, 1.0];
        assert!(solve_spd(&mut singular, &mut [1.0, 1.0], 2).is_none());
    }

    #[test]
    fn quantiles_interpolate_like_numpy() {
        let v = [1.0, 2.0, 3.0, 4.0];
        assert!((quantile_sorted(&v, 0.025) - 1.075).abs() < 1e-12);
        assert!((quantile_sorted(&v, 0.975) - 3.925).abs() < 1e-12);
        assert!((log_sigmoid(0.0) + std::f64::consts::LN_2).abs() < 1e-15);
        assert!(log_sigmoid(-800.0).is_finite() && sigmoid(-800.0) >= 0.0);
    }
}

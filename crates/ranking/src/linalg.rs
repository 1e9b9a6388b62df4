//! The small dense linear algebra the rating fits need: a symmetric positive-definite solve.

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

#[cfg(test)]
mod tests {
    use super::*;

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

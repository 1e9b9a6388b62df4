//! Parity with ppi-python 0.2.3 (`ppi_py.ppi_logistic_pointestimate` and `ppi_logistic_ci`) on
//! simulated human and LLM-judge votes among five models, model 0 the reference.
//!
//! `tests/data/ppi_battles.txt` (one battle per line: `L a b y y_hat` for an item with both
//! votes, `U a b y_hat` for a judge vote only) and the expected numbers come from this script
//! (`python ref.py data/ppi_battles.txt`, numpy 2 and scikit-learn):
//!
//! ```python
//! import sys, json, numpy as np
//! from ppi_py import ppi_logistic_pointestimate, ppi_logistic_ci
//! rng = np.random.default_rng(20261203)
//! M = 5
//! strength = np.array([-0.7, -0.3, 0.0, 0.4, 0.8])
//! def draw(k):
//!     a = rng.integers(0, M, size=k)
//!     b = (a + rng.integers(1, M, size=k)) % M
//!     p = 1 / (1 + np.exp(-(strength[a] - strength[b])))
//!     y = (rng.random(k) < p).astype(float)
//!     # The judge: agrees with the human 75% of the time, else calls a tie (10%) or says A
//!     # with probability 0.6.
//!     agree = rng.random(k) < 0.75
//!     other = np.where(rng.random(k) < 0.1, 0.5, (rng.random(k) < 0.6).astype(float))
//!     yhat = np.where(agree, y, other)
//!     return a, b, y, yhat
//! a, b, y, yhat = draw(400)
//! ua, ub, _, uyhat = draw(5000)
//! def design(a, b):
//!     X = np.zeros((len(a), M))
//!     X[np.arange(len(a)), a] += 1
//!     X[np.arange(len(a)), b] -= 1
//!     return X[:, 1:]  # model 0 is the reference
//! X, Xu = design(a, b), design(ua, ub)
//! with open(sys.argv[1], "w") as f:
//!     for i in range(len(a)):
//!         f.write(f"L {a[i]} {b[i]} {y[i]} {yhat[i]}\n")
//!     for i in range(len(ua)):
//!         f.write(f"U {ua[i]} {ub[i]} {uyhat[i]}\n")
//! point = ppi_logistic_pointestimate(X, y, yhat, Xu, uyhat)
//! lo, hi = ppi_logistic_ci(X, y, yhat, Xu, uyhat, alpha=0.05)
//! print("point", [round(float(v), 6) for v in point])
//! print("lower", [round(float(v), 6) for v in lo])
//! print("upper", [round(float(v), 6) for v in hi])
//! ```

use ranking::ppi::{self, Labeled, PpiData, Unlabeled};
use ranking::sandwich::Z95;

const POINT: [f64; 4] = [0.372614, 0.717773, 1.358, 1.506976];
const LOWER: [f64; 4] = [0.049418, 0.382021, 0.98676, 1.156334];
const UPPER: [f64; 4] = [0.698116, 1.054173, 1.728529, 1.85885];

fn battles() -> (Vec<Labeled>, Vec<Unlabeled>) {
    let (mut labeled, mut unlabeled) = (Vec::new(), Vec::new());
    for line in include_str!("data/ppi_battles.txt").lines() {
        let f: Vec<&str> = line.split(' ').collect();
        let n = |i: usize| f[i].parse::<f64>().expect("number");
        let (a, b) = (n(1) as usize, n(2) as usize);
        match f[0] {
            "L" => labeled.push(Labeled {
                a,
                b,
                y: n(3),
                y_hat: n(4),
            }),
            _ => unlabeled.push(Unlabeled { a, b, y_hat: n(3) }),
        }
    }
    (labeled, unlabeled)
}

#[test]
fn estimates_and_intervals_equal_ppi_py() {
    let (labeled, unlabeled) = battles();
    assert_eq!((labeled.len(), unlabeled.len()), (400, 5000));
    let data = PpiData {
        n_models: 5,
        reference: 0,
        labeled: &labeled,
        unlabeled: &unlabeled,
    };
    let point = ppi::point_estimate(&data, None).unwrap();
    let fit = ppi::fit(&data, None).unwrap();
    let bounds = fit.bounds(Z95);
    assert_eq!(point[0], 0.0);
    for m in 1..5 {
        let k = m - 1;
        assert!(
            (point[m] - POINT[k]).abs() < 1e-3,
            "model {m}: {} vs {}",
            point[m],
            POINT[k]
        );
        assert!(
            (bounds[m].0 - LOWER[k]).abs() < 1e-3,
            "model {m} lower: {:?}",
            bounds[m]
        );
        assert!(
            (bounds[m].1 - UPPER[k]).abs() < 1e-3,
            "model {m} upper: {:?}",
            bounds[m]
        );
    }
    // The judge helps: the intervals are narrower than the human votes' alone.
    let human = ppi::fit(&data, Some(0.0)).unwrap();
    assert!(fit.lambda > 0.0 && fit.lambda <= 1.0, "λ {}", fit.lambda);
    assert!((1..5).all(|m| fit.se[m] < human.se[m]));
}

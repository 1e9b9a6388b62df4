//! Test data: battles drawn from known strengths.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::Outcome;

/// `count` battles among `n` models with strengths `0, 0.1, 0.2, ...` (log-10 scale) and 30%
/// ties, from a seeded generator.
pub fn random_battles(n: usize, count: usize, seed: u64) -> Vec<(usize, usize, Outcome)> {
    let strength: Vec<f64> = (0..n)
        .map(|i| 0.1 * i as f64 * std::f64::consts::LN_10)
        .collect();
    battles_from(&strength, count, 0.3, seed)
}

/// `count` battles among models of these natural-log strengths (Bradley–Terry outcomes), a
/// `ties` share of them ties, from a seeded generator.
pub fn battles_from(
    strength: &[f64],
    count: usize,
    ties: f64,
    seed: u64,
) -> Vec<(usize, usize, Outcome)> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let n = strength.len();
    (0..count)
        .map(|_| {
            let a = rng.random_range(0..n);
            let b = (a + rng.random_range(1..n)) % n;
            let p = crate::linalg::sigmoid(strength[a] - strength[b]);
            let outcome = if rng.random_bool(ties) {
                Outcome::Tie
            } else if rng.random_bool(p) {
                Outcome::A
            } else {
                Outcome::B
            };
            (a, b, outcome)
        })
        .collect()
}

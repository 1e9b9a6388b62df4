//! Test data: battles drawn from known strengths.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::Outcome;

/// `count` battles among `n` models with strengths `0, 0.1, 0.2, ...` (natural scale) and 30%
/// ties, from a seeded generator.
pub fn random_battles(n: usize, count: usize, seed: u64) -> Vec<(usize, usize, Outcome)> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..count)
        .map(|_| {
            let a = rng.random_range(0..n);
            let b = (a + rng.random_range(1..n)) % n;
            let p = 1.0 / (1.0 + 10f64.powf((b as f64 - a as f64) * 0.1));
            let outcome = if rng.random_bool(0.3) {
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

//! Online Elo in time order, as Chatbot Arena computes it (docs/design.md §5.2).

use crate::Outcome;

/// Settings of the online Elo update.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EloConfig {
    /// Step size K.
    pub k: f64,
    /// Rating every model starts from.
    pub initial: f64,
    /// Scale of the logistic curve (400 in chess and Chatbot Arena).
    pub scale: f64,
    /// Base of the logistic curve (10).
    pub base: f64,
}

impl EloConfig {
    /// Chatbot Arena's settings: K = 4, start 1000, scale 400, base 10.
    #[must_use]
    pub const fn new() -> Self {
        Self {
            k: 4.0,
            initial: 1000.0,
            scale: 400.0,
            base: 10.0,
        }
    }
}

impl Default for EloConfig {
    fn default() -> Self {
        Self::new()
    }
}

/// Expected score of A against B.
///
/// ```
/// use ranking::elo::{expected_score, EloConfig};
/// let e = expected_score(1100.0, 1000.0, &EloConfig::new());
/// assert!((e - 0.640_065).abs() < 1e-6);
/// ```
#[must_use]
pub fn expected_score(rating_a: f64, rating_b: f64, config: &EloConfig) -> f64 {
    1.0 / (1.0 + config.base.powf((rating_b - rating_a) / config.scale))
}

/// Runs the online Elo update over `battles` (model index A, model index B, outcome), in the
/// order given, for `n_models` models, and returns each model's final rating.
///
/// # Panics
/// Never for valid input; an index `>= n_models` is a caller bug and panics on indexing.
///
/// ```
/// use ranking::{elo::{online_elo, EloConfig}, Outcome};
/// let r = online_elo(2, &[(0, 1, Outcome::A)], &EloConfig::new());
/// assert_eq!(r, vec![1002.0, 998.0]);
/// ```
#[must_use]
pub fn online_elo(
    n_models: usize,
    battles: &[(usize, usize, Outcome)],
    config: &EloConfig,
) -> Vec<f64> {
    let mut ratings = vec![config.initial; n_models];
    // `base^(x/scale) = e^(αx)`: one `exp` per battle instead of a `powf`, as FastChat writes it.
    let alpha = config.base.ln() / config.scale;
    for &(a, b, outcome) in battles {
        let expected = 1.0 / (1.0 + (alpha * (ratings[b] - ratings[a])).exp());
        let delta = config.k * (outcome.score_a() - expected);
        ratings[a] += delta;
        ratings[b] -= delta;
    }
    ratings
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ties_between_equals_change_nothing_and_total_is_conserved() {
        let cfg = EloConfig::new();
        let r = online_elo(3, &[(0, 1, Outcome::Tie), (1, 0, Outcome::BothBad)], &cfg);
        assert_eq!(r, vec![1000.0, 1000.0, 1000.0]);
        let r = online_elo(
            3,
            &[(0, 1, Outcome::A), (1, 2, Outcome::B), (2, 0, Outcome::Tie)],
            &cfg,
        );
        assert!((r.iter().sum::<f64>() - 3000.0).abs() < 1e-9);
        assert!(r[0] > 1000.0 && r[1] < 1000.0);
    }

    #[test]
    fn swapping_sides_with_inverted_outcome_gives_the_same_ratings() {
        let cfg = EloConfig::new();
        let battles = [(0, 1, Outcome::A), (1, 2, Outcome::Tie), (0, 2, Outcome::B)];
        let swapped: Vec<_> = battles
            .iter()
            .map(|&(a, b, o)| (b, a, o.swapped()))
            .collect();
        let r1 = online_elo(3, &battles, &cfg);
        let r2 = online_elo(3, &swapped, &cfg);
        for (x, y) in r1.iter().zip(&r2) {
            assert!((x - y).abs() < 1e-12);
        }
    }
}

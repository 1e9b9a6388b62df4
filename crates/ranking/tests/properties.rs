//! Property tests of the Bradley–Terry fit.

use proptest::prelude::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use ranking::Outcome;
use ranking::bt::{self, BtConfig, Counts};

fn outcome() -> impl Strategy<Value = Outcome> {
    prop_oneof![
        Just(Outcome::A),
        Just(Outcome::B),
        Just(Outcome::Tie),
        Just(Outcome::BothBad)
    ]
}

/// Battles among 4 models, each pair meeting with every outcome at least once (so every MLE is
/// finite), plus arbitrary extra battles.
fn battles() -> impl Strategy<Value = Vec<(usize, usize, Outcome)>> {
    prop::collection::vec((0usize..4, 0usize..4, outcome()), 0..200).prop_map(|extra| {
        let mut v: Vec<_> = extra.into_iter().filter(|(a, b, _)| a != b).collect();
        for a in 0..4 {
            for b in 0..4 {
                if a != b {
                    v.push((a, b, Outcome::A));
                    v.push((a, b, Outcome::Tie));
                }
            }
        }
        v
    })
}

fn ratings(battles: &[(usize, usize, Outcome)]) -> Vec<f64> {
    let counts = Counts::from_battles(4, battles.iter().copied());
    let fit = bt::fit(&counts, &[false; 4], None, &BtConfig::new());
    assert!(fit.converged);
    fit.scaled(&BtConfig::new())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn order_of_votes_does_not_matter(v in battles(), seed in any::<u64>()) {
        let mut shuffled = v.clone();
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        for i in (1..shuffled.len()).rev() {
            shuffled.swap(i, rng.random_range(0..=i));
        }
        for (x, y) in ratings(&v).iter().zip(ratings(&shuffled)) {
            prop_assert!((x - y).abs() < 1e-6);
        }
    }

    #[test]
    fn swapping_sides_with_inverted_outcomes_does_not_matter(v in battles()) {
        let swapped: Vec<_> = v.iter().map(|&(a, b, o)| (b, a, o.swapped())).collect();
        for (x, y) in ratings(&v).iter().zip(ratings(&swapped)) {
            prop_assert!((x - y).abs() < 1e-6);
        }
    }
}

#[test]
fn known_strengths_are_recovered() {
    let truth = [-0.5, -0.2, 0.0, 0.25, 0.45];
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let battles: Vec<_> = (0..60_000)
        .map(|_| {
            let a = rng.random_range(0..5);
            let b = (a + rng.random_range(1..5)) % 5;
            let p = 1.0 / (1.0 + 10f64.powf(truth[b] - truth[a]));
            (
                a,
                b,
                if rng.random_bool(p) {
                    Outcome::A
                } else {
                    Outcome::B
                },
            )
        })
        .collect();
    let counts = Counts::from_battles(5, battles);
    let fit = bt::fit(&counts, &[false; 5], None, &BtConfig::new());
    let mean = truth.iter().sum::<f64>() / 5.0;
    for (got, want) in fit.natural.iter().zip(truth) {
        assert!(
            (got - (want - mean)).abs() < 0.02,
            "{got} vs {}",
            want - mean
        );
    }
}

//! The committed 4,000-battle log whose pairs have very unequal vote counts
//! (`data/arena_unbalanced.csv`, models `m00`–`m09`), shared by the parity tests.

use ranking::Outcome;
use ranking::bt::Counts;

/// The log as counts; model `mNN` is index `NN`.
pub fn unbalanced() -> Counts {
    unbalanced_with(|_| true)
}

/// Its "both bad" battles alone (part of the ties of [`unbalanced`]).
#[allow(dead_code, reason = "not every parity test reads it")]
pub fn unbalanced_both_bad() -> Counts {
    unbalanced_with(|o| o == Outcome::BothBad)
}

fn unbalanced_with(keep: impl Fn(Outcome) -> bool) -> Counts {
    let index = |name: &str| name[1..].parse::<usize>().expect("model mNN");
    let battles = include_str!("../data/arena_unbalanced.csv")
        .lines()
        .skip(1)
        .map(|line| {
            let f: Vec<&str> = line.split(',').collect();
            let outcome = match f[2] {
                "model_a" => Outcome::A,
                "model_b" => Outcome::B,
                "tie" => Outcome::Tie,
                _ => Outcome::BothBad,
            };
            (index(f[0]), index(f[1]), outcome)
        })
        .filter(|b| keep(b.2));
    Counts::from_battles(10, battles)
}

//! Pure maths for Verdict's leaderboards (docs/design.md §5): no IO, no async, no database rows.
//!
//! The Bradley–Terry fit, bootstrap, style control, agreement statistics and the pair sampler
//! build on the types here.

pub mod active;
pub mod agreement;
pub mod audit;
pub mod bt;
pub mod cohort;
pub mod consistency;
pub mod elo;
pub mod gate;
pub mod leaderboard;
pub mod linalg;
pub mod noisy_bt;
pub mod ppi;
pub mod sampler;
pub mod sandwich;
pub mod style;
#[cfg(test)]
mod testing;
pub mod ties;

use serde::{Deserialize, Serialize};

/// The result of one pairwise judgement, seen from model A.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// A is better.
    A,
    /// B is better.
    B,
    /// Both are equally good.
    Tie,
    /// Both are bad (scored as a tie, as Chatbot Arena does).
    BothBad,
}

impl Outcome {
    /// Model A's score: win 1, loss 0, `tie` and `both_bad` 0.5 (docs/design.md §5.1).
    ///
    /// ```
    /// use ranking::Outcome;
    /// assert_eq!(Outcome::A.score_a(), 1.0);
    /// assert_eq!(Outcome::BothBad.score_a(), 0.5);
    /// ```
    #[must_use]
    pub const fn score_a(self) -> f64 {
        match self {
            Self::A => 1.0,
            Self::B => 0.0,
            Self::Tie | Self::BothBad => 0.5,
        }
    }

    /// The same judgement with the sides swapped.
    #[must_use]
    pub const fn swapped(self) -> Self {
        match self {
            Self::A => Self::B,
            Self::B => Self::A,
            other => other,
        }
    }

    /// Parses the stored name (`a`, `b`, `tie`, `both_bad`).
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "a" => Some(Self::A),
            "b" => Some(Self::B),
            "tie" => Some(Self::Tie),
            "both_bad" => Some(Self::BothBad),
            _ => None,
        }
    }
}

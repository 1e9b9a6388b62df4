//! Does the order that ratings (or a ranking) give two responses agree with the pairwise
//! choice between them (docs/design.md §5.9)? Ties on either side are counted apart.

use serde::{Deserialize, Serialize};

/// Which of two responses a judgement prefers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pref {
    /// The first.
    First,
    /// The second.
    Second,
    /// Neither.
    Tie,
}

impl Pref {
    /// The preference of higher-is-better values (scores, or negated rank places).
    #[must_use]
    pub fn from_values(first: f64, second: f64) -> Self {
        if first > second {
            Self::First
        } else if first < second {
            Self::Second
        } else {
            Self::Tie
        }
    }
}

/// Comparisons of an order (from ratings or a ranking) with a choice.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    /// Response pairs compared.
    pub pairs: usize,
    /// Both decisive, same response.
    pub agree: usize,
    /// Both decisive, opposite responses.
    pub disagree: usize,
    /// The order ties, the choice is decisive.
    pub order_tie: usize,
    /// The choice is a tie (or "both bad"), the order is decisive.
    pub choice_tie: usize,
    /// Both tie.
    pub both_tie: usize,
}

impl Counts {
    /// Adds one comparison.
    pub fn add(&mut self, order: Pref, choice: Pref) {
        self.pairs += 1;
        match (order, choice) {
            (Pref::Tie, Pref::Tie) => self.both_tie += 1,
            (Pref::Tie, _) => self.order_tie += 1,
            (_, Pref::Tie) => self.choice_tie += 1,
            (o, c) if o == c => self.agree += 1,
            _ => self.disagree += 1,
        }
    }

    /// Share of decisive comparisons (both sides decisive) that disagree.
    #[must_use]
    pub fn disagreement(&self) -> Option<f64> {
        let decisive = self.agree + self.disagree;
        (decisive > 0).then(|| self.disagree as f64 / decisive as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ties_are_counted_apart() {
        let mut c = Counts::default();
        c.add(Pref::from_values(5.0, 3.0), Pref::First);
        c.add(Pref::from_values(5.0, 3.0), Pref::Second);
        c.add(Pref::from_values(2.0, 6.0), Pref::Second);
        c.add(Pref::from_values(4.0, 4.0), Pref::First);
        c.add(Pref::First, Pref::Tie);
        c.add(Pref::Tie, Pref::Tie);
        assert_eq!(
            c,
            Counts {
                pairs: 6,
                agree: 2,
                disagree: 1,
                order_tie: 1,
                choice_tie: 1,
                both_tie: 1
            }
        );
        assert!((c.disagreement().unwrap() - 1.0 / 3.0).abs() < 1e-12);
        assert_eq!(Counts::default().disagreement(), None);
    }
}

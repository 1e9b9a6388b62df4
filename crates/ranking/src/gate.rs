//! The promotion gate of a training policy (docs/design.md §3, flow 6): a child model battles
//! its champion head to head; once enough battles are decided, the 95% Wilson interval of its
//! win rate says whether it is better (promote), worse (retire), or not yet known (keep
//! battling, up to a cap, then retire).

use crate::leaderboard::wilson;
use crate::sandwich::Z95;

/// What the gate decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Too few decided battles, or the interval still straddles 0.5 below the cap.
    Wait,
    /// The interval's lower bound is above 0.5: the child becomes the champion.
    Promote,
    /// The interval's upper bound is below 0.5: the child is worse.
    Retire,
    /// The cap was reached with the interval still straddling 0.5.
    RetireAtCap,
}

/// The gate's reading of a head-to-head record.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Gate {
    /// The decision.
    pub decision: Decision,
    /// The child's win rate over decided battles (ties left out), if any.
    pub win_rate: Option<f64>,
    /// Its 95% Wilson interval, if any.
    pub interval: Option<(f64, f64)>,
}

/// Decides on `wins` and `losses` of the child (ties do not count) with at least `min` decided
/// battles before any decision and at most `max` before giving up.
#[must_use]
pub fn decide(wins: u64, losses: u64, min: u64, max: u64) -> Gate {
    let n = wins + losses;
    let interval = wilson(wins as f64, n as f64, Z95);
    let win_rate = (n > 0).then(|| wins as f64 / n as f64);
    let decision = match interval {
        Some((lower, _)) if n >= min && lower > 0.5 => Decision::Promote,
        Some((_, upper)) if n >= min && upper < 0.5 => Decision::Retire,
        _ if n >= max.max(min) => Decision::RetireAtCap,
        _ => Decision::Wait,
    };
    Gate {
        decision,
        win_rate,
        interval,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_interval_decides_once_enough_battles_are_in() {
        // 20 of 20 is clear, but not before the minimum.
        assert_eq!(decide(9, 0, 10, 50).decision, Decision::Wait);
        assert_eq!(decide(20, 0, 10, 50).decision, Decision::Promote);
        assert_eq!(decide(2, 18, 10, 50).decision, Decision::Retire);
        // 12 of 20: Wilson (0.387, 0.781) straddles 0.5.
        let g = decide(12, 8, 10, 50);
        assert_eq!(g.decision, Decision::Wait);
        let (lo, hi) = g.interval.unwrap();
        assert!((lo - 0.386_582).abs() < 1e-5 && (hi - 0.781_193).abs() < 1e-5);
        assert_eq!(decide(25, 25, 10, 50).decision, Decision::RetireAtCap);
        // 40 of 60 clears the bar (lower ≈ 0.54) even past the cap.
        assert_eq!(decide(40, 20, 10, 50).decision, Decision::Promote);
        assert_eq!(decide(0, 0, 0, 0).decision, Decision::RetireAtCap);
    }
}

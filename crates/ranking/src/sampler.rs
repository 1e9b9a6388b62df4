//! Which two models should meet next (docs/design.md §5.7): pairs that teach the leaderboard the
//! most, i.e. whose outcome is least predictable (ratings close) and whose ratings are least
//! certain (wide intervals, few battles), weighted by admin-set per-model weights.

use rand::Rng;

/// What the sampler knows about a model.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Candidate {
    /// Admin-set weight (0 = never scheduled).
    pub weight: f64,
    /// Current rating, if it has one.
    pub rating: Option<f64>,
    /// Width of its 95% interval (upper − lower), if known.
    pub ci_width: Option<f64>,
}

/// Settings of the sampler.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SamplerConfig {
    /// Interval width assumed for a model without one (new models: explore them first).
    pub unknown_width: f64,
    /// Share of the mean score every eligible pair keeps, so no pair is ever starved.
    pub floor: f64,
    /// Scale and base of the rating curve (400, 10).
    pub scale: f64,
    /// Base of the rating curve.
    pub base: f64,
}

impl SamplerConfig {
    /// Defaults: unknown models count as ±200 points, a 5% floor.
    #[must_use]
    pub const fn new() -> Self {
        Self {
            unknown_width: 400.0,
            floor: 0.05,
            scale: 400.0,
            base: 10.0,
        }
    }
}

impl Default for SamplerConfig {
    fn default() -> Self {
        Self::new()
    }
}

/// Scores every unordered pair `(i, j)`, `i < j`, of models with positive weight:
/// `w_i·w_j · p(1−p) · (σ_i² + σ_j²) / √(1 + n_ij)`, with `p` the predicted win probability,
/// `σ` a quarter of the interval width and `n_ij` the battles so far, plus a small floor.
/// `battles[i][j]` counts their battles (either side).
#[must_use]
pub fn pair_scores(
    models: &[Candidate],
    battles: &[Vec<f64>],
    cfg: &SamplerConfig,
) -> Vec<(usize, usize, f64)> {
    let mut scores = Vec::new();
    for i in 0..models.len() {
        for j in i + 1..models.len() {
            let (a, b) = (models[i], models[j]);
            if a.weight <= 0.0 || b.weight <= 0.0 {
                continue;
            }
            let p = match (a.rating, b.rating) {
                (Some(ra), Some(rb)) => 1.0 / (1.0 + cfg.base.powf((rb - ra) / cfg.scale)),
                _ => 0.5,
            };
            let sigma = |c: Candidate| {
                c.ci_width
                    .filter(|w| w.is_finite())
                    .unwrap_or(cfg.unknown_width)
                    / 4.0
            };
            let n = battles
                .get(i)
                .and_then(|r| r.get(j))
                .copied()
                .unwrap_or(0.0);
            let info = p * (1.0 - p) * (sigma(a).powi(2) + sigma(b).powi(2)) / (1.0 + n).sqrt();
            scores.push((i, j, a.weight * b.weight * info));
        }
    }
    if !scores.is_empty() {
        let mean = scores.iter().map(|s| s.2).sum::<f64>() / scores.len() as f64;
        for s in &mut scores {
            s.2 += cfg.floor * mean;
        }
    }
    scores
}

/// Draws a pair in proportion to its score and puts it on random sides: `(left, right)`.
/// `None` when fewer than two models may be scheduled.
pub fn sample_pair(scores: &[(usize, usize, f64)], rng: &mut impl Rng) -> Option<(usize, usize)> {
    let total: f64 = scores.iter().map(|s| s.2).sum();
    if scores.is_empty() || total <= 0.0 || !total.is_finite() {
        return None;
    }
    let mut x = rng.random_range(0.0..total);
    let mut chosen = scores[scores.len() - 1];
    for s in scores {
        if x < s.2 {
            chosen = *s;
            break;
        }
        x -= s.2;
    }
    Some(if rng.random_bool(0.5) {
        (chosen.0, chosen.1)
    } else {
        (chosen.1, chosen.0)
    })
}

/// Battles a trained model plays against its parent before it joins the normal draw.
pub const LINEAGE_BATTLES: f64 = 20.0;

/// A new model Verdict trained meets its parent first: among candidates whose parent is also a
/// candidate (`parents[i]` is the parent's index) and that have fewer than `min_battles`
/// decided battles against it, the pair with the fewest, on random sides.
#[must_use]
pub fn lineage_first(
    parents: &[Option<usize>],
    battles: &[Vec<f64>],
    min_battles: f64,
    rng: &mut impl Rng,
) -> Option<(usize, usize)> {
    let (child, parent) = parents
        .iter()
        .enumerate()
        .filter_map(|(c, p)| Some((c, (*p)?)))
        .filter(|&(c, p)| c != p && battles[c][p] < min_battles)
        .min_by(|a, b| battles[a.0][a.1].total_cmp(&battles[b.0][b.1]))?;
    Some(if rng.random_bool(0.5) {
        (child, parent)
    } else {
        (parent, child)
    })
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    use super::*;

    fn known(rating: f64, width: f64) -> Candidate {
        Candidate {
            weight: 1.0,
            rating: Some(rating),
            ci_width: Some(width),
        }
    }

    fn score(scores: &[(usize, usize, f64)], i: usize, j: usize) -> f64 {
        scores.iter().find(|s| s.0 == i && s.1 == j).unwrap().2
    }

    #[test]
    fn close_and_uncertain_pairs_score_higher() {
        let models = [
            known(1000.0, 40.0),
            known(1010.0, 40.0),
            known(1400.0, 40.0),
            known(1005.0, 200.0),
        ];
        let none = vec![vec![0.0; 4]; 4];
        let s = pair_scores(&models, &none, &SamplerConfig::new());
        assert!(score(&s, 0, 1) > score(&s, 0, 2), "close beats far apart");
        assert!(
            score(&s, 0, 3) > score(&s, 0, 1),
            "wide interval beats narrow"
        );
        let mut many = none.clone();
        many[0][1] = 10_000.0;
        let s2 = pair_scores(&models, &many, &SamplerConfig::new());
        assert!(
            score(&s2, 0, 1) < score(&s, 0, 1),
            "many battles lower the score"
        );
    }

    #[test]
    fn weights_steer_and_zero_excludes() {
        let mut models = [
            known(1000.0, 50.0),
            known(1000.0, 50.0),
            known(1000.0, 50.0),
        ];
        models[2].weight = 0.0;
        let s = pair_scores(&models, &[], &SamplerConfig::new());
        assert_eq!(s.len(), 1);
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let mut left = 0;
        for _ in 0..1000 {
            let (a, b) = sample_pair(&s, &mut rng).unwrap();
            assert!(a != 2 && b != 2);
            left += usize::from(a == 0);
        }
        assert!((400..600).contains(&left), "sides are random: {left}");
        assert!(sample_pair(&[], &mut rng).is_none());
    }

    #[test]
    fn sampling_follows_the_scores() {
        let scores = [(0, 1, 9.0), (1, 2, 1.0)];
        let mut rng = ChaCha8Rng::seed_from_u64(2);
        let hits = (0..10_000)
            .filter(|_| {
                let (a, b) = sample_pair(&scores, &mut rng).unwrap();
                a.min(b) == 0
            })
            .count();
        assert!((8_700..9_300).contains(&hits), "{hits}");
    }

    #[test]
    fn a_child_meets_its_parent_first() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        // 0 is the parent of 2 (5 battles so far) and of 3 (1 battle); 1 has no parent.
        let parents = [None, None, Some(0), Some(0)];
        let mut battles = vec![vec![0.0; 4]; 4];
        battles[0][2] = 5.0;
        battles[2][0] = 5.0;
        battles[0][3] = 1.0;
        battles[3][0] = 1.0;
        let mut sides = [0, 0];
        for _ in 0..50 {
            let (l, r) = lineage_first(&parents, &battles, LINEAGE_BATTLES, &mut rng).unwrap();
            assert!(
                (l, r) == (3, 0) || (l, r) == (0, 3),
                "the child with fewer battles: {l} {r}"
            );
            sides[usize::from(l == 3)] += 1;
        }
        assert!(sides[0] > 10 && sides[1] > 10, "random sides: {sides:?}");
        // Once both children have played enough, the normal draw takes over.
        for (c, n) in [(2, 20.0), (3, 25.0)] {
            battles[0][c] = n;
            battles[c][0] = n;
        }
        assert_eq!(
            lineage_first(&parents, &battles, LINEAGE_BATTLES, &mut rng),
            None
        );
        assert_eq!(
            lineage_first(&[None, None], &battles, LINEAGE_BATTLES, &mut rng),
            None
        );
    }
}

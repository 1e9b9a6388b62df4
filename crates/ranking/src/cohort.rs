//! Cohort offsets (docs/design.md §5.17): how much more a cohort of annotators prefers each
//! model than everyone else does, as rating points with a 95% interval and a Wald test.
//!
//! The model `logit = (θ_a + δ_a·c) − (θ_b + δ_b·c)`, with `c = 1` for the cohort's votes, has
//! a likelihood that splits into the cohort's and the others' Bradley–Terry likelihoods. So
//! `θ + δ` is the cohort's own fit and `θ` the others', each centred over the models both rate,
//! and `δ = r_cohort − r_others`. The two samples are disjoint, so `Var δ` is the sum of the two
//! sandwich variances.

use serde::{Deserialize, Serialize};

use crate::bt::{self, BtConfig, Counts};
use crate::sandwich;

/// One model's offset in a cohort.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CohortOffset {
    /// The cohort's rating minus the others' (rating points).
    pub offset: f64,
    /// Lower 95% bound.
    pub lower: f64,
    /// Upper 95% bound.
    pub upper: f64,
    /// Wald statistic `offset / se`.
    pub z: f64,
    /// Two-sided p-value of "the cohort rates this model as the others do".
    pub p_value: f64,
}

/// Offsets per model (`None` where a model lacks a finite rating on either side).
#[must_use]
pub fn offsets(cohort: &Counts, others: &Counts, cfg: &BtConfig) -> Vec<Option<CohortOffset>> {
    let n = cohort.n_models;
    assert_eq!(n, others.n_models, "both sides count the same models");
    let unrated = |c: &Counts| -> Vec<bool> {
        let votes = c.votes_per_model();
        bt::unbounded_models(c)
            .iter()
            .zip(votes)
            .map(|(u, v)| u.is_some() || v == 0.0)
            .collect()
    };
    let (a, b) = (unrated(cohort), unrated(others));
    // Both fits centre over the same models, so that their difference means something.
    let excluded: Vec<bool> = (0..n).map(|m| a[m] || b[m]).collect();
    let side = |c: &Counts| {
        let fit = bt::fit(c, &excluded, None, cfg);
        let var = sandwich::variances(c, None, &excluded, &fit, cfg);
        (fit.scaled(cfg), var)
    };
    let (r_in, v_in) = side(cohort);
    let (r_out, v_out) = side(others);
    let per_theta = cfg.scale / cfg.base.ln();
    (0..n)
        .map(|m| {
            let offset = r_in[m] - r_out[m];
            let se = (v_in[m] + v_out[m]).sqrt() * per_theta;
            (!excluded[m] && offset.is_finite() && se.is_finite() && se > 0.0).then(|| {
                let z = offset / se;
                CohortOffset {
                    offset,
                    lower: offset - sandwich::Z95 * se,
                    upper: offset + sandwich::Z95 * se,
                    z,
                    p_value: 2.0 * normal_upper_tail(z.abs()),
                }
            })
        })
        .collect()
}

/// `P(Z > x)` for a standard normal `Z`, from `erfc` (Numerical Recipes' Chebyshev fit,
/// relative error below 1.2·10⁻⁷).
#[must_use]
pub fn normal_upper_tail(x: f64) -> f64 {
    0.5 * erfc(x / std::f64::consts::SQRT_2)
}

fn erfc(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let poly = -z * z - 1.265_512_23
        + t * (1.000_023_68
            + t * (0.374_091_96
                + t * (0.096_784_18
                    + t * (-0.186_288_06
                        + t * (0.278_868_07
                            + t * (-1.135_203_98
                                + t * (1.488_515_87 + t * (-0.822_152_23 + t * 0.170_872_77))))))));
    let r = t * poly.exp();
    if x >= 0.0 { r } else { 2.0 - r }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn votes(strength: &[f64], n: usize, ties: f64, seed: u64) -> Counts {
        Counts::from_battles(
            strength.len(),
            crate::testing::battles_from(strength, n, ties, seed),
        )
    }

    #[test]
    fn the_normal_tail_is_right() {
        assert!((normal_upper_tail(0.0) - 0.5).abs() < 1e-7);
        assert!((normal_upper_tail(1.959_963_984_540_054) - 0.025).abs() < 1e-8);
        assert!((normal_upper_tail(3.0) - 0.001_349_898_031_630_094_6).abs() < 1e-9);
        assert!((normal_upper_tail(-1.0) - 0.841_344_746_068_542_9).abs() < 1e-7);
    }

    #[test]
    fn a_cohort_that_prefers_one_model_shows_it_and_only_it() {
        let others = [-0.6, -0.2, 0.0, 0.3, 0.5];
        // The cohort likes model 1 by 0.8 natural units more than the others do.
        let mut cohort = others;
        cohort[1] += 0.8;
        // No ties: ties counted as half a win shrink every fitted gap, truth included.
        let lb = offsets(
            &votes(&cohort, 6000, 0.0, 1),
            &votes(&others, 20000, 0.0, 2),
            &BtConfig::new(),
        );
        let per_theta = 400.0 / 10f64.ln();
        // The true offsets once both sides are centred: +0.8 on model 1, −0.16 on the rest.
        let truth = |m: usize| per_theta * if m == 1 { 0.64 } else { -0.16 };
        for (m, o) in lb.iter().enumerate() {
            let o = o.unwrap();
            assert!(
                o.lower < truth(m) && truth(m) < o.upper,
                "model {m}: {o:?} vs {}",
                truth(m)
            );
        }
        let liked = lb[1].unwrap();
        assert!(liked.offset > 80.0 && liked.p_value < 1e-6, "{liked:?}");
    }

    #[test]
    fn a_cohort_like_the_rest_has_no_significant_offsets() {
        let strength = [-0.5, 0.0, 0.2, 0.6];
        let lb = offsets(
            &votes(&strength, 4000, 0.2, 3),
            &votes(&strength, 12000, 0.2, 4),
            &BtConfig::new(),
        );
        for o in lb.iter().map(|o| o.unwrap()) {
            assert!(o.p_value > 0.01, "{o:?}");
            assert!(o.lower < 0.0 && 0.0 < o.upper, "{o:?}");
        }
    }

    #[test]
    fn models_missing_on_one_side_get_no_offset() {
        let strength = [-0.5, 0.0, 0.5];
        let cohort = votes(&strength, 3000, 0.2, 5);
        // The others never saw model 2.
        let mut others = votes(&strength, 3000, 0.2, 6);
        others.triples.retain(|t| t.a != 2 && t.b != 2);
        let lb = offsets(&cohort, &others, &BtConfig::new());
        assert!(lb[2].is_none());
        assert!(lb[0].is_some() && lb[1].is_some());
    }
}

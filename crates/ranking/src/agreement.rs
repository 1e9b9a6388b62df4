//! Inter-annotator agreement (docs/design.md §5.8): Cohen's κ for two annotators, Fleiss' κ for a
//! fixed number of ratings per item, Krippendorff's α (nominal, interval, ordinal) with missing
//! values, and per-annotator quality figures. Pure functions; the references are scikit-learn's
//! `cohen_kappa_score`, statsmodels' `fleiss_kappa` and the `krippendorff` package.

use std::collections::BTreeMap;

/// Cohen's κ of two annotators' labels on the same items (unweighted, as scikit-learn's
/// `cohen_kappa_score`). `None` for no items, different lengths, or when chance agreement is
/// total (both always gave one and the same label).
#[must_use]
pub fn cohen_kappa(a: &[i64], b: &[i64]) -> Option<f64> {
    if a.is_empty() || a.len() != b.len() {
        return None;
    }
    let n = a.len() as f64;
    let mut pa: BTreeMap<i64, f64> = BTreeMap::new();
    let mut pb: BTreeMap<i64, f64> = BTreeMap::new();
    let mut agree = 0.0;
    for (x, y) in a.iter().zip(b) {
        *pa.entry(*x).or_default() += 1.0 / n;
        *pb.entry(*y).or_default() += 1.0 / n;
        if x == y {
            agree += 1.0;
        }
    }
    let po = agree / n;
    let pe: f64 = pa.iter().map(|(k, p)| p * pb.get(k).unwrap_or(&0.0)).sum();
    if (1.0 - pe).abs() < 1e-15 {
        return None;
    }
    Some((po - pe) / (1.0 - pe))
}

/// Fleiss' κ from an items × categories table of rating counts, every item rated by the same
/// number of raters (as statsmodels' `fleiss_kappa`). `None` when that number is below 2,
/// differs between items, or chance agreement is total.
#[must_use]
pub fn fleiss_kappa(table: &[Vec<f64>]) -> Option<f64> {
    let raters: f64 = table.first()?.iter().sum();
    if raters < 2.0
        || table
            .iter()
            .any(|r| (r.iter().sum::<f64>() - raters).abs() > 1e-9)
    {
        return None;
    }
    let items = table.len() as f64;
    let cats = table[0].len();
    let p_bar = table
        .iter()
        .map(|r| (r.iter().map(|c| c * c).sum::<f64>() - raters) / (raters * (raters - 1.0)))
        .sum::<f64>()
        / items;
    let pe: f64 = (0..cats)
        .map(|j| {
            let p = table.iter().map(|r| r[j]).sum::<f64>() / (items * raters);
            p * p
        })
        .sum();
    if (1.0 - pe).abs() < 1e-15 {
        return None;
    }
    Some((p_bar - pe) / (1.0 - pe))
}

/// Krippendorff's α's level of measurement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// Categories without order (pairwise choices).
    Nominal,
    /// Numbers with meaningful differences (ratings).
    Interval,
    /// Ordered categories (ratings read as ranks).
    Ordinal,
}

/// Krippendorff's α of `data`, one row per coder and one column per unit, `None` where a coder
/// did not judge the unit (as the `krippendorff` package's `alpha(reliability_data=...)`).
/// Units with fewer than two values are left out. `None` when fewer than two values remain
/// pairable or all values are equal.
#[must_use]
pub fn krippendorff_alpha(data: &[Vec<Option<f64>>], level: Level) -> Option<f64> {
    let units = data.iter().map(Vec::len).max()?;
    // The distinct values, in order.
    let mut values: Vec<f64> = data.iter().flatten().flatten().copied().collect();
    values.sort_by(f64::total_cmp);
    values.dedup();
    let v = values.len();
    let index = |x: f64| values.partition_point(|&y| y < x);
    // Coincidence matrix.
    let mut o = vec![vec![0.0; v]; v];
    for u in 0..units {
        let in_unit: Vec<usize> = data
            .iter()
            .filter_map(|row| row.get(u).copied().flatten())
            .map(index)
            .collect();
        let m = in_unit.len();
        if m < 2 {
            continue;
        }
        for (i, &c) in in_unit.iter().enumerate() {
            for (j, &k) in in_unit.iter().enumerate() {
                if i != j {
                    o[c][k] += 1.0 / (m as f64 - 1.0);
                }
            }
        }
    }
    let n_c: Vec<f64> = o.iter().map(|r| r.iter().sum()).collect();
    let n: f64 = n_c.iter().sum();
    if n < 2.0 {
        return None;
    }
    let delta = |c: usize, k: usize| -> f64 {
        match level {
            Level::Nominal => f64::from(u8::from(c != k)),
            Level::Interval => (values[c] - values[k]).powi(2),
            Level::Ordinal => {
                let (lo, hi) = (c.min(k), c.max(k));
                let between: f64 = n_c[lo..=hi].iter().sum();
                (between - (n_c[c] + n_c[k]) / 2.0).powi(2)
            }
        }
    };
    let mut observed = 0.0;
    let mut expected = 0.0;
    for c in 0..v {
        for k in 0..v {
            let d = delta(c, k);
            observed += o[c][k] * d;
            expected += n_c[c] * n_c[k] * d;
        }
    }
    if expected == 0.0 {
        return None;
    }
    Some(1.0 - (n - 1.0) * observed / expected)
}

/// One judgement, as the per-annotator table reads it.
#[derive(Debug, Clone, PartialEq)]
pub struct Judgement {
    /// Annotator (index or id).
    pub annotator: i64,
    /// The item (or item and response pair) judged.
    pub unit: i64,
    /// The verdict, in a form comparable across annotators (e.g. `a`/`b`/`tie` as codes).
    pub label: i64,
    /// Whether it was a tie (or "both bad").
    pub tie: bool,
    /// For pairwise choices: whether the response shown on the left was picked.
    pub picked_left: Option<bool>,
    /// Milliseconds taken.
    pub time_ms: Option<f64>,
    /// For gold items: whether it matched the known answer.
    pub gold_correct: Option<bool>,
}

/// An annotator's figures.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct AnnotatorStats {
    /// The annotator.
    pub annotator: i64,
    /// Judgements.
    pub judgements: usize,
    /// Median milliseconds per judgement.
    pub median_time_ms: Option<f64>,
    /// Share of decisive pairwise choices that picked the left response (position bias).
    pub left_share: Option<f64>,
    /// Share of ties.
    pub tie_rate: f64,
    /// Share of judgements equal to the majority of the other annotators on the same unit
    /// (units where the others have a single most common label).
    pub loo_agreement: Option<f64>,
    /// Units that entered `loo_agreement`.
    pub loo_units: usize,
    /// Share of gold items answered correctly.
    pub gold_accuracy: Option<f64>,
    /// Gold items answered.
    pub gold_items: usize,
}

/// The median of `xs` (mean of the middle two for an even count).
#[must_use]
pub fn median(xs: &mut [f64]) -> Option<f64> {
    if xs.is_empty() {
        return None;
    }
    xs.sort_by(f64::total_cmp);
    let m = xs.len() / 2;
    Some(if xs.len() % 2 == 1 {
        xs[m]
    } else {
        f64::midpoint(xs[m - 1], xs[m])
    })
}

/// Per-annotator figures, ordered by annotator.
#[must_use]
pub fn annotator_stats(judgements: &[Judgement]) -> Vec<AnnotatorStats> {
    let mut by_unit: BTreeMap<i64, Vec<&Judgement>> = BTreeMap::new();
    for j in judgements {
        by_unit.entry(j.unit).or_default().push(j);
    }
    let mut by_annotator: BTreeMap<i64, Vec<&Judgement>> = BTreeMap::new();
    for j in judgements {
        by_annotator.entry(j.annotator).or_default().push(j);
    }
    let share = |num: usize, den: usize| (den > 0).then(|| num as f64 / den as f64);
    by_annotator
        .into_iter()
        .map(|(annotator, js)| {
            let mut times: Vec<f64> = js.iter().filter_map(|j| j.time_ms).collect();
            let sided: Vec<bool> = js.iter().filter_map(|j| j.picked_left).collect();
            let (mut agree, mut units) = (0, 0);
            for j in &js {
                let mut counts: BTreeMap<i64, usize> = BTreeMap::new();
                for other in &by_unit[&j.unit] {
                    if other.annotator != annotator {
                        *counts.entry(other.label).or_default() += 1;
                    }
                }
                let Some(&top) = counts.values().max() else {
                    continue;
                };
                let leaders: Vec<i64> = counts
                    .iter()
                    .filter(|(_, c)| **c == top)
                    .map(|(l, _)| *l)
                    .collect();
                if leaders.len() == 1 {
                    units += 1;
                    agree += usize::from(leaders[0] == j.label);
                }
            }
            let gold: Vec<bool> = js.iter().filter_map(|j| j.gold_correct).collect();
            AnnotatorStats {
                annotator,
                judgements: js.len(),
                median_time_ms: median(&mut times),
                left_share: share(sided.iter().filter(|l| **l).count(), sided.len()),
                tie_rate: js.iter().filter(|j| j.tie).count() as f64 / js.len() as f64,
                loo_agreement: share(agree, units),
                loo_units: units,
                gold_accuracy: share(gold.iter().filter(|g| **g).count(), gold.len()),
                gold_items: gold.len(),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cohen_by_hand() {
        // po = 5/6; pe = (3/6)(2/6) + (3/6)(4/6) = 1/2; κ = (5/6 - 1/2) / (1/2) = 2/3.
        let k = cohen_kappa(&[1, 1, 1, 2, 2, 2], &[1, 1, 2, 2, 2, 2]).unwrap();
        assert!((k - 2.0 / 3.0).abs() < 1e-12);
        assert_eq!(cohen_kappa(&[1, 1], &[1, 1]), None);
        assert_eq!(cohen_kappa(&[1], &[1, 2]), None);
    }

    #[test]
    fn fleiss_needs_equal_rater_counts() {
        assert_eq!(fleiss_kappa(&[vec![2.0, 1.0], vec![1.0, 1.0]]), None);
        // Perfect agreement on varied items.
        let k = fleiss_kappa(&[vec![3.0, 0.0], vec![0.0, 3.0]]).unwrap();
        assert!((k - 1.0).abs() < 1e-12);
    }

    #[test]
    fn alpha_skips_lone_values_and_constant_data() {
        let data = vec![
            vec![Some(1.0), Some(2.0), None],
            vec![Some(1.0), Some(2.0), Some(3.0)],
        ];
        let a = krippendorff_alpha(&data, Level::Nominal).unwrap();
        assert!((a - 1.0).abs() < 1e-12);
        assert_eq!(
            krippendorff_alpha(&[vec![Some(1.0)], vec![Some(1.0)]], Level::Interval),
            None
        );
    }

    #[test]
    fn leave_one_out_majority_and_biases() {
        let j = |annotator, unit, label, left: Option<bool>| Judgement {
            annotator,
            unit,
            label,
            tie: label == 0,
            picked_left: left,
            time_ms: Some(1000.0 * annotator as f64 + unit as f64),
            gold_correct: (unit == 2).then_some(label == 1),
        };
        let js = [
            j(1, 1, 1, Some(true)),
            j(2, 1, 1, Some(false)),
            j(3, 1, 2, Some(true)),
            j(1, 2, 1, Some(true)),
            j(2, 2, 2, None),
            j(3, 2, 0, None),
        ];
        let s = annotator_stats(&js);
        assert_eq!(s.len(), 3);
        // Annotator 1: unit 1 others {1, 2} (no single majority); unit 2 others {2, 0} (none).
        assert_eq!((s[0].loo_agreement, s[0].loo_units), (None, 0));
        // Annotator 3: unit 1 others {1, 1} → 1, disagrees; unit 2 others {1, 2}: none.
        assert_eq!((s[2].loo_agreement, s[2].loo_units), (Some(0.0), 1));
        assert_eq!(s[0].left_share, Some(1.0));
        assert_eq!(s[1].left_share, Some(0.0));
        assert_eq!(s[0].gold_accuracy, Some(1.0));
        assert_eq!(s[1].gold_accuracy, Some(0.0));
        assert!((s[2].tie_rate - 0.5).abs() < 1e-12);
        assert_eq!(s[1].median_time_ms, Some(2001.5));
    }
}

//! Rating judges (docs/design.md §3, flow 5): a template that scores one answer on one of a
//! rating project's criteria, the reading of the score, and the audit of each judge's scores
//! against the humans' ratings of the same responses.

use std::collections::BTreeMap;

use api::judges::{Interval, RatingAuditRow};
use db::judgements::Criterion;
use db::judges::scores::ScoreRow;

pub use db::judges::scores::{NewScore, PendingScore};

/// The rating template a job on a rating project uses when none is named.
pub const DEFAULT_TEMPLATE: &str = "rating-score";

/// The default rating template: reasoning first, then the score on the last line.
pub const DEFAULT_TEMPLATE_BODY: &str = "\
You rate one answer to a question on one criterion: {criterion}. The scale runs from {min} \
({low}) to {max} ({high}). Judge what serves the person who asked; the length of the answer \
says nothing about its quality.

First explain your reasoning in a few sentences. Then end with the score on its own line, a \
whole number from {min} to {max} in double brackets, for example [[{max}]] for the best.

[Question]
{question}

[Answer]
{answer}
";

/// One response of an item to score on one criterion, with the criterion's scale.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScoreTask {
    /// What is still missing.
    pub pending: PendingScore,
    /// The criterion with its scale (from the project's settings).
    pub criterion: Criterion,
}

impl ScoreTask {
    /// The template's prompt for this response and criterion.
    #[must_use]
    pub fn prompt(&self, body: &str) -> String {
        let c = &self.criterion;
        let (min, max) = (c.min.to_string(), c.max.to_string());
        super::fill(
            body,
            &[
                ("{question}", &self.pending.prompt),
                ("{answer}", &self.pending.text),
                ("{criterion}", &c.name),
                ("{min}", &min),
                ("{max}", &max),
                ("{low}", if c.low.is_empty() { "worst" } else { &c.low }),
                ("{high}", if c.high.is_empty() { "best" } else { &c.high }),
            ],
        )
    }
}

/// Reads a score: the last `[[N]]` in the output whose N is a number (`[[4]]`, `[[4.5]]`,
/// rounded half up), when it lies on the scale `min..=max`. `None`: unparsable.
#[must_use]
pub fn parse_score(output: &str, min: i32, max: i32) -> Option<i32> {
    let mut rest = output;
    let mut last = None;
    while let Some(open) = rest.find("[[") {
        let inner = &rest[open + 2..];
        let Some(close) = inner.find("]]") else { break };
        if let Ok(x) = inner[..close].trim().parse::<f64>()
            && x.is_finite()
        {
            last = Some(x);
        }
        rest = &inner[close + 2..];
    }
    let x = (last? + 0.5).floor();
    (f64::from(min)..=f64::from(max))
        .contains(&x)
        .then_some(x as i32)
}

/// The criteria of a project's settings.
#[must_use]
pub fn criteria(project_config: &serde_json::Value) -> Vec<Criterion> {
    db::judgements::ProtocolConfig::from_json(project_config).criteria
}

/// The rating audit from the judged responses (pure, for the tests): per judge, template and
/// criterion over the whole project, then per category.
#[must_use]
pub fn audit_of(rows: &[ScoreRow]) -> Vec<RatingAuditRow> {
    type Key = (String, String, String, Option<String>);
    let mut groups: BTreeMap<Key, Vec<&ScoreRow>> = BTreeMap::new();
    for r in rows {
        let template = format!("{} v{}", r.template, r.version);
        let key = (r.judge.clone(), template, r.criterion.clone());
        groups
            .entry((key.0.clone(), key.1.clone(), key.2.clone(), None))
            .or_default()
            .push(r);
        if let Some(c) = &r.category {
            groups
                .entry((key.0, key.1, key.2, Some(c.clone())))
                .or_default()
                .push(r);
        }
    }
    groups
        .into_iter()
        .map(|((judge, template, criterion, category), rows)| {
            audit_group(judge, template, criterion, category, &rows)
        })
        .collect()
}

/// The mean of the humans' scores.
fn mean(xs: &[i32]) -> Option<f64> {
    (!xs.is_empty()).then(|| xs.iter().map(|&x| f64::from(x)).sum::<f64>() / xs.len() as f64)
}

/// The median of the humans' scores, rounded half up.
fn median(xs: &[i32]) -> Option<i32> {
    let mut v = xs.to_vec();
    v.sort_unstable();
    let n = v.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(v[n / 2]),
        _ => Some(((f64::from(v[n / 2 - 1]) + f64::from(v[n / 2])) / 2.0 + 0.5).floor() as i32),
    }
}

fn audit_group(
    judge: String,
    template: String,
    criterion: String,
    category: Option<String>,
    rows: &[&ScoreRow],
) -> RatingAuditRow {
    let scored: Vec<(&ScoreRow, f64)> = rows
        .iter()
        .filter_map(|r| r.score.map(|s| (*r, f64::from(s))))
        .collect();
    // Pairs of (judge score, human mean) on responses the humans rated too.
    let shared: Vec<(&ScoreRow, f64, f64)> = scored
        .iter()
        .filter_map(|&(r, s)| mean(&r.human).map(|h| (r, s, h)))
        .collect();
    let n = shared.len();
    let offsets: Vec<f64> = shared.iter().map(|(_, s, h)| s - h).collect();
    let exact = shared
        .iter()
        .filter(|(r, s, _)| median(&r.human).is_some_and(|m| f64::from(m) == *s))
        .count();
    let pairs: Vec<(f64, f64)> = shared.iter().map(|&(_, s, h)| (s, h)).collect();
    let length = |pick: fn(&(&ScoreRow, f64, f64)) -> f64| -> Vec<(f64, f64)> {
        shared
            .iter()
            .map(|t| (t.0.length as f64 / 1000.0, pick(t)))
            .collect()
    };
    // Self-preference: the judge's offset from the humans on its own family's responses,
    // minus its offset on the others'.
    let own = |mine: bool| -> Vec<f64> {
        shared
            .iter()
            .filter(|(r, _, _)| {
                r.judge_family.is_some()
                    && r.family.is_some()
                    && (r.judge_family == r.family) == mine
            })
            .map(|(_, s, h)| s - h)
            .collect()
    };
    let (own_offsets, other_offsets) = (own(true), own(false));
    RatingAuditRow {
        judge,
        template,
        criterion,
        category,
        scores: rows.len() as u64,
        unparsable: rows.iter().filter(|r| r.score.is_none()).count() as u64,
        with_humans: n as u64,
        mean_abs_diff: (n > 0).then(|| offsets.iter().map(|d| d.abs()).sum::<f64>() / n as f64),
        mean_offset: mean_interval(&offsets),
        exact_agreement: super::share(exact, n),
        correlation: correlation(&pairs),
        length_slope_per_1000_chars: super::slope(&length(|t| t.1)),
        human_length_slope_per_1000_chars: super::slope(&length(|t| t.2)),
        own_family_offset: (!own_offsets.is_empty() && !other_offsets.is_empty())
            .then(|| average(&own_offsets) - average(&other_offsets)),
    }
}

fn average(xs: &[f64]) -> f64 {
    xs.iter().sum::<f64>() / xs.len() as f64
}

/// The mean with its 95% interval (normal approximation, sample standard deviation); `None`
/// with fewer than two values.
fn mean_interval(xs: &[f64]) -> Option<Interval> {
    if xs.len() < 2 {
        return None;
    }
    let n = xs.len() as f64;
    let m = xs.iter().sum::<f64>() / n;
    let var = xs.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (n - 1.0);
    let half = ranking::sandwich::Z95 * (var / n).sqrt();
    Some(Interval {
        value: m,
        lower: m - half,
        upper: m + half,
        n: xs.len() as u64,
    })
}

/// Pearson's r with its 95% interval by Fisher's z; `None` with fewer than four pairs or
/// without spread on either side.
fn correlation(pairs: &[(f64, f64)]) -> Option<Interval> {
    if pairs.len() < 4 {
        return None;
    }
    let n = pairs.len() as f64;
    let mx = pairs.iter().map(|p| p.0).sum::<f64>() / n;
    let my = pairs.iter().map(|p| p.1).sum::<f64>() / n;
    let sxx: f64 = pairs.iter().map(|p| (p.0 - mx).powi(2)).sum();
    let syy: f64 = pairs.iter().map(|p| (p.1 - my).powi(2)).sum();
    let sxy: f64 = pairs.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    if sxx < 1e-12 || syy < 1e-12 {
        return None;
    }
    let r = (sxy / (sxx * syy).sqrt()).clamp(-1.0, 1.0);
    let z = r.clamp(-0.999_999, 0.999_999).atanh();
    let half = ranking::sandwich::Z95 / (n - 3.0).sqrt();
    Some(Interval {
        value: r,
        lower: (z - half).tanh(),
        upper: (z + half).tanh(),
        n: pairs.len() as u64,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_bracketed_number_on_the_scale_is_the_score() {
        assert_eq!(parse_score("Good. [[4]]", 1, 7), Some(4));
        assert_eq!(
            parse_score("Between [[2]] and [[3]]; final [[6]]\n", 1, 7),
            Some(6)
        );
        assert_eq!(parse_score("Rating: [[4.5]]", 1, 7), Some(5));
        assert_eq!(parse_score("[[ 3 ]] then [[A]]", 1, 7), Some(3));
        assert_eq!(parse_score("[[9]]", 1, 7), None, "off the scale");
        assert_eq!(parse_score("[[0]]", 1, 7), None);
        assert_eq!(parse_score("four out of seven", 1, 7), None);
        assert_eq!(parse_score("[[4", 1, 7), None);
        assert_eq!(parse_score("[[NaN]] [[inf]]", 1, 7), None);
    }

    #[test]
    fn the_prompt_fills_the_scale_and_leaves_answer_text_alone() {
        let task = ScoreTask {
            pending: PendingScore {
                item_id: 1,
                prompt: "why?".into(),
                response_id: 2,
                text: "because {criterion}".into(),
                criterion: "Helpful".into(),
            },
            criterion: Criterion {
                name: "Helpful".into(),
                min: 1,
                max: 5,
                low: String::new(),
                high: "Very".into(),
            },
        };
        assert_eq!(
            task.prompt("{criterion} {min}-{max} ({low}/{high}) Q {question} A {answer}"),
            "Helpful 1-5 (worst/Very) Q why? A because {criterion}"
        );
    }

    fn row(score: Option<i32>, human: &[i32], length: i64) -> ScoreRow {
        ScoreRow {
            judge: "j".into(),
            template: "rating-score".into(),
            version: 1,
            criterion: "Overall".into(),
            category: None,
            score,
            length,
            human: human.to_vec(),
            judge_family: Some("llama".into()),
            family: Some(if length > 1000 { "llama" } else { "gpt" }.into()),
        }
    }

    #[test]
    fn the_audit_compares_scores_with_the_humans() {
        let rows = vec![
            row(Some(7), &[6, 7, 7], 2000),
            row(Some(6), &[5], 1500),
            row(Some(2), &[1, 3], 200),
            row(Some(3), &[4, 4], 300),
            row(Some(4), &[], 400),
            row(None, &[5], 500),
        ];
        let a = &audit_of(&rows)[0];
        assert_eq!((a.scores, a.unparsable, a.with_humans), (6, 1, 4));
        // Offsets from the human means: 7-20/3, 6-5, 2-2, 3-4.
        let offsets = [7.0 - 20.0 / 3.0, 1.0, 0.0, -1.0];
        let mean = offsets.iter().sum::<f64>() / 4.0;
        let m = a.mean_offset.unwrap();
        assert!((m.value - mean).abs() < 1e-12);
        assert!(m.lower < m.value && m.value < m.upper);
        let mad = offsets.iter().map(|d: &f64| d.abs()).sum::<f64>() / 4.0;
        assert!((a.mean_abs_diff.unwrap() - mad).abs() < 1e-12);
        // Medians 7, 5, 2, 4: the judge hits 7 and 2.
        assert_eq!(a.exact_agreement.unwrap().value, 0.5);
        let r = a.correlation.unwrap();
        assert!(r.value > 0.9 && r.lower < r.value && r.upper <= 1.0);
        assert!(a.length_slope_per_1000_chars.unwrap() > 0.0);
        // Own family (the two long answers): offsets 1/3 and 1; others 0 and -1.
        let own = (1.0 / 3.0 + 1.0) / 2.0 - (0.0 - 1.0) / 2.0;
        assert!((a.own_family_offset.unwrap() - own).abs() < 1e-12);
    }

    #[test]
    fn medians_round_half_up() {
        assert_eq!(median(&[]), None);
        assert_eq!(median(&[3, 1, 2]), Some(2));
        assert_eq!(median(&[1, 4]), Some(3));
        assert_eq!(median(&[4, 4, 1, 1]), Some(3));
    }
}

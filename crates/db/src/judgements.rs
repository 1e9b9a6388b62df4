//! Ratings and rankings (docs/design.md §2): the protocol settings a project keeps in its `config`,
//! and recording an assignment's judgement once, fully checked, in one transaction. A rating
//! project may also ask for a pairwise choice on the same form (a mixed design).

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};
use sqlx::PgPool;

/// A pairwise choice as the annotator saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Choice {
    /// The left response is better.
    Left,
    /// The right response is better.
    Right,
    /// Equally good.
    Tie,
    /// Both are bad.
    BothBad,
}

/// Why a vote was refused.
#[derive(Debug, thiserror::Error)]
pub enum VoteError {
    /// No such assignment.
    #[error("no such assignment")]
    NotFound,
    /// The assignment was issued to someone else.
    #[error("this assignment was issued to another annotator")]
    NotYours,
    /// The assignment lapsed (or was skipped) before the vote.
    #[error("this assignment expired; load the next one")]
    Expired,
    /// The assignment is not a pair.
    #[error("this item does not have exactly two responses")]
    NotAPair,
    /// The vote breaks the project's rules (rationale required, strength scale).
    #[error("{0}")]
    Invalid(String),
    /// Database failure.
    #[error(transparent)]
    Db(#[from] crate::Error),
}

impl From<sqlx::Error> for VoteError {
    fn from(e: sqlx::Error) -> Self {
        Self::Db(e.into())
    }
}

/// One rating criterion and its integer scale.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Criterion {
    /// Name, e.g. "Overall quality".
    pub name: String,
    /// Lowest score.
    pub min: i32,
    /// Highest score.
    pub max: i32,
    /// Label of the lowest score.
    #[serde(default)]
    pub low: String,
    /// Label of the highest score.
    #[serde(default)]
    pub high: String,
}

/// Quality-control thresholds of a project.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct QualityControl {
    /// Judgements faster than this (milliseconds) count as too fast.
    pub min_time_ms: Option<i32>,
    /// Flag annotators whose gold accuracy is below this share.
    pub min_gold_accuracy: Option<f64>,
    /// Flag annotators with more than this share of too-fast judgements.
    pub max_fast_share: Option<f64>,
    /// Every this many assignments, an annotator gets a gold item (an attention check) when
    /// one is left for them.
    pub attention_every: Option<i32>,
}

/// A project's protocol settings (`project.config`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ProtocolConfig {
    /// Rating criteria, each with its scale.
    pub criteria: Vec<Criterion>,
    /// Ratings may be marked "N/A".
    pub allow_na: bool,
    /// Rating projects with two responses per item: also ask which is better, on the same form.
    pub with_choice: bool,
    /// Quality control.
    pub qc: QualityControl,
}

impl Default for ProtocolConfig {
    fn default() -> Self {
        Self {
            criteria: vec![Criterion {
                name: "Overall quality".into(),
                min: 1,
                max: 7,
                low: "Very poor".into(),
                high: "Excellent".into(),
            }],
            allow_na: false,
            with_choice: false,
            qc: QualityControl::default(),
        }
    }
}

impl ProtocolConfig {
    /// Reads a project's `config`; fields it lacks take their defaults.
    #[must_use]
    pub fn from_json(v: &serde_json::Value) -> Self {
        serde_json::from_value(v.clone()).unwrap_or_default()
    }

    /// Checks the settings themselves.
    ///
    /// # Errors
    /// A message naming the field.
    pub fn validate(&self) -> Result<(), String> {
        if self.criteria.is_empty() {
            return Err("criteria: at least one".into());
        }
        let mut seen = HashSet::new();
        for (k, c) in self.criteria.iter().enumerate() {
            if c.name.trim().is_empty() {
                return Err(format!("criteria[{k}].name: empty"));
            }
            if !seen.insert(c.name.trim()) {
                return Err(format!("criteria[{k}].name: {:?} appears twice", c.name));
            }
            if !(0..=100).contains(&c.min) || !(0..=100).contains(&c.max) || c.min >= c.max {
                return Err(format!(
                    "criteria[{k}]: the scale runs from min to max, 0 ≤ min < max ≤ 100"
                ));
            }
        }
        Ok(())
    }
}

/// One score in a rating submission; `score: None` means N/A.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Score {
    /// The response rated.
    pub response_id: i64,
    /// The criterion.
    pub criterion: String,
    /// The score, or `None` for N/A.
    pub score: Option<i32>,
}

/// A rating submission: every response of the item on every criterion.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewRatings {
    /// The scores.
    pub scores: Vec<Score>,
    /// The pairwise choice, for projects that ask for one.
    pub choice: Option<Choice>,
    /// Written reason.
    pub rationale: Option<String>,
    /// Milliseconds from display to submit.
    pub time_ms: Option<i32>,
}

/// A ranking submission: groups of response ids, best first; a group of several is a tie.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewRanking {
    /// Tie groups, best first.
    pub groups: Vec<Vec<i64>>,
    /// "None is acceptable".
    pub none_acceptable: bool,
    /// Written reason.
    pub rationale: Option<String>,
    /// Milliseconds from display to submit.
    pub time_ms: Option<i32>,
}

/// The assignment, locked, with what validation needs.
#[derive(sqlx::FromRow)]
struct Open {
    user_id: i64,
    status: String,
    lapsed: bool,
    item_id: i64,
    project_id: i64,
    protocol: String,
    config: serde_json::Value,
    rationale_mode: String,
    guidelines_version: i32,
    display_order: Vec<i64>,
    /// Response ids in the item's canonical order (A first).
    canonical: Vec<i64>,
    model_ids: Vec<i64>,
}

async fn open(
    tx: &mut sqlx::PgConnection,
    assignment_id: i64,
    user_id: i64,
    protocol: &str,
) -> Result<Option<Open>, VoteError> {
    let row: Option<Open> = sqlx::query_as(
        "select a.user_id, a.status, a.expires_at < now() as lapsed, a.item_id, i.project_id, \
                p.protocol, p.config, p.rationale_mode, p.guidelines_version, a.display_order, \
                array(select ir.response_id from item_response ir where ir.item_id = a.item_id \
                      order by ir.position) as canonical, \
                array(select r.model_id from item_response ir \
                      join response r on r.response_id = ir.response_id \
                      where ir.item_id = a.item_id order by ir.position) as model_ids \
         from assignment a join item i on i.item_id = a.item_id \
         join project p on p.project_id = i.project_id \
         where a.assignment_id = $1 for update of a",
    )
    .bind(assignment_id)
    .fetch_optional(&mut *tx)
    .await
    .map_err(crate::Error::from)?;
    let Some(a) = row else {
        return Err(VoteError::NotFound);
    };
    if a.user_id != user_id {
        return Err(VoteError::NotYours);
    }
    if a.protocol != protocol {
        return Err(VoteError::Invalid(format!(
            "this is a {} project, not a {protocol} project",
            a.protocol
        )));
    }
    if a.status == "completed" {
        return Ok(None);
    }
    if a.status != "issued" || a.lapsed {
        return Err(VoteError::Expired);
    }
    Ok(Some(a))
}

fn rationale_rule(mode: &str, rationale: Option<&str>) -> Result<(), VoteError> {
    match (mode, rationale) {
        ("required", None) => Err(VoteError::Invalid(
            "rationale: this project asks for one with every judgement".into(),
        )),
        ("off", Some(_)) => Err(VoteError::Invalid(
            "rationale: this project takes none".into(),
        )),
        _ => Ok(()),
    }
}

/// The rules every judgement follows: the project's rationale mode and a time that is not
/// negative. Returns the trimmed rationale.
fn common_rules<'a>(
    a: &Open,
    rationale: Option<&'a String>,
    time_ms: Option<i32>,
) -> Result<Option<&'a str>, VoteError> {
    let rationale = rationale.map(|s| s.trim()).filter(|s| !s.is_empty());
    rationale_rule(&a.rationale_mode, rationale)?;
    if time_ms.is_some_and(|t| t < 0) {
        return Err(VoteError::Invalid("time_ms: not negative".into()));
    }
    Ok(rationale)
}

/// Checks a rating submission against the project and item; returns the rows to insert.
fn check_scores(cfg: &ProtocolConfig, item: &[i64], scores: &[Score]) -> Result<(), VoteError> {
    let invalid = |m: String| Err(VoteError::Invalid(m));
    let mut seen: HashMap<(i64, &str), usize> = HashMap::new();
    for (k, s) in scores.iter().enumerate() {
        if !item.contains(&s.response_id) {
            return invalid(format!(
                "scores[{k}].response_id: response {} is not in this item",
                s.response_id
            ));
        }
        let Some(c) = cfg.criteria.iter().find(|c| c.name == s.criterion) else {
            return invalid(format!(
                "scores[{k}].criterion: {:?} is not one of this project's criteria",
                s.criterion
            ));
        };
        match s.score {
            Some(v) if v < c.min || v > c.max => {
                return invalid(format!(
                    "scores[{k}].score: {v} is outside {}'s scale {}–{}",
                    c.name, c.min, c.max
                ));
            }
            None if !cfg.allow_na => {
                return invalid(format!(
                    "scores[{k}].score: this project has no N/A; give a score from {} to {}",
                    c.min, c.max
                ));
            }
            _ => {}
        }
        if let Some(first) = seen.insert((s.response_id, s.criterion.as_str()), k) {
            return invalid(format!(
                "scores[{k}]: response {} already has a {} score (scores[{first}])",
                s.response_id, s.criterion
            ));
        }
    }
    for (pos, r) in item.iter().enumerate() {
        for c in &cfg.criteria {
            if !seen.contains_key(&(*r, c.name.as_str())) {
                return invalid(format!(
                    "scores: response {r} (shown {}) has no {} score",
                    pos + 1,
                    c.name
                ));
            }
        }
    }
    Ok(())
}

/// Records a rating assignment's scores (and, in a mixed design, its pairwise choice) once;
/// returns false when the assignment had already been submitted (nothing changes).
///
/// # Errors
/// See [`VoteError`]: `Invalid` names the field.
pub async fn rate(
    pool: &PgPool,
    assignment_id: i64,
    user_id: i64,
    r: &NewRatings,
) -> Result<bool, VoteError> {
    let mut tx = pool.begin().await.map_err(crate::Error::from)?;
    let Some(a) = open(&mut tx, assignment_id, user_id, "rating").await? else {
        return Ok(false);
    };
    let cfg = ProtocolConfig::from_json(&a.config);
    check_scores(&cfg, &a.display_order, &r.scores)?;
    let rationale = common_rules(&a, r.rationale.as_ref(), r.time_ms)?;
    let wants_choice = cfg.with_choice && a.canonical.len() == 2;
    match (wants_choice, r.choice) {
        (true, None) => {
            return Err(VoteError::Invalid(
                "choice: this project also asks which response is better".into(),
            ));
        }
        (false, Some(_)) => {
            return Err(VoteError::Invalid(
                "choice: this project asks for ratings only".into(),
            ));
        }
        _ => {}
    }
    let (ids, criteria, values): (Vec<i64>, Vec<String>, Vec<Option<i32>>) = r
        .scores
        .iter()
        .map(|s| (s.response_id, s.criterion.clone(), s.score))
        .fold((vec![], vec![], vec![]), |mut acc, (i, c, v)| {
            acc.0.push(i);
            acc.1.push(c);
            acc.2.push(v);
            acc
        });
    sqlx::query(
        "insert into rating (project_id, item_id, assignment_id, annotator_id, source, \
                             response_id, criterion, score, not_applicable, rationale, time_ms, \
                             guideline_version) \
         select $1, $2, $3, $4, 'human', r, c, s, s is null, $8, $9, $10 \
         from unnest($5::bigint[], $6::text[], $7::int[]) as t (r, c, s)",
    )
    .bind(a.project_id)
    .bind(a.item_id)
    .bind(assignment_id)
    .bind(user_id)
    .bind(&ids)
    .bind(&criteria)
    .bind(&values)
    .bind(rationale)
    .bind(r.time_ms)
    .bind(a.guidelines_version)
    .execute(&mut *tx)
    .await
    .map_err(crate::Error::from)?;
    if let (true, Some(choice)) = (wants_choice, r.choice) {
        let a_was_left = a.display_order.first() == a.canonical.first();
        let winner = match (choice, a_was_left) {
            (Choice::Left, true) | (Choice::Right, false) => "a",
            (Choice::Left | Choice::Right, _) => "b",
            (Choice::Tie, _) => "tie",
            (Choice::BothBad, _) => "both_bad",
        };
        sqlx::query(
            "insert into vote (project_id, item_id, assignment_id, annotator_id, source, \
                               model_a_id, model_b_id, response_a_id, response_b_id, winner, \
                               rationale, time_to_vote_ms, a_was_left, guideline_version) \
             values ($1, $2, $3, $4, 'human', $5, $6, $7, $8, $9, $10, $11, $12, $13)",
        )
        .bind(a.project_id)
        .bind(a.item_id)
        .bind(assignment_id)
        .bind(user_id)
        .bind(a.model_ids[0])
        .bind(a.model_ids[1])
        .bind(a.canonical[0])
        .bind(a.canonical[1])
        .bind(winner)
        .bind(rationale)
        .bind(r.time_ms)
        .bind(a_was_left)
        .bind(a.guidelines_version)
        .execute(&mut *tx)
        .await
        .map_err(crate::Error::from)?;
    }
    complete(&mut tx, assignment_id).await?;
    tx.commit().await.map_err(crate::Error::from)?;
    Ok(true)
}

async fn complete(tx: &mut sqlx::PgConnection, assignment_id: i64) -> Result<(), VoteError> {
    sqlx::query(
        "update assignment set status = 'completed', completed_at = now() where assignment_id = $1",
    )
    .bind(assignment_id)
    .execute(&mut *tx)
    .await
    .map_err(crate::Error::from)?;
    Ok(())
}

/// Checks that `groups` orders every response of the item exactly once.
fn check_ranking(item: &[i64], groups: &[Vec<i64>]) -> Result<(), VoteError> {
    let invalid = |m: String| Err(VoteError::Invalid(m));
    let mut seen = HashSet::new();
    for (g, group) in groups.iter().enumerate() {
        if group.is_empty() {
            return invalid(format!("groups[{g}]: empty"));
        }
        for r in group {
            if !item.contains(r) {
                return invalid(format!("groups[{g}]: response {r} is not in this item"));
            }
            if !seen.insert(*r) {
                return invalid(format!("groups[{g}]: response {r} appears twice"));
            }
        }
    }
    if let Some(missing) = item.iter().find(|r| !seen.contains(r)) {
        return invalid(format!(
            "groups: response {missing} is missing from the ranking"
        ));
    }
    Ok(())
}

/// Records a ranking assignment once; returns false when it had already been submitted.
///
/// # Errors
/// See [`VoteError`]: `Invalid` names the field.
pub async fn rank(
    pool: &PgPool,
    assignment_id: i64,
    user_id: i64,
    r: &NewRanking,
) -> Result<bool, VoteError> {
    let mut tx = pool.begin().await.map_err(crate::Error::from)?;
    let Some(a) = open(&mut tx, assignment_id, user_id, "ranking").await? else {
        return Ok(false);
    };
    check_ranking(&a.display_order, &r.groups)?;
    let rationale = common_rules(&a, r.rationale.as_ref(), r.time_ms)?;
    sqlx::query(
        "insert into ranking (project_id, item_id, assignment_id, annotator_id, source, \
                              tie_groups, not_rankable, rationale, time_ms, guideline_version) \
         values ($1, $2, $3, $4, 'human', $5, $6, $7, $8, $9)",
    )
    .bind(a.project_id)
    .bind(a.item_id)
    .bind(assignment_id)
    .bind(user_id)
    .bind(serde_json::to_value(&r.groups).map_err(|e| VoteError::Invalid(e.to_string()))?)
    .bind(r.none_acceptable)
    .bind(rationale)
    .bind(r.time_ms)
    .bind(a.guidelines_version)
    .execute(&mut *tx)
    .await
    .map_err(crate::Error::from)?;
    complete(&mut tx, assignment_id).await?;
    tx.commit().await.map_err(crate::Error::from)?;
    Ok(true)
}

/// The named constraints this module's queries can raise, with their users' messages.
pub const CONSTRAINTS: &[crate::Constraint] = &[
    crate::Constraint {
        name: "rating_time_check",
        violation: crate::Violation::Invalid,
        message: "time_ms is not negative",
    },
    crate::Constraint {
        name: "ranking_time_check",
        violation: crate::Violation::Invalid,
        message: "time_ms is not negative",
    },
];

#[cfg(test)]
mod tests {
    use super::*;

    fn s(response_id: i64, score: Option<i32>) -> Score {
        Score {
            response_id,
            criterion: "Overall quality".into(),
            score,
        }
    }

    fn message(r: Result<(), VoteError>) -> String {
        match r {
            Err(VoteError::Invalid(m)) => m,
            other => panic!("expected Invalid, got {other:?}"),
        }
    }

    #[test]
    fn scores_are_checked_field_by_field() {
        let cfg = ProtocolConfig::default();
        assert!(check_scores(&cfg, &[1, 2], &[s(1, Some(7)), s(2, Some(1))]).is_ok());
        assert!(
            message(check_scores(&cfg, &[1, 2], &[s(1, Some(8)), s(2, Some(1))]))
                .starts_with("scores[0].score: 8 is outside")
        );
        assert!(
            message(check_scores(&cfg, &[1, 2], &[s(1, Some(3)), s(9, Some(1))]))
                .starts_with("scores[1].response_id: response 9 is not in this item")
        );
        assert!(
            message(check_scores(&cfg, &[1, 2], &[s(1, Some(3))]))
                .starts_with("scores: response 2 (shown 2) has no Overall quality score")
        );
        assert!(
            message(check_scores(&cfg, &[1, 2], &[s(1, None), s(2, Some(1))])).contains("no N/A")
        );
        assert!(
            message(check_scores(
                &cfg,
                &[1, 2],
                &[s(1, Some(2)), s(1, Some(3)), s(2, Some(1))]
            ))
            .contains("already has")
        );
        let na = ProtocolConfig {
            allow_na: true,
            ..ProtocolConfig::default()
        };
        assert!(check_scores(&na, &[1, 2], &[s(1, None), s(2, Some(1))]).is_ok());
    }

    #[test]
    fn rankings_cover_every_response_once() {
        assert!(check_ranking(&[1, 2, 3], &[vec![2], vec![1, 3]]).is_ok());
        assert!(
            message(check_ranking(&[1, 2, 3], &[vec![2], vec![1]]))
                .contains("response 3 is missing")
        );
        assert!(
            message(check_ranking(&[1, 2, 3], &[vec![2, 2], vec![1, 3]]))
                .contains("response 2 appears twice")
        );
        assert!(message(check_ranking(&[1, 2], &[vec![2, 1, 5]])).contains("response 5 is not"));
    }

    #[test]
    fn config_defaults_and_checks() {
        let cfg = ProtocolConfig::from_json(&serde_json::json!({"allow_na": true}));
        assert_eq!(cfg.criteria[0].name, "Overall quality");
        assert_eq!((cfg.criteria[0].min, cfg.criteria[0].max), (1, 7));
        assert!(cfg.allow_na);
        let bad = ProtocolConfig {
            criteria: vec![Criterion {
                name: "x".into(),
                min: 5,
                max: 5,
                low: String::new(),
                high: String::new(),
            }],
            ..ProtocolConfig::default()
        };
        assert!(bad.validate().unwrap_err().starts_with("criteria[0]"));
    }
}

//! The demo (`verdict demo`, `make run`): one project of each protocol over answers the
//! project's local models gave to prompts written for it (stored in `demo/answers.jsonl`,
//! made by `scripts/demo-answers.sh`), judged by simulated annotators so that the leaderboard
//! and quality pages have something to show. Nothing here needs files beside the repository.
//!
//! The simulated annotators are marked as such: external ids `simulated-N` in the cohort
//! `simulated`, and their pairwise votes have the source `import`, so that a leaderboard of
//! human votes leaves them out. Each one judges with noise around a hidden quality per model
//! (and one clicks at random, one favours the left side), so that the agreement statistics and
//! the annotator-reliability table have something to find.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Deserialize;

use crate::{AppError, OrApp};

/// The stored answers, one prompt per line.
const ANSWERS: &str = include_str!("../demo/answers.jsonl");

/// The pairwise project's name.
pub const PAIRWISE: &str = "Demo: which answer is better?";
/// The rating project's name.
pub const RATING: &str = "Demo: rate the answers";
/// The ranking project's name.
pub const RANKING: &str = "Demo: rank the answers";

/// How many simulated annotators judge.
const ANNOTATORS: usize = 8;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Line {
    id: String,
    category: String,
    prompt: String,
    responses: Vec<Answer>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Answer {
    model: String,
    text: String,
}

/// What loading the demo did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DemoReport {
    /// False when the demo was there already (loading again changes nothing).
    pub created: bool,
    /// Prompts.
    pub prompts: usize,
    /// Models that answered.
    pub models: Vec<String>,
    /// Each project's name and item count.
    pub projects: Vec<(String, usize)>,
    /// Pairwise votes of the simulated annotators.
    pub votes: u64,
    /// Rating forms they filled in.
    pub ratings: usize,
    /// Rankings they made.
    pub rankings: usize,
}

/// The hidden quality of each demo model, on the Bradley–Terry scale (unknown models: 0).
fn model_quality(name: &str) -> f64 {
    match name {
        "smollm2-135m-instruct" => 1.0,
        "smollm2-135m-warm" => 0.4,
        "tiny-demo" => -1.6,
        _ => 0.0,
    }
}

/// One simulated annotator: how noisy their judgement is and how much they favour the left.
#[derive(Debug, Clone, Copy)]
struct Judge {
    noise: f64,
    left_bias: f64,
}

fn judge(k: usize) -> Judge {
    match k {
        // Clicks at random, as a spammer would.
        6 => Judge {
            noise: 50.0,
            left_bias: 0.0,
        },
        // Favours the left-hand answer.
        7 => Judge {
            noise: 0.8,
            left_bias: 1.2,
        },
        _ => Judge {
            noise: 0.5 + 0.1 * k as f64,
            left_bias: 0.0,
        },
    }
}

/// A response's quality: its model's, plus a fixed amount of its own (so that answers of one
/// model differ).
fn response_quality(model_quality: f64, response_id: i64) -> f64 {
    let mut rng = ChaCha8Rng::seed_from_u64(response_id.unsigned_abs() ^ 0x5eed);
    model_quality + rng.random_range(-0.5..0.5)
}

fn parse() -> Result<Vec<Line>, AppError> {
    ANSWERS
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(k, l)| {
            serde_json::from_str(l).map_err(|e| {
                tracing::error!(line = k + 1, error = %e, "demo/answers.jsonl is broken");
                AppError::Internal
            })
        })
        .collect()
}

/// Loads the demo once: the answers, the three projects, the simulated judgements. Loading it
/// again changes nothing.
///
/// # Errors
/// Only on database failure; the answers and the projects go in one transaction each, and the
/// judgements are recorded as annotators would record them.
pub async fn load(pool: &db::PgPool) -> Result<DemoReport, AppError> {
    let existing = db::projects::list(pool).await.or_app()?;
    if existing.iter().any(|p| p.name == PAIRWISE) {
        return Ok(DemoReport::default());
    }
    let lines = parse()?;
    // The answers, with each response's quality for the simulated annotators.
    let mut tx = db::begin(pool).await.or_app()?;
    let mut models: Vec<(String, i64)> = Vec::new();
    let mut quality = std::collections::HashMap::new();
    for line in &lines {
        let prompt = db::imports::prompt(&mut tx, &line.prompt, Some(&line.category))
            .await
            .or_app()?;
        for answer in &line.responses {
            let model = match models.iter().find(|(n, _)| *n == answer.model) {
                Some(&(_, id)) => id,
                None => {
                    let id = db::imports::model(&mut tx, &answer.model).await.or_app()?;
                    models.push((answer.model.clone(), id));
                    id
                }
            };
            let meta = serde_json::json!({
                "style": ranking::style::count_markdown(&answer.text),
                "demo": line.id,
            });
            let response = db::imports::response(&mut tx, prompt, model, &answer.text, &meta)
                .await
                .or_app()?;
            quality.insert(
                response,
                response_quality(model_quality(&answer.model), response),
            );
        }
    }
    let mut annotators = Vec::with_capacity(ANNOTATORS);
    for k in 1..=ANNOTATORS {
        annotators.push(
            db::imports::annotator(&mut tx, &format!("simulated-{k}"), "simulated")
                .await
                .or_app()?,
        );
    }
    db::finish(tx, true).await.or_app()?;

    let model_ids: Vec<i64> = models.iter().map(|&(_, id)| id).collect();
    let mut report = DemoReport {
        created: true,
        prompts: lines.len(),
        models: models.into_iter().map(|(n, _)| n).collect(),
        ..DemoReport::default()
    };
    let rating_config = serde_json::json!({"criteria": [
        {"name": "Helpfulness", "min": 1, "max": 7, "low": "Not helpful", "high": "Very helpful"},
        {"name": "Clarity", "min": 1, "max": 5, "low": "Confusing", "high": "Very clear"}
    ]});
    let guidelines = "Read the prompt, then judge which answer serves the person who asked it \
                      better: correct, helpful and clearly written. Length is not a merit.";
    let mut ids = Vec::new();
    for (name, protocol, config) in [
        (PAIRWISE, "pairwise", serde_json::json!({})),
        (RATING, "rating", rating_config),
        (RANKING, "ranking", serde_json::json!({})),
    ] {
        let settings = db::projects::ProjectSettings {
            guidelines: guidelines.into(),
            overlap_target: 3,
            ..db::projects::ProjectSettings::default()
        };
        let project = db::projects::NewProject {
            name,
            protocol,
            config: &config,
            settings: &settings,
            source_project: None,
            models: &model_ids,
            created_by: None,
        };
        let (id, items) = db::projects::create(pool, &project).await.or_app()?;
        report.projects.push((name.to_owned(), items));
        ids.push(id);
    }
    report.votes = pairwise_votes(pool, ids[0], &annotators, &quality).await?;
    report.ratings = forms(pool, ids[1], Form::Rating, &annotators, &quality).await?;
    report.rankings = forms(pool, ids[2], Form::Ranking, &annotators, &quality).await?;
    Ok(report)
}

fn rng_for(annotator: i64, item: i64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64((annotator.unsigned_abs() << 32) ^ item.unsigned_abs())
}

/// When the demo's judgements were made: spread over the last two weeks.
fn when(rng: &mut ChaCha8Rng) -> time::OffsetDateTime {
    time::OffsetDateTime::now_utc() - time::Duration::minutes(rng.random_range(0..14 * 24 * 60))
}

async fn pairwise_votes(
    pool: &db::PgPool,
    project: i64,
    annotators: &[i64],
    quality: &std::collections::HashMap<i64, f64>,
) -> Result<u64, AppError> {
    let pairs = db::imports::item_pairs(pool, project).await.or_app()?;
    let q = |r: i64| quality.get(&r).copied().unwrap_or(0.0);
    let mut votes = Vec::new();
    for (k, &annotator) in annotators.iter().enumerate() {
        let j = judge(k + 1);
        for &(item, [(ra, ma), (rb, mb)]) in &pairs {
            let mut rng = rng_for(annotator, item);
            // Each annotator sees about three items in four.
            if rng.random_range(0..4) == 0 {
                continue;
            }
            // A is shown on the left half of the time.
            let a_left = rng.random_bool(0.5);
            let bias = if a_left { j.left_bias } else { -j.left_bias };
            let d = (q(ra) - q(rb) + bias) / j.noise;
            let p_a = 1.0 / (1.0 + (-d).exp());
            let winner = if d.abs() < 0.25 && rng.random_bool(0.3) {
                "tie"
            } else if q(ra).max(q(rb)) < 0.0 && rng.random_bool(0.4) {
                "both_bad"
            } else if rng.random_bool(p_a) {
                "a"
            } else {
                "b"
            };
            votes.push(db::imports::ImportedVote {
                import_key: format!("demo:{project}:{item}:{annotator}"),
                project_id: Some(project),
                item_id: Some(item),
                annotator_id: Some(annotator),
                source: "import",
                model_a_id: ma,
                model_b_id: mb,
                response_a_id: Some(ra),
                response_b_id: Some(rb),
                winner,
                rationale: None,
                created_at: Some(when(&mut rng)),
            });
        }
    }
    let mut tx = db::begin(pool).await.or_app()?;
    let new = db::imports::votes(&mut tx, &votes).await.or_app()?;
    db::finish(tx, true).await.or_app()?;
    Ok(new)
}

/// The annotator's next item, as the annotate page would hand it; `None` when they have seen
/// every item (or, as a guard, after more judgements than the demo has items).
async fn next_unseen(
    pool: &db::PgPool,
    scores: &crate::sampling::PairScores,
    project: i64,
    annotator: i64,
    done: usize,
) -> Result<Option<db::assignments::Issued>, AppError> {
    if done > ANNOTATORS * 1_000 {
        return Ok(None);
    }
    crate::annotation::issue(pool, scores, project, annotator).await
}

/// The two kinds of form the simulated annotators fill in through assignments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Form {
    Rating,
    Ranking,
}

/// Each simulated annotator fills in the forms the project hands them, as the annotate page
/// would; returns how many.
async fn forms(
    pool: &db::PgPool,
    project: i64,
    form: Form,
    annotators: &[i64],
    quality: &std::collections::HashMap<i64, f64>,
) -> Result<usize, AppError> {
    let mut done = 0;
    let scores = crate::sampling::PairScores::default();
    for (k, &annotator) in annotators.iter().enumerate() {
        let j = judge(k + 1);
        while let Some(issued) = next_unseen(pool, &scores, project, annotator, done).await? {
            let mut rng = rng_for(annotator, issued.item_id);
            let q = |r: i64| quality.get(&r).copied().unwrap_or(0.0);
            match form {
                Form::Rating => {
                    let mut scores = Vec::new();
                    for &(response, _) in &issued.responses {
                        // Drawn per response, so that the scores do not depend on the order
                        // the form shows the responses in.
                        let mut rng = rng_for(annotator, response);
                        for (criterion, min, max) in [("Helpfulness", 1, 7), ("Clarity", 1, 5)] {
                            let mid = f64::from(min + max) / 2.0;
                            let spread = f64::from(max - min) / 4.0;
                            let noisy =
                                q(response) + rng.random_range(-1.0..1.0) * j.noise.min(3.0);
                            scores.push(crate::annotation::Score {
                                response_id: response,
                                criterion: criterion.into(),
                                score: Some(
                                    ((mid + spread * noisy).round() as i32).clamp(min, max),
                                ),
                            });
                        }
                    }
                    let ratings = crate::annotation::NewRatings {
                        scores,
                        choice: None,
                        rationale: None,
                        time_ms: Some(rng.random_range(6_000..45_000)),
                    };
                    crate::annotation::rate(pool, issued.assignment_id, Some(annotator), &ratings)
                        .await?;
                }
                Form::Ranking => {
                    let mut order: Vec<(f64, i64)> = issued
                        .responses
                        .iter()
                        .enumerate()
                        .map(|(position, &(response, _))| {
                            // Noise drawn per response (only the bias depends on the order).
                            let mut rng = rng_for(annotator, response);
                            let first = if position == 0 { j.left_bias } else { 0.0 };
                            let noisy = q(response) + first + rng.random_range(-1.0..1.0) * j.noise;
                            (noisy, response)
                        })
                        .collect();
                    order.sort_by(|a, b| b.0.total_cmp(&a.0));
                    let ranking = crate::annotation::NewRanking {
                        groups: order.into_iter().map(|(_, r)| vec![r]).collect(),
                        none_acceptable: false,
                        rationale: None,
                        time_ms: Some(rng.random_range(8_000..60_000)),
                    };
                    crate::annotation::rank(pool, issued.assignment_id, Some(annotator), &ranking)
                        .await?;
                }
            }
            done += 1;
        }
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stored_answers_parse_and_every_prompt_has_every_model() {
        let lines = parse().unwrap();
        assert!(lines.len() >= 12, "{}", lines.len());
        let models: Vec<&str> = lines[0]
            .responses
            .iter()
            .map(|r| r.model.as_str())
            .collect();
        assert!(models.len() >= 3, "{models:?}");
        for line in &lines {
            let these: Vec<&str> = line.responses.iter().map(|r| r.model.as_str()).collect();
            assert_eq!(these, models, "{}", line.id);
            assert!(
                line.responses.iter().all(|r| !r.text.trim().is_empty()),
                "{}",
                line.id
            );
        }
    }
}

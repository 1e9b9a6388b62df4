//! Annotation: recording a judgement with one set of rules for every edge (the judging page's
//! server functions and the REST API).

pub use api::annotation::{Choice, NewRanking, NewRatings, NewVote, Recorded, Score};
use api::annotation::{CriterionView, ItemView};
pub use db::assignments::Issued;

use crate::{AppError, OrApp};

/// Records a pairwise vote once and reveals the models. The vote statement itself checks that
/// the assignment belongs to `user_id`.
///
/// # Errors
/// 401 without a session user; 422 for a negative time; 404, 403, 409 or 422 from the vote
/// statement (see [`crate::error::vote_error`]).
#[tracing::instrument(skip_all, fields(assignment_id = assignment_id))]
pub async fn vote(
    pool: &db::PgPool,
    assignment_id: i64,
    user_id: Option<i64>,
    vote: &NewVote,
) -> Result<Recorded, AppError> {
    let user_id = user_id.ok_or_else(AppError::login_required)?;
    if vote.time_to_vote_ms.is_some_and(|t| t < 0) {
        return Err(AppError::Unprocessable(
            "time_to_vote_ms cannot be negative".into(),
        ));
    }
    let vote = db::assignments::NewVote {
        choice: db_choice(vote.choice),
        strength: vote.strength.clone(),
        rationale: vote.rationale.clone(),
        time_to_vote_ms: vote.time_to_vote_ms,
    };
    let r = db::assignments::vote(pool, assignment_id, user_id, &vote)
        .await
        .or_app()?;
    Ok(Recorded {
        vote_id: r.vote_id,
        left_model: r.left_model,
        right_model: r.right_model,
        winner: r.winner,
        created: r.created,
    })
}

/// The database's choice for a choice on the wire.
pub(crate) const fn db_choice(c: Choice) -> db::judgements::Choice {
    match c {
        Choice::Left => db::judgements::Choice::Left,
        Choice::Right => db::judgements::Choice::Right,
        Choice::Tie => db::judgements::Choice::Tie,
        Choice::BothBad => db::judgements::Choice::BothBad,
    }
}

/// Records the rating form of an assignment once; `true` when it was new (a repeat changes
/// nothing).
///
/// # Errors
/// 401 without a session user; 404, 403, 409 or 422 naming the field (see
/// [`crate::error::vote_error`]).
#[tracing::instrument(skip_all, fields(assignment_id = assignment_id))]
pub async fn rate(
    pool: &db::PgPool,
    assignment_id: i64,
    user_id: Option<i64>,
    ratings: &NewRatings,
) -> Result<bool, AppError> {
    let user_id = user_id.ok_or_else(AppError::login_required)?;
    let ratings = db::judgements::NewRatings {
        scores: ratings
            .scores
            .iter()
            .map(|s| db::judgements::Score {
                response_id: s.response_id,
                criterion: s.criterion.clone(),
                score: s.score,
            })
            .collect(),
        choice: ratings.choice.map(db_choice),
        rationale: ratings.rationale.clone(),
        time_ms: ratings.time_ms,
    };
    db::judgements::rate(pool, assignment_id, user_id, &ratings)
        .await
        .or_app()
}

/// Records the ranking of an assignment once; `true` when it was new.
///
/// # Errors
/// As [`rate`].
#[tracing::instrument(skip_all, fields(assignment_id = assignment_id))]
pub async fn rank(
    pool: &db::PgPool,
    assignment_id: i64,
    user_id: Option<i64>,
    ranking: &NewRanking,
) -> Result<bool, AppError> {
    let user_id = user_id.ok_or_else(AppError::login_required)?;
    let ranking = db::judgements::NewRanking {
        groups: ranking.groups.clone(),
        none_acceptable: ranking.none_acceptable,
        rationale: ranking.rationale.clone(),
        time_ms: ranking.time_ms,
    };
    db::judgements::rank(pool, assignment_id, user_id, &ranking)
        .await
        .or_app()
}

/// A vote as the judging page's form sends it: the choice's name, the strength (empty: none),
/// the rationale and the milliseconds as text.
///
/// # Errors
/// 400 for an unknown choice or a time that is not a number.
pub fn form_vote(
    choice: &str,
    strength: Option<String>,
    rationale: Option<String>,
    time_to_vote_ms: Option<&str>,
) -> Result<NewVote, AppError> {
    Ok(NewVote {
        choice: parse_choice(choice)?,
        strength: strength.filter(|s| !s.is_empty()),
        rationale,
        time_to_vote_ms: parse_time_ms(time_to_vote_ms)?,
    })
}

/// Parses an optional choice (the rating form's "also choose"): empty means none.
///
/// # Errors
/// As [`parse_choice`].
pub fn parse_optional_choice(choice: Option<&str>) -> Result<Option<Choice>, AppError> {
    match choice.map(str::trim).filter(|c| !c.is_empty()) {
        None => Ok(None),
        Some(c) => parse_choice(c).map(Some),
    }
}

/// Parses a pairwise choice as the judging form sends it.
///
/// # Errors
/// 422 naming the field for anything but `left`, `right`, `tie` or `both_bad`.
pub fn parse_choice(choice: &str) -> Result<Choice, AppError> {
    match choice.trim() {
        "left" => Ok(Choice::Left),
        "right" => Ok(Choice::Right),
        "tie" => Ok(Choice::Tie),
        "both_bad" => Ok(Choice::BothBad),
        other => Err(AppError::Unprocessable(format!(
            "choice: {other:?} is not left, right, tie or both_bad"
        ))),
    }
}

/// Parses the time a form measured: empty means the browser could not measure it (the server
/// then uses the time since the assignment was issued).
///
/// # Errors
/// 422 for text that is not a whole number of milliseconds.
pub fn parse_time_ms(time: Option<&str>) -> Result<Option<i32>, AppError> {
    match time.map(str::trim).filter(|t| !t.is_empty()) {
        None => Ok(None),
        Some(t) => t.parse::<i32>().map(Some).map_err(|_| {
            AppError::Unprocessable(format!("time_to_vote_ms: {t:?} is not a whole number"))
        }),
    }
}

/// Gives an item back to the pool: others will get it, this annotator will not see it again.
///
/// # Errors
/// 404 for an unknown assignment, 403 for another annotator's, 409 for one that has lapsed or
/// is done; Internal on database failure.
pub async fn skip(pool: &db::PgPool, assignment_id: i64, user_id: i64) -> Result<(), AppError> {
    db::assignments::skip(pool, assignment_id, user_id)
        .await
        .or_app()
}

/// Issues the annotator's next assignment in a project (their open one first); pairwise items
/// go out least loaded first, then by their model pair's active score
/// (`scores`, [`crate::sampling::PairScores`]). `None` when they have judged everything
/// available.
///
/// # Errors
/// 404 for an unknown project (or the arena's); Internal on database failure.
pub async fn issue(
    pool: &db::PgPool,
    scores: &crate::sampling::PairScores,
    project_id: i64,
    user_id: i64,
) -> Result<Option<Issued>, AppError> {
    let prefer = scores.get(pool, project_id).await?;
    match db::assignments::next(pool, project_id, user_id, &prefer).await {
        Ok(issued) => Ok(issued),
        Err(db::Error::NotFound) => Err(AppError::NotFound("no such project".into())),
        Err(e) => Err(crate::db_error(e)),
    }
}

/// The annotator's next item in a project, with its responses rendered as safe HTML; `None`
/// when they have judged everything available.
///
/// # Errors
/// 404 for an unknown project; Internal on database failure.
#[tracing::instrument(skip_all, fields(project_id = project_id, user_id = user_id))]
pub async fn next_item(
    pool: &db::PgPool,
    scores: &crate::sampling::PairScores,
    project_id: i64,
    user_id: i64,
) -> Result<Option<ItemView>, AppError> {
    let project = project_id;
    let issued = issue(pool, scores, project, user_id).await?;
    let (done, total) = db::assignments::progress(pool, project, user_id)
        .await
        .or_app()?;
    Ok(issued.and_then(|i| {
        let responses: Vec<(i64, String)> = i
            .responses
            .iter()
            .map(|(id, text)| (*id, crate::markdown::render(text)))
            .collect();
        if i.protocol == "pairwise" && responses.len() != 2 {
            return None;
        }
        let html = |k: usize| responses.get(k).map(|r| r.1.clone()).unwrap_or_default();
        let cfg = db::judgements::ProtocolConfig::from_json(&i.config);
        Some(ItemView {
            assignment_id: i.assignment_id,
            prompt: i.prompt,
            left_html: html(0),
            right_html: html(1),
            done,
            total,
            guidelines_html: crate::markdown::render(&i.guidelines),
            guideline_version: i.guideline_version,
            rationale_mode: i.rationale_mode,
            strength_scale: i.strength_scale,
            with_choice: cfg.with_choice && responses.len() == 2,
            protocol: i.protocol,
            responses,
            criteria: cfg
                .criteria
                .into_iter()
                .map(|c| CriterionView {
                    name: c.name,
                    min: c.min,
                    max: c.max,
                    low: c.low,
                    high: c.high,
                })
                .collect(),
            allow_na: cfg.allow_na,
        })
    }))
}

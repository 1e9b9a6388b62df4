//! Ratings, rankings and what researchers learn from them, under `/api/v1`: submitting a
//! rating or ranking assignment, exporting them, and the project's agreement and
//! rating/ranking-vs-pairwise consistency reports.

use super::extract::ApiPath;
use app::auth::ssr::require_role;
use app::error::AppError;
use app::state::AppState;
use axum::extract::State;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use service::users::Role;
use tower_sessions::Session;

use crate::http::exports::ExportQuery;
use crate::http::extract::ApiJson;

/// The routes, nested under `/api/v1`.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/assignments/{id}/ratings", post(rate))
        .route("/assignments/{id}/ranking", post(rank))
        .route("/exports/ratings", get(export_ratings))
        .route("/exports/rankings", get(export_rankings))
        .route("/projects/{id}/agreement", get(agreement))
        .route("/projects/{id}/consistency", get(consistency))
}

/// Body of `POST /api/v1/assignments/{id}/ratings`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RatingsBody {
    /// Every response on every criterion: `{response_id, criterion, score}` (`score: null` is
    /// N/A where the project allows it).
    pub scores: Vec<service::annotation::Score>,
    /// `left`, `right`, `tie` or `both_bad`, when the project also asks for a choice.
    #[serde(default)]
    pub choice: Option<service::annotation::Choice>,
    /// Written reason.
    #[serde(default)]
    pub rationale: Option<String>,
    /// Milliseconds from display to submit.
    #[serde(default)]
    pub time_ms: Option<i32>,
}

/// `POST /api/v1/assignments/{id}/ratings`: 201 when recorded, 200 when it repeats an earlier
/// submission; 422 naming the field for a score outside the scale, a response not in the
/// item, a missing row.
#[tracing::instrument(skip_all, fields(assignment_id))]
async fn rate(
    State(state): State<AppState>,
    session: Session,
    ApiPath(assignment_id): ApiPath<i64>,
    ApiJson(body): ApiJson<RatingsBody>,
) -> Result<axum::http::StatusCode, AppError> {
    tracing::Span::current().record("assignment_id", assignment_id);
    let new = service::annotation::NewRatings {
        scores: body.scores,
        choice: body.choice,
        rationale: body.rationale,
        time_ms: body.time_ms,
    };
    let user_id = app::auth::ssr::session_user_id(&session).await?;
    let created = service::annotation::rate(&state.pool, assignment_id, user_id, &new).await?;
    Ok(super::extract::created_or_ok(created))
}

/// `POST /api/v1/assignments/{id}/ranking` with `{groups: [[id, ...], ...], none_acceptable,
/// rationale, time_ms}`: 201 / 200 as above; 422 for a ranking that omits or repeats a
/// response or names one not in the item.
#[tracing::instrument(skip_all, fields(assignment_id))]
async fn rank(
    State(state): State<AppState>,
    session: Session,
    ApiPath(assignment_id): ApiPath<i64>,
    ApiJson(body): ApiJson<service::annotation::NewRanking>,
) -> Result<axum::http::StatusCode, AppError> {
    tracing::Span::current().record("assignment_id", assignment_id);
    let user_id = app::auth::ssr::session_user_id(&session).await?;
    let created = service::annotation::rank(&state.pool, assignment_id, user_id, &body).await?;
    Ok(super::extract::created_or_ok(created))
}

fn jsonl<T: serde::Serialize>(
    rows: &[T],
    name: &str,
) -> Result<axum::response::Response, AppError> {
    let mut out = Vec::new();
    for r in rows {
        serde_json::to_writer(&mut out, r).map_err(AppError::internal)?;
        out.push(b'\n');
    }
    Ok(crate::http::exports::download(
        out,
        "application/jsonl",
        name,
    ))
}

/// `GET /api/v1/exports/ratings?project=` (researchers, admins): one JSON line per score, with
/// the display order and time.
#[tracing::instrument(skip_all)]
async fn export_ratings(
    State(state): State<AppState>,
    session: Session,
    q: Result<axum::extract::Query<ExportQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<axum::response::Response, AppError> {
    let q = crate::http::exports::export_request(&state, &session, q).await?;
    jsonl(
        &service::exports::ratings(&state.pool, q.project.as_deref()).await?,
        "ratings.jsonl",
    )
}

/// `GET /api/v1/exports/rankings?project=` (researchers, admins): one JSON line per ranking.
#[tracing::instrument(skip_all)]
async fn export_rankings(
    State(state): State<AppState>,
    session: Session,
    q: Result<axum::extract::Query<ExportQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<axum::response::Response, AppError> {
    let q = crate::http::exports::export_request(&state, &session, q).await?;
    jsonl(
        &service::exports::rankings(&state.pool, q.project.as_deref()).await?,
        "rankings.jsonl",
    )
}

/// `GET /api/v1/projects/{id}/agreement` (researchers, admins).
#[tracing::instrument(skip_all)]
async fn agreement(
    State(state): State<AppState>,
    session: Session,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<app::quality::AgreementReport>, AppError> {
    require_role(&state, &session, &[Role::Researcher, Role::Admin]).await?;
    Ok(Json(service::quality::agreement(&state.pool, id).await?))
}

/// `GET /api/v1/projects/{id}/consistency` (researchers, admins).
#[tracing::instrument(skip_all)]
async fn consistency(
    State(state): State<AppState>,
    session: Session,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<app::quality::ConsistencyReport>, AppError> {
    require_role(&state, &session, &[Role::Researcher, Role::Admin]).await?;
    Ok(Json(service::quality::consistency(&state.pool, id).await?))
}

//! LLM judges under `/api/v1`: queueing a judge job for the workers, following it, stopping it,
//! and a project's judge audit.

use super::extract::{ApiJson, ApiPath};
use app::auth::ssr::require_role;
use app::error::AppError;
use app::state::AppState;
use axum::extract::State;
use axum::routing::{get, post};
use axum::{Json, Router};
use service::users::Role;
use tower_sessions::Session;

/// The routes, nested under `/api/v1`.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/judge-jobs", post(queue))
        .route("/judge-jobs/{id}", get(view))
        .route("/judge-jobs/{id}/cancel", post(cancel))
        .route("/projects/{id}/judges", get(audit))
}

/// `POST /api/v1/judge-jobs` (admins): queues a judge job; 201 with it.
#[tracing::instrument(skip_all)]
async fn queue(
    State(state): State<AppState>,
    session: Session,
    ApiJson(body): ApiJson<api::judges::NewJudgeJob>,
) -> Result<(axum::http::StatusCode, Json<api::judges::JudgeJobView>), AppError> {
    let admin = require_role(&state, &session, &[Role::Admin]).await?;
    let request = service::judges::request_of(&body, Some(admin.user_id))?;
    let job = service::judges::queue(&state.pool, &request).await?;
    let view = service::judges::view(&state.pool, job.judge_job_id).await?;
    Ok((axum::http::StatusCode::CREATED, Json(view)))
}

/// `GET /api/v1/judge-jobs/{id}` (researchers, admins): the job and its progress.
#[tracing::instrument(skip_all, fields(job_id = id))]
async fn view(
    State(state): State<AppState>,
    session: Session,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<api::judges::JudgeJobView>, AppError> {
    require_role(&state, &session, &[Role::Researcher, Role::Admin]).await?;
    Ok(Json(service::judges::view(&state.pool, id).await?))
}

/// `POST /api/v1/judge-jobs/{id}/cancel` (admins): 202 while it stops.
#[tracing::instrument(skip_all, fields(job_id = id))]
async fn cancel(
    State(state): State<AppState>,
    session: Session,
    ApiPath(id): ApiPath<i64>,
) -> Result<axum::http::StatusCode, AppError> {
    require_role(&state, &session, &[Role::Admin]).await?;
    service::judges::cancel(&state.pool, id).await?;
    Ok(axum::http::StatusCode::ACCEPTED)
}

/// `GET /api/v1/projects/{id}/judges` (researchers, admins): the judge audit.
#[tracing::instrument(skip_all, fields(project_id = id))]
async fn audit(
    State(state): State<AppState>,
    session: Session,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<api::judges::JudgeAudit>, AppError> {
    require_role(&state, &session, &[Role::Researcher, Role::Admin]).await?;
    Ok(Json(service::judges::audit(&state.pool, id).await?))
}

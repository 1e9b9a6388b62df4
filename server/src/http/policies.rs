//! Training policies under `/api/v1`: create one, list them, read one with its lineage, pause
//! and resume it. The workers run the loop (`service::policies::tick`).

use super::extract::{ApiJson, ApiPath};
use api::policies::{NewPolicy, PolicyView};
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
        .route("/training-policies", get(list).post(create))
        .route("/training-policies/{id}", get(show))
        .route("/training-policies/{id}/pause", post(pause))
        .route("/training-policies/{id}/resume", post(resume))
}

/// `POST /api/v1/training-policies` (admins): 201 with the policy.
#[tracing::instrument(skip_all)]
async fn create(
    State(state): State<AppState>,
    session: Session,
    ApiJson(body): ApiJson<NewPolicy>,
) -> Result<(axum::http::StatusCode, Json<PolicyView>), AppError> {
    let admin = require_role(&state, &session, &[Role::Admin]).await?;
    let policy = service::policies::create(&state.pool, &body, Some(admin.user_id)).await?;
    Ok((axum::http::StatusCode::CREATED, Json(policy)))
}

/// `GET /api/v1/training-policies` (researchers, admins): every policy with its lineage.
#[tracing::instrument(skip_all)]
async fn list(
    State(state): State<AppState>,
    session: Session,
) -> Result<Json<Vec<PolicyView>>, AppError> {
    require_role(&state, &session, &[Role::Researcher, Role::Admin]).await?;
    Ok(Json(service::policies::list(&state.pool).await?))
}

/// `GET /api/v1/training-policies/{id}` (researchers, admins): the policy with its lineage.
#[tracing::instrument(skip_all, fields(policy_id = id))]
async fn show(
    State(state): State<AppState>,
    session: Session,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<PolicyView>, AppError> {
    require_role(&state, &session, &[Role::Researcher, Role::Admin]).await?;
    Ok(Json(service::policies::show(&state.pool, id).await?))
}

/// `POST /api/v1/training-policies/{id}/pause` (admins): it starts no round until resumed.
#[tracing::instrument(skip_all, fields(policy_id = id))]
async fn pause(
    State(state): State<AppState>,
    session: Session,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<PolicyView>, AppError> {
    require_role(&state, &session, &[Role::Admin]).await?;
    Ok(Json(
        service::policies::set_paused(&state.pool, id, true).await?,
    ))
}

/// `POST /api/v1/training-policies/{id}/resume` (admins).
#[tracing::instrument(skip_all, fields(policy_id = id))]
async fn resume(
    State(state): State<AppState>,
    session: Session,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<PolicyView>, AppError> {
    require_role(&state, &session, &[Role::Admin]).await?;
    Ok(Json(
        service::policies::set_paused(&state.pool, id, false).await?,
    ))
}

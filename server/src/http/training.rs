//! `/api/v1/training-runs`: launch (with a preview), list, watch, cancel, and export a run's
//! frozen snapshot as TRL JSONL.

use super::extract::{ApiPath, ApiQuery};
use app::auth::ssr::require_role;
use app::error::AppError;
use app::state::AppState;
use app::training::{LaunchPreview, LaunchRequest, RunView};
use axum::extract::State;
use axum::routing::{get, post};
use axum::{Json, Router};
use service::users::Role;
use tower_sessions::Session;

use crate::http::extract::ApiJson;

/// The routes, nested under `/api/v1`.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/training-runs", get(list).post(launch))
        .route("/training-runs/preview", post(preview))
        .route("/training-runs/{id}", get(view))
        .route("/training-runs/{id}/metrics", get(metrics))
        .route("/training-runs/{id}/cancel", post(cancel))
        .route("/training-runs/{id}/snapshot.jsonl", get(snapshot))
}

/// `POST /api/v1/training-runs/preview` (admins): how many pairs the filter yields, with a
/// few examples.
#[tracing::instrument(skip_all)]
async fn preview(
    State(state): State<AppState>,
    session: Session,
    ApiJson(req): ApiJson<LaunchRequest>,
) -> Result<Json<LaunchPreview>, AppError> {
    require_role(&state, &session, &[Role::Admin]).await?;
    Ok(Json(service::training::preview(&state.pool, &req).await?.0))
}

/// `POST /api/v1/training-runs` (admins): validates, freezes the snapshot and queues the run;
/// 201 with the run.
#[tracing::instrument(skip_all)]
async fn launch(
    State(state): State<AppState>,
    session: Session,
    ApiJson(req): ApiJson<LaunchRequest>,
) -> Result<(axum::http::StatusCode, Json<RunView>), AppError> {
    let user = require_role(&state, &session, &[Role::Admin]).await?;
    let id =
        service::training::launch(&state.pool, state.models.as_ref(), Some(user.user_id), &req)
            .await?;
    Ok((
        axum::http::StatusCode::CREATED,
        Json(service::training::view(&state.pool, id).await?),
    ))
}

/// `GET /api/v1/training-runs` (admins, researchers): the latest runs, without metrics.
#[tracing::instrument(skip_all)]
async fn list(
    State(state): State<AppState>,
    session: Session,
) -> Result<Json<Vec<RunView>>, AppError> {
    require_role(&state, &session, &[Role::Admin, Role::Researcher]).await?;
    Ok(Json(service::training::list(&state.pool).await?))
}

/// `GET /api/v1/training-runs/{id}` (admins, researchers): a run with every step's metrics.
#[tracing::instrument(skip_all)]
async fn view(
    State(state): State<AppState>,
    session: Session,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<RunView>, AppError> {
    require_role(&state, &session, &[Role::Admin, Role::Researcher]).await?;
    Ok(Json(service::training::view(&state.pool, id).await?))
}

/// Query of the metrics route.
#[derive(Debug, serde::Deserialize)]
struct After {
    #[serde(default)]
    after: i32,
}

/// `GET /api/v1/training-runs/{id}/metrics?after=N` (admins, researchers): the steps after N.
#[tracing::instrument(skip_all)]
async fn metrics(
    State(state): State<AppState>,
    session: Session,
    ApiPath(id): ApiPath<i64>,
    ApiQuery(q): ApiQuery<After>,
) -> Result<Json<Vec<service::training::MetricRow>>, AppError> {
    require_role(&state, &session, &[Role::Admin, Role::Researcher]).await?;
    Ok(Json(
        service::training::metrics(&state.pool, id, q.after).await?,
    ))
}

/// `POST /api/v1/training-runs/{id}/cancel` (admins): a queued run is cancelled now, a running
/// one after its current step; 422 for a run that has ended.
#[tracing::instrument(skip_all)]
async fn cancel(
    State(state): State<AppState>,
    session: Session,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<RunView>, AppError> {
    require_role(&state, &session, &[Role::Admin]).await?;
    Ok(Json(service::training::cancel(&state.pool, id).await?))
}

/// `GET /api/v1/training-runs/{id}/snapshot.jsonl` (admins, researchers): the run's pairs in
/// TRL's format (`prompt`, `chosen`, `rejected`, plus `confidence` and provenance).
#[tracing::instrument(skip_all)]
async fn snapshot(
    State(state): State<AppState>,
    session: Session,
    ApiPath(id): ApiPath<i64>,
) -> Result<axum::response::Response, AppError> {
    require_role(&state, &session, &[Role::Admin, Role::Researcher]).await?;
    let derived = service::training::snapshot_pairs(&state.pool, id).await?;
    let mut out = Vec::new();
    for p in &derived.pairs {
        serde_json::to_writer(&mut out, p).map_err(AppError::internal)?;
        out.push(b'\n');
    }
    Ok(crate::http::exports::download(
        out,
        "application/jsonl",
        &format!("training-run-{id}.jsonl"),
    ))
}

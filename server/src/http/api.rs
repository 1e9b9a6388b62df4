//! The REST API under `/api/v1`. Errors are JSON: `{"error": {"code", "message"}}`.

use app::auth::SessionUser;
use app::auth::ssr::{require_role, require_user, session_user, to_session_user};
use app::error::AppError;
use app::state::AppState;
use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use service::users::Role;
use tower_sessions::Session;

/// Routes of `/api/v1`; unknown paths answer a JSON 404.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/me", get(get_me))
        .route(
            "/openapi.json",
            get(|| async { Json(crate::http::openapi::document()) }),
        )
        .route("/admin/users", get(list_users).post(create_user))
        .route("/leaderboard", get(get_leaderboard))
        .route("/projects", get(list_projects))
        .route("/exports/votes", get(super::exports::export_votes))
        .route("/exports/dpo", get(super::exports::export_dpo))
        .route("/exports/dpo/card", get(super::exports::export_dpo_card))
        .route("/admin/models", get(list_models))
        .route("/admin/models/{id}", axum::routing::patch(update_model))
        .route("/arena/next-pair", get(get_next_pair))
        .route(
            "/arena/battles/{id}/events",
            get(crate::http::arena::battle_events),
        )
        .route(
            "/projects/{id}/assignments/next",
            axum::routing::post(next_assignment),
        )
        .route("/assignments/{id}/vote", axum::routing::post(create_vote))
        .route(
            "/assignments/{id}/skip",
            axum::routing::post(skip_assignment),
        )
        .merge(crate::http::training::router())
        .merge(crate::http::quality::router())
        .merge(crate::http::judges::router())
        .merge(crate::http::policies::router())
        .fallback(|| async { AppError::NotFound("no such API route".into()) })
}

use super::extract::{ApiJson, ApiPath, ApiQuery};

/// `GET /api/v1/me`: the session's user, or `null`.
async fn get_me(
    State(state): State<AppState>,
    session: Session,
) -> Result<Json<Option<SessionUser>>, AppError> {
    Ok(Json(
        session_user(&state, &session).await?.map(to_session_user),
    ))
}

/// A user in the admin listing.
#[derive(Debug, Serialize)]
pub struct UserResponse {
    /// Primary key.
    pub user_id: i64,
    /// Role.
    pub role: String,
    /// Login name.
    pub username: Option<String>,
    /// External id.
    pub external_id: Option<String>,
    /// Anonymous annotator.
    pub is_anonymous: bool,
}

impl From<service::users::UserRow> for UserResponse {
    fn from(u: service::users::UserRow) -> Self {
        Self {
            user_id: u.user_id,
            role: u.role,
            username: u.username,
            external_id: u.external_id,
            is_anonymous: u.is_anonymous,
        }
    }
}

/// `GET /api/v1/admin/users` (admins).
#[tracing::instrument(skip_all)]
async fn list_users(
    State(state): State<AppState>,
    session: Session,
) -> Result<Json<Vec<UserResponse>>, AppError> {
    require_role(&state, &session, &[Role::Admin]).await?;
    let users = service::users::list(&state.pool, 1000).await?;
    Ok(Json(users.into_iter().map(Into::into).collect()))
}

/// Body of `POST /api/v1/admin/users`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateUser {
    /// Login name.
    pub username: String,
    /// Password, at least 8 characters.
    pub password: String,
    /// `admin`, `researcher` or `annotator` (read by the same rule as the admin page's form).
    pub role: String,
}

/// `POST /api/v1/admin/users` (admins): creates an account, 201 with the user.
#[tracing::instrument(skip_all)]
async fn create_user(
    State(state): State<AppState>,
    session: Session,
    ApiJson(body): ApiJson<CreateUser>,
) -> Result<(axum::http::StatusCode, Json<UserResponse>), AppError> {
    require_role(&state, &session, &[Role::Admin]).await?;
    let role = service::users::parse_role(&body.role)?;
    let user =
        service::users::create_staff(&state.pool, &body.username, body.password, role).await?;
    Ok((axum::http::StatusCode::CREATED, Json(user.into())))
}

/// `GET /api/v1/leaderboard?project=&category=&cohort=&source=&from=&to=&exclude_ties=&style_control=&ci=sandwich|bootstrap&reweight=&tie_model=&audit=&format=json|csv`
/// (public, like the page).
#[tracing::instrument(skip_all)]
async fn get_leaderboard(
    State(state): State<AppState>,
    axum::extract::Query(params): axum::extract::Query<std::collections::HashMap<String, String>>,
) -> Result<axum::response::Response, AppError> {
    use axum::response::IntoResponse;
    let (query, csv) = service::leaderboard::query_from_params(&params)?;
    let board = service::leaderboard::cached(&state.pool, &state.leaderboards, &query).await?;
    if csv {
        let csv_type = [(axum::http::header::CONTENT_TYPE, "text/csv; charset=utf-8")];
        Ok((csv_type, service::leaderboard::to_csv(&board)).into_response())
    } else {
        Ok(Json(board).into_response())
    }
}

/// `GET /api/v1/arena/next-pair?project=`: the two models to battle next, chosen by the
/// uncertainty sampler, on random sides. Needs a session (annotators get one on arrival).
#[tracing::instrument(skip_all)]
async fn get_next_pair(
    State(state): State<AppState>,
    session: Session,
    ApiQuery(query): ApiQuery<NextPairQuery>,
) -> Result<Json<app::leaderboard::NextPair>, AppError> {
    require_user(&state, &session).await?;
    let project = service::sampling::parse_project(query.project.as_deref())?;
    Ok(Json(
        service::sampling::next_pair(&state.pool, project).await?,
    ))
}

/// The query of `GET /api/v1/arena/next-pair`.
#[derive(Debug, Deserialize)]
struct NextPairQuery {
    /// A project id; empty or absent: the arena.
    project: Option<String>,
}

/// `POST /api/v1/projects/{id}/assignments/next`: the annotator's open assignment, or a new one;
/// 204 when nothing is left for them.
#[tracing::instrument(skip_all, fields(project_id))]
async fn next_assignment(
    State(state): State<AppState>,
    session: Session,
    ApiPath(project_id): ApiPath<i64>,
) -> Result<axum::response::Response, AppError> {
    tracing::Span::current().record("project_id", project_id);
    use axum::response::IntoResponse;
    let user = session_user(&state, &session)
        .await?
        .ok_or_else(AppError::login_required)?;
    match service::annotation::issue(&state.pool, &state.pair_scores, project_id, user.user_id)
        .await?
    {
        Some(issued) => Ok(Json(issued).into_response()),
        None => Ok(axum::http::StatusCode::NO_CONTENT.into_response()),
    }
}

/// `POST /api/v1/assignments/{id}/vote`: records the vote once (201; a repeat answers 200 with
/// the same vote) and reveals the models.
#[tracing::instrument(skip_all, fields(assignment_id))]
async fn create_vote(
    State(state): State<AppState>,
    session: Session,
    ApiPath(assignment_id): ApiPath<i64>,
    ApiJson(body): ApiJson<service::annotation::NewVote>,
) -> Result<(axum::http::StatusCode, Json<service::annotation::Recorded>), AppError> {
    tracing::Span::current().record("assignment_id", assignment_id);
    let user_id = app::auth::ssr::session_user_id(&session).await?;
    let recorded = service::annotation::vote(&state.pool, assignment_id, user_id, &body).await?;
    Ok((
        super::extract::created_or_ok(recorded.created),
        Json(recorded),
    ))
}

/// `POST /api/v1/assignments/{id}/skip`: gives the item back to the pool (204).
#[tracing::instrument(skip_all, fields(assignment_id))]
async fn skip_assignment(
    State(state): State<AppState>,
    session: Session,
    ApiPath(assignment_id): ApiPath<i64>,
) -> Result<axum::http::StatusCode, AppError> {
    tracing::Span::current().record("assignment_id", assignment_id);
    let user = session_user(&state, &session)
        .await?
        .ok_or_else(AppError::login_required)?;
    service::annotation::skip(&state.pool, assignment_id, user.user_id).await?;
    Ok(axum::http::StatusCode::NO_CONTENT)
}

/// `GET /api/v1/admin/models` (admins): every model with its scheduling settings.
#[tracing::instrument(skip_all)]
async fn list_models(
    State(state): State<AppState>,
    session: Session,
) -> Result<Json<Vec<service::models::ModelInfo>>, AppError> {
    require_role(&state, &session, &[Role::Admin]).await?;
    Ok(Json(service::models::list(&state.pool).await?))
}

/// Body of `PATCH /api/v1/admin/models/{id}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateModel {
    /// Whether the arena may schedule the model.
    pub enabled: Option<bool>,
    /// Relative weight in the pair sampler (0 = never).
    pub sampling_weight: Option<f64>,
}

/// `PATCH /api/v1/admin/models/{id}` (admins): enable/disable a model or set its sampling weight.
#[tracing::instrument(skip_all, fields(model_id))]
async fn update_model(
    State(state): State<AppState>,
    session: Session,
    ApiPath(model_id): ApiPath<i64>,
    ApiJson(body): ApiJson<UpdateModel>,
) -> Result<Json<service::models::ModelInfo>, AppError> {
    tracing::Span::current().record("model_id", model_id);
    require_role(&state, &session, &[Role::Admin]).await?;
    let model = service::models::update_scheduling(
        &state.pool,
        model_id,
        body.enabled,
        body.sampling_weight,
    )
    .await?;
    Ok(Json(model))
}

/// `GET /api/v1/projects`: every project with its protocol and item count (any session; the
/// arena's own project only for staff, since annotators never annotate it).
#[tracing::instrument(skip_all)]
async fn list_projects(
    State(state): State<AppState>,
    session: Session,
) -> Result<Json<Vec<service::projects::ProjectSummary>>, AppError> {
    let user = session_user(&state, &session)
        .await?
        .ok_or_else(AppError::login_required)?;
    let staff = matches!(user.role(), Role::Researcher | Role::Admin);
    Ok(Json(
        service::projects::summaries(&state.pool, staff).await?,
    ))
}

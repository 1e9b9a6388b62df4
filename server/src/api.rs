//! The REST API under `/api/v1`. Errors are JSON: `{"error": {"code", "message"}}`.

use app::auth::SessionUser;
use app::auth::ssr::{require_role, session_user, to_session_user};
use app::error::AppError;
use app::state::AppState;
use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Request, State};
use axum::routing::get;
use axum::{Json, Router};
use db::users::Role;
use serde::{Deserialize, Serialize};
use service::OrApp;
use tower_sessions::Session;

/// Routes of `/api/v1`; unknown paths answer a JSON 404.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/me", get(get_me))
        .route(
            "/openapi.json",
            get(|| async { Json(crate::openapi::document()) }),
        )
        .route("/admin/users", get(list_users).post(create_user))
        .route("/leaderboard", get(get_leaderboard))
        .route("/projects", get(list_projects))
        .route("/exports/votes", get(export_votes))
        .route("/exports/dpo", get(export_dpo))
        .route("/exports/dpo/card", get(export_dpo_card))
        .route("/admin/models", get(list_models))
        .route("/admin/models/{id}", axum::routing::patch(update_model))
        .route("/arena/next-pair", get(get_next_pair))
        .route(
            "/arena/battles/{id}/events",
            get(crate::arena::battle_events),
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
        .merge(crate::training_api::router())
        .merge(crate::quality_api::router())
        .fallback(|| async { AppError::NotFound("no such API route".into()) })
}

/// A JSON body whose rejections use the API's error format: 400 for unreadable JSON, 422 for
/// JSON of the wrong shape, 415 folded into 400 with a message naming the content type.
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    Json<T>: FromRequest<S, Rejection = JsonRejection>,
    S: Send + Sync,
{
    type Rejection = AppError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(value)) => Ok(Self(value)),
            Err(JsonRejection::JsonDataError(e)) => Err(AppError::Unprocessable(e.body_text())),
            Err(e) => Err(AppError::BadRequest(e.body_text())),
        }
    }
}

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

impl From<db::users::UserRow> for UserResponse {
    fn from(u: db::users::UserRow) -> Self {
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
    let users = db::users::list(&state.pool, 1000).await.or_app()?;
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
    /// Role.
    pub role: Role,
}

/// `POST /api/v1/admin/users` (admins): creates an account, 201 with the user.
#[tracing::instrument(skip_all)]
async fn create_user(
    State(state): State<AppState>,
    session: Session,
    ApiJson(body): ApiJson<CreateUser>,
) -> Result<(axum::http::StatusCode, Json<UserResponse>), AppError> {
    require_role(&state, &session, &[Role::Admin]).await?;
    let user =
        service::users::create_staff(&state.pool, &body.username, body.password, body.role).await?;
    Ok((axum::http::StatusCode::CREATED, Json(user.into())))
}

/// `GET /api/v1/leaderboard?project=&category=&cohort=&source=&from=&to=&exclude_ties=&style_control=&format=json|csv`
/// (public, like the page).
#[tracing::instrument(skip_all)]
async fn get_leaderboard(
    State(state): State<AppState>,
    axum::extract::Query(params): axum::extract::Query<std::collections::HashMap<String, String>>,
) -> Result<axum::response::Response, AppError> {
    use axum::response::IntoResponse;
    let (query, csv) = service::leaderboard::query_from_params(&params)?;
    let board = service::leaderboard::compute(&state.pool, &query).await?;
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
    axum::extract::Query(params): axum::extract::Query<std::collections::HashMap<String, String>>,
) -> Result<Json<app::leaderboard::NextPair>, AppError> {
    session_user(&state, &session)
        .await?
        .ok_or_else(AppError::login_required)?;
    let project = match params
        .get("project")
        .map(|p| p.trim())
        .filter(|p| !p.is_empty())
    {
        Some(p) => Some(
            p.parse::<i64>()
                .map_err(|_| AppError::BadRequest("`project` is a project id".into()))?,
        ),
        None => None,
    };
    Ok(Json(
        service::sampling::next_pair(&state.pool, project).await?,
    ))
}

/// `POST /api/v1/projects/{id}/assignments/next`: the annotator's open assignment, or a new one;
/// 204 when nothing is left for them.
#[tracing::instrument(skip_all, fields(project_id))]
async fn next_assignment(
    State(state): State<AppState>,
    session: Session,
    axum::extract::Path(project_id): axum::extract::Path<i64>,
) -> Result<axum::response::Response, AppError> {
    tracing::Span::current().record("project_id", project_id);
    use axum::response::IntoResponse;
    let user = session_user(&state, &session)
        .await?
        .ok_or_else(AppError::login_required)?;
    match db::assignments::next(&state.pool, project_id, user.user_id).await {
        Ok(Some(issued)) => Ok(Json(issued).into_response()),
        Ok(None) => Ok(axum::http::StatusCode::NO_CONTENT.into_response()),
        Err(db::Error::NotFound) => Err(AppError::NotFound("no such project".into())),
        Err(e) => Err(service::db_error(e)),
    }
}

/// `POST /api/v1/assignments/{id}/vote`: records the vote once (201; a repeat answers 200 with
/// the same vote) and reveals the models.
#[tracing::instrument(skip_all, fields(assignment_id))]
async fn create_vote(
    State(state): State<AppState>,
    session: Session,
    axum::extract::Path(assignment_id): axum::extract::Path<i64>,
    ApiJson(body): ApiJson<db::assignments::NewVote>,
) -> Result<(axum::http::StatusCode, Json<db::assignments::Recorded>), AppError> {
    tracing::Span::current().record("assignment_id", assignment_id);
    let user_id = app::auth::ssr::session_user_id(&session).await?;
    let recorded = service::annotation::vote(&state.pool, assignment_id, user_id, &body).await?;
    let status = if recorded.created {
        axum::http::StatusCode::CREATED
    } else {
        axum::http::StatusCode::OK
    };
    Ok((status, Json(recorded)))
}

/// `POST /api/v1/assignments/{id}/skip`: gives the item back to the pool (204).
#[tracing::instrument(skip_all, fields(assignment_id))]
async fn skip_assignment(
    State(state): State<AppState>,
    session: Session,
    axum::extract::Path(assignment_id): axum::extract::Path<i64>,
) -> Result<axum::http::StatusCode, AppError> {
    tracing::Span::current().record("assignment_id", assignment_id);
    let user = session_user(&state, &session)
        .await?
        .ok_or_else(AppError::login_required)?;
    db::assignments::skip(&state.pool, assignment_id, user.user_id)
        .await
        .or_app()?;
    Ok(axum::http::StatusCode::NO_CONTENT)
}

/// `GET /api/v1/admin/models` (admins): every model with its scheduling settings.
#[tracing::instrument(skip_all)]
async fn list_models(
    State(state): State<AppState>,
    session: Session,
) -> Result<Json<Vec<db::leaderboard::ModelInfo>>, AppError> {
    require_role(&state, &session, &[Role::Admin]).await?;
    Ok(Json(db::leaderboard::models(&state.pool).await.or_app()?))
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
    axum::extract::Path(model_id): axum::extract::Path<i64>,
    ApiJson(body): ApiJson<UpdateModel>,
) -> Result<Json<db::leaderboard::ModelInfo>, AppError> {
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

/// `GET /api/v1/projects`: every project with its protocol and item count (any session).
#[tracing::instrument(skip_all)]
async fn list_projects(
    State(state): State<AppState>,
    session: Session,
) -> Result<Json<Vec<db::stats::ProjectSummary>>, AppError> {
    session_user(&state, &session)
        .await?
        .ok_or_else(AppError::login_required)?;
    Ok(Json(db::stats::projects(&state.pool).await.or_app()?))
}

/// Query of the export routes.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportQuery {
    /// Project name; all projects when absent.
    pub project: Option<String>,
    /// `jsonl` (default), `csv` or `parquet`.
    pub format: Option<crate::export::Format>,
    /// DPO only: count LLM-judge votes too.
    #[serde(default)]
    pub include_llm_judge: bool,
}

/// The checks every export route shares: researchers and admins only, a readable query.
pub(crate) async fn export_request(
    state: &AppState,
    session: &Session,
    q: Result<axum::extract::Query<ExportQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<ExportQuery, AppError> {
    require_role(state, session, &[Role::Researcher, Role::Admin]).await?;
    let axum::extract::Query(mut q) = q.map_err(|e| AppError::BadRequest(e.body_text()))?;
    q.project = q
        .project
        .map(|p| p.trim().to_owned())
        .filter(|p| !p.is_empty());
    Ok(q)
}

/// The DPO pairs an export query asks for, with the judgement sources counted.
async fn dpo_rows(
    state: &AppState,
    q: &ExportQuery,
) -> Result<(Vec<db::exports::DpoPair>, &'static [&'static str]), AppError> {
    let sources = crate::export::dpo_sources(q.include_llm_judge);
    let rows = db::exports::dpo_majority(&state.pool, q.project.as_deref(), sources)
        .await
        .or_app()?;
    Ok((rows, sources))
}

pub(crate) fn download(
    bytes: Vec<u8>,
    content_type: &'static str,
    filename: &str,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    (
        [
            (axum::http::header::CONTENT_TYPE, content_type.to_owned()),
            (
                axum::http::header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{filename}\""),
            ),
        ],
        bytes,
    )
        .into_response()
}

fn export_name(kind: &str, project: Option<&str>, ext: &str) -> String {
    let project: String = project
        .unwrap_or("all")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("verdict-{kind}-{project}.{ext}")
}

/// `GET /api/v1/exports/votes?project=&format=jsonl|csv|parquet` (researchers, admins).
#[tracing::instrument(skip_all)]
async fn export_votes(
    State(state): State<AppState>,
    session: Session,
    q: Result<axum::extract::Query<ExportQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<axum::response::Response, AppError> {
    let q = export_request(&state, &session, q).await?;
    let format = q.format.unwrap_or(crate::export::Format::Jsonl);
    let rows = db::exports::votes(&state.pool, q.project.as_deref())
        .await
        .or_app()?;
    let bytes = crate::export::votes_bytes(&rows, format).map_err(AppError::internal)?;
    Ok(download(
        bytes,
        format.content_type(),
        &export_name("votes", q.project.as_deref(), format.extension()),
    ))
}

/// `GET /api/v1/exports/dpo?project=&format=jsonl|csv|parquet&include_llm_judge=` (researchers,
/// admins): TRL preference pairs, majority per item.
#[tracing::instrument(skip_all)]
async fn export_dpo(
    State(state): State<AppState>,
    session: Session,
    q: Result<axum::extract::Query<ExportQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<axum::response::Response, AppError> {
    let q = export_request(&state, &session, q).await?;
    let format = q.format.unwrap_or(crate::export::Format::Jsonl);
    let (rows, _) = dpo_rows(&state, &q).await?;
    let bytes = crate::export::dpo_bytes(&rows, format).map_err(AppError::internal)?;
    Ok(download(
        bytes,
        format.content_type(),
        &export_name("dpo", q.project.as_deref(), format.extension()),
    ))
}

/// `GET /api/v1/exports/dpo/card?project=&include_llm_judge=`: the dataset card (Markdown) of
/// the matching DPO export.
#[tracing::instrument(skip_all)]
async fn export_dpo_card(
    State(state): State<AppState>,
    session: Session,
    q: Result<axum::extract::Query<ExportQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<axum::response::Response, AppError> {
    let q = export_request(&state, &session, q).await?;
    let (rows, sources) = dpo_rows(&state, &q).await?;
    let card = crate::export::dpo_card(&rows, q.project.as_deref(), sources);
    Ok(download(
        card.into_bytes(),
        "text/markdown; charset=utf-8",
        &export_name("dpo-card", q.project.as_deref(), "md"),
    ))
}

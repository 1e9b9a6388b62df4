//! The export routes: votes and DPO pairs as files, with the checks every export route shares.

use app::auth::ssr::require_role;
use app::error::AppError;
use app::state::AppState;
use axum::extract::State;
use serde::Deserialize;
use service::users::Role;
use tower_sessions::Session;

/// Query of the export routes.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportQuery {
    /// Project name; all projects when absent.
    pub project: Option<String>,
    /// `jsonl` (default), `csv` or `parquet`.
    pub format: Option<crate::exports::Format>,
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
) -> Result<(Vec<service::exports::DpoPair>, &'static [&'static str]), AppError> {
    let sources = crate::exports::dpo_sources(q.include_llm_judge);
    let rows = service::exports::dpo_pairs(&state.pool, q.project.as_deref(), sources).await?;
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
pub(crate) async fn export_votes(
    State(state): State<AppState>,
    session: Session,
    q: Result<axum::extract::Query<ExportQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<axum::response::Response, AppError> {
    let q = export_request(&state, &session, q).await?;
    let format = q.format.unwrap_or(crate::exports::Format::Jsonl);
    let rows = service::exports::votes(&state.pool, q.project.as_deref()).await?;
    let bytes = crate::exports::votes_bytes(&rows, format).map_err(AppError::internal)?;
    Ok(download(
        bytes,
        format.content_type(),
        &export_name("votes", q.project.as_deref(), format.extension()),
    ))
}

/// `GET /api/v1/exports/dpo?project=&format=jsonl|csv|parquet&include_llm_judge=` (researchers,
/// admins): TRL preference pairs, majority per item.
#[tracing::instrument(skip_all)]
pub(crate) async fn export_dpo(
    State(state): State<AppState>,
    session: Session,
    q: Result<axum::extract::Query<ExportQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<axum::response::Response, AppError> {
    let q = export_request(&state, &session, q).await?;
    let format = q.format.unwrap_or(crate::exports::Format::Jsonl);
    let (rows, _) = dpo_rows(&state, &q).await?;
    let bytes = crate::exports::dpo_bytes(&rows, format).map_err(AppError::internal)?;
    Ok(download(
        bytes,
        format.content_type(),
        &export_name("dpo", q.project.as_deref(), format.extension()),
    ))
}

/// `GET /api/v1/exports/dpo/card?project=&include_llm_judge=`: the dataset card (Markdown) of
/// the matching DPO export.
#[tracing::instrument(skip_all)]
pub(crate) async fn export_dpo_card(
    State(state): State<AppState>,
    session: Session,
    q: Result<axum::extract::Query<ExportQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<axum::response::Response, AppError> {
    let q = export_request(&state, &session, q).await?;
    let (rows, sources) = dpo_rows(&state, &q).await?;
    let card = crate::exports::dpo_card(&rows, q.project.as_deref(), sources);
    Ok(download(
        card.into_bytes(),
        "text/markdown; charset=utf-8",
        &export_name("dpo-card", q.project.as_deref(), "md"),
    ))
}

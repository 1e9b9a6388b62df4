//! Projects: creating one from imported responses, with one set of checks.

use crate::{AppError, OrApp};

/// A project to create, as the new-project form gives it.
#[derive(Debug, Clone, Copy)]
pub struct CreateProject<'a> {
    /// Name.
    pub name: &'a str,
    /// Prompts of this project only: a project id as the form sends it (empty for all).
    pub source_project: Option<&'a str>,
    /// `pairwise`, `rating` or `ranking`.
    pub protocol: &'a str,
    /// Protocol settings as JSON.
    pub config: &'a serde_json::Value,
    /// Settings.
    pub settings: &'a db::projects::ProjectSettings,
    /// The competing models.
    pub models: &'a [i64],
}

/// Creates a project (see [`db::projects::create`]) and returns its number of items.
///
/// # Errors
/// 422 for an empty name or invalid settings, 400 for a source that is not an id, 409 for a
/// taken name.
#[tracing::instrument(skip_all, fields(protocol = p.protocol))]
pub async fn create(
    pool: &db::PgPool,
    created_by: i64,
    p: &CreateProject<'_>,
) -> Result<usize, AppError> {
    if p.name.trim().is_empty() {
        return Err(AppError::Unprocessable("the project needs a name".into()));
    }
    let source = match p.source_project.map(str::trim) {
        None | Some("") => None,
        Some(s) => Some(
            s.parse::<i64>()
                .map_err(|_| AppError::BadRequest("the source project is a project id".into()))?,
        ),
    };
    let project = db::projects::NewProject {
        name: p.name,
        protocol: p.protocol,
        config: p.config,
        settings: p.settings,
        source_project: source,
        models: p.models,
        created_by: Some(created_by),
    };
    let (_, items) = db::projects::create(pool, &project).await.or_app()?;
    Ok(items)
}

use api::admin::{CandidateModel, ProjectRow};
pub use api::annotation::ProjectSummary;
pub use db::projects::{ProjectAdmin, ProjectSettings};
pub use db::stats::Overview;

/// Projects with their item counts, oldest first; the arena's only when `with_arena`.
///
/// # Errors
/// Internal on database failure.
pub async fn summaries(
    pool: &db::PgPool,
    with_arena: bool,
) -> Result<Vec<ProjectSummary>, AppError> {
    let projects = db::stats::projects(pool, with_arena).await.or_app()?;
    Ok(projects
        .into_iter()
        .map(|p| ProjectSummary {
            project_id: p.project_id,
            name: p.name,
            protocol: p.protocol,
            items: p.items,
        })
        .collect())
}

/// Counts of the main resources, for the home page.
///
/// # Errors
/// Internal on database failure.
pub async fn overview(pool: &db::PgPool) -> Result<Overview, AppError> {
    db::stats::overview(pool).await.or_app()
}

/// Every project with its settings and counts, for admins.
///
/// # Errors
/// Internal on database failure.
pub async fn list(pool: &db::PgPool) -> Result<Vec<ProjectAdmin>, AppError> {
    db::projects::list(pool).await.or_app()
}

/// The models that can compete in a new project: those with responses (to the prompts of
/// `source_project`'s items, or to any prompt).
///
/// # Errors
/// Internal on database failure.
pub async fn candidate_models(
    pool: &db::PgPool,
    source_project: Option<i64>,
) -> Result<Vec<CandidateModel>, AppError> {
    Ok(db::projects::models_with_responses(pool, source_project)
        .await
        .or_app()?
        .into_iter()
        .map(|m| CandidateModel {
            model_id: m.model_id,
            name: m.name,
            prompts: m.prompts,
        })
        .collect())
}

/// Every project with its settings and counts, as the admin page lists them.
///
/// # Errors
/// Internal on database failure.
pub async fn listed(pool: &db::PgPool) -> Result<Vec<ProjectRow>, AppError> {
    Ok(list(pool)
        .await?
        .into_iter()
        .map(|p| ProjectRow {
            project_id: p.project_id,
            name: p.name,
            protocol: p.protocol,
            guidelines: p.guidelines,
            guidelines_version: p.guidelines_version,
            overlap_target: p.overlap_target,
            rationale_mode: p.rationale_mode,
            strength_scale: p.strength_scale,
            assignment_ttl_seconds: p.assignment_ttl_seconds,
            judge_routing: p.judge_routing,
            items: p.items,
            votes: p.votes,
        })
        .collect())
}

/// Updates a project's settings; returns the guideline version in force.
///
/// # Errors
/// 404 for an unknown project; 422 for invalid settings.
pub async fn update_settings(
    pool: &db::PgPool,
    project_id: i64,
    settings: &ProjectSettings,
) -> Result<i32, AppError> {
    db::projects::update_settings(pool, project_id, settings)
        .await
        .or_app()
}

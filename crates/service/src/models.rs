//! Models: registering contestants and their arena scheduling, and what the use cases need from
//! the binary's model backends, as small traits (the server implements them with the trainer, so
//! that candle stays out of the UI and this crate).

use std::future::Future;
use std::pin::Pin;

use crate::{AppError, OrApp};

/// A boxed future, as the traits' methods return.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Can this `local` model load?
pub trait ModelCheck: Send + Sync + 'static {
    /// Checks that a `local` model's settings name a folder the trainer can load (config,
    /// weights' shapes and tokenizer), with the adapters `run` asks for when given; the error
    /// says what is wrong.
    fn check_model(
        &self,
        config: serde_json::Value,
        run: Option<api::training::RunConfig>,
    ) -> BoxFuture<'static, Result<(), String>>;
}

/// The largest sampling weight a model may have.
pub const MAX_SAMPLING_WEIGHT: f64 = 1000.0;

/// Enables or disables a model in the arena and/or sets its sampling weight (the admin page and
/// `PATCH /api/v1/admin/models/{id}`).
///
/// # Errors
/// 422 for a weight outside 0 to [`MAX_SAMPLING_WEIGHT`]; 404 for an unknown model.
#[tracing::instrument(skip_all, fields(model_id = model_id))]
pub async fn update_scheduling(
    pool: &db::PgPool,
    model_id: i64,
    enabled: Option<bool>,
    sampling_weight: Option<f64>,
) -> Result<ModelInfo, AppError> {
    // Bounded: the sampler multiplies weights, and a huge one overflows to infinity.
    if sampling_weight.is_some_and(|w| !(0.0..=MAX_SAMPLING_WEIGHT).contains(&w)) {
        return Err(AppError::Unprocessable(format!(
            "sampling_weight is a number from 0 to {MAX_SAMPLING_WEIGHT}"
        )));
    }
    crate::error::or_not_found(
        db::leaderboard::update_model_scheduling(pool, model_id, enabled, sampling_weight).await,
        || "no such model".into(),
    )
    .map(model_info)
}

/// Registers an OpenAI-compatible endpoint as a contestant.
///
/// # Errors
/// 422 naming what is missing or malformed; 409 for a taken name.
pub async fn register_openai(
    pool: &db::PgPool,
    name: &str,
    base_url: &str,
    model: &str,
    api_key_env: Option<&str>,
) -> Result<i64, AppError> {
    let (name, base_url, model) = (name.trim(), base_url.trim(), model.trim());
    if name.is_empty() || model.is_empty() {
        return Err(AppError::Unprocessable(
            "name the model and the remote model".into(),
        ));
    }
    if !(base_url.starts_with("http://") || base_url.starts_with("https://")) {
        return Err(AppError::Unprocessable(
            "the base URL starts with http:// or https://".into(),
        ));
    }
    let key = api_key_env.map(str::trim).filter(|k| !k.is_empty());
    if key.is_some_and(|k| !k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')) {
        return Err(AppError::Unprocessable(
            "the API key setting is the name of an environment variable (letters, digits, _), \
             not the key"
                .into(),
        ));
    }
    let mut config = serde_json::json!({"base_url": base_url, "model": model});
    if let Some(k) = key {
        config["api_key_env"] = serde_json::Value::String(k.to_owned());
    }
    db::arena::register_model(pool, name, "openai", &config)
        .await
        .or_app()
}

/// [`register_openai`], unless a model of that name is already this endpoint: then its id, and
/// `false` (registering the same again changes nothing).
///
/// # Errors
/// As [`register_openai`]; 409 when the name belongs to another model.
pub async fn register_openai_once(
    pool: &db::PgPool,
    name: &str,
    base_url: &str,
    model: &str,
    api_key_env: Option<&str>,
) -> Result<(i64, bool), AppError> {
    match db::judges::model_by_name(pool, name.trim()).await {
        Ok((id, kind)) => {
            let config = db::arena::model_config(pool, id).await.or_app()?;
            let same = kind == "openai"
                && config["base_url"].as_str() == Some(base_url.trim())
                && config["model"].as_str() == Some(model.trim())
                && config["api_key_env"].as_str()
                    == api_key_env.map(str::trim).filter(|k| !k.is_empty());
            if same {
                Ok((id, false))
            } else {
                Err(AppError::Conflict(format!(
                    "a different model is named {:?}",
                    name.trim()
                )))
            }
        }
        Err(db::Error::NotFound) => {
            let id = register_openai(pool, name, base_url, model, api_key_env).await?;
            Ok((id, true))
        }
        Err(e) => Err(crate::db_error(e)),
    }
}

pub use api::admin::ModelInfo;

/// A model's row as the wire shows it.
fn model_info(m: db::leaderboard::ModelInfo) -> ModelInfo {
    ModelInfo {
        model_id: m.model_id,
        name: m.name,
        kind: m.kind,
        parent_model_id: m.parent_model_id,
        enabled: m.enabled,
        sampling_weight: m.sampling_weight,
    }
}

/// Every model with its scheduling settings.
///
/// # Errors
/// Internal on database failure.
pub async fn list(pool: &db::PgPool) -> Result<Vec<ModelInfo>, AppError> {
    let models = db::leaderboard::models(pool).await.or_app()?;
    Ok(models.into_iter().map(model_info).collect())
}

/// A model's backend settings (a local model's folder and generation settings).
///
/// # Errors
/// 404 for an unknown model.
pub async fn config(pool: &db::PgPool, model_id: i64) -> Result<serde_json::Value, AppError> {
    crate::error::or_not_found(db::arena::model_config(pool, model_id).await, || {
        format!("no model #{model_id}")
    })
}

/// How many models the arena can pit against each other now: enabled, with a positive weight,
/// and answering (not a dataset's stored responses).
///
/// # Errors
/// Internal on database failure.
pub async fn arena_contestants(pool: &db::PgPool) -> Result<usize, AppError> {
    Ok(list(pool)
        .await?
        .iter()
        .filter(|m| m.enabled && m.sampling_weight > 0.0 && m.kind != "dataset")
        .count())
}

/// What registering a local model under a name that exists does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IfTaken {
    /// 409 (the admin page).
    Refuse,
    /// Nothing, when the name is a local model of the same folder (`verdict model add-local`,
    /// which scripts run again); 409 otherwise.
    KeepSameFolder,
}

/// A local model registered, or found registered already.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Registered {
    /// Its id.
    pub model_id: i64,
    /// False when it was there already.
    pub created: bool,
}

/// Registers a local model, a Hugging Face folder on the server run by Verdict's own
/// generation (`config` holds its `path` and optional generation settings), enabled for the
/// arena unless `enabled` is false. Whether the weights load is the caller's to check first
/// (the binary holds the trainer).
///
/// # Errors
/// 422 for an empty name or a folder without `config.json` and `tokenizer.json`; 409 for a
/// taken name (see [`IfTaken`]).
pub async fn register_local(
    pool: &db::PgPool,
    name: &str,
    config: &serde_json::Value,
    enabled: bool,
    if_taken: IfTaken,
) -> Result<Registered, AppError> {
    let name = name.trim();
    if name.is_empty() {
        return Err(AppError::Unprocessable("name the model".into()));
    }
    let path = config
        .get("path")
        .and_then(|p| p.as_str())
        .unwrap_or("")
        .trim();
    let dir = std::path::Path::new(path);
    for file in ["config.json", "tokenizer.json"] {
        if !dir.join(file).is_file() {
            return Err(AppError::Unprocessable(format!(
                "{path} is not a Hugging Face model folder on the server (no {file})"
            )));
        }
    }
    if if_taken == IfTaken::KeepSameFolder
        && let Some(m) = list(pool).await?.into_iter().find(|m| m.name == name)
    {
        let current = db::arena::model_config(pool, m.model_id).await.or_app()?;
        if m.kind == "local" && current.get("path") == config.get("path") {
            return Ok(Registered {
                model_id: m.model_id,
                created: false,
            });
        }
        return Err(AppError::Conflict(format!(
            "the name `{name}` belongs to another model (#{})",
            m.model_id
        )));
    }
    let model_id = db::arena::register_model(pool, name, "local", config)
        .await
        .or_app()?;
    if !enabled {
        update_scheduling(pool, model_id, Some(false), None).await?;
    }
    Ok(Registered {
        model_id,
        created: true,
    })
}

/// Every model with its scheduling settings, as the admin page lists them.
///
/// # Errors
/// Internal on database failure.
pub async fn listed(pool: &db::PgPool) -> Result<Vec<api::admin::ModelListItem>, AppError> {
    Ok(list(pool)
        .await?
        .into_iter()
        .map(|m| api::admin::ModelListItem {
            model_id: m.model_id,
            name: m.name,
            kind: m.kind,
            enabled: m.enabled,
            sampling_weight: m.sampling_weight,
        })
        .collect())
}

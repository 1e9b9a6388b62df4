//! The application state of a running `verdict`, with the binary's side of
//! [`service::models::ModelCheck`] (the trainer loads the model).

use std::sync::Arc;

use app::state::{AppState, Settings};
use leptos::config::LeptosOptions;
use service::models::{BoxFuture, ModelCheck};

/// The model check of a running `verdict`.
#[derive(Debug, Default)]
pub struct TrainerModelCheck;

/// The application state with this binary's model check.
#[must_use]
pub fn state(pool: service::PgPool, leptos_options: LeptosOptions, settings: Settings) -> AppState {
    AppState {
        pool,
        leptos_options,
        limiter: Arc::new(service::limits::Limiter::new(settings.limits)),
        generation_slots: Arc::new(service::limits::Slots::new(
            settings.limits.generations_per_model,
        )),
        leaderboards: Arc::default(),
        pair_scores: Arc::default(),
        settings: Arc::new(settings),
        models: Arc::new(TrainerModelCheck),
    }
}

impl ModelCheck for TrainerModelCheck {
    fn check_model(
        &self,
        config: serde_json::Value,
        run: Option<api::training::RunConfig>,
    ) -> BoxFuture<'static, Result<(), String>> {
        Box::pin(async move {
            tokio::task::spawn_blocking(move || crate::worker::check_model(&config, run.as_ref()))
                .await
                .map_err(|e| format!("the check failed: {e}"))?
                .map_err(|e| format!("{e:#}"))
        })
    }
}

//! Server-side application state, provided to server functions as Leptos context.

use std::sync::Arc;

use axum::extract::FromRef;
use leptos::config::LeptosOptions;
pub use service::Settings;
use service::models::ModelCheck;

/// Everything a request handler needs; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    /// The database.
    pub pool: service::PgPool,
    /// Leptos' site settings.
    pub leptos_options: LeptosOptions,
    /// Runtime settings.
    pub settings: Arc<Settings>,
    /// The model check, provided by the server binary (which holds the trainer).
    pub models: Arc<dyn ModelCheck>,
    /// Per-client rate limits (this node's counts).
    pub limiter: Arc<service::limits::Limiter>,
    /// Generation slots per arena model.
    pub generation_slots: Arc<service::limits::Slots>,
    /// Leaderboards already computed.
    pub leaderboards: Arc<service::leaderboard::Cache>,
    /// Pairwise projects' model-pair scores, which order the items handed out.
    pub pair_scores: Arc<service::sampling::PairScores>,
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos_options.clone()
    }
}

/// The client's address, set by the server's connection layer as a request extension.
#[derive(Debug, Clone, Default)]
pub struct ClientIp(pub Option<String>);

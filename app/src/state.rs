//! Server-side application state, provided to server functions as Leptos context.

use std::sync::Arc;

use axum::extract::FromRef;
use leptos::config::LeptosOptions;

/// Everything a request handler needs; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    /// The database.
    pub pool: db::PgPool,
    /// Leptos' site settings.
    pub leptos_options: LeptosOptions,
    /// Runtime settings.
    pub settings: Arc<Settings>,
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos_options.clone()
    }
}

/// Runtime settings that handlers read.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Query parameter carrying an annotator's external id (e.g. `pid` for Prolific).
    pub external_id_param: String,
    /// Failed logins allowed per username or address within the window.
    pub login_max_failures: i64,
    /// Length of the login rate-limit window in seconds.
    pub login_window_secs: i64,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            external_id_param: "pid".into(),
            login_max_failures: 10,
            login_window_secs: 900,
        }
    }
}

/// The client's address, set by the server's connection layer as a request extension.
#[derive(Debug, Clone, Default)]
pub struct ClientIp(pub Option<String>);

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
    /// Work provided by the server binary, which sits above this crate.
    pub services: Arc<dyn Services>,
}

/// A boxed future, as the [`Services`] methods return.
pub type BoxFuture<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;

/// A file uploaded through a form.
#[derive(Debug, Clone)]
pub struct Upload {
    /// The file name the browser sent.
    pub name: String,
    /// The content.
    pub bytes: Vec<u8>,
}

/// An import asked for on the data page.
#[derive(Debug, Clone)]
pub struct ImportRequest {
    /// `pandalm`, `jsonl` or `arena`.
    pub kind: String,
    /// Project to create or extend (optional for `arena`).
    pub project: Option<String>,
    /// The main file.
    pub file: Upload,
    /// PandaLM only: the GPT-3.5 judgements file.
    pub judgements: Option<Upload>,
    /// Validate and count, then roll back.
    pub dry_run: bool,
}

/// Work that server functions hand to the server binary (importers live there, next to the
/// CLI that shares them).
pub trait Services: Send + Sync + 'static {
    /// Runs (or dry-runs) an import in one transaction.
    fn import(
        &self,
        pool: db::PgPool,
        request: ImportRequest,
    ) -> BoxFuture<'static, Result<crate::pages::data::ImportReport, crate::error::AppError>>;

    /// Checks that a `local` model's settings name a folder the trainer can load (config,
    /// weights' shapes and tokenizer); the error says what is wrong.
    fn check_model(&self, config: serde_json::Value) -> BoxFuture<'static, Result<(), String>>;
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

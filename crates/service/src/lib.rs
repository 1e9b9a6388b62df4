//! Verdict's use cases. Every edge — server functions, REST handlers, CLI commands and the
//! worker — calls these: each function validates its input, calls `db`, runs `ranking`, and
//! returns `api` types or an [`AppError`], so the same action answers the same way everywhere.
//!
//! No axum, no leptos and no candle here (docs/architecture.md): what only the binary can do is
//! reached through the small traits of [`models`].

pub mod annotation;
pub mod arena;
pub mod battles;
pub mod bench;
pub mod database;
pub mod demo;
pub mod error;
pub mod exports;
pub mod imports;
pub mod judges;
pub mod leaderboard;
pub mod limits;
pub mod markdown;
pub mod models;
pub mod policies;
pub mod projects;
pub mod quality;
pub mod queue;
pub mod sampling;
pub mod settings;
pub mod spreadsheet;
pub mod stats;
pub mod training;
pub mod users;

pub use api::AppError;
pub use db::PgPool;
pub use error::{OrApp, db_error};
pub use settings::Settings;

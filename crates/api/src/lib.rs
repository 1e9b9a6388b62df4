//! Verdict's wire types: what server functions and the REST API take and return, and
//! [`AppError`], the one error that crosses the wire.
//!
//! One module per use case. This crate compiles to wasm (the browser's side of server functions
//! reads these types); its `server` feature adds the axum response of an error and nothing else.

pub mod admin;
pub mod annotation;
pub mod data;
pub mod error;
pub mod judges;
pub mod leaderboard;
pub mod policies;
pub mod quality;
pub mod training;

pub use error::AppError;

//! The `verdict` server: command line, HTTP router, REST API and the embedded PostgreSQL.

pub mod api;
pub mod cli;
pub mod pg;
pub mod web;

//! The `verdict` server: command line, HTTP router, REST API and the embedded PostgreSQL.

#![recursion_limit = "256"]

pub mod analyze;
pub mod api;
pub mod arena;
pub mod backends;
pub mod bench_votes;
pub mod cli;
pub mod export;
pub mod import;
pub mod leaderboard_cmd;
pub mod openapi;
pub mod parquet_out;
pub mod pg;
pub mod quality_api;
pub mod services;
pub mod train_cmd;
pub mod training_api;
pub mod web;
pub mod worker;

//! The `verdict` server: the HTTP router and REST API (`http/`), the command line (`cli/`), the
//! training worker, the model backends and the embedded PostgreSQL.

#![recursion_limit = "256"]

pub mod backends;
pub mod cli;
pub mod exports;
pub mod http;
pub mod judge;
pub mod parquet_out;
pub mod pg;
pub mod services;
pub mod worker;

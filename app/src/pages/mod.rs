//! One module per route.

pub mod admin;
pub mod annotate;
pub mod arena;
pub mod compare;
pub mod data;
pub mod home;
pub mod judge;
pub mod judge_audit;
pub mod leaderboard;
pub mod llm_judges;
pub mod login;
pub mod not_found;
pub mod policies;
pub mod projects;
pub mod quality;
pub mod training;

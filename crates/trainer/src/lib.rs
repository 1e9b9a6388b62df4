//! Verdict's DPO trainer on candle.
//!
//! The decoder, the DPO loss family and the training loop land here (see DESIGN.md §6); the
//! crate exists now so that the workspace's dependency graph (`server -> trainer`) is in place.

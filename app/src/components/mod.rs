//! Components shared by several pages.

pub mod forms;
pub mod header;
pub mod island;
pub mod poll;
pub mod shortcuts;

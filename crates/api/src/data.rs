//! Imports and exports: what an import reports back to the data page and the REST API.

use serde::{Deserialize, Serialize};

/// What an import did (or, for a dry run, would do), with the file's first records.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportReport {
    /// Nothing was written.
    pub dry_run: bool,
    /// Items in the file.
    pub items: usize,
    /// Items that are (or would be) new.
    pub new_items: usize,
    /// Judgements in the file.
    pub votes: usize,
    /// Judgements that are (or would be) new.
    pub new_votes: u64,
    /// Records skipped, with why.
    pub skipped: Vec<String>,
    /// Columns of the preview.
    pub columns: Vec<String>,
    /// The file's first records, values shortened.
    pub rows: Vec<Vec<String>>,
}

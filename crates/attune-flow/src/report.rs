//! The apply report as people and scripts see it: one row per setting (or preference), saying
//! whether it was applied, is not supported on this machine, or failed — and why.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The outcome of one setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Applied,
    /// Not supported on this machine (schema missing, no solution for the term, …).
    NotSupported,
    /// Tried and failed (rejected value, unwritable file, …).
    Failed,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Applied => "applied",
            Outcome::NotSupported => "not supported here",
            Outcome::Failed => "failed",
        }
    }
}

/// One row of the apply report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReportRow {
    /// Solution id (e.g. `org.gnome.desktop.interface`), or empty for a preference no solution
    /// takes.
    pub solution: String,
    /// The setting (GSettings key, file path) or, for unused preferences, the term.
    pub setting: String,
    /// The value written (absent for rows that are not about a value).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<Value>,
    pub outcome: Outcome,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// Counts of a report, for summaries.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub applied: usize,
    pub not_supported: usize,
    pub failed: usize,
}

pub fn counts(rows: &[ReportRow]) -> Counts {
    let mut c = Counts::default();
    for r in rows {
        match r.outcome {
            Outcome::Applied => c.applied += 1,
            Outcome::NotSupported => c.not_supported += 1,
            Outcome::Failed => c.failed += 1,
        }
    }
    c
}

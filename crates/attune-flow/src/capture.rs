//! `attune capture` and "Save these settings as mine": the desktop as it is now, read through
//! this computer's registry and turned back into preference terms (docs/capture.md). Reading is
//! the desktop's job ([`crate::Desktop::read`]), turning values into terms the model's
//! ([`attune_model::capture`]); this module sequences them and says what it found in words.
//! Saving is [`crate::cloudflow::save_capture`].

use std::collections::BTreeMap;

use attune_model::capture::Capture;
use serde::Serialize;
use serde_json::Value;

use crate::engine::Flow;
use crate::error::FlowError;
use crate::report::{Outcome, ReportRow};
use crate::words::{captured_in_words, CapturedLine};

/// What a capture found.
#[derive(Debug, Clone, Serialize)]
pub struct CaptureOutcome {
    /// What would be saved, one line per item in words, each with the id to choose it by.
    pub lines: Vec<CapturedLine>,
    /// The same as a preference set's preferences (GPII's terms; an application block is an
    /// object of that application's settings).
    pub preferences: BTreeMap<String, Value>,
    /// Settings that were read but are not kept (a value Attune would not write), or could
    /// not be read, with why.
    pub skipped: Vec<ReportRow>,
    /// Kept for choosing items by id when saving; its items are `lines`.
    #[serde(skip)]
    pub(crate) capture: Capture,
}

impl CaptureOutcome {
    /// The preferences of the items whose id is in `ids`, or of every item for `None`.
    pub fn chosen(&self, ids: Option<&[String]>) -> BTreeMap<String, Value> {
        match ids {
            None => self.capture.preferences(),
            Some(ids) => self.capture.preferences_of_ids(ids),
        }
    }
}

/// Reads the desktop and captures it, under the state lock (a key-in or key-out in another
/// process is not read half done). Call with the lock held.
pub(crate) fn capture_locked(flow: &Flow) -> Result<CaptureOutcome, FlowError> {
    let (reading, problems) = flow.desktop.read(flow.registry());
    outcome_of(flow.registry(), &reading, problems)
}

/// A reading's capture, with the rows of what could not be read (`problems`) and of what was
/// read but not kept.
pub(crate) fn outcome_of(
    registry: &attune_model::registry::SolutionsRegistry,
    reading: &attune_model::capture::Reading,
    problems: Vec<ReportRow>,
) -> Result<CaptureOutcome, FlowError> {
    let mut skipped = problems;
    let capture = attune_model::capture::capture(registry, reading)?;
    skipped.extend(capture.skipped.iter().map(|s| ReportRow {
        solution: s.solution.clone(),
        setting: s.setting.clone(),
        value: Some(s.value.clone()),
        outcome: Outcome::NotSupported,
        reason: Some(format!("not kept: the value {}", s.reason)),
    }));
    Ok(CaptureOutcome {
        lines: captured_in_words(&capture.items),
        preferences: capture.preferences(),
        skipped,
        capture,
    })
}

//! The record of test sessions (issue 20 item 4): in the testing profile, every key-in, key-out
//! and restore after an interrupted session appends one JSON line to
//! `<state dir>/test-sessions.jsonl`, which `attune report` prints for a lab's test protocol.
//! Never in the cloud profiles: there the key is a person's, and nothing of it is kept.
//!
//! A line is written whole with one `write` on a file opened for appending, then synced, so a
//! crash leaves at most a last line cut short; reading skips a line it cannot understand and
//! counts it.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::report::{Outcome, ReportRow};
use crate::snapsets::SnapsetOrigin;

/// The record's file name in the state directory.
pub const FILE: &str = "test-sessions.jsonl";

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TestEvent {
    KeyIn,
    KeyOut,
    /// A session cut short (a crash, a kill) was put back by the next command.
    Recovered,
}

impl TestEvent {
    pub fn as_str(self) -> &'static str {
        match self {
            TestEvent::KeyIn => "key-in",
            TestEvent::KeyOut => "key-out",
            TestEvent::Recovered => "recovered",
        }
    }
}

/// One setting's outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SettingOutcome {
    pub solution: String,
    pub setting: String,
    pub outcome: Outcome,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl From<&ReportRow> for SettingOutcome {
    fn from(r: &ReportRow) -> Self {
        SettingOutcome {
            solution: r.solution.clone(),
            setting: r.setting.clone(),
            outcome: r.outcome,
            reason: r.reason.clone(),
        }
    }
}

/// How a restore ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RestoreResult {
    pub restored: usize,
    /// Settings that could not be put back (they stay in the journal).
    pub failed: Vec<SettingOutcome>,
}

/// One line of the record. Every field is written (`null` or `[]` where it does not apply), so
/// each line has the same columns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TestRecord {
    /// UTC, `YYYY-MM-DDTHH:MM:SSZ`.
    pub at: String,
    pub unix: u64,
    pub event: TestEvent,
    /// The snapset's key (unknown for a restore whose session file was lost).
    pub snapset: Option<String>,
    pub origin: Option<SnapsetOrigin>,
    /// The snapset's file, and the SHA-256 of its bytes: which version of it was tested.
    pub file: Option<String>,
    pub sha256: Option<String>,
    /// Key-in: each setting's outcome, and how long until the desktop had them.
    pub settings: Vec<SettingOutcome>,
    pub applied_ms: Option<u64>,
    /// Key-out and recovery: what was put back.
    pub restore: Option<RestoreResult>,
    /// Recovery: how far the interrupted session had got (`applying`, `active`, `restoring`).
    pub interrupted: Option<String>,
}

impl TestRecord {
    pub(crate) fn new(event: TestEvent, unix: u64, snapset: Option<&str>) -> TestRecord {
        TestRecord {
            at: timestamp(unix),
            unix,
            event,
            snapset: snapset.map(str::to_owned),
            origin: None,
            file: None,
            sha256: None,
            settings: Vec::new(),
            applied_ms: None,
            restore: None,
            interrupted: None,
        }
    }
}

/// `YYYY-MM-DDTHH:MM:SSZ` for a Unix time.
pub(crate) fn timestamp(unix: u64) -> String {
    let secs = unix % 86_400;
    format!(
        "{}T{:02}:{:02}:{:02}Z",
        attune_model::civil::utc_date(unix),
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

pub(crate) fn path(state_dir: &Path) -> PathBuf {
    state_dir.join(FILE)
}

/// Appends one record. A failure is logged, never the key-in's failure: the desktop comes first.
pub(crate) fn append(state_dir: &Path, record: &TestRecord) {
    let result = (|| -> std::io::Result<()> {
        let mut line = serde_json::to_vec(record).map_err(std::io::Error::other)?;
        line.push(b'\n');
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path(state_dir))?;
        f.write_all(&line)?;
        f.sync_data()
    })();
    if let Err(e) = result {
        tracing::warn!(error = %e, "cannot add to the record of test sessions");
    }
}

/// The records since `since_unix` (all with `None`), and how many lines could not be read.
pub fn read(
    state_dir: &Path,
    since_unix: Option<u64>,
) -> std::io::Result<(Vec<TestRecord>, usize)> {
    let text = match std::fs::read_to_string(path(state_dir)) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((Vec::new(), 0)),
        Err(e) => return Err(e),
    };
    let mut records = Vec::new();
    let mut unreadable = 0;
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        match serde_json::from_str::<TestRecord>(line) {
            Ok(r) if since_unix.is_none_or(|s| r.unix >= s) => records.push(r),
            Ok(_) => {}
            Err(_) => unreadable += 1,
        }
    }
    Ok((records, unreadable))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_append_whole_lines_and_a_cut_line_is_skipped_and_counted() {
        let d = tempfile::tempdir().unwrap();
        let mut r = TestRecord::new(TestEvent::KeyIn, 1_795_392_061, Some("large_text"));
        r.applied_ms = Some(12);
        append(d.path(), &r);
        append(
            d.path(),
            &TestRecord::new(TestEvent::KeyOut, 1_795_392_100, Some("large_text")),
        );
        assert_eq!(r.at, "2026-11-23T00:01:01Z");
        // A crash mid-write leaves a cut line.
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(path(d.path()))
            .unwrap();
        f.write_all(br#"{"at":"2026-11-2"#).unwrap();
        let (all, bad) = read(d.path(), None).unwrap();
        assert_eq!((all.len(), bad), (2, 1));
        assert_eq!(all[0], r);
        let (later, _) = read(d.path(), Some(1_795_392_090)).unwrap();
        assert_eq!(later.len(), 1);
        assert_eq!(later[0].event, TestEvent::KeyOut);
    }
}

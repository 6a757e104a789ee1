//! The cloud contact history (docs/design.md §8's Diagnostics): one line per call — when, which
//! operation, which host, how many attempts, how long, and how it ended. It holds no key, no token
//! and no preference, so a site administrator can read it and put it in a support bundle.
//!
//! A JSON-lines file in the state dir, shared by every process (the app, the CLI, the listeners);
//! lines are appended with `O_APPEND` (one `write` each, so concurrent writers do not interleave)
//! and the file is cut back to the newest [`KEEP`] lines when it grows past [`MAX_BYTES`].

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Lines kept after a trim.
pub const KEEP: usize = 200;
/// Size at which the file is trimmed.
const MAX_BYTES: u64 = 64 * 1024;

/// One cloud call, as the Diagnostics view lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContactRecord {
    pub at_unix: u64,
    /// `token`, `settings`, `put` or `version`.
    pub operation: String,
    /// `host:port` of the endpoint that took the last attempt (no path: the path holds the key).
    pub host: String,
    /// Attempts started (0: turned away without touching the network, breaker open).
    pub attempts: u32,
    pub duration_ms: u64,
    /// `ok`, or the failure kind's code (`unreachable`, `timeout`, `busy`, …).
    pub outcome: String,
}

/// The history file.
#[derive(Debug, Clone)]
pub struct ContactLog {
    path: PathBuf,
}

impl ContactLog {
    pub fn in_dir(state_dir: &Path) -> ContactLog {
        ContactLog {
            path: state_dir.join("cloud-contacts.jsonl"),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one record. Diagnostics must never break a key-in: failures are logged only.
    pub fn append(&self, record: &ContactRecord) {
        let Ok(mut line) = serde_json::to_vec(record) else {
            return;
        };
        line.push(b'\n');
        let written = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .and_then(|mut f| {
                f.write_all(&line)?;
                f.metadata()
            });
        match written {
            Ok(meta) if meta.len() > MAX_BYTES => self.trim(),
            Ok(_) => {}
            Err(e) => {
                tracing::debug!(path = %self.path.display(), "cannot record a cloud contact: {e}")
            }
        }
    }

    /// The newest `limit` records, oldest first. Lines that do not parse (a torn write, a file
    /// from a newer version) are skipped.
    pub fn recent(&self, limit: usize) -> Vec<ContactRecord> {
        let Ok(text) = std::fs::read_to_string(&self.path) else {
            return Vec::new();
        };
        let mut all: Vec<ContactRecord> = text
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect();
        let skip = all.len().saturating_sub(limit);
        all.drain(..skip);
        all
    }

    fn trim(&self) {
        let keep = self.recent(KEEP);
        let mut out = Vec::new();
        for r in &keep {
            if let Ok(l) = serde_json::to_vec(r) {
                out.extend_from_slice(&l);
                out.push(b'\n');
            }
        }
        if let Err(e) = attune_settings::atomic::atomic_write(&self.path, &out) {
            tracing::debug!(path = %self.path.display(), "cannot trim the contact history: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(i: u64) -> ContactRecord {
        ContactRecord {
            at_unix: i,
            operation: "settings".to_owned(),
            host: "127.0.0.1:8084".to_owned(),
            attempts: 1,
            duration_ms: 3,
            outcome: "ok".to_owned(),
        }
    }

    #[test]
    fn records_come_back_oldest_first_and_the_file_stays_bounded() {
        let d = tempfile::tempdir().unwrap();
        let log = ContactLog::in_dir(d.path());
        for i in 0..2000 {
            log.append(&rec(i));
        }
        let recent = log.recent(10);
        assert_eq!(recent.len(), 10);
        assert_eq!(recent[0].at_unix, 1990);
        assert_eq!(recent[9].at_unix, 1999);
        let size = std::fs::metadata(log.path()).unwrap().len();
        assert!(size <= MAX_BYTES + 200, "file trimmed, size {size}");
        assert!(log.recent(usize::MAX).len() >= KEEP);
    }

    #[test]
    fn a_torn_or_foreign_line_is_skipped() {
        let d = tempfile::tempdir().unwrap();
        let log = ContactLog::in_dir(d.path());
        log.append(&rec(1));
        std::fs::OpenOptions::new()
            .append(true)
            .open(log.path())
            .unwrap()
            .write_all(b"{\"at_unix\": 2, \"oper\n")
            .unwrap();
        log.append(&rec(3));
        let all = log.recent(100);
        assert_eq!(
            all.iter().map(|r| r.at_unix).collect::<Vec<_>>(),
            vec![1, 3]
        );
    }

    #[test]
    fn a_missing_file_is_an_empty_history() {
        let d = tempfile::tempdir().unwrap();
        assert!(ContactLog::in_dir(&d.path().join("nope"))
            .recent(5)
            .is_empty());
    }
}

//! The outbox (docs/design.md §5.3): preference changes a person made that the cloud has not taken
//! yet, kept in order, sealed, and durable across restarts, until they are saved.

use std::path::{Path, PathBuf};

use attune_model::key::Key;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::sealed::Sealer;

const MAGIC: &[u8; 6] = b"ATTO1\n";
const KIND: &str = "outbox";

/// One unsaved change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Change {
    /// Increasing per outbox: the order changes are replayed in, and an idempotency key.
    pub id: u64,
    pub term: String,
    pub value: Value,
    pub at_unix: u64,
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OutboxError {
    #[error("outbox {path}: {detail}")]
    Io { path: String, detail: String },
}

/// The outbox of one person on this machine.
pub struct Outbox {
    path: PathBuf,
    sealer: Sealer,
    key: Key,
}

impl Outbox {
    /// Opens `key`'s outbox in `dir` (nothing is created until a change is pushed).
    pub fn open(dir: &Path, key: &Key) -> Result<Outbox, OutboxError> {
        let (sealer, _) = Sealer::open(dir).map_err(|e| OutboxError::Io {
            path: dir.display().to_string(),
            detail: e.to_string(),
        })?;
        Ok(Outbox {
            path: sealer.path(dir, key, KIND),
            sealer,
            key: key.clone(),
        })
    }

    fn aad(&self) -> Vec<u8> {
        self.path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned().into_bytes())
            .unwrap_or_default()
    }

    /// The unsaved changes, oldest first. An outbox that cannot be opened is reported empty and
    /// kept aside (`.corrupt`), never silently deleted.
    pub fn list(&self) -> Vec<Change> {
        let Ok(bytes) = std::fs::read(&self.path) else {
            return Vec::new();
        };
        let plain = self
            .sealer
            .open_sealed(&self.key, KIND, MAGIC, &self.aad(), &bytes);
        match plain.and_then(|p| serde_json::from_slice::<Vec<Change>>(&p).ok()) {
            Some(v) => v,
            None => {
                tracing::warn!(file = %self.path.display(), "outbox unreadable; kept aside");
                let _ = std::fs::rename(&self.path, self.path.with_extension("outbox.corrupt"));
                Vec::new()
            }
        }
    }

    pub fn len(&self) -> usize {
        self.list().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn write(&self, changes: &[Change]) -> Result<(), OutboxError> {
        let err = |detail: String| OutboxError::Io {
            path: self.path.display().to_string(),
            detail,
        };
        if changes.is_empty() {
            return attune_settings::atomic::remove_durable(&self.path)
                .map_err(|e| err(e.to_string()));
        }
        let plain = serde_json::to_vec(changes).map_err(|e| err(e.to_string()))?;
        let bytes = self
            .sealer
            .seal(&self.key, KIND, MAGIC, &self.aad(), &plain)
            .ok_or_else(|| err("encryption failed".to_owned()))?;
        attune_settings::atomic::atomic_write(&self.path, &bytes).map_err(|e| err(e.to_string()))
    }

    /// Appends a change durably and returns it.
    pub fn push(&self, term: &str, value: Value, at_unix: u64) -> Result<Change, OutboxError> {
        let mut all = self.list();
        let id = all.iter().map(|c| c.id).max().unwrap_or(0) + 1;
        let c = Change {
            id,
            term: term.to_owned(),
            value,
            at_unix,
        };
        all.push(c.clone());
        self.write(&all)?;
        Ok(c)
    }

    /// Removes the whole outbox, an unreadable copy kept aside included (forgetting the person).
    pub fn purge(&self) -> Result<(), OutboxError> {
        for path in [
            self.path.clone(),
            self.path.with_extension("outbox.corrupt"),
        ] {
            attune_settings::atomic::remove_durable(&path).map_err(|e| OutboxError::Io {
                path: path.display().to_string(),
                detail: e.to_string(),
            })?;
        }
        Ok(())
    }

    /// Removes the change `id` (saved by the cloud).
    pub fn remove(&self, id: u64) -> Result<(), OutboxError> {
        let mut all = self.list();
        all.retain(|c| c.id != id);
        self.write(&all)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn changes_keep_their_order_survive_reopening_and_are_sealed() {
        let d = tempfile::tempdir().unwrap();
        let k = Key::parse("6f1c-person").unwrap();
        let o = Outbox::open(d.path(), &k).unwrap();
        assert!(o.is_empty());
        o.push("http://registry.gpii.net/common/fontSize", json!(24), 1)
            .unwrap();
        o.push("http://registry.gpii.net/common/cursorSize", json!(1), 2)
            .unwrap();
        let again = Outbox::open(d.path(), &k).unwrap();
        let ids: Vec<u64> = again.list().iter().map(|c| c.id).collect();
        assert_eq!(ids, vec![1, 2]);
        for e in std::fs::read_dir(d.path()).unwrap().flatten() {
            let b = std::fs::read(e.path()).unwrap();
            let t = String::from_utf8_lossy(&b);
            assert!(!t.contains("fontSize") && !t.contains("6f1c"));
        }
        again.remove(1).unwrap();
        assert_eq!(again.list()[0].id, 2);
        again.remove(2).unwrap();
        assert!(again.is_empty());
        // Another person's outbox is separate.
        assert!(Outbox::open(d.path(), &Key::parse("other").unwrap())
            .unwrap()
            .is_empty());
    }
}

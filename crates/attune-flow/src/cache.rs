//! The encrypted preference cache (docs/design.md §5.2): per key, the last good cloud answer, so
//! that offline key-in reproduces the cloud's result exactly.
//!
//! The machine is shared, so without the person's key the cache reveals nothing:
//! - each entry is sealed with XChaCha20-Poly1305 under a key derived (HKDF-SHA256) from the
//!   person's key and a random per-install secret;
//! - the file name is a keyed hash (HKDF-SHA256 under the install secret) of the person's key,
//!   and it is bound into the ciphertext as associated data, so entries cannot be swapped;
//! - anything that fails to open or parse is treated as absent and removed.
//!
//! Writes are atomic (temp, fsync, rename, fsync dir). Time is passed in (`now`), never read here,
//! so clock skew is tested directly: an entry "from the future" has age 0, never a negative age.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use attune_model::key::Key;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::config::CacheConfig;
use crate::sealed::Sealer;

const MAGIC: &[u8; 6] = b"ATTC1\n";
const KIND: &str = "prefs";
/// Largest cache entry read (the cloud answer is capped at 4 MiB, plus a little).
const MAX_ENTRY: u64 = 5 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CacheError {
    #[error("preference cache {path}: {detail}")]
    Io { path: String, detail: String },
}

fn io(path: &Path, e: impl std::fmt::Display) -> CacheError {
    CacheError::Io {
        path: path.display().to_string(),
        detail: e.to_string(),
    }
}

/// A cached cloud answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Cached {
    pub answer: Value,
    pub saved_at: SystemTime,
    /// How old it is at the `now` it was read with (zero if the clock went backwards).
    pub age: Duration,
}

#[derive(Serialize, Deserialize)]
struct Plain {
    version: u32,
    saved_at_unix: u64,
    answer: Value,
}

/// The cache in one directory.
pub struct PrefCache {
    dir: PathBuf,
    sealer: Sealer,
    policy: CacheConfig,
}

impl PrefCache {
    /// Opens the cache in `dir`, creating it and the per-install secret on first use.
    pub fn open(dir: &Path, policy: CacheConfig) -> Result<PrefCache, CacheError> {
        let (sealer, fresh) = Sealer::open(dir).map_err(|e| io(dir, e))?;
        if fresh {
            // Entries sealed under a lost secret can never be opened again.
            purge_dir(dir);
        }
        Ok(PrefCache {
            dir: dir.to_path_buf(),
            sealer,
            policy,
        })
    }

    /// Where `key`'s entry lives (the name reveals nothing of the key).
    pub fn path_for(&self, key: &Key) -> PathBuf {
        self.sealer.path(&self.dir, key, KIND)
    }

    fn aad(path: &Path) -> Vec<u8> {
        path.file_name()
            .map(|n| n.to_string_lossy().into_owned().into_bytes())
            .unwrap_or_default()
    }

    /// Stores `answer` for `key` (no-op when the site disabled caching).
    pub fn put(&self, key: &Key, answer: &Value, now: SystemTime) -> Result<(), CacheError> {
        if !self.policy.enabled {
            return Ok(());
        }
        let path = self.path_for(key);
        let plain = serde_json::to_vec(&Plain {
            version: 1,
            saved_at_unix: now
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0),
            answer: answer.clone(),
        })
        .map_err(|e| io(&path, e))?;
        let bytes = self
            .sealer
            .seal(key, KIND, MAGIC, &Self::aad(&path), &plain)
            .ok_or_else(|| io(&path, "encryption failed"))?;
        attune_settings::atomic::atomic_write(&path, &bytes).map_err(|e| io(&path, e))
    }

    /// The entry for `key`, if there is a good one. Damaged entries (truncated, flipped, wrong
    /// format) and expired ones are removed and reported as absent.
    pub fn get(&self, key: &Key, now: SystemTime) -> Option<Cached> {
        if !self.policy.enabled {
            return None;
        }
        let path = self.path_for(key);
        let meta = std::fs::metadata(&path).ok()?;
        if meta.len() > MAX_ENTRY {
            self.discard(&path, "too large");
            return None;
        }
        let bytes = std::fs::read(&path).ok()?;
        let Some(plain) = self.open_entry(key, &path, &bytes) else {
            self.discard(&path, "cannot be opened (damaged or not ours)");
            return None;
        };
        let saved_at = UNIX_EPOCH + Duration::from_secs(plain.saved_at_unix);
        let age = now.duration_since(saved_at).unwrap_or(Duration::ZERO);
        if age > self.policy.max_age {
            self.discard(&path, "older than the site's maximum age");
            return None;
        }
        Some(Cached {
            answer: plain.answer,
            saved_at,
            age,
        })
    }

    fn open_entry(&self, key: &Key, path: &Path, bytes: &[u8]) -> Option<Plain> {
        let plain = self
            .sealer
            .open_sealed(key, KIND, MAGIC, &Self::aad(path), bytes)?;
        let p: Plain = serde_json::from_slice(&plain).ok()?;
        (p.version == 1).then_some(p)
    }

    fn discard(&self, path: &Path, why: &str) {
        tracing::warn!(file = %path.display(), why, "preference cache entry removed");
        let _ = attune_settings::atomic::remove_durable(path);
    }

    /// Removes `key`'s entry (key rejected by the cloud; `purge_on_key_out`).
    pub fn purge(&self, key: &Key) -> Result<(), CacheError> {
        let path = self.path_for(key);
        attune_settings::atomic::remove_durable(&path).map_err(|e| io(&path, e))
    }
}

fn purge_dir(dir: &Path) {
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            if e.path().extension().is_some_and(|x| x == "prefs") {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn policy() -> CacheConfig {
        CacheConfig::default()
    }

    fn answer() -> Value {
        json!({"preferences": {"contexts": {"gpii-default": {"preferences": {
            "http://registry.gpii.net/common/fontSize": 24}}}}, "matchMakerOutput": {}})
    }

    fn t(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_700_000_000 + secs)
    }

    /// A cache in a temp dir holding [`answer`] for one key, saved at `t(0)`.
    fn cache_holding_answer() -> (tempfile::TempDir, PrefCache, Key) {
        let d = tempfile::tempdir().unwrap();
        let c = PrefCache::open(d.path(), policy()).unwrap();
        let k = Key::parse("8a5c3f1e-secret-user").unwrap();
        c.put(&k, &answer(), t(0)).unwrap();
        (d, c, k)
    }

    #[test]
    fn round_trip_and_age() {
        let (d, c, k) = cache_holding_answer();
        let got = c.get(&k, t(90)).unwrap();
        assert_eq!(got.answer, answer());
        assert_eq!(got.age, Duration::from_secs(90));
        // Another key finds nothing; a reopened cache (same install secret) finds it.
        assert!(c.get(&Key::parse("other").unwrap(), t(1)).is_none());
        let again = PrefCache::open(d.path(), policy()).unwrap();
        assert_eq!(again.get(&k, t(1)).unwrap().answer, answer());
    }

    #[test]
    fn files_reveal_neither_key_nor_preferences() {
        let (d, _c, _k) = cache_holding_answer();
        for e in std::fs::read_dir(d.path()).unwrap().flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let bytes = std::fs::read(e.path()).unwrap();
            let text = String::from_utf8_lossy(&bytes);
            for secret in [
                "8a5c3f1e",
                "secret-user",
                "fontSize",
                "registry.gpii.net",
                "gpii-default",
            ] {
                assert!(!name.contains(secret), "{name} reveals {secret}");
                assert!(!text.contains(secret), "{name} reveals {secret}");
            }
        }
    }

    #[test]
    fn a_flipped_byte_or_a_cut_file_is_absent_and_removed() {
        let d = tempfile::tempdir().unwrap();
        let c = PrefCache::open(d.path(), policy()).unwrap();
        let k = Key::parse("user").unwrap();
        for damage in 0..4 {
            c.put(&k, &answer(), t(0)).unwrap();
            let p = c.path_for(&k);
            let mut b = std::fs::read(&p).unwrap();
            match damage {
                0 => {
                    let i = b.len() / 2;
                    b[i] ^= 0x01;
                }
                1 => b.truncate(b.len() - 5),
                2 => b.clear(),
                _ => b[0] = b'X',
            }
            std::fs::write(&p, &b).unwrap();
            assert!(c.get(&k, t(1)).is_none(), "damage {damage} applied");
            assert!(!p.exists(), "damage {damage}: entry removed");
        }
    }

    #[test]
    fn entries_cannot_be_swapped_between_keys() {
        let d = tempfile::tempdir().unwrap();
        let c = PrefCache::open(d.path(), policy()).unwrap();
        let (a, b) = (Key::parse("alice").unwrap(), Key::parse("bob").unwrap());
        c.put(&a, &json!({"who": "alice"}), t(0)).unwrap();
        c.put(&b, &json!({"who": "bob"}), t(0)).unwrap();
        std::fs::copy(c.path_for(&b), c.path_for(&a)).unwrap();
        assert!(c.get(&a, t(1)).is_none());
    }

    #[test]
    fn expiry_clock_skew_and_policy() {
        let d = tempfile::tempdir().unwrap();
        let mut pol = policy();
        pol.max_age = Duration::from_secs(3600);
        let c = PrefCache::open(d.path(), pol.clone()).unwrap();
        let k = Key::parse("user").unwrap();
        c.put(&k, &answer(), t(10_000)).unwrap();
        // Clock two hours behind the write: age 0, never negative, no panic.
        assert_eq!(c.get(&k, t(10_000 - 7200)).unwrap().age, Duration::ZERO);
        // Expired: removed.
        assert!(c.get(&k, t(10_000 + 3601)).is_none());
        assert!(!c.path_for(&k).exists());
        // Disabled by the site: nothing stored, nothing read.
        pol.enabled = false;
        let off = PrefCache::open(d.path(), pol).unwrap();
        off.put(&k, &answer(), t(0)).unwrap();
        assert!(!off.path_for(&k).exists());
        // Purge.
        c.put(&k, &answer(), t(0)).unwrap();
        c.purge(&k).unwrap();
        assert!(c.get(&k, t(1)).is_none());
    }
}

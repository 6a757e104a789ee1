//! The encrypted preference cache (DESIGN §5.2): per key, the last good cloud answer, so that
//! offline key-in reproduces the cloud's result exactly.
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
use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::Sha256;

use crate::config::CacheConfig;

const MAGIC: &[u8; 6] = b"ATTC1\n";
const NONCE_LEN: usize = 24;
const SECRET_FILE: &str = "install.secret";
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
    secret: [u8; 32],
    policy: CacheConfig,
}

impl PrefCache {
    /// Opens the cache in `dir`, creating it and the per-install secret on first use.
    pub fn open(dir: &Path, policy: CacheConfig) -> Result<PrefCache, CacheError> {
        use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| io(dir, e))?;
        let sp = dir.join(SECRET_FILE);
        let secret = match std::fs::read(&sp) {
            Ok(b) if b.len() == 32 => {
                let mut s = [0u8; 32];
                s.copy_from_slice(&b);
                s
            }
            other => {
                if let Ok(b) = other {
                    // A damaged secret makes every entry unreadable: start afresh.
                    tracing::warn!(len = b.len(), "install secret damaged; cache reset");
                    purge_dir(dir);
                }
                let key = XChaCha20Poly1305::generate_key(&mut OsRng);
                let mut s = [0u8; 32];
                s.copy_from_slice(&key);
                attune_settings::atomic::atomic_write(&sp, &s).map_err(|e| io(&sp, e))?;
                let _ = std::fs::set_permissions(&sp, std::fs::Permissions::from_mode(0o600));
                s
            }
        };
        Ok(PrefCache {
            dir: dir.to_path_buf(),
            secret,
            policy,
        })
    }

    /// 32 bytes derived from the person's key and the install secret (HKDF-SHA256, RFC 5869):
    /// HKDF's extract step is HMAC keyed by the install secret, so each output is a keyed hash of
    /// the person's key; `purpose` separates the file name from the encryption key.
    fn derive(&self, key: &Key, purpose: &[u8]) -> [u8; 32] {
        let hk = hkdf::Hkdf::<Sha256>::new(Some(&self.secret), key.expose().as_bytes());
        let mut okm = [0u8; 32];
        // 32 bytes is far below HKDF-SHA256's limit of 8160 bytes: expand cannot fail.
        let _ = hk.expand(purpose, &mut okm);
        okm
    }

    fn file_id(&self, key: &Key) -> String {
        hex::encode(self.derive(key, b"attune cache file name v1"))
    }

    fn cipher(&self, key: &Key) -> XChaCha20Poly1305 {
        XChaCha20Poly1305::new(&self.derive(key, b"attune cache key v1").into())
    }

    /// Where `key`'s entry lives (the name reveals nothing of the key).
    pub fn path_for(&self, key: &Key) -> PathBuf {
        self.dir.join(format!("{}.prefs", self.file_id(key)))
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
        let id = self.file_id(key);
        let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
        let sealed = self
            .cipher(key)
            .encrypt(
                &nonce,
                Payload {
                    msg: &plain,
                    aad: id.as_bytes(),
                },
            )
            .map_err(|_| io(&path, "encryption failed"))?;
        let mut bytes = Vec::with_capacity(MAGIC.len() + NONCE_LEN + sealed.len());
        bytes.extend_from_slice(MAGIC);
        bytes.extend_from_slice(&nonce);
        bytes.extend_from_slice(&sealed);
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
        let Some(plain) = self.open_entry(key, &bytes) else {
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

    fn open_entry(&self, key: &Key, bytes: &[u8]) -> Option<Plain> {
        let rest = bytes.strip_prefix(MAGIC.as_slice())?;
        if rest.len() < NONCE_LEN {
            return None;
        }
        let (nonce, sealed) = rest.split_at(NONCE_LEN);
        let id = self.file_id(key);
        let plain = self
            .cipher(key)
            .decrypt(
                XNonce::from_slice(nonce),
                Payload {
                    msg: sealed,
                    aad: id.as_bytes(),
                },
            )
            .ok()?;
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

    #[test]
    fn round_trip_and_age() {
        let d = tempfile::tempdir().unwrap();
        let c = PrefCache::open(d.path(), policy()).unwrap();
        let k = Key::parse("8a5c3f1e-secret-user").unwrap();
        c.put(&k, &answer(), t(0)).unwrap();
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
        let d = tempfile::tempdir().unwrap();
        let c = PrefCache::open(d.path(), policy()).unwrap();
        let k = Key::parse("8a5c3f1e-secret-user").unwrap();
        c.put(&k, &answer(), t(0)).unwrap();
        for e in std::fs::read_dir(d.path()).unwrap().flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let bytes = std::fs::read(e.path()).unwrap();
            let text = String::from_utf8_lossy(&bytes);
            for secret in [
                "8a5c3f1e",
                "secret-user",
                "fontSize",
                "registry.gpii.net",
                "24",
            ] {
                assert!(!name.contains(secret), "{name} reveals {secret}");
                if secret != "24" {
                    assert!(!text.contains(secret), "{name} reveals {secret}");
                }
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

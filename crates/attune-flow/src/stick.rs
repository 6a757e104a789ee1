//! The portable key (docs/design.md §10.3; issue 17 item 2): a person's preference set sealed on
//! their USB stick beside their key, for computers that cannot reach the preferences server and
//! have never seen them.
//!
//! A stick holds `.gpii-user-token.txt` (GPII's: the key, in clear, which is what a stick is for)
//! and `.attune/preferences.sealed`. The sealed file reveals nothing without the key, not even
//! whose it is or when it was saved:
//!
//! ```text
//! offset  bytes  field
//!  0       8     magic "ATTSTICK"
//!  8       1     format version (1)
//!  9       1     key derivation: 1 = Argon2id v1.3
//! 10       4     Argon2 memory, KiB (big-endian)
//! 14       4     Argon2 passes
//! 18       4     Argon2 lanes
//! 22      16     salt (random per file)
//! 38      24     nonce (XChaCha20-Poly1305, random per file)
//! 62       4     length of what follows (ciphertext and tag)
//! 66       …     XChaCha20-Poly1305 ciphertext of the JSON {saved_at_unix, preferences}, tag last
//! ```
//!
//! The key is stretched with Argon2id (RFC 9106; memory-hard, because some keys are short: a
//! snapset-like word, a card number) under the file's own salt and parameters; the whole header
//! is the AEAD's associated data, so the version, the parameters, the salt and the length cannot
//! be changed without the tag failing. The declared length tells a file cut short from one
//! changed. Anything that does not open is refused with a [`StickError`] naming why; the caller
//! goes on to the next source (docs/design.md §3).
//!
//! The format and the crypto are pure (no file, no clock); [`read_sealed`] and [`write`] are the
//! only I/O, each on one stick directory.

use std::path::{Path, PathBuf};

use argon2::{Algorithm, Argon2, Block, Params, Version};
use attune_model::key::Key;
use attune_model::prefs::PreferenceSet;
use chacha20poly1305::aead::rand_core::RngCore;
use chacha20poly1305::aead::{Aead, KeyInit, OsRng, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use serde::{Deserialize, Serialize};

/// GPII's token file at the root of a stick: the key, in clear.
pub const TOKEN_FILE: &str = ".gpii-user-token.txt";
/// The sealed preferences, relative to the stick's root.
pub const SEALED_FILE: &str = ".attune/preferences.sealed";
/// The format this Attune writes and reads.
pub const FORMAT_VERSION: u8 = 1;
/// Largest sealed file read: the cloud keeps at most 256 KiB of preferences (docs/design.md §6.1).
pub const MAX_SEALED_BYTES: u64 = 1024 * 1024;

const MAGIC: &[u8; 8] = b"ATTSTICK";
const KDF_ARGON2ID: u8 = 1;
const SALT_LEN: usize = 16;
const NONCE_LEN: usize = 24;
const TAG_LEN: usize = 16;
/// magic, version, kdf id, three u32 parameters, salt, nonce, body length.
pub const HEADER_LEN: usize = 8 + 1 + 1 + 12 + SALT_LEN + NONCE_LEN + 4;

/// Argon2id's cost parameters, as the file records them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KdfParams {
    /// Memory in KiB.
    pub m_kib: u32,
    /// Passes over the memory.
    pub t: u32,
    /// Lanes.
    pub p: u32,
}

impl KdfParams {
    /// What this Attune writes: OWASP's first Argon2id setting (19 MiB, 2 passes, 1 lane), which
    /// RFC 9106's authors' reference code also takes as its default. Measured in release on the
    /// project's two-core machine: about 30 ms alone, so a stick keys in within the issue's
    /// 100 ms of being seen (docs/design.md §10.3 has the numbers and the trade-off).
    pub const DEFAULT: KdfParams = KdfParams {
        m_kib: 19 * 1024,
        t: 2,
        p: 1,
    };
    /// The most a file may ask of this computer: a stick is outside input, and a file asking for
    /// gigabytes or a thousand passes would stall the key-in (or exhaust memory) before its tag
    /// could be checked.
    pub const MAX_M_KIB: u32 = 256 * 1024;
    pub const MAX_T: u32 = 16;
    pub const MAX_P: u32 = 4;
    /// The most memory × passes a file may ask for (64 MiB × 4: ten times the default).
    pub const MAX_WORK_KIB: u64 = 256 * 1024;

    /// Argon2's parameters, or why this computer will not run them.
    fn to_argon2(self) -> Result<Params, StickError> {
        let refuse = |detail: String| Err(StickError::Kdf { detail });
        if self.m_kib > Self::MAX_M_KIB {
            return refuse(format!(
                "{} KiB of memory, at most {}",
                self.m_kib,
                Self::MAX_M_KIB
            ));
        }
        if !(1..=Self::MAX_T).contains(&self.t) {
            return refuse(format!("{} passes, 1 to {}", self.t, Self::MAX_T));
        }
        if !(1..=Self::MAX_P).contains(&self.p) {
            return refuse(format!("{} lanes, 1 to {}", self.p, Self::MAX_P));
        }
        if u64::from(self.m_kib) * u64::from(self.t) > Self::MAX_WORK_KIB {
            return refuse(format!(
                "{} KiB × {} passes, at most {} KiB in all",
                self.m_kib,
                self.t,
                Self::MAX_WORK_KIB
            ));
        }
        Params::new(self.m_kib, self.t, self.p, Some(32)).map_err(|e| StickError::Kdf {
            detail: e.to_string(),
        })
    }
}

/// Why the preferences on a stick were not used, or could not be written there. Each has a
/// stable [`StickError::kind`]; the text names what was wrong in words a person can act on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StickError {
    /// Shorter than its header says (a stick pulled out while it was written, a copy cut short).
    #[error("the preferences on this USB key are cut short ({found} of {expected} bytes)")]
    Truncated { found: usize, expected: usize },
    /// Does not start with Attune's mark.
    #[error("the file of preferences on this USB key was not made by Attune")]
    NotSealed,
    /// Another format version (a newer Attune's).
    #[error(
        "the preferences on this USB key were saved in another format (version {found}; this \
         Attune reads version {FORMAT_VERSION}); an update of Attune may read them"
    )]
    Version { found: u8 },
    /// A key derivation this computer does not run (unknown, or too costly to try).
    #[error("the preferences on this USB key ask for a key derivation this computer will not run ({detail})")]
    Kdf { detail: String },
    /// The tag did not verify: changed, damaged, or sealed under another key (AEAD cannot tell
    /// which, and must not).
    #[error(
        "the preferences on this USB key were changed or damaged, or were saved for another key"
    )]
    Damaged,
    /// It opened, but what is inside is not a preference set.
    #[error("the preferences on this USB key opened but are not a preference set ({detail})")]
    Content { detail: String },
    #[error("the file of preferences on this USB key is too large ({bytes} bytes; at most {MAX_SEALED_BYTES})")]
    TooLarge { bytes: u64 },
    #[error("the preferences on this USB key could not be read ({detail})")]
    Unreadable { detail: String },
    /// Writing: the directory is missing, read-only, full…
    #[error(
        "Could not save to {dir}: {detail}. Is the USB key in, not write-protected and not full?"
    )]
    NotWritable { dir: String, detail: String },
    /// Writing: the stick carries someone else's key.
    #[error(
        "{dir} holds another key in {TOKEN_FILE}: it is someone else's USB key. Use another, or \
         remove that file first"
    )]
    OtherKey { dir: String },
}

impl StickError {
    /// A stable, machine-readable kind (the UI and `--json` switch on it).
    pub fn kind(&self) -> &'static str {
        match self {
            StickError::Truncated { .. } => "stick_truncated",
            StickError::NotSealed => "stick_not_sealed",
            StickError::Version { .. } => "stick_version",
            StickError::Kdf { .. } => "stick_kdf",
            StickError::Damaged => "stick_damaged",
            StickError::Content { .. } => "stick_content",
            StickError::TooLarge { .. } => "stick_too_large",
            StickError::Unreadable { .. } => "stick_unreadable",
            StickError::NotWritable { .. } => "stick_not_writable",
            StickError::OtherKey { .. } => "stick_other_key",
        }
    }

    /// Whether a fresh copy may replace the file when the person keys in online: not when it
    /// is another format (a newer Attune's, which this one would downgrade) or cannot be read
    /// at all (the write would fail the same way).
    pub fn replaceable(&self) -> bool {
        !matches!(
            self,
            StickError::Version { .. } | StickError::Unreadable { .. }
        )
    }
}

/// The file's header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub version: u8,
    pub kdf: KdfParams,
    pub salt: [u8; SALT_LEN],
    pub nonce: [u8; NONCE_LEN],
    /// Bytes of ciphertext and tag that follow the header.
    pub body_len: u32,
}

/// What a sealed file holds.
#[derive(Debug, Clone, PartialEq)]
pub struct Unsealed {
    /// When these preferences were saved as the person's (unix seconds; see [`write`]).
    pub saved_at_unix: u64,
    pub preferences: PreferenceSet,
}

/// The plain text inside, as JSON.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Plain {
    saved_at_unix: u64,
    /// A GPII preference set, `{"flat": …}`.
    preferences: serde_json::Value,
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    let mut w = [0u8; 4];
    w.copy_from_slice(&b[at..at + 4]);
    u32::from_be_bytes(w)
}

/// Reads a file's header, checking everything that can be checked without the key. `Ok` gives
/// the header, the associated data (the header's bytes) and the ciphertext with its tag.
pub fn parse(bytes: &[u8]) -> Result<(Header, &[u8], &[u8]), StickError> {
    let magic_part = &bytes[..bytes.len().min(MAGIC.len())];
    if magic_part != &MAGIC[..magic_part.len()] {
        return Err(StickError::NotSealed);
    }
    let cut = |expected| StickError::Truncated {
        found: bytes.len(),
        expected,
    };
    let Some(&version) = bytes.get(MAGIC.len()) else {
        return Err(cut(HEADER_LEN + TAG_LEN));
    };
    if version != FORMAT_VERSION {
        return Err(StickError::Version { found: version });
    }
    if bytes.len() < HEADER_LEN {
        return Err(cut(HEADER_LEN + TAG_LEN));
    }
    if bytes[9] != KDF_ARGON2ID {
        return Err(StickError::Kdf {
            detail: format!(
                "derivation number {}; this Attune knows Argon2id (1)",
                bytes[9]
            ),
        });
    }
    let kdf = KdfParams {
        m_kib: u32_at(bytes, 10),
        t: u32_at(bytes, 14),
        p: u32_at(bytes, 18),
    };
    kdf.to_argon2()?;
    let mut salt = [0u8; SALT_LEN];
    salt.copy_from_slice(&bytes[22..22 + SALT_LEN]);
    let mut nonce = [0u8; NONCE_LEN];
    nonce.copy_from_slice(&bytes[38..38 + NONCE_LEN]);
    let body_len = u32_at(bytes, 62);
    let expected = HEADER_LEN.saturating_add(body_len as usize);
    if (body_len as usize) < TAG_LEN || u64::from(body_len) > MAX_SEALED_BYTES {
        // Only a changed header declares a body shorter than a tag or longer than any file.
        return Err(StickError::Damaged);
    }
    match bytes.len().cmp(&expected) {
        std::cmp::Ordering::Less => return Err(cut(expected)),
        std::cmp::Ordering::Greater => return Err(StickError::Damaged),
        std::cmp::Ordering::Equal => {}
    }
    let header = Header {
        version,
        kdf,
        salt,
        nonce,
        body_len,
    };
    let (aad, body) = bytes.split_at(HEADER_LEN);
    Ok((header, aad, body))
}

/// The 32-byte sealing key: Argon2id of the person's key under the file's salt and parameters.
/// The memory blocks are wiped after (the `zeroize` feature).
pub fn derive(key: &Key, kdf: KdfParams, salt: &[u8]) -> Result<[u8; 32], StickError> {
    let params = kdf.to_argon2()?;
    let mut blocks = vec![Block::default(); params.block_count()];
    let mut out = [0u8; 32];
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
        .hash_password_into_with_memory(key.expose().as_bytes(), salt, &mut out, &mut blocks)
        .map_err(|e| StickError::Kdf {
            detail: e.to_string(),
        })?;
    Ok(out)
}

/// Opens a body with an already derived key (the fuzz target reaches the AEAD and the JSON this
/// way without paying for Argon2 on every input).
pub fn open_with(
    derived: &[u8; 32],
    header: &Header,
    aad: &[u8],
    body: &[u8],
) -> Result<Unsealed, StickError> {
    let plain = XChaCha20Poly1305::new(derived.into())
        .decrypt(
            XNonce::from_slice(&header.nonce),
            Payload { msg: body, aad },
        )
        .map_err(|_| StickError::Damaged)?;
    parse_plain(&plain)
}

/// Reads what a tag vouched for: the JSON `{saved_at_unix, preferences}`. Only a file sealed
/// with the key gets here, but a bug or another writer may still have put anything in it.
pub fn parse_plain(plain: &[u8]) -> Result<Unsealed, StickError> {
    let p: Plain = serde_json::from_slice(plain).map_err(|e| StickError::Content {
        detail: format!("line {} column {}", e.line(), e.column()),
    })?;
    // The preference set's own error may quote values; the person's values stay out of logs.
    let preferences =
        PreferenceSet::from_value_named(p.preferences, "the preferences on the USB key").map_err(
            |_| StickError::Content {
                detail: "not a GPII preference set".to_owned(),
            },
        )?;
    Ok(Unsealed {
        saved_at_unix: p.saved_at_unix,
        preferences,
    })
}

/// Opens a sealed file with the person's key.
pub fn unseal(key: &Key, bytes: &[u8]) -> Result<Unsealed, StickError> {
    let (header, aad, body) = parse(bytes)?;
    let derived = derive(key, header.kdf, &header.salt)?;
    open_with(&derived, &header, aad, body)
}

/// Seals `preferences` for `key`, saved at `saved_at_unix`, with `kdf`'s cost and a fresh salt
/// and nonce.
pub fn seal(
    key: &Key,
    preferences: &PreferenceSet,
    saved_at_unix: u64,
    kdf: KdfParams,
) -> Result<Vec<u8>, StickError> {
    let plain = serde_json::to_vec(&Plain {
        saved_at_unix,
        preferences: preferences.to_value(),
    })
    .map_err(|e| StickError::Content {
        detail: e.to_string(),
    })?;
    let body_len = plain.len() + TAG_LEN;
    if body_len as u64 > MAX_SEALED_BYTES - HEADER_LEN as u64 {
        return Err(StickError::TooLarge {
            bytes: (HEADER_LEN + body_len) as u64,
        });
    }
    let mut salt = [0u8; SALT_LEN];
    OsRng.fill_bytes(&mut salt);
    let mut nonce = [0u8; NONCE_LEN];
    OsRng.fill_bytes(&mut nonce);
    let mut out = Vec::with_capacity(HEADER_LEN + body_len);
    out.extend_from_slice(MAGIC);
    out.push(FORMAT_VERSION);
    out.push(KDF_ARGON2ID);
    for n in [kdf.m_kib, kdf.t, kdf.p] {
        out.extend_from_slice(&n.to_be_bytes());
    }
    out.extend_from_slice(&salt);
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&u32::try_from(body_len).unwrap_or(u32::MAX).to_be_bytes());
    let derived = derive(key, kdf, &salt)?;
    let sealed = XChaCha20Poly1305::new(&derived.into())
        .encrypt(
            XNonce::from_slice(&nonce),
            Payload {
                msg: &plain,
                aad: &out,
            },
        )
        .map_err(|_| StickError::Content {
            detail: "encryption failed".to_owned(),
        })?;
    out.extend_from_slice(&sealed);
    Ok(out)
}

/// The sealed file of the stick at `dir`.
pub fn sealed_path(dir: &Path) -> PathBuf {
    dir.join(SEALED_FILE)
}

/// The sealed file's bytes; `Ok(None)` when the stick has none (only a key).
pub fn read_sealed(dir: &Path) -> Result<Option<Vec<u8>>, StickError> {
    let path = sealed_path(dir);
    let unreadable = |e: std::io::Error| StickError::Unreadable {
        detail: e.to_string(),
    };
    let meta = match std::fs::metadata(&path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(unreadable(e)),
    };
    if !meta.is_file() {
        return Err(StickError::Unreadable {
            detail: format!("{SEALED_FILE} is not a file"),
        });
    }
    if meta.len() > MAX_SEALED_BYTES {
        return Err(StickError::TooLarge { bytes: meta.len() });
    }
    use std::io::Read;
    let mut bytes = Vec::new();
    std::fs::File::open(&path)
        .and_then(|f| f.take(MAX_SEALED_BYTES + 1).read_to_end(&mut bytes))
        .map_err(unreadable)?;
    if bytes.len() as u64 > MAX_SEALED_BYTES {
        return Err(StickError::TooLarge {
            bytes: bytes.len() as u64,
        });
    }
    Ok(Some(bytes))
}

/// Where [`write`] put things.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Written {
    pub token_file: PathBuf,
    pub sealed_file: PathBuf,
    /// The token file already held this key and was left as it was.
    pub token_kept: bool,
}

/// Writes the person's key and their sealed preferences to the stick at `dir`. Each file is
/// replaced atomically (a temp file in the same directory, fsync, rename, fsync of the
/// directory), so a stick pulled out half way holds the old file or the new, never a torn one.
/// The sealed file goes first: a stick never carries a key whose preferences were meant to be
/// beside it but are not. A stick whose token file holds another key is refused.
pub fn write(
    dir: &Path,
    key: &Key,
    preferences: &PreferenceSet,
    saved_at_unix: u64,
    kdf: KdfParams,
) -> Result<Written, StickError> {
    let not_writable = |detail: String| StickError::NotWritable {
        dir: dir.display().to_string(),
        detail,
    };
    match std::fs::metadata(dir) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => return Err(not_writable("it is not a folder".to_owned())),
        Err(e) => return Err(not_writable(e.to_string())),
    }
    let token_file = dir.join(TOKEN_FILE);
    let token_kept = match std::fs::read_to_string(&token_file) {
        Ok(text) => match Key::parse(&text) {
            Ok(k) if k.expose() == key.expose() => true,
            _ => {
                return Err(StickError::OtherKey {
                    dir: dir.display().to_string(),
                })
            }
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => false,
        Err(_) => {
            return Err(StickError::OtherKey {
                dir: dir.display().to_string(),
            })
        }
    };
    let bytes = seal(key, preferences, saved_at_unix, kdf)?;
    let sealed_file = sealed_path(dir);
    if let Some(parent) = sealed_file.parent() {
        std::fs::create_dir_all(parent).map_err(|e| not_writable(e.to_string()))?;
    }
    attune_settings::atomic::atomic_write(&sealed_file, &bytes)
        .map_err(|e| not_writable(e.to_string()))?;
    if !token_kept {
        attune_settings::atomic::atomic_write(
            &token_file,
            format!("{}\n", key.expose()).as_bytes(),
        )
        .map_err(|e| not_writable(e.to_string()))?;
    }
    Ok(Written {
        token_file,
        sealed_file,
        token_kept,
    })
}

/// Replaces the sealed file of the stick at `dir` (the person keyed in online and the stick's
/// copy was stale or damaged): the same atomic write, the token file untouched.
pub fn refresh(
    dir: &Path,
    key: &Key,
    preferences: &PreferenceSet,
    saved_at_unix: u64,
) -> Result<(), StickError> {
    let bytes = seal(key, preferences, saved_at_unix, KdfParams::DEFAULT)?;
    attune_settings::atomic::atomic_write(&sealed_path(dir), &bytes).map_err(|e| {
        StickError::NotWritable {
            dir: dir.display().to_string(),
            detail: e.to_string(),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    /// Cheap parameters for tests that are not about cost (Argon2's own minimum memory).
    const CHEAP: KdfParams = KdfParams {
        m_kib: 8,
        t: 1,
        p: 1,
    };

    fn prefs(font: f64) -> PreferenceSet {
        PreferenceSet::from_value_named(
            json!({"flat": {"name": "Sam's settings", "contexts": {"gpii-default": {
                "name": "Default", "preferences": {
                    "http://registry.gpii.net/common/fontSize": font,
                    "http://registry.gpii.net/common/highContrast/enabled": true}}}}}),
            "test",
        )
        .unwrap()
    }

    fn key(k: &str) -> Key {
        Key::parse(k).unwrap()
    }

    #[test]
    fn a_sealed_set_opens_with_its_key_and_reveals_nothing_without_it() {
        let k = key("sam-0c9e41d7");
        let bytes = seal(&k, &prefs(18.0), 1_795_392_000, CHEAP).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        for secret in [
            "sam-0c9e41d7",
            "Sam",
            "fontSize",
            "registry.gpii.net",
            "gpii-default",
        ] {
            assert!(!text.contains(secret), "the file shows {secret}");
        }
        let got = unseal(&k, &bytes).unwrap();
        assert_eq!(got.saved_at_unix, 1_795_392_000);
        assert_eq!(got.preferences, prefs(18.0));
        // Two seals of the same set differ (fresh salt and nonce), and both open.
        let again = seal(&k, &prefs(18.0), 1_795_392_000, CHEAP).unwrap();
        assert_ne!(bytes, again);
        assert_eq!(unseal(&k, &again).unwrap().preferences, prefs(18.0));
    }

    #[test]
    fn the_default_parameters_are_what_the_header_records() {
        let k = key("k");
        let bytes = seal(&k, &prefs(12.0), 0, KdfParams::DEFAULT).unwrap();
        let (h, aad, body) = parse(&bytes).unwrap();
        assert_eq!(h.kdf, KdfParams::DEFAULT);
        assert_eq!(h.version, FORMAT_VERSION);
        assert_eq!(aad.len(), HEADER_LEN);
        assert_eq!(body.len(), h.body_len as usize);
        assert_eq!(&bytes[..8], b"ATTSTICK");
        assert_eq!(unseal(&k, &bytes).unwrap().preferences, prefs(12.0));
    }

    /// docs/test-matrix.md B13: every way a file can be wrong is refused with its own reason.
    #[test]
    fn tampered_truncated_foreign_and_wrong_key_files_are_refused_each_with_its_reason() {
        let k = key("sam-0c9e41d7");
        let good = seal(&k, &prefs(18.0), 5, CHEAP).unwrap();
        let flip = |at: usize| {
            let mut b = good.clone();
            b[at] ^= 0x01;
            b
        };
        let last = good.len() - 1;
        let cases: Vec<(&str, Vec<u8>, Key, &str)> = vec![
            (
                "a flipped ciphertext byte",
                flip(HEADER_LEN + 3),
                k.clone(),
                "stick_damaged",
            ),
            ("a flipped tag byte", flip(last), k.clone(), "stick_damaged"),
            ("a flipped salt byte", flip(25), k.clone(), "stick_damaged"),
            ("a flipped nonce byte", flip(40), k.clone(), "stick_damaged"),
            (
                "a flipped parameter (passes 1 → 0)",
                flip(17),
                k.clone(),
                "stick_kdf",
            ),
            (
                "a flipped parameter (memory 8 → 9 KiB)",
                flip(13),
                k.clone(),
                "stick_damaged",
            ),
            (
                "cut in the ciphertext",
                good[..good.len() - 10].to_vec(),
                k.clone(),
                "stick_truncated",
            ),
            (
                "cut in the header",
                good[..30].to_vec(),
                k.clone(),
                "stick_truncated",
            ),
            (
                "cut to the magic",
                good[..8].to_vec(),
                k.clone(),
                "stick_truncated",
            ),
            ("empty", Vec::new(), k.clone(), "stick_truncated"),
            (
                "a byte too many",
                [good.clone(), vec![0]].concat(),
                k.clone(),
                "stick_damaged",
            ),
            (
                "version 2",
                {
                    let mut b = good.clone();
                    b[8] = 2;
                    b
                },
                k.clone(),
                "stick_version",
            ),
            (
                "not ours",
                b"{\"flat\":{}}".to_vec(),
                k.clone(),
                "stick_not_sealed",
            ),
            (
                "another key",
                good.clone(),
                key("alex-7f3a9c2e"),
                "stick_damaged",
            ),
            (
                "an unknown derivation",
                {
                    let mut b = good.clone();
                    b[9] = 7;
                    b
                },
                k.clone(),
                "stick_kdf",
            ),
            (
                "a huge memory cost",
                {
                    let mut b = good.clone();
                    b[10..14].copy_from_slice(&(4u32 << 20).to_be_bytes());
                    b
                },
                k.clone(),
                "stick_kdf",
            ),
        ];
        for (what, bytes, with, kind) in cases {
            let err = unseal(&with, &bytes).expect_err(what);
            assert_eq!(err.kind(), kind, "{what}: {err}");
            assert!(err.to_string().contains("USB key"), "{what}: {err}");
        }
    }

    #[test]
    fn a_set_that_opens_but_is_not_a_preference_set_is_refused_without_its_values() {
        let k = key("k");
        let header_and_body = |plain: &[u8]| {
            let mut out = Vec::new();
            out.extend_from_slice(MAGIC);
            out.extend_from_slice(&[FORMAT_VERSION, KDF_ARGON2ID]);
            for n in [CHEAP.m_kib, CHEAP.t, CHEAP.p] {
                out.extend_from_slice(&n.to_be_bytes());
            }
            out.extend_from_slice(&[1u8; SALT_LEN]);
            out.extend_from_slice(&[2u8; NONCE_LEN]);
            out.extend_from_slice(&((plain.len() + TAG_LEN) as u32).to_be_bytes());
            let derived = derive(&k, CHEAP, &[1u8; SALT_LEN]).unwrap();
            let ct = XChaCha20Poly1305::new(&derived.into())
                .encrypt(
                    XNonce::from_slice(&[2u8; NONCE_LEN]),
                    Payload {
                        msg: plain,
                        aad: &out,
                    },
                )
                .unwrap();
            out.extend_from_slice(&ct);
            out
        };
        let e = unseal(
            &k,
            &header_and_body(br#"{"saved_at_unix":1,"preferences":{"flat":{"contexts":7}},"x":1}"#),
        )
        .unwrap_err();
        assert_eq!(e.kind(), "stick_content");
        let e = unseal(
            &k,
            &header_and_body(
                br#"{"saved_at_unix":1,"preferences":{"flat":{"contexts":"secret-value"}}}"#,
            ),
        )
        .unwrap_err();
        assert_eq!(e.kind(), "stick_content");
        assert!(!e.to_string().contains("secret-value"), "{e}");
        let e = unseal(&k, &header_and_body(b"not json")).unwrap_err();
        assert_eq!(e.kind(), "stick_content");
    }

    #[test]
    fn writing_puts_the_key_and_the_sealed_set_and_refuses_another_persons_stick() {
        let d = tempfile::tempdir().unwrap();
        let k = key("sam-0c9e41d7");
        let w = write(d.path(), &k, &prefs(18.0), 7, CHEAP).unwrap();
        assert!(!w.token_kept);
        assert_eq!(
            std::fs::read_to_string(&w.token_file).unwrap(),
            "sam-0c9e41d7\n"
        );
        let bytes = read_sealed(d.path()).unwrap().unwrap();
        assert_eq!(unseal(&k, &bytes).unwrap().saved_at_unix, 7);
        // Again: the token stays; no temp file is left.
        let w = write(d.path(), &k, &prefs(20.0), 8, CHEAP).unwrap();
        assert!(w.token_kept);
        let names: Vec<_> = std::fs::read_dir(d.path().join(".attune"))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(names, ["preferences.sealed"]);
        // Someone else's stick.
        let e = write(d.path(), &key("alex"), &prefs(20.0), 9, CHEAP).unwrap_err();
        assert_eq!(e.kind(), "stick_other_key");
        assert_eq!(
            unseal(&k, &read_sealed(d.path()).unwrap().unwrap())
                .unwrap()
                .saved_at_unix,
            8
        );
    }

    #[test]
    fn a_folder_that_cannot_be_written_is_named_and_nothing_is_left_half_written() {
        let d = tempfile::tempdir().unwrap();
        let missing = d.path().join("not-mounted");
        let e = write(&missing, &key("k"), &prefs(12.0), 0, CHEAP).unwrap_err();
        assert_eq!(e.kind(), "stick_not_writable");
        assert!(e.to_string().contains("not-mounted"), "{e}");
        // Read-only (root ignores modes, so only where the test is not run as root).
        use std::os::unix::fs::PermissionsExt;
        let ro = d.path().join("ro");
        std::fs::create_dir(&ro).unwrap();
        std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o555)).unwrap();
        if std::fs::write(ro.join("probe"), b"").is_err() {
            let e = write(&ro, &key("k"), &prefs(12.0), 0, CHEAP).unwrap_err();
            assert_eq!(e.kind(), "stick_not_writable");
            assert!(std::fs::read_dir(&ro).unwrap().next().is_none());
        }
        let e = write(
            &d.path().join("ro/../ro/x"),
            &key("k"),
            &prefs(12.0),
            0,
            CHEAP,
        )
        .unwrap_err();
        assert_eq!(e.kind(), "stick_not_writable");
    }

    #[test]
    fn an_absent_file_is_none_and_a_huge_one_is_refused_unread() {
        let d = tempfile::tempdir().unwrap();
        assert_eq!(read_sealed(d.path()).unwrap(), None);
        std::fs::create_dir(d.path().join(".attune")).unwrap();
        let f = std::fs::File::create(sealed_path(d.path())).unwrap();
        f.set_len(MAX_SEALED_BYTES + 1).unwrap();
        assert_eq!(read_sealed(d.path()).unwrap_err().kind(), "stick_too_large");
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Whatever the key and the preferences, sealing then unsealing gives them back, and
        /// any other key is refused.
        #[test]
        fn seal_then_unseal_gives_the_set_back(
            k in "[A-Za-z0-9_.-]{1,40}",
            other in "[A-Za-z0-9_.-]{1,40}",
            font in 6.0f64..72.0,
            contrast: bool,
            name in "\\PC{0,30}",
            saved in any::<u64>(),
        ) {
            let set = PreferenceSet::from_value_named(
                json!({"flat": {"name": name, "contexts": {"gpii-default": {"name": "Default",
                    "preferences": {"http://registry.gpii.net/common/fontSize": font,
                    "http://registry.gpii.net/common/highContrast/enabled": contrast}}}}}),
                "test").unwrap();
            let key = Key::parse(&k).unwrap();
            let bytes = seal(&key, &set, saved, CHEAP).unwrap();
            let got = unseal(&key, &bytes).unwrap();
            prop_assert_eq!(got.saved_at_unix, saved);
            prop_assert_eq!(got.preferences, set);
            if other != k {
                prop_assert_eq!(unseal(&Key::parse(&other).unwrap(), &bytes).unwrap_err(), StickError::Damaged);
            }
        }

        /// Arbitrary bytes, and a good file with any one byte changed or cut anywhere, never
        /// panic and never open.
        #[test]
        fn damaged_files_never_panic_and_never_open(
            junk in proptest::collection::vec(any::<u8>(), 0..200),
            at in any::<prop::sample::Index>(),
            bit in 0u8..8,
            cut in any::<prop::sample::Index>(),
        ) {
            let key = Key::parse("k").unwrap();
            let _ = unseal(&key, &junk);
            let good = seal(&key, &prefs(12.0), 1, CHEAP).unwrap();
            let mut flipped = good.clone();
            let i = at.index(flipped.len());
            flipped[i] ^= 1 << bit;
            prop_assert!(unseal(&key, &flipped).is_err());
            let n = cut.index(good.len());
            prop_assert!(unseal(&key, &good[..n]).is_err());
        }
    }
}

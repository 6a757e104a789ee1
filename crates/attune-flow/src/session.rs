//! The active session on disk (docs/design.md §6.2): who is keyed in, from where, and how far a
//! key-in or key-out got. Written atomically; the journal (attune-settings) stays the only source
//! of truth for what to restore — this file only says whether an open journal belongs to a live
//! session.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::report::ReportRow;
use crate::sealed::Sealer;

/// The session file is sealed under the install secret alone (the person's key is what it
/// protects, so it cannot be the key): unreadable to anyone who copies the file off the machine
/// or reads it without the secret, which lives beside it with mode 0600.
const MAGIC: &[u8; 6] = b"ATTS1\n";
const KIND: &str = "session";
const AAD: &[u8] = b"attune session v1";

fn sealer(path: &Path) -> Option<(Sealer, attune_model::key::Key)> {
    let dir = path.parent()?;
    let (s, _) = Sealer::open(dir).ok()?;
    let k = attune_model::key::Key::parse("attune-session-file").ok()?;
    Some((s, k))
}

/// How far the session got. A session that is not `Active` when a command starts was cut short
/// by a crash (or a kill) and is finished first: an interrupted key-in is undone, an interrupted
/// key-out is completed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    Applying,
    Active,
    Restoring,
}

/// Where the applied preferences came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Source {
    Snapset,
    Cloud,
    Cache {
        age_seconds: u64,
    },
    /// The preferences sealed on the person's USB stick (docs/design.md §10.3), saved
    /// `age_seconds` before they were applied.
    Stick {
        age_seconds: u64,
    },
}

impl Source {
    pub fn as_str(&self) -> &'static str {
        match self {
            Source::Snapset => "snapset",
            Source::Cloud => "cloud",
            Source::Cache { .. } => "cache",
            Source::Stick { .. } => "stick",
        }
    }
}

/// Whether the session's cloud can be reached, as `status --json` and the session file spell it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Connectivity {
    Online,
    Offline,
    /// The server speaks another API version.
    VersionMismatch,
    /// The server no longer accepts the session's token (docs/design.md §6.2).
    AuthStale,
}

impl Connectivity {
    pub fn as_str(self) -> &'static str {
        match self {
            Connectivity::Online => "online",
            Connectivity::Offline => "offline",
            Connectivity::VersionMismatch => "version_mismatch",
            Connectivity::AuthStale => "auth_stale",
        }
    }
}

impl std::fmt::Display for Connectivity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq<&str> for Connectivity {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

pub const SESSION_VERSION: u32 = 1;

/// The session's token at the cloud (docs/design.md §6.2) and when it runs out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionToken {
    pub token: String,
    pub expires_unix: u64,
}

/// Where the session's preferences came from, with what only that source has: a snapset has
/// neither an answer nor a token, only a cloud session has a token, only a cached one a saved
/// time. The answer in effect is kept so a change can be matched again here.
#[derive(Debug, Clone, PartialEq)]
pub enum Origin {
    /// A bundled snapset: read-only, nothing to save to.
    Snapset,
    /// The cloud's answer and the token it was fetched with. Either may be missing only in a
    /// session cut short while it was being applied.
    Cloud {
        answer: Option<serde_json::Value>,
        token: Option<SessionToken>,
    },
    /// The answer cached on this computer, saved at `saved_unix`, `age_seconds` old when applied.
    Cache {
        answer: Option<serde_json::Value>,
        saved_unix: Option<u64>,
        age_seconds: u64,
    },
    /// The preferences sealed on the person's USB stick, saved at `saved_unix`. `answer` holds
    /// them as a cloud answer would (`{"preferences": …}`, no matchmaker output: they are matched
    /// here, as a snapset is), so a change is laid over them as over a cached answer.
    Stick {
        answer: Option<serde_json::Value>,
        saved_unix: Option<u64>,
        age_seconds: u64,
    },
}

impl Origin {
    /// The source, as `status` and key-in outcomes name it.
    pub fn source(&self) -> Source {
        match self {
            Origin::Snapset => Source::Snapset,
            Origin::Cloud { .. } => Source::Cloud,
            Origin::Cache { age_seconds, .. } => Source::Cache {
                age_seconds: *age_seconds,
            },
            Origin::Stick { age_seconds, .. } => Source::Stick {
                age_seconds: *age_seconds,
            },
        }
    }

    /// When the saved settings in use were saved: the cache's answer or the stick's set.
    pub fn saved_unix(&self) -> Option<u64> {
        match self {
            Origin::Cache { saved_unix, .. } | Origin::Stick { saved_unix, .. } => *saved_unix,
            _ => None,
        }
    }

    /// The answer in effect (a cloud or cached session).
    pub fn answer(&self) -> Option<&serde_json::Value> {
        match self {
            Origin::Snapset => None,
            Origin::Cloud { answer, .. }
            | Origin::Cache { answer, .. }
            | Origin::Stick { answer, .. } => answer.as_ref(),
        }
    }

    /// Replaces the answer in effect; a snapset has none to replace.
    pub fn set_answer(&mut self, new: serde_json::Value) {
        if let Origin::Cloud { answer, .. }
        | Origin::Cache { answer, .. }
        | Origin::Stick { answer, .. } = self
        {
            *answer = Some(new);
        }
    }

    /// The token of a cloud session.
    pub fn token(&self) -> Option<&SessionToken> {
        match self {
            Origin::Cloud { token, .. } => token.as_ref(),
            _ => None,
        }
    }
}

/// The active session.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(from = "SessionFile", into = "SessionFile")]
pub struct Session {
    pub version: u32,
    pub phase: Phase,
    /// The key (the file is sealed, see [`MAGIC`]).
    pub key: String,
    pub key_fingerprint: String,
    pub profile: String,
    pub origin: Origin,
    pub name: Option<String>,
    pub since_unix: u64,
    pub applied: Vec<ReportRow>,
    /// Cloud profiles only.
    pub connectivity: Option<Connectivity>,
    /// Short machine-readable cause of the last cloud failure (`unreachable`, `busy`, …).
    pub reason: Option<String>,
    /// What the person was told.
    pub message: Option<String>,
    pub last_cloud_contact_unix: Option<u64>,
    /// Changes made here during the session (`attune set`): laid over a snapset, which cannot
    /// be saved to, and remembered for a cloud session so `relogin` can send them again.
    pub local_changes: std::collections::BTreeMap<String, serde_json::Value>,
    /// The kernel's boot id when the session began (`/proc/sys/kernel/random/boot_id`): a
    /// shared computer keys out at start a session from an earlier boot. `None`: unknown (a file
    /// from before it was kept, or a kernel without it).
    pub boot_id: Option<String>,
    /// The USB stick this session keyed in with (its mount directory), whichever source was
    /// applied: a reconnection reads it again, and its sealed copy is refreshed when the cloud
    /// answers (docs/design.md §10.3).
    pub stick: Option<std::path::PathBuf>,
}

impl Session {
    /// A session that is starting to apply `origin`'s preferences for `key`.
    pub fn applying(
        key: &attune_model::key::Key,
        profile: &str,
        origin: Origin,
        name: Option<&str>,
        since_unix: u64,
    ) -> Session {
        Session {
            version: SESSION_VERSION,
            phase: Phase::Applying,
            key: key.expose().to_owned(),
            key_fingerprint: key.fingerprint(),
            profile: profile.to_owned(),
            origin,
            name: name.map(str::to_owned),
            since_unix,
            applied: Vec::new(),
            connectivity: None,
            reason: None,
            message: None,
            last_cloud_contact_unix: None,
            local_changes: Default::default(),
            boot_id: None,
            stick: None,
        }
    }

    pub fn source(&self) -> Source {
        self.origin.source()
    }
}

/// The session file's plain text, as every version has written it: flat, with the per-source
/// fields side by side.
#[derive(Serialize, Deserialize)]
struct SessionFile {
    version: u32,
    phase: Phase,
    key: String,
    key_fingerprint: String,
    profile: String,
    source: Source,
    name: Option<String>,
    since_unix: u64,
    applied: Vec<ReportRow>,
    #[serde(default)]
    connectivity: Option<Connectivity>,
    #[serde(default)]
    reason: Option<String>,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    last_cloud_contact_unix: Option<u64>,
    #[serde(default)]
    cache_saved_unix: Option<u64>,
    #[serde(default)]
    token: Option<String>,
    #[serde(default)]
    token_expires_unix: Option<u64>,
    #[serde(default)]
    answer: Option<serde_json::Value>,
    #[serde(default)]
    local_changes: std::collections::BTreeMap<String, serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    boot_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    stick: Option<std::path::PathBuf>,
}

impl From<SessionFile> for Session {
    fn from(f: SessionFile) -> Session {
        let origin = match f.source {
            Source::Snapset => Origin::Snapset,
            Source::Cloud => Origin::Cloud {
                answer: f.answer,
                token: f.token.map(|token| SessionToken {
                    token,
                    expires_unix: f.token_expires_unix.unwrap_or(0),
                }),
            },
            Source::Cache { age_seconds } => Origin::Cache {
                answer: f.answer,
                saved_unix: f.cache_saved_unix,
                age_seconds,
            },
            Source::Stick { age_seconds } => Origin::Stick {
                answer: f.answer,
                saved_unix: f.cache_saved_unix,
                age_seconds,
            },
        };
        Session {
            version: f.version,
            phase: f.phase,
            key: f.key,
            key_fingerprint: f.key_fingerprint,
            profile: f.profile,
            origin,
            name: f.name,
            since_unix: f.since_unix,
            applied: f.applied,
            connectivity: f.connectivity,
            reason: f.reason,
            message: f.message,
            last_cloud_contact_unix: f.last_cloud_contact_unix,
            local_changes: f.local_changes,
            boot_id: f.boot_id,
            stick: f.stick,
        }
    }
}

impl From<Session> for SessionFile {
    fn from(s: Session) -> SessionFile {
        let source = s.origin.source();
        let (answer, token, cache_saved_unix) = match s.origin {
            Origin::Snapset => (None, None, None),
            Origin::Cloud { answer, token } => (answer, token, None),
            // `cache_saved_unix` is when the saved settings in use were saved, the stick's too.
            Origin::Cache {
                answer, saved_unix, ..
            }
            | Origin::Stick {
                answer, saved_unix, ..
            } => (answer, None, saved_unix),
        };
        SessionFile {
            version: s.version,
            phase: s.phase,
            key: s.key,
            key_fingerprint: s.key_fingerprint,
            profile: s.profile,
            source,
            name: s.name,
            since_unix: s.since_unix,
            applied: s.applied,
            connectivity: s.connectivity,
            reason: s.reason,
            message: s.message,
            last_cloud_contact_unix: s.last_cloud_contact_unix,
            cache_saved_unix,
            token_expires_unix: token.as_ref().map(|t| t.expires_unix),
            token: token.map(|t| t.token),
            answer,
            local_changes: s.local_changes,
            boot_id: s.boot_id,
            stick: s.stick,
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SessionError {
    #[error("cannot write the session file {path}: {detail}")]
    Write { path: String, detail: String },
    #[error("cannot read the session file {path}: {detail}")]
    Read { path: String, detail: String },
}

/// Reads the session file; a missing file is `None`. A file that cannot be understood is moved
/// aside (`.corrupt`) and treated as "no session": the journal still decides what to restore.
pub fn load(path: &Path) -> Result<Option<Session>, SessionError> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(SessionError::Read {
                path: path.display().to_string(),
                detail: e.to_string(),
            })
        }
    };
    let plain = sealer(path).and_then(|(s, k)| s.open_sealed(&k, KIND, MAGIC, AAD, &bytes));
    match plain.and_then(|p| serde_json::from_slice::<Session>(&p).ok()) {
        Some(s) if s.version == SESSION_VERSION => Ok(Some(s)),
        _ => {
            tracing::warn!(path = %path.display(), "session file unreadable; set aside");
            let _ = std::fs::rename(path, path.with_extension("json.corrupt"));
            Ok(None)
        }
    }
}

/// Writes the session file atomically (temp, fsync, rename, fsync dir).
pub fn store(path: &Path, s: &Session) -> Result<(), SessionError> {
    let err = |detail: String| SessionError::Write {
        path: path.display().to_string(),
        detail,
    };
    let plain = serde_json::to_vec(s).map_err(|e| err(e.to_string()))?;
    let (sealer, k) =
        sealer(path).ok_or_else(|| err("cannot read or create the install secret".to_owned()))?;
    let bytes = sealer
        .seal(&k, KIND, MAGIC, AAD, &plain)
        .ok_or_else(|| err("encryption failed".to_owned()))?;
    attune_settings::atomic::atomic_write(path, &bytes).map_err(|e| SessionError::Write {
        path: path.display().to_string(),
        detail: e.to_string(),
    })
}

/// Removes the session file (durably: the directory is synced).
pub fn remove(path: &Path) -> Result<(), SessionError> {
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => {
            return Err(SessionError::Write {
                path: path.display().to_string(),
                detail: e.to_string(),
            })
        }
    }
    if let Some(dir) = path.parent() {
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Session {
        let key = attune_model::key::Key::parse("6f1c1c1e-secret-person").unwrap();
        let origin = Origin::Cloud {
            answer: Some(serde_json::json!({"preferences": {}})),
            token: Some(SessionToken {
                token: "tok".to_owned(),
                expires_unix: 9,
            }),
        };
        let mut s = Session::applying(&key, "production", origin, Some("Alex"), 1);
        s.phase = Phase::Active;
        s
    }

    #[test]
    fn a_session_written_before_typed_connectivity_reads_the_same() {
        // The plain text of a session file as 0.1 wrote it (before sealing).
        let old = r#"{"version":1,"phase":"active","key":"k","key_fingerprint":"f",
            "profile":"production","source":{"kind":"cache","age_seconds":7},"name":null,
            "since_unix":5,"applied":[],"connectivity":"auth_stale","reason":"stale_token",
            "message":"m","last_cloud_contact_unix":null,"cache_saved_unix":3,"token":null,
            "token_expires_unix":null,"answer":null}"#;
        let s: Session = serde_json::from_str(old).unwrap();
        assert_eq!(s.connectivity, Some(Connectivity::AuthStale));
        assert_eq!(s.source(), Source::Cache { age_seconds: 7 });
        assert_eq!(
            s.origin,
            Origin::Cache {
                answer: None,
                saved_unix: Some(3),
                age_seconds: 7
            }
        );
        let back = serde_json::to_value(&s).unwrap();
        assert_eq!(back["connectivity"], "auth_stale");
        assert_eq!(back["cache_saved_unix"], 3);
        let mut same: serde_json::Value = serde_json::from_str(old).unwrap();
        same["local_changes"] = serde_json::json!({});
        assert_eq!(back, same, "written back as it was read");
        for c in [
            Connectivity::Online,
            Connectivity::Offline,
            Connectivity::VersionMismatch,
            Connectivity::AuthStale,
        ] {
            assert_eq!(serde_json::to_value(c).unwrap(), c.as_str());
        }
    }

    #[test]
    fn the_session_file_is_sealed_and_a_damaged_one_is_set_aside() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("session.json");
        store(&p, &sample()).unwrap();
        let raw = std::fs::read(&p).unwrap();
        let text = String::from_utf8_lossy(&raw);
        assert!(
            !text.contains("6f1c1c1e") && !text.contains("Alex"),
            "sealed"
        );
        assert_eq!(load(&p).unwrap(), Some(sample()));
        let mut bad = raw.clone();
        let i = bad.len() - 3;
        bad[i] ^= 0x40;
        std::fs::write(&p, bad).unwrap();
        assert_eq!(load(&p).unwrap(), None);
        assert!(p.with_extension("json.corrupt").exists());
        assert!(!p.exists());
    }
}

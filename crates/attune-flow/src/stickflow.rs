//! The portable key in the flow (docs/design.md §10.3; issue 17 item 2): reading a stick's sealed
//! preferences at key-in, refreshing a stale copy once the cloud has answered, and `attune stick
//! write` / the app's "Save my settings to this USB key". The format and its crypto are
//! [`crate::stick`]; which source goes first is [`crate::plan::first_source`]; the key-in that
//! uses them is `cloudflow.rs`.
//!
//! The person's key never reaches a log line: only its fingerprint, the stick's reason for
//! refusal (which names no value) and timings.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use attune_model::key::Key;
use attune_model::prefs::PreferenceSet;
use serde::Serialize;

use crate::engine::Flow;
use crate::error::FlowError;
use crate::messages::Message;
use crate::session::{self, Origin, Phase};
use crate::stick::{self, KdfParams, StickError, Unsealed};

/// What a key-in found on the stick it came with.
#[derive(Debug)]
pub(crate) struct StickRead {
    pub dir: PathBuf,
    /// `Ok(None)`: the stick carries only a key.
    pub found: Result<Option<Unsealed>, StickError>,
}

impl StickRead {
    /// The set to apply, when there is a good one.
    pub fn unsealed(&self) -> Option<&Unsealed> {
        self.found.as_ref().ok().and_then(Option::as_ref)
    }

    /// Why the stick's set is not used, in the session's words ("The settings on your USB key
    /// could not be used: …"), when it was refused.
    pub fn refusal(&self) -> Option<String> {
        self.found
            .as_ref()
            .err()
            .map(|e| Message::StickRefused.with(&[("reason", e)]))
    }
}

/// A stick's sealed set being opened on a thread of its own: Argon2id takes tens of
/// milliseconds, and starting it the moment the key arrives lets it run while the flow takes the
/// state lock, finishes what a crash left, reads the snapsets, reports the device and makes the
/// cloud client (docs/design.md §10.3: settings from a stick within 100 ms of it being seen).
#[derive(Debug)]
pub(crate) struct Unsealing {
    dir: PathBuf,
    thread: Option<std::thread::JoinHandle<StickRead>>,
}

impl Unsealing {
    pub fn start(key: &Key, dir: &Path) -> Unsealing {
        let (k, d) = (key.clone(), dir.to_path_buf());
        let thread = std::thread::Builder::new()
            .name("attune-unseal".to_owned())
            .spawn(move || read(&k, &d))
            .map_err(
                |e| tracing::warn!(error = %e, "no thread to open the USB key on; opened in turn"),
            )
            .ok();
        Unsealing {
            dir: dir.to_path_buf(),
            thread,
        }
    }

    /// Waits for the set (or opens it here, when no thread could be made).
    pub fn finish(self, key: &Key) -> StickRead {
        match self.thread {
            Some(t) => t.join().unwrap_or_else(|_| StickRead {
                dir: self.dir,
                found: Err(StickError::Unreadable {
                    detail: "an internal error (see the log)".to_owned(),
                }),
            }),
            None => read(key, &self.dir),
        }
    }
}

/// Fetcher: reads and opens the stick's sealed set for `key`. A refusal is logged with its kind
/// and reason (never a value), and the key-in goes on to the next source.
pub(crate) fn read(key: &Key, dir: &Path) -> StickRead {
    let started = Instant::now();
    let found = stick::read_sealed(dir).and_then(|bytes| match bytes {
        Some(b) => stick::unseal(key, &b).map(Some),
        None => Ok(None),
    });
    let took = started.elapsed();
    match &found {
        Ok(Some(u)) => tracing::info!(
            key = %key.fingerprint(),
            saved_at = u.saved_at_unix,
            took_ms = ms(took),
            "the USB key's sealed preferences opened"
        ),
        Ok(None) => {
            tracing::debug!(key = %key.fingerprint(), "the USB key has no sealed preferences")
        }
        Err(e) => tracing::warn!(
            key = %key.fingerprint(),
            kind = e.kind(),
            reason = %e,
            took_ms = ms(took),
            "the USB key's sealed preferences were refused; the next source is tried"
        ),
    }
    StickRead {
        dir: dir.to_path_buf(),
        found,
    }
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// After the cloud answered a key-in that came with a stick: replaces the stick's sealed copy
/// when it differs from the cloud's preferences or was damaged ([`crate::plan::refresh_stick`]),
/// atomically (temp file beside it, fsync, rename, fsync of the folder). Best effort: a stick
/// that cannot be written (write-protected, pulled out) is logged, the key-in is not failed.
pub(crate) fn refresh_if_stale(key: &Key, read: &StickRead, answer: &serde_json::Value, now: u64) {
    let Ok(cloud) = PreferenceSet::from_value_named(
        serde_json::json!({"flat": answer["preferences"].clone()}),
        "the cloud's preferences",
    ) else {
        return;
    };
    let on_stick = match &read.found {
        Ok(u) => Ok(u.as_ref().map(|u| u.preferences.clone())),
        Err(e) => Err(e.clone()),
    };
    if !crate::plan::refresh_stick(&on_stick, &cloud) {
        return;
    }
    match stick::refresh(&read.dir, key, &cloud, now) {
        Ok(()) => {
            tracing::info!(key = %key.fingerprint(), "the USB key's copy of the preferences was refreshed")
        }
        Err(e) => tracing::warn!(
            key = %key.fingerprint(),
            kind = e.kind(),
            reason = %e,
            "the USB key's stale copy could not be refreshed"
        ),
    }
}

/// What `attune stick write` did.
#[derive(Debug, Clone, Serialize)]
pub struct StickWriteOutcome {
    /// The stick's folder.
    pub dir: PathBuf,
    pub key_fingerprint: String,
    /// When the sealed preferences were saved as the person's (unix seconds): now for a session
    /// from the cloud, else when the cache's answer or the stick's set in use was saved.
    pub saved_at_unix: u64,
    /// The stick already held this key; its token file was left as it was.
    pub token_kept: bool,
    pub message_text: String,
}

/// Writes the keyed-in person's key and preferences, sealed, to the stick at `dir`
/// (docs/design.md §10.3). A snapset session is refused: a snapset is on every computer with
/// Attune, and a snapset key is not a person's.
pub(crate) fn write(flow: &Flow, dir: &Path) -> Result<StickWriteOutcome, FlowError> {
    let sess = {
        let _lock = flow.lock()?;
        flow.resume_locked()?;
        session::load(&flow.paths.session_file())?
            .filter(|s| s.phase == Phase::Active)
            .ok_or(FlowError::NotKeyedIn)?
    };
    if sess.origin == Origin::Snapset {
        return Err(FlowError::NotAvailable {
            what: "saving a snapset to a USB key (a snapset is on every computer with Attune, \
                   and is not a person's)"
                .to_owned(),
        });
    }
    let Some(answer) = sess.origin.answer() else {
        return Err(FlowError::NotAvailable {
            what: "saving settings from a session that holds no preferences".to_owned(),
        });
    };
    let prefs = PreferenceSet::from_value_named(
        serde_json::json!({"flat": answer["preferences"].clone()}),
        "the preferences in this session",
    )?;
    let now = flow.clock.now_unix();
    let saved_at_unix = match &sess.origin {
        Origin::Cloud { .. } => now,
        other => other.saved_unix().unwrap_or(now),
    };
    let key = Key::parse(&sess.key)?;
    let started = Instant::now();
    let written = stick::write(dir, &key, &prefs, saved_at_unix, KdfParams::DEFAULT)?;
    tracing::info!(
        key = %key.fingerprint(),
        token_kept = written.token_kept,
        took_ms = ms(started.elapsed()),
        "preferences sealed on the USB key"
    );
    Ok(StickWriteOutcome {
        dir: dir.to_path_buf(),
        key_fingerprint: key.fingerprint(),
        saved_at_unix,
        token_kept: written.token_kept,
        message_text: Message::StickWritten.text().to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The app's contract (docs/app.md) lists the outcome's keys; the page's fixtures are held to
    /// that line too (ui/tests/fixtures.test.mjs).
    #[test]
    fn the_outcome_has_the_keys_docs_app_md_lists() {
        let doc = include_str!("../../../docs/app.md");
        let line = doc
            .lines()
            .find(|l| l.starts_with("`StickWriteOutcome`: `{"))
            .expect("docs/app.md describes StickWriteOutcome");
        let inner = &line[line.find('{').unwrap() + 1..line.find('}').unwrap()];
        let mut documented: Vec<String> = inner.split(',').map(|p| p.trim().to_owned()).collect();
        documented.sort();
        let o = StickWriteOutcome {
            dir: PathBuf::from("/media/sam/SAMSTICK"),
            key_fingerprint: "5d0e7a1c".to_owned(),
            saved_at_unix: 1,
            token_kept: false,
            message_text: String::new(),
        };
        let v = serde_json::to_value(&o).unwrap();
        let mut keys: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
        keys.sort();
        assert_eq!(keys, documented);
    }
}

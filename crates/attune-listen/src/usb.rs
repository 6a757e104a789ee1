//! The USB-stick listener: GPII keys live in a file `.gpii-user-token.txt` at the root of a
//! stick (and Attune's sealed copy of the person's preferences beside it, `.attune/`, which the
//! flow reads: the listener passes the stick's folder with the key). The listener watches the removable-media mount roots (`/media/$USER`,
//! `/run/media/$USER`, or those configured); a volume appearing with a token keys its person in,
//! and that volume disappearing keys them out.
//!
//! Changes are seen through `notify` (inotify on Linux) on the mount roots, with a periodic rescan
//! as the fallback (a root that does not exist yet, a file system without inotify). Every rescan
//! compares what is mounted with what was, so a missed or doubled event changes nothing.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

use attune_model::key::Key;
use notify::{RecursiveMode, Watcher};

use crate::queue::{Event, KeyQueue, Request, Via};

/// The token file GPII's USB listener reads.
pub const TOKEN_FILE: &str = attune_flow::stick::TOKEN_FILE;
/// Largest token file read; a key is at most a few hundred bytes.
pub const MAX_TOKEN_BYTES: u64 = 4096;

/// The default mount roots for a user.
pub fn default_roots() -> Vec<PathBuf> {
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .unwrap_or_default();
    if user.is_empty() {
        return vec![PathBuf::from("/media"), PathBuf::from("/run/media")];
    }
    vec![
        PathBuf::from("/media").join(&user),
        PathBuf::from("/run/media").join(&user),
    ]
}

/// The roots a configuration asks to watch: its own, else the user's ([`default_roots`]).
pub fn roots_of(config: &attune_flow::UsbConfig) -> Vec<PathBuf> {
    config.roots.clone().unwrap_or_else(default_roots)
}

/// Why a token file was not used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum TokenError {
    #[error("the token file is larger than {MAX_TOKEN_BYTES} bytes")]
    TooLarge,
    #[error("the token file is not text")]
    NotText,
    #[error("the token file holds no usable key: {0}")]
    BadKey(String),
    #[error("cannot read the token file: {0}")]
    Io(String),
}

/// Reads the key from a token file: UTF-8 text, BOM and surrounding whitespace ignored, one key.
pub fn read_token(path: &Path) -> Result<Key, TokenError> {
    let meta = std::fs::metadata(path).map_err(|e| TokenError::Io(e.to_string()))?;
    if meta.len() > MAX_TOKEN_BYTES {
        return Err(TokenError::TooLarge);
    }
    let bytes = std::fs::read(path).map_err(|e| TokenError::Io(e.to_string()))?;
    if bytes.len() as u64 > MAX_TOKEN_BYTES {
        return Err(TokenError::TooLarge);
    }
    let text = String::from_utf8(bytes).map_err(|_| TokenError::NotText)?;
    if text.contains('\0') {
        return Err(TokenError::NotText);
    }
    Key::parse(&text).map_err(|e| TokenError::BadKey(e.to_string()))
}

/// What the mount roots hold.
#[derive(Debug, Default)]
struct Scan {
    /// The volumes that hold a token file, with what it says.
    tokens: BTreeMap<PathBuf, Result<Key, TokenError>>,
    /// The volumes without one: a stick the person keyed in may have their key and preferences
    /// saved to (docs/design.md §10.3).
    blank: BTreeSet<PathBuf>,
}

fn scan(roots: &[PathBuf]) -> Scan {
    let mut found = Scan::default();
    for root in roots {
        let Ok(rd) = std::fs::read_dir(root) else {
            continue;
        };
        for e in rd.flatten() {
            let vol = e.path();
            let token = vol.join(TOKEN_FILE);
            if token.is_file() {
                found.tokens.insert(vol, read_token(&token));
            } else if vol.is_dir() {
                found.blank.insert(vol);
            }
        }
    }
    found
}

/// What the listener saw, as it happens (before the key-in it queues has run): the app shows
/// "USB key found" at once, though keying in may take seconds.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum StickEvent {
    /// A stick with a usable token appeared; its key-in is queued.
    Found { volume: PathBuf },
    /// The stick that keyed someone in went away; its key-out is queued.
    Removed { volume: PathBuf },
    /// A volume without a token file appeared: nothing is keyed in; the app may offer to save
    /// the keyed-in person's key and preferences to it.
    Blank { volume: PathBuf },
    /// That volume went away (or now holds a token, which is then `Found`).
    BlankGone { volume: PathBuf },
}

/// Told of every [`StickEvent`] (on the listener's thread: keep it short).
pub type StickObserver = Box<dyn Fn(StickEvent) + Send>;

/// The listener's memory: which volume keyed someone in.
#[derive(Debug, Default)]
struct State {
    active: Option<(PathBuf, Key)>,
    /// Volumes seen and already reported (second sticks, bad tokens), so each is said once.
    reported: BTreeMap<PathBuf, ()>,
    /// Volumes without a token, as last told.
    blank: BTreeSet<PathBuf>,
}

impl State {
    /// Compares a scan with what was, and queues what follows.
    fn step(&mut self, scan: &Scan, q: &KeyQueue, seen: &dyn Fn(StickEvent)) {
        // Blank volumes first: one that now holds a token (saved to it) is gone as blank, then
        // found below.
        for vol in self.blank.difference(&scan.blank) {
            seen(StickEvent::BlankGone {
                volume: vol.clone(),
            });
        }
        for vol in scan.blank.difference(&self.blank) {
            seen(StickEvent::Blank {
                volume: vol.clone(),
            });
        }
        self.blank = scan.blank.clone();
        let found = &scan.tokens;
        // The active stick went away (or its token did): key out.
        if let Some((vol, key)) = &self.active {
            if !found.contains_key(vol) {
                q.submit(Via::UsbStick, Request::Logout(key.expose().to_owned()));
                seen(StickEvent::Removed {
                    volume: vol.clone(),
                });
                self.active = None;
            }
        }
        self.reported.retain(|v, _| found.contains_key(v));
        for (vol, token) in found {
            if self.active.as_ref().is_some_and(|(a, _)| a == vol)
                || self.reported.contains_key(vol)
            {
                continue;
            }
            match token {
                Err(e) => {
                    q.publish(Event::Refused {
                        via: Via::UsbStick,
                        reason: format!("{}: {e}", vol.display()),
                    });
                    self.reported.insert(vol.clone(), ());
                }
                Ok(_) if self.active.is_some() => {
                    q.publish(Event::Refused {
                        via: Via::UsbStick,
                        reason: format!(
                            "{}: another stick is already in use; remove it first",
                            vol.display()
                        ),
                    });
                    self.reported.insert(vol.clone(), ());
                }
                Ok(key) => {
                    // With the stick's folder: its sealed preferences, if any, come with the key.
                    q.submit(
                        Via::UsbStick,
                        Request::LoginFromStick(key.expose().to_owned(), vol.clone()),
                    );
                    seen(StickEvent::Found {
                        volume: vol.clone(),
                    });
                    self.active = Some((vol.clone(), key.clone()));
                }
            }
        }
    }
}

/// A running USB listener; dropping it stops it.
pub struct UsbListener {
    stop: mpsc::Sender<()>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for UsbListener {
    fn drop(&mut self) {
        let _ = self.stop.send(());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl UsbListener {
    /// Starts watching `roots`, rescanning at least every `poll` (the fallback).
    pub fn start(roots: Vec<PathBuf>, poll: Duration, queue: KeyQueue) -> UsbListener {
        UsbListener::start_observed(roots, poll, queue, Box::new(|_| {}))
    }

    /// [`UsbListener::start`], telling `seen` of each stick found or removed.
    pub fn start_observed(
        roots: Vec<PathBuf>,
        poll: Duration,
        queue: KeyQueue,
        seen: StickObserver,
    ) -> UsbListener {
        let (stop_tx, stop_rx) = mpsc::channel::<()>();
        let (wake_tx, wake_rx) = mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("attune-usb".to_owned())
            .spawn(move || {
                // inotify on each root that exists; events only wake a rescan.
                let wake = wake_tx.clone();
                let watcher = notify::recommended_watcher(move |_res: notify::Result<notify::Event>| {
                    let _ = wake.send(());
                });
                let mut watcher = match watcher {
                    Ok(w) => Some(w),
                    Err(e) => {
                        tracing::warn!(error = %e, "no file watching here; polling the mount roots");
                        None
                    }
                };
                let mut watched: Vec<PathBuf> = Vec::new();
                let mut state = State::default();
                loop {
                    if let Some(w) = watcher.as_mut() {
                        // The roots and each volume at their top level only: a stick's own tree
                        // may be large, and only its root matters.
                        watched.retain(|p| p.is_dir());
                        let mut dirs: Vec<PathBuf> = roots.iter().filter(|r| r.is_dir()).cloned().collect();
                        for r in &roots {
                            if let Ok(rd) = std::fs::read_dir(r) {
                                dirs.extend(rd.flatten().map(|e| e.path()).filter(|p| p.is_dir()));
                            }
                        }
                        for d in dirs {
                            if !watched.contains(&d) && w.watch(&d, RecursiveMode::NonRecursive).is_ok() {
                                watched.push(d);
                            }
                        }
                    }
                    state.step(&scan(&roots), &queue, &seen);
                    if stop_rx.try_recv().is_ok() {
                        break;
                    }
                    match wake_rx.recv_timeout(poll) {
                        Ok(()) | Err(mpsc::RecvTimeoutError::Timeout) => {}
                        Err(mpsc::RecvTimeoutError::Disconnected) => {}
                    }
                    // Coalesce a burst of events into one rescan.
                    while wake_rx.try_recv().is_ok() {}
                    if stop_rx.try_recv().is_ok() {
                        break;
                    }
                }
            });
        let thread = match thread {
            Ok(t) => Some(t),
            Err(e) => {
                tracing::error!(error = %e, "cannot start the USB listener");
                None
            }
        };
        UsbListener {
            stop: stop_tx,
            thread,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(text: &[u8]) -> (tempfile::TempDir, PathBuf) {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join(TOKEN_FILE);
        std::fs::write(&p, text).unwrap();
        (d, p)
    }

    #[test]
    fn a_stick_is_told_found_when_it_appears_and_removed_when_it_goes() {
        let (state_root, media) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let config = attune_flow::Config::defaults(attune_flow::Profile::Testing);
        let flow = attune_flow::Flow::new(config, attune_flow::Paths::under(state_root.path()));
        // A key no snapset has: its queued key-in fails without touching the desktop.
        let q = KeyQueue::start(std::sync::Arc::new(flow.unwrap()));
        let stick = media.path().join("STICK");
        std::fs::create_dir(&stick).unwrap();
        std::fs::write(stick.join(TOKEN_FILE), "no_such_snapset\n").unwrap();
        let told = std::cell::RefCell::new(Vec::new());
        let seen = |e: StickEvent| told.borrow_mut().push(e);
        let roots = [media.path().to_path_buf()];
        let mut state = State::default();

        state.step(&scan(&roots), &q, &seen);
        state.step(&scan(&roots), &q, &seen);
        std::fs::remove_dir_all(&stick).unwrap();
        state.step(&scan(&roots), &q, &seen);

        assert_eq!(
            told.into_inner(),
            [
                StickEvent::Found {
                    volume: stick.clone()
                },
                StickEvent::Removed { volume: stick }
            ]
        );
    }

    #[test]
    fn a_blank_stick_is_told_and_once_a_key_is_saved_to_it_it_is_found() {
        let (state_root, media) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let config = attune_flow::Config::defaults(attune_flow::Profile::Testing);
        let flow = attune_flow::Flow::new(config, attune_flow::Paths::under(state_root.path()));
        let q = KeyQueue::start(std::sync::Arc::new(flow.unwrap()));
        let stick = media.path().join("BLANK");
        std::fs::create_dir(&stick).unwrap();
        std::fs::write(media.path().join("not-a-volume.txt"), "x").unwrap();
        let told = std::cell::RefCell::new(Vec::new());
        let seen = |e: StickEvent| told.borrow_mut().push(e);
        let roots = [media.path().to_path_buf()];
        let mut state = State::default();

        state.step(&scan(&roots), &q, &seen);
        state.step(&scan(&roots), &q, &seen);
        std::fs::write(stick.join(TOKEN_FILE), "no_such_snapset\n").unwrap();
        state.step(&scan(&roots), &q, &seen);

        assert_eq!(
            told.into_inner(),
            [
                StickEvent::Blank {
                    volume: stick.clone()
                },
                StickEvent::BlankGone {
                    volume: stick.clone()
                },
                StickEvent::Found { volume: stick }
            ]
        );
    }

    #[test]
    fn tokens_tolerate_bom_and_whitespace() {
        let (_d, p) = token("\u{feff}  snapset_1a \r\n".as_bytes());
        assert_eq!(read_token(&p).unwrap().expose(), "snapset_1a");
    }

    #[test]
    fn bad_tokens_are_refused_with_a_reason() {
        let (_d, p) = token(b"");
        assert!(matches!(read_token(&p), Err(TokenError::BadKey(_))));
        let (_d, p) = token(&[0xff, 0xfe, 0x00, 0x41]);
        assert_eq!(read_token(&p), Err(TokenError::NotText));
        let (_d, p) = token(&vec![b'a'; 10_000]);
        assert_eq!(read_token(&p), Err(TokenError::TooLarge));
        let (_d, p) = token(b"two keys");
        assert!(matches!(read_token(&p), Err(TokenError::BadKey(_))));
    }
}

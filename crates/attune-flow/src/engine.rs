//! The key-in / key-out state machine (docs/design.md §3) for the testing profile: snapset → device
//! report → matchmake → transform → journal → apply → report; and key-out → restore from the
//! journal → verify → close. Every command first finishes what a crashed process left half done.

use std::time::Duration;

use attune_model::bundled;
use attune_model::key::Key;
use attune_model::registry::SolutionsRegistry;
use serde::Serialize;

use crate::clock::{Clock, SystemClock};
use crate::config::{Config, Profile, Sources};
use crate::desktop::{self, Desktop, SettingsDesktop};
use crate::error::FlowError;
use crate::lock::StateLock;
use crate::messages::Message;
use crate::paths::Paths;
use crate::report::{self, ReportRow};
use crate::session::{self, Connectivity, Origin, Phase, Session, Source};
use crate::snapsets::{Catalog, SnapsetInfo, SnapsetReport};
use crate::testlog::{RestoreResult, TestEvent, TestRecord};

/// How long a command waits for another process holding the state lock.
const LOCK_WAIT: Duration = Duration::from_secs(5);

/// Attune's local flow manager: the one API the CLI, the app and the listeners drive.
pub struct Flow {
    pub(crate) config: Config,
    pub(crate) paths: Paths,
    registry: SolutionsRegistry,
    pub(crate) desktop: Box<dyn Desktop>,
    /// The cloud client, made on first use (the breaker and retry budget live in it, so one per
    /// process).
    pub(crate) cloud:
        std::sync::OnceLock<Result<crate::cloud::CloudClient, crate::cloud::ClientError>>,
    /// The one async runtime every cloud call of this flow runs on, made with the client and
    /// living as long as it: the client's pooled connections belong to it (see
    /// [`crate::cloudflow::CloudRuntime`]).
    pub(crate) runtime: std::sync::OnceLock<Result<crate::cloudflow::CloudRuntime, String>>,
    observer: std::sync::RwLock<Option<Observer>>,
    /// Where the flow reads the time of day (the system clock unless a test sets another).
    pub(crate) clock: std::sync::Arc<dyn Clock>,
    /// Whether this process asks the cloud again by itself (the app and `attune listen` run
    /// the reconnector; the `attune` command exits): only then may a message say "We'll keep
    /// trying".
    reconnects_in_background: std::sync::atomic::AtomicBool,
    /// A key-in that applied nothing because the cloud was away, which this process keeps
    /// trying ([`Flow::reconnect`]): in memory only, for [`PENDING_KEY_IN_FOR`] at the most, and
    /// dropped by any other key-in or key-out.
    pending: std::sync::Mutex<Option<PendingKeyIn>>,
    pending_for: Duration,
}

/// Why a key-out happens: the person asked, or a shared computer's policy did
/// (docs/design.md §10.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyOutCause {
    /// The person (or a listener on their behalf: the stick pulled, the local API).
    Person,
    /// Nobody used the computer for the site's idle time.
    Idle,
    /// The desktop session is ending (logout, shutdown).
    SessionEnd,
    /// The session began before this boot.
    EarlierBoot,
}

impl KeyOutCause {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyOutCause::Person => "person",
            KeyOutCause::Idle => "idle",
            KeyOutCause::SessionEnd => "session_end",
            KeyOutCause::EarlierBoot => "earlier_boot",
        }
    }

    /// What the person is told after such a key-out.
    pub fn message(self) -> Message {
        match self {
            KeyOutCause::Person => Message::KeyedOut,
            KeyOutCause::Idle => Message::KeyedOutIdle,
            KeyOutCause::SessionEnd => Message::KeyedOutSessionEnd,
            KeyOutCause::EarlierBoot => Message::KeyedOutEarlierBoot,
        }
    }
}

/// How long a failed key-in that applied nothing stays pending in a process that reconnects:
/// long enough for a server that is restarting, short enough that a person who has given up and
/// walked away is not keyed in at a computer they have left.
pub const PENDING_KEY_IN_FOR: Duration = Duration::from_secs(180);

#[derive(Debug)]
struct PendingKeyIn {
    key: Key,
    /// The USB stick it came on, read again when it is tried again.
    stick: Option<std::path::PathBuf>,
    until: std::time::Instant,
}

/// Called with each [`FlowEvent`], on the thread doing the work.
pub type Observer = std::sync::Arc<dyn Fn(&FlowEvent) + Send + Sync>;

/// What the flow has just done, while a call is still under way: the app shows "your saved
/// settings are applied; still asking the cloud" the moment the cache is applied, instead of
/// after the cloud's deadline. Holds no key and no preference.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
#[non_exhaustive]
pub enum FlowEvent {
    /// Settings are on the desktop (`source`: `cloud`, `cache`, `snapset`), before any cloud
    /// call of this key-in has ended.
    Applied {
        source: &'static str,
        settings: usize,
    },
    /// Everything this session applied has been put back.
    Restored { settings: usize },
}

/// What a key-in did.
#[derive(Debug, Clone, Serialize)]
pub struct KeyInOutcome {
    pub key: String,
    pub source: Source,
    pub name: Option<String>,
    pub applied: Vec<ReportRow>,
    /// The same in words, for people (crate::words).
    pub applied_in_words: Vec<crate::words::AppliedLine>,
    pub counts: report::Counts,
    pub message: Message,
    pub message_text: String,
    /// A previous session or interrupted operation that was finished first.
    pub finished_first: Option<RecoverOutcome>,
}

/// What a key-out (or a recovery) put back.
#[derive(Debug, Clone, Serialize)]
pub struct RecoverOutcome {
    pub restored: usize,
    pub failed: Vec<ReportRow>,
    /// The same in words, for people (crate::words).
    pub failed_in_words: Vec<crate::words::AppliedLine>,
    pub journal: &'static str,
    pub message: Message,
    pub message_text: &'static str,
}

/// What `attune recover --discard-journal` did.
#[derive(Debug, Clone, Serialize)]
pub struct DiscardOutcome {
    /// Where the unreadable journal was kept (beside it, `.damaged-<unix time>`, 0600).
    pub kept_at: std::path::PathBuf,
    pub message: Message,
    pub message_text: &'static str,
}

/// Everything `attune status` reports.
#[derive(Debug, Clone, Serialize)]
pub struct Status {
    pub state: State,
    pub profile: Profile,
    pub key: Option<String>,
    pub name: Option<String>,
    pub source: Option<&'static str>,
    pub cache_age_seconds: Option<u64>,
    pub connectivity: Option<Connectivity>,
    /// Why the session is not online, in words for people (the app shows it).
    pub reason: Option<String>,
    /// The same as a stable code for scripts (`unreachable`, `busy`, `stale_token`, `testing`…).
    pub reason_code: Option<String>,
    pub message: Option<String>,
    pub applied: Vec<ReportRow>,
    /// The same in words, for people (crate::words).
    pub applied_in_words: Vec<crate::words::AppliedLine>,
    pub outbox: u64,
    pub journal: &'static str,
    pub journal_entries: usize,
    pub last_cloud_contact: Option<u64>,
    /// When nobody is keyed in and this computer's latest cloud call failed: when (unix
    /// seconds). `connectivity`, `reason` and `reason_code` then say why, until a call succeeds.
    pub last_cloud_failure: Option<u64>,
    pub since_unix: Option<u64>,
    pub save_state: SaveState,
    pub appearance: Appearance,
}

/// What `attune status` says of the session, as the wire format spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    /// Nobody is keyed in and nothing is left to put back.
    Idle,
    Active,
    /// A key-in was cut short (or a journal is open without a session): the next command
    /// puts the computer back.
    Interrupted,
    /// A key-out was cut short; the next command completes it.
    Restoring,
}

/// Whether the person's changes are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SaveKind {
    /// Saved in the cloud.
    Saved,
    /// Waiting in the outbox.
    Pending,
    /// A snapset: applied here, never saved.
    ReadOnly,
    /// Nobody keyed in.
    None,
}

macro_rules! wire_str {
    ($ty:ty { $($v:ident => $s:literal),* $(,)? }) => {
        impl $ty {
            /// The wire format's word for it.
            pub fn as_str(self) -> &'static str {
                match self { $(<$ty>::$v => $s),* }
            }
        }
        impl std::fmt::Display for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
        impl PartialEq<&str> for $ty {
            fn eq(&self, other: &&str) -> bool {
                self.as_str() == *other
            }
        }
    };
}

wire_str!(State { Idle => "idle", Active => "active", Interrupted => "interrupted", Restoring => "restoring" });
wire_str!(SaveKind { Saved => "saved", Pending => "pending", ReadOnly => "read_only", None => "none" });

/// Whether the person's changes are kept, and how many wait in the outbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct SaveState {
    pub state: SaveKind,
    pub pending: u64,
}

impl SaveState {
    pub fn of(source: Option<&Source>, pending: u64) -> SaveState {
        SaveState {
            state: crate::plan::save_kind(source, pending),
            pending,
        }
    }
}

/// The keyed-in person's text size and contrast as applied to the desktop, so the app can
/// apply them to itself (docs/design.md §8). `None` where the set does not say.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Appearance {
    /// GNOME's text-scaling-factor (1.0 = normal).
    pub text_scale: Option<f64>,
    pub high_contrast: Option<bool>,
}

impl Appearance {
    pub fn from_rows(rows: &[ReportRow]) -> Appearance {
        let applied = |solution: &str, setting: &str| {
            rows.iter()
                .find(|r| {
                    r.outcome == report::Outcome::Applied
                        && r.solution == solution
                        && r.setting == setting
                })
                .and_then(|r| r.value.as_ref())
        };
        Appearance {
            text_scale: applied("org.gnome.desktop.interface", "text-scaling-factor")
                .and_then(serde_json::Value::as_f64)
                .filter(|f| f.is_finite() && *f > 0.0),
            high_contrast: applied("org.gnome.desktop.a11y.interface", "high-contrast")
                .and_then(serde_json::Value::as_bool),
        }
    }
}

impl Flow {
    /// A flow over this process's environment: XDG paths and layered configuration.
    pub fn from_env(profile: Option<Profile>) -> Result<Flow, FlowError> {
        let paths = Paths::from_env()?;
        let config = Config::load(&Sources::from_process(profile, &paths.config_dir))?;
        Flow::new(config, paths)
    }

    pub fn new(config: Config, paths: Paths) -> Result<Flow, FlowError> {
        let registry = bundled::linux_registry()?;
        let desktop = Box::new(SettingsDesktop::new(&paths));
        Ok(Flow {
            config,
            paths,
            registry,
            desktop,
            cloud: std::sync::OnceLock::new(),
            runtime: std::sync::OnceLock::new(),
            observer: std::sync::RwLock::new(None),
            clock: std::sync::Arc::new(SystemClock),
            reconnects_in_background: std::sync::atomic::AtomicBool::new(false),
            pending: std::sync::Mutex::new(None),
            pending_for: PENDING_KEY_IN_FOR,
        })
    }

    /// The same flow reading the time from `clock` (tests run on a fixed one).
    pub fn with_clock(mut self, clock: std::sync::Arc<dyn Clock>) -> Flow {
        self.clock = clock;
        self
    }

    /// The same flow acting on `desktop` instead of this computer's (tests use one in memory).
    pub fn with_desktop(mut self, desktop: Box<dyn Desktop>) -> Flow {
        self.desktop = desktop;
        self
    }

    /// Says that this process runs the background reconnector (the app, `attune listen`), so
    /// its messages may promise to keep trying. Off by default: a command that exits says what
    /// to do instead.
    pub fn set_reconnects_in_background(&self, on: bool) {
        self.reconnects_in_background
            .store(on, std::sync::atomic::Ordering::Relaxed);
    }

    pub(crate) fn reconnects_in_background(&self) -> bool {
        self.reconnects_in_background
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The same flow keeping a failed key-in pending for `d` instead of [`PENDING_KEY_IN_FOR`].
    pub fn with_pending_key_in_for(mut self, d: Duration) -> Flow {
        self.pending_for = d;
        self
    }

    /// Drops the pending key-in, if any: the person has done something else (another key, a
    /// key-out, their stick pulled).
    pub fn cancel_pending_key_in(&self) {
        if let Ok(mut p) = self.pending.lock() {
            if p.take().is_some() {
                tracing::info!("the pending key-in is cancelled");
            }
        }
    }

    /// Whether a failed key-in is pending (the reconnector will try it again).
    pub fn has_pending_key_in(&self) -> bool {
        self.pending.lock().is_ok_and(|p| {
            p.as_ref()
                .is_some_and(|p| std::time::Instant::now() < p.until)
        })
    }

    pub(crate) fn set_pending_key_in(&self, key: &Key, stick: Option<&std::path::Path>) {
        if let Ok(mut p) = self.pending.lock() {
            tracing::info!(key = %key, "the key-in stays pending");
            *p = Some(PendingKeyIn {
                key: key.clone(),
                stick: stick.map(std::path::Path::to_path_buf),
                until: std::time::Instant::now() + self.pending_for,
            });
        }
    }

    /// Takes the pending key-in (its key and the stick it came on) if it has not run out.
    pub(crate) fn take_pending_key_in(&self) -> Option<(Key, Option<std::path::PathBuf>)> {
        let p = self.pending.lock().ok()?.take()?;
        (std::time::Instant::now() < p.until).then_some((p.key, p.stick))
    }

    /// Runs a pending key-in again (the reconnector, the state lock held): `Some(true)` keyed in
    /// from the cloud, `Some(false)` still away (it stays pending), `None` there was none.
    pub(crate) fn retry_pending_key_in_locked(
        &self,
        key: &Key,
        stick: Option<&std::path::Path>,
    ) -> Result<bool, FlowError> {
        let unsealing = stick.map(|d| crate::stickflow::Unsealing::start(key, d));
        match self.key_in_locked(key, None, unsealing) {
            Ok(out) => Ok(out.source == Source::Cloud),
            Err(FlowError::Offline {
                keeps_trying: true, ..
            }) => {
                self.set_pending_key_in(key, stick);
                Ok(false)
            }
            Err(e) => Err(e),
        }
    }

    /// Registers the one observer of [`FlowEvent`]s (the app forwards them to its window).
    pub fn set_observer(&self, observer: Observer) {
        if let Ok(mut o) = self.observer.write() {
            *o = Some(observer);
        }
    }

    pub(crate) fn emit(&self, event: FlowEvent) {
        let observer = self.observer.read().ok().and_then(|o| o.clone());
        if let Some(o) = observer {
            o(&event);
        }
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    pub fn paths(&self) -> &Paths {
        &self.paths
    }

    /// The bundled snapsets, by key.
    /// Every snapset a key can name here: the bundled ones and the site's and the user's
    /// folders, each once, with where it comes from and why it cannot be used, if it cannot.
    pub fn snapsets(&self) -> Result<Vec<SnapsetInfo>, FlowError> {
        let catalog = Catalog::load(&self.config, &self.paths);
        for why in catalog.unreadable() {
            tracing::warn!(folder = %why, "a snapset folder cannot be read");
        }
        Ok(catalog.list())
    }

    /// Checks snapset files (each file named, each `*.json5` of a folder named) against this
    /// computer's registry, as `attune snapsets check` does.
    pub fn check_snapsets(&self, paths: &[std::path::PathBuf]) -> Vec<SnapsetReport> {
        crate::snapsets::files_to_check(paths)
            .iter()
            .map(|f| crate::snapsets::check_file(f, &self.registry))
            .collect()
    }

    /// The snapset `key` names (bundled or from a folder).
    pub(crate) fn snapset(
        &self,
        key: &str,
    ) -> Result<attune_model::prefs::PreferenceSet, FlowError> {
        let catalog = Catalog::load(&self.config, &self.paths);
        catalog.get(key).unwrap_or_else(|| {
            Err(FlowError::UnknownSnapset {
                available: catalog.keys(),
            })
        })
    }

    pub(crate) fn lock(&self) -> Result<StateLock, FlowError> {
        self.paths.ensure()?;
        Ok(StateLock::acquire(&self.paths.lock_file(), LOCK_WAIT)?)
    }

    /// Finishes whatever a crashed process left half done: an interrupted key-in is undone and an
    /// interrupted key-out is completed. An active session is left alone. Returns what was put
    /// back, if anything. Every command runs this first.
    pub fn resume(&self) -> Result<Option<RecoverOutcome>, FlowError> {
        let _lock = self.lock()?;
        self.resume_locked()
    }

    pub(crate) fn resume_locked(&self) -> Result<Option<RecoverOutcome>, FlowError> {
        self.desktop.sweep(&self.paths);
        let session = session::load(&self.paths.session_file())?;
        let journal_open = self.desktop.journal_open()?;
        match crate::plan::resume_action(session.as_ref().map(|s| s.phase), journal_open) {
            crate::plan::Resume::Nothing => Ok(None),
            crate::plan::Resume::Restore => {
                tracing::info!("open journal without an active session: restoring");
                let out = self.restore_locked(Message::RestoredAfterUnexpectedStop);
                let result = Self::restore_result(&out);
                self.record_test_restore(TestEvent::Recovered, session.as_ref(), result);
                Ok(Some(out?))
            }
            crate::plan::Resume::ForgetSession => {
                // A key-in died before it changed anything, or a key-out finished restoring but
                // died before removing the session: nothing to put back.
                session::remove(&self.paths.session_file())?;
                let nothing = RestoreResult {
                    restored: 0,
                    failed: Vec::new(),
                };
                self.record_test_restore(TestEvent::Recovered, session.as_ref(), nothing);
                Ok(None)
            }
        }
    }

    /// Keys in `raw_key`. In the testing profile the key names a bundled snapset; in the
    /// development and production profiles it is the person's GPII key, fetched from the cloud
    /// with the cache and the snapset of the same name as fallbacks (docs/design.md §3).
    ///
    /// In a process that reconnects, a key-in that applied nothing because the cloud was away
    /// stays pending and [`Flow::reconnect`] tries it again (docs/design.md §3).
    pub fn key_in(&self, raw_key: &str) -> Result<KeyInOutcome, FlowError> {
        self.key_in_maybe_stick(raw_key, None)
    }

    /// Keys in `raw_key`, read from the USB stick mounted at `stick` (the listener's, or `attune
    /// key-in --stick`): where the cloud cannot answer, the preferences sealed on the stick are
    /// applied when they are newer than this computer's cache, and a stale sealed copy is
    /// refreshed when the cloud does answer (docs/design.md §10.3). The testing profile reads
    /// only the key.
    pub fn key_in_with_stick(
        &self,
        raw_key: &str,
        stick: &std::path::Path,
    ) -> Result<KeyInOutcome, FlowError> {
        self.key_in_maybe_stick(raw_key, Some(stick))
    }

    fn key_in_maybe_stick(
        &self,
        raw_key: &str,
        stick: Option<&std::path::Path>,
    ) -> Result<KeyInOutcome, FlowError> {
        self.cancel_pending_key_in();
        let key = Key::parse(raw_key)?;
        // Opened from now on, while the lock is taken and the device reported (testing profile:
        // only the key is read).
        let unsealing = stick
            .filter(|_| self.config.profile != Profile::Testing)
            .map(|d| crate::stickflow::Unsealing::start(&key, d));
        let _lock = self.lock()?;
        let finished_first = self.resume_locked()?;
        let r = self.key_in_locked(&key, finished_first, unsealing);
        if let Err(FlowError::Offline {
            keeps_trying: true, ..
        }) = &r
        {
            self.set_pending_key_in(&key, stick);
        }
        r
    }

    /// Writes the keyed-in person's key and preferences, sealed under their key, to the USB
    /// stick mounted at `dir` (`attune stick write`, the app's "Save my settings to this USB
    /// key"; docs/design.md §10.3).
    pub fn write_stick(
        &self,
        dir: &std::path::Path,
    ) -> Result<crate::stickflow::StickWriteOutcome, FlowError> {
        crate::stickflow::write(self, dir)
    }

    /// The snapsets, and the one of the key's name: the key-in itself in the testing profile
    /// (where there must be one), the fallback in the cloud profiles.
    fn snapset_of_key(
        &self,
        key: &Key,
    ) -> Result<(Catalog, Option<attune_model::prefs::PreferenceSet>), FlowError> {
        let catalog = Catalog::load(&self.config, &self.paths);
        let snapset = match (self.config.profile, catalog.get(key.expose()).transpose()) {
            (_, Ok(s)) => s,
            // A broken or shadowed snapset is the key-in's error where it is all there is;
            // in the cloud profiles it is only the fallback, and the cloud is still asked.
            (Profile::Testing, Err(e)) => return Err(e),
            (_, Err(e)) => {
                tracing::warn!(error = %e, "the snapset of this key's name cannot be used");
                None
            }
        };
        if self.config.profile == Profile::Testing && snapset.is_none() {
            return Err(FlowError::UnknownSnapset {
                available: catalog.keys(),
            });
        }
        Ok((catalog, snapset))
    }

    pub(crate) fn key_in_locked(
        &self,
        key: &Key,
        mut finished_first: Option<RecoverOutcome>,
        stick: Option<crate::stickflow::Unsealing>,
    ) -> Result<KeyInOutcome, FlowError> {
        let key = key.clone();

        let (catalog, snapset) = self.snapset_of_key(&key)?;

        if let Some(s) = session::load(&self.paths.session_file())? {
            match crate::plan::key_in_start(Some((s.phase, s.key == key.expose()))) {
                crate::plan::Start::AlreadyKeyedIn => {
                    return Ok(KeyInOutcome {
                        key: s.key.clone(),
                        source: s.source(),
                        name: s.name.clone(),
                        counts: report::counts(&s.applied),
                        applied_in_words: crate::words::in_words(&s.applied),
                        applied: s.applied,
                        message: Message::AlreadyKeyedIn,
                        message_text: Message::AlreadyKeyedIn.text().to_owned(),
                        finished_first: None,
                    });
                }
                // Another person is keyed in: key them out first (docs/design.md §3).
                crate::plan::Start::KeyOutFirst => {
                    finished_first = Some(self.key_out_locked(Message::KeyedOut)?)
                }
                crate::plan::Start::Fresh => {}
            }
        }

        let device = self.desktop.device_report(&self.registry);
        if self.config.profile == Profile::Testing {
            let Some(prefs) = snapset else {
                return Err(FlowError::NotKeyedIn);
            };
            let outcome = attune_model::matchmaker::match_and_transform(
                &prefs,
                attune_model::prefs::DEFAULT_CONTEXT,
                &self.registry,
                &device,
            )?;
            let sess = self.new_session(&key, Origin::Snapset, prefs.name());
            let started = std::time::Instant::now();
            let (sess, rows) = self.apply_in_session(sess, &outcome.instructions)?;
            self.record_test_key_in(&catalog, &key, &rows, started.elapsed());
            return Ok(self.outcome(sess, rows, None, finished_first));
        }
        crate::cloudflow::key_in_cloud(self, &key, snapset, &device, finished_first, stick)
    }

    pub(crate) fn new_session(&self, key: &Key, origin: Origin, name: Option<&str>) -> Session {
        let profile = self.config.profile.to_string();
        let mut s = Session::applying(key, &profile, origin, name, self.clock.now_unix());
        s.boot_id = self.clock.boot_id();
        s
    }

    /// Records the session as applying, applies through the journal, records it as active.
    /// When the journal cannot be written, whatever was changed is undone and the error
    /// returned.
    pub(crate) fn apply_in_session(
        &self,
        mut sess: Session,
        instructions: &attune_model::lifecycle::LifecycleInstructions,
    ) -> Result<(Session, Vec<ReportRow>), FlowError> {
        sess.phase = Phase::Applying;
        session::store(&self.paths.session_file(), &sess)?;
        tracing::info!(key = %sess.key_fingerprint, source = sess.source().as_str(), "key-in: applying");
        let rows = match self.desktop.apply(instructions) {
            Ok(rows) => rows,
            Err(e) => {
                let _ = self.restore_locked(Message::KeyedOut);
                return Err(e);
            }
        };
        sess.phase = Phase::Active;
        sess.applied = rows.clone();
        session::store(&self.paths.session_file(), &sess)?;
        self.emit(FlowEvent::Applied {
            source: sess.source().as_str(),
            settings: rows.len(),
        });
        Ok((sess, rows))
    }

    /// Rewrites the active session record (source, connectivity, message changed).
    pub(crate) fn store_session(&self, sess: &Session) -> Result<(), FlowError> {
        Ok(session::store(&self.paths.session_file(), sess)?)
    }

    /// Puts back everything applied in this session, keeping the lock.
    pub(crate) fn undo_locked(&self) -> Result<RecoverOutcome, FlowError> {
        self.restore_locked(Message::KeyedOut)
    }

    pub(crate) fn outcome(
        &self,
        sess: Session,
        rows: Vec<ReportRow>,
        text: Option<String>,
        finished_first: Option<RecoverOutcome>,
    ) -> KeyInOutcome {
        let counts = report::counts(&rows);
        let source = sess.source();
        let message = crate::plan::keyed_in_message(&source, counts.failed);
        KeyInOutcome {
            key: sess.key,
            source,
            name: sess.name,
            applied_in_words: crate::words::in_words(&rows),
            applied: rows,
            counts,
            message,
            message_text: text.unwrap_or_else(|| message.text().to_owned()),
            finished_first,
        }
    }

    /// The testing profile's record of a key-in (docs/design.md §3; never in the cloud profiles).
    fn record_test_key_in(&self, catalog: &Catalog, key: &Key, rows: &[ReportRow], took: Duration) {
        let mut r = TestRecord::new(TestEvent::KeyIn, self.clock.now_unix(), Some(key.expose()));
        if let Some((origin, file, sha256)) = catalog.provenance(key.expose()) {
            (r.origin, r.file, r.sha256) = (Some(origin), Some(file), Some(sha256));
        }
        r.settings = rows.iter().map(Into::into).collect();
        r.applied_ms = Some(u64::try_from(took.as_millis()).unwrap_or(u64::MAX));
        crate::testlog::append(&self.paths.state_dir, &r);
    }

    /// The testing profile's record of a key-out, or of the restore of an interrupted session.
    fn record_test_restore(
        &self,
        event: TestEvent,
        session: Option<&Session>,
        restore: RestoreResult,
    ) {
        if self.config.profile != Profile::Testing {
            return;
        }
        let snapset = session.map(|s| s.key.as_str());
        let mut r = TestRecord::new(event, self.clock.now_unix(), snapset);
        if event == TestEvent::Recovered {
            r.interrupted = Some(match session.map(|s| s.phase) {
                Some(Phase::Applying) => "applying".to_owned(),
                Some(Phase::Active) => "active".to_owned(),
                Some(Phase::Restoring) => "restoring".to_owned(),
                None => "unknown (no session file)".to_owned(),
            });
        }
        r.restore = Some(restore);
        crate::testlog::append(&self.paths.state_dir, &r);
    }

    /// What a restore put back, for the record of test sessions.
    fn restore_result(out: &Result<RecoverOutcome, FlowError>) -> RestoreResult {
        match out {
            Ok(o) => RestoreResult {
                restored: o.restored,
                failed: o.failed.iter().map(Into::into).collect(),
            },
            Err(FlowError::RestoreIncomplete { rows, .. }) => RestoreResult {
                restored: crate::report::counts(rows).applied,
                failed: rows
                    .iter()
                    .filter(|r| r.outcome != crate::report::Outcome::Applied)
                    .map(Into::into)
                    .collect(),
            },
            Err(_) => RestoreResult {
                restored: 0,
                failed: Vec::new(),
            },
        }
    }

    /// The record of test sessions since `since_unix`, and how many lines could not be read
    /// (`attune report`).
    pub fn test_sessions(
        &self,
        since_unix: Option<u64>,
    ) -> Result<(Vec<TestRecord>, usize), FlowError> {
        crate::testlog::read(&self.paths.state_dir, since_unix).map_err(|e| {
            FlowError::NotAvailable {
                what: format!("the record of test sessions ({e})"),
            }
        })
    }

    pub(crate) fn registry(&self) -> &SolutionsRegistry {
        &self.registry
    }

    /// Forgets the person of `raw_key` (the one keyed in when `None`) on this computer, or
    /// everywhere (the cloud first): their saved settings and unsent changes; keyed in, they are
    /// keyed out first. Unsent changes are refused ([`FlowError::UnsentChanges`]) unless
    /// `drop_unsent` (docs/design.md §10.3).
    pub fn forget(
        &self,
        raw_key: Option<&str>,
        reach: crate::forget::ForgetReach,
        drop_unsent: bool,
    ) -> Result<crate::forget::ForgetOutcome, FlowError> {
        self.cancel_pending_key_in();
        crate::forget::forget(self, raw_key, reach, drop_unsent)
    }

    /// Keys out: restores every original from the journal and ends the session.
    pub fn key_out(&self) -> Result<RecoverOutcome, FlowError> {
        self.key_out_because(KeyOutCause::Person)
    }

    /// Keys out for `cause`: the person asked, or a shared computer's policy
    /// (docs/design.md §10.2), which the outcome's message names.
    pub fn key_out_because(&self, cause: KeyOutCause) -> Result<RecoverOutcome, FlowError> {
        self.cancel_pending_key_in();
        let _lock = self.lock()?;
        if let Some(r) = self.resume_locked()? {
            return Ok(r);
        }
        tracing::info!(cause = cause.as_str(), "key-out");
        self.key_out_locked(cause.message())
    }

    /// What a process that stays running (the app, `attune listen`) does first: finishes what a
    /// crash left ([`Flow::resume`]) and, on a shared computer, keys out a session that began
    /// before this boot: whoever it belonged to has gone. A personal computer keeps it.
    pub fn start_up(&self) -> Result<Option<RecoverOutcome>, FlowError> {
        let _lock = self.lock()?;
        if let Some(r) = self.resume_locked()? {
            return Ok(Some(r));
        }
        if !self.config.session.shared_computer {
            return Ok(None);
        }
        let Some(s) = session::load(&self.paths.session_file())? else {
            return Ok(None);
        };
        let Some(this_boot) = self.clock.boot_id() else {
            tracing::warn!("cannot tell which boot this is; the session is kept");
            return Ok(None);
        };
        if s.boot_id.as_deref() == Some(this_boot.as_str()) {
            return Ok(None);
        }
        tracing::info!(
            key = %s.key_fingerprint,
            known = s.boot_id.is_some(),
            "a session from an earlier boot on a shared computer: keying out"
        );
        self.cancel_pending_key_in();
        self.key_out_locked(KeyOutCause::EarlierBoot.message())
            .map(Some)
    }

    pub(crate) fn key_out_locked(&self, ok_message: Message) -> Result<RecoverOutcome, FlowError> {
        let session_file = self.paths.session_file();
        let Some(mut s) = session::load(&session_file)? else {
            if self.desktop.journal_open()? {
                let out = self.restore_locked(ok_message);
                self.record_test_restore(TestEvent::KeyOut, None, Self::restore_result(&out));
                return out;
            }
            return Err(FlowError::NotKeyedIn);
        };
        s.phase = Phase::Restoring;
        session::store(&session_file, &s)?;
        tracing::info!(key = %s.key_fingerprint, "key-out: restoring");
        let restored = self.restore_locked(ok_message);
        self.record_test_restore(TestEvent::KeyOut, Some(&s), Self::restore_result(&restored));
        // The person has left: their token must not stay good for the rest of its hour. After
        // the restore, whatever its outcome, so the cloud never delays or blocks putting the
        // computer back.
        crate::cloudflow::revoke_token(self, s.origin.token().map(|t| t.token.as_str()));
        crate::cloudflow::purge_cache_on_key_out(self, &s);
        restored
    }

    /// Keeps an unreadable journal aside and ends the session record, so keying in works again
    /// (`attune recover --discard-journal`). Nothing is restored, since what the journal held
    /// cannot be read; a readable journal is refused (`recover` restores it instead).
    pub fn discard_damaged_journal(&self) -> Result<DiscardOutcome, FlowError> {
        let _lock = self.lock()?;
        self.desktop.sweep(&self.paths);
        let kept_at = self
            .desktop
            .keep_aside_damaged_journal(&self.paths, self.clock.now_unix())?;
        session::remove(&self.paths.session_file())?;
        Ok(DiscardOutcome {
            kept_at,
            message: Message::DamagedJournalKeptAside,
            message_text: Message::DamagedJournalKeptAside.text(),
        })
    }

    /// Restores any open journal, whatever the session says (`attune recover`).
    pub fn recover(&self) -> Result<RecoverOutcome, FlowError> {
        let _lock = self.lock()?;
        self.desktop.sweep(&self.paths);
        // Read before it goes, for the record of test sessions: which session was interrupted.
        let session = session::load(&self.paths.session_file()).ok().flatten();
        let out = if self.desktop.journal_open()? {
            self.restore_locked(Message::RestoredAfterUnexpectedStop)
        } else {
            session::remove(&self.paths.session_file())?;
            Ok(RecoverOutcome {
                restored: 0,
                failed: Vec::new(),
                failed_in_words: Vec::new(),
                journal: "closed",
                message: Message::NothingToRestore,
                message_text: Message::NothingToRestore.text(),
            })
        };
        if session.is_some() || out.as_ref().is_ok_and(|o| o.restored > 0) {
            let result = Self::restore_result(&out);
            self.record_test_restore(TestEvent::Recovered, session.as_ref(), result);
        }
        out
    }

    fn restore_locked(&self, ok_message: Message) -> Result<RecoverOutcome, FlowError> {
        let r = self.desktop.restore()?;
        if r.failed.is_empty() {
            session::remove(&self.paths.session_file())?;
            self.emit(FlowEvent::Restored {
                settings: r.restored,
            });
            Ok(RecoverOutcome {
                restored: r.restored,
                failed: Vec::new(),
                failed_in_words: Vec::new(),
                journal: "closed",
                message: ok_message,
                message_text: ok_message.text(),
            })
        } else {
            Err(FlowError::RestoreIncomplete {
                failed: r.failed.len(),
                rows: r.failed,
            })
        }
    }

    /// The whole state, for `attune status`.
    pub fn status(&self) -> Result<Status, FlowError> {
        let session = session::load(&self.paths.session_file())?;
        let journal = self.desktop.journal_entries()?;
        let journal_state = if journal.is_some() { "open" } else { "closed" };
        let state = crate::plan::status_state(session.as_ref().map(|s| s.phase), journal.is_some());
        let s = session;
        let message = s.as_ref().map(crate::plan::status_message);
        let testing = self.config.profile == Profile::Testing;
        let outbox = s.as_ref().map_or(0, |s| self.outbox_len(&s.key));
        let applied = s.as_ref().map(|s| s.applied.clone()).unwrap_or_default();
        let failed_contact = match (&s, testing) {
            (None, false) => self.failed_contact(),
            _ => None,
        };
        let view = crate::plan::cloud_view(
            testing,
            failed_contact.as_ref().map(|c| c.outcome.as_str()),
            (
                s.as_ref().and_then(|s| s.connectivity),
                s.as_ref().and_then(|s| s.reason.as_deref()),
            ),
        );
        Ok(Status {
            save_state: SaveState::of(s.as_ref().map(Session::source).as_ref(), outbox),
            appearance: Appearance::from_rows(&applied),
            applied_in_words: crate::words::in_words(&applied),
            state,
            profile: self.config.profile,
            key: s.as_ref().map(|s| s.key.clone()),
            name: s.as_ref().and_then(|s| s.name.clone()),
            source: s.as_ref().map(|s| s.source().as_str()),
            // The age of the saved settings in use: the cache's answer, or the stick's set.
            cache_age_seconds: s
                .as_ref()
                .and_then(|s| s.origin.saved_unix())
                .map(|t| self.clock.now_unix().saturating_sub(t)),
            reason: crate::plan::reason_words(testing, view.reason_code.as_deref()),
            connectivity: view.connectivity,
            reason_code: view.reason_code,
            message,
            applied,
            outbox,
            journal: journal_state,
            journal_entries: journal.unwrap_or(0),
            last_cloud_contact: s.as_ref().and_then(|s| s.last_cloud_contact_unix),
            last_cloud_failure: failed_contact.map(|c| c.at_unix),
            since_unix: s.as_ref().map(|s| s.since_unix),
        })
    }

    /// Fetcher: how many changes of this key wait in the outbox (0 when it cannot be read).
    fn outbox_len(&self, key: &str) -> u64 {
        Key::parse(key)
            .ok()
            .and_then(|k| crate::outbox::Outbox::open(&self.paths.state_dir, &k).ok())
            .map_or(0, |o| o.len() as u64)
    }

    /// Fetcher: this computer's newest cloud call, when it failed. With nobody keyed in no
    /// session remembers the cloud: a key-in that reached nothing left only its calls in the
    /// contact history, and the newest says whether the server could be reached, so the app and
    /// `status` keep saying why until one succeeds.
    fn failed_contact(&self) -> Option<crate::cloud::ContactRecord> {
        crate::cloud::ContactLog::in_dir(&self.paths.state_dir)
            .recent(1)
            .pop()
            .filter(|c| c.outcome != "ok")
    }

    /// The active session's preferences (the default context's common terms and their values),
    /// or `None` when nobody is keyed in. For the app's quick adjustments; never logged.
    pub fn preferences(
        &self,
    ) -> Result<Option<std::collections::BTreeMap<String, serde_json::Value>>, FlowError> {
        let Some(s) =
            session::load(&self.paths.session_file())?.filter(|s| s.phase == Phase::Active)
        else {
            return Ok(None);
        };
        Ok(Some(crate::cloudflow::session_preferences(self, &s)?))
    }

    /// The newest `limit` cloud calls made on this computer, oldest first (Diagnostics).
    pub fn contacts(&self, limit: usize) -> Vec<crate::cloud::ContactRecord> {
        crate::cloud::ContactLog::in_dir(&self.paths.state_dir).recent(limit)
    }

    /// Changes one preference in the active session: applied now, saved to the cloud or kept in
    /// the outbox. `value` is the preference's JSON value.
    pub fn set(
        &self,
        term: &str,
        value: serde_json::Value,
    ) -> Result<crate::cloudflow::SetOutcome, FlowError> {
        crate::cloudflow::set(self, term, value)
    }

    /// The desktop as it is now, in preference terms (`attune capture`, docs/capture.md): only
    /// values the person set, read through this computer's registry. Changes nothing. Someone
    /// may be keyed in: what they set up during the session is what is read.
    pub fn capture(&self) -> Result<crate::capture::CaptureOutcome, FlowError> {
        let _lock = self.lock()?;
        self.resume_locked()?;
        crate::capture::capture_locked(self)
    }

    /// `attune snapsets new KEY --from-desktop`: captures the desktop and writes it as the
    /// snapset `KEY` in `dir` (the user's snapset folder by default), with a comment header
    /// saying when and from what it was made. An existing file is kept unless `force`.
    pub fn new_snapset_from_desktop(
        &self,
        key: &str,
        dir: Option<&std::path::Path>,
        force: bool,
    ) -> Result<crate::snapsets::NewSnapset, FlowError> {
        attune_model::key::Key::parse(key)?;
        let captured = {
            let _lock = self.lock()?;
            self.resume_locked()?;
            crate::capture::capture_locked(self)?
        };
        let made_at = crate::testlog::timestamp(self.clock.now_unix());
        let text = crate::snapsets::snapset_text(key, &made_at, &captured);
        let dir = dir.map_or_else(|| crate::snapsets::user_dir(&self.paths), ToOwned::to_owned);
        let file = crate::snapsets::write_snapset(&dir, key, &text, force)?;
        Ok(crate::snapsets::NewSnapset {
            key: key.to_owned(),
            file: file.display().to_string(),
            lines: captured.lines,
            skipped: captured.skipped,
        })
    }

    /// Captures the desktop and saves the items whose ids are in `ids` (`None`: all of them)
    /// as the keyed-in person's preferences, through the outbox (`attune capture --save`, "Save
    /// these settings as mine"). Needs a cloud session: the testing profile and a snapset
    /// session are refused as read-only.
    pub fn save_capture(
        &self,
        ids: Option<&[String]>,
    ) -> Result<crate::cloudflow::SaveCaptureOutcome, FlowError> {
        crate::cloudflow::save_capture(self, ids)
    }

    /// Keys out and in again with a fresh token, then saves the outbox (the one click after a
    /// stale token).
    pub fn relogin(&self) -> Result<KeyInOutcome, FlowError> {
        crate::cloudflow::relogin(self)
    }

    /// Asks the cloud again for an offline session, or for a pending key-in that applied
    /// nothing: `None` nothing to do, `Some(true)` back online (keyed in again from the cloud,
    /// outbox replayed), `Some(false)` still offline. For the app and `attune listen`.
    pub fn reconnect(&self) -> Result<Option<bool>, FlowError> {
        crate::cloudflow::reconnect(self)
    }

    /// What this machine supports and why (`attune doctor`).
    pub fn doctor(&self) -> Result<desktop::Doctor, FlowError> {
        Ok(self
            .desktop
            .doctor(&self.registry, &self.config, &self.paths))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::FixedClock;
    use crate::desktop::memory::MemoryDesktop;

    /// A testing-profile flow on a desktop in memory and a clock stopped at `now`.
    fn flow(dir: &std::path::Path, now: u64) -> Flow {
        let flow = Flow::new(Config::defaults(Profile::Testing), Paths::under(dir));
        let flow = flow.unwrap_or_else(|e| panic!("flow: {e}"));
        flow.with_desktop(Box::<MemoryDesktop>::default())
            .with_clock(std::sync::Arc::new(FixedClock::at_unix(now)))
    }

    /// A testing flow at `now`, keyed in with the first snapset: its dir, the flow, the key and
    /// what the key-in did.
    fn keyed_in(now: u64) -> (tempfile::TempDir, Flow, String, KeyInOutcome) {
        let dir = tempfile::tempdir().unwrap();
        let flow = flow(dir.path(), now);
        let key = flow.snapsets().unwrap()[0].key.clone();
        let out = flow.key_in(&key).unwrap();
        (dir, flow, key, out)
    }

    #[test]
    fn a_capture_reads_what_the_session_applied_and_saving_it_needs_a_cloud() {
        let dir = tempfile::tempdir().unwrap();
        let flow = flow(dir.path(), 1_795_392_000);
        flow.key_in("large_text").unwrap();

        let c = flow.capture().unwrap();
        assert_eq!(
            c.preferences,
            std::collections::BTreeMap::from([(
                "http://registry.gpii.net/common/fontSize".to_owned(),
                serde_json::json!(18)
            )])
        );
        assert_eq!(c.lines[0].value, "150 %");

        let e = flow.save_capture(None).unwrap_err();
        assert_eq!(e.kind(), "read_only");
        assert!(e.to_string().contains("testing profile"), "{e}");
    }

    #[test]
    fn a_snapset_key_in_and_out_without_a_desktop_or_a_wall_clock() {
        let (_dir, flow, key, out) = keyed_in(1_795_392_000);
        assert_eq!(out.source, Source::Snapset);
        assert!(out.counts.applied > 0, "{:?}", out.counts);
        let st = flow.status().unwrap();
        assert_eq!(st.state, "active");
        assert_eq!(st.since_unix, Some(1_795_392_000));
        assert_eq!(st.journal, "open");
        assert_eq!(st.journal_entries, out.counts.applied);
        assert_eq!(st.reason_code.as_deref(), Some("testing"));

        let again = flow.key_in(&key).unwrap();
        assert_eq!(again.message, Message::AlreadyKeyedIn);

        let back = flow.key_out().unwrap();
        assert_eq!(back.restored, out.counts.applied);
        let st = flow.status().unwrap();
        assert_eq!((st.state, st.journal), (State::Idle, "closed"));
        assert!(matches!(flow.key_out(), Err(FlowError::NotKeyedIn)));
    }

    #[test]
    fn typed_state_keeps_the_wire_words() {
        for (state, word) in [
            (State::Idle, "idle"),
            (State::Active, "active"),
            (State::Interrupted, "interrupted"),
            (State::Restoring, "restoring"),
        ] {
            assert_eq!(serde_json::to_value(state).unwrap(), word);
            assert_eq!(state, word);
        }
        for (kind, word) in [
            (SaveKind::Saved, "saved"),
            (SaveKind::Pending, "pending"),
            (SaveKind::ReadOnly, "read_only"),
            (SaveKind::None, "none"),
        ] {
            let v = serde_json::to_value(SaveState::of(None, 0)).unwrap();
            assert_eq!(v, serde_json::json!({"state": "none", "pending": 0}));
            assert_eq!(serde_json::to_value(kind).unwrap(), word);
            assert_eq!(kind.to_string(), word);
        }
    }

    /// A clock stopped at a time, on a boot the test can change (a reboot).
    struct BootClock(std::sync::Mutex<Option<String>>);

    impl Clock for BootClock {
        fn now(&self) -> std::time::SystemTime {
            std::time::UNIX_EPOCH + Duration::from_secs(1_795_392_000)
        }
        fn boot_id(&self) -> Option<String> {
            self.0.lock().unwrap().clone()
        }
    }

    /// A flow keyed in on boot "a", with the shared-computer policy as given.
    fn keyed_in_on_boot(
        shared: bool,
    ) -> (tempfile::TempDir, Flow, std::sync::Arc<BootClock>, usize) {
        let dir = tempfile::tempdir().unwrap();
        let mut config = Config::defaults(Profile::Testing);
        config.session.shared_computer = shared;
        let clock = std::sync::Arc::new(BootClock(std::sync::Mutex::new(Some("a".to_owned()))));
        let flow = Flow::new(config, Paths::under(dir.path()))
            .unwrap()
            .with_desktop(Box::<MemoryDesktop>::default())
            .with_clock(clock.clone());
        let key = flow.snapsets().unwrap()[0].key.clone();
        let applied = flow.key_in(&key).unwrap().counts.applied;
        assert!(applied > 0);
        (dir, flow, clock, applied)
    }

    fn reboot(clock: &BootClock, to: Option<&str>) {
        *clock.0.lock().unwrap() = to.map(str::to_owned);
    }

    #[test]
    fn a_shared_computer_keys_out_at_start_a_session_from_an_earlier_boot() {
        let (_dir, flow, clock, applied) = keyed_in_on_boot(true);
        assert_eq!(
            flow.start_up().unwrap().map(|o| o.restored),
            None,
            "same boot: kept"
        );
        assert_eq!(flow.status().unwrap().state, State::Active);

        reboot(&clock, Some("b"));
        let out = flow.start_up().unwrap().expect("keyed out");
        assert_eq!(out.restored, applied);
        assert_eq!(out.message, Message::KeyedOutEarlierBoot);
        let st = flow.status().unwrap();
        assert_eq!((st.state, st.journal), (State::Idle, "closed"));
        assert_eq!(flow.start_up().unwrap().map(|o| o.restored), None);
    }

    #[test]
    fn a_personal_computer_keeps_its_session_across_a_reboot() {
        let (_dir, flow, clock, _) = keyed_in_on_boot(false);
        reboot(&clock, Some("b"));
        assert_eq!(flow.start_up().unwrap().map(|o| o.restored), None);
        assert_eq!(flow.status().unwrap().state, State::Active);
    }

    #[test]
    fn a_session_whose_boot_is_unknown_counts_as_earlier_but_an_unknown_boot_now_keeps_it() {
        let (_dir, flow, clock, applied) = keyed_in_on_boot(true);
        // This boot unknown (no /proc): nothing to compare, the session is kept.
        reboot(&clock, None);
        assert_eq!(flow.start_up().unwrap().map(|o| o.restored), None);
        // A session file from before boots were recorded: it may be from any boot.
        let file = flow.paths.session_file();
        let mut s = session::load(&file).unwrap().unwrap();
        assert_eq!(s.boot_id.as_deref(), Some("a"));
        s.boot_id = None;
        session::store(&file, &s).unwrap();
        reboot(&clock, Some("a"));
        let out = flow.start_up().unwrap().expect("keyed out");
        assert_eq!(out.restored, applied);
    }

    #[test]
    fn a_key_out_for_a_cause_says_why() {
        for (cause, message) in [
            (KeyOutCause::Idle, Message::KeyedOutIdle),
            (KeyOutCause::SessionEnd, Message::KeyedOutSessionEnd),
            (KeyOutCause::Person, Message::KeyedOut),
        ] {
            let (_dir, flow, _key, out) = keyed_in(10);
            let back = flow.key_out_because(cause).unwrap();
            assert_eq!((back.restored, back.message), (out.counts.applied, message));
            assert!(matches!(
                flow.key_out_because(cause),
                Err(FlowError::NotKeyedIn)
            ));
        }
    }

    #[test]
    fn an_open_journal_without_a_session_is_restored_first() {
        let (_dir, flow, _key, out) = keyed_in(10);
        session::remove(&flow.paths.session_file()).unwrap();
        assert_eq!(flow.status().unwrap().state, "interrupted");
        let resumed = flow.resume().unwrap().expect("restored");
        assert_eq!(resumed.restored, out.counts.applied);
        assert_eq!(resumed.message, Message::RestoredAfterUnexpectedStop);
        assert_eq!(flow.status().unwrap().state, "idle");
    }
}

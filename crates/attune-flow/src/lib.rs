//! Attune's local flow manager: configuration and profiles, paths, the state lock, and the
//! key-in / key-out state machine. This crate is Attune's API surface: the CLI, the app and the
//! listeners call it and nothing below it.
//!
//! **Architecture invariant:** knows nothing of Tauri or of any UI; `attune-model` decides,
//! `attune-settings` acts, this crate sequences them.

mod cache;
mod capped;
mod capture;
mod clock;
pub mod cloud;
mod cloudflow;
mod config;
mod desktop;
mod engine;
mod error;
mod forget;
mod indicator;
mod lock;
mod messages;
mod outbox;
mod paths;
mod plan;
mod report;
mod sealed;
mod session;
mod snapsets;
pub mod stick;
mod stickflow;
mod testlog;
mod words;

pub use capture::CaptureOutcome;
pub use clock::{kernel_boot_id, Clock, FixedClock, SystemClock, BOOT_ID_FILE};
pub use cloudflow::{SaveCaptureOutcome, SetOutcome};
pub use config::{
    CacheConfig, CloudConfig, Config, ConfigError, LocalApiConfig, Profile, ResilienceConfig,
    SessionConfig, SnapsetsConfig, Sources, UsbConfig, DEV_CLIENT_ID, DEV_CLIENT_SECRET,
    DEV_CLOUD_URL, IDLE_WARNING, INSECURE_HTTP_WARNING, MAX_CONFIG_BYTES, MAX_IDLE_KEY_OUT_MINUTES,
    SHARED_IDLE_KEY_OUT, SITE_CONFIG_PATH, SITE_SNAPSETS_DIR,
};
/// A desktop in memory (feature `memory-desktop`): for load and chaos runs of many people in one
/// process, never for the app.
#[cfg(feature = "memory-desktop")]
pub use desktop::memory::{MemoryDesktop, Setting as MemorySetting};
pub use desktop::{Desktop, Doctor, Restored, SettingsDesktop, SolutionSupport};
pub use engine::{
    Appearance, DiscardOutcome, Flow, FlowEvent, KeyInOutcome, KeyOutCause, Observer,
    RecoverOutcome, SaveKind, SaveState, State, Status,
};
pub use error::FlowError;
pub use forget::{ForgetOutcome, ForgetReach};
pub use indicator::{Indicator, Notify, PageNotice, SettingsFrom, Tone};
pub use lock::{open_lock_file, LockError, StateLock};
pub use messages::Message;
pub use outbox::OutboxError;
pub use paths::Paths;
pub use plan::{reconcile, Reconcile};
pub use report::{counts, Counts, Outcome, ReportRow};
pub use session::{Connectivity, Phase, Source};
pub use snapsets::{NewSnapset, SnapsetInfo, SnapsetOrigin, SnapsetProblem, SnapsetReport};
pub use stickflow::StickWriteOutcome;
pub use testlog::{RestoreResult, SettingOutcome, TestEvent, TestRecord};
pub use words::{captured_in_words, change_in_words, in_words, AppliedLine, CapturedLine};

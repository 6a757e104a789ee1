//! Attune's local flow manager: configuration and profiles, paths, the state lock, and the
//! key-in / key-out state machine. This crate is Attune's API surface: the CLI, the app and the
//! listeners call it and nothing below it.
//!
//! **Architecture invariant:** knows nothing of Tauri or of any UI; `attune-model` decides,
//! `attune-settings` acts, this crate sequences them.

mod cache;
mod clock;
pub mod cloud;
mod cloudflow;
pub mod config;
mod desktop;
mod engine;
mod error;
pub mod indicator;
mod lock;
pub mod messages;
mod outbox;
mod paths;
mod plan;
pub mod report;
mod sealed;
mod session;
mod snapsets;
pub mod testlog;

pub use clock::{Clock, FixedClock, SystemClock};
pub use cloudflow::SetOutcome;
pub use config::{Config, Profile};
pub use desktop::{Desktop, Doctor, Restored, SettingsDesktop, SolutionSupport};
pub use engine::{
    Appearance, DiscardOutcome, Flow, FlowEvent, KeyInOutcome, Observer, RecoverOutcome, SaveKind,
    SaveState, State, Status,
};
pub use error::FlowError;
pub use lock::LockError;
pub use outbox::OutboxError;
pub use paths::Paths;
pub use session::{Connectivity, Phase, Source};
pub use snapsets::{SnapsetInfo, SnapsetOrigin, SnapsetProblem, SnapsetReport};

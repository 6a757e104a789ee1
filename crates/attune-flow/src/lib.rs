//! Attune's local flow manager: configuration and profiles, paths, the state lock, and the
//! key-in / key-out state machine. This crate is Attune's API surface: the CLI, the app and the
//! listeners call it and nothing below it.
//!
//! **Architecture invariant:** knows nothing of Tauri or of any UI; `attune-model` decides,
//! `attune-settings` acts, this crate sequences them.

pub mod cache;
pub mod cloud;
pub mod cloudflow;
pub mod config;
pub mod desktop;
pub mod engine;
pub mod error;
pub mod indicator;
pub mod lock;
pub mod messages;
pub mod outbox;
pub mod paths;
pub mod report;
pub mod sealed;
pub mod session;

pub use config::{Config, Profile};
pub use engine::{Flow, FlowEvent, Observer};
pub use error::FlowError;
pub use paths::Paths;

//! Attune's local flow manager: configuration and profiles, paths, the state lock, and the
//! key-in / key-out state machine. This crate is Attune's API surface: the CLI, the app and the
//! listeners call it and nothing below it.

pub mod config;
pub mod lock;
pub mod paths;

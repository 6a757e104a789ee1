//! Attune's hands on the desktop: settings handlers, the device reporter, and the journalled
//! lifecycle that applies a person's settings and puts the computer back exactly as it was.
//!
//! - [`handler::SettingsHandler`]: read/write a batch of settings of one target, per-setting
//!   results; implemented for GSettings ([`gsettings`]) and JSON/INI/Orca files ([`files`]).
//! - [`lifecycle::Lifecycle`]: `apply` (journal originals → write → read back → mark applied),
//!   `restore` (key-out), `recover` (start-up), `status`.
//! - [`journal`]: the durable record of originals, its format and damage handling.
//! - [`device`]: which registry solutions are installed here.
//! - [`reading`]: the values the person set, for a capture (reads only).
//! - [`atomic`]: the one durable-write sequence (temp, fsync, rename, fsync dir).
//! - [`failpoint`]: test-only crash points (`ATTUNE_TEST_CRASH_AT`), compiled in only with the
//!   `test-support` feature.
//!
//! **Architecture invariant:** the journal is the only way a setting changes: nothing outside
//! [`lifecycle::Lifecycle`] writes a setting, and it writes none before its original is durable.
//!
//! ```no_run
//! use attune_settings::lifecycle::Lifecycle;
//! # fn f(instructions: attune_model::lifecycle::LifecycleInstructions) {
//! let life = Lifecycle::new("/var/lib/attune-user/data");
//! life.recover().unwrap(); // finish whatever a crash left open
//! let report = life.apply(&instructions).unwrap();
//! println!("{}", serde_json::to_string(&report).unwrap());
//! life.restore().unwrap(); // key-out
//! # }
//! ```

pub mod atomic;
pub mod device;
pub mod failpoint;
pub mod files;
pub mod gsettings;
pub mod handler;
pub mod journal;
pub mod lifecycle;
pub mod reading;

pub use device::{DeviceFindings, DeviceReporter};
pub use handler::{SettingError, SettingsHandler};
pub use lifecycle::{ApplyReport, Lifecycle, LifecycleError, Outcome, RestoreReport};

//! The GPII data model, as Attune understands it.
//!
//! This crate decides what a preference set means on a given machine: it parses GPII preference
//! sets and solutions registries, chooses which installed solutions to configure (the flat
//! matchmaker), turns common terms into application settings (Infusion model transformations)
//! and validates the result against each solution's `supportedSettings` schemas. The output is a
//! deterministic [`lifecycle::LifecycleInstructions`] value that `attune-settings` carries out.
//!
//! **Architecture invariant:** this crate does no I/O, reads no clock and spawns nothing. Every
//! input arrives as a string or a value; every output is a value. Bundled data is compiled in.
//!
//! ```
//! use attune_model::prefs::PreferenceSet;
//! let set = PreferenceSet::from_json5_str(r#"{flat: {name: "x", contexts: {"gpii-default": {
//!     name: "Default", preferences: {"http://registry.gpii.net/common/fontSize": 24}}}}}"#)
//!     .unwrap();
//! assert_eq!(set.default_preferences().len(), 1);
//! ```

pub mod device;
pub mod error;
pub mod key;
pub mod lifecycle;
pub mod path;
pub mod prefs;
pub mod registry;
pub mod transform;

pub use error::ModelError;
pub use serde_json::Value;

/// Parses JSON5 text into a value, naming the input in the error.
pub fn parse_json5(text: &str, what: &str) -> Result<Value, ModelError> {
    json5::from_str::<Value>(text).map_err(|e| ModelError::Syntax {
        what: what.to_owned(),
        format: "JSON5",
        detail: e.to_string(),
    })
}

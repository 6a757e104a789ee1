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

pub mod answer;
pub mod bundled;
pub mod capture;
pub mod civil;
pub mod device;
pub mod error;
pub mod key;
pub mod lifecycle;
pub mod matchmaker;
pub mod path;
pub mod prefs;
pub mod registry;
pub mod transform;
pub mod validate;

pub use error::ModelError;
pub use serde_json::Value;

/// Parses JSON5 text into a value, naming the input in the error.
pub fn parse_json5(text: &str, what: &str) -> Result<Value, ModelError> {
    // The json5 parser recurses without a limit: refuse absurd nesting before it overflows.
    validate::check_nesting(text, what, "JSON5")?;
    json5::from_str::<Value>(text).map_err(|e| ModelError::Syntax {
        what: what.to_owned(),
        format: "JSON5",
        detail: e.to_string(),
    })
}

/// Bytes of a file as text: UTF-8 required (the error gives the offset of the first bad byte),
/// a leading byte-order mark skipped.
pub(crate) fn utf8_text<'a>(bytes: &'a [u8], what: &str) -> Result<&'a str, ModelError> {
    let text = std::str::from_utf8(bytes).map_err(|e| ModelError::Syntax {
        what: what.to_owned(),
        format: "UTF-8 text",
        detail: format!("invalid byte at offset {}", e.valid_up_to()),
    })?;
    Ok(text.strip_prefix('\u{feff}').unwrap_or(text))
}

/// A JSON value's type, as error messages name it ("a number", "an object", …).
pub fn json_type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Whether `a` and `b` are the same JSON: arrays element by element, objects key by key
/// (in any order), numbers by `numbers_equal` (callers differ on `1` against `1.0` and on
/// rounding), anything else exactly.
pub fn json_equal_by(
    a: &Value,
    b: &Value,
    numbers_equal: &impl Fn(&serde_json::Number, &serde_json::Number) -> bool,
) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => numbers_equal(x, y),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len()
                && x.iter()
                    .zip(y)
                    .all(|(p, q)| json_equal_by(p, q, numbers_equal))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| json_equal_by(v, w, numbers_equal)))
        }
        _ => a == b,
    }
}

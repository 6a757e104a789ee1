//! The settings-handler interface: read and write a batch of named settings of one target (a
//! GSettings schema, a settings file), one result per setting.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use thiserror::Error;

/// A setting's value as a handler sees it: `None` is "absent" — unset in GSettings, missing
/// from a file — which is different from any value, including the default.
pub type MaybeValue = Option<Value>;

/// Per-setting results of a batch, by setting name.
pub type BatchResult = BTreeMap<String, Result<MaybeValue, SettingError>>;

/// Why one setting could not be read or written.
#[derive(Debug, Clone, PartialEq, Error, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum SettingError {
    /// This machine cannot carry the setting: the schema or key is not installed, the handler
    /// type is unknown. Not a failure: reported as "not supported here".
    #[error("not supported on this machine: {reason}")]
    NotSupported { reason: String },
    /// The target refused the value (wrong type, out of range, not one of its choices).
    #[error("value {value} rejected: expected {expected}")]
    Rejected { value: String, expected: String },
    /// The target could not be read or written (permissions, disk full, I/O error).
    #[error("{path}: {detail}")]
    Io { path: String, detail: String },
    /// The target exists but its content cannot be understood; it is left untouched.
    #[error("{path}: cannot be parsed as {format}: {detail}")]
    Unparsable {
        path: String,
        format: String,
        detail: String,
    },
    /// The handler's options in the registry are unusable (no schema, no file name, …).
    #[error("bad handler options: {detail}")]
    BadOptions { detail: String },
    /// A value was written but reading it back gave something else.
    #[error("wrote {wrote} but read back {read}")]
    VerifyMismatch { wrote: String, read: String },
    /// The handler's file lies where settings files do not (outside the home and XDG folders,
    /// or where a file starts a program at login); nothing is written there (docs/design.md §10.1).
    #[error("refused to write {path}: {reason}")]
    Refused { path: String, reason: String },
}

impl SettingError {
    /// True for "not supported here", which reports count apart from failures.
    pub fn is_not_supported(&self) -> bool {
        matches!(self, SettingError::NotSupported { .. })
    }

    pub(crate) fn io(path: &std::path::Path, e: &std::io::Error) -> SettingError {
        SettingError::Io {
            path: path.display().to_string(),
            detail: e.to_string(),
        }
    }
}

/// Reads and writes the settings of one target.
///
/// Writes take `None` to mean "make it absent" (reset a GSettings key, delete a file key), which
/// is how a restore puts back a setting that had no value.
pub trait SettingsHandler {
    /// A stable name of the target (`gsettings:<schema>`, `file:<path>`), used to tell whether
    /// two registry entries write the same setting, so the journal keeps one original for it.
    fn target(&self) -> String;

    /// The file this handler edits, if it edits one (the journal keeps the file's original
    /// bytes so a restore can put it back byte for byte).
    fn file(&self) -> Option<&std::path::Path> {
        None
    }

    /// The form a value takes once written and read back (an INI file holds only text), so
    /// the read-back check compares like with like.
    fn canonical(&self, v: &Value) -> Value {
        v.clone()
    }

    /// Reads the current values.
    fn get(&self, names: &[String]) -> BatchResult;

    /// Writes the values (`None`: make absent) and returns the values they replaced. Settings
    /// that fail leave their target as it was.
    fn set(&self, values: &BTreeMap<String, MaybeValue>) -> BatchResult;
}

/// Whether a read-back value is what was written. Numbers compare by value, so `2` written to a
/// `double` key and read back as `2.0` match.
pub fn same_value(a: &MaybeValue, b: &MaybeValue) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(a), Some(b)) => json_eq(a, b),
        _ => false,
    }
}

fn json_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_i64(), y.as_i64()) {
            (Some(i), Some(j)) => i == j,
            _ => match (x.as_u64(), y.as_u64()) {
                (Some(i), Some(j)) => i == j,
                _ => x.as_f64() == y.as_f64(),
            },
        },
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| json_eq(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| json_eq(v, w)))
        }
        _ => a == b,
    }
}

/// Every name of `names` mapped to the same error (a handler-wide failure, e.g. a missing
/// schema or an unparsable file).
pub(crate) fn all_failed<'a, I: IntoIterator<Item = &'a String>>(
    names: I,
    e: &SettingError,
) -> BatchResult {
    names
        .into_iter()
        .map(|n| (n.clone(), Err(e.clone())))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn numbers_compare_by_value_and_absent_differs_from_null() {
        assert!(same_value(&Some(json!(2)), &Some(json!(2.0))));
        assert!(!same_value(&Some(json!(2)), &Some(json!(2.5))));
        assert!(!same_value(&None, &Some(Value::Null)));
        assert!(same_value(
            &Some(json!({"a": [1]})),
            &Some(json!({"a": [1.0]}))
        ));
    }
}

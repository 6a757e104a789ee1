//! Preference sets in GPII's flat format:
//! `{"flat":{"name","contexts":{"gpii-default":{"name","preferences":{term:value},"metadata"?,
//! "conditions"?}},"metadata"?}}`. Terms are URIs: common terms
//! (`http://registry.gpii.net/common/fontSize`) or application blocks
//! (`http://registry.gpii.net/applications/<solutionId>` whose value is an object of that
//! application's own settings).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::ModelError;

/// Prefix of GPII common terms.
pub const COMMON_PREFIX: &str = "http://registry.gpii.net/common/";
/// Prefix of application-specific blocks.
pub const APPLICATIONS_PREFIX: &str = "http://registry.gpii.net/applications/";
/// The context every preference set has and the one applied by default.
pub const DEFAULT_CONTEXT: &str = "gpii-default";
/// Largest preference-set document we parse (snapsets are a few hundred bytes; 1 MiB is generous).
pub const MAX_PREFS_BYTES: usize = 1024 * 1024;

/// A whole GPII preference-set document. Unknown fields are kept so a document read and written
/// back loses nothing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PreferenceSet {
    pub flat: FlatPreferences,
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

/// The `flat` block: a name and named contexts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FlatPreferences {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub contexts: BTreeMap<String, PrefsContext>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Value>,
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

/// One context: its preferences (term → value) and optional metadata/conditions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PrefsContext {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default)]
    pub preferences: BTreeMap<String, Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conditions: Option<Value>,
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

/// Whether a term is a common term, an application block, or something else.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TermKind<'a> {
    /// `http://registry.gpii.net/common/<name>`
    Common(&'a str),
    /// `http://registry.gpii.net/applications/<solutionId>`
    Application(&'a str),
    /// Any other URI (kept, never matched).
    Other,
}

/// Classifies a preference term.
pub fn term_kind(term: &str) -> TermKind<'_> {
    if let Some(rest) = term.strip_prefix(COMMON_PREFIX) {
        TermKind::Common(rest)
    } else if let Some(rest) = term.strip_prefix(APPLICATIONS_PREFIX) {
        TermKind::Application(rest)
    } else {
        TermKind::Other
    }
}

impl PreferenceSet {
    /// Parses a JSON document. `what` names the input in errors (a file name, "cloud answer").
    pub fn from_json_str_named(text: &str, what: &str) -> Result<Self, ModelError> {
        check_size(text, what)?;
        let v: Value = serde_json::from_str(text).map_err(|e| ModelError::Syntax {
            what: what.to_owned(),
            format: "JSON",
            detail: e.to_string(),
        })?;
        Self::from_value_named(v, what)
    }

    /// Parses a JSON5 document (GPII's snapset files are JSON5, with comments).
    pub fn from_json5_str_named(text: &str, what: &str) -> Result<Self, ModelError> {
        check_size(text, what)?;
        let v: Value = crate::parse_json5(text, what)?;
        Self::from_value_named(v, what)
    }

    /// Parses the raw bytes of a preference-set file (JSON or JSON5). Checks the size before
    /// anything else and reports bytes that are not UTF-8 with their offset, naming `what`
    /// (usually the file name). A leading UTF-8 byte-order mark is skipped.
    pub fn from_bytes_named(bytes: &[u8], what: &str) -> Result<Self, ModelError> {
        check_size_bytes(bytes.len(), MAX_PREFS_BYTES, what)?;
        Self::from_json5_str_named(crate::utf8_text(bytes, what)?, what)
    }

    /// [`Self::from_json5_str_named`] with a generic name.
    pub fn from_json5_str(text: &str) -> Result<Self, ModelError> {
        Self::from_json5_str_named(text, "preference set")
    }

    /// Interprets an already-parsed value.
    pub fn from_value_named(v: Value, what: &str) -> Result<Self, ModelError> {
        shape_check(&v, what)?;
        serde_json::from_value(v).map_err(|e| ModelError::Shape {
            what: what.to_owned(),
            at: "flat".to_owned(),
            detail: e.to_string(),
        })
    }

    /// The preferences of the `gpii-default` context (empty if it has none).
    pub fn default_preferences(&self) -> &BTreeMap<String, Value> {
        static EMPTY: BTreeMap<String, Value> = BTreeMap::new();
        self.flat
            .contexts
            .get(DEFAULT_CONTEXT)
            .map(|c| &c.preferences)
            .unwrap_or(&EMPTY)
    }

    /// The display name, or `None`.
    pub fn name(&self) -> Option<&str> {
        self.flat.name.as_deref()
    }

    /// Back to a JSON value (for the cloud and the cache).
    pub fn to_value(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

pub(crate) fn check_size_bytes(size: usize, limit: usize, what: &str) -> Result<(), ModelError> {
    if size > limit {
        return Err(ModelError::TooLarge {
            what: what.to_owned(),
            size,
            limit,
        });
    }
    Ok(())
}

fn check_size(text: &str, what: &str) -> Result<(), ModelError> {
    if text.len() > MAX_PREFS_BYTES {
        return Err(ModelError::TooLarge {
            what: what.to_owned(),
            size: text.len(),
            limit: MAX_PREFS_BYTES,
        });
    }
    Ok(())
}

/// Gives precise "where" messages for the common mistakes before serde's generic ones.
fn shape_check(v: &Value, what: &str) -> Result<(), ModelError> {
    let shape = |at: &str, detail: &str| ModelError::Shape {
        what: what.to_owned(),
        at: at.to_owned(),
        detail: detail.to_owned(),
    };
    let flat = v
        .as_object()
        .ok_or_else(|| shape("", "expected an object"))?
        .get("flat")
        .ok_or_else(|| shape("flat", "missing (a GPII preference set has a `flat` block)"))?;
    let contexts = flat
        .as_object()
        .ok_or_else(|| shape("flat", "expected an object"))?
        .get("contexts")
        .ok_or_else(|| shape("flat.contexts", "missing"))?
        .as_object()
        .ok_or_else(|| shape("flat.contexts", "expected an object of named contexts"))?;
    for (name, ctx) in contexts {
        let at = format!("flat.contexts.{name}");
        let ctx = ctx
            .as_object()
            .ok_or_else(|| shape(&at, "expected an object"))?;
        if let Some(p) = ctx.get("preferences") {
            if !p.is_object() {
                return Err(shape(
                    &format!("{at}.preferences"),
                    "expected an object of term → value",
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_contexts_is_named() {
        let e =
            PreferenceSet::from_json_str_named(r#"{"flat":{"name":"x"}}"#, "a.json").unwrap_err();
        assert_eq!(
            e.to_string(),
            "a.json: wrong shape at `flat.contexts`: missing"
        );
    }

    #[test]
    fn unknown_fields_survive_a_round_trip() {
        let text = r#"{"flat":{"name":"x","contexts":{"gpii-default":{"name":"d","preferences":{},"extraCtx":1}},"extraFlat":2},"extraTop":3}"#;
        let set = PreferenceSet::from_json_str_named(text, "t").unwrap();
        let back: Value = serde_json::from_str(text).unwrap();
        assert_eq!(set.to_value(), back);
    }

    #[test]
    fn terms_are_classified() {
        assert_eq!(
            term_kind("http://registry.gpii.net/common/fontSize"),
            TermKind::Common("fontSize")
        );
        assert_eq!(
            term_kind("http://registry.gpii.net/applications/org.gnome.orca"),
            TermKind::Application("org.gnome.orca")
        );
        assert_eq!(term_kind("urn:x"), TermKind::Other);
    }
}

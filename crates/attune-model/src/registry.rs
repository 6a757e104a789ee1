//! The GPII solutions registry format (GPII/universal `documentation/SolutionsRegistryFormat.md`):
//! a map of solution id → entry describing how to detect, configure and launch one solution.
//! Fields Attune does not interpret are kept in `extra`, so GPII's files load unchanged.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::ModelError;

/// Largest registry document we parse. GPII's own `linux.json5` is 76 kB, `win32.json5` about 600 kB.
pub const MAX_REGISTRY_BYTES: usize = 8 * 1024 * 1024;

/// Solution id → entry, ordered for deterministic output.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SolutionsRegistry {
    pub solutions: BTreeMap<String, SolutionEntry>,
}

/// One solution: an application or an OS feature that can be configured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SolutionEntry {
    pub name: String,
    /// Where the solution applies, e.g. `{"OS":[{"id":"linux","version":">=2.6.26"}]}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contexts: Option<Value>,
    /// Capabilities stated outright (EL paths of common terms, with escaped dots).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub capabilities: Vec<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub settings_handlers: BTreeMap<String, SettingsHandlerSpec>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub launch_handlers: BTreeMap<String, LaunchHandlerSpec>,
    /// Lifecycle blocks (`configure`, `restore`, `update`, `start`, `stop`, …): lists of steps,
    /// usually references such as `"settings.configuration"` or `"launchers.launcher"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub configure: Option<Vec<Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restore: Option<Vec<Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub update: Option<Vec<Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start: Option<Vec<Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop: Option<Vec<Value>>,
    /// How to tell the solution is installed: a list of `{"type": …, …}` checks, all of which
    /// must pass (GPII: `gpii.packageKit.find`, `gpii.deviceReporter.alwaysInstalled`, …).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub is_installed: Vec<Value>,
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

/// A settings handler block: which handler type carries the settings, and how common terms map
/// onto its settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SettingsHandlerSpec {
    /// e.g. `gpii.gsettings`, `gpii.orca`, `gpii.settingsHandlers.JSONSettingsHandler`.
    #[serde(rename = "type")]
    pub handler_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub liveness: Option<String>,
    /// Handler-specific options (e.g. `{"schema":"org.gnome.desktop.interface"}`, a file path).
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub options: Value,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub capabilities: Vec<String>,
    /// Infusion transformation rules: output setting path → rule, plus a `transform` key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capabilities_transformations: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inverse_capabilities_transformations: Option<Value>,
    /// Setting name → `{"schema": JSON-schema-like}`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub supported_settings: BTreeMap<String, SupportedSetting>,
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

/// One supported setting and its schema (`type`, `minimum`, `maximum`, `enum`, `default`, …).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SupportedSetting {
    /// Absent in some GPII entries (`"stickykeys-enable": {}`); left out again when written back.
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub schema: Value,
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

/// A launch handler block (e.g. `gpii.gsettings.launch` with a schema and a boolean key).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LaunchHandlerSpec {
    #[serde(rename = "type")]
    pub handler_type: String,
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub options: Value,
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

impl SolutionsRegistry {
    /// Parses a registry document in JSON5 (a superset of JSON). `what` names it in errors.
    pub fn from_json5_str_named(text: &str, what: &str) -> Result<Self, ModelError> {
        if text.len() > MAX_REGISTRY_BYTES {
            return Err(ModelError::TooLarge {
                what: what.to_owned(),
                size: text.len(),
                limit: MAX_REGISTRY_BYTES,
            });
        }
        let v = crate::parse_json5(text, what)?;
        Self::from_value_named(v, what)
    }

    /// Parses the raw bytes of a registry file: size first, then UTF-8 (invalid bytes reported
    /// with their offset), then JSON5. `what` names the file in errors.
    pub fn from_bytes_named(bytes: &[u8], what: &str) -> Result<Self, ModelError> {
        crate::prefs::check_size_bytes(bytes.len(), MAX_REGISTRY_BYTES, what)?;
        Self::from_json5_str_named(crate::utf8_text(bytes, what)?, what)
    }

    /// Interprets an already-parsed value, naming the solution that is malformed.
    pub fn from_value_named(v: Value, what: &str) -> Result<Self, ModelError> {
        let Value::Object(map) = v else {
            return Err(ModelError::Shape {
                what: what.to_owned(),
                at: String::new(),
                detail: "expected an object of solution id → entry".to_owned(),
            });
        };
        let mut solutions = BTreeMap::new();
        for (id, entry) in map {
            let e: SolutionEntry =
                serde_json::from_value(entry).map_err(|e| ModelError::Shape {
                    what: what.to_owned(),
                    at: id.clone(),
                    detail: e.to_string(),
                })?;
            solutions.insert(id, e);
        }
        Ok(SolutionsRegistry { solutions })
    }

    pub fn get(&self, id: &str) -> Option<&SolutionEntry> {
        self.solutions.get(id)
    }
}

//! The model's output: what to do on this machine, solution by solution. Deterministic: maps are
//! ordered, so the same inputs always give byte-identical JSON (the expected-output data files of
//! the matchmaker tests rely on it).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Everything to apply for one key-in.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct LifecycleInstructions {
    /// Solution id → what to do for it.
    pub solutions: BTreeMap<String, SolutionInstructions>,
    /// Preference terms that no installed solution could use, and why (reported as "not
    /// supported here", never silently dropped).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unsupported: Vec<UnsupportedTerm>,
    /// Settings whose value broke the setting's `supportedSettings` schema. They are left out of
    /// `solutions` (never written) and listed here, so one bad value does not stop a key-in.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub invalid: Vec<InvalidSetting>,
}

impl LifecycleInstructions {
    /// How many settings these instructions write (launches not counted).
    pub fn setting_count(&self) -> usize {
        self.solutions
            .values()
            .flat_map(|s| s.settings_handlers.values())
            .map(|h| h.settings.len())
            .sum()
    }
}

/// What to do for one solution.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct SolutionInstructions {
    /// Settings handler name (e.g. `configuration`) → the handler and the settings to write.
    pub settings_handlers: BTreeMap<String, HandlerInstructions>,
    /// Whether the solution should be running (`Some(true)` start, `Some(false)` stop, `None`
    /// leave as it is), and through which launch handler.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub launch: Option<LaunchInstruction>,
}

/// Settings for one settings handler of one solution.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct HandlerInstructions {
    /// Handler type, e.g. `gpii.gsettings`.
    pub handler_type: String,
    /// Handler options from the registry (schema name, file path, …).
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub options: Value,
    /// Setting name (or EL path for file handlers) → value to write.
    pub settings: BTreeMap<String, Value>,
    /// Setting name → the preference term(s) it came from, for reports and error messages.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub provenance: BTreeMap<String, Vec<String>>,
}

/// Start or stop a solution through its launch handler.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LaunchInstruction {
    /// Launch handler type, e.g. `gpii.gsettings.launch`.
    pub handler_type: String,
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub options: Value,
    /// `true`: running; `false`: not running.
    pub enabled: bool,
}

/// A preference no installed solution could carry out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnsupportedTerm {
    pub term: String,
    pub reason: String,
}

/// A setting left out because its value broke the setting's schema.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvalidSetting {
    pub solution: String,
    /// Settings handler name (e.g. `configuration`).
    pub handler: String,
    pub setting: String,
    /// The preference term(s) the value came from.
    pub terms: Vec<String>,
    /// The rule that was broken, e.g. `must be ≤ 3, got 12`.
    pub rule: String,
}

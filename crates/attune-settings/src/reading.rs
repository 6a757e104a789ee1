//! Reading the desktop for a capture (`attune capture`, docs/capture.md): for each installed
//! solution, the values the person set — a GSettings user value (`g_settings_get_user_value`
//! is not NULL), a key present in a settings file — and never a default. Reads only: nothing
//! here writes a setting, so the journal's invariant is untouched.

use attune_model::capture::Reading;
use attune_model::device::DeviceReport;
use attune_model::registry::SolutionsRegistry;
use serde::Serialize;
use serde_json::Value;

use crate::gsettings::GSettingsHandler;
use crate::handler::SettingsHandler;
use crate::lifecycle::{handler_for, target_for, Outcome, GSETTINGS_LAUNCH};

/// A setting that could not be read, and why (its value is then not captured).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReadProblem {
    pub solution: String,
    /// The setting, or the launch handler's key.
    pub setting: String,
    pub reason: String,
}

/// What [`read`] found.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReadOutcome {
    pub reading: Reading,
    /// Settings that exist here but could not be read (an unreadable settings file, …). A
    /// setting this computer does not have at all is not a problem: there is nothing to read.
    pub problems: Vec<ReadProblem>,
}

/// Reads every supported setting and launch state of the solutions `device` reports installed.
pub fn read(registry: &SolutionsRegistry, device: &DeviceReport) -> ReadOutcome {
    let mut out = ReadOutcome::default();
    for (id, entry) in registry.solutions.iter().filter(|(id, _)| device.has(id)) {
        for (name, spec) in &entry.settings_handlers {
            let names: Vec<String> = spec.supported_settings.keys().cloned().collect();
            if names.is_empty() {
                continue;
            }
            let target = match target_for(&spec.handler_type, &spec.options) {
                Ok(t) => t,
                Err(Outcome::Failed { reason }) => {
                    out.problems.push(ReadProblem {
                        solution: id.clone(),
                        setting: name.clone(),
                        reason,
                    });
                    continue;
                }
                Err(_) => continue,
            };
            let handler = handler_for(&target);
            for (setting, result) in handler.get(&names) {
                match result {
                    Ok(Some(v)) => {
                        out.reading
                            .settings
                            .entry(id.clone())
                            .or_default()
                            .entry(name.clone())
                            .or_default()
                            .insert(setting, v);
                    }
                    Ok(None) => {}
                    Err(e) if e.is_not_supported() => {}
                    Err(e) => out.problems.push(ReadProblem {
                        solution: id.clone(),
                        setting,
                        reason: e.to_string(),
                    }),
                }
            }
        }
        for launcher in entry.launch_handlers.values() {
            if launcher.handler_type != GSETTINGS_LAUNCH {
                continue;
            }
            let (Some(schema), Some(key)) = (
                launcher.options.get("schema").and_then(Value::as_str),
                launcher.options.get("key").and_then(Value::as_str),
            ) else {
                continue;
            };
            let h = GSettingsHandler::open(schema, None);
            match h.get(&[key.to_owned()]).remove(key) {
                Some(Ok(Some(Value::Bool(on)))) => {
                    out.reading.running.insert(id.clone(), on);
                }
                Some(Err(e)) if !e.is_not_supported() => out.problems.push(ReadProblem {
                    solution: id.clone(),
                    setting: key.to_owned(),
                    reason: e.to_string(),
                }),
                _ => {}
            }
        }
    }
    out
}

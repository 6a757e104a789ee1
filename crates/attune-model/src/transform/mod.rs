//! Infusion model transformations (`fluid.model.transformWithRules`), as GPII's solutions
//! registries use them in `capabilitiesTransformations`.
//!
//! PLACEHOLDER SLICE: only plain-path rules (`"out": "in\\.path"`) are implemented so far; the
//! full set of transform types is being written (see the transforms issue).

use serde_json::{Map, Value};

use crate::error::ModelError;
use crate::path;

/// Evaluates transformation `rules` against `input`, returning the output document.
/// Outputs whose inputs are absent are left out (Infusion's "undefined" propagation).
pub fn transform(rules: &Value, input: &Value) -> Result<Value, ModelError> {
    let mut out = Value::Object(Map::new());
    let Value::Object(rules) = rules else {
        return Err(ModelError::Transform {
            at: String::new(),
            detail: "rules must be an object".to_owned(),
        });
    };
    for (key, rule) in rules {
        if let Value::String(p) = rule {
            if let Some(v) = path::get(input, p) {
                path::set(&mut out, key, v.clone());
            }
        }
    }
    Ok(out)
}

/// Every EL input path the rules may read (the capabilities they imply).
pub fn input_paths(rules: &Value) -> Result<Vec<String>, ModelError> {
    let mut paths = Vec::new();
    if let Value::Object(rules) = rules {
        for rule in rules.values() {
            if let Value::String(p) = rule {
                paths.push(p.clone());
            }
        }
    }
    Ok(paths)
}

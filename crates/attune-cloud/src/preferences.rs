//! What `PUT /{key}/settings` does to a preference set: validate the body, check it against the
//! client's `allowedPrefsToWrite`, and merge it into the stored set — all pure functions.
//!
//! The body is a preference set's inner form (`{"name"?, "contexts": {…}}`, without `flat`),
//! as GPII's cloud takes it. GPII's preferences server merges with jQuery's deep `extend`
//! (`fluid.extend(true, …)`): objects merge key by key, arrays merge index by index, anything
//! else replaces. [`deep_extend`] does the same, so both clouds store the same document.

use serde_json::{json, Map, Value};

use attune_model::json_type_name;
use attune_model::prefs::{term_kind, TermKind};
use attune_model::registry::SolutionsRegistry;

/// jQuery's `$.extend(true, target, src)` for JSON values: `src`'s objects and arrays are merged
/// into `target`'s of the same kind (an array into a non-array, or an object into a
/// non-object, starts from empty), and every other value replaces.
pub fn deep_extend(target: &mut Value, src: &Value) {
    match (target, src) {
        (Value::Object(t), Value::Object(s)) => {
            for (k, copy) in s {
                merge_slot(t.entry(k.clone()).or_insert(Value::Null), copy);
            }
        }
        (Value::Array(t), Value::Array(s)) => {
            for (i, copy) in s.iter().enumerate() {
                if i >= t.len() {
                    t.push(Value::Null);
                }
                merge_slot(&mut t[i], copy);
            }
        }
        (t, s) => *t = s.clone(),
    }
}

fn merge_slot(slot: &mut Value, copy: &Value) {
    match copy {
        Value::Object(_) => {
            if !slot.is_object() {
                *slot = Value::Object(Map::new());
            }
            deep_extend(slot, copy);
        }
        Value::Array(_) => {
            if !slot.is_array() {
                *slot = Value::Array(Vec::new());
            }
            deep_extend(slot, copy);
        }
        other => *slot = other.clone(),
    }
}

/// The stored `prefsSafe.preferences` after a PUT of `body`: `{"flat": body}` merged into what
/// was stored (or just that, for a key without preferences).
pub fn merged_preferences(stored: Option<&Value>, body: &Value) -> Value {
    let incoming = json!({ "flat": body });
    match stored {
        Some(old) if old.is_object() => {
            let mut merged = old.clone();
            deep_extend(&mut merged, &incoming);
            merged
        }
        _ => incoming,
    }
}

/// The terms of `contexts["gpii-default"].preferences` that `allowed` does not list
/// (GPII-3717: only the default context is checked, as GPII does).
pub fn terms_not_allowed<'a>(body: &'a Value, allowed: &[String]) -> Vec<&'a str> {
    body.get("contexts")
        .and_then(|c| c.get("gpii-default"))
        .and_then(|c| c.get("preferences"))
        .and_then(Value::as_object)
        .map(|prefs| {
            prefs
                .keys()
                .filter(|k| !allowed.iter().any(|a| a == *k))
                .map(String::as_str)
                .collect()
        })
        .unwrap_or_default()
}

fn error(data_path: &[&str], schema_path: &[&str], rule: Value, message: String) -> Value {
    json!({
        "dataPath": data_path,
        "schemaPath": schema_path,
        "rule": rule,
        "message": message,
    })
}

/// The schema path of `rest` within a context's properties.
fn in_a_context<'a>(rest: &[&'a str]) -> Vec<&'a str> {
    let mut path = vec![
        "properties",
        "contexts",
        "additionalProperties",
        "properties",
    ];
    path.extend_from_slice(rest);
    path
}

/// The error for `got` where `expected` ("object" or "string") must be: "{what} must be an
/// object, got a number."
fn wrong_type(
    data_path: &[&str],
    schema_path: &[&str],
    what: &str,
    expected: &str,
    got: &Value,
) -> Value {
    let article = if expected == "object" { "an" } else { "a" };
    error(
        data_path,
        schema_path,
        json!({ "type": expected }),
        format!(
            "{what} must be {article} {expected}, got {}.",
            json_type_name(got)
        ),
    )
}

/// Whether a preference term is a URI, as GPII's base schema requires (`format: uri`): a
/// scheme, a colon, and something after it.
fn is_uri(term: &str) -> bool {
    let Some((scheme, rest)) = term.split_once(':') else {
        return false;
    };
    let mut chars = scheme.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
        && !rest.is_empty()
        && !term.chars().any(|c| c.is_whitespace() || c.is_control())
}

/// Checks a PUT body against GPII's preference base schema and, for application blocks of
/// solutions in `registry`, each setting against its `supportedSettings` schema. Returns GPII's
/// `errors[]` items (`dataPath`, `schemaPath`, `rule`, `message`); empty means valid.
pub fn validate_body(body: &Value, registry: &SolutionsRegistry) -> Vec<Value> {
    let mut errors = Vec::new();
    let Some(top) = body.as_object() else {
        errors.push(wrong_type(
            &[],
            &["type"],
            "The preferences",
            "object",
            body,
        ));
        return errors;
    };
    if let Some(name) = top.get("name") {
        if !name.is_string() && !name.is_null() {
            errors.push(wrong_type(
                &["name"],
                &["properties", "name", "type"],
                "`name`",
                "string",
                name,
            ));
        }
    }
    let Some(contexts) = top.get("contexts") else {
        errors.push(error(
            &["contexts"],
            &["properties", "contexts", "required"],
            json!({"required": true}),
            "`contexts` is required (an object of named contexts, e.g. \"gpii-default\")."
                .to_owned(),
        ));
        return errors;
    };
    let Some(contexts) = contexts.as_object() else {
        errors.push(wrong_type(
            &["contexts"],
            &["properties", "contexts", "type"],
            "`contexts`",
            "object",
            contexts,
        ));
        return errors;
    };
    for (ctx_name, ctx) in contexts {
        let ctx_path = ["contexts", ctx_name.as_str()];
        let Some(ctx) = ctx.as_object() else {
            errors.push(wrong_type(
                &ctx_path,
                &["properties", "contexts", "additionalProperties", "type"],
                &format!("Context `{ctx_name}`"),
                "object",
                ctx,
            ));
            continue;
        };
        if let Some(name) = ctx.get("name") {
            if !name.is_string() {
                errors.push(wrong_type(
                    &["contexts", ctx_name, "name"],
                    &in_a_context(&["name", "type"]),
                    &format!("The name of context `{ctx_name}`"),
                    "string",
                    name,
                ));
            }
        }
        let Some(prefs) = ctx.get("preferences") else {
            errors.push(error(
                &["contexts", ctx_name, "preferences"],
                &in_a_context(&["preferences", "required"]),
                json!({"required": true}),
                format!("Context `{ctx_name}` needs `preferences` (an object of term → value)."),
            ));
            continue;
        };
        let Some(prefs) = prefs.as_object() else {
            errors.push(wrong_type(
                &["contexts", ctx_name, "preferences"],
                &in_a_context(&["preferences", "type"]),
                &format!("The preferences of context `{ctx_name}`"),
                "object",
                prefs,
            ));
            continue;
        };
        for (term, value) in prefs {
            let path = ["contexts", ctx_name.as_str(), "preferences", term.as_str()];
            if !is_uri(term) {
                errors.push(error(
                    &path,
                    &in_a_context(&["preferences", "propertyNames", "format"]),
                    json!({"format": "uri"}),
                    format!("Preference term `{term}` must be a URI such as http://registry.gpii.net/common/fontSize."),
                ));
                continue;
            }
            if let TermKind::Application(solution) = term_kind(term) {
                validate_application_block(term, solution, value, registry, &path, &mut errors);
            }
        }
    }
    errors
}

fn validate_application_block(
    term: &str,
    solution: &str,
    value: &Value,
    registry: &SolutionsRegistry,
    path: &[&str],
    errors: &mut Vec<Value>,
) {
    let Some(entry) = registry.get(solution) else {
        return;
    };
    let Some(settings) = value.as_object() else {
        errors.push(wrong_type(
            path,
            &[term, "type"],
            &format!("The settings for `{solution}`"),
            "object",
            value,
        ));
        return;
    };
    for (setting, v) in settings {
        let schema = entry
            .settings_handlers
            .values()
            .find_map(|h| h.supported_settings.get(setting))
            .map(|s| &s.schema);
        if let Some(schema) = schema {
            if let Err(rule) = attune_model::validate::check(v, schema) {
                let mut p: Vec<&str> = path.to_vec();
                p.push(setting);
                errors.push(error(
                    &p,
                    &[term, setting],
                    schema.clone(),
                    format!("`{setting}` of `{solution}` {rule}."),
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deep_extend_follows_jquery() {
        let mut t = json!({"a": {"x": 1, "y": 2}, "l": [1, 2, 3], "s": "old", "o": 5});
        deep_extend(
            &mut t,
            &json!({"a": {"y": 20, "z": 30}, "l": [9], "s": null, "o": {"n": 1}, "new": [1]}),
        );
        assert_eq!(
            t,
            json!({"a": {"x": 1, "y": 20, "z": 30}, "l": [9, 2, 3], "s": null, "o": {"n": 1}, "new": [1]})
        );
    }

    #[test]
    fn merge_keeps_terms_not_sent_and_replaces_sent_ones() {
        let stored = json!({"flat": {"name": "Alice", "contexts": {"gpii-default": {"name": "Default",
            "preferences": {"http://registry.gpii.net/common/fontSize": 12,
                            "http://registry.gpii.net/common/cursorSize": 0.5}}}}});
        let body = json!({"contexts": {"gpii-default": {"preferences": {
            "http://registry.gpii.net/common/fontSize": 24}}}});
        let merged = merged_preferences(Some(&stored), &body);
        assert_eq!(
            merged["flat"]["contexts"]["gpii-default"]["preferences"],
            json!({"http://registry.gpii.net/common/fontSize": 24,
                   "http://registry.gpii.net/common/cursorSize": 0.5})
        );
        assert_eq!(merged["flat"]["name"], "Alice");
        assert_eq!(merged_preferences(None, &body), json!({"flat": body}));
    }

    #[test]
    fn allowed_prefs_only_checks_the_default_context() {
        let body = json!({"contexts": {
            "gpii-default": {"preferences": {"a:1": 1, "a:2": 2}},
            "night": {"preferences": {"a:3": 3}}}});
        assert_eq!(terms_not_allowed(&body, &["a:1".to_owned()]), vec!["a:2"]);
        assert!(terms_not_allowed(&body, &["a:1".to_owned(), "a:2".to_owned()]).is_empty());
    }

    #[test]
    fn validation_names_each_broken_rule() {
        let reg = SolutionsRegistry::default();
        assert!(validate_body(
            &json!({"contexts": {"gpii-default": {"name": "d", "preferences": {
                "http://registry.gpii.net/common/fontSize": 24}}}}),
            &reg
        )
        .is_empty());
        let e = validate_body(&json!([1]), &reg);
        assert_eq!(e[0]["dataPath"], json!([]));
        let e = validate_body(&json!({"flat": {}}), &reg);
        assert_eq!(e[0]["rule"], json!({"required": true}));
        let e = validate_body(
            &json!({"contexts": {"x": {"preferences": {"fontSize": 1}}}}),
            &reg,
        );
        assert_eq!(
            e[0]["dataPath"],
            json!(["contexts", "x", "preferences", "fontSize"])
        );
        let e = validate_body(&json!({"contexts": {"x": {"preferences": 3}}}), &reg);
        assert_eq!(e[0]["rule"], json!({"type": "object"}));
    }
}

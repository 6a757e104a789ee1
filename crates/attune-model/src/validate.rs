//! Validation of setting values against their `supportedSettings` schemas.
//!
//! GPII's registry describes each supported setting with a small JSON-Schema subset: `type`
//! (`number`, `integer`, `boolean`, `string`, `array`, `object`, `null`, or a list of them),
//! `minimum`/`maximum` (inclusive), `exclusiveMinimum`/`exclusiveMaximum` (draft-4 booleans or
//! draft-6 numbers) and `enum`. Other keywords (`title`, `default`, `enumLabels`, …) describe the
//! setting and are ignored here.
//!
//! Policy (docs/design.md §1: "plain words when something is wrong"): a value that breaks its
//! schema is *dropped from the instructions and listed* ([`crate::lifecycle::InvalidSetting`]); it
//! never fails the whole key-in, since the other settings are still worth applying. Whatever the
//! schema says, a number must be finite and within ±2⁵³ (the integers JavaScript — and so GPII —
//! can represent exactly): NaN, infinities and values like `1e308` never reach a settings handler.
//! (JSON cannot carry NaN or infinities; JSON5 can, and `serde_json` turns them into `null`,
//! which then fails any numeric type.)

use serde_json::Value;

use crate::error::ModelError;

/// Largest magnitude any numeric setting may have, schema or not: 2⁵³.
pub const MAX_ABS_NUMBER: f64 = 9_007_199_254_740_992.0;

/// Checks `value` against `schema`; on failure returns the broken rule in plain words
/// (`must be ≤ 3, got 12`).
pub fn check(value: &Value, schema: &Value) -> Result<(), String> {
    check_finite(value)?;
    let Value::Object(schema) = schema else {
        // No schema (or a malformed one): nothing to enforce beyond sanity.
        return Ok(());
    };
    if let Some(t) = schema.get("type") {
        check_type(value, t)?;
    }
    if let Some(n) = value.as_f64() {
        check_bounds(n, value, schema)?;
    }
    if let Some(Value::Array(allowed)) = schema.get("enum") {
        if !allowed.iter().any(|a| same_value(a, value)) {
            return Err(format!(
                "must be one of {}, got {}",
                Value::Array(allowed.clone()),
                value
            ));
        }
    }
    Ok(())
}

/// [`check`], wrapped into a [`ModelError::Invalid`] naming the solution, setting and term(s).
pub fn validate_setting(
    solution: &str,
    setting: &str,
    terms: &[String],
    value: &Value,
    schema: &Value,
) -> Result<(), ModelError> {
    check(value, schema).map_err(|rule| ModelError::Invalid {
        solution: solution.to_owned(),
        setting: setting.to_owned(),
        term: if terms.is_empty() {
            "no preference term".to_owned()
        } else {
            terms.join(", ")
        },
        rule,
    })
}

/// Rejects numbers no setting can sensibly hold, wherever they sit inside the value.
fn check_finite(value: &Value) -> Result<(), String> {
    match value {
        Value::Number(n) => match n.as_f64() {
            Some(f) if f.is_finite() && f.abs() <= MAX_ABS_NUMBER => Ok(()),
            _ => Err(format!(
                "must be a finite number within ±{MAX_ABS_NUMBER}, got {n}"
            )),
        },
        Value::Array(items) => items.iter().try_for_each(check_finite),
        Value::Object(m) => m.values().try_for_each(check_finite),
        _ => Ok(()),
    }
}

fn has_type(value: &Value, t: &str) -> Result<bool, String> {
    Ok(match t {
        "number" => value.is_number(),
        "integer" => match value {
            Value::Number(n) => {
                n.is_i64() || n.is_u64() || n.as_f64().is_some_and(|f| f.fract() == 0.0)
            }
            _ => false,
        },
        "boolean" => value.is_boolean(),
        "string" => value.is_string(),
        "array" => value.is_array(),
        "object" => value.is_object(),
        "null" => value.is_null(),
        other => return Err(format!("the schema names an unknown type `{other}`")),
    })
}

fn check_type(value: &Value, t: &Value) -> Result<(), String> {
    let names: Vec<&str> = match t {
        Value::String(s) => vec![s.as_str()],
        Value::Array(list) => list.iter().filter_map(Value::as_str).collect(),
        _ => return Err(format!("the schema's `type` is not a name: {t}")),
    };
    for name in &names {
        if has_type(value, name)? {
            return Ok(());
        }
    }
    let wanted = match names.as_slice() {
        [one] => format!("{} {one}", article(one)),
        many => format!("one of the types {}", many.join(", ")),
    };
    Err(format!(
        "must be {wanted}, got {}",
        crate::json_type_name(value)
    ))
}

fn article(t: &str) -> &'static str {
    match t.as_bytes().first() {
        Some(b'a' | b'e' | b'i' | b'o' | b'u') => "an",
        _ => "a",
    }
}

fn check_bounds(
    n: f64,
    value: &Value,
    schema: &serde_json::Map<String, Value>,
) -> Result<(), String> {
    let num = |k: &str| schema.get(k).and_then(Value::as_f64);
    let flag = |k: &str| schema.get(k).and_then(Value::as_bool).unwrap_or(false);
    if let Some(min) = num("minimum") {
        if flag("exclusiveMinimum") {
            if n <= min {
                return Err(format!("must be > {}, got {value}", fmt_num(min)));
            }
        } else if n < min {
            return Err(format!("must be ≥ {}, got {value}", fmt_num(min)));
        }
    }
    if let Some(max) = num("maximum") {
        if flag("exclusiveMaximum") {
            if n >= max {
                return Err(format!("must be < {}, got {value}", fmt_num(max)));
            }
        } else if n > max {
            return Err(format!("must be ≤ {}, got {value}", fmt_num(max)));
        }
    }
    // Draft-6 style: the exclusive bounds are numbers of their own.
    if let Some(min) = num("exclusiveMinimum") {
        if n <= min {
            return Err(format!("must be > {}, got {value}", fmt_num(min)));
        }
    }
    if let Some(max) = num("exclusiveMaximum") {
        if n >= max {
            return Err(format!("must be < {}, got {value}", fmt_num(max)));
        }
    }
    Ok(())
}

/// Rewrites numbers as JavaScript's `JSON.stringify` writes them: integral values within ±2⁵³
/// become integers (`2.0` → `2`, `-0.0` → `0`), everything else is unchanged.
pub fn js_numbers(mut v: Value) -> Value {
    normalize_numbers(&mut v);
    v
}

fn normalize_numbers(v: &mut Value) {
    match v {
        Value::Number(_) => *v = js_number(v),
        Value::Array(items) => items.iter_mut().for_each(normalize_numbers),
        Value::Object(m) => m.values_mut().for_each(normalize_numbers),
        _ => {}
    }
}

fn js_number(v: &Value) -> Value {
    if let Value::Number(n) = v {
        if n.is_f64() {
            if let Some(f) = n.as_f64() {
                if f.fract() == 0.0 && f.abs() <= MAX_ABS_NUMBER {
                    // In range and integral, so the conversion is exact.
                    #[allow(clippy::cast_possible_truncation)]
                    return Value::from(f as i64);
                }
            }
        }
    }
    v.clone()
}

fn fmt_num(f: f64) -> String {
    serde_json::Number::from_f64(f)
        .map(|n| js_number(&Value::Number(n)).to_string())
        .unwrap_or_else(|| f.to_string())
}

/// Equality as JSON (and GPII) means it: `1` equals `1.0`.
fn same_value(a: &Value, b: &Value) -> bool {
    crate::json_equal_by(a, b, &|x, y| x.as_f64() == y.as_f64())
}

/// Deepest nesting of arrays and objects we parse. `serde_json` stops at 128 by itself; the
/// `json5` crate recurses without a limit and overflows the stack on a few thousand `[`, so
/// [`check_nesting`] runs before it.
pub const MAX_NESTING: usize = 128;

/// Refuses text whose arrays/objects nest deeper than [`MAX_NESTING`], without parsing it: a
/// linear scan that skips JSON5 strings (single or double quoted, with escapes) and comments.
/// Returns the 1-based line and column of the first bracket too deep.
pub fn check_nesting(text: &str, what: &str, format: &'static str) -> Result<(), ModelError> {
    let bytes = text.as_bytes();
    let (mut depth, mut i, mut line, mut line_start) = (0usize, 0usize, 1usize, 0usize);
    while i < bytes.len() {
        match bytes[i] {
            b'\n' => {
                line += 1;
                line_start = i + 1;
            }
            q @ (b'"' | b'\'') => {
                i += 1;
                while i < bytes.len() && bytes[i] != q {
                    if bytes[i] == b'\\' {
                        i += 1;
                    }
                    i += 1;
                }
            }
            b'/' if bytes.get(i + 1) == Some(&b'/') => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
                continue;
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                i += 2;
                while i < bytes.len() && !(bytes[i] == b'*' && bytes.get(i + 1) == Some(&b'/')) {
                    if bytes[i] == b'\n' {
                        line += 1;
                        line_start = i + 1;
                    }
                    i += 1;
                }
                i += 1;
            }
            b'[' | b'{' => {
                depth += 1;
                if depth > MAX_NESTING {
                    return Err(ModelError::Syntax {
                        what: what.to_owned(),
                        format,
                        detail: format!(
                            "nested deeper than {MAX_NESTING} levels at line {line} column {}",
                            text[line_start..i].chars().count() + 1
                        ),
                    });
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
        i += 1;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    // Each row: value, schema, expected error (None = valid). Schemas are shaped like those of
    // GPII's linux.json5 (`text-scaling-factor`, `focus-tracking`, …).
    #[test]
    fn table() {
        let rows: Vec<(Value, Value, Option<&str>)> = vec![
            (
                json!(2),
                json!({"type": "number", "minimum": 0.5, "maximum": 3}),
                None,
            ),
            (
                json!(12),
                json!({"type": "number", "minimum": 0.5, "maximum": 3}),
                Some("must be ≤ 3, got 12"),
            ),
            (
                json!(0.1),
                json!({"type": "number", "minimum": 0.5}),
                Some("must be ≥ 0.5, got 0.1"),
            ),
            (
                json!("2"),
                json!({"type": "number"}),
                Some("must be a number, got a string"),
            ),
            (json!(2.0), json!({"type": "integer"}), None),
            (
                json!(2.5),
                json!({"type": "integer"}),
                Some("must be an integer, got a number"),
            ),
            (json!(true), json!({"type": "boolean"}), None),
            (
                json!(1),
                json!({"type": "boolean"}),
                Some("must be a boolean, got a number"),
            ),
            (
                json!("none"),
                json!({"enum": [0, 1, 2, 3]}),
                Some(r#"must be one of [0,1,2,3], got "none""#),
            ),
            (json!(1.0), json!({"enum": [0, 1, 2, 3]}), None),
            (json!("push"), json!({"enum": ["none", "push"]}), None),
            (json!([1]), json!({"type": "array"}), None),
            (json!({"a": 1}), json!({"type": "object"}), None),
            (
                json!(null),
                json!({"type": "number"}),
                Some("must be a number, got null"),
            ),
            (
                json!(1e308),
                json!({"type": "number"}),
                Some("must be a finite number within ±9007199254740992, got 1e+308"),
            ),
            (
                json!([1e300]),
                json!({}),
                Some("must be a finite number within ±9007199254740992, got 1e+300"),
            ),
            (
                json!(3),
                json!({"type": "number", "maximum": 3, "exclusiveMaximum": true}),
                Some("must be < 3, got 3"),
            ),
            (
                json!(0),
                json!({"type": "number", "exclusiveMinimum": 0}),
                Some("must be > 0, got 0"),
            ),
            (json!("x"), json!({"type": ["number", "string"]}), None),
            (
                json!(true),
                json!({"type": ["number", "string"]}),
                Some("must be one of the types number, string, got a boolean"),
            ),
            (
                json!(1),
                json!({"type": "colour"}),
                Some("the schema names an unknown type `colour`"),
            ),
            (json!("anything"), json!(null), None),
        ];
        for (value, schema, want) in rows {
            let got = check(&value, &schema).err();
            assert_eq!(got.as_deref(), want, "value {value} schema {schema}");
        }
    }

    #[test]
    fn nesting_is_limited_outside_strings_and_comments() {
        let ok = format!("{}{}", "[".repeat(MAX_NESTING), "]".repeat(MAX_NESTING));
        assert!(check_nesting(&ok, "f", "JSON5").is_ok());
        let quoted = format!(
            "{{a: \"{}\", b: '[[\\'[[', // {}\n /* {} */ c: 1}}",
            "[".repeat(500),
            "{".repeat(500),
            "[".repeat(500)
        );
        assert!(check_nesting(&quoted, "f", "JSON5").is_ok());
        let deep = format!("{{\n  a: {}", "[".repeat(200));
        let e = check_nesting(&deep, "deep.json5", "JSON5").unwrap_err();
        assert_eq!(
            e.to_string(),
            "deep.json5: not valid JSON5: nested deeper than 128 levels at line 2 column 133"
        );
    }

    #[test]
    fn invalid_error_names_solution_setting_term_and_rule() {
        let e = validate_setting(
            "org.gnome.desktop.interface",
            "text-scaling-factor",
            &["http://registry.gpii.net/common/fontSize".to_owned()],
            &json!(12),
            &json!({"type": "number", "maximum": 3}),
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "org.gnome.desktop.interface setting `text-scaling-factor` (from http://registry.gpii.net/common/fontSize): must be ≤ 3, got 12"
        );
    }
}

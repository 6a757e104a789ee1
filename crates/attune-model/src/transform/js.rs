//! The few pieces of JavaScript value semantics that Infusion's transforms lean on: truthiness,
//! `Number(x)`, `String(x)`, `+`, the relational operators and `===` with Infusion's floating
//! point tolerance (`fluid.model.isSameValue`). `None` stands for JavaScript's `undefined`.
//!
//! JSON cannot hold `NaN` or `±Infinity`; a non-finite result is written as `null`, which is what
//! `JSON.stringify` would write for it.

use serde_json::{Number, Value};

/// A JavaScript primitive, as `ToPrimitive` leaves it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Prim {
    Undefined,
    Null,
    Bool(bool),
    Num(f64),
    Str(String),
}

/// Largest integer a JavaScript number holds exactly (2^53).
const MAX_SAFE: f64 = 9_007_199_254_740_992.0;

/// A JavaScript number as JSON: integral values as integers (so `2.0` is written `2`, as
/// `JSON.stringify` does), non-finite values as `null`.
pub(crate) fn num(f: f64) -> Value {
    if !f.is_finite() {
        return Value::Null;
    }
    if f.fract() == 0.0 && f.abs() <= MAX_SAFE {
        // Integral and within 2^53, so the conversion is exact.
        #[allow(clippy::cast_possible_truncation)]
        return Value::from(f as i64);
    }
    Number::from_f64(f).map_or(Value::Null, Value::Number)
}

/// Rewrites every integral floating-point number in `v` as an integer (see [`num`]).
pub(crate) fn normalise_numbers(v: &mut Value) {
    match v {
        Value::Number(n) if n.is_f64() => {
            if let Some(f) = n.as_f64() {
                *v = num(f);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(normalise_numbers),
        Value::Object(m) => m.values_mut().for_each(normalise_numbers),
        _ => {}
    }
}

/// `fluid.isPrimitive`: undefined, null, booleans, numbers, strings (and any falsy value).
pub(crate) fn is_primitive(v: Option<&Value>) -> bool {
    !matches!(v, Some(Value::Array(_) | Value::Object(_)))
}

/// JavaScript truthiness.
pub(crate) fn truthy(v: Option<&Value>) -> bool {
    match v {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(Value::Number(n)) => n.as_f64().is_some_and(|f| f != 0.0),
        Some(Value::String(s)) => !s.is_empty(),
        Some(Value::Array(_) | Value::Object(_)) => true,
    }
}

/// `ToPrimitive` (hint "default"): arrays become their joined string, objects
/// `"[object Object]"`.
pub(crate) fn to_primitive(v: Option<&Value>) -> Prim {
    match v {
        None => Prim::Undefined,
        Some(Value::Null) => Prim::Null,
        Some(Value::Bool(b)) => Prim::Bool(*b),
        Some(Value::Number(n)) => Prim::Num(n.as_f64().unwrap_or(f64::NAN)),
        Some(Value::String(s)) => Prim::Str(s.clone()),
        Some(other) => Prim::Str(to_string(Some(other))),
    }
}

/// `String(v)` / `"" + v`.
pub(crate) fn to_string(v: Option<&Value>) -> String {
    match v {
        None => "undefined".to_owned(),
        Some(Value::Null) => "null".to_owned(),
        Some(Value::Bool(b)) => b.to_string(),
        Some(Value::Number(n)) => number_to_string(n.as_f64().unwrap_or(f64::NAN)),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|i| match i {
                Value::Null => String::new(),
                other => to_string(Some(other)),
            })
            .collect::<Vec<_>>()
            .join(","),
        Some(Value::Object(_)) => "[object Object]".to_owned(),
    }
}

/// `String(p)` for a primitive.
pub(crate) fn prim_to_string(p: &Prim) -> String {
    match p {
        Prim::Undefined => "undefined".to_owned(),
        Prim::Null => "null".to_owned(),
        Prim::Bool(b) => b.to_string(),
        Prim::Num(f) => number_to_string(*f),
        Prim::Str(s) => s.clone(),
    }
}

/// `Number(v)`.
pub(crate) fn to_number(v: Option<&Value>) -> f64 {
    prim_to_number(&to_primitive(v))
}

/// `Number(p)` for a primitive.
pub(crate) fn prim_to_number(p: &Prim) -> f64 {
    match p {
        Prim::Undefined => f64::NAN,
        Prim::Null => 0.0,
        Prim::Bool(b) => f64::from(u8::from(*b)),
        Prim::Num(f) => *f,
        Prim::Str(s) => string_to_number(s),
    }
}

/// JavaScript's `Number.prototype.toString()` (radix 10): the shortest digits that round-trip,
/// plain notation for exponents in [-7, 21), exponential beyond.
pub(crate) fn number_to_string(f: f64) -> String {
    if f.is_nan() {
        return "NaN".to_owned();
    }
    if f.is_infinite() {
        return if f > 0.0 { "Infinity" } else { "-Infinity" }.to_owned();
    }
    if f == 0.0 {
        return "0".to_owned();
    }
    if f < 0.0 {
        return format!("-{}", number_to_string(-f));
    }
    // Rust's `{:e}` gives the shortest round-trip digits: "1.2345e2", "5e-7".
    let exp_form = format!("{f:e}");
    let (mantissa, exp) = exp_form.split_once('e').unwrap_or((&exp_form, "0"));
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    let k = i64::try_from(digits.len()).unwrap_or(i64::MAX);
    let n = exp.parse::<i64>().unwrap_or(0) + 1;
    let zeros = |count: i64| "0".repeat(usize::try_from(count).unwrap_or(0));
    if k <= n && n <= 21 {
        format!("{digits}{}", zeros(n - k))
    } else if 0 < n && n <= 21 {
        let split = usize::try_from(n).unwrap_or(0);
        format!("{}.{}", &digits[..split], &digits[split..])
    } else if -6 < n && n <= 0 {
        format!("0.{}{digits}", zeros(-n))
    } else {
        let sign = if n > 0 { '+' } else { '-' };
        let e = (n - 1).abs();
        if k == 1 {
            format!("{digits}e{sign}{e}")
        } else {
            format!("{}.{}e{sign}{e}", &digits[..1], &digits[1..])
        }
    }
}

/// JavaScript's `StringToNumber`: surrounding white space ignored, empty is 0, `Infinity`,
/// `0x`/`0o`/`0b` integers, decimal literals; anything else is `NaN`.
pub(crate) fn string_to_number(s: &str) -> f64 {
    let t = s.trim_matches(|c: char| c.is_whitespace() || c == '\u{feff}');
    if t.is_empty() {
        return 0.0;
    }
    match t {
        "Infinity" | "+Infinity" => return f64::INFINITY,
        "-Infinity" => return f64::NEG_INFINITY,
        _ => {}
    }
    for (prefix, radix) in [
        ("0x", 16),
        ("0X", 16),
        ("0o", 8),
        ("0O", 8),
        ("0b", 2),
        ("0B", 2),
    ] {
        if let Some(rest) = t.strip_prefix(prefix) {
            if rest.is_empty() || !rest.chars().all(|c| c.is_digit(radix)) {
                return f64::NAN;
            }
            return rest.chars().fold(0.0, |acc, c| {
                acc * f64::from(radix) + f64::from(c.to_digit(radix).unwrap_or(0))
            });
        }
    }
    if is_decimal_literal(t) {
        t.parse::<f64>().unwrap_or(f64::NAN)
    } else {
        f64::NAN
    }
}

/// `[+-]? (digits [. digits?] | . digits) ([eE] [+-]? digits)?`
fn is_decimal_literal(t: &str) -> bool {
    let b = t.as_bytes();
    let mut i = 0;
    if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
        i += 1;
    }
    let int_start = i;
    while i < b.len() && b[i].is_ascii_digit() {
        i += 1;
    }
    let mut digits = i - int_start;
    if i < b.len() && b[i] == b'.' {
        i += 1;
        let frac_start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        digits += i - frac_start;
    }
    if digits == 0 {
        return false;
    }
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        i += 1;
        if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
            i += 1;
        }
        let exp_start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == exp_start {
            return false;
        }
    }
    i == b.len()
}

/// `Math.round`: the nearest integer, ties towards +∞.
pub(crate) fn math_round(x: f64) -> f64 {
    let f = x.floor();
    if x - f >= 0.5 {
        f + 1.0
    } else {
        f
    }
}

/// The abstract relational comparison `a < b`; `None` where JavaScript's answer is "undefined"
/// (a `NaN` operand), which every operator treats as false.
fn less_than(a: &Prim, b: &Prim) -> Option<bool> {
    if let (Prim::Str(x), Prim::Str(y)) = (a, b) {
        return Some(x.encode_utf16().lt(y.encode_utf16()));
    }
    let (x, y) = (prim_to_number(a), prim_to_number(b));
    if x.is_nan() || y.is_nan() {
        None
    } else {
        Some(x < y)
    }
}

/// The relational operators `<`, `<=`, `>`, `>=`.
pub(crate) fn compare(op: &str, a: Option<&Value>, b: Option<&Value>) -> bool {
    let (a, b) = (to_primitive(a), to_primitive(b));
    match op {
        "<" => less_than(&a, &b) == Some(true),
        ">" => less_than(&b, &a) == Some(true),
        "<=" => less_than(&b, &a) == Some(false),
        ">=" => less_than(&a, &b) == Some(false),
        _ => false,
    }
}

/// `a + b`: string concatenation when either side is (or becomes) a string, else addition.
pub(crate) fn add(a: Option<&Value>, b: Option<&Value>) -> Value {
    let (a, b) = (to_primitive(a), to_primitive(b));
    if matches!(a, Prim::Str(_)) || matches!(b, Prim::Str(_)) {
        Value::String(prim_to_string(&a) + &prim_to_string(&b))
    } else {
        num(prim_to_number(&a) + prim_to_number(&b))
    }
}

/// `fluid.model.isSameValue`: `===`, except that two numbers within a relative error of 1e-12
/// are the same. Objects and arrays are never the same (JavaScript compares references).
pub(crate) fn same_value(a: Option<&Value>, b: Option<&Value>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(Value::Number(x)), Some(Value::Number(y))) => {
            let (x, y) = (
                x.as_f64().unwrap_or(f64::NAN),
                y.as_f64().unwrap_or(f64::NAN),
            );
            x == y || ((x - y) / y).abs() < 1e-12
        }
        (Some(Value::Array(_) | Value::Object(_)), _)
        | (_, Some(Value::Array(_) | Value::Object(_))) => false,
        (Some(x), Some(y)) => x == y,
        _ => false,
    }
}

/// Plain `===` (no tolerance), as `indexOf` and `setMembershipToArray` use it.
pub(crate) fn strict_equal(a: Option<&Value>, b: Option<&Value>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(Value::Number(x)), Some(Value::Number(y))) => x.as_f64() == y.as_f64(),
        (Some(Value::Array(_) | Value::Object(_)), _)
        | (_, Some(Value::Array(_) | Value::Object(_))) => false,
        (Some(x), Some(y)) => x == y,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn numbers_print_as_javascript_prints_them() {
        for (f, s) in [
            (2.0, "2"),
            (0.5, "0.5"),
            (1e21, "1e+21"),
            (123_456_789_012_345_680_000.0, "123456789012345680000"),
            (1e-7, "1e-7"),
            (0.000_001, "0.000001"),
            (-1.5e-9, "-1.5e-9"),
            (0.1 + 0.2, "0.30000000000000004"),
            (f64::NAN, "NaN"),
        ] {
            assert_eq!(number_to_string(f), s, "{f}");
        }
    }

    #[test]
    fn strings_convert_to_numbers_as_javascript_converts_them() {
        assert_eq!(string_to_number(" 12 "), 12.0);
        assert_eq!(string_to_number(""), 0.0);
        assert_eq!(string_to_number("0x1F"), 31.0);
        assert_eq!(string_to_number("2.5e0"), 2.5);
        assert_eq!(string_to_number(".5"), 0.5);
        assert!(string_to_number("1e+21e-2").is_nan());
        assert!(string_to_number("inf").is_nan());
        assert!(string_to_number("12px").is_nan());
    }

    #[test]
    fn comparisons_and_addition_coerce_like_javascript() {
        assert!(!compare("<", Some(&json!("10")), Some(&json!(9))));
        assert!(compare("<", Some(&json!("10")), Some(&json!("9"))));
        assert!(!compare("<=", Some(&json!("x")), Some(&json!(1))));
        assert!(compare(">=", Some(&json!(null)), Some(&json!(0))));
        assert_eq!(add(Some(&json!(1)), Some(&json!("2"))), json!("12"));
        assert_eq!(add(Some(&json!(true)), Some(&json!(2))), json!(3));
        assert!(same_value(Some(&json!(0.3)), Some(&json!(0.1 + 0.2))));
        assert!(!strict_equal(Some(&json!(0.3)), Some(&json!(0.1 + 0.2))));
        assert_eq!(num(4.0), json!(4));
        assert_eq!(num(f64::INFINITY), Value::Null);
    }
}

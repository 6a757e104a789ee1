//! Infusion "EL paths": dot-separated paths into a JSON value, where a literal dot inside a
//! segment is escaped with a backslash (GPII's registry writes `http://registry\\.gpii\\.net/...`
//! in JSON5 source, i.e. the string `http://registry\.gpii\.net/...`). Source: Infusion
//! `fluid.model.parseEL` / `fluid.pathUtil.parseEL` (escapes `\.` and `\\`).

use serde_json::{Map, Value};

/// Splits an EL path into its segments, unescaping `\.` and `\\`. The empty path is the root
/// (no segments).
pub fn parse(path: &str) -> Vec<String> {
    if path.is_empty() {
        return Vec::new();
    }
    let mut segs = Vec::new();
    let mut cur = String::new();
    let mut chars = path.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some(n) => cur.push(n),
                None => cur.push('\\'),
            },
            '.' => segs.push(std::mem::take(&mut cur)),
            _ => cur.push(c),
        }
    }
    segs.push(cur);
    segs
}

/// Joins segments into an EL path, escaping dots and backslashes.
pub fn compose<S: AsRef<str>>(segs: &[S]) -> String {
    segs.iter()
        .map(|s| s.as_ref().replace('\\', "\\\\").replace('.', "\\."))
        .collect::<Vec<_>>()
        .join(".")
}

/// Appends a (possibly multi-segment) relative EL path to a base path.
pub fn join(base: &str, rel: &str) -> String {
    match (base.is_empty(), rel.is_empty()) {
        (true, _) => rel.to_owned(),
        (_, true) => base.to_owned(),
        _ => format!("{base}.{rel}"),
    }
}

/// Reads the value at `path`, or `None` where any segment is missing. Arrays are indexed by
/// decimal segments, as in Infusion.
pub fn get<'a>(root: &'a Value, path: &str) -> Option<&'a Value> {
    get_segs(root, &parse(path))
}

/// [`get`] over already-parsed segments.
pub fn get_segs<'a, S: AsRef<str>>(root: &'a Value, segs: &[S]) -> Option<&'a Value> {
    let mut cur = root;
    for s in segs {
        cur = match cur {
            Value::Object(m) => m.get(s.as_ref())?,
            Value::Array(a) => a.get(s.as_ref().parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(cur)
}

/// Writes `value` at `path`, creating intermediate objects. Writing at the root replaces the
/// whole value. A non-object in the way is replaced by an object (Infusion's `fluid.set`).
pub fn set(root: &mut Value, path: &str, value: Value) {
    set_segs(root, &parse(path), value)
}

/// [`set`] over already-parsed segments.
pub fn set_segs<S: AsRef<str>>(root: &mut Value, segs: &[S], value: Value) {
    let Some((last, init)) = segs.split_last() else {
        *root = value;
        return;
    };
    let mut cur = root;
    for s in init {
        if !cur.is_object() {
            *cur = Value::Object(Map::new());
        }
        let Value::Object(m) = cur else {
            return;
        };
        cur = m
            .entry(s.as_ref().to_owned())
            .or_insert_with(|| Value::Object(Map::new()));
    }
    if !cur.is_object() {
        *cur = Value::Object(Map::new());
    }
    if let Value::Object(m) = cur {
        m.insert(last.as_ref().to_owned(), value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn escaped_dots_stay_inside_a_segment() {
        assert_eq!(
            parse(r"http://registry\.gpii\.net/common/fontSize"),
            vec!["http://registry.gpii.net/common/fontSize"]
        );
        assert_eq!(parse("a.b.c"), vec!["a", "b", "c"]);
        assert!(parse("").is_empty());
        assert_eq!(compose(&["a.b", "c"]), r"a\.b.c");
        assert_eq!(parse(&compose(&[r"x\y.z", "w"])), vec![r"x\y.z", "w"]);
    }

    #[test]
    fn get_and_set_round_trip() {
        let mut v = json!({});
        set(&mut v, r"a.b\.c", json!(3));
        assert_eq!(v, json!({"a": {"b.c": 3}}));
        assert_eq!(get(&v, r"a.b\.c"), Some(&json!(3)));
        assert_eq!(get(&v, "a.missing"), None);
        assert_eq!(get(&json!([1, [2, 3]]), "1.0"), Some(&json!(2)));
        set(&mut v, "", json!(1));
        assert_eq!(v, json!(1));
    }
}

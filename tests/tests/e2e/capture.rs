//! `attune capture` on the real binary and the keyfile desktop: every bundled snapset, keyed in
//! on an empty desktop, captures as its own terms except for the rows of docs/capture.md's
//! table, which this test reads and asserts exactly; and saving needs a cloud session.

use std::collections::BTreeMap;

use attune_e2e::{assert_exit, assert_says, workspace_root, Desktop};
use attune_model::prefs::PreferenceSet;
use serde_json::Value;

const PREFIX: &str = "http://registry.gpii.net/";

fn json(o: &std::process::Output) -> Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}\nstderr: {}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        )
    })
}

/// One row of the round-trip table: (snapset, term, in the snapset, captured); `None` is "—".
type Exception = (String, String, Option<Value>, Option<Value>);

/// The rows of the table under "Round trip of the bundled snapsets" in docs/capture.md.
fn exceptions() -> Vec<Exception> {
    let doc = std::fs::read_to_string(workspace_root().join("docs/capture.md")).unwrap();
    let section = doc
        .split("## Round trip of the bundled snapsets")
        .nth(1)
        .expect("docs/capture.md has the round-trip section");
    let cell = |c: &str| -> Option<Value> {
        let c = c.trim();
        (c != "—").then(|| serde_json::from_str(c.trim_matches('`')).unwrap())
    };
    section
        .lines()
        .filter(|l| l.starts_with("| `"))
        .map(|l| {
            let cells: Vec<&str> = l.split(" | ").collect();
            (
                cells[0]
                    .trim_start_matches("| ")
                    .trim_matches('`')
                    .to_owned(),
                format!("{PREFIX}{}", cells[1].trim_matches('`')),
                cell(cells[2]),
                cell(cells[3]),
            )
        })
        .collect()
}

/// Numbers by value (`2.0` is `2`), anything else exactly.
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| same(p, q))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
        }
        _ => a == b,
    }
}

#[test]
fn every_snapset_captures_its_own_terms() {
    let table = exceptions();
    assert_eq!(table.len(), 5, "the table's rows were read: {table:?}");
    let mut used = 0;
    for s in attune_model::bundled::snapsets() {
        let d = Desktop::new();
        let set = PreferenceSet::from_json5_str(s.text).unwrap();
        let mut want: BTreeMap<String, Value> = set.default_preferences().clone();
        for (_, term, in_set, captured) in table.iter().filter(|r| r.0 == s.key) {
            used += 1;
            assert_eq!(
                want.get(term),
                in_set.as_ref(),
                "{}: the table says what the snapset has for {term}",
                s.key
            );
            match captured {
                Some(v) => want.insert(term.clone(), v.clone()),
                None => want.remove(term),
            };
        }

        let o = d.attune(&["key-in", s.key]);
        assert!(
            matches!(o.status.code(), Some(0 | 3)),
            "{}: {}",
            s.key,
            String::from_utf8_lossy(&o.stderr)
        );
        let got = json(&d.attune_ok(&["capture", "--json"]));
        let got: BTreeMap<String, Value> =
            serde_json::from_value(got["preferences"].clone()).unwrap();
        assert!(
            got.len() == want.len()
                && got
                    .iter()
                    .all(|(k, v)| want.get(k).is_some_and(|w| same(v, w))),
            "{}: captured {got:?}, expected {want:?}",
            s.key
        );
        d.attune_ok(&["key-out"]);
    }
    assert_eq!(used, table.len(), "every row names a bundled snapset");
}

#[test]
fn a_desktop_set_by_hand_is_captured_in_words_and_only_what_was_set() {
    let d = Desktop::new();
    d.set("org.gnome.desktop.interface", "text-scaling-factor", "1.25");
    d.set("org.gnome.desktop.interface", "cursor-size", "40");
    d.set(
        "org.gnome.desktop.a11y.keyboard",
        "mousekeys-max-speed",
        "400",
    );
    let before = d.keyfile();

    let o = d.attune_ok(&["capture"]);
    for line in [
        "Text size: 125 %",
        "Pointer size: large",
        "Pointer size on GNOME: 40 pixels",
        "Mouse keys top speed: 400 pixels a second",
    ] {
        assert_says(&o, line);
    }
    let out = json(&d.attune_ok(&["capture", "--json"]));
    let terms: Vec<&String> = out["preferences"].as_object().unwrap().keys().collect();
    assert_eq!(
        terms,
        [
            "http://registry.gpii.net/applications/org.gnome.desktop.a11y.keyboard",
            "http://registry.gpii.net/applications/org.gnome.desktop.interface",
            "http://registry.gpii.net/common/cursorSize",
            "http://registry.gpii.net/common/fontSize",
        ]
    );
    assert_eq!(d.keyfile(), before, "capture changes nothing");
}

#[test]
fn saving_a_capture_in_the_testing_profile_is_refused_and_says_why() {
    let d = Desktop::new();
    d.set("org.gnome.desktop.interface", "text-scaling-factor", "1.5");
    let o = d.attune(&["capture", "--save"]);
    assert_exit(&o, 11);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("testing profile has no preferences server"),
        "{err}"
    );
    let o = d.attune(&["capture", "--save", "--json"]);
    assert_eq!(json(&o)["error"], "read_only");
}

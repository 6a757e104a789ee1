//! Checks of the bundled data itself (`crates/attune-model/data/linux.json5` and
//! `snapsets/*.json5`), read from the source tree:
//!
//! - the registry and every snapset parse, and every snapset's file name is a valid key;
//! - the registry uses only the transform types, handler types and `isInstalled` checks Attune
//!   implements and documents;
//! - every GSettings schema and key the registry names exists on this machine, with a type, range
//!   and default that agree with the registry's `supportedSettings` schema (asked of the real
//!   `gsettings` tool with `GSETTINGS_BACKEND=memory`, so nothing is read from or written to the
//!   user's settings; skipped with a note when the tool is missing);
//! - every common term a snapset uses is consumed by some registry entry, and every application
//!   block names a bundled solution and only settings it supports, with valid values;
//! - and, through the model's own matchmaker with every bundled solution installed, each snapset
//!   gives exactly the GNOME/Orca settings `snapsets/README.md` promises, all within their
//!   schemas. (The expected values were cross-checked with GPII's own matchmaker and transformer,
//!   `tests/data/gpii_reference.js`, on the same registry and snapsets.)
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use attune_model::device::DeviceReport;
use attune_model::key::Key;
use attune_model::matchmaker::match_and_transform;
use attune_model::prefs::{term_kind, PreferenceSet, TermKind, DEFAULT_CONTEXT};
use attune_model::registry::SolutionsRegistry;
use attune_model::{validate, Value};
use serde_json::json;

const COMMON_ESCAPED: &str = "http://registry\\.gpii\\.net/common/";

/// Transform types the registry may use (issue "Foundation A", item 3).
const ALLOWED_TRANSFORMS: [&str; 10] = [
    "fluid.transforms.value",
    "fluid.transforms.literalValue",
    "fluid.transforms.linearScale",
    "fluid.transforms.quantize",
    "fluid.transforms.condition",
    "fluid.transforms.valueMapper",
    "fluid.transforms.arrayToSetMembership",
    "fluid.transforms.setMembershipToArray",
    "fluid.transforms.binaryOp",
    "fluid.transforms.round",
];

/// The `isInstalled` check types documented at the top of `linux.json5`, with their fields.
const CHECK_TYPES: [(&str, Option<&str>); 4] = [
    ("gpii.deviceReporter.alwaysInstalled", None),
    ("gsettings.schemaExists", Some("schema")),
    ("file.exists", Some("path")),
    ("command.exists", Some("name")),
];

fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn registry_path() -> PathBuf {
    manifest_dir().join("data/linux.json5")
}

fn registry_text() -> String {
    std::fs::read_to_string(registry_path()).unwrap()
}

fn registry() -> SolutionsRegistry {
    SolutionsRegistry::from_json5_str_named(&registry_text(), "data/linux.json5").unwrap()
}

/// The registry as a plain value, for walking.
fn registry_value() -> Value {
    attune_model::parse_json5(&registry_text(), "data/linux.json5").unwrap()
}

/// (key, file name, parsed set) for every snapset file, sorted by key.
fn snapsets() -> Vec<(String, String, PreferenceSet)> {
    let dir = manifest_dir().join("../../snapsets");
    let mut out = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_owned();
        let Some(key) = name.strip_suffix(".json5") else {
            continue;
        };
        let text = std::fs::read_to_string(&path).unwrap();
        let set = PreferenceSet::from_json5_str_named(&text, &format!("snapsets/{name}"))
            .unwrap_or_else(|e| panic!("{e}"));
        out.push((key.to_owned(), name, set));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// Every string value at any depth, with the key it sits under (`None` inside arrays).
fn walk<'a>(v: &'a Value, key: Option<&'a str>, f: &mut dyn FnMut(Option<&'a str>, &'a Value)) {
    f(key, v);
    match v {
        Value::Object(m) => m.iter().for_each(|(k, c)| walk(c, Some(k), f)),
        Value::Array(a) => a.iter().for_each(|c| walk(c, None, f)),
        _ => {}
    }
}

// ---------------------------------------------------------------------------------------------
// Parsing, keys, vocabulary

#[test]
fn the_registry_parses_and_has_the_required_solutions() {
    let reg = registry();
    for id in [
        "org.gnome.desktop.interface",
        "org.gnome.desktop.a11y.interface",
        "org.gnome.desktop.a11y.magnifier",
        "org.gnome.desktop.a11y.applications.onscreen-keyboard",
        "org.gnome.desktop.a11y.keyboard",
        "org.gnome.orca",
    ] {
        assert!(reg.get(id).is_some(), "{id} missing");
    }
    // Every entry is checkable by the device reporter and says what it is.
    for (id, e) in &reg.solutions {
        assert!(!e.name.is_empty(), "{id} has no name");
        assert!(!e.is_installed.is_empty(), "{id} has no isInstalled check");
    }
}

#[test]
fn every_snapset_parses_and_its_file_name_is_a_plain_valid_key() {
    let sets = snapsets();
    assert!(sets.len() >= 10, "only {} snapsets", sets.len());
    for (key, file, set) in &sets {
        let parsed = Key::parse(key).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(parsed.expose(), key, "{file}: key changes when parsed");
        assert!(
            key.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'),
            "{file}: keys are lower-case words joined by `_`"
        );
        assert!(set.name().is_some_and(|n| !n.is_empty()), "{file}: no name");
        assert!(
            set.flat.contexts.contains_key(DEFAULT_CONTEXT),
            "{file}: no gpii-default context"
        );
    }
    let keys: BTreeSet<&str> = sets.iter().map(|s| s.0.as_str()).collect();
    for required in [
        "snapset_1a",
        "large_text",
        "very_large_text_large_cursor",
        "high_contrast",
        "magnifier_2x",
        "screen_reader",
        "keyboard_aids_tremor",
        "reduced_motion",
        "low_vision_combined",
        "empty",
        "app_block_only",
    ] {
        assert!(keys.contains(required), "{required} missing: {keys:?}");
    }
}

#[test]
fn every_snapset_has_a_comment_header_and_a_readme_row() {
    let dir = manifest_dir().join("../../snapsets");
    let readme = std::fs::read_to_string(dir.join("README.md")).unwrap();
    for (key, file, _) in snapsets() {
        let text = std::fs::read_to_string(dir.join(&file)).unwrap();
        assert!(
            text.starts_with(&format!("// {key} — ")),
            "{file}: should start with a comment naming the key"
        );
        assert!(text.contains("Who it is for"), "{file}: says who it is for");
        assert!(
            readme.contains(&format!("| `{key}` |")),
            "README.md has no row for {key}"
        );
    }
}

#[test]
fn the_registry_uses_only_implemented_transforms_handlers_and_checks() {
    let reg = registry();
    let v = registry_value();
    let mut types = BTreeSet::new();
    walk(&v, None, &mut |k, val| {
        if let (Some("type"), Value::String(t)) = (k, val) {
            if t.starts_with("fluid.") {
                types.insert(t.clone());
            }
        }
    });
    for t in &types {
        assert!(ALLOWED_TRANSFORMS.contains(&t.as_str()), "transform {t}");
    }
    for (id, e) in &reg.solutions {
        for (name, h) in &e.settings_handlers {
            assert!(
                ["gpii.gsettings", "gpii.orca"].contains(&h.handler_type.as_str()),
                "{id}/{name}: handler {}",
                h.handler_type
            );
            // Every transformed setting has a schema, so every value is validated.
            if let Some(Value::Object(rules)) = &h.capabilities_transformations {
                for out in rules.keys().filter(|k| *k != "transform") {
                    let unescaped = out.replace("\\.", ".");
                    assert!(
                        h.supported_settings.contains_key(&unescaped),
                        "{id}/{name}: `{out}` has no supportedSettings entry"
                    );
                }
            }
            for (s, spec) in &h.supported_settings {
                assert!(spec.schema.is_object(), "{id}/{name}/{s}: no schema");
                let default = spec.schema.get("default").unwrap_or_else(|| {
                    panic!("{id}/{name}/{s}: no default");
                });
                validate::check(default, &spec.schema)
                    .unwrap_or_else(|r| panic!("{id}/{name}/{s}: default {default} {r}"));
            }
        }
        for (name, l) in &e.launch_handlers {
            assert_eq!(l.handler_type, "gpii.gsettings.launch", "{id}/{name}");
        }
        for check in &e.is_installed {
            let t = check.get("type").and_then(Value::as_str).unwrap_or("");
            let known = CHECK_TYPES.iter().find(|(n, _)| *n == t);
            let (_, field) = known.unwrap_or_else(|| panic!("{id}: isInstalled type `{t}`"));
            if let Some(field) = field {
                assert!(
                    check.get(*field).and_then(Value::as_str).is_some(),
                    "{id}: {t} needs a string `{field}`"
                );
            }
        }
    }
    // Every documented check type is documented at the top of the file.
    let text = registry_text();
    for (t, _) in CHECK_TYPES {
        assert!(
            text.contains(&format!("\"type\": \"{t}\"")),
            "{t} undocumented"
        );
    }
}

/// Common terms the registry reads: explicit capabilities and every input path in any
/// transformation (a textual walk over `capabilities` and `capabilitiesTransformations`).
fn consumed_terms() -> BTreeSet<String> {
    let v = registry_value();
    let mut terms = BTreeSet::new();
    let mut take = |s: &str| {
        if let Some(rest) = s.strip_prefix(COMMON_ESCAPED) {
            terms.insert(format!(
                "http://registry.gpii.net/common/{}",
                rest.replace("\\.", ".")
            ));
        }
    };
    for entry in v.as_object().unwrap().values() {
        if let Some(Value::Array(caps)) = entry.get("capabilities") {
            caps.iter().filter_map(Value::as_str).for_each(&mut take);
        }
        if let Some(Value::Object(handlers)) = entry.get("settingsHandlers") {
            for h in handlers.values() {
                if let Some(rules) = h.get("capabilitiesTransformations") {
                    walk(rules, None, &mut |_, val| {
                        if let Value::String(s) = val {
                            take(s);
                        }
                    });
                }
            }
        }
    }
    terms
}

#[test]
fn every_common_term_of_every_snapset_is_consumed_by_the_registry() {
    let consumed = consumed_terms();
    // The crude walk must see the terms we know are there (so an empty set cannot pass).
    for t in [
        "fontSize",
        "DPIScale",
        "reduceMotion",
        "speechRate",
        "tracking",
    ] {
        assert!(
            consumed.contains(&format!("http://registry.gpii.net/common/{t}")),
            "{t} not found in {consumed:?}"
        );
    }
    let reg = registry();
    for (_, file, set) in snapsets() {
        for (ctx_name, ctx) in &set.flat.contexts {
            for (term, value) in &ctx.preferences {
                match term_kind(term) {
                    TermKind::Common(_) => assert!(
                        consumed.contains(term),
                        "{file} ({ctx_name}): {term} is used by no registry entry"
                    ),
                    TermKind::Application(id) => {
                        let entry = reg
                            .get(id)
                            .unwrap_or_else(|| panic!("{file}: no solution {id}"));
                        let block = value
                            .as_object()
                            .unwrap_or_else(|| panic!("{file}: {term} is not an object"));
                        for (setting, v) in block {
                            let spec = entry
                                .settings_handlers
                                .values()
                                .find_map(|h| h.supported_settings.get(setting))
                                .unwrap_or_else(|| {
                                    panic!("{file}: {id} does not support {setting}")
                                });
                            validate::check(v, &spec.schema)
                                .unwrap_or_else(|r| panic!("{file}: {id} {setting} {r}"));
                        }
                    }
                    TermKind::Other => panic!("{file}: {term} is neither common nor application"),
                }
            }
        }
    }
}

#[test]
fn the_consumption_check_catches_an_unknown_term() {
    // The check above is only worth something if an unused term fails it.
    let consumed = consumed_terms();
    assert!(!consumed.contains("http://registry.gpii.net/common/noSuchTerm"));
    assert!(!consumed.contains("http://registry.gpii.net/common/highContrastTheme"));
}

// ---------------------------------------------------------------------------------------------
// GSettings: the schemas and keys exist, and the schemas agree with GNOME's

/// Runs `gsettings` with the in-memory backend (never the user's settings). `None` if the tool
/// is not installed.
fn gsettings(args: &[&str]) -> Option<Result<String, String>> {
    let out = Command::new("gsettings")
        .args(args)
        .env("GSETTINGS_BACKEND", "memory")
        .output();
    match out {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => Some(Err(e.to_string())),
        Ok(o) if o.status.success() => Some(Ok(String::from_utf8_lossy(&o.stdout).into_owned())),
        Ok(o) => Some(Err(String::from_utf8_lossy(&o.stderr).trim().to_owned())),
    }
}

fn gsettings_available() -> bool {
    if gsettings(&["--version"]).is_none() {
        eprintln!("NOTE: the gsettings tool is not installed; GSettings checks skipped");
        return false;
    }
    true
}

/// What `gsettings range` says about a key.
#[derive(Debug, PartialEq)]
enum Allowed {
    /// `type b`, `type i`, `type s`, … (any value of that GVariant type).
    Type(String),
    /// `range i 20 4096`, `range d 0.1 32.0`.
    Range(String, f64, f64),
    /// `enum 'none' 'centered'`.
    Enum(Vec<String>),
}

fn parse_range(text: &str) -> Allowed {
    let lines: Vec<&str> = text.lines().map(str::trim).collect();
    match lines.first().copied() {
        Some(l) if l.starts_with("type ") => Allowed::Type(l[5..].to_owned()),
        Some("range") => Allowed::Range(
            lines[1].split_whitespace().next().unwrap_or("").to_owned(),
            lines[2].parse().unwrap(),
            lines[3].parse().unwrap(),
        ),
        Some(l) if l.starts_with("range ") => {
            let parts: Vec<&str> = l.split_whitespace().collect();
            Allowed::Range(
                parts[1].to_owned(),
                parts[2].parse().unwrap(),
                parts[3].parse().unwrap(),
            )
        }
        Some("enum") => Allowed::Enum(
            lines[1..]
                .iter()
                .map(|s| s.trim_matches('\'').to_owned())
                .collect(),
        ),
        Some(l) if l.starts_with("enum ") => Allowed::Enum(
            l[5..]
                .split_whitespace()
                .map(|s| s.trim_matches('\'').to_owned())
                .collect(),
        ),
        _ => panic!("unexpected gsettings range output: {text:?}"),
    }
}

#[test]
fn gsettings_range_output_is_understood() {
    // The shapes `gsettings range` prints (GLib's gsettings tool, `gsettings_range`).
    assert_eq!(parse_range("type b\n"), Allowed::Type("b".into()));
    assert_eq!(
        parse_range("range d 0.5 3.0\n"),
        Allowed::Range("d".into(), 0.5, 3.0)
    );
    assert_eq!(
        parse_range("enum\n'none'\n'centered'\n"),
        Allowed::Enum(vec!["none".into(), "centered".into()])
    );
}

/// Parses `gsettings get` output for the simple types the registry uses.
fn parse_gvariant(text: &str) -> Value {
    let t = text.trim();
    match t {
        "true" => Value::Bool(true),
        "false" => Value::Bool(false),
        _ if t.starts_with('\'') => Value::String(t.trim_matches('\'').to_owned()),
        _ => {
            let n: f64 = t
                .trim_start_matches("uint32 ")
                .trim_start_matches("int64 ")
                .parse()
                .unwrap_or_else(|_| panic!("unexpected gsettings value {t:?}"));
            json!(n)
        }
    }
}

fn same(a: &Value, b: &Value) -> bool {
    match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) => (x - y).abs() < 1e-9,
        _ => a == b,
    }
}

/// Checks one supportedSettings schema against what GNOME says about the key.
fn check_against_gnome(at: &str, schema: &Value, range: &Allowed, gnome_default: &Value) {
    let ty = schema.get("type").and_then(Value::as_str);
    let num = |k: &str| schema.get(k).and_then(Value::as_f64);
    let gvariant = match range {
        Allowed::Type(t) | Allowed::Range(t, _, _) => t.as_str(),
        Allowed::Enum(_) => "s",
    };
    let expected_type = match gvariant {
        "b" => "boolean",
        "i" | "u" | "x" | "t" | "n" | "q" | "y" => "integer",
        "d" => "number",
        "s" => "string",
        other => panic!("{at}: GVariant type {other} is not handled by the registry"),
    };
    assert_eq!(
        ty,
        Some(expected_type),
        "{at}: schema type vs GNOME's {gvariant}"
    );
    if expected_type == "integer" {
        let (lo, hi) = match gvariant {
            "u" => (0.0, f64::from(u32::MAX)),
            _ => (f64::from(i32::MIN), f64::from(i32::MAX)),
        };
        for k in ["minimum", "maximum"] {
            if let Some(n) = num(k) {
                assert!(n >= lo && n <= hi, "{at}: {k} {n} outside {gvariant}");
                assert_eq!(n.fract(), 0.0, "{at}: {k} {n} not an integer");
            }
        }
    }
    match range {
        Allowed::Range(_, lo, hi) => {
            let min = num("minimum").unwrap_or_else(|| panic!("{at}: GNOME has a range, no min"));
            let max = num("maximum").unwrap_or_else(|| panic!("{at}: GNOME has a range, no max"));
            assert!(
                min >= *lo && max <= *hi && min <= max,
                "{at}: [{min}, {max}] not within GNOME's [{lo}, {hi}]"
            );
        }
        Allowed::Enum(values) => {
            let allowed = schema
                .get("enum")
                .and_then(Value::as_array)
                .unwrap_or_else(|| panic!("{at}: GNOME has an enum, the schema none"));
            for a in allowed {
                let s = a.as_str().unwrap_or_else(|| panic!("{at}: enum value {a}"));
                assert!(values.iter().any(|v| v == s), "{at}: {s} not in {values:?}");
            }
        }
        Allowed::Type(_) => {}
    }
    let default = schema
        .get("default")
        .unwrap_or_else(|| panic!("{at}: no default"));
    assert!(
        same(default, gnome_default),
        "{at}: default {default} but GNOME's is {gnome_default}"
    );
}

/// (schema, key, where it is named, its supportedSettings schema — none for a launch key)
fn gsettings_keys_named(reg: &SolutionsRegistry) -> Vec<(String, String, String, Option<Value>)> {
    let mut out = Vec::new();
    for (id, e) in &reg.solutions {
        for (name, h) in &e.settings_handlers {
            if h.handler_type != "gpii.gsettings" {
                continue;
            }
            let schema = h.options.get("schema").and_then(Value::as_str).unwrap();
            for (key, spec) in &h.supported_settings {
                out.push((
                    schema.to_owned(),
                    key.clone(),
                    format!("{id}/settingsHandlers/{name}"),
                    Some(spec.schema.clone()),
                ));
            }
        }
        for (name, l) in &e.launch_handlers {
            let schema = l.options.get("schema").and_then(Value::as_str).unwrap();
            let key = l.options.get("key").and_then(Value::as_str).unwrap();
            out.push((
                schema.to_owned(),
                key.to_owned(),
                format!("{id}/launchHandlers/{name}"),
                None,
            ));
        }
    }
    out
}

#[test]
fn every_gsettings_schema_and_key_named_exists_here_and_agrees_with_gnome() {
    if !gsettings_available() {
        return;
    }
    let reg = registry();
    let mut keys_of: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut schemas: BTreeSet<String> = BTreeSet::new();
    for e in reg.solutions.values() {
        for c in &e.is_installed {
            if c.get("type").and_then(Value::as_str) == Some("gsettings.schemaExists") {
                schemas.insert(c["schema"].as_str().unwrap().to_owned());
            }
        }
    }
    let named = gsettings_keys_named(&reg);
    schemas.extend(named.iter().map(|n| n.0.clone()));
    for schema in &schemas {
        let listed = gsettings(&["list-keys", schema])
            .unwrap()
            .unwrap_or_else(|e| panic!("schema {schema} is not installed here: {e}"));
        keys_of.insert(
            schema.clone(),
            listed.lines().map(|l| l.trim().to_owned()).collect(),
        );
    }
    let mut checked = 0;
    for (schema, key, at, spec) in &named {
        assert!(
            keys_of[schema].contains(key),
            "{at}: {schema} has no key {key}"
        );
        let range = parse_range(&gsettings(&["range", schema, key]).unwrap().unwrap());
        let default = parse_gvariant(&gsettings(&["get", schema, key]).unwrap().unwrap());
        let at = format!("{at}: {schema} {key}");
        match spec {
            Some(s) => check_against_gnome(&at, s, &range, &default),
            // A launch key is a boolean GNOME starts the feature with.
            None => assert_eq!(range, Allowed::Type("b".into()), "{at}"),
        }
        checked += 1;
    }
    assert!(checked >= 24, "only {checked} keys checked");
}

#[test]
fn the_gnome_comparison_rejects_what_it_should() {
    // The check above must fail on the mistakes it is there for.
    let schema = json!({"type": "number", "minimum": 0.5, "maximum": 5, "default": 1});
    let r = Allowed::Range("d".into(), 0.5, 3.0);
    let err = std::panic::catch_unwind(|| check_against_gnome("t", &schema, &r, &json!(1.0)));
    assert!(err.is_err(), "a maximum beyond GNOME's range passed");
    let schema = json!({"type": "integer", "default": 24});
    let err = std::panic::catch_unwind(|| {
        check_against_gnome("t", &schema, &Allowed::Type("d".into()), &json!(24))
    });
    assert!(err.is_err(), "integer for a double key passed");
    let schema = json!({"type": "string", "enum": ["none", "full"], "default": "none"});
    let r = Allowed::Enum(vec!["none".into(), "full-screen".into()]);
    let err = std::panic::catch_unwind(|| check_against_gnome("t", &schema, &r, &json!("none")));
    assert!(err.is_err(), "an enum value GNOME lacks passed");
    let schema = json!({"type": "boolean", "default": true});
    let err = std::panic::catch_unwind(|| {
        check_against_gnome("t", &schema, &Allowed::Type("b".into()), &json!(false))
    });
    assert!(err.is_err(), "a default unlike GNOME's passed");
}

// ---------------------------------------------------------------------------------------------
// What each snapset does, through the model's matchmaker and transformer

fn all_installed(reg: &SolutionsRegistry) -> DeviceReport {
    DeviceReport::linux(reg.solutions.keys().cloned())
}

/// The settings README.md promises: solution → handler → setting → value, and launches.
fn expected(key: &str) -> (Value, BTreeMap<&'static str, bool>) {
    let launch = |pairs: &[(&'static str, bool)]| pairs.iter().copied().collect();
    match key {
        "snapset_1a" => (
            json!({"org.gnome.desktop.interface": {"configuration":
                {"text-scaling-factor": 1.25, "cursor-size": 96}}}),
            launch(&[]),
        ),
        "large_text" => (
            json!({"org.gnome.desktop.interface": {"configuration": {"text-scaling-factor": 1.5}}}),
            launch(&[]),
        ),
        "very_large_text_large_cursor" => (
            json!({"org.gnome.desktop.interface": {"configuration":
                {"text-scaling-factor": 2, "cursor-size": 96}}}),
            launch(&[]),
        ),
        "high_contrast" => (
            json!({"org.gnome.desktop.a11y.interface": {"configuration": {"high-contrast": true}}}),
            launch(&[]),
        ),
        "magnifier_2x" => (
            json!({"org.gnome.desktop.a11y.magnifier": {"configuration": {
                "mag-factor": 2, "screen-position": "full-screen", "lens-mode": false,
                "mouse-tracking": "proportional", "focus-tracking": "proportional",
                "caret-tracking": "proportional"}}}),
            launch(&[("org.gnome.desktop.a11y.magnifier", true)]),
        ),
        "screen_reader" => (
            json!({"org.gnome.orca": {"configuration": {
                "enableSpeech": true, "voices.default.rate": 52,
                "voices.default.average-pitch": 5, "voices.default.gain": 10,
                "enableKeyEcho": true, "enableEchoByCharacter": true, "enableEchoByWord": true}}}),
            launch(&[("org.gnome.orca", true)]),
        ),
        "keyboard_aids_tremor" => (
            json!({"org.gnome.desktop.a11y.keyboard": {"configuration": {
                "stickykeys-enable": true, "slowkeys-enable": true, "slowkeys-delay": 300,
                "bouncekeys-enable": true, "bouncekeys-delay": 500}}}),
            launch(&[]),
        ),
        "reduced_motion" => (
            json!({"org.gnome.desktop.interface": {"configuration": {"enable-animations": false}}}),
            launch(&[]),
        ),
        "low_vision_combined" => (
            json!({
                "org.gnome.desktop.interface": {"configuration":
                    {"text-scaling-factor": 1.5, "cursor-size": 64}},
                "org.gnome.desktop.a11y.interface": {"configuration": {"high-contrast": true}},
                "org.gnome.desktop.a11y.magnifier": {"configuration": {"mag-factor": 1.5,
                    "mouse-tracking": "proportional", "focus-tracking": "none",
                    "caret-tracking": "none"}}
            }),
            launch(&[("org.gnome.desktop.a11y.magnifier", true)]),
        ),
        "on_screen_keyboard" => (
            json!({"org.gnome.desktop.a11y.applications.onscreen-keyboard": {}}),
            launch(&[(
                "org.gnome.desktop.a11y.applications.onscreen-keyboard",
                true,
            )]),
        ),
        "app_block_only" => (
            json!({"org.gnome.desktop.a11y.keyboard": {"configuration": {
                "mousekeys-enable": true, "mousekeys-max-speed": 400,
                "mousekeys-accel-time": 1000, "mousekeys-init-delay": 200}}}),
            launch(&[]),
        ),
        "empty" => (json!({}), launch(&[])),
        other => panic!("no expectation written for snapset {other}: add one (and a README row)"),
    }
}

/// Whether the model's transformer implements more than plain paths yet (`transform.rs` began as
/// a placeholder while the engine was written in parallel).
fn transformer_is_complete() -> bool {
    let rules = json!({"x": {"transform": {
        "type": "fluid.transforms.linearScale", "inputPath": "a", "factor": 2}}});
    attune_model::transform::transform(&rules, &json!({"a": 1}))
        .is_ok_and(|v| attune_model::matchmaker::js_numbers(v) == json!({"x": 2}))
}

#[test]
fn every_snapset_gives_the_settings_its_readme_row_promises() {
    if !transformer_is_complete() {
        eprintln!(
            "NOTE: attune_model::transform cannot evaluate linearScale yet (placeholder); \
             the snapset expectations are not checked until it can"
        );
        return;
    }
    let reg = registry();
    let device = all_installed(&reg);
    let mut failures = Vec::new();
    for (key, file, set) in snapsets() {
        let out = match match_and_transform(&set, DEFAULT_CONTEXT, &reg, &device) {
            Ok(o) => o.instructions,
            Err(e) => {
                failures.push(format!("{file}: {e}"));
                continue;
            }
        };
        let (want_settings, want_launch) = expected(&key);
        let mut got = serde_json::Map::new();
        let mut got_launch = BTreeMap::new();
        for (id, sol) in &out.solutions {
            let mut handlers = serde_json::Map::new();
            for (name, h) in &sol.settings_handlers {
                let settings: serde_json::Map<String, Value> = h
                    .settings
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                handlers.insert(name.clone(), Value::Object(settings));
            }
            got.insert(id.clone(), Value::Object(handlers));
            if let Some(l) = &sol.launch {
                got_launch.insert(id.as_str(), l.enabled);
            }
        }
        let got = attune_model::matchmaker::js_numbers(Value::Object(got));
        let want = attune_model::matchmaker::js_numbers(want_settings);
        if got != want {
            failures.push(format!("{file}: settings\n  got  {got}\n  want {want}"));
        }
        let want_launch: BTreeMap<&str, bool> = want_launch.into_iter().collect();
        if got_launch != want_launch {
            failures.push(format!(
                "{file}: launch got {got_launch:?}, want {want_launch:?}"
            ));
        }
        if !out.invalid.is_empty() {
            failures.push(format!("{file}: invalid settings {:?}", out.invalid));
        }
        if !out.unsupported.is_empty() {
            failures.push(format!("{file}: unsupported terms {:?}", out.unsupported));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn registry_path_is_where_bundled_rs_reads_it() {
    // build.rs compiles in exactly this file; the tests above read the same one.
    let p: &Path = &registry_path();
    assert!(p.is_file(), "{}", p.display());
    if let Some(text) = attune_model::bundled::linux_registry_text() {
        assert_eq!(text, registry_text(), "compiled-in registry is stale");
    }
}

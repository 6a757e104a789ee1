//! Infusion model transformations, table-driven: every file in `tests/data/transforms/` holds
//! cases `{name, source, rules, input, expected}` (or `error`: a phrase the error must
//! contain). `source` cites where the behaviour comes from. The expected outputs are what
//! Infusion 3 (`fluid.model.transformWithRules`) produces for the same rules and input.
//!
//! Also: input-path collection, refusal of absurd nesting, no panic on arbitrary rules, and (when
//! `GPII_UNIVERSAL_DIR` points at the `gpii-universal` package) every `capabilitiesTransformations`
//! of GPII's Linux and Windows registries evaluated over GPII's own preference sets.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use attune_model::transform::{input_paths, transform, MAX_DEPTH};
use attune_model::ModelError;
use proptest::prelude::*;
use serde_json::{json, Value};

fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/transforms")
}

/// Every case of every data file, with the file it came from.
fn cases(file_stem_filter: impl Fn(&str) -> bool) -> Vec<(String, Value)> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(data_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .filter(|p| file_stem_filter(p.file_stem().unwrap().to_str().unwrap()))
        .collect();
    files.sort();
    let mut out = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        let list: Vec<Value> = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{}: not a JSON array of cases: {e}", f.display()));
        let stem = f.file_stem().unwrap().to_string_lossy().into_owned();
        out.extend(list.into_iter().map(|c| (stem.clone(), c)));
    }
    out
}

#[test]
fn every_transform_case_gives_infusions_output() {
    let all = cases(|stem| stem != "input_paths");
    assert!(all.len() > 100, "only {} cases found", all.len());
    let mut failures = Vec::new();
    for (file, case) in &all {
        let name = case["name"].as_str().unwrap();
        let source = case["source"].as_str().unwrap_or("");
        assert!(!source.is_empty(), "{file}/{name}: cite a source");
        let got = transform(&case["rules"], &case["input"]);
        match (case.get("expected"), case.get("error"), got) {
            (Some(want), _, Ok(got)) if &got == want => {}
            (_, Some(Value::String(phrase)), Err(ModelError::Transform { detail, .. }))
                if detail.contains(phrase.as_str()) => {}
            (_, _, got) => failures.push(format!(
                "{file}/{name} ({source}):\n   want {}\n   got  {got:?}",
                case.get("expected").map_or_else(
                    || format!("error containing {}", case["error"]),
                    Value::to_string
                )
            )),
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        all.len(),
        failures.join("\n")
    );
}

#[test]
fn every_input_paths_case_lists_the_paths_read() {
    let all = cases(|stem| stem == "input_paths");
    assert!(!all.is_empty());
    for (_, case) in all {
        let name = case["name"].as_str().unwrap();
        let want: Vec<String> = serde_json::from_value(case["paths"].clone()).unwrap();
        assert_eq!(
            input_paths(&case["rules"]).unwrap(),
            want,
            "{name} ({})",
            case["source"]
        );
    }
}

#[test]
fn unknown_type_error_names_the_type_and_the_rule() {
    let rules = json!({"outer": {"inner": {"transform": {"type": "fluid.transforms.bogus", "inputPath": "a"}}}});
    let err = transform(&rules, &json!({"a": 1})).unwrap_err();
    let ModelError::Transform { at, detail } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(at, "outer.inner.transform");
    assert!(detail.contains("fluid.transforms.bogus"), "{detail}");
    // input_paths must know a type to know what it reads, so it refuses too.
    assert!(matches!(
        input_paths(&rules),
        Err(ModelError::Transform { .. })
    ));
}

#[test]
fn errors_inside_a_transform_array_name_the_element() {
    let rules = json!({"transform": [
        {"type": "value", "inputPath": "a", "outputPath": "x"},
        {"type": "valueMapper", "defaultInputPath": "a"}]});
    let err = transform(&rules, &json!({"a": 1})).unwrap_err();
    let ModelError::Transform { at, detail } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(at, "transform.1");
    assert!(
        detail.contains("valueMapper") && detail.contains("match"),
        "{detail}"
    );
}

#[test]
fn rules_that_are_not_an_object_are_refused() {
    for rules in [json!("a.b"), json!(null), json!(3), json!(["a"])] {
        assert!(
            matches!(
                transform(&rules, &json!({})),
                Err(ModelError::Transform { .. })
            ),
            "{rules}"
        );
    }
}

/// Rules nested `levels` deep through `value` inputs.
fn nested(levels: usize) -> Value {
    let mut rule = json!({"transform": {"type": "value", "inputPath": "a"}});
    for _ in 0..levels {
        rule = json!({"transform": {"type": "value", "input": rule}});
    }
    json!({"x": rule})
}

#[test]
fn nesting_within_the_limit_works_and_beyond_it_is_an_error() {
    let ok = nested(MAX_DEPTH - 3);
    assert_eq!(transform(&ok, &json!({"a": 5})).unwrap(), json!({"x": 5}));
    assert_eq!(input_paths(&ok).unwrap(), vec!["a".to_owned()]);

    let deep = nested(MAX_DEPTH + 10);
    let err = transform(&deep, &json!({"a": 5})).unwrap_err();
    assert!(err.to_string().contains("deeper than"), "{err}");
    assert!(input_paths(&deep).is_err());

    // Deep nesting of plain output keys is refused the same way.
    let mut keys = json!("a");
    for _ in 0..(MAX_DEPTH * 2) {
        keys = json!({ "k": keys });
    }
    assert!(transform(&keys, &json!({"a": 1})).is_err());
}

// ---------------------------------------------------------------------------------------------
// No panic on arbitrary rules

/// Transform types that nested specs are given; the top level also tries rarer and unknown ones.
const TRANSFORM_TYPES: &[&str] = &[
    "value",
    "literalValue",
    "linearScale",
    "binaryOp",
    "condition",
    "valueMapper",
    "quantize",
    "round",
    "arrayToSetMembership",
    "setMembershipToArray",
    "firstValue",
    "delete",
    "limitRange",
    "numberToString",
];

/// JSON values biased towards what rules look like: transform specs with real type names and
/// option names, paths that exist in the input.
fn arb_rule_value() -> impl Strategy<Value = Value> {
    let mut names = TRANSFORM_TYPES.to_vec();
    names.extend([
        "count",
        "inRange",
        "stringToNumber",
        "booleanToString",
        "stringToBoolean",
        "gpii.transformer.booleanToNumber",
        "identity",
        "bogus",
    ]);
    let names = prop::sample::select(names);
    let keys = prop::sample::select(vec![
        "type",
        "input",
        "inputPath",
        "outputPath",
        "factor",
        "offset",
        "factorPath",
        "left",
        "right",
        "leftPath",
        "rightPath",
        "operator",
        "condition",
        "conditionPath",
        "true",
        "false",
        "truePath",
        "match",
        "noMatch",
        "defaultInputPath",
        "defaultOutputPath",
        "defaultOutputValue",
        "inputValue",
        "outputValue",
        "outputValuePath",
        "partialMatches",
        "outputUndefinedValue",
        "ranges",
        "upperBound",
        "output",
        "scale",
        "method",
        "options",
        "presentValue",
        "missingValue",
        "values",
        "literalValue",
        "transform",
        "a",
        "b",
        "a.b",
        "",
        "*",
        "min",
        "max",
        "excludeMin",
    ]);
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i32>().prop_map(Value::from),
        (-1e6f64..1e6).prop_map(Value::from),
        prop::sample::select(vec![1e300, -1e-300, 0.5, 1e-7, 2.5]).prop_map(Value::from),
        names.prop_map(Value::from),
        prop::sample::select(vec![
            "a", "b", "a.b", "c.0", "", "*", "===", "<", "+", "/", "&&", "ceil", "x\\.y"
        ])
        .prop_map(Value::from),
    ];
    leaf.prop_recursive(6, 64, 6, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::btree_map(keys.clone(), inner.clone(), 0..6).prop_map(|m| {
                Value::Object(m.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
            }),
            (
                names_strategy(),
                prop::collection::btree_map(keys.clone(), inner, 0..6)
            )
                .prop_map(|(t, m)| {
                    let mut spec: serde_json::Map<String, Value> =
                        m.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
                    spec.insert("type".to_owned(), Value::from(t));
                    json!({ "transform": Value::Object(spec) })
                }),
        ]
    })
}

fn names_strategy() -> impl Strategy<Value = &'static str> {
    prop::sample::select(TRANSFORM_TYPES)
}

fn arb_input() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        "[a-z0-9 .]{0,6}".prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 32, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(
                prop::sample::select(vec!["a", "b", "c", "0", "x.y"]),
                inner,
                0..4
            )
            .prop_map(|m| Value::Object(m.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_rules_never_panic(
        rules in prop::collection::btree_map(
            prop::sample::select(vec!["x", "y.z", "transform", "", "0"]), arb_rule_value(), 0..4),
        input in arb_input(),
    ) {
        let rules = Value::Object(rules.into_iter().map(|(k, v)| (k.to_owned(), v)).collect());
        let out = transform(&rules, &input);
        let paths = input_paths(&rules);
        // Whatever the result, it is well-formed: an object (or a root-level value) that
        // serialises, and errors carry a message.
        if let Ok(v) = &out {
            prop_assert!(serde_json::to_string(v).is_ok());
        }
        if let Err(e) = &out {
            prop_assert!(!e.to_string().is_empty());
        }
        if let Ok(p) = &paths {
            let mut dedup = p.clone();
            dedup.sort();
            dedup.dedup();
            prop_assert_eq!(dedup.len(), p.len(), "input paths repeat: {:?}", p);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// GPII's registries

/// The `gpii-universal` package directory from `GPII_UNIVERSAL_DIR`, or `None` with a note.
fn gpii_universal_dir() -> Option<PathBuf> {
    match std::env::var_os("GPII_UNIVERSAL_DIR") {
        Some(d) => Some(PathBuf::from(d)),
        None => {
            eprintln!("NOTE: GPII_UNIVERSAL_DIR is unset; GPII registry transforms not checked");
            None
        }
    }
}

fn read_json5(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    attune_model::parse_json5(&text, &path.display().to_string()).unwrap()
}

/// `(registry, solution id, handler name, rules)` for every handler of GPII's Linux and Windows
/// registries that has `capabilitiesTransformations`.
fn gpii_handler_rules(dir: &Path) -> Vec<(String, String, String, Value)> {
    let mut out = Vec::new();
    for registry in ["linux.json5", "win32.json5"] {
        let reg = read_json5(&dir.join("testData/solutions").join(registry));
        let Value::Object(solutions) = reg else {
            panic!("{registry}: not an object")
        };
        for (id, solution) in &solutions {
            let Some(Value::Object(hs)) = solution.get("settingsHandlers") else {
                continue;
            };
            for (name, handler) in hs {
                if let Some(rules) = handler.get("capabilitiesTransformations") {
                    out.push((registry.to_owned(), id.clone(), name.clone(), rules.clone()));
                }
            }
        }
    }
    out
}

/// The flat preferences of every context of every GPII preference set, plus one set holding a
/// value for every common term those sets use together.
fn sample_preference_sets(dir: &Path) -> Vec<(String, Value)> {
    let mut sets = Vec::new();
    let mut union = serde_json::Map::new();
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir.join("testData/preferences"))
        .map(|rd| rd.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    files.sort();
    for f in files
        .iter()
        .filter(|f| f.extension().is_some_and(|e| e == "json5"))
    {
        let doc = read_json5(f);
        let Some(Value::Object(contexts)) = doc.pointer("/flat/contexts") else {
            continue;
        };
        for (ctx, body) in contexts {
            if let Some(Value::Object(prefs)) = body.get("preferences") {
                for (k, v) in prefs {
                    union.entry(k.clone()).or_insert_with(|| v.clone());
                }
                sets.push((
                    format!("{} / {ctx}", f.display()),
                    Value::Object(prefs.clone()),
                ));
            }
        }
    }
    sets.push(("union of all sets".to_owned(), Value::Object(union)));
    sets.push(("empty".to_owned(), json!({})));
    sets
}

#[test]
fn every_linux_and_windows_capabilities_transformation_runs_on_gpii_preference_sets() {
    let Some(dir) = gpii_universal_dir() else {
        return;
    };
    let sets = sample_preference_sets(&dir);
    assert!(
        sets.len() > 10,
        "expected GPII's preference sets under {}",
        dir.display()
    );
    let (mut handlers, mut runs, mut outputs) = (0, 0, 0);
    for (registry, id, name, rules) in gpii_handler_rules(&dir) {
        handlers += 1;
        input_paths(&rules).unwrap_or_else(|e| panic!("{registry} {id}.{name}: input_paths: {e}"));
        for (set, prefs) in &sets {
            let out = transform(&rules, prefs)
                .unwrap_or_else(|e| panic!("{registry} {id}.{name} on {set}: {e}"));
            runs += 1;
            outputs += out.as_object().map_or(0, serde_json::Map::len);
        }
    }
    eprintln!(
        "{handlers} handlers x {} preference sets: {runs} runs, {outputs} settings",
        sets.len()
    );
    assert!(
        handlers > 40,
        "only {handlers} handlers with capabilitiesTransformations found"
    );
    assert!(outputs > 0);
}

/// Runs Infusion itself (through Node) over `jobs`; `None` when Node is not available.
fn infusion(dir: &Path, jobs: &[Value]) -> Option<Vec<Value>> {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let script = data_dir().join("infusion_reference.js");
    let mut child = match Command::new("node")
        .arg(&script)
        .arg(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
    {
        Ok(c) => c,
        Err(e) => {
            eprintln!("NOTE: node not runnable ({e}); Infusion comparison skipped");
            return None;
        }
    };
    let body = serde_json::to_vec(jobs).unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || stdin.write_all(&body));
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    assert!(
        out.status.success(),
        "infusion_reference.js failed: {:?}",
        out.status
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let last = text.lines().rev().find(|l| !l.trim().is_empty()).unwrap();
    Some(serde_json::from_str(last).unwrap())
}

/// Equal JSON, numbers within a few units in the last place: serde_json's default float parser
/// (reading Node's answer) is not always correctly rounded.
fn same_json(a: &Value, b: &Value) -> bool {
    attune_model::json_equal_by(a, b, &|x, y| {
        let (x, y) = (x.as_f64().unwrap(), y.as_f64().unwrap());
        x == y || ((x - y) / y).abs() < 1e-15
    })
}

/// Differential check: Attune's transformer and Infusion's give the same settings and the same
/// input paths for every GPII Linux/Windows handler over every GPII preference set, and agree on
/// every case of the data files (Infusion fails exactly where we return an error).
#[test]
fn attune_agrees_with_infusion_on_gpii_registries_and_the_case_tables() {
    let Some(dir) = gpii_universal_dir() else {
        return;
    };
    let sets = sample_preference_sets(&dir);
    let mut jobs = Vec::new();
    let mut labels = Vec::new();
    for (registry, id, name, rules) in gpii_handler_rules(&dir) {
        for (set, prefs) in &sets {
            jobs.push(json!({"rules": rules, "input": prefs}));
            labels.push(format!("{registry} {id}.{name} on {set}"));
        }
    }
    for (file, case) in cases(|stem| stem != "input_paths") {
        jobs.push(json!({"rules": case["rules"], "input": case["input"]}));
        labels.push(format!("{file}/{}", case["name"].as_str().unwrap()));
    }
    let Some(answers) = infusion(&dir, &jobs) else {
        return;
    };
    assert_eq!(answers.len(), jobs.len());
    let mut differences = Vec::new();
    for ((job, answer), label) in jobs.iter().zip(&answers).zip(&labels) {
        let ours = transform(&job["rules"], &job["input"]);
        match (answer.get("error"), ours) {
            (Some(_), Err(_)) => {}
            (None, Ok(out)) => {
                if !same_json(&out, &answer["out"]) {
                    differences.push(format!(
                        "{label}: settings\n  infusion {}\n  attune   {out}",
                        answer["out"]
                    ));
                }
                let paths = input_paths(&job["rules"]).unwrap();
                let theirs: Vec<String> = serde_json::from_value(answer["paths"].clone()).unwrap();
                // Ours may add the paths Infusion's collector skips (firstValue alternatives,
                // valueMapper outputs), but must list Infusion's, in Infusion's order.
                let mut ours_iter = paths.iter();
                let subsequence = theirs.iter().all(|t| ours_iter.any(|o| o == t));
                let extended =
                    label.starts_with("misc/firstValue") || label.starts_with("valueMapper/");
                if !(subsequence && (extended || paths == theirs)) {
                    differences.push(format!(
                        "{label}: input paths\n  infusion {}\n  attune   {paths:?}",
                        answer["paths"]
                    ));
                }
            }
            (theirs, ours) => {
                differences.push(format!("{label}: infusion {theirs:?}, attune {ours:?}"))
            }
        }
    }
    eprintln!(
        "{} jobs compared with Infusion, {} differences",
        jobs.len(),
        differences.len()
    );
    assert!(differences.is_empty(), "{}", differences.join("\n"));
}

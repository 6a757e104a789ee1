//! Malformed snapset and registry files give a clear error naming the file and the problem, and
//! never a panic or a stack overflow. Fixtures are in tests/data/bad/; the huge, deep and
//! non-UTF-8 inputs are generated here.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use attune_model::device::DeviceReport;
use attune_model::lifecycle::LifecycleInstructions;
use attune_model::matchmaker::{check_registry, match_and_transform};
use attune_model::prefs::{PreferenceSet, DEFAULT_CONTEXT};
use attune_model::registry::SolutionsRegistry;
use attune_model::ModelError;

fn fixture(name: &str) -> Vec<u8> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/bad")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn prefs_error(name: &str) -> String {
    PreferenceSet::from_bytes_named(&fixture(name), name)
        .unwrap_err()
        .to_string()
}

/// What the snapset fixture `name` asks of a desktop with `org.gnome.desktop.interface`
/// installed, with `registry_small.json5`.
fn instructions_on_the_small_registry(name: &str) -> LifecycleInstructions {
    let reg = SolutionsRegistry::from_bytes_named(
        &fixture("registry_small.json5"),
        "registry_small.json5",
    )
    .unwrap();
    let prefs = PreferenceSet::from_bytes_named(&fixture(name), name).unwrap();
    let device = DeviceReport::linux(["org.gnome.desktop.interface"]);
    match_and_transform(&prefs, DEFAULT_CONTEXT, &reg, &device)
        .unwrap()
        .instructions
}

#[test]
fn a_truncated_snapset_names_the_file_and_where_it_ends() {
    let e = prefs_error("truncated.json5");
    assert!(e.starts_with("truncated.json5: not valid JSON5: "), "{e}");
    assert!(e.contains("line"), "position missing: {e}");
}

#[test]
fn wrong_types_name_the_field() {
    assert_eq!(
        prefs_error("contexts_is_a_list.json5"),
        "contexts_is_a_list.json5: wrong shape at `flat.contexts`: expected an object of named contexts"
    );
    assert_eq!(
        prefs_error("preferences_is_a_string.json5"),
        "preferences_is_a_string.json5: wrong shape at `flat.contexts.gpii-default.preferences`: expected an object of term → value"
    );
    let e = SolutionsRegistry::from_bytes_named(
        &fixture("registry_handlers_is_a_string.json5"),
        "reg.json5",
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.starts_with("reg.json5: wrong shape at `org.gnome.desktop.interface`: "),
        "{e}"
    );
    assert!(e.contains("invalid type: string"), "{e}");
}

#[test]
fn an_unknown_transform_type_is_reported_with_the_solution_and_the_type() {
    let reg = SolutionsRegistry::from_bytes_named(
        &fixture("registry_unknown_transform.json5"),
        "reg.json5",
    )
    .unwrap();
    let e = check_registry(&reg).unwrap_err().to_string();
    assert!(
        e.contains("org.gnome.desktop.interface.settingsHandlers.configuration"),
        "{e}"
    );
    assert!(e.contains("fluid.transforms.noSuchTransform"), "{e}");
    // A key-in with that registry fails with the same message instead of half-applying.
    let prefs = PreferenceSet::from_json5_str(
        r#"{flat: {contexts: {"gpii-default": {preferences: {"http://registry.gpii.net/common/fontSize": 24}}}}}"#,
    )
    .unwrap();
    let device = DeviceReport::linux(["org.gnome.desktop.interface"]);
    let e2 = match_and_transform(&prefs, DEFAULT_CONTEXT, &reg, &device)
        .unwrap_err()
        .to_string();
    assert_eq!(e, e2);
}

#[test]
fn a_value_out_of_range_is_dropped_and_listed_and_the_rest_applies() {
    let li = instructions_on_the_small_registry("out_of_range.json5");
    let h = &li.solutions["org.gnome.desktop.interface"].settings_handlers["configuration"];
    assert_eq!(h.settings.keys().collect::<Vec<_>>(), ["cursor-size"]);
    assert_eq!(li.invalid.len(), 1);
    let bad = &li.invalid[0];
    assert_eq!(
        (
            bad.setting.as_str(),
            bad.rule.as_str(),
            bad.terms.as_slice()
        ),
        (
            "text-scaling-factor",
            "must be ≤ 3, got 12",
            &["http://registry.gpii.net/common/textScale".to_owned()][..]
        )
    );
}

#[test]
fn nan_and_infinity_never_reach_a_setting() {
    let li = instructions_on_the_small_registry("non_finite.json5");
    assert!(
        li.solutions
            .values()
            .all(|s| s.settings_handlers.is_empty()),
        "{li:?}"
    );
    let rules: Vec<&str> = li.invalid.iter().map(|i| i.rule.as_str()).collect();
    assert_eq!(
        rules,
        ["must be an integer, got null", "must be a number, got null"]
    );
}

#[test]
fn a_50_mb_file_is_refused_before_parsing() {
    let mut big = b"{flat: {contexts: {}}, pad: \"".to_vec();
    big.resize(50 * 1024 * 1024, b'x');
    let start = std::time::Instant::now();
    let e = PreferenceSet::from_bytes_named(&big, "huge.json5").unwrap_err();
    assert!(
        matches!(
            e,
            ModelError::TooLarge {
                size: 52_428_800,
                limit: 1_048_576,
                ..
            }
        ),
        "{e}"
    );
    assert_eq!(
        e.to_string(),
        "huge.json5: too large (52428800 bytes, limit 1048576)"
    );
    let e = SolutionsRegistry::from_bytes_named(&big, "huge-registry.json5").unwrap_err();
    assert_eq!(
        e.to_string(),
        "huge-registry.json5: too large (52428800 bytes, limit 8388608)"
    );
    // Refused by size alone, not after reading it through (generous bound for slow CI).
    assert!(start.elapsed() < std::time::Duration::from_secs(1));
}

#[test]
fn invalid_utf8_names_the_file_and_the_offset() {
    let mut bytes = br#"{flat: {name: "caf"#.to_vec();
    bytes.push(0xe9); // Latin-1 é
    bytes.extend_from_slice(br#"", contexts: {}}}"#);
    let e = PreferenceSet::from_bytes_named(&bytes, "latin1.json5").unwrap_err();
    assert_eq!(
        e.to_string(),
        "latin1.json5: not valid UTF-8 text: invalid byte at offset 18"
    );
    let e =
        SolutionsRegistry::from_bytes_named(&[0xff, 0xfe, b'{', b'}'], "utf16.json5").unwrap_err();
    assert_eq!(
        e.to_string(),
        "utf16.json5: not valid UTF-8 text: invalid byte at offset 0"
    );
}

#[test]
fn a_byte_order_mark_is_accepted() {
    let mut bytes = "\u{feff}".as_bytes().to_vec();
    bytes.extend_from_slice(br#"{"flat": {"contexts": {"gpii-default": {"preferences": {}}}}}"#);
    assert!(PreferenceSet::from_bytes_named(&bytes, "bom.json").is_ok());
}

#[test]
fn deep_nesting_is_an_error_not_a_stack_overflow() {
    let deep = "[".repeat(100_000);
    for what in ["prefs", "registry"] {
        let e = match what {
            "prefs" => PreferenceSet::from_bytes_named(deep.as_bytes(), "deep.json5").unwrap_err(),
            _ => SolutionsRegistry::from_bytes_named(deep.as_bytes(), "deep.json5").unwrap_err(),
        };
        assert_eq!(
            e.to_string(),
            "deep.json5: not valid JSON5: nested deeper than 128 levels at line 1 column 129"
        );
    }
    // The JSON entry point relies on serde_json's own limit of 128.
    let closed = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let e = PreferenceSet::from_json_str_named(&closed, "deep.json")
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("deep.json: not valid JSON: recursion limit exceeded"),
        "{e}"
    );
    let e = attune_model::parse_json5(&closed, "deep.json5")
        .unwrap_err()
        .to_string();
    assert!(e.contains("nested deeper than 128"), "{e}");
}

#[test]
fn empty_and_garbage_files_are_named() {
    let e = PreferenceSet::from_bytes_named(b"", "empty.json5")
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("empty.json5: not valid JSON5"), "{e}");
    let e = PreferenceSet::from_bytes_named(b"\x00\x01\x02garbage", "garbage.json5")
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("garbage.json5: not valid JSON5"), "{e}");
    let e = PreferenceSet::from_bytes_named(b"[1, 2]", "list.json5")
        .unwrap_err()
        .to_string();
    assert_eq!(e, "list.json5: wrong shape at ``: expected an object");
}

//! Arbitrary input never panics the parsers, the matchmaker or the cloud-answer reader.
//! Values are drawn from a vocabulary of GPII's own keys, so they often have nearly the right
//! shape and reach deep into the code rather than failing at the first check.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use attune_model::device::DeviceReport;
use attune_model::matchmaker::{instructions_from_cloud_answer, match_and_transform};
use attune_model::prefs::PreferenceSet;
use attune_model::registry::SolutionsRegistry;
use proptest::prelude::*;
use serde_json::{json, Map, Value};

const KEYS: &[&str] = &[
    "flat",
    "name",
    "contexts",
    "gpii-default",
    "preferences",
    "metadata",
    "type",
    "priority",
    "scope",
    "value",
    "capabilities",
    "settingsHandlers",
    "configuration",
    "options",
    "supportedSettings",
    "schema",
    "minimum",
    "maximum",
    "enum",
    "capabilitiesTransformations",
    "launchHandlers",
    "launcher",
    "transform",
    "inputPath",
    "outputPath",
    "active",
    "settings",
    "applications",
    "inferredConfiguration",
    "matchMakerOutput",
    "solutionsRegistryEntries",
    "org.gnome.desktop.interface",
    "org.gnome.orca",
    "text-scaling-factor",
    "http://registry.gpii.net/common/fontSize",
    "http://registry.gpii.net/common/magnification/enabled",
    "http://registry.gpii.net/common/screenReaderTTS/enabled",
    "http://registry.gpii.net/applications/org.gnome.orca",
    "http://registry\\.gpii\\.net/common/fontSize",
    "",
    "0",
];

fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => proptest::sample::select(KEYS).prop_map(str::to_owned),
        1 => "[a-z./\\\\]{0,12}",
    ]
}

fn scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        key().prop_map(Value::String),
        Just(json!("fluid.transforms.linearScale")),
        Just(json!("number")),
    ]
}

fn value() -> impl Strategy<Value = Value> {
    scalar().prop_recursive(6, 64, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            proptest::collection::btree_map(key(), inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

fn registry() -> SolutionsRegistry {
    SolutionsRegistry::from_value_named(
        json!({
            "org.gnome.desktop.interface": {
                "name": "Interface",
                "capabilities": ["http://registry\\.gpii\\.net/common/magnification/enabled"],
                "settingsHandlers": {"configuration": {
                    "type": "gpii.gsettings",
                    "supportedSettings": {"text-scaling-factor": {"schema": {"type": "number", "minimum": 0.5, "maximum": 3}}},
                    "capabilitiesTransformations": {"text-scaling-factor": "http://registry\\.gpii\\.net/common/fontSize"}
                }},
                "launchHandlers": {"launcher": {"type": "gpii.gsettings.launch"}}
            },
            "org.gnome.orca": {
                "name": "Orca",
                "capabilities": ["http://registry\\.gpii\\.net/common/screenReaderTTS/enabled"],
                "settingsHandlers": {"configuration": {"type": "gpii.orca"}}
            }
        }),
        "test registry",
    )
    .unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn parsers_never_panic(v in value()) {
        let _ = PreferenceSet::from_value_named(v.clone(), "arbitrary");
        let _ = SolutionsRegistry::from_value_named(v.clone(), "arbitrary");
        let text = v.to_string();
        let _ = PreferenceSet::from_json_str_named(&text, "arbitrary");
        let _ = PreferenceSet::from_bytes_named(text.as_bytes(), "arbitrary");
        let _ = SolutionsRegistry::from_bytes_named(text.as_bytes(), "arbitrary");
    }

    #[test]
    fn arbitrary_text_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        let _ = PreferenceSet::from_bytes_named(&bytes, "arbitrary");
        let _ = SolutionsRegistry::from_bytes_named(&bytes, "arbitrary");
    }

    #[test]
    fn matchmaking_arbitrary_preferences_never_panics(prefs in proptest::collection::btree_map(key(), value(), 0..6),
                                                      metadata in value()) {
        let doc = json!({"flat": {"contexts": {"gpii-default": {"preferences": prefs, "metadata": metadata}}}});
        let set = PreferenceSet::from_value_named(doc, "arbitrary").unwrap();
        let device = DeviceReport::linux(["org.gnome.desktop.interface", "org.gnome.orca"]);
        let out = match_and_transform(&set, "gpii-default", &registry(), &device).unwrap();
        // Whatever comes in, nothing unvalidated goes out.
        // (Orca's handler here has no supportedSettings, so, as in GPII, its application-block
        // values pass through unchecked; the interface's are bounded.)
        let interface = out.instructions.solutions.get("org.gnome.desktop.interface");
        for h in interface.iter().flat_map(|s| s.settings_handlers.values()) {
            if let Some(v) = h.settings.get("text-scaling-factor") {
                let f = v.as_f64().unwrap();
                prop_assert!((0.5..=3.0).contains(&f));
            }
        }
    }

    #[test]
    fn matchmaking_with_an_arbitrary_registry_never_panics(reg in value(), prefs in value()) {
        let Ok(reg) = SolutionsRegistry::from_value_named(reg, "arbitrary") else { return Ok(()) };
        let doc = json!({"flat": {"contexts": {"gpii-default": {"preferences": prefs}}}});
        let Ok(set) = PreferenceSet::from_value_named(doc, "arbitrary") else { return Ok(()) };
        let device = DeviceReport::linux(reg.solutions.keys().cloned().collect::<Vec<_>>());
        let _ = match_and_transform(&set, "gpii-default", &reg, &device);
    }

    #[test]
    fn arbitrary_cloud_answers_never_panic(answer in value(), apps in value()) {
        let local = registry();
        let _ = instructions_from_cloud_answer(&answer, "gpii-default", &local, "arbitrary");
        let shaped = json!({"matchMakerOutput": {"inferredConfiguration": {"gpii-default": {"applications": apps}}},
                            "solutionsRegistryEntries": serde_json::to_value(registry()).unwrap()});
        let _ = instructions_from_cloud_answer(&shaped, "gpii-default", &local, "arbitrary");
    }
}

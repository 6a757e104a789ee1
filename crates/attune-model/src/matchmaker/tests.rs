//! Unit tests of the flat matchmaker. Each case states the GPII behaviour it pins down; the
//! source is GPII/universal's `MatchMakerUtilities.js`, `FlatMatchMaker.js` and `Transformer.js`
//! unless said otherwise. The rules use plain-path transforms only, so these tests do not depend
//! on the transform engine.

use super::*;
use serde_json::json;

const FONT: &str = "http://registry.gpii.net/common/fontSize";
const MAG: &str = "http://registry.gpii.net/common/magnification";
const MAG_ON: &str = "http://registry.gpii.net/common/magnification/enabled";

fn registry() -> SolutionsRegistry {
    SolutionsRegistry::from_value_named(
        json!({
            "org.example.desktop": {
                "name": "Desktop",
                "settingsHandlers": {"configuration": {
                    "type": "gpii.gsettings",
                    "options": {"schema": "org.example.desktop"},
                    "supportedSettings": {
                        "text-size": {"schema": {"type": "number", "minimum": 6, "maximum": 48}},
                        "theme": {"schema": {"type": "string"}}
                    },
                    "capabilitiesTransformations": {"text-size": "http://registry\\.gpii\\.net/common/fontSize"}
                }}
            },
            "org.example.magnifier": {
                "name": "Magnifier A",
                "capabilities": ["http://registry\\.gpii\\.net/common/magnification/enabled"],
                "settingsHandlers": {"configuration": {
                    "type": "gpii.gsettings",
                    "options": {"schema": "org.example.magnifier"},
                    "supportedSettings": {
                        "factor": {"schema": {"type": "number", "minimum": 1, "maximum": 5}},
                        "cross-hairs": {"schema": {"type": "boolean"}},
                        "lens": {"schema": {"type": "boolean"}}
                    },
                    "capabilitiesTransformations": {
                        "factor": "http://registry\\.gpii\\.net/common/magnification",
                        "cross-hairs": "http://registry\\.gpii\\.net/common/showCrosshairs"
                    }
                }},
                "launchHandlers": {"launcher": {
                    "type": "gpii.gsettings.launch",
                    "options": {"schema": "org.example.a11y", "key": "magnifier-enabled"}
                }}
            },
            "org.example.zoomer": {
                "name": "Magnifier B",
                "capabilities": ["http://registry\\.gpii\\.net/common/magnification/enabled"],
                "settingsHandlers": {"configuration": {
                    "type": "gpii.gsettings",
                    "supportedSettings": {"zoom": {"schema": {"type": "number"}}},
                    "capabilitiesTransformations": {"zoom": "http://registry\\.gpii\\.net/common/magnification"}
                }}
            },
            "org.example.notinstalled": {
                "name": "Speech",
                "settingsHandlers": {"configuration": {
                    "type": "gpii.orca",
                    "capabilitiesTransformations": {"rate": "http://registry\\.gpii\\.net/common/speechRate"}
                }}
            }
        }),
        "test registry",
    )
    .unwrap()
}

fn prefs(preferences: Value) -> PreferenceSet {
    PreferenceSet::from_value_named(
        json!({"flat": {"name": "t", "contexts": {"gpii-default": {"name": "Default", "preferences": preferences}}}}),
        "test prefs",
    )
    .unwrap()
}

fn all_installed() -> DeviceReport {
    DeviceReport::linux([
        "org.example.desktop",
        "org.example.magnifier",
        "org.example.zoomer",
    ])
}

fn run(preferences: Value, device: &DeviceReport) -> Outcome {
    match_and_transform(&prefs(preferences), "gpii-default", &registry(), device).unwrap()
}

/// Whether `solution` is to run, `None` when it has no launch instruction.
fn launch_enabled(o: &Outcome, solution: &str) -> Option<bool> {
    o.instructions.solutions[solution]
        .launch
        .as_ref()
        .map(|l| l.enabled)
}

fn apps(o: &Outcome) -> Value {
    o.matchmaker_output["inferredConfiguration"]["gpii-default"]["applications"].clone()
}

#[test]
fn a_common_term_selects_the_installed_solutions_that_read_it() {
    let o = run(json!({FONT: 24}), &all_installed());
    assert_eq!(
        apps(&o),
        json!({"org.example.desktop": {"active": true, "settings": {FONT: 24}}})
    );
    let h = &o.instructions.solutions["org.example.desktop"].settings_handlers["configuration"];
    assert_eq!(h.settings["text-size"], json!(24));
    assert_eq!(h.provenance["text-size"], vec![FONT.to_owned()]);
    assert_eq!(h.handler_type, "gpii.gsettings");
    assert_eq!(h.options, json!({"schema": "org.example.desktop"}));
    assert!(o.instructions.unsupported.is_empty());
}

#[test]
fn registry_entries_are_the_installed_solutions_chosen_or_not() {
    let o = run(json!({FONT: 24}), &all_installed());
    let ids: Vec<&str> = o
        .registry_entries
        .solutions
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        ids,
        [
            "org.example.desktop",
            "org.example.magnifier",
            "org.example.zoomer"
        ]
    );
}

#[test]
fn nothing_installed_means_nothing_chosen_and_every_term_explained() {
    let o = run(
        json!({FONT: 24, "http://registry.gpii.net/common/speechRate": 200, "urn:x": 1}),
        &DeviceReport::linux(Vec::<String>::new()),
    );
    assert_eq!(apps(&o), json!({}));
    assert!(o.instructions.solutions.is_empty());
    let reasons: Vec<(&str, &str)> = o
        .instructions
        .unsupported
        .iter()
        .map(|u| (u.term.as_str(), u.reason.as_str()))
        .collect();
    assert_eq!(
        reasons,
        [
            (FONT, "needs org.example.desktop, not installed here"),
            (
                "http://registry.gpii.net/common/speechRate",
                "needs org.example.notinstalled, not installed here"
            ),
            ("urn:x", "not a GPII common term or application block"),
        ]
    );
    // GPII's cloud sends back no preference the device does not use.
    assert_eq!(
        o.filtered_preferences,
        json!({"name": "t", "contexts": {"gpii-default": {"name": "Default", "preferences": {}}}})
    );
}

#[test]
fn an_application_block_selects_its_solution_and_overrides_transformed_values() {
    // transformOneSettingsHandler: fluid.extend(true, {}, inferred, inferredScoped, settings).
    let o = run(
        json!({
            MAG: 2,
            "http://registry.gpii.net/applications/org.example.magnifier": {"factor": 3, "lens": true, "unknown-key": 1}
        }),
        &all_installed(),
    );
    let h = &o.instructions.solutions["org.example.magnifier"].settings_handlers["configuration"];
    assert_eq!(h.settings["factor"], json!(3));
    assert_eq!(h.settings["lens"], json!(true));
    // filterSupportedSettings keeps only what supportedSettings names.
    assert!(!h.settings.contains_key("unknown-key"));
    assert_eq!(
        h.provenance["factor"],
        vec!["http://registry.gpii.net/applications/org.example.magnifier".to_owned()]
    );
}

#[test]
fn apptology_keeps_one_magnifier_preferring_the_application_block() {
    // Both magnifiers read `magnification`; the one with an application block has priority 512.
    let o = run(
        json!({MAG: 2, "http://registry.gpii.net/applications/org.example.zoomer": {"zoom": 2}}),
        &all_installed(),
    );
    let chosen: Vec<String> = apps(&o).as_object().unwrap().keys().cloned().collect();
    assert_eq!(chosen, ["org.example.zoomer"]);
    // On a tie the first by id wins.
    let o = run(json!({MAG: 2}), &all_installed());
    let chosen: Vec<String> = apps(&o).as_object().unwrap().keys().cloned().collect();
    assert_eq!(chosen, ["org.example.magnifier"]);
    let zoomer = o.instructions.unsupported.iter().find(|u| u.term == MAG);
    assert!(
        zoomer.is_none(),
        "magnification is used by the chosen magnifier"
    );
}

#[test]
fn metadata_priority_overrides_the_application_block_priority() {
    let p = PreferenceSet::from_value_named(
        json!({"flat": {"contexts": {"gpii-default": {
            "preferences": {MAG: 2, "http://registry.gpii.net/applications/org.example.magnifier": {"lens": true}},
            "metadata": [{"type": "priority", "scope": ["http://registry.gpii.net/applications/org.example.zoomer"], "value": 1024}]
        }}}}),
        "t",
    )
    .unwrap();
    let o = match_and_transform(&p, "gpii-default", &registry(), &all_installed()).unwrap();
    let chosen: Vec<String> = apps(&o).as_object().unwrap().keys().cloned().collect();
    assert_eq!(chosen, ["org.example.zoomer"]);
    let lost = o
        .instructions
        .unsupported
        .iter()
        .find(|u| u.term.ends_with("org.example.magnifier"))
        .unwrap();
    assert_eq!(
        lost.reason,
        "`org.example.magnifier` is installed, but another solution of its type was chosen"
    );
}

#[test]
fn a_term_gpii_cannot_map_does_not_select_a_solution_alone() {
    let cross = "http://registry.gpii.net/common/showCrosshairs";
    let o = run(json!({cross: true}), &all_installed());
    assert_eq!(apps(&o), json!({}));
    assert_eq!(
        o.instructions.unsupported[0].reason,
        "org.example.magnifier supports it, but was not chosen; this term alone does not select a solution"
    );
    // …but it travels with a solution chosen for another term.
    let o = run(json!({cross: true, MAG_ON: true}), &all_installed());
    assert_eq!(
        apps(&o)["org.example.magnifier"]["settings"],
        json!({cross: true, MAG_ON: true})
    );
}

#[test]
fn array_valued_terms_do_not_select_but_are_carried() {
    // computeLeaves descends into arrays; `term.0` is not a capability.
    let tracking = "http://registry.gpii.net/common/magnification";
    let o = run(json!({tracking: [2]}), &all_installed());
    assert_eq!(apps(&o), json!({}));
}

#[test]
fn common_terms_inside_an_application_block_are_lifted_out_of_it() {
    // filterPreferencesForSolution moves them to the top level, where they override.
    let o = run(
        json!({FONT: 12, "http://registry.gpii.net/applications/org.example.desktop": {FONT: 20, "theme": "dark"}}),
        &all_installed(),
    );
    assert_eq!(
        apps(&o)["org.example.desktop"]["settings"],
        json!({FONT: 20, "http://registry.gpii.net/applications/org.example.desktop": {"theme": "dark"}})
    );
    let h = &o.instructions.solutions["org.example.desktop"].settings_handlers["configuration"];
    assert_eq!(h.settings["text-size"], json!(20));
    assert_eq!(h.settings["theme"], json!("dark"));
}

#[test]
fn the_launch_wish_follows_the_enabled_term() {
    let o = run(json!({MAG_ON: false, MAG: 2}), &all_installed());
    let launch = o.instructions.solutions["org.example.magnifier"]
        .launch
        .clone()
        .unwrap();
    assert!(!launch.enabled);
    assert_eq!(launch.handler_type, "gpii.gsettings.launch");
    // The application block's /enabled wins over the common term (getActiveValueFromEnabledTerms).
    let o = run(
        json!({MAG_ON: false, "http://registry.gpii.net/applications/org.example.magnifier": {MAG_ON: true}}),
        &all_installed(),
    );
    assert_eq!(launch_enabled(&o, "org.example.magnifier"), Some(true));
    // Without an /enabled term a chosen solution is active, so it runs.
    let o = run(json!({MAG: 2}), &all_installed());
    assert_eq!(launch_enabled(&o, "org.example.magnifier"), Some(true));
    // A solution without launch handlers has no launch instruction.
    let o = run(json!({FONT: 24}), &all_installed());
    assert_eq!(launch_enabled(&o, "org.example.desktop"), None);
}

#[test]
fn an_invalid_value_is_dropped_and_listed_while_the_rest_applies() {
    let o = run(
        json!({FONT: 96, "http://registry.gpii.net/applications/org.example.desktop": {"theme": "dark"}}),
        &all_installed(),
    );
    let h = &o.instructions.solutions["org.example.desktop"].settings_handlers["configuration"];
    assert!(!h.settings.contains_key("text-size"));
    assert_eq!(h.settings["theme"], json!("dark"));
    assert_eq!(
        o.instructions.invalid,
        vec![InvalidSetting {
            solution: "org.example.desktop".into(),
            handler: "configuration".into(),
            setting: "text-size".into(),
            terms: vec![FONT.into()],
            rule: "must be ≤ 48, got 96".into(),
        }]
    );
}

#[test]
fn a_handler_with_nothing_to_write_is_left_out() {
    // magnification/enabled only launches; no setting of the handler reads it.
    let o = run(json!({MAG_ON: true}), &all_installed());
    let sol = &o.instructions.solutions["org.example.magnifier"];
    assert!(sol.settings_handlers.is_empty());
    assert!(sol.launch.as_ref().unwrap().enabled);
}

#[test]
fn every_context_is_matched_but_instructions_are_for_the_one_asked() {
    let p = PreferenceSet::from_value_named(
        json!({"flat": {"contexts": {
            "gpii-default": {"preferences": {FONT: 24}},
            "night": {"preferences": {MAG: 2}}
        }}}),
        "t",
    )
    .unwrap();
    let o = match_and_transform(&p, "night", &registry(), &all_installed()).unwrap();
    let ctxs: Vec<&String> = o.matchmaker_output["inferredConfiguration"]
        .as_object()
        .unwrap()
        .keys()
        .collect();
    assert_eq!(ctxs, ["gpii-default", "night"]);
    let ids: Vec<&String> = o.instructions.solutions.keys().collect();
    assert_eq!(ids, ["org.example.magnifier"]);
    let o = match_and_transform(&p, "absent", &registry(), &all_installed()).unwrap();
    assert_eq!(o.instructions, LifecycleInstructions::default());
}

#[test]
fn a_cloud_answer_gives_the_same_instructions_as_a_local_match() {
    let o = run(
        json!({FONT: 24, MAG: 2.0, MAG_ON: true, "http://registry.gpii.net/applications/org.example.magnifier": {"lens": true}}),
        &all_installed(),
    );
    let answer = json!({
        "gpiiKey": "k",
        "preferences": o.filtered_preferences,
        "solutionsRegistryEntries": serde_json::to_value(o.registry_entries.as_ref()).unwrap(),
        "matchMakerOutput": o.matchmaker_output,
    });
    let from_cloud =
        instructions_from_cloud_answer(&answer, "gpii-default", &registry(), "cloud answer")
            .unwrap();
    assert_eq!(from_cloud, o.instructions);
    assert_eq!(
        o.instructions.solutions["org.example.magnifier"].settings_handlers["configuration"]
            .settings["factor"],
        json!(2),
        "numbers are written as JavaScript writes them"
    );
}

/// The error for a cloud answer `answer`, read for the default context.
fn cloud_answer_error(answer: Value) -> String {
    instructions_from_cloud_answer(&answer, "gpii-default", &registry(), "cloud answer")
        .unwrap_err()
        .to_string()
}

#[test]
fn a_malformed_cloud_answer_is_named() {
    let e = cloud_answer_error(json!({"preferences": {}}));
    assert_eq!(
        e,
        "cloud answer: wrong shape at `matchMakerOutput`: missing"
    );
    let e = cloud_answer_error(
        json!({"matchMakerOutput": {"inferredConfiguration": {"gpii-default": {"applications": 3}}}}),
    );
    assert!(e.contains("gpii-default.applications"), "{e}");
    let e = cloud_answer_error(
        json!({"solutionsRegistryEntries": 3, "matchMakerOutput": {"inferredConfiguration": {}}}),
    );
    assert_eq!(
        e,
        "cloud answer: wrong shape at `solutionsRegistryEntries`: expected an object of solution id → entry"
    );
}

#[test]
fn the_entries_inside_an_answers_registry_block_are_not_read() {
    // docs/design.md §10.1: the answer's registry entries decide nothing here, so a malformed one
    // cannot stop a key-in either.
    let answer = json!({"solutionsRegistryEntries": {"x": {"name": 3}}, "matchMakerOutput": {"inferredConfiguration": {}}});

    let li = instructions_from_cloud_answer(&answer, "gpii-default", &registry(), "cloud answer")
        .unwrap();

    assert_eq!(li, LifecycleInstructions::default());
}

#[test]
fn a_chosen_solution_without_registry_entry_is_reported() {
    let answer = json!({"matchMakerOutput": {"inferredConfiguration": {"gpii-default": {"applications": {
        "org.example.gone": {"active": true, "settings": {FONT: 24}}
    }}}}});
    let li = instructions_from_cloud_answer(&answer, "gpii-default", &registry(), "cloud answer")
        .unwrap();
    assert!(li.solutions.is_empty());
    assert_eq!(
        li.unsupported[0].term,
        "http://registry.gpii.net/applications/org.example.gone"
    );
}

#[test]
fn js_numbers_match_json_stringify() {
    assert_eq!(
        js_numbers(json!([2.0, -0.0, 1.5, 3, 1e300])),
        json!([2, 0, 1.5, 3, 1e300])
    );
    assert_eq!(
        js_numbers(json!({"a": {"b": 24.0}})).to_string(),
        r#"{"a":{"b":24}}"#
    );
}

#[test]
fn deep_extend_merges_like_fluid_extend() {
    let mut t = json!({"a": {"x": 1, "y": [1, 2, 3]}, "b": 1});
    deep_extend(&mut t, &json!({"a": {"y": [9]}, "b": {"c": 2}}));
    assert_eq!(t, json!({"a": {"x": 1, "y": [9, 2, 3]}, "b": {"c": 2}}));
}

#[test]
fn output_is_deterministic() {
    let p = json!({FONT: 24, MAG: 2, MAG_ON: true, "http://registry.gpii.net/applications/org.example.zoomer": {"zoom": 3}});
    let a = serde_json::to_string(&run(p.clone(), &all_installed()).instructions).unwrap();
    let b = serde_json::to_string(&run(p, &all_installed()).instructions).unwrap();
    assert_eq!(a, b);
}

/// A [`Matcher`] kept and used for one set after another (as the cloud keeps one per device)
/// decides exactly what a fresh match does, for every bundled snapset, on a device with every
/// solution and on one with a few (so `unsupported` names solutions elsewhere too).
#[test]
fn a_kept_matcher_decides_as_a_fresh_match_for_every_snapset() {
    let registry = crate::bundled::linux_registry().unwrap();
    let all = DeviceReport::linux(registry.solutions.keys().cloned());
    let few = DeviceReport::linux(registry.solutions.keys().take(2).cloned());
    for device in [&all, &few] {
        let matcher = Matcher::new(&registry, device).unwrap();
        // Twice round, so the second round runs on what the first prepared.
        for round in 0..2 {
            for snapset in crate::bundled::snapsets() {
                let prefs = crate::bundled::snapset(snapset.key).unwrap().unwrap();
                let fresh =
                    match_and_transform(&prefs, crate::prefs::DEFAULT_CONTEXT, &registry, device)
                        .unwrap();
                let kept = matcher
                    .match_and_transform(&prefs, crate::prefs::DEFAULT_CONTEXT)
                    .unwrap();
                assert_eq!(kept, fresh, "{} (round {round})", snapset.key);
            }
        }
    }
}

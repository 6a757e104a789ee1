//! Capture against the bundled registry and snapsets, with no desktop: a snapset's instructions
//! stand for what a key-in writes, and the capture of them, keyed in again, must write the same
//! thing. (The real desktop's round trip, compared term by term with docs/capture.md's table of
//! exceptions, is the e2e test `capture::every_snapset_captures_its_own_terms`.)
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;

use attune_model::capture::{capture, Reading};
use attune_model::device::DeviceReport;
use attune_model::lifecycle::LifecycleInstructions;
use attune_model::matchmaker::match_and_transform;
use attune_model::prefs::{PreferenceSet, DEFAULT_CONTEXT};
use attune_model::{bundled, Value};
use serde_json::json;

/// What a key-in with these instructions leaves set on a desktop that had nothing set.
fn written(instr: &LifecycleInstructions) -> Reading {
    let mut r = Reading::default();
    for (id, sol) in &instr.solutions {
        for (name, h) in &sol.settings_handlers {
            let settings = r
                .settings
                .entry(id.clone())
                .or_default()
                .entry(name.clone())
                .or_default();
            for (setting, value) in &h.settings {
                settings.insert(setting.clone(), value.clone());
            }
        }
        if let Some(l) = &sol.launch {
            r.running.insert(id.clone(), l.enabled);
        }
    }
    r
}

fn instructions(prefs: &PreferenceSet) -> LifecycleInstructions {
    let reg = bundled::linux_registry().unwrap();
    let device = DeviceReport::linux(reg.solutions.keys().cloned());
    match_and_transform(prefs, DEFAULT_CONTEXT, &reg, &device)
        .unwrap()
        .instructions
}

fn as_set(prefs: BTreeMap<String, Value>) -> PreferenceSet {
    PreferenceSet::from_value_named(
        json!({"flat": {"name": "captured", "contexts": {"gpii-default": {
            "name": "Default preferences", "preferences": prefs}}}}),
        "capture",
    )
    .unwrap()
}

#[test]
fn keying_in_the_capture_of_every_snapset_writes_what_the_snapset_wrote() {
    let reg = bundled::linux_registry().unwrap();
    for s in bundled::snapsets() {
        let set = bundled::snapset(s.key).unwrap().unwrap();
        let first = written(&instructions(&set));
        let captured = capture(&reg, &first).unwrap();
        assert!(
            captured.skipped.is_empty(),
            "{}: {:?}",
            s.key,
            captured.skipped
        );
        let again = written(&instructions(&as_set(captured.preferences())));
        assert_eq!(
            serde_json::to_value(&again).unwrap(),
            serde_json::to_value(&first).unwrap(),
            "{}: captured {:?}",
            s.key,
            captured.preferences()
        );
    }
}

#[test]
fn settings_set_by_hand_in_odd_values_come_back_exactly_too() {
    let reg = bundled::linux_registry().unwrap();
    let by_hand: Reading = serde_json::from_value(json!({
        "settings": {
            "org.gnome.desktop.interface": {"configuration":
                {"text-scaling-factor": 1.333, "cursor-size": 40, "enable-animations": true}},
            "org.gnome.desktop.a11y.magnifier": {"configuration":
                {"mag-factor": 3.5, "screen-position": "none", "mouse-tracking": "centered",
                 "focus-tracking": "none", "caret-tracking": "push"}},
            "org.gnome.desktop.a11y.keyboard": {"configuration":
                {"slowkeys-delay": 333, "bouncekeys-enable": false}},
            "org.gnome.orca": {"configuration":
                {"voices.default.rate": 37, "voices.default.average-pitch": 7.5, "voices.default.gain": 7.55,
                 "enableEchoByCharacter": true, "verbalizePunctuationStyle": 3}}
        },
        "running": {"org.gnome.desktop.a11y.magnifier": true, "org.gnome.orca": false}
    }))
    .unwrap();
    let captured = capture(&reg, &by_hand).unwrap();
    let again = written(&instructions(&as_set(captured.preferences())));
    for (id, handlers) in &by_hand.settings {
        for (name, settings) in handlers {
            for (setting, value) in settings {
                let got = &again.settings[id][name][setting];
                assert_eq!(
                    got.as_f64().map_or(got.clone(), |f| json!(f)),
                    value.as_f64().map_or(value.clone(), |f| json!(f)),
                    "{id} {setting}: captured {:?}",
                    captured.preferences()
                );
            }
        }
    }
    assert_eq!(again.running, by_hand.running);
}

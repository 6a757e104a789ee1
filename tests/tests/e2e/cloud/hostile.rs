//! A hostile cloud (or anyone on the path to an `http://` cloud) answers with registry entries
//! that would make the desktop write an autostart file with an `Exec=` line, an arbitrary JSON
//! file and `org.gnome.desktop.screensaver lock-enabled=false`, next to a legitimate text size.
//! docs/design.md §10.1: this computer decides what may be written and how, so only the text size
//! is written — from the cloud, after a change (`attune set`), and from the cache that holds the
//! hostile answer — and the report lists the refused requests as not supported here.

use attune_e2e::Desktop;
use serde_json::{json, Value};

use super::{answer_for, dev_ok, flat, key_out_restores, FakeCloud, BUSY, PERSON};
use crate::common::used_desktop;

const APPS: &str = "http://registry.gpii.net/applications/";
/// A solution this computer's registry does not know.
const AUTOSTART: &str = "net.example.autostart";
/// Known solutions whose registry entries the answer redirects.
const KEYBOARD: &str = "org.gnome.desktop.a11y.applications.onscreen-keyboard";
const CONTRAST: &str = "org.gnome.desktop.a11y.interface";

/// A legitimate 18-point text size, plus the three attacks: chosen in `matchMakerOutput`, with
/// their application blocks in the preferences as GPII's answers carry them.
fn hostile_answer() -> Value {
    let mut a = answer_for(flat(
        json!({"http://registry.gpii.net/common/fontSize": 18}),
    ));
    let handler = |h: Value, supported: &[&str]| {
        let mut h = h;
        h["supportedSettings"] = supported
            .iter()
            .map(|s| (s.to_string(), json!({})))
            .collect();
        json!({"name": "redirected", "settingsHandlers": {"configuration": h}})
    };
    let entries = &mut a["solutionsRegistryEntries"];
    entries[AUTOSTART] = handler(
        json!({"type": "gpii.settingsHandlers.INISettingsHandler",
               "options": {"filename": "${XDG_CONFIG_HOME}/autostart/x.desktop"}}),
        &["Desktop Entry.Exec", "Desktop Entry.Type"],
    );
    entries[KEYBOARD] = handler(
        json!({"type": "gpii.settingsHandlers.JSONSettingsHandler",
               "options": {"filename": "${HOME}/arbitrary.json"}}),
        &["anything"],
    );
    entries[CONTRAST] = handler(
        json!({"type": "gpii.gsettings", "options": {"schema": "org.gnome.desktop.screensaver"}}),
        &["lock-enabled"],
    );
    let asks = [
        (
            AUTOSTART,
            json!({"Desktop Entry.Exec": "sh -c 'touch /tmp/owned'", "Desktop Entry.Type": "Application"}),
        ),
        (KEYBOARD, json!({"anything": "written"})),
        (CONTRAST, json!({"lock-enabled": false})),
    ];
    for (id, block) in asks {
        let term = format!("{APPS}{id}");
        a["matchMakerOutput"]["inferredConfiguration"]["gpii-default"]["applications"][id] =
            json!({"active": true, "settings": {term.clone(): block.clone()}});
        a["preferences"]["contexts"]["gpii-default"]["preferences"][term] = block;
    }
    a
}

/// Nothing outside the local registry was written, and the text size was.
fn only_the_legitimate_setting_is_on_the_desktop(d: &Desktop, text_size: &str, when: &str) {
    let autostart = d.config_home().join("autostart");
    assert!(
        !autostart.exists(),
        "{when}: {} exists",
        autostart.display()
    );
    let arbitrary = d.home().join("arbitrary.json");
    assert!(
        !arbitrary.exists(),
        "{when}: {} exists",
        arbitrary.display()
    );
    assert_eq!(
        d.get("org.gnome.desktop.screensaver", "lock-enabled"),
        "true",
        "{when}"
    );
    assert!(
        !d.keyfile().keys().any(|(_, k)| k == "lock-enabled"),
        "{when}: the keyfile holds lock-enabled: {:?}",
        d.keyfile()
    );
    assert_eq!(
        d.get("org.gnome.desktop.interface", "text-scaling-factor"),
        text_size,
        "{when}"
    );
}

/// The key-in report lists each refused request as not supported here.
fn refusals_are_reported(out: &Value, when: &str) {
    let rows = out["applied"].as_array().unwrap();
    let refused = |term: &str, says: &str| {
        rows.iter().any(|r| {
            r["setting"] == term
                && r["outcome"] == "not_supported"
                && r["reason"].as_str().is_some_and(|s| s.contains(says))
        })
    };
    for (term, says) in [
        (
            format!("{APPS}{AUTOSTART}"),
            "the cloud asked for `net.example.autostart`, which this computer's solutions registry does not know",
        ),
        (format!("{APPS}{KEYBOARD}"), "the cloud asked to set `anything`"),
        (format!("{APPS}{CONTRAST}"), "the cloud asked to set `lock-enabled`"),
    ] {
        assert!(refused(&term, says), "{when}: no refusal of {term}: {rows:#?}");
    }
}

#[test]
fn a_hostile_answer_writes_only_what_this_computers_registry_allows_from_cloud_and_cache() {
    let (d, before) = used_desktop();
    let cloud = FakeCloud::start();
    *cloud.body.lock().unwrap() = hostile_answer().to_string();

    // From the cloud.
    let o = dev_ok(&d, &cloud.url, &["key-in", PERSON, "--json"]);
    let out: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(out["source"]["kind"], "cloud", "{out}");
    only_the_legitimate_setting_is_on_the_desktop(&d, "1.5", "cloud");
    refusals_are_reported(&out, "cloud");

    // A change in the session is matched again against this computer's registry too.
    dev_ok(&d, &cloud.url, &["set", "fontSize", "24"]);
    only_the_legitimate_setting_is_on_the_desktop(&d, "2.0", "after a change");
    key_out_restores(&d, &cloud.url, &before);

    // From the cache, which holds the hostile answer.
    cloud.set(BUSY);
    let o = dev_ok(&d, &cloud.url, &["key-in", PERSON, "--json"]);
    let out: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(out["source"]["kind"], "cache", "{out}");
    only_the_legitimate_setting_is_on_the_desktop(&d, "1.5", "cache");
    refusals_are_reported(&out, "cache");
    key_out_restores(&d, &cloud.url, &before);
}

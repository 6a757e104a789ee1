//! GSettings through the real keyfile backend: apply, restore, unsupported and rejected values.

use serde_json::json;

use crate::common::{cursor_size, gsettings, instructions, kinds, with_launch, Desk, Snapshot};

const IFACE: &str = "org.gnome.desktop.interface";
const MAG: &str = "org.gnome.desktop.a11y.magnifier";
const APPS: &str = "org.gnome.desktop.a11y.applications";
const SCHEMAS: &[&str] = &[IFACE, MAG, APPS, "org.attune.test"];

/// A desktop someone has used: some keys set (one of them to its default), the rest unset; and
/// how it looks before the test.
fn used_desk() -> (Desk, Snapshot) {
    let d = Desk::new();
    d.set(IFACE, "cursor-size", "32");
    d.set(IFACE, "gtk-theme", "'Adwaita'"); // the default, but explicitly set
    d.set(MAG, "mag-factor", "1.5");
    let before = d.snapshot(SCHEMAS);
    (d, before)
}

/// Restores; the desktop must be exactly as it was `before`.
#[track_caller]
fn restores_exactly(d: &Desk, before: &Snapshot) {
    d.restore();
    assert_eq!(&d.snapshot(SCHEMAS), before);
}

fn low_vision() -> attune_model::lifecycle::LifecycleInstructions {
    let li = instructions(&[
        gsettings(
            "org.gnome.desktop.interface",
            IFACE,
            json!({"cursor-size": 48, "gtk-theme": "HighContrast", "text-scaling-factor": 1.5}),
        ),
        gsettings(
            "org.gnome.desktop.a11y.magnifier",
            MAG,
            json!({"mag-factor": 2.0, "mouse-tracking": "centered", "show-cross-hairs": true}),
        ),
    ]);
    with_launch(
        li,
        "org.gnome.desktop.a11y.magnifier",
        APPS,
        "screen-magnifier-enabled",
        true,
    )
}

#[test]
fn apply_then_restore_leaves_every_key_exactly_as_before() {
    let (d, before) = used_desk();
    assert!(!d.is_set("org/gnome/desktop/interface", "text-scaling-factor"));

    let r = d.apply(&low_vision());
    assert!(kinds(&r).values().all(|k| k == "applied"), "{r:#}");
    assert_eq!(r["launches"][0]["outcome"]["kind"], "applied");
    assert_eq!(d.get(IFACE, "cursor-size"), "48");
    assert_eq!(d.get(IFACE, "gtk-theme"), "'HighContrast'");
    assert_eq!(d.get(IFACE, "text-scaling-factor"), "1.5");
    assert_eq!(d.get(MAG, "mag-factor"), "2.0");
    assert_eq!(d.get(MAG, "mouse-tracking"), "'centered'");
    assert_eq!(d.get(APPS, "screen-magnifier-enabled"), "true");
    assert_eq!(d.status()["state"], "open");
    assert_eq!(d.status()["entries"], 7);
    assert_eq!(d.status()["applied"], true);

    let rr = d.restore();
    assert_eq!(rr["failed"], 0, "{rr:#}");
    assert_eq!(rr["restored"], 7);
    assert_eq!(rr["journal"], "closed");
    assert_eq!(d.snapshot(SCHEMAS), before);
    // Unset keys are unset again, not set to their defaults; explicitly set ones stay set.
    assert!(!d.is_set("org/gnome/desktop/interface", "text-scaling-factor"));
    assert!(!d.is_set(
        "org/gnome/desktop/a11y/applications",
        "screen-magnifier-enabled"
    ));
    assert!(d.is_set("org/gnome/desktop/interface", "gtk-theme"));
    assert!(!d.journal_file().exists());
    assert_eq!(d.status()["state"], "closed");
}

#[test]
fn every_value_type_round_trips() {
    let d = Desk::new();
    d.set("org.attune.test", "pair", "(3, 4)");
    let before = d.snapshot(SCHEMAS);
    let r = d.apply(&instructions(&[gsettings(
        "t",
        "org.attune.test",
        json!({"flag": true, "count": 42.0, "unsigned": 7, "ratio": 0.30000000000000004,
               "name": "x'y\"z", "mode": "high", "list": ["a", "b"], "pair": [1, -2],
               "dict": "{'k': <1>}"}),
    )]));
    assert!(kinds(&r).values().all(|k| k == "applied"), "{r:#}");
    assert_eq!(d.get("org.attune.test", "count"), "42");
    assert_eq!(d.get("org.attune.test", "mode"), "'high'");
    assert_eq!(d.get("org.attune.test", "list"), "['a', 'b']");
    assert_eq!(d.get("org.attune.test", "pair"), "(1, -2)");
    assert_eq!(d.get("org.attune.test", "ratio"), "0.30000000000000004");
    restores_exactly(&d, &before);
}

#[test]
fn a_missing_schema_or_key_is_not_supported_and_the_rest_applies() {
    let (d, before) = used_desk();
    let r = d.apply(&instructions(&[
        gsettings("gone", "org.attune.not.installed", json!({"a": 1})),
        gsettings("iface", IFACE, json!({"no-such-key": 1, "cursor-size": 64})),
        ("odd", "gpii.exotic.handler", json!({}), json!({"z": 1})),
    ]));
    let k = kinds(&r);
    assert_eq!(k["a"], "not_supported", "{r:#}");
    assert_eq!(k["no-such-key"], "not_supported");
    assert_eq!(k["z"], "not_supported");
    assert_eq!(k["cursor-size"], "applied");
    let reason = r["settings"][0]["outcome"]["reason"].as_str().unwrap();
    assert!(reason.contains("org.attune.not.installed"), "{reason}");
    assert_eq!(d.get(IFACE, "cursor-size"), "64");
    // Only what was written is journalled.
    assert_eq!(d.status()["entries"], 1);
    restores_exactly(&d, &before);
}

#[test]
fn a_rejected_value_fails_alone_and_leaves_its_key_untouched() {
    let (d, before) = used_desk();
    let r = d.apply(&instructions(&[
        gsettings(
            "t",
            "org.attune.test",
            json!({"count": 500, "mode": "zzz", "flag": "yes", "unsigned": -1, "name": "ok"}),
        ),
        gsettings("iface", IFACE, json!({"cursor-size": 24})),
    ]));
    let k = kinds(&r);
    for bad in ["count", "mode", "flag", "unsigned"] {
        assert_eq!(k[bad], "failed", "{bad}: {r:#}");
    }
    assert_eq!(k["name"], "applied");
    assert_eq!(k["cursor-size"], "applied");
    let reasons: Vec<&str> = r["settings"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s["outcome"]["reason"].as_str())
        .collect();
    assert!(reasons.iter().any(|r| r.contains("range")), "{reasons:?}");
    assert!(reasons.iter().any(|r| r.contains("one of")), "{reasons:?}");
    assert!(reasons.iter().any(|r| r.contains("boolean")), "{reasons:?}");
    assert!(!d.is_set("org/attune/test", "count"));
    assert!(!d.is_set("org/attune/test", "mode"));
    restores_exactly(&d, &before);
}

#[test]
fn a_second_apply_keeps_the_first_original() {
    let (d, before) = used_desk();
    d.apply(&cursor_size(48));
    let r = d.apply(&instructions(&[gsettings(
        "i",
        IFACE,
        json!({"cursor-size": 64, "text-scaling-factor": 2.0}),
    )]));
    assert!(kinds(&r).values().all(|k| k == "applied"));
    assert_eq!(d.get(IFACE, "cursor-size"), "64");
    assert_eq!(d.status()["entries"], 2);
    let rr = d.restore();
    assert_eq!(rr["restored"], 2);
    assert_eq!(d.get(IFACE, "cursor-size"), "32");
    assert_eq!(d.snapshot(SCHEMAS), before);
}

#[test]
fn recover_restores_an_open_journal_and_is_idempotent() {
    let (d, before) = used_desk();
    d.apply(&low_vision());
    let r1 = d.recover();
    assert_eq!(r1["restored"], 7);
    assert_eq!(d.snapshot(SCHEMAS), before);
    let r2 = d.recover();
    assert_eq!(r2["restored"], 0);
    assert_eq!(r2["journal"], "closed");
    assert_eq!(d.snapshot(SCHEMAS), before);
}

#[test]
fn restore_with_no_journal_is_a_no_op() {
    let (d, before) = used_desk();
    let r = d.restore();
    assert_eq!(r["restored"], 0);
    assert_eq!(r["entries"], json!([]));
    assert_eq!(d.snapshot(SCHEMAS), before);
}

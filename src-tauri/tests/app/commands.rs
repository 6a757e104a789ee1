//! Each command of docs/app.md: its answer, its error shape, and the status event after it.

use serde_json::{json, Value};

use super::*;

#[test]
fn idle_status_lists_the_adjustments_without_values() {
    let h = Harness::new();
    let s = h.invoke("get_status", json!({})).unwrap();
    assert_eq!(s["state"], "idle");
    assert_eq!(s["profile"], "testing");
    assert_eq!(s["key"], Value::Null);
    assert_eq!(s["save_state"]["state"], "none");
    // The state as decided in Rust, for the page to render (docs/app.md `indicator`).
    assert_eq!(
        s["indicator"],
        json!({"state": "testing_ready", "words": "Testing", "tone": "testing", "notice": null})
    );
    let ids: Vec<&str> = s["adjustments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [
            "fontSize",
            "highContrast",
            "cursorSize",
            "magnifier",
            "screenReader",
            "stickyKeys",
            "slowKeys",
            "reduceMotion"
        ]
    );
    assert!(s["adjustments"]
        .as_array()
        .unwrap()
        .iter()
        .all(|a| a["value"].is_null()));
}

#[test]
fn snapsets_are_listed_in_the_testing_profile() {
    let h = Harness::new();
    let list = h.invoke("list_snapsets", json!({})).unwrap();
    let first = list
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["key"] == "snapset_1a")
        .unwrap()
        .clone();
    assert_eq!(first["name"], "Larger text and cursor (125%)");
}

#[test]
fn key_in_change_and_key_out_round_trip_the_desktop() {
    let h = Harness::new();
    let before = gsettings_get("org.gnome.desktop.interface", "text-scaling-factor");

    let o = h.invoke("key_in", json!({"key": "snapset_1a"})).unwrap();
    assert_eq!(o["key"], "snapset_1a");
    assert!(o["counts"]["applied"].as_u64().unwrap() >= 1, "{o}");
    assert_eq!(
        gsettings_get("org.gnome.desktop.interface", "text-scaling-factor"),
        "1.25"
    );
    let ev = h.last_event().expect("a status event after key_in");
    assert_eq!(ev["state"], "active");
    assert_eq!(ev["source"], "snapset");
    assert_eq!(ev["save_state"]["state"], "read_only");
    assert_eq!(ev["adjustments"][0]["value"], json!(15));
    assert_eq!(ev["indicator"]["state"], "testing");

    let set = h
        .invoke("set_preference", json!({"term": "fontSize", "value": 18}))
        .unwrap();
    assert_eq!(set["term"], "http://registry.gpii.net/common/fontSize");
    assert_eq!(
        gsettings_get("org.gnome.desktop.interface", "text-scaling-factor"),
        "1.5"
    );
    assert_eq!(
        h.last_event().unwrap()["adjustments"][0]["value"],
        json!(18)
    );

    let out = h.invoke("key_out", json!({})).unwrap();
    assert!(out["restored"].as_u64().unwrap() >= 1, "{out}");
    assert!(out["message_text"].as_str().unwrap().contains("put back"));
    assert_eq!(
        gsettings_get("org.gnome.desktop.interface", "text-scaling-factor"),
        before
    );
    assert_eq!(h.last_event().unwrap()["state"], "idle");
    assert_eq!(
        h.last_event().unwrap()["indicator"]["state"],
        "testing_ready"
    );
    assert!(h.notices().is_empty(), "a testing session notifies nothing");
}

#[test]
fn errors_reach_the_ui_as_kind_and_message() {
    let h = Harness::new();
    let e = h
        .invoke("key_in", json!({"key": "no_such_snapset"}))
        .unwrap_err();
    assert_eq!(e["kind"], "unknown_snapset");
    assert!(e["message"].as_str().unwrap().contains("snapset_1a"));
    assert_eq!(e.as_object().unwrap().len(), 2, "{e}");

    let e = h
        .invoke("set_preference", json!({"term": "fontSize", "value": 20}))
        .unwrap_err();
    assert_eq!(e["kind"], "not_keyed_in");
}

#[test]
fn an_invalid_configuration_still_starts_and_says_why() {
    let guard = serial();
    desktop();
    let root = tempfile::tempdir().unwrap();
    let err = attune_app::AppError {
        kind: attune_app::error::ErrorKind::ConfigInvalid,
        message: "invalid configuration: attune.toml: profile: expected one of testing, development, production".into(),
    };
    let h = Harness::with_flow(Err(err), root, guard);
    let e = h.invoke("get_status", json!({})).unwrap_err();
    assert_eq!(e["kind"], "config_invalid");
    let d = h.invoke("get_diagnostics", json!({})).unwrap();
    assert!(d["config_error"].as_str().unwrap().contains("attune.toml"));
}

#[test]
fn a_config_syntax_error_reaches_the_ui_and_the_bundle_without_the_secret() {
    let guard = serial();
    desktop();
    let root = tempfile::tempdir().unwrap();
    let site = root.path().join("site.toml");
    std::fs::write(
        &site,
        "[cloud]\nurl = \"https://cloud.example\"\nclient_secret = \"hunter2-secret\" x\n",
    )
    .unwrap();
    let err = Config::load(&Sources {
        site_file: Some(site),
        ..Sources::default()
    })
    .unwrap_err();
    let err = attune_app::AppError::from(attune_flow::FlowError::from(err));
    let h = Harness::with_flow(Err(err), root, guard);

    let e = h.invoke("get_status", json!({})).unwrap_err();
    let d = h.invoke("get_diagnostics", json!({})).unwrap();
    let bundle = h.invoke("support_bundle", json!({})).unwrap();
    assert_eq!(e["kind"], "config_invalid");
    for text in [
        e["message"].as_str().unwrap(),
        d["config_error"].as_str().unwrap(),
        bundle.as_str().unwrap(),
    ] {
        assert!(!text.contains("hunter2"), "the secret is shown: {text}");
        assert!(
            text.contains("site.toml") && text.contains("line 3"),
            "{text}"
        );
    }
}

#[test]
fn diagnostics_say_what_works_here() {
    let h = Harness::new();
    let d = h.invoke("get_diagnostics", json!({})).unwrap();
    assert_eq!(d["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(d["profile"], "testing");
    assert_eq!(d["journal"], "closed");
    assert_eq!(d["tray"]["available"], false);
    assert!(d["tray"]["reason"].is_string());
    assert_eq!(d["notifications"]["available"], false);
    assert!(d["contacts"].is_array());
    assert!(d["log_file"].as_str().unwrap().contains("logs"));
}

#[test]
fn the_support_bundle_holds_no_key_and_no_applied_value() {
    let h = Harness::new();
    let (status, text, parsed) = keyed_in_bundle(&h);
    assert_eq!(parsed["session"]["state"], "active");
    assert_eq!(parsed["session"]["keyed_in"], true);

    assert!(!text.contains("snapset_1a"), "the key is in the bundle");
    // Every value the session applied or holds (numbers other than 0 and 1, and strings) must
    // be absent from every leaf of the bundle.
    let mut values = Vec::new();
    for row in status["applied"].as_array().unwrap() {
        values.push(row["value"].clone());
    }
    for a in status["adjustments"].as_array().unwrap() {
        values.push(a["value"].clone());
    }
    values.retain(|v| v.is_string() || v.as_f64().is_some_and(|f| f != 0.0 && f != 1.0));
    assert!(values.len() >= 2, "{status}");
    let mut leaves = Vec::new();
    collect_leaves(&parsed, &mut leaves);
    for v in &values {
        assert!(!leaves.contains(v), "value {v} is in the bundle");
    }
    h.invoke("key_out", json!({})).unwrap();
}

#[test]
fn the_support_bundle_counts_the_applied_settings_without_naming_them() {
    let h = Harness::new();
    let (status, text, parsed) = keyed_in_bundle(&h);

    // Which settings a person has applied says which accessibility features they use.
    let rows = status["applied"].as_array().unwrap();
    assert!(!rows.is_empty(), "{status}");
    for row in rows {
        let setting = row["setting"].as_str().unwrap();
        assert!(
            !text.contains(setting),
            "setting {setting} is named in the bundle"
        );
    }
    let count = |outcome: &str| rows.iter().filter(|r| r["outcome"] == outcome).count();
    let counts = &parsed["session"]["counts"];
    assert_eq!(counts["applied"], count("applied"), "{counts}");
    assert_eq!(counts["not_supported"], count("not_supported"), "{counts}");
    assert_eq!(counts["failed"], count("failed"), "{counts}");
    assert!(parsed["session"].get("applied").is_none(), "{parsed}");
    h.invoke("key_out", json!({})).unwrap();
}

/// Keys in a snapset, then asks for the status and the support bundle: the status, and the
/// bundle as text and as JSON.
fn keyed_in_bundle(h: &Harness) -> (Value, String, Value) {
    h.invoke("key_in", json!({"key": "snapset_1a"})).unwrap();
    let status = h.invoke("get_status", json!({})).unwrap();
    let bundle = h.invoke("support_bundle", json!({})).unwrap();
    let text = bundle.as_str().unwrap().to_owned();
    let parsed = serde_json::from_str(&text).unwrap();
    (status, text, parsed)
}

fn collect_leaves(v: &Value, out: &mut Vec<Value>) {
    match v {
        Value::Array(a) => a.iter().for_each(|x| collect_leaves(x, out)),
        Value::Object(o) => o.values().for_each(|x| collect_leaves(x, out)),
        leaf => out.push(leaf.clone()),
    }
}

#[test]
fn a_capture_lists_the_desktops_settings_in_words_and_saving_needs_a_cloud() {
    let h = Harness::new();
    h.invoke("key_in", json!({"key": "large_text"})).unwrap();

    let c = h.invoke("capture_desktop", json!({})).unwrap();
    assert_eq!(
        c["preferences"],
        json!({"http://registry.gpii.net/common/fontSize": 18})
    );
    assert_eq!(
        c["lines"],
        json!([{
            "id": "http://registry.gpii.net/common/fontSize",
            "label": "Text size",
            "value": "150 %",
            "details": [
                "http://registry.gpii.net/common/fontSize = 18",
                "from org.gnome.desktop.interface › text-scaling-factor = 1.5"
            ]
        }])
    );

    let e = h
        .invoke(
            "save_capture",
            json!({"ids": ["http://registry.gpii.net/common/fontSize"]}),
        )
        .unwrap_err();
    assert_eq!(e["kind"], "read_only");
    assert!(e["message"].as_str().unwrap().contains("testing profile"));
    h.invoke("key_out", json!({})).unwrap();
}

/// "Save my settings to this USB key" (docs/design.md §10.3) writes only to the USB key the
/// listener saw come in, and only for a person's own key: with none in, and in a snapset
/// session, it is refused in words and nothing is written. (Writing itself, from a cloud
/// session, is the e2e `stick` tests' and the UI's `stick.test.mjs`.)
#[test]
fn saving_to_a_usb_key_needs_one_in_and_a_person_with_their_own_key() {
    let h = Harness::new();
    let e = h.invoke("save_to_stick", json!({})).unwrap_err();
    assert_eq!(e["kind"], "not_available", "{e}");
    assert_eq!(
        e["message"],
        "There is no USB key in this computer. Put yours in, then try again."
    );
    let st = h.invoke("get_status", json!({})).unwrap();
    assert_eq!(st["usb_key"], Value::Null, "{st}");

    let stick = h.root.path().join("media/SAMSTICK");
    std::fs::create_dir_all(&stick).unwrap();
    h.app
        .state::<attune_app::Shell>()
        .stick_seen(Some(stick.clone()), None);
    h.invoke("key_in", json!({"key": "large_text"})).unwrap();
    let st = h.invoke("get_status", json!({})).unwrap();
    assert_eq!(
        st["usb_key"],
        json!({"label": "SAMSTICK", "can_save": false}),
        "a snapset is not a person's: {st}"
    );
    let e = h.invoke("save_to_stick", json!({})).unwrap_err();
    assert_eq!(e["kind"], "not_available", "{e}");
    assert!(
        std::fs::read_dir(&stick).unwrap().next().is_none(),
        "nothing written"
    );
    h.invoke("key_out", json!({})).unwrap();

    h.app
        .state::<attune_app::Shell>()
        .stick_seen(None, Some(&stick));
    let st = h.invoke("get_status", json!({})).unwrap();
    assert_eq!(st["usb_key"], Value::Null, "pulled out: {st}");
}

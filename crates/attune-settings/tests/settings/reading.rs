//! Reading the desktop for a capture: the values the person set, never a default.

use serde_json::json;

use crate::common::Desk;

const IFACE: &str = "org.gnome.desktop.interface";
const APPS: &str = "org.gnome.desktop.a11y.applications";

#[test]
fn only_values_the_person_set_are_read_even_one_equal_to_its_default() {
    let d = Desk::new();
    d.set(IFACE, "cursor-size", "48");
    d.set(IFACE, "enable-animations", "true"); // the default, but set by hand
    d.set(APPS, "screen-magnifier-enabled", "true");
    let orca = d.data_home().join("orca/user-settings.conf");
    std::fs::create_dir_all(orca.parent().unwrap()).unwrap();
    std::fs::write(
        &orca,
        br#"{"general": {"enableKeyEcho": false}, "profiles": {"default": {"voices": {"default": {"rate": 60}}}}}"#,
    )
    .unwrap();

    let r = d.read();

    assert_eq!(
        r["reading"]["settings"],
        json!({
            IFACE: {"configuration": {"cursor-size": 48, "enable-animations": true}},
            // Only the profile Attune writes; "general" is Orca's own.
            "org.gnome.orca": {"configuration": {"voices.default.rate": 60}}
        }),
        "{r:#}"
    );
    assert_eq!(
        r["reading"]["running"],
        json!({"org.gnome.desktop.a11y.magnifier": true})
    );
    assert_eq!(r["problems"], json!([]));
}

#[test]
fn a_settings_file_that_cannot_be_parsed_is_a_problem_not_a_value() {
    let d = Desk::new();
    let orca = d.data_home().join("orca/user-settings.conf");
    std::fs::create_dir_all(orca.parent().unwrap()).unwrap();
    std::fs::write(&orca, b"{not json").unwrap();

    let r = d.read();

    assert_eq!(r["reading"]["settings"], json!({}));
    let problems = r["problems"].as_array().unwrap();
    assert!(!problems.is_empty());
    assert!(
        problems.iter().all(|p| p["solution"] == "org.gnome.orca"),
        "{r:#}"
    );
    assert!(
        problems[0]["reason"].as_str().unwrap().contains("parsed"),
        "{r:#}"
    );
}

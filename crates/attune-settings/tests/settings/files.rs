//! File handlers through the lifecycle (in process: no GSettings involved).

use std::path::Path;

use attune_model::lifecycle::LifecycleInstructions;
use attune_settings::lifecycle::{ApplyReport, Lifecycle};
use serde_json::{json, Value};

use crate::common::{instructions, Handler};

struct Case {
    dir: tempfile::TempDir,
}

impl Case {
    fn new() -> Case {
        Case {
            dir: tempfile::tempdir().unwrap(),
        }
    }
    fn p(&self, rel: &str) -> std::path::PathBuf {
        self.dir.path().join(rel)
    }
    /// Writes `content` to the file `rel`, with its directories; its path.
    fn file(&self, rel: &str, content: &str) -> std::path::PathBuf {
        let f = self.p(rel);
        std::fs::create_dir_all(f.parent().unwrap()).unwrap();
        std::fs::write(&f, content).unwrap();
        f
    }
    fn life(&self) -> Lifecycle {
        Lifecycle::new(self.p("journal"))
    }
    fn apply(&self, li: &LifecycleInstructions) -> ApplyReport {
        self.life().apply(li).unwrap()
    }
    fn tree(&self) -> Vec<(String, Vec<u8>)> {
        let mut out = Vec::new();
        walk(&self.p("home"), &mut out);
        out
    }
}

fn walk(d: &Path, out: &mut Vec<(String, Vec<u8>)>) {
    let Ok(rd) = std::fs::read_dir(d) else { return };
    let mut v: Vec<_> = rd.flatten().map(|e| e.path()).collect();
    v.sort();
    for p in v {
        if p.is_dir() {
            out.push((format!("{}/", p.display()), Vec::new()));
            walk(&p, out);
        } else {
            out.push((p.display().to_string(), std::fs::read(&p).unwrap()));
        }
    }
}

fn kinds(r: &ApplyReport) -> Vec<&'static str> {
    r.settings.iter().map(|s| s.outcome.kind()).collect()
}

/// A `JSONSettingsHandler` of the file `filename` in solution `sol`, for [`instructions`].
fn json_file<'a>(sol: &'a str, filename: &Path, settings: Value) -> Handler<'a> {
    (
        sol,
        "gpii.settingsHandlers.JSONSettingsHandler",
        json!({ "filename": filename }),
        settings,
    )
}

fn orca(c: &Case, settings: Value) -> LifecycleInstructions {
    let path = c.p("home/.local/share/orca/user-settings.conf");
    instructions(&[(
        "org.gnome.orca",
        "gpii.orca",
        json!({ "path": path }),
        settings,
    )])
}

#[test]
fn a_missing_orca_file_is_created_then_removed_with_its_directories() {
    let c = Case::new();
    std::fs::create_dir_all(c.p("home")).unwrap();
    let before = c.tree();
    let r = c.apply(&orca(
        &c,
        json!({"general.enableSpeech": true, "general.rate": 70}),
    ));
    assert_eq!(kinds(&r), ["applied", "applied"]);
    let v: Value = serde_json::from_slice(
        &std::fs::read(c.p("home/.local/share/orca/user-settings.conf")).unwrap(),
    )
    .unwrap();
    assert_eq!(v, json!({"general": {"enableSpeech": true, "rate": 70}}));
    let rr = c.life().restore().unwrap();
    assert_eq!(rr.failed, 0);
    assert_eq!(c.tree(), before);
}

#[test]
fn an_existing_file_keeps_what_is_not_touched_and_comes_back_byte_for_byte() {
    let c = Case::new();
    let original = "{ \"general\": {\"enableSpeech\": false, \"other\": \"kept\"},\n\"profiles\": {\"default\": {\"x\": 1}} }";
    let f = c.file("home/.local/share/orca/user-settings.conf", original);
    let before = c.tree();
    let r = c.apply(&orca(&c, json!({"general.enableSpeech": true})));
    assert_eq!(kinds(&r), ["applied"]);
    let v: Value = serde_json::from_slice(&std::fs::read(&f).unwrap()).unwrap();
    assert_eq!(v["general"]["other"], "kept");
    assert_eq!(v["profiles"]["default"]["x"], 1);
    c.life().restore().unwrap();
    assert_eq!(c.tree(), before);
}

#[test]
fn a_file_edited_after_apply_gets_only_our_settings_back() {
    let c = Case::new();
    let f = c.file("home/s.json", r#"{"a": 1}"#);
    c.apply(&instructions(&[json_file(
        "app",
        &f,
        json!({"a": 2, "b.c": true}),
    )]));
    // The application itself changes another setting during the session.
    let mut v: Value = serde_json::from_slice(&std::fs::read(&f).unwrap()).unwrap();
    v["user"] = json!("edit");
    std::fs::write(&f, serde_json::to_vec(&v).unwrap()).unwrap();
    let rr = c.life().restore().unwrap();
    assert_eq!(rr.failed, 0, "{rr:?}");
    let v: Value = serde_json::from_slice(&std::fs::read(&f).unwrap()).unwrap();
    assert_eq!(v["a"], 1);
    assert_eq!(v["user"], "edit");
    assert!(v["b"].get("c").is_none(), "{v}");
}

#[test]
fn a_read_only_file_fails_per_setting_and_is_untouched() {
    use std::os::unix::fs::PermissionsExt;
    let c = Case::new();
    let f = c.file("home/ro.json", r#"{"a": 1}"#);
    std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o444)).unwrap();
    let r = c.apply(&instructions(&[
        json_file("app", &f, json!({"a": 2})),
        json_file("other", &c.p("home/ok.json"), json!({"z": 1})),
    ]));
    assert_eq!(kinds(&r), ["failed", "applied"]);
    let reason = format!("{:?}", r.settings[0].outcome);
    assert!(reason.contains("read-only"), "{reason}");
    assert_eq!(std::fs::read_to_string(&f).unwrap(), r#"{"a": 1}"#);
    assert_eq!(c.life().restore().unwrap().failed, 0);
    assert!(!c.p("home/ok.json").exists());
}

#[test]
fn an_unparsable_or_unreachable_file_fails_and_is_untouched() {
    let c = Case::new();
    let bad = c.file("home/bad.json", "{ not json");
    c.file("home/afile", "x");
    let r = c.apply(&instructions(&[
        json_file("bad", &bad, json!({"a": 2})),
        json_file("blocked", &c.p("home/afile/under/s.json"), json!({"a": 2})),
        (
            "noopts",
            "gpii.settingsHandlers.JSONSettingsHandler",
            json!({}),
            json!({"a": 2}),
        ),
    ]));
    assert_eq!(kinds(&r), ["failed", "failed", "failed"], "{r:#?}");
    assert!(format!("{:?}", r.settings[0].outcome).contains("cannot be parsed as JSON"));
    assert_eq!(std::fs::read_to_string(&bad).unwrap(), "{ not json");
    assert_eq!(c.life().restore().unwrap().failed, 0);
}

#[test]
fn ini_files_keep_comments_and_come_back_exactly() {
    let c = Case::new();
    let original = "; settings\n[display]\nzoom = 1\ntheme=light\n\n[other]\nx=1\n";
    let f = c.file("home/app.ini", original);
    let r = c.apply(&instructions(&[(
        "app",
        "gpii.settingsHandlers.INISettingsHandler",
        json!({ "filename": f }),
        json!({"display.zoom": 2, "display.contrast": "high", "new.key": true}),
    )]));
    assert_eq!(kinds(&r), ["applied", "applied", "applied"], "{r:#?}");
    assert_eq!(
        std::fs::read_to_string(&f).unwrap(),
        "; settings\n[display]\nzoom = 2\ntheme=light\ncontrast=high\n\n[other]\nx=1\n[new]\nkey=true\n"
    );
    c.life().restore().unwrap();
    assert_eq!(std::fs::read_to_string(&f).unwrap(), original);
}

#[test]
fn report_kinds_are_stable_strings() {
    let c = Case::new();
    let r = c.apply(&instructions(&[(
        "x",
        "gpii.unknown",
        json!({}),
        json!({"a": 1}),
    )]));
    let v = serde_json::to_value(&r).unwrap();
    assert_eq!(v["settings"][0]["outcome"]["kind"], "not_supported");
    assert!(v["settings"][0]["outcome"]["reason"]
        .as_str()
        .unwrap()
        .contains("gpii.unknown"));
    assert!(!c.p("journal").exists(), "nothing to write, no journal");
}

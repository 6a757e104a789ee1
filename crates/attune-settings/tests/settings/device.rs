//! The device reporter over a registry with every kind of installation check.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;

use attune_model::registry::SolutionsRegistry;
use attune_settings::device::DeviceReporter;
use serde_json::json;

fn registry() -> SolutionsRegistry {
    let entry = |checks: serde_json::Value| json!({"name": "n", "isInstalled": checks});
    SolutionsRegistry::from_value_named(
        json!({
            "always": entry(json!([{"type": "gpii.deviceReporter.alwaysInstalled"}])),
            "no-checks": {"name": "n"},
            "schema": entry(json!([{"type": "gsettings.schemaExists", "schema": "org.gnome.desktop.interface"}])),
            "schema-missing": entry(json!([{"type": "gsettings.schemaExists", "schema": "org.attune.not.installed"}])),
            "file": entry(json!([{"type": "file.exists", "path": "${HOME}/present"}])),
            "file-missing": entry(json!([{"type": "file.exists", "path": "${HOME}/absent"}])),
            "cmd": entry(json!([{"type": "command.exists", "name": "mytool"}])),
            "cmd-missing": entry(json!([{"type": "command.exists", "name": "nosuchtool"}])),
            "pkg-by-command": entry(json!([{"type": "gpii.packageKit.find", "name": "mytool"}])),
            "pkg-missing": entry(json!([{"type": "gpii.packageKit.find", "name": "attune-no-such-package"}])),
            "all-must-pass": entry(json!([
                {"type": "gpii.deviceReporter.alwaysInstalled"},
                {"type": "command.exists", "name": "nosuchtool"}])),
            "unknown-check": entry(json!([{"type": "gpii.somethingElse"}])),
        }),
        "test registry",
    )
    .unwrap()
}

#[test]
fn every_check_type_decides_with_a_reason() {
    let d = tempfile::tempdir().unwrap();
    let home = d.path().join("home");
    let bin = d.path().join("bin");
    std::fs::create_dir_all(&home).unwrap();
    std::fs::create_dir_all(&bin).unwrap();
    std::fs::write(home.join("present"), "").unwrap();
    let tool = bin.join("mytool");
    std::fs::write(&tool, "#!/bin/sh\n").unwrap();
    std::fs::set_permissions(&tool, std::fs::Permissions::from_mode(0o755)).unwrap();
    // Not executable: must not count.
    std::fs::write(bin.join("nosuchtool"), "").unwrap();

    let env = BTreeMap::from([("HOME".to_owned(), home.display().to_string())]);
    let r =
        DeviceReporter::with_env(Some(bin.clone().into_os_string()), env, true).report(&registry());
    let installed: Vec<&str> = r.report.solutions.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(
        installed,
        [
            "always",
            "cmd",
            "file",
            "no-checks",
            "pkg-by-command",
            "schema"
        ]
    );
    let why = |id: &str| {
        r.solutions
            .iter()
            .find(|s| s.id == id)
            .unwrap()
            .checks
            .iter()
            .map(|c| c.reason.clone())
            .collect::<Vec<_>>()
            .join("; ")
    };
    assert!(why("schema-missing").contains("org.attune.not.installed"));
    assert!(why("file-missing").contains("absent does not exist"));
    assert!(why("pkg-missing").contains("not installed"));
    assert!(why("unknown-check").contains("not supported"));
    assert!(why("all-must-pass").contains("not on PATH"));
}

#[test]
fn dpkg_finds_an_installed_debian_package() {
    // libglib2.0-bin is a build requirement of this crate on Debian.
    let r = DeviceReporter::with_env(None, BTreeMap::new(), true)
        .check(&json!({"type": "gpii.packageKit.find", "name": "libglib2.0-bin"}));
    assert!(r.passed, "{}", r.reason);
}

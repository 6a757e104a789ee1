//! GPII's own data, loaded unchanged: every preference set and solutions registry shipped in the
//! npm package `gpii-universal`, installed at test time (never committed). With Node available,
//! GPII's own matchmaker runs over the same files (tests/data/gpii_reference.js) and Attune's
//! answers are compared with it, value by value.
//!
//! The package is cached under the cargo target dir, or taken from `GPII_UNIVERSAL_DIR` (a
//! directory holding `package.json` of gpii-universal). Without npm the tests skip with a reason,
//! except under `CI`, where failing to install is a failure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use attune_model::device::DeviceReport;
use attune_model::matchmaker::{js_numbers, match_and_transform};
use attune_model::prefs::{PreferenceSet, DEFAULT_CONTEXT};
use attune_model::registry::SolutionsRegistry;
use serde_json::Value;

const PACKAGE: &str = "gpii-universal@0.3.0-dev.20200604T131823Z.d6fed9a";

/// The installed package directory, or `None` (with the reason printed) when it cannot be had
/// outside CI.
fn gpii_universal() -> Option<&'static Path> {
    static DIR: OnceLock<Option<PathBuf>> = OnceLock::new();
    DIR.get_or_init(|| match locate_or_install() {
        Ok(dir) => Some(dir),
        Err(why) => {
            assert!(
                std::env::var_os("CI").is_none(),
                "CI is set and gpii-universal could not be installed: {why}"
            );
            eprintln!("SKIPPED: gpii-universal unavailable: {why}");
            None
        }
    })
    .as_deref()
}

fn locate_or_install() -> Result<PathBuf, String> {
    if let Some(dir) = std::env::var_os("GPII_UNIVERSAL_DIR") {
        let dir = PathBuf::from(dir);
        return if dir.join("package.json").is_file() {
            Ok(dir)
        } else {
            Err(format!(
                "GPII_UNIVERSAL_DIR={} has no package.json",
                dir.display()
            ))
        };
    }
    let cache = Path::new(env!("CARGO_TARGET_TMPDIR")).join("gpii-universal-0.3.0-dev.20200604");
    let installed = cache.join("node_modules/gpii-universal");
    if installed.join("testData/solutions/linux.json5").is_file() {
        return Ok(installed);
    }
    // Install next to the cache and rename into place, so an interrupted install is never
    // mistaken for a complete one.
    let staging = tempfile::Builder::new()
        .prefix("gpii-install-")
        .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
        .map_err(|e| format!("cannot make a staging dir: {e}"))?;
    eprintln!("installing {PACKAGE} (about 30 s)…");
    let out = Command::new("npm")
        .args([
            "install",
            "--omit=dev",
            "--ignore-scripts",
            "--no-audit",
            "--no-fund",
            "--prefix",
        ])
        .arg(staging.path())
        .arg(PACKAGE)
        .output()
        .map_err(|e| format!("cannot run npm: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "npm install failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
                .lines()
                .last()
                .unwrap_or("")
        ));
    }
    if !cache.exists() {
        std::fs::rename(staging.path(), &cache)
            .map_err(|e| format!("cannot move the install into {}: {e}", cache.display()))?;
    }
    Ok(installed)
}

fn linux_registry(dir: &Path) -> SolutionsRegistry {
    let path = dir.join("testData/solutions/linux.json5");
    SolutionsRegistry::from_bytes_named(&std::fs::read(&path).unwrap(), "linux.json5").unwrap()
}

fn preference_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir.join("testData/preferences"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json5"))
        .collect();
    files.sort();
    files
}

fn file_name(p: &Path) -> String {
    p.file_name().unwrap().to_string_lossy().into_owned()
}

/// Devices of the golden tests: everything of the Linux registry installed, GNOME without
/// Orca, nothing.
fn devices(registry: &SolutionsRegistry) -> BTreeMap<&'static str, DeviceReport> {
    let all: Vec<&String> = registry.solutions.keys().collect();
    BTreeMap::from([
        ("all", DeviceReport::linux(all.iter().map(|s| s.as_str()))),
        (
            "gnome-no-orca",
            DeviceReport::linux(
                all.iter()
                    .map(|s| s.as_str())
                    .filter(|s| *s != "org.gnome.orca"),
            ),
        ),
        ("none", DeviceReport::linux(Vec::<String>::new())),
    ])
}

#[test]
fn every_gpii_preference_set_parses_and_matches() {
    let Some(dir) = gpii_universal() else { return };
    let registry = linux_registry(dir);
    let device = &devices(&registry)["all"];
    let files = preference_files(dir);
    let mut failures = Vec::new();
    let (mut chosen, mut settings) = (0usize, 0usize);
    for path in &files {
        let name = file_name(path);
        let result = PreferenceSet::from_bytes_named(&std::fs::read(path).unwrap(), &name)
            .and_then(|p| match_and_transform(&p, DEFAULT_CONTEXT, &registry, device));
        match result {
            Ok(o) => {
                chosen += o.instructions.solutions.len();
                settings += o
                    .instructions
                    .solutions
                    .values()
                    .flat_map(|s| s.settings_handlers.values())
                    .map(|h| h.settings.len())
                    .sum::<usize>();
            }
            Err(e) => failures.push(e.to_string()),
        }
    }
    println!(
        "gpii-universal: {} preference sets parsed and matched against linux.json5 ({} solutions): \
         {chosen} solution choices, {settings} settings",
        files.len() - failures.len(),
        registry.solutions.len()
    );
    assert!(
        files.len() >= 100,
        "expected GPII's ~116 preference sets, found {}",
        files.len()
    );
    assert!(failures.is_empty(), "{failures:#?}");
}

#[test]
fn gpii_solutions_registries_parse_and_round_trip() {
    let Some(dir) = gpii_universal() else { return };
    for os in ["linux", "win32", "darwin", "android"] {
        let path = dir.join(format!("testData/solutions/{os}.json5"));
        let bytes = std::fs::read(&path).unwrap();
        let name = format!("{os}.json5");
        match SolutionsRegistry::from_bytes_named(&bytes, &name) {
            Ok(reg) => {
                let raw =
                    attune_model::parse_json5(std::str::from_utf8(&bytes).unwrap(), &name).unwrap();
                let back = serde_json::to_value(&reg).unwrap();
                let same = reg
                    .solutions
                    .keys()
                    .filter(|id| raw.get(id.as_str()) == back.get(id.as_str()))
                    .count();
                let readable = attune_model::matchmaker::check_registry(&reg);
                println!(
                    "{name}: {} solutions parsed, {same} round-trip unchanged, transforms: {}",
                    reg.solutions.len(),
                    readable.map_or_else(|e| e.to_string(), |()| "all readable".to_owned())
                );
                if os == "linux" {
                    assert_eq!(
                        same,
                        reg.solutions.len(),
                        "linux.json5 must survive a round trip"
                    );
                }
            }
            Err(e) if os != "linux" => println!("{name}: does not parse: {e}"),
            Err(e) => panic!("linux.json5 must parse: {e}"),
        }
    }
}

/// Attune's matchmaker against GPII's, for every preference set × three devices: the
/// `matchMakerOutput` and the filtered preferences must be equal as JSON values, and every
/// setting GPII's transformer produces must be in Attune's instructions with the same value,
/// or listed as invalid.
#[test]
fn matchmaker_agrees_with_gpii_on_every_preference_set() {
    let Some(dir) = gpii_universal() else { return };
    if Command::new("node").arg("--version").output().is_err() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI is set and node is missing"
        );
        eprintln!("SKIPPED: node is not available to run GPII's matchmaker");
        return;
    }
    let registry = linux_registry(dir);
    let devices = devices(&registry);
    let tmp = tempfile::tempdir().unwrap();
    let devices_json = tmp.path().join("devices.json");
    std::fs::write(&devices_json, serde_json::to_vec(&devices).unwrap()).unwrap();
    let out_json = tmp.path().join("reference.json");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/gpii_reference.js");
    let run = Command::new("node")
        .arg(&script)
        .arg(dir)
        .arg(dir.join("testData/solutions/linux.json5"))
        .arg(&devices_json)
        .arg(&out_json)
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let reference: BTreeMap<String, BTreeMap<String, Value>> =
        serde_json::from_slice(&std::fs::read(&out_json).unwrap()).unwrap();

    let (mut compared, mut gpii_errors) = (0usize, Vec::new());
    let mut differences = Vec::new();
    for path in preference_files(dir) {
        let name = file_name(&path);
        let prefs = PreferenceSet::from_bytes_named(&std::fs::read(&path).unwrap(), &name).unwrap();
        for (device_name, device) in &devices {
            let Some(gpii) = reference.get(&name).and_then(|r| r.get(*device_name)) else {
                continue;
            };
            if let Some(e) = gpii.get("error") {
                gpii_errors.push(format!("{name}: {e}"));
                continue;
            }
            compared += 1;
            let ours = match_and_transform(&prefs, DEFAULT_CONTEXT, &registry, device).unwrap();
            let at = format!("{name} on {device_name}");
            if ours.matchmaker_output != js_numbers(gpii["matchMakerOutput"].clone()) {
                differences.push(format!(
                    "{at}: matchMakerOutput\n ours: {}\n gpii: {}",
                    ours.matchmaker_output, gpii["matchMakerOutput"]
                ));
            }
            if ours.filtered_preferences != js_numbers(gpii["preferences"].clone()) {
                differences.push(format!(
                    "{at}: preferences\n ours: {}\n gpii: {}",
                    ours.filtered_preferences, gpii["preferences"]
                ));
            }
            differences.extend(compare_settings(
                &at,
                &ours.instructions,
                &gpii["lifecycle"],
            ));
        }
    }
    println!(
        "compared with GPII's matchmaker: {compared} (preference set, device) pairs, \
         {} differences; GPII itself failed on {}: {gpii_errors:?}",
        differences.len(),
        gpii_errors.len()
    );
    assert!(compared >= 300, "too few comparisons: {compared}");
    let shown: Vec<&String> = differences.iter().take(40).collect();
    assert!(
        differences.is_empty(),
        "{} differences, the first {}:\n{}",
        differences.len(),
        shown.len(),
        shown
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join("\n")
    );
}

/// Every setting GPII would write must be written by us with the same value, or reported
/// invalid; and we write nothing GPII would not.
fn compare_settings(
    at: &str,
    ours: &attune_model::lifecycle::LifecycleInstructions,
    gpii: &Value,
) -> Vec<String> {
    let mut diffs = Vec::new();
    let empty = serde_json::Map::new();
    let gpii = gpii.as_object().unwrap_or(&empty);
    for (id, solution) in gpii {
        let handlers = solution
            .get("settingsHandlers")
            .and_then(Value::as_object)
            .unwrap_or(&empty);
        for (handler, block) in handlers {
            let settings = block
                .get("settings")
                .and_then(Value::as_object)
                .unwrap_or(&empty);
            for (setting, value) in settings {
                let mine = ours
                    .solutions
                    .get(id)
                    .and_then(|s| s.settings_handlers.get(handler))
                    .and_then(|h| h.settings.get(setting));
                let invalid = ours
                    .invalid
                    .iter()
                    .any(|i| &i.solution == id && &i.handler == handler && &i.setting == setting);
                if mine != Some(&js_numbers(value.clone())) && !invalid {
                    diffs.push(format!(
                        "{at}: {id}.{handler}.{setting}: ours {mine:?}, gpii {value}"
                    ));
                }
            }
        }
    }
    for (id, solution) in &ours.solutions {
        for (handler, h) in &solution.settings_handlers {
            for setting in h.settings.keys() {
                let theirs = gpii
                    .get(id)
                    .and_then(|s| s.get("settingsHandlers"))
                    .and_then(|s| s.get(handler))
                    .and_then(|s| s.get("settings"))
                    .and_then(|s| s.get(setting));
                if theirs.is_none() {
                    diffs.push(format!("{at}: {id}.{handler}.{setting}: ours only"));
                }
            }
        }
    }
    diffs
}

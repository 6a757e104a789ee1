//! Golden tests of the matchmaker: for each bundled snapset and a few device reports, the
//! lifecycle instructions, compared exactly with tests/data/expected/<snapset>/<device>.json.
//! A behaviour change is a reviewed diff of those files: regenerate them with
//! `UPDATE_EXPECT=1 cargo test -p attune-model --test golden` and read the diff.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use attune_model::bundled;
use attune_model::device::DeviceReport;
use attune_model::matchmaker::match_and_transform;
use attune_model::prefs::DEFAULT_CONTEXT;
use attune_model::registry::SolutionsRegistry;

fn expected_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/expected")
}

/// Everything installed; GNOME without Orca; nothing installed.
fn devices(registry: &SolutionsRegistry) -> BTreeMap<&'static str, DeviceReport> {
    let ids: Vec<&str> = registry.solutions.keys().map(String::as_str).collect();
    BTreeMap::from([
        ("all-installed", DeviceReport::linux(ids.iter().copied())),
        (
            "gnome-without-orca",
            DeviceReport::linux(ids.iter().copied().filter(|id| *id != "org.gnome.orca")),
        ),
        (
            "nothing-installed",
            DeviceReport::linux(Vec::<String>::new()),
        ),
    ])
}

#[test]
fn lifecycle_instructions_match_the_expected_files() {
    let registry = bundled::linux_registry().expect("the bundled Linux registry");
    let snapsets: Vec<_> = bundled::snapsets().collect();
    assert!(
        snapsets.len() >= 10,
        "expected at least 10 bundled snapsets, found {}",
        snapsets.len()
    );
    let update = std::env::var_os("UPDATE_EXPECT").is_some();
    let mut mismatches = Vec::new();
    let mut expected_files = BTreeSet::new();
    for snapset in &snapsets {
        let prefs = bundled::snapset(snapset.key).unwrap().unwrap();
        for (device_name, device) in devices(&registry) {
            let outcome = match_and_transform(&prefs, DEFAULT_CONTEXT, &registry, &device).unwrap();
            let actual = serde_json::to_string_pretty(&outcome.instructions).unwrap() + "\n";
            let file = expected_dir()
                .join(snapset.key)
                .join(format!("{device_name}.json"));
            expected_files.insert(file.clone());
            if update {
                std::fs::create_dir_all(file.parent().unwrap()).unwrap();
                std::fs::write(&file, &actual).unwrap();
                continue;
            }
            match std::fs::read_to_string(&file) {
                Ok(expected) if expected == actual => {}
                Ok(_) => mismatches.push(format!("{}: differs", file.display())),
                Err(e) => mismatches.push(format!("{}: {e}", file.display())),
            }
        }
    }
    // Expected files of snapsets that no longer exist would never be checked again.
    let mut stale = Vec::new();
    for dir in std::fs::read_dir(expected_dir())
        .into_iter()
        .flatten()
        .flatten()
    {
        for f in std::fs::read_dir(dir.path())
            .into_iter()
            .flatten()
            .flatten()
        {
            if !expected_files.contains(&f.path()) {
                stale.push(f.path().display().to_string());
            }
        }
    }
    assert!(
        mismatches.is_empty() && stale.is_empty(),
        "golden files out of date (rerun with UPDATE_EXPECT=1 and review the diff):\n{}\nstale: {stale:?}",
        mismatches.join("\n")
    );
}

#[test]
fn curated_snapsets_are_fully_supported_when_everything_is_installed() {
    let registry = bundled::linux_registry().unwrap();
    let all = &devices(&registry)["all-installed"];
    let mut problems = Vec::new();
    for snapset in bundled::snapsets() {
        let prefs = bundled::snapset(snapset.key).unwrap().unwrap();
        let li = match_and_transform(&prefs, DEFAULT_CONTEXT, &registry, all)
            .unwrap()
            .instructions;
        for i in &li.invalid {
            problems.push(format!(
                "{}: invalid {}.{}: {}",
                snapset.key, i.solution, i.setting, i.rule
            ));
        }
        for u in &li.unsupported {
            problems.push(format!(
                "{}: unsupported {}: {}",
                snapset.key, u.term, u.reason
            ));
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");
}

//! Crash tests (docs/test-matrix.md §3, C1–C9) at the crate level: a child process applying,
//! restoring or recovering is killed with SIGKILL at every failpoint it passes; a recovery
//! afterwards must bring back exactly the desktop as it was (GSettings keyfile, files,
//! directories), leave no temp file, and be idempotent.

use std::os::unix::process::ExitStatusExt;

use attune_model::lifecycle::LifecycleInstructions;
use attune_settings::failpoint::{CRASH_ENV, TRACE_ENV};
use serde_json::json;

use crate::common::{cursor_size, gsettings, instructions, with_launch, Desk, Snapshot};

const IFACE: &str = "org.gnome.desktop.interface";
const APPS: &str = "org.gnome.desktop.a11y.applications";
const SCHEMAS: &[&str] = &[IFACE, APPS, "org.attune.test"];
const ORCA_FILE: &str = "data/orca/user-settings.conf";

fn plan() -> LifecycleInstructions {
    let li = instructions(&[
        gsettings(
            "org.gnome.desktop.interface",
            IFACE,
            json!({"cursor-size": 48, "text-scaling-factor": 1.5, "gtk-theme": "HighContrast"}),
        ),
        (
            "org.gnome.orca",
            "gpii.orca",
            json!({"path": "${XDG_DATA_HOME}/orca/user-settings.conf"}),
            json!({"general.enableSpeech": true, "profiles.default.voice\\.rate": 70}),
        ),
        gsettings("t", "org.attune.test", json!({"list": ["x"]})),
    ]);
    with_launch(li, "org.gnome.orca", APPS, "screen-reader-enabled", true)
}

/// Makes a fresh starting desktop.
type MakeDesk = fn() -> Desk;

/// Two starting desktops: Orca's file absent (restore must delete it and its directories), and
/// present with content of its own (restore must bring it back byte for byte).
fn desks() -> Vec<(&'static str, MakeDesk)> {
    fn bare() -> Desk {
        let d = Desk::new();
        d.set(IFACE, "cursor-size", "32");
        d
    }
    fn with_orca() -> Desk {
        let d = bare();
        std::fs::create_dir_all(d.path("data/orca")).unwrap();
        std::fs::write(
            d.path(ORCA_FILE),
            "{\"general\": {\"enableSpeech\": false, \"keep\": [1, 2]},\n  \"profiles\": {}}\n",
        )
        .unwrap();
        d
    }
    vec![("no orca file", bare), ("orca file", with_orca)]
}

/// A fresh starting desktop, and how it looks before the test.
fn fresh(make: MakeDesk) -> (Desk, Snapshot) {
    let d = make();
    let before = d.snapshot(SCHEMAS);
    (d, before)
}

fn trace(d: &Desk, op: &str) -> Vec<String> {
    let t = d.path("steps.txt");
    let _ = std::fs::remove_file(&t);
    let o = d.run_raw(op, &plan(), &[(TRACE_ENV, t.to_str().unwrap())]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let mut steps: Vec<String> = Vec::new();
    for l in std::fs::read_to_string(&t).unwrap_or_default().lines() {
        if !steps.iter().any(|s| s == l) {
            steps.push(l.to_owned());
        }
    }
    steps
}

/// Asserts that the traced `steps` include each of `expected`.
#[track_caller]
fn assert_passes(steps: &[String], expected: &[&str]) {
    for step in expected {
        assert!(steps.iter().any(|s| s == step), "{step} not in {steps:?}");
    }
}

fn assert_back(d: &Desk, before: &Snapshot, what: &str) {
    assert_eq!(
        &d.snapshot(SCHEMAS),
        before,
        "{what}: desktop not restored exactly"
    );
    let leftovers: Vec<_> = std::fs::read_dir(d.journal_dir())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        leftovers.is_empty(),
        "{what}: journal dir not empty: {leftovers:?}"
    );
}

#[test]
fn a_crash_at_every_apply_step_is_undone_by_recovery() {
    for (name, make) in desks() {
        let steps = trace(&make(), "apply");
        // journal (4) + 5 writes (3 interface keys, 1 file, 1 test key… launch) + marker.
        assert_passes(
            &steps,
            &[
                "journal.originals.renamed",
                "apply.setting:5",
                "apply.done_before_marker",
                "journal.applied.committed",
            ],
        );
        for step in &steps {
            let (d, before) = fresh(make);
            d.crash("apply", &plan(), step);
            let r = d.recover();
            assert_eq!(r["failed"], 0, "{name} {step}: {r:#}");
            assert_back(&d, &before, &format!("{name}: crash at {step}, recover"));
            let again = d.recover();
            assert_eq!(
                again["restored"], 0,
                "{name} {step}: second recovery found work"
            );
            assert_back(&d, &before, &format!("{name}: {step}, second recover"));
        }
    }
}

#[test]
fn a_crash_at_every_restore_step_is_finished_by_recovery() {
    for (name, make) in desks() {
        let d = make();
        d.apply(&plan());
        let steps = trace(&d, "restore");
        assert_passes(
            &steps,
            &[
                "restore.setting:0",
                "restore.done_before_close",
                "journal.close.removed",
            ],
        );
        for step in &steps {
            let (d, before) = fresh(make);
            d.apply(&plan());
            d.crash("restore", &plan(), step);
            d.recover();
            assert_back(
                &d,
                &before,
                &format!("{name}: restore crash at {step}, recover"),
            );
        }
    }
}

#[test]
fn a_crash_during_recovery_converges_on_the_next_recovery() {
    for (name, make) in desks() {
        let d = make();
        d.crash("apply", &plan(), "apply.done_before_marker");
        let steps = trace(&d, "recover");
        assert_passes(&steps, &["recover.setting:0"]);
        for step in &steps {
            let (d, before) = fresh(make);
            d.crash("apply", &plan(), "apply.done_before_marker");
            d.crash("recover", &plan(), step);
            // Crash again at the same step if the second recovery still reaches it.
            let o = d.run_raw("recover", &plan(), &[(CRASH_ENV, step.as_str())]);
            assert!(o.status.success() || o.status.signal() == Some(9), "{o:?}");
            d.recover();
            assert_back(
                &d,
                &before,
                &format!("{name}: recover crash at {step} twice"),
            );
        }
    }
}

#[test]
fn a_crash_in_a_second_apply_restores_the_first_originals() {
    let (_, make) = desks()[1];
    let (d, before) = fresh(make);
    d.apply(&cursor_size(40));
    d.crash("apply", &plan(), "apply.setting:2");
    d.recover();
    assert_back(&d, &before, "crash in a second apply");
}

//! The journal under bad conditions: a full disk while journalling, and damaged journal files
//! (docs/test-matrix.md B6).

use std::process::Command;

use attune_model::lifecycle::LifecycleInstructions;
use attune_settings::failpoint::FAIL_ENV;
use serde_json::json;

use crate::common::{cursor_size, gsettings, instructions, kinds, Desk};

const IFACE: &str = "org.gnome.desktop.interface";
const SCHEMAS: &[&str] = &[IFACE];

fn three() -> LifecycleInstructions {
    instructions(&[gsettings(
        "i",
        IFACE,
        json!({"cursor-size": 48, "text-scaling-factor": 1.5, "gtk-theme": "HighContrast"}),
    )])
}

fn desk() -> Desk {
    let d = Desk::new();
    d.set(IFACE, "cursor-size", "32");
    d
}

#[test]
fn a_full_disk_while_journalling_changes_nothing() {
    let d = desk();
    let before = d.snapshot(SCHEMAS);
    let o = d.run_raw("apply", &three(), &[(FAIL_ENV, "journal.originals.write")]);
    assert!(o.status.success());
    let out: serde_json::Value =
        serde_json::from_slice(&std::fs::read(d.path("child-out.json")).unwrap()).unwrap();
    let err = out["err"].as_str().expect("apply must fail");
    assert!(err.contains("nothing was changed"), "{err}");
    assert!(err.contains("No space left on device"), "{err}");
    assert_eq!(d.snapshot(SCHEMAS), before);
    assert!(!d.journal_file().exists());
    assert_eq!(
        std::fs::read_dir(d.journal_dir()).unwrap().count(),
        0,
        "temp file left"
    );
}

#[test]
fn a_full_disk_in_a_second_apply_keeps_the_first_journal_restorable() {
    let d = desk();
    let before = d.snapshot(SCHEMAS);
    d.apply(&cursor_size(40));
    let o = d.run_raw("apply", &three(), &[(FAIL_ENV, "journal.originals.write")]);
    assert!(o.status.success());
    assert_eq!(
        d.get(IFACE, "cursor-size"),
        "40",
        "the second apply changed nothing"
    );
    assert_eq!(d.get(IFACE, "gtk-theme"), "'Adwaita'");
    d.restore();
    assert_eq!(d.snapshot(SCHEMAS), before);
}

/// A real full file system: a 64 KiB tmpfs as the journal dir, filled up. Needs root (mount);
/// elsewhere the failpoint test above covers the same path.
#[test]
fn a_real_full_tmpfs_while_journalling_changes_nothing() {
    let d = desk();
    let dir = d.journal_dir();
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=64k", "tmpfs"])
        .arg(&dir)
        .output()
        .is_ok_and(|o| o.status.success());
    if !mounted {
        eprintln!("skipped: cannot mount a tmpfs here (not root)");
        return;
    }
    struct Unmount(std::path::PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg(&self.0).status();
        }
    }
    let _guard = Unmount(dir.clone());
    // Fill it: write until the disk says no.
    let mut f = std::fs::File::create(dir.join("filler")).unwrap();
    let block = vec![0u8; 4096];
    while std::io::Write::write_all(&mut f, &block).is_ok() {}
    drop(f);
    let before = d.snapshot(SCHEMAS);
    let err = d.run("apply", &three()).unwrap_err();
    assert!(err.contains("nothing was changed"), "{err}");
    assert_eq!(d.snapshot(SCHEMAS), before);
    assert!(!d.journal_file().exists());
}

/// Applies, then damages the journal with `damage`, then recovers.
fn damaged(damage: impl Fn(&mut Vec<u8>)) -> (Desk, serde_json::Value) {
    let d = desk();
    d.apply(&three());
    let p = d.journal_file();
    let mut bytes = std::fs::read(&p).unwrap();
    damage(&mut bytes);
    std::fs::write(&p, &bytes).unwrap();
    let r = d.recover();
    (d, r)
}

/// Byte offset of the start of line `n` (1-based).
fn line_start(b: &[u8], n: usize) -> usize {
    let mut at = 0;
    for _ in 1..n {
        at += b[at..].iter().position(|&c| c == b'\n').unwrap() + 1;
    }
    at
}

#[test]
fn a_truncated_journal_restores_the_records_before_the_cut() {
    // Lines: header, 3 originals (cursor-size, gtk-theme, text-scaling-factor), applied.
    let (d, r) = damaged(|b| {
        let cut = line_start(b, 4) + 20;
        b.truncate(cut);
    });
    let dmg = &r["journal_damage"];
    assert_eq!(dmg["records_kept"], 2, "{r:#}");
    assert_eq!(
        dmg["lines_dropped"], 1,
        "the cut line (the marker after it is gone)"
    );
    assert_eq!(r["restored"], 2);
    assert_eq!(r["journal"], "closed");
    assert_eq!(d.get(IFACE, "cursor-size"), "32");
    assert_eq!(d.get(IFACE, "gtk-theme"), "'Adwaita'");
    assert!(!d.is_set("org/gnome/desktop/interface", "gtk-theme"));
    // The record that was cut off is lost: its setting stays as applied, and the damaged file
    // is kept for inspection.
    assert_eq!(d.get(IFACE, "text-scaling-factor"), "1.5");
    assert!(std::path::Path::new(dmg["kept_at"].as_str().unwrap()).exists());
    assert!(!d.journal_file().exists());
}

#[test]
fn a_bit_flip_drops_that_record_and_the_rest() {
    let (d, r) = damaged(|b| {
        let at = line_start(b, 3) + 100;
        b[at] ^= 0x01;
    });
    assert_eq!(r["journal_damage"]["records_kept"], 1, "{r:#}");
    assert!(r["journal_damage"]["detail"]
        .as_str()
        .unwrap()
        .contains("line 3"));
    assert_eq!(d.get(IFACE, "cursor-size"), "32");
}

#[test]
fn an_empty_journal_is_reported_and_set_aside() {
    let (d, r) = damaged(Vec::clear);
    assert_eq!(r["restored"], 0);
    assert!(r["journal_damage"]["detail"]
        .as_str()
        .unwrap()
        .contains("empty"));
    assert!(!d.journal_file().exists());
    assert_eq!(d.status()["state"], "closed");
}

#[test]
fn a_journal_of_another_version_is_refused_and_kept() {
    let d = desk();
    d.apply(&three());
    let p = d.journal_file();
    let text = std::fs::read_to_string(&p).unwrap();
    std::fs::write(&p, text.replacen("attune-journal 1", "attune-journal 7", 1)).unwrap();
    let err = d
        .run("recover", &LifecycleInstructions::default())
        .unwrap_err();
    assert!(err.contains("version 7"), "{err}");
    assert!(p.exists(), "a journal we cannot read must not be discarded");
    assert_eq!(d.get(IFACE, "cursor-size"), "48", "nothing was guessed");
    assert!(d.run("status", &LifecycleInstructions::default()).is_err());
}

#[test]
fn status_reports_an_interrupted_apply() {
    let d = desk();
    d.crash("apply", &three(), "apply.setting:1");
    let s = d.status();
    assert_eq!(s["state"], "open");
    assert_eq!(s["entries"], 3);
    assert_eq!(s["applied"], false);
}

/// A temp file beside the journal may be a crashed write's or one in flight in another process:
/// status only reads, and the next restore, recovery or apply (which the caller runs under its
/// state lock) sweeps it.
#[test]
fn status_leaves_a_journal_temp_file_and_recovery_sweeps_it() {
    let d = desk();
    d.crash("apply", &three(), "journal.originals.fsynced");
    let entries = || std::fs::read_dir(d.journal_dir()).unwrap().count();
    assert_eq!(entries(), 1, "the temp file");
    assert_eq!(d.status()["state"], "closed");
    assert_eq!(entries(), 1, "status removed the temp file");
    d.recover();
    assert_eq!(entries(), 0);
}

/// The app reads the status whenever Attune's state dir changes, on another thread than its
/// key-in (and `attune status` may run beside a key-in of the app): a status read between a
/// journal write's temp file and its rename must not make that write fail. It did, with "cannot
/// write the settings journal: No such file or directory", when status swept the temp file; the
/// key-in then changed nothing (found by scripts/test-desktop.sh).
#[test]
fn a_status_read_during_a_journal_write_does_not_break_it() {
    let d = desk();
    let child = d.paused("apply", &three(), "journal.originals.fsynced");
    assert_eq!(d.status()["state"], "closed");
    let r = d.go(child);
    assert!(kinds(&r).values().all(|k| k == "applied"), "{r:#}");
    assert_eq!(d.get(IFACE, "cursor-size"), "48");
    assert_eq!(d.status()["state"], "open");
}

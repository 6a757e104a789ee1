//! A settings journal damaged from its first byte (audit, issue 12 item 17): what it recorded
//! cannot be read, so Attune must not read it as "nothing to put back" — the next key-in would
//! then record the previous person's values as the originals. Every key-in is refused with the
//! stable kind `journal_damaged` and nothing is written, until an administrator keeps the file
//! aside with `attune recover --discard-journal`.

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

use attune_e2e::{assert_exit, Desktop};
use serde_json::Value;

use crate::common::{key_out_restores, used_desktop, TOUCHED_SCHEMAS};

/// The snapset these tests key in with.
const KEY: &str = "low_vision_combined";

fn journal(d: &Desktop) -> PathBuf {
    d.data_home().join("attune/journal/settings.journal")
}

/// Files beside the journal whose name starts with `settings.journal.damaged-`.
fn kept_aside(d: &Desktop) -> Vec<PathBuf> {
    let dir = journal(d).parent().unwrap().to_path_buf();
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("settings.journal.damaged-"))
        })
        .collect()
}

#[test]
fn a_journal_damaged_from_its_start_refuses_key_in_until_it_is_discarded() {
    let (d, before) = used_desktop();
    // A journal that really is where Attune keeps it: one key-in writes it.
    d.attune_ok(&["key-in", KEY]);
    d.attune_ok(&["key-out"]);
    let garbage = b"\x00\x17\xffnot a journal at all\n\x01\x02";
    std::fs::create_dir_all(journal(&d).parent().unwrap()).unwrap();
    std::fs::write(journal(&d), garbage).unwrap();

    // Refused, with the stable kind and the way out; nothing written to the desktop.
    let o = d.attune(&["key-in", KEY, "--json"]);
    assert_exit(&o, 8);
    let err: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(err["error"], "journal_damaged", "{err}");
    let message = err["message"].as_str().unwrap();
    assert!(message.contains("is damaged"), "{message}");
    assert!(
        message.contains("attune recover --discard-journal"),
        "{message}"
    );
    assert_eq!(d.snapshot(TOUCHED_SCHEMAS), before, "nothing written");
    let o = d.attune(&["key-in", KEY]);
    assert_ne!(o.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--discard-journal"));
    // A plain recover does not get past it either, and the file is left exactly as it was.
    assert_eq!(d.attune(&["recover"]).status.code(), Some(8));
    assert_eq!(std::fs::read(journal(&d)).unwrap(), garbage);
    assert_eq!(d.snapshot(TOUCHED_SCHEMAS), before);

    // The administrator keeps it aside: beside the journal, private, byte for byte.
    let o = d.attune_ok(&["recover", "--discard-journal", "--json"]);
    let out: Value = serde_json::from_slice(&o.stdout).unwrap();
    let kept = kept_aside(&d);
    assert_eq!(kept.len(), 1, "{kept:?}");
    assert_eq!(out["kept_at"], kept[0].display().to_string());
    assert_eq!(std::fs::read(&kept[0]).unwrap(), garbage);
    let mode = std::fs::metadata(&kept[0]).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    assert!(!journal(&d).exists());

    // Key-in works again, and key-out puts back this desktop's own values.
    d.attune_ok(&["key-in", KEY]);
    key_out_restores(&d, &[], &before);
}

#[test]
fn discard_journal_never_throws_away_a_readable_journal() {
    let (d, before) = used_desktop();
    d.attune_ok(&["key-in", KEY]);

    let o = d.attune(&["recover", "--discard-journal"]);

    assert_exit(&o, 8);
    assert!(String::from_utf8_lossy(&o.stderr).contains("nothing to discard"));
    assert!(kept_aside(&d).is_empty());
    key_out_restores(&d, &[], &before);
}

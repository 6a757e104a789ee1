//! Two processes writing the same GSettings keyfile (issue 21 item 6). GLib's keyfile backend
//! keeps the whole file in memory and rewrites all of it on each write, reloading only when a main
//! loop dispatches its file monitor: a process with an older copy puts back what another wrote
//! since. Attune reads the file afresh for each write and each read-back, and writes a key once
//! more when another process rewrote it between the write and the read-back.
//!
//! The child pauses at a failpoint (`ATTUNE_TEST_PAUSE_AT`) so that the other process's write
//! lands at exactly the moment under test.

use std::process::Child;

use serde_json::json;

use crate::common::{gsettings, instructions, kinds, Desk};

const TEST: &str = "org.attune.test";
const GROUP: &str = "org/attune/test";

/// Starts `apply` in a child paused after its first write, waits until it is paused.
fn apply_paused(d: &Desk, settings: serde_json::Value) -> Child {
    let li = instructions(&[gsettings("org.attune.test", TEST, settings)]);
    d.paused("apply", &li, "apply.setting:0")
}

fn keyfile_value(d: &Desk, key: &str) -> Option<String> {
    d.keyfile()
        .get(&(GROUP.to_owned(), key.to_owned()))
        .cloned()
}

#[test]
fn a_key_another_process_wrote_during_an_apply_survives_the_applys_next_write() {
    let d = Desk::new();
    d.set(TEST, "ratio", "0.5");
    // Two keys, two writes ("count" first); between them another process sets "flag".
    let child = apply_paused(&d, json!({"count": 42, "name": "x"}));
    d.set(TEST, "flag", "true");
    let r = d.go(child);

    assert!(kinds(&r).values().all(|k| k == "applied"), "{r:#}");
    assert_eq!(keyfile_value(&d, "count").as_deref(), Some("42"));
    assert_eq!(keyfile_value(&d, "name").as_deref(), Some("'x'"));
    // Written from a copy of the file older than the other process's write, "flag" would be gone.
    assert_eq!(keyfile_value(&d, "flag").as_deref(), Some("true"));
    assert_eq!(keyfile_value(&d, "ratio").as_deref(), Some("0.5"));
}

#[test]
fn a_key_another_process_overwrote_before_the_read_back_is_written_once_more() {
    let d = Desk::new();
    d.set(TEST, "ratio", "0.5");
    let keyfile = d.path("config/glib-2.0/settings/keyfile");
    let before = std::fs::read_to_string(&keyfile).unwrap();

    let child = apply_paused(&d, json!({"count": 42}));
    assert_eq!(keyfile_value(&d, "count").as_deref(), Some("42"));
    // Another process, holding the file as it was before the apply, writes a key of its own:
    // GLib rewrites the whole file from its copy (atomically, by rename), without "count".
    let stale = format!("{before}flag=true\n");
    let tmp = keyfile.with_extension("other");
    std::fs::write(&tmp, stale).unwrap();
    std::fs::rename(&tmp, &keyfile).unwrap();
    assert_eq!(keyfile_value(&d, "count"), None);
    let r = d.go(child);

    assert_eq!(kinds(&r)["count"], "applied", "{r:#}");
    assert_eq!(keyfile_value(&d, "count").as_deref(), Some("42"));
    assert_eq!(keyfile_value(&d, "flag").as_deref(), Some("true"));
    assert_eq!(keyfile_value(&d, "ratio").as_deref(), Some("0.5"));
    assert_eq!(d.get(TEST, "count"), "42");

    // And the key-out puts back the original (unset) while keeping the other process's key.
    let rr = d.restore();
    assert_eq!(rr["failed"], 0, "{rr:#}");
    assert_eq!(keyfile_value(&d, "count"), None);
    assert_eq!(keyfile_value(&d, "flag").as_deref(), Some("true"));
}

//! The `attune` command on a throw-away desktop with the real GSettings keyfile backend: key in a
//! snapset, see the desktop change (read back with `gsettings`), key out, and find every value
//! exactly as before — including keys that were unset.

use attune_e2e::{assert_exit, assert_says, Desktop};
use serde_json::Value;

use crate::common::{
    fingerprint, high_contrast, key_out_restores, prepared_desktop, text_scale, used_desktop,
    TOUCHED_SCHEMAS,
};

fn json(o: &std::process::Output) -> Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}\nstderr: {}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        )
    })
}

#[test]
fn snapsets_json_lists_keys_and_names() {
    let d = Desktop::new();
    let list = json(&d.attune_ok(&["snapsets", "--json"]));
    let list = list.as_array().unwrap();
    assert!(list.len() >= 10, "at least 10 bundled snapsets");
    for s in list {
        assert!(s["key"].as_str().is_some_and(|k| !k.is_empty()));
        assert!(s["name"].as_str().is_some_and(|k| !k.is_empty()));
    }
    assert!(list.iter().any(|s| s["key"] == "snapset_1a"));
}

#[test]
fn key_in_changes_the_desktop_and_key_out_restores_it_exactly() {
    let (d, before) = used_desktop();
    let scaling_before = text_scale(&d);

    let o = d.attune_ok(&["--profile", "testing", "key-in", "snapset_1a"]);
    assert_says(&o, "applied");
    assert_ne!(text_scale(&d), scaling_before, "text got larger");
    assert_ne!(d.snapshot(TOUCHED_SCHEMAS), before);

    let st = json(&d.attune(&["status", "--json", "--profile", "testing"]));
    assert_eq!(st["state"], "active");
    assert_eq!(st["source"], "snapset");
    assert_eq!(st["journal"], "open");
    assert!(st["applied"].as_array().is_some_and(|a| !a.is_empty()));
    assert_eq!(st["outbox"], 0);

    d.attune_ok(&["key-out", "--profile", "testing"]);
    assert_eq!(d.snapshot(TOUCHED_SCHEMAS), before);
    let st = json(&d.attune(&["status", "--json"]));
    assert_eq!(st["state"], "idle");
    assert_eq!(st["journal"], "closed");
}

#[test]
fn every_snapset_round_trips_exactly() {
    let (d, before) = used_desktop();
    let list = json(&d.attune(&["snapsets", "--json"]));
    for s in list.as_array().unwrap() {
        let key = s["key"].as_str().unwrap();
        let o = d.attune_with(&["key-in", key], &[("ATTUNE_PROFILE", "testing")]);
        assert!(
            o.status.code() == Some(0) || o.status.code() == Some(3),
            "{key}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        d.attune_with_ok(&["key-out"], &[("ATTUNE_PROFILE", "testing")]);
        assert_eq!(d.snapshot(TOUCHED_SCHEMAS), before, "after {key}");
    }
}

#[test]
fn keying_in_another_key_keys_the_first_out() {
    let (d, before) = used_desktop();
    d.attune_ok(&["key-in", "high_contrast"]);
    assert_eq!(high_contrast(&d), "true");
    d.attune_ok(&["key-in", "snapset_1a"]);
    assert_eq!(
        high_contrast(&d),
        "false",
        "the first person's contrast is gone"
    );
    let st = json(&d.attune(&["status", "--json"]));
    assert_eq!(st["key"], fingerprint("snapset_1a"));
    key_out_restores(&d, &[], &before);
}

/// Kiosk units send stdout to the journal: with stdout a pipe (as here), no output names the key,
/// only its fingerprint — text or `--json`, key-in, status and relogin alike.
#[test]
fn the_key_is_never_printed_to_a_pipe() {
    let (d, before) = used_desktop();

    let text = d.attune(&["key-in", "snapset_1a"]);
    let as_json = d.attune(&["key-in", "snapset_1a", "--json"]);
    let status_text = d.attune(&["status"]);
    let status_json = d.attune(&["status", "--json"]);

    for (what, o) in [
        ("key-in", &text),
        ("key-in --json", &as_json),
        ("status", &status_text),
        ("status --json", &status_json),
    ] {
        assert_exit(o, 0);
        let out = String::from_utf8_lossy(&o.stdout);
        assert!(!out.contains("snapset_1a"), "{what} printed the key: {out}");
        assert!(out.contains(&fingerprint("snapset_1a")), "{what}: {out}");
    }
    assert_eq!(json(&as_json)["key"], fingerprint("snapset_1a"));
    assert_eq!(json(&status_json)["key"], fingerprint("snapset_1a"));
    key_out_restores(&d, &[], &before);
}

#[test]
fn unknown_snapset_is_exit_6_and_lists_what_exists() {
    let d = Desktop::new();
    let o = d.attune(&["key-in", "no_such_snapset"]);
    assert_eq!(o.status.code(), Some(6));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("snapset_1a"), "{err}");
    let o = d.attune(&["key-in", "no_such_snapset", "--json"]);
    assert_eq!(json(&o)["error"], "unknown_snapset");
    assert!(d.keyfile().is_empty(), "nothing was touched");
}

#[test]
fn key_out_when_nobody_is_keyed_in_is_exit_9() {
    let d = Desktop::new();
    let o = d.attune(&["key-out"]);
    assert_eq!(o.status.code(), Some(9));
}

#[test]
fn profile_is_global_and_env_sets_it_too() {
    let d = Desktop::new();
    let a = d.attune(&["--profile", "testing", "status", "--json"]);
    let b = d.attune(&["status", "--json", "--profile", "testing"]);
    let c = d.attune_with(&["status", "--json"], &[("ATTUNE_PROFILE", "testing")]);
    for o in [&a, &b, &c] {
        assert!(o.status.success());
        assert_eq!(json(o)["profile"], "testing");
    }
    let o = d.attune(&["--profile", "staging", "status"]);
    assert_eq!(o.status.code(), Some(2), "clap rejects an unknown profile");
}

#[test]
fn a_broken_config_file_is_named_and_nothing_runs() {
    let d = Desktop::new();
    d.user_config("[cloud]\nurl = 12\n");
    let o = d.attune(&["key-in", "snapset_1a"]);
    assert_eq!(o.status.code(), Some(5));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("attune.toml"), "{err}");
    assert!(d.keyfile().is_empty());
}

#[test]
fn an_unwritable_orca_file_fails_alone_and_the_rest_applies() {
    let d = prepared_desktop();
    // Orca's settings file exists but cannot be replaced: immutable, which stops root too.
    let orca = d.data_home().join("orca");
    std::fs::create_dir_all(&orca).unwrap();
    let file = orca.join("user-settings.conf");
    std::fs::write(&file, "{}").unwrap();
    let before = d.snapshot(TOUCHED_SCHEMAS);
    let immutable = std::process::Command::new("chattr")
        .arg("+i")
        .arg(&file)
        .status()
        .is_ok_and(|s| s.success());
    if !immutable {
        eprintln!("skipped: chattr +i is not available on this file system");
        return;
    }
    let o = d.attune(&["key-in", "screen_reader", "--json"]);
    let _ = std::process::Command::new("chattr")
        .arg("-i")
        .arg(&file)
        .status();
    let out = json(&o);
    let rows = out["applied"].as_array().unwrap();
    assert!(
        rows.iter().any(|r| r["outcome"] == "failed"),
        "the Orca settings failed: {out}"
    );
    assert!(rows.iter().any(|r| r["outcome"] == "applied"), "{out}");
    assert_eq!(o.status.code(), Some(3));
    key_out_restores(&d, &[], &before);
}

#[test]
fn a_full_disk_while_journalling_changes_nothing_and_says_why() {
    let (d, before) = used_desktop();
    // Test-only failpoint: the journal's first write fails with ENOSPC.
    let o = d.attune_with(
        &["key-in", "low_vision_combined"],
        &[("ATTUNE_TEST_FAIL_AT", "journal.originals.write")],
    );
    assert_exit(&o, 8);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("nothing was changed"), "{err}");
    assert!(err.contains("No space left on device"), "{err}");
    assert_eq!(d.snapshot(TOUCHED_SCHEMAS), before, "nothing half-applied");
    let st = json(&d.attune(&["status", "--json"]));
    assert_eq!(st["state"], "idle");
    assert_eq!(st["journal"], "closed");
    // And the next key-in works.
    d.attune_ok(&["key-in", "low_vision_combined"]);
    key_out_restores(&d, &[], &before);
}

#[test]
fn a_second_process_is_refused_while_the_state_is_locked() {
    let d = Desktop::new();
    // Another Attune process holds the state lock (we take it the same way: flock).
    let lock_dir = d.dir.path().join("state/attune");
    std::fs::create_dir_all(&lock_dir).unwrap();
    let lock = std::fs::File::create(lock_dir.join("attune.lock")).unwrap();
    lock.try_lock().unwrap();
    std::fs::write(lock_dir.join("attune.lock"), "4242").unwrap();
    let o = d.attune(&["key-in", "snapset_1a"]);
    assert_exit(&o, 4);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("another Attune process (process 4242)"),
        "{err}"
    );
    assert!(d.keyfile().is_empty(), "nothing applied");
    drop(lock);
    d.attune_ok(&["key-in", "snapset_1a"]);
    d.attune_ok(&["key-out"]);
}

#[test]
fn a_reader_that_has_gone_away_is_not_a_panic() {
    // `attune snapsets | head -1`, with the reader gone before the first line: the write fails
    // with a broken pipe, which println! turned into a panic (exit 101 and a backtrace note).
    let d = prepared_desktop();
    let before = d.snapshot(TOUCHED_SCHEMAS);
    for args in [
        &["snapsets"][..],
        &["snapsets", "--json"],
        &["key-in", "snapset_1a"],
        &["status"],
        &["key-out"],
    ] {
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let o = d
            .command(attune_e2e::workspace_bin("attune-cli", "attune"))
            .args(args)
            .stdout(writer)
            .stderr(std::process::Stdio::piped())
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(0), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
    // The key-in and key-out did their work although nobody read what they said.
    assert_eq!(d.snapshot(TOUCHED_SCHEMAS), before);
}

//! `attune forget` (docs/design.md §10.3; issue 17 item 3) on the real binary against the real
//! `attune-cloud`: this computer forgets the person (their saved settings and, once they say so,
//! their unsent changes; keyed in, they are keyed out first), and `--everywhere` has the cloud
//! forget their key first, telling its grace period; a cloud that cannot be reached forgets
//! nothing anywhere.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use attune_e2e::{assert_exit, Desktop};
use serde_json::Value;

use crate::common::{cloud_env, fingerprint, text_scale, used_desktop};

const PERSON: &str = "sam-0c9e41d7";

/// Every file under the desktop's state, cache and data dirs (where Attune keeps anything).
fn files(d: &Desktop) -> BTreeSet<PathBuf> {
    fn walk(dir: &Path, out: &mut BTreeSet<PathBuf>) {
        let Ok(rd) = std::fs::read_dir(dir) else {
            return;
        };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, out);
            } else {
                out.insert(p);
            }
        }
    }
    let mut out = BTreeSet::new();
    for sub in ["state", "cache", "data"] {
        walk(&d.path(sub), &mut out);
    }
    out
}

/// Whether any of `files` holds `needle`.
fn any_holds(files: &BTreeSet<PathBuf>, needle: &str) -> Option<PathBuf> {
    files
        .iter()
        .find(|f| {
            std::fs::read(f).is_ok_and(|b| b.windows(needle.len()).any(|w| w == needle.as_bytes()))
        })
        .cloned()
}

/// A cloud holding `PERSON`'s preferences (the low-vision snapset's), started in `d`'s dir.
fn cloud_with_person(d: &Desktop) -> attune_testkit::serving::Serving {
    crate::real_cloud::cloud_with_person(d.dir.path(), PERSON)
}

#[test]
fn this_computer_forgets_the_person_and_keeps_their_unsent_changes_until_told() {
    let (d, before) = used_desktop();
    let cloud = cloud_with_person(&d);
    let url = cloud.url.clone();
    let env = cloud_env(&url);
    let untouched = files(&d);

    // Keyed in from the cloud (their answer cached here), then a change the cloud cannot take
    // (it has gone away): it waits in their outbox.
    d.attune_with_ok(&["key-in", PERSON], &env);
    drop(cloud);
    let o = d.attune_with(&["set", "fontSize", "20"], &env);
    assert_eq!(o.status.code(), Some(12), "applied here, not yet saved");
    assert_ne!(text_scale(&d), "", "keyed in");

    // Forgetting would drop the change: refused, listed, nothing forgotten.
    let o = d.attune_with(&["forget", "--this-computer", "--json"], &env);
    assert_exit(&o, 13);
    let err: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(err["error"], "unsent_changes", "{err}");
    assert!(
        err["message"]
            .as_str()
            .unwrap()
            .contains("(Text size: 166.67 %)"),
        "the change is named: {err}"
    );
    let st: Value =
        serde_json::from_slice(&d.attune_with_ok(&["status", "--json"], &env).stdout).unwrap();
    assert_eq!(st["state"], "active", "still keyed in: {st}");

    // Told: keyed out first (the computer put back), then nothing of theirs is left.
    let o = d.attune_with_ok(&["forget", "--this-computer", "--yes", "--json"], &env);
    let out: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(out["keyed_out_first"], true, "{out}");
    assert_eq!(out["saved_settings_removed"], true, "{out}");
    assert_eq!(out["unsent_dropped"].as_array().unwrap().len(), 1, "{out}");
    assert_eq!(
        out["message_text"],
        "This computer has forgotten you: your saved settings and unsent changes are gone from it."
    );
    assert_eq!(
        d.snapshot(crate::common::TOUCHED_SCHEMAS),
        before,
        "the computer is put back"
    );
    let left = files(&d);
    let new: BTreeSet<_> = left.difference(&untouched).collect();
    // What this computer keeps of its own: the install secrets, the session-less state, the
    // cloud contact history (no key, no fingerprint). Nothing sealed for the person.
    for f in &new {
        let name = f.file_name().unwrap().to_string_lossy();
        assert!(
            !name.ends_with(".prefs") && !name.contains("outbox"),
            "a file of the person is left: {}",
            f.display()
        );
    }
    assert_eq!(any_holds(&left, PERSON), None, "a file holds the key");
    assert_eq!(
        any_holds(&left, &fingerprint(PERSON)),
        None,
        "a file holds the key's fingerprint"
    );

    // Offline now, with nothing saved here: the key-in has nothing to fall back on.
    let o = d.attune_with(&["key-in", PERSON], &env);
    assert_exit(&o, 10);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("Can't reach the server and there are no saved settings"),
        "{err}"
    );
}

#[test]
fn everywhere_the_cloud_forgets_the_key_first_and_says_for_how_long_it_keeps_the_preferences() {
    let (d, before) = used_desktop();
    let cloud = cloud_with_person(&d);
    let url = cloud.url.clone();
    let env = cloud_env(&url);
    d.attune_with_ok(&["key-in", PERSON], &env);

    // The cloud cannot be reached: nothing is forgotten, anywhere.
    let away = cloud_env("http://127.0.0.1:9");
    let o = d.attune_with(&["forget", "--everywhere", "--json"], &away);
    assert_exit(&o, 10);
    let err: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(
        err["message"]
            .as_str()
            .unwrap()
            .starts_with("Nothing has been forgotten: "),
        "{err}"
    );
    let st: Value =
        serde_json::from_slice(&d.attune_with_ok(&["status", "--json"], &env).stdout).unwrap();
    assert_eq!(st["state"], "active", "still keyed in: {st}");

    let o = d.attune_with_ok(&["forget", "--everywhere", "--json"], &env);
    let out: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(out["cloud_deletes_within_days"], 30, "{out}");
    assert_eq!(
        out["message_text"],
        "You have been forgotten: the preferences server no longer knows your key and deletes your preferences within 30 days; this computer has forgotten you."
    );
    assert_eq!(d.snapshot(crate::common::TOUCHED_SCHEMAS), before);

    // The cloud no longer knows the key: a key-in is refused, and nothing is applied.
    let o = d.attune_with(&["key-in", PERSON], &env);
    assert_exit(&o, 6);
    assert_eq!(d.snapshot(crate::common::TOUCHED_SCHEMAS), before);

    // Forgetting again: the cloud did not know the key, this computer had nothing.
    let o = d.attune_with_ok(&["forget", PERSON, "--everywhere", "--json"], &env);
    let out: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(out["cloud_did_not_know_the_key"], true, "{out}");
    assert_eq!(out["saved_settings_removed"], false, "{out}");
}

#[test]
fn nobody_keyed_in_and_no_key_is_nothing_to_forget_and_a_snapset_is_not_a_person() {
    let d = Desktop::new();
    let o = d.attune_with(
        &["forget", "--this-computer"],
        &[("ATTUNE_PROFILE", "testing")],
    );
    assert_exit(&o, 9);
    let o = d.attune_with(
        &["forget", "large_text", "--this-computer"],
        &[("ATTUNE_PROFILE", "testing")],
    );
    assert_exit(&o, 1);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("forgetting a snapset"), "{err}");
    let o = d.attune_with(&["forget", "large_text"], &[("ATTUNE_PROFILE", "testing")]);
    assert_exit(&o, 2);
}

#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;
use crate::engine::{Appearance, SaveState};

fn leak(s: &str) -> &'static str {
    Box::leak(s.to_owned().into_boxed_str())
}

fn state_of(s: &str) -> State {
    match s {
        "idle" => State::Idle,
        "active" => State::Active,
        "interrupted" => State::Interrupted,
        "restoring" => State::Restoring,
        other => panic!("no state {other}"),
    }
}

fn connectivity_of(s: &str) -> Connectivity {
    serde_json::from_value(serde_json::json!(s)).unwrap()
}

/// A status with only what the indicator reads set.
fn status(state: &str, profile: Profile, source: Option<&str>, conn: Option<&str>) -> Status {
    Status {
        state: state_of(state),
        profile,
        key: None,
        name: None,
        source: source.map(leak),
        cache_age_seconds: None,
        connectivity: conn.map(connectivity_of),
        reason: None,
        reason_code: None,
        message: None,
        applied: Vec::new(),
        applied_in_words: Vec::new(),
        outbox: 0,
        journal: "closed",
        journal_entries: 0,
        last_cloud_contact: None,
        last_cloud_failure: None,
        since_unix: None,
        save_state: SaveState::of(None, 0),
        appearance: Appearance::default(),
    }
}

const DEV: Profile = Profile::Development;
const TEST: Profile = Profile::Testing;

#[test]
fn each_state_is_decided_once() {
    use Indicator as I;
    let cache = SettingsFrom::Cache { age_seconds: None };
    #[rustfmt::skip]
    let table: Vec<(Status, Indicator)> = vec![
        (status("idle", DEV, None, None), I::Ready),
        (status("idle", TEST, None, None), I::TestingReady),
        (status("idle", DEV, None, Some("offline")), I::Unreachable { last_tried: None }),
        (status("idle", DEV, None, Some("version_mismatch")),
            I::VersionMismatch { keyed_in: false, from: SettingsFrom::Nothing }),
        (status("active", DEV, Some("cloud"), Some("online")), I::Online),
        // Reached again after a fallback: online whatever the session first came from.
        (status("active", DEV, Some("cache"), Some("online")), I::Online),
        (status("active", DEV, Some("cache"), None), I::Connecting),
        (status("active", DEV, Some("cache"), Some("offline")), I::SavedSettings { from: cache }),
        (status("active", DEV, Some("snapset"), Some("offline")),
            I::SavedSettings { from: SettingsFrom::Snapset }),
        (status("active", DEV, Some("cloud"), Some("offline")), I::ChangesWaiting),
        (status("active", DEV, Some("cache"), Some("version_mismatch")),
            I::VersionMismatch { keyed_in: true, from: cache }),
        (status("active", DEV, Some("cloud"), Some("auth_stale")), I::StaleToken),
        (status("active", TEST, Some("snapset"), None), I::Testing),
        (status("interrupted", DEV, None, None), I::Interrupted),
        (status("interrupted", DEV, Some("cloud"), Some("online")), I::Interrupted),
        (status("restoring", DEV, Some("cloud"), Some("online")), I::Restoring),
    ];
    for (s, want) in table {
        assert_eq!(
            s.indicator(),
            want,
            "{} {:?} {:?}",
            s.state,
            s.source,
            s.connectivity
        );
        assert_eq!(want.keyed_in(), s.state == "active", "{want:?}");
    }
}

#[test]
fn words_tone_and_notifications() {
    use Indicator as I;
    let cache = SettingsFrom::Cache {
        age_seconds: Some(60),
    };
    #[rustfmt::skip]
    let table = [
        (I::Ready, "Ready", Tone::Neutral, None),
        (I::TestingReady, "Testing", Tone::Testing, None),
        (I::Unreachable { last_tried: Some(1) }, "Offline", Tone::Offline, None),
        (I::Connecting, "Connecting…", Tone::Busy, None),
        (I::Online, "Online", Tone::Ok, None),
        (I::SavedSettings { from: cache }, "Offline", Tone::Offline, Some(Notify::Fallback)),
        (I::ChangesWaiting, "Offline", Tone::Offline, None),
        (I::VersionMismatch { keyed_in: true, from: cache }, "Needs attention", Tone::Attention,
            Some(Notify::Fallback)),
        (I::VersionMismatch { keyed_in: true, from: SettingsFrom::Cloud }, "Needs attention",
            Tone::Attention, None),
        (I::StaleToken, "Needs attention", Tone::Attention, Some(Notify::StaleToken)),
        (I::Testing, "Testing", Tone::Testing, None),
        (I::Interrupted, "Needs attention", Tone::Attention, None),
        (I::Restoring, "Restoring this computer…", Tone::Busy, None),
    ];
    for (i, words, tone, notify) in table {
        assert_eq!(i.words().text(), words, "{i:?}");
        assert_eq!(i.tone(), tone, "{i:?}");
        assert_eq!(i.notify(), notify, "{i:?}");
    }
}

#[test]
fn the_page_notice_says_what_is_in_use_and_what_happens_next() {
    let text = |i: Indicator| i.page_notice().map(|n| (n.kind, n.heading, n.text));
    assert_eq!(
        text(Indicator::SavedSettings {
            from: SettingsFrom::Cache {
                age_seconds: Some(7200)
            }
        }),
        Some((
            "offline",
            "Working offline",
            "Using your saved settings from {saved}. Attune keeps trying the server in the background."
                .to_owned()
        ))
    );
    assert_eq!(
        text(Indicator::Unreachable {
            last_tried: Some(1)
        }),
        Some((
            "offline",
            "The server could not be reached",
            "Last tried {tried}. Attune tries again when you key in.".to_owned()
        ))
    );
    assert_eq!(
        text(Indicator::Unreachable { last_tried: None }).map(|t| t.2),
        Some("Attune tries again when you key in.".to_owned())
    );
    assert_eq!(
        text(Indicator::VersionMismatch {
            keyed_in: true,
            from: SettingsFrom::Snapset
        }),
        Some((
            "version_mismatch",
            "Attune and the server do not match",
            String::new()
        ))
    );
    assert_eq!(text(Indicator::Online), None);
    assert_eq!(
        text(Indicator::StaleToken).map(|t| t.0),
        Some("stale_token")
    );
}

#[test]
fn serialises_as_state_words_tone_and_notice() {
    let v = serde_json::to_value(Indicator::ChangesWaiting).unwrap();
    assert_eq!(
        v,
        serde_json::json!({
            "state": "changes_waiting",
            "words": "Offline",
            "tone": "offline",
            "notice": {
                "kind": "offline",
                "heading": "Working offline",
                "text": "Attune keeps trying the server in the background."
            }
        })
    );
    assert_eq!(
        serde_json::to_value(Indicator::Ready).unwrap()["notice"],
        serde_json::Value::Null
    );
}

/// The status as the page's fixture has it (only the fields the indicator reads).
fn status_of_fixture(v: &serde_json::Value) -> Status {
    let text = |k: &str| v[k].as_str();
    let profile = match text("profile") {
        Some("testing") => Profile::Testing,
        Some("production") => Profile::Production,
        _ => Profile::Development,
    };
    let mut s = status(
        text("state").unwrap(),
        profile,
        text("source"),
        text("connectivity"),
    );
    s.cache_age_seconds = v["cache_age_seconds"].as_u64();
    s.last_cloud_failure = v["last_cloud_failure"].as_u64();
    s
}

/// The UI's fixtures (ui/tests/fixtures/status) carry the indicator this decision gives, so the
/// page is tested against what Rust sends.
#[test]
fn the_ui_fixtures_carry_this_decision() {
    let dir =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../ui/tests/fixtures/status");
    let mut seen = 0;
    let mut wrong = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let want = serde_json::to_value(status_of_fixture(&v).indicator()).unwrap();
        if v["indicator"] != want {
            wrong.push(format!("{}\t{want}", path.display()));
        }
        seen += 1;
    }
    assert!(seen >= 10, "only {seen} fixtures in {}", dir.display());
    assert!(
        wrong.is_empty(),
        "fixtures whose indicator is not Rust's (the file, then what it should carry):\n{}",
        wrong.join("\n")
    );
}

#[test]
fn the_stale_token_text_is_the_clouds() {
    assert_eq!(
        Message::StaleToken.text(),
        crate::cloud::classify::STALE_TOKEN_TEXT
    );
}

/// A session from the USB stick's sealed set (docs/design.md §10.3), the cloud away: saved
/// settings in use, said as the stick's, notified as a fallback.
#[test]
fn a_stick_session_offline_says_the_settings_are_from_the_usb_key() {
    let mut s = status("active", DEV, Some("stick"), Some("offline"));
    s.cache_age_seconds = Some(3600);
    let i = s.indicator();
    assert_eq!(
        i,
        Indicator::SavedSettings {
            from: SettingsFrom::Stick {
                age_seconds: Some(3600)
            }
        }
    );
    assert_eq!(i.notify(), Some(Notify::Fallback));
    let notice = i.page_notice().unwrap();
    assert_eq!(notice.kind, "offline");
    assert_eq!(
        notice.text,
        "Using your settings from your USB key, saved {saved}. Attune keeps trying the server in the background."
    );
}

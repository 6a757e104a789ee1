//! Notifications against a real D-Bus notification server: python-dbusmock's
//! `notification_daemon` template on a private session bus, which logs every `Notify` call.

use std::process::Command;
use std::time::{Duration, Instant};

use attune_app::notices::{DesktopNotifier, Notice, Notifier};

use super::*;
use crate::session_bus::SessionBus;

fn has_dbusmock() -> bool {
    Command::new("/usr/bin/python3")
        .args(["-c", "import dbusmock"])
        .status()
        .is_ok_and(|s| s.success())
        && bin_path("dbus-daemon").is_some()
}

#[test]
fn notices_reach_the_notification_daemon_and_a_missing_daemon_is_not_fatal() {
    let _g = serial();
    if !has_dbusmock() {
        println!("SKIPPED: python3-dbusmock or dbus-daemon is not installed (scripts/setup-deps.sh installs them)");
        return;
    }
    // No daemon: unavailable with a reason, and notifying does not fail.
    std::env::set_var(
        "DBUS_SESSION_BUS_ADDRESS",
        "unix:path=/nonexistent/attune-test-bus",
    );
    let none = DesktopNotifier::probe();
    assert!(!none.availability().available);
    assert!(none
        .availability()
        .reason
        .unwrap()
        .contains("no notification daemon"));
    none.notify(&Notice::StaleToken);

    let dir = tempfile::tempdir().unwrap();
    let bus = SessionBus::start(dir.path().join("notify.log"));
    std::env::set_var("DBUS_SESSION_BUS_ADDRESS", &bus.address);
    let deadline = Instant::now() + Duration::from_secs(20);
    let notifier = loop {
        let n = DesktopNotifier::probe();
        if n.availability().available {
            break n;
        }
        assert!(Instant::now() < deadline, "dbusmock did not come up");
        std::thread::sleep(Duration::from_millis(100));
    };

    notifier.notify(&Notice::Fallback(
        "Can't reach the preferences server. Using your saved settings from 12 May 2025.".into(),
    ));
    notifier.notify(&Notice::StaleToken);
    notifier.notify(&Notice::BackOnline);
    notifier.notify(&Notice::Restored(
        "Attune stopped unexpectedly last time. This computer's settings have been put back as they were.".into(),
    ));

    let deadline = Instant::now() + Duration::from_secs(10);
    let text = loop {
        let text = std::fs::read_to_string(&bus.log).unwrap_or_default();
        if text.matches("Notify").count() >= 4 || Instant::now() > deadline {
            break text;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    std::env::remove_var("DBUS_SESSION_BUS_ADDRESS");
    assert_eq!(text.matches("Notify").count(), 4, "{text}");
    assert!(
        text.contains("Using your saved settings from 12 May 2025."),
        "{text}"
    );
    assert!(
        text.contains("Something has gone wrong. Please log out and log back in."),
        "{text}"
    );
    assert!(text.contains("Back online"), "{text}");
    assert!(text.contains("This computer was put back"), "{text}");
    assert!(text.contains("\"Attune\""), "{text}");
}

//! A key-in that applied nothing because the cloud was away stays pending in `attune listen`,
//! which said "We'll keep trying", and is carried out once the cloud answers (issue 21 item 2;
//! docs/design.md §3). Through the real `attune listen` process, a stick in a temp mount root and a
//! loopback cloud that is switched from refusing connections to answering. Synchronised on the
//! listener's own event lines.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::Stdio;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use attune_e2e::workspace_bin;
use attune_testkit::gpii::{OutageCloud, PERSON};
use serde_json::Value;

use crate::common::{prepared_desktop, TOUCHED_SCHEMAS};

const WAIT: Duration = Duration::from_secs(60);

/// Waits for the next event line matching `pred`, skipping others.
fn wait_for(lines: &mpsc::Receiver<Value>, pred: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + WAIT;
    loop {
        match lines.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(v) if pred(&v) => return v,
            Ok(_) => continue,
            Err(e) => panic!("no matching event within {WAIT:?}: {e}"),
        }
    }
}

/// Mounts a stick holding `key`: prepared beside the root, renamed in, as a mount appears.
fn stick(media: &Path, key: &str) -> std::path::PathBuf {
    let staging = media.with_file_name("staging-stick");
    std::fs::create_dir_all(&staging).unwrap();
    std::fs::write(staging.join(".gpii-user-token.txt"), key).unwrap();
    let vol = media.join("stick");
    std::fs::rename(&staging, &vol).unwrap();
    vol
}

#[test]
fn a_stick_keyed_in_while_the_cloud_is_away_is_keyed_in_when_it_answers() {
    let d = prepared_desktop();
    let before = d.snapshot(TOUCHED_SCHEMAS);
    let cloud = OutageCloud::start("high_contrast");
    // Quick backoff, and a breaker that pauses 1 s instead of 30 after repeated failures, so
    // the listener asks again soon after the cloud is back.
    d.user_config(
        "[resilience]\nbackoff_base_ms = 50\nbackoff_cap_ms = 200\nbreaker_open_for_ms = 1000\n",
    );
    let media = d.dir.path().join("media");
    std::fs::create_dir_all(&media).unwrap();
    let mut child = d
        .command(workspace_bin("attune-cli", "attune"))
        .args(["listen", "--no-local-api", "--poll-ms", "100"])
        .args(["--reconnect-idle-ms", "100", "--usb-root"])
        .arg(&media)
        .envs([
            ("ATTUNE_PROFILE", "development"),
            ("ATTUNE_CLOUD_URL", cloud.url().as_str()),
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let out = child.stdout.take().unwrap();
    let (tx, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for l in BufReader::new(out).lines().map_while(Result::ok) {
            if let Ok(v) = serde_json::from_str::<Value>(&l) {
                if tx.send(v).is_err() {
                    break;
                }
            }
        }
    });
    wait_for(&lines, |v| v["event"] == "listening");

    let vol = stick(&media, PERSON);
    let failed = wait_for(&lines, |v| v["event"] == "failed");
    assert_eq!(failed["kind"], "offline", "{failed}");
    let said = failed["message"].as_str().unwrap_or_default();
    assert!(said.ends_with("We'll keep trying."), "{failed}");
    assert_eq!(d.snapshot(TOUCHED_SCHEMAS), before, "nothing applied yet");

    // The cloud comes back: the listener keeps its word without the stick being touched.
    cloud.set_down(false);
    wait_for(&lines, |v| v["event"] == "reconnected");
    assert_eq!(
        d.get("org.gnome.desktop.a11y.interface", "high-contrast"),
        "true"
    );

    // Pulling the stick keys the person out, and the desktop is as it was.
    std::fs::remove_dir_all(&vol).unwrap();
    wait_for(&lines, |v| v["event"] == "keyed_out");
    assert_eq!(d.snapshot(TOUCHED_SCHEMAS), before);
    let _ = child.kill();
    let _ = child.wait();
}

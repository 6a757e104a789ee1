//! Keying in against a cloud, through the real `attune` binary in the development profile: the
//! cloud's answer is applied and cached; when the cloud is busy or gone the cached answer is
//! applied with the exact message of DESIGN §3; a rejected key purges its cache and applies
//! nothing; without cache the snapset of the same name, or nothing (exit 10).
//!
//! The cloud here is a small stand-in on 127.0.0.1 that answers in GPII's shapes, computed with
//! attune-model from a bundled snapset, and can be switched to busy (503), key-rejecting (401 at
//! the token endpoint) or down.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;

use attune_e2e::Desktop;
use attune_model::device::DeviceReport;
use serde_json::{json, Value};

use crate::common::{prepare_desktop, TOUCHED_SCHEMAS};

const HEALTHY: u8 = 0;
const BUSY: u8 = 1;
const REJECT: u8 = 2;
/// Token and settings answer, but a PUT gets 401: the server lost the token (DESIGN §6.2).
const PUT_STALE: u8 = 3;

/// The person's key: a UUID that is no snapset, so no snapset fallback hides a failure.
const PERSON: &str = "6f1c1c1e-9a43-4f3b-8d2e-0c1f4c2b7a11";

struct FakeCloud {
    url: String,
    mode: Arc<AtomicU8>,
    requests: Arc<std::sync::atomic::AtomicUsize>,
    puts: Arc<std::sync::atomic::AtomicUsize>,
}

fn answer() -> Value {
    let prefs = attune_model::bundled::snapset("high_contrast")
        .unwrap()
        .unwrap();
    let registry = attune_model::bundled::linux_registry().unwrap();
    let device = DeviceReport::linux(registry.solutions.keys().cloned());
    let o =
        attune_model::matchmaker::match_and_transform(&prefs, "gpii-default", &registry, &device)
            .unwrap();
    json!({
        "gpiiKey": PERSON,
        "preferences": o.filtered_preferences,
        "solutionsRegistryEntries": o.registry_entries,
        "matchMakerOutput": o.matchmaker_output,
    })
}

impl FakeCloud {
    fn start() -> FakeCloud {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", l.local_addr().unwrap());
        let mode = Arc::new(AtomicU8::new(HEALTHY));
        let requests = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let puts = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let (m, r, p) = (mode.clone(), requests.clone(), puts.clone());
        let body = answer().to_string();
        std::thread::spawn(move || {
            for s in l.incoming().flatten() {
                r.fetch_add(1, Ordering::SeqCst);
                let mut reader = BufReader::new(s.try_clone().unwrap());
                let mut first = String::new();
                let _ = reader.read_line(&mut first);
                let mut len = 0usize;
                loop {
                    let mut h = String::new();
                    if reader.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
                        break;
                    }
                    if let Some(v) = h.to_ascii_lowercase().strip_prefix("content-length:") {
                        len = v.trim().parse().unwrap_or(0);
                    }
                }
                let mut b = vec![0u8; len];
                let _ = reader.read_exact(&mut b);
                let is_put = first.starts_with("PUT ");
                if is_put {
                    p.fetch_add(1, Ordering::SeqCst);
                }
                let mode = m.load(Ordering::SeqCst);
                let is_token = first.starts_with("POST /access_token");
                let (status, out) = match (mode, is_token) {
                    (PUT_STALE, false) if is_put => (
                        "401 Unauthorized",
                        r#"{"isError":true,"message":"Unauthorized"}"#.to_owned(),
                    ),
                    (_, false) if is_put => (
                        "200 OK",
                        format!(r#"{{"gpiiKey":"{PERSON}","message":"saved"}}"#),
                    ),
                    (BUSY, _) => (
                        "503 Service Unavailable",
                        r#"{"isError":true,"message":"busy"}"#.to_owned(),
                    ),
                    (REJECT, true) => (
                        "401 Unauthorized",
                        r#"{"error":"invalid_grant","error_description":"Unauthorized"}"#
                            .to_owned(),
                    ),
                    (_, true) => (
                        "200 OK",
                        r#"{"access_token":"tok-1","expiresIn":3600,"token_type":"Bearer"}"#
                            .to_owned(),
                    ),
                    (_, false) if first.contains(&format!("/{PERSON}/settings/")) => {
                        ("200 OK", body.clone())
                    }
                    _ => (
                        "404 Not Found",
                        r#"{"isError":true,"message":"not found"}"#.to_owned(),
                    ),
                };
                let mut s = s;
                let _ = write!(
                    s,
                    "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nX-Attune-Api: 1.0\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{out}",
                    out.len()
                );
            }
        });
        FakeCloud {
            url,
            mode,
            requests,
            puts,
        }
    }
}

fn dev(d: &Desktop, url: &str, args: &[&str]) -> std::process::Output {
    d.attune_with(
        args,
        &[("ATTUNE_PROFILE", "development"), ("ATTUNE_CLOUD_URL", url)],
    )
}

fn status(d: &Desktop, url: &str) -> Value {
    serde_json::from_slice(&dev(d, url, &["status", "--json"]).stdout).unwrap()
}

fn cache_files(d: &Desktop) -> Vec<std::path::PathBuf> {
    let dir = d.dir.path().join("cache/attune");
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "prefs"))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn the_cloud_answer_is_applied_and_cached_and_the_cache_serves_when_the_cloud_is_busy_or_gone() {
    let d = Desktop::new();
    prepare_desktop(&d);
    let before = d.snapshot(TOUCHED_SCHEMAS);
    let cloud = FakeCloud::start();

    let o = dev(&d, &cloud.url, &["key-in", PERSON]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(
        d.gsettings_get("org.gnome.desktop.a11y.interface", "high-contrast"),
        "true"
    );
    let st = status(&d, &cloud.url);
    assert_eq!(st["source"], "cloud");
    assert_eq!(st["connectivity"], "online");
    assert!(st["last_cloud_contact"].is_u64());
    assert!(dev(&d, &cloud.url, &["key-out"]).status.success());
    assert_eq!(d.snapshot(TOUCHED_SCHEMAS), before);

    // The cache reveals neither the key nor a preference.
    let files = cache_files(&d);
    assert_eq!(files.len(), 1);
    for f in &files {
        let bytes = std::fs::read(f).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        for secret in [PERSON, "6f1c1c1e", "highContrast", "high-contrast", "gpii"] {
            assert!(
                !text.contains(secret) && !f.display().to_string().contains(secret),
                "{secret}"
            );
        }
    }

    // Busy cloud: the saved settings, with the exact words.
    cloud.mode.store(BUSY, Ordering::SeqCst);
    let seen = cloud.requests.load(Ordering::SeqCst);
    let o = dev(&d, &cloud.url, &["key-in", PERSON]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains(
            "The preferences server is having problems. Using your saved settings from 20"
        ),
        "{out}"
    );
    assert_eq!(
        cloud.requests.load(Ordering::SeqCst) - seen,
        3,
        "three attempts, then the cache"
    );
    assert_eq!(
        d.gsettings_get("org.gnome.desktop.a11y.interface", "high-contrast"),
        "true"
    );
    let st = status(&d, &cloud.url);
    assert_eq!(st["source"], "cache");
    assert_eq!(st["connectivity"], "offline");
    assert!(st["cache_age_seconds"].is_u64());
    assert!(dev(&d, &cloud.url, &["key-out"]).status.success());
    assert_eq!(d.snapshot(TOUCHED_SCHEMAS), before);

    // No cloud at all (a closed port): "Can't reach".
    let closed = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", l.local_addr().unwrap())
    };
    let o = dev(&d, &closed, &["key-in", PERSON]);
    assert!(o.status.success());
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("Can't reach the preferences server. Using your saved settings from"),
        "{out}"
    );
    assert!(dev(&d, &closed, &["key-out"]).status.success());
    assert_eq!(d.snapshot(TOUCHED_SCHEMAS), before);
}

#[test]
fn a_rejected_key_purges_its_cache_and_applies_nothing() {
    let d = Desktop::new();
    prepare_desktop(&d);
    let before = d.snapshot(TOUCHED_SCHEMAS);
    let cloud = FakeCloud::start();
    assert!(dev(&d, &cloud.url, &["key-in", PERSON]).status.success());
    assert!(dev(&d, &cloud.url, &["key-out"]).status.success());
    assert_eq!(cache_files(&d).len(), 1);

    cloud.mode.store(REJECT, Ordering::SeqCst);
    let o = dev(&d, &cloud.url, &["key-in", PERSON]);
    assert_eq!(
        o.status.code(),
        Some(6),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(String::from_utf8_lossy(&o.stderr).contains("This key was not accepted"));
    assert!(
        cache_files(&d).is_empty(),
        "the rejected key's cache is purged"
    );
    assert_eq!(d.snapshot(TOUCHED_SCHEMAS), before, "nothing stays applied");
    assert_eq!(status(&d, &cloud.url)["state"], "idle");
}

#[test]
fn without_a_cache_the_snapset_of_the_same_name_or_nothing() {
    let d = Desktop::new();
    prepare_desktop(&d);
    let before = d.snapshot(TOUCHED_SCHEMAS);
    let closed = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", l.local_addr().unwrap())
    };
    let o = dev(&d, &closed, &["key-in", "snapset_1a"]);
    assert!(o.status.success());
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("Can't reach the preferences server. Using the snapset on this computer."),
        "{out}"
    );
    assert_eq!(
        d.gsettings_get("org.gnome.desktop.interface", "text-scaling-factor"),
        "1.25"
    );
    assert_eq!(status(&d, &closed)["source"], "snapset");
    assert!(dev(&d, &closed, &["key-out"]).status.success());

    let o = dev(&d, &closed, &["key-in", PERSON]);
    assert_eq!(o.status.code(), Some(10));
    assert!(String::from_utf8_lossy(&o.stderr)
        .contains("Can't reach the server and there are no saved settings on this computer. We'll keep trying."));
    assert_eq!(d.snapshot(TOUCHED_SCHEMAS), before);
}

#[test]
fn a_stale_token_keeps_the_change_says_so_and_relogin_saves_it() {
    let d = Desktop::new();
    prepare_desktop(&d);
    let before = d.snapshot(TOUCHED_SCHEMAS);
    let cloud = FakeCloud::start();
    assert!(dev(&d, &cloud.url, &["key-in", PERSON]).status.success());

    let o = dev(&d, &cloud.url, &["set", "fontSize", "24"]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(String::from_utf8_lossy(&o.stdout).contains("Saved."));
    assert_eq!(
        d.gsettings_get("org.gnome.desktop.interface", "text-scaling-factor"),
        "2.0"
    );
    assert_eq!(cloud.puts.load(Ordering::SeqCst), 1);

    // The server lost our token: the change stays applied and waits; the exact guidance shows.
    cloud.mode.store(PUT_STALE, Ordering::SeqCst);
    let o = dev(&d, &cloud.url, &["set", "cursorSize", "1"]);
    assert_eq!(
        o.status.code(),
        Some(12),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(String::from_utf8_lossy(&o.stdout)
        .contains("Something has gone wrong. Please log out and log back in."));
    assert_eq!(
        cloud.puts.load(Ordering::SeqCst),
        2,
        "one PUT, no retry loop, no silent re-grant"
    );
    assert_eq!(
        d.gsettings_get("org.gnome.desktop.interface", "cursor-size"),
        "96"
    );
    let st = status(&d, &cloud.url);
    assert_eq!(st["connectivity"], "auth_stale");
    assert_eq!(st["outbox"], 1);
    assert_eq!(
        st["message"],
        "Something has gone wrong. Please log out and log back in."
    );

    // One click: log out and back in; the unsaved change is saved.
    cloud.mode.store(HEALTHY, Ordering::SeqCst);
    let o = dev(&d, &cloud.url, &["relogin"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(cloud.puts.load(Ordering::SeqCst), 3);
    let st = status(&d, &cloud.url);
    assert_eq!(st["outbox"], 0);
    assert_eq!(st["connectivity"], "online");
    assert!(dev(&d, &cloud.url, &["key-out"]).status.success());
    assert_eq!(d.snapshot(TOUCHED_SCHEMAS), before);
}

#[test]
fn snapsets_are_read_only() {
    let d = Desktop::new();
    let o = d.attune(&["key-in", "snapset_1a"]);
    assert!(o.status.success());
    let o = d.attune(&["set", "fontSize", "30"]);
    assert_eq!(o.status.code(), Some(11));
    assert!(String::from_utf8_lossy(&o.stderr).contains("snapset"));
    assert!(d.attune(&["key-out"]).status.success());
}

#[test]
fn an_offline_session_reconnects_by_itself_when_the_cloud_is_back() {
    use std::io::BufRead;
    let d = Desktop::new();
    prepare_desktop(&d);
    let before = d.snapshot(TOUCHED_SCHEMAS);
    let cloud = FakeCloud::start();
    // Prime the cache, then make the cloud busy and key in: served from the cache, offline.
    assert!(dev(&d, &cloud.url, &["key-in", PERSON]).status.success());
    assert!(dev(&d, &cloud.url, &["key-out"]).status.success());
    cloud.mode.store(BUSY, Ordering::SeqCst);
    assert!(dev(&d, &cloud.url, &["key-in", PERSON]).status.success());
    assert_eq!(status(&d, &cloud.url)["connectivity"], "offline");

    let mut child = d
        .command(attune_e2e::workspace_bin("attune-cli", "attune"))
        .args([
            "listen",
            "--no-usb",
            "--no-local-api",
            "--reconnect-idle-ms",
            "100",
        ])
        .env("ATTUNE_PROFILE", "development")
        .env("ATTUNE_CLOUD_URL", &cloud.url)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let out = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for l in std::io::BufReader::new(out).lines().map_while(Result::ok) {
            if tx.send(l).is_err() {
                break;
            }
        }
    });
    // The cloud comes back; the listener's own probe finds it (no request from the test).
    cloud.mode.store(HEALTHY, Ordering::SeqCst);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let mut reconnected = false;
    while let Ok(l) = rx.recv_timeout(deadline.saturating_duration_since(std::time::Instant::now()))
    {
        if l.contains("\"reconnected\"") {
            reconnected = true;
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(reconnected, "the listener reconnected the session");
    let st = status(&d, &cloud.url);
    assert_eq!(st["connectivity"], "online");
    assert_eq!(st["source"], "cloud");
    assert!(dev(&d, &cloud.url, &["key-out"]).status.success());
    assert_eq!(d.snapshot(TOUCHED_SCHEMAS), before);
}

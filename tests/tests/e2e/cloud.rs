//! Keying in against a cloud, through the real `attune` binary in the development profile: the
//! cloud's answer is applied and cached; when the cloud is busy or gone the cached answer is
//! applied with the exact message of docs/design.md §3; a rejected key purges its cache and applies
//! nothing; without cache the snapset of the same name, or nothing (exit 10).
//!
//! The cloud here is a small stand-in on 127.0.0.1 that answers in GPII's shapes, computed with
//! attune-model from a bundled snapset, and can be switched to busy (503), key-rejecting (401 at
//! the token endpoint) or down.

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use attune_e2e::{assert_exit, assert_says, Desktop};
use attune_testkit::gpii::PERSON;
use attune_testkit::http::{self, Request};
use attune_testkit::{FaultServer, Reply};
use serde_json::{json, Value};

use crate::common::{
    cloud_env, high_contrast, prepared_desktop, text_scale, used_desktop, TOUCHED_SCHEMAS,
};

/// A hostile answer against this stand-in (docs/design.md §10.1).
mod hostile;

const HEALTHY: u8 = 0;
const BUSY: u8 = 1;
const REJECT: u8 = 2;
/// Token and settings answer, but a PUT gets 401: the server lost the token (docs/design.md §6.2).
const PUT_STALE: u8 = 3;
/// Healthy, but tokens live 5 s: less than the client's 10-s renewal margin (docs/design.md §6.2).
const SHORT_TOKEN: u8 = 4;
/// Healthy, but without Attune's revoke endpoint (404, as a GPII cloud).
const NO_REVOKE: u8 = 5;

struct FakeCloud {
    url: String,
    mode: Arc<AtomicU8>,
    /// The settings answer served.
    body: Arc<Mutex<String>>,
    server: FaultServer,
}

fn answer() -> Value {
    attune_testkit::gpii::answer(PERSON, "high_contrast")
}

/// The cloud's answer for a preference set, as attune-model's matchmaker makes it.
fn answer_for(prefs: attune_model::prefs::PreferenceSet) -> Value {
    attune_testkit::gpii::answer_for(PERSON, &prefs)
}

/// The stand-in's answer to one request in one mode.
fn reply(mode: u8, req: &Request, settings: &str) -> Vec<u8> {
    let error = |status, message| http::json(status, &http::gpii_error(message));
    let is_token = req.method == "POST" && req.path.starts_with("/access_token");
    let is_revoke = req.method == "POST" && req.path == "/access_token/revoke";
    let is_put = req.method == "PUT";
    // GPII's PUT body: a preference set without its `flat` wrapper.
    let put_ok = req
        .json()
        .is_some_and(|v| v["contexts"].is_object() && v.get("flat").is_none());
    match (mode, is_token) {
        (NO_REVOKE, _) if is_revoke => error(404, "not found"),
        (_, _) if is_revoke => http::response(204, Some("1.0"), &[], b""),
        (_, false) if is_put && !put_ok => error(400, "not a preference set"),
        (SHORT_TOKEN, true) => http::json(200, &attune_testkit::gpii::token("tok-2", 5)),
        (PUT_STALE, false) if is_put => error(401, "Unauthorized"),
        (_, false) if is_put => http::json(
            200,
            &json!({"gpiiKey": PERSON, "message": "saved"}).to_string(),
        ),
        (BUSY, _) => error(503, "busy"),
        (REJECT, true) => http::json(
            401,
            r#"{"error":"invalid_grant","error_description":"Unauthorized"}"#,
        ),
        (_, true) => http::json(200, &attune_testkit::gpii::token("tok-1", 3600)),
        (_, false) if req.path.contains(&format!("/{PERSON}/settings/")) => {
            http::json(200, settings)
        }
        _ => error(404, "not found"),
    }
}

impl FakeCloud {
    fn start() -> FakeCloud {
        let mode = Arc::new(AtomicU8::new(HEALTHY));
        let body = Arc::new(Mutex::new(answer().to_string()));
        let (m, served) = (mode.clone(), body.clone());
        let server = FaultServer::start(move |req, _| {
            let settings = served.lock().unwrap().clone();
            Reply::whole(reply(m.load(Ordering::SeqCst), req, &settings))
        });
        FakeCloud {
            url: server.url(),
            mode,
            body,
            server,
        }
    }

    /// Switches how the stand-in answers from now on (`HEALTHY`, `BUSY`, …).
    fn set(&self, mode: u8) {
        self.mode.store(mode, Ordering::SeqCst);
    }

    /// Requests so far.
    fn requests(&self) -> usize {
        self.server.count()
    }

    /// PUTs so far.
    fn puts(&self) -> usize {
        let r = self.server.requests();
        r.iter().filter(|r| r.method == "PUT").count()
    }

    /// The bodies of the PUTs so far, in order.
    fn put_bodies(&self) -> Vec<Value> {
        let r = self.server.requests();
        r.iter()
            .filter(|r| r.method == "PUT")
            .map(|r| serde_json::from_slice(&r.body).unwrap())
            .collect()
    }

    /// The `Authorization` header of each `POST /access_token/revoke`, in order.
    fn revokes(&self) -> Vec<String> {
        let r = self.server.requests();
        r.iter()
            .filter(|r| r.path == "/access_token/revoke")
            .map(|r| r.header("authorization").unwrap_or_default().to_owned())
            .collect()
    }
}

fn dev(d: &Desktop, url: &str, args: &[&str]) -> std::process::Output {
    dev_with(d, url, args, &[])
}

/// [`dev`] with more environment (`RUST_LOG`, proxies…).
fn dev_with(d: &Desktop, url: &str, args: &[&str], extra: &[(&str, &str)]) -> std::process::Output {
    let mut env = cloud_env(url).to_vec();
    env.extend_from_slice(extra);
    d.attune_with(args, &env)
}

/// [`dev`], which must exit 0.
#[track_caller]
fn dev_ok(d: &Desktop, url: &str, args: &[&str]) -> std::process::Output {
    d.attune_with_ok(args, &cloud_env(url))
}

/// `key-in PERSON`, which must succeed.
#[track_caller]
fn key_in(d: &Desktop, url: &str) -> std::process::Output {
    dev_ok(d, url, &["key-in", PERSON])
}

/// `key-in PERSON`, then `key-out`; both must succeed. Against a cloud that answers, this leaves
/// its answer in the cache.
#[track_caller]
fn key_in_and_out(d: &Desktop, url: &str) {
    key_in(d, url);
    dev_ok(d, url, &["key-out"]);
}

/// `key-in PERSON` with no cloud at `url` and nothing cached for it, which must exit 10: there
/// is nothing to apply.
#[track_caller]
fn key_in_unserved(d: &Desktop, url: &str) -> std::process::Output {
    let o = dev(d, url, &["key-in", PERSON]);
    assert_exit(&o, 10);
    o
}

/// A stand-in cloud whose answer is in `d`'s cache (a key-in and a key-out), and which is busy
/// from then on.
fn cached_then_busy(d: &Desktop) -> FakeCloud {
    let cloud = FakeCloud::start();
    key_in_and_out(d, &cloud.url);
    cloud.set(BUSY);
    cloud
}

/// `key-out`, which must succeed and put the desktop back as it was.
#[track_caller]
fn key_out_restores(d: &Desktop, url: &str, before: &attune_e2e::Snapshot) {
    crate::common::key_out_restores(d, &cloud_env(url), before);
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
    let (d, before) = used_desktop();
    let cloud = FakeCloud::start();

    key_in(&d, &cloud.url);
    assert_eq!(high_contrast(&d), "true");
    let st = status(&d, &cloud.url);
    assert_eq!(st["source"], "cloud");
    assert_eq!(st["connectivity"], "online");
    assert!(st["last_cloud_contact"].is_u64());
    key_out_restores(&d, &cloud.url, &before);

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
    cloud.set(BUSY);
    let seen = cloud.requests();
    let o = key_in(&d, &cloud.url);
    assert_says(
        &o,
        "The preferences server is having problems. Using your saved settings from 20",
    );
    assert_eq!(cloud.requests() - seen, 3, "three attempts, then the cache");
    assert_eq!(high_contrast(&d), "true");
    let st = status(&d, &cloud.url);
    assert_eq!(st["source"], "cache");
    assert_eq!(st["connectivity"], "offline");
    assert!(st["cache_age_seconds"].is_u64());
    key_out_restores(&d, &cloud.url, &before);

    // No cloud at all (a closed port): "Can't reach".
    let closed = attune_testkit::refused_url();
    let o = key_in(&d, &closed);
    assert_says(
        &o,
        "Can't reach the preferences server. Using your saved settings from",
    );
    key_out_restores(&d, &closed, &before);
    // A person's key-ins are never recorded: the record of test sessions is the testing
    // profile's alone.
    assert!(!d
        .dir
        .path()
        .join("state/attune/test-sessions.jsonl")
        .exists());
    assert!(String::from_utf8_lossy(&d.attune_ok(&["report"]).stdout).contains("No test sessions"));
}

#[test]
fn each_cloud_call_is_recorded_for_diagnostics_without_the_key() {
    let d = prepared_desktop();
    let cloud = cached_then_busy(&d);
    key_in_and_out(&d, &cloud.url);

    let path = d.dir.path().join("state/attune/cloud-contacts.jsonl");
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(!text.contains(PERSON) && !text.contains("tok-1"), "{text}");
    let rows: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let summary: Vec<(String, String, u64)> = rows
        .iter()
        .map(|r| {
            (
                r["operation"].as_str().unwrap().to_owned(),
                r["outcome"].as_str().unwrap().to_owned(),
                r["attempts"].as_u64().unwrap(),
            )
        })
        .collect();
    let host = cloud.url.trim_start_matches("http://");
    assert!(rows.iter().all(|r| r["host"] == host), "{text}");
    assert_eq!(
        summary,
        vec![
            ("token".to_owned(), "ok".to_owned(), 1),
            ("settings".to_owned(), "ok".to_owned(), 1),
            ("token".to_owned(), "busy".to_owned(), 3),
        ]
    );
}

#[test]
fn a_dead_proxy_in_the_environment_is_ignored_unless_the_site_asks_for_proxies() {
    // docs/test-matrix.md N22: a proxy variable left behind on a shared computer must not take the
    // cloud away; a site behind a proxy says `use_system_proxy = true` and then gets it.
    let d = prepared_desktop();
    let cloud = FakeCloud::start();
    let dead = attune_testkit::refused_url();
    let proxies = [
        ("HTTP_PROXY", dead.as_str()),
        ("HTTPS_PROXY", dead.as_str()),
        ("http_proxy", dead.as_str()),
        ("NO_PROXY", ""),
    ];
    let run_ok = |args: &[&str]| {
        let o = dev_with(&d, &cloud.url, args, &proxies);
        assert_exit(&o, 0);
        o
    };

    let o = run_ok(&["key-in", PERSON, "--json"]);
    let out: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(out["source"]["kind"], "cloud", "{out}");
    run_ok(&["key-out"]);

    d.user_config("[cloud]\nuse_system_proxy = true\n");
    let seen = cloud.requests();
    let o = run_ok(&["key-in", PERSON, "--json"]);
    let out: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        out["source"]["kind"], "cache",
        "through the dead proxy: {out}"
    );
    assert_eq!(cloud.requests(), seen, "nothing reached the cloud");
    run_ok(&["key-out"]);
}

#[test]
fn a_rejected_key_purges_its_cache_and_applies_nothing() {
    let (d, before) = used_desktop();
    let cloud = FakeCloud::start();
    key_in_and_out(&d, &cloud.url);
    assert_eq!(cache_files(&d).len(), 1);

    cloud.set(REJECT);
    let o = dev(&d, &cloud.url, &["key-in", PERSON]);
    assert_exit(&o, 6);
    assert!(String::from_utf8_lossy(&o.stderr).contains("This key was not accepted"));
    assert!(
        cache_files(&d).is_empty(),
        "the rejected key's cache is purged"
    );
    assert_eq!(d.snapshot(TOUCHED_SCHEMAS), before, "nothing stays applied");
    assert_eq!(status(&d, &cloud.url)["state"], "idle");
}

#[test]
fn a_site_that_purges_on_key_out_keeps_no_cached_preferences_once_the_person_has_left() {
    let (d, before) = used_desktop();
    let cloud = FakeCloud::start();
    let site = d.dir.path().join("site.toml");
    std::fs::write(&site, "[cache]\npurge_on_key_out = true\n").unwrap();
    let site = site.display().to_string();
    let run = |url: &str, args: &[&str]| dev_with(&d, url, args, &[("ATTUNE_SITE_CONFIG", &site)]);

    let o = run(&cloud.url, &["key-in", PERSON]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(high_contrast(&d), "true");
    assert_eq!(cache_files(&d).len(), 1, "cached while keyed in");
    assert!(run(&cloud.url, &["key-out"]).status.success());
    assert_eq!(d.snapshot(TOUCHED_SCHEMAS), before);
    assert!(cache_files(&d).is_empty(), "the cache went with the person");

    // With the cloud gone, nothing of theirs is left here to key in with.
    let closed = attune_testkit::refused_url();
    let o = run(&closed, &["key-in", PERSON, "--json"]);
    assert_exit(&o, 10);
    assert_eq!(d.snapshot(TOUCHED_SCHEMAS), before, "nothing applied");
}

#[test]
fn without_a_cache_the_snapset_of_the_same_name_or_nothing() {
    let (d, before) = used_desktop();
    let closed = attune_testkit::refused_url();
    let o = dev_ok(&d, &closed, &["key-in", "snapset_1a"]);
    assert_says(
        &o,
        "Can't reach the preferences server. Using the snapset on this computer.",
    );
    assert_eq!(text_scale(&d), "1.25");
    assert_eq!(status(&d, &closed)["source"], "snapset");
    dev_ok(&d, &closed, &["key-out"]);

    let o = key_in_unserved(&d, &closed);
    assert!(String::from_utf8_lossy(&o.stderr).contains(
        "Can't reach the server and there are no saved settings on this computer. Try again when \
         the server is back, or key in with a snapset: `attune snapsets`."
    ));
    assert_eq!(d.snapshot(TOUCHED_SCHEMAS), before);
}

/// Issue 21 items 1 and 2: a failed key-in answers with the sentence for the person alone (no
/// log line before it), and the `attune` command, which exits, never says "We'll keep trying":
/// it says what to do instead. Logs come with `-v`.
/// Issue 21 item 3: with no cache, a snapset key's bundled snapset is on the desktop while the
/// cloud is still being asked, not only after the cloud's deadline. The "cloud" here accepts the
/// token request and never answers; the snapset must show while that request is still open (the
/// old order applied it only after the client had given up and closed it).
#[test]
fn a_snapset_key_is_applied_before_the_cloud_answers_then_kept_when_it_does_not() {
    use std::io::Read;
    let (d, before) = used_desktop();
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", silent.local_addr().unwrap());
    let child = d
        .command(attune_e2e::workspace_bin("attune-cli", "attune"))
        .args(["key-in", "snapset_1a"])
        .envs([
            ("ATTUNE_PROFILE", "development"),
            ("ATTUNE_CLOUD_URL", url.as_str()),
        ])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let (mut held, _) = silent.accept().unwrap();
    held.set_nonblocking(true).unwrap();
    let waited = std::time::Instant::now();
    while text_scale(&d) != "1.25" {
        assert!(
            waited.elapsed() < Duration::from_secs(60),
            "the snapset never showed"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // The token request is still unanswered and still open: the client has not given up.
    let mut buf = [0u8; 4096];
    loop {
        match held.read(&mut buf) {
            Ok(0) => panic!("the client closed the request before the snapset showed"),
            Ok(_) => continue, // the request itself
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
            Err(e) => panic!("{e}"),
        }
    }
    drop(held);
    drop(silent);
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stdout));
    assert_says(&o, "Using the snapset on this computer.");
    let closed = attune_testkit::refused_url();
    let st = status(&d, &closed);
    assert_eq!(st["source"], "snapset", "{st}");
    assert_eq!(text_scale(&d), "1.25");
    dev_ok(&d, &closed, &["key-out"]);
    assert_eq!(d.snapshot(TOUCHED_SCHEMAS), before);
}

/// When the cloud does answer a snapset key, its answer replaces the snapset applied first: a
/// setting only the snapset set goes back to what it was (reconciled like the cache's answer).
#[test]
fn a_snapset_key_the_cloud_answers_ends_with_the_clouds_settings_only() {
    let (d, before) = used_desktop();
    let text_before = text_scale(&d);
    let settings = attune_testkit::gpii::answer("snapset_1a", "high_contrast").to_string();
    let cloud = FaultServer::start(move |req, _| {
        let body = if req.path == "/access_token/revoke" {
            http::response(204, Some("1.0"), &[], b"")
        } else if req.method == "POST" && req.path.starts_with("/access_token") {
            http::json(200, &attune_testkit::gpii::token("tok-s", 3600))
        } else if req.path.contains("/snapset_1a/settings/") {
            http::json(200, &settings)
        } else {
            http::json(404, &http::gpii_error("not found"))
        };
        Reply::whole(body)
    });
    let url = cloud.url();
    let o = dev_ok(&d, &url, &["key-in", "snapset_1a"]);
    let st = status(&d, &url);
    assert_eq!(
        st["source"],
        "cloud",
        "{st} {}",
        String::from_utf8_lossy(&o.stdout)
    );
    assert_eq!(high_contrast(&d), "true");
    assert_eq!(
        text_scale(&d),
        text_before,
        "the snapset's text size is not left behind"
    );
    key_out_restores(&d, &url, &before);
}

#[test]
fn a_failed_key_in_says_one_sentence_and_what_to_do_and_logs_only_with_verbose() {
    let d = prepared_desktop();
    let closed = attune_testkit::refused_url();

    let o = key_in_unserved(&d, &closed);

    assert_eq!(String::from_utf8_lossy(&o.stdout), "");
    assert_eq!(
        String::from_utf8_lossy(&o.stderr),
        "attune: Can't reach the server and there are no saved settings on this computer. Try \
         again when the server is back, or key in with a snapset: `attune snapsets`.\n"
    );

    let o = dev(&d, &closed, &["-v", "key-in", PERSON]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("cloud key-in failed"), "-v logs: {err}");
    assert!(err.contains("WARN"), "{err}");
    assert!(!err.contains("DEBUG"), "-v is not -vv: {err}");
    let o = dev(&d, &closed, &["key-in", PERSON, "-vv"]);
    assert!(String::from_utf8_lossy(&o.stderr).contains("DEBUG"));
}

/// Issue 21 item 1: served from the cache, the answer is the report and its sentence, with no
/// log line on either stream.
#[test]
fn a_key_in_served_from_the_cache_prints_no_log_line() {
    let d = prepared_desktop();
    let cloud = cached_then_busy(&d);

    let o = key_in(&d, &cloud.url);

    assert_eq!(String::from_utf8_lossy(&o.stderr), "");
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        !out.contains("WARN") && !out.contains("attune_flow"),
        "{out}"
    );
    dev_ok(&d, &cloud.url, &["key-out"]);
}

/// Issue 21 item 4: a session served from the cache keeps the preference set's display name.
#[test]
fn a_session_served_from_the_cache_is_shown_by_its_name() {
    let d = prepared_desktop();
    let cloud = FakeCloud::start();
    key_in(&d, &cloud.url);
    assert_eq!(status(&d, &cloud.url)["name"], "High contrast");
    dev_ok(&d, &cloud.url, &["key-out"]);
    let closed = attune_testkit::refused_url();

    let o = key_in(&d, &closed);
    assert_says(&o, "(High contrast), source: cache");
    let st = status(&d, &closed);
    assert_eq!(st["source"], "cache");
    assert_eq!(st["name"], "High contrast");
    let text = String::from_utf8_lossy(&dev(&d, &closed, &["status"]).stdout).into_owned();
    assert!(text.contains("(High contrast)"), "{text}");
    assert!(!text.contains("unnamed"), "{text}");
    dev_ok(&d, &closed, &["key-out"]);
}

/// Issue 21 item 5: after a key-in that reached no server, `status` still says the server
/// could not be reached, when and why, until a cloud call succeeds.
#[test]
fn status_remembers_why_the_last_key_in_failed_until_the_cloud_answers() {
    let d = prepared_desktop();
    let closed = attune_testkit::refused_url();
    key_in_unserved(&d, &closed);

    let st = status(&d, &closed);

    assert_eq!(st["state"], "idle");
    assert_eq!(st["connectivity"], "offline");
    assert_eq!(st["reason_code"], "unreachable");
    assert_eq!(st["reason"], "the preferences server could not be reached");
    assert!(st["last_cloud_failure"].is_u64(), "{st}");
    let text = String::from_utf8_lossy(&dev(&d, &closed, &["status"]).stdout).into_owned();
    assert!(text.contains("Cloud:   offline"), "{text}");
    assert!(
        text.contains("Network: the preferences server could not be reached (last tried"),
        "{text}"
    );

    // The cloud answers again: the failure is forgotten.
    let cloud = FakeCloud::start();
    key_in_and_out(&d, &cloud.url);
    let st = status(&d, &cloud.url);
    assert_eq!(st["state"], "idle");
    assert!(st["connectivity"].is_null(), "{st}");
    assert!(st["reason_code"].is_null(), "{st}");
    assert!(st["last_cloud_failure"].is_null(), "{st}");
}

#[test]
fn a_stale_token_keeps_the_change_says_so_and_relogin_saves_it() {
    let (d, before) = used_desktop();
    let cloud = FakeCloud::start();
    key_in(&d, &cloud.url);

    let o = dev_ok(&d, &cloud.url, &["set", "fontSize", "24"]);
    assert_says(&o, "Saved.");
    assert_eq!(text_scale(&d), "2.0");
    assert_eq!(cloud.puts(), 1);

    // The server lost our token: the change stays applied and waits; the exact guidance shows.
    cloud.set(PUT_STALE);
    let o = dev(&d, &cloud.url, &["set", "cursorSize", "1"]);
    assert_exit(&o, 12);
    assert_says(
        &o,
        "Something has gone wrong. Please log out and log back in.",
    );
    assert_eq!(
        cloud.puts(),
        2,
        "one PUT, no retry loop, no silent re-grant"
    );
    assert_eq!(d.get("org.gnome.desktop.interface", "cursor-size"), "96");
    let st = status(&d, &cloud.url);
    assert_eq!(st["connectivity"], "auth_stale");
    assert_eq!(st["outbox"], 1);
    assert_eq!(
        st["message"],
        "Something has gone wrong. Please log out and log back in."
    );

    // One click: log out and back in; the unsaved change is saved, and the one saved earlier in
    // this session is sent again (the cloud that lost our token may have lost it too).
    cloud.set(HEALTHY);
    dev_ok(&d, &cloud.url, &["relogin"]);
    assert_eq!(cloud.puts(), 4);
    let st = status(&d, &cloud.url);
    assert_eq!(st["outbox"], 0);
    assert_eq!(st["connectivity"], "online");
    key_out_restores(&d, &cloud.url, &before);
}

#[test]
fn saving_a_capture_sends_what_the_person_set_up_and_changes_nothing_here() {
    let (d, before) = used_desktop();
    let cloud = FakeCloud::start();
    key_in(&d, &cloud.url);
    // Set up during the session, by hand.
    d.set("org.gnome.desktop.interface", "text-scaling-factor", "1.25");
    let during = d.snapshot(TOUCHED_SCHEMAS);

    let o = dev_ok(&d, &cloud.url, &["capture", "--save", "--json"]);

    let out: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(out["saved"], true, "{out}");
    assert_eq!(out["outbox"], 0);
    let font = "http://registry.gpii.net/common/fontSize";
    assert_eq!(out["preferences"][font], 15);
    let sent: Vec<Value> = cloud
        .put_bodies()
        .iter()
        .map(|b| b["contexts"]["gpii-default"]["preferences"].clone())
        .collect();
    assert_eq!(sent.len(), out["preferences"].as_object().unwrap().len());
    assert!(sent.iter().any(|p| p[font] == 15), "{sent:?}");
    assert_eq!(
        d.snapshot(TOUCHED_SCHEMAS),
        during,
        "saving writes nothing here"
    );
    // Attune did not write the hand-set key, so key-out would leave it: unset it first.
    d.gsettings(&[
        "reset",
        "org.gnome.desktop.interface",
        "text-scaling-factor",
    ]);
    key_out_restores(&d, &cloud.url, &before);
}

#[test]
fn saving_a_capture_needs_someone_keyed_in_and_a_snapset_session_is_refused() {
    let (d, before) = used_desktop();
    let closed = attune_testkit::refused_url();
    assert_exit(&dev(&d, &closed, &["capture", "--save"]), 9);
    dev_ok(&d, &closed, &["key-in", "snapset_1a"]);
    assert_eq!(status(&d, &closed)["source"], "snapset");

    let o = dev(&d, &closed, &["capture", "--save"]);

    assert_exit(&o, 11);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("snapset, which is read-only"), "{err}");
    assert_eq!(status(&d, &closed)["outbox"], 0, "nothing waits to be sent");
    dev_ok(&d, &closed, &["key-out"]);
    assert_eq!(d.snapshot(TOUCHED_SCHEMAS), before);
}

#[test]
fn a_change_to_a_snapset_is_applied_here_not_saved_and_put_back() {
    let d = Desktop::new();
    let before = d.snapshot(TOUCHED_SCHEMAS);
    let o = d.attune(&["key-in", "snapset_1a"]);
    assert!(o.status.success());
    let o = d.attune(&["set", "fontSize", "24", "--json"]);
    assert_eq!(o.status.code(), Some(11), "applied here, read-only");
    let out: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(out["save_state"]["state"], "read_only");
    assert_eq!(out["saved"], false);
    assert!(out["message"].as_str().unwrap().contains("snapset"));
    // 24 pt over GNOME's 12 pt base.
    assert_eq!(text_scale(&d), "2.0");
    // A second change builds on the first instead of replacing it.
    assert_eq!(
        d.attune(&["set", "highContrast/enabled", "true"])
            .status
            .code(),
        Some(11)
    );
    assert_eq!(text_scale(&d), "2.0");
    let st: Value = serde_json::from_slice(&d.attune(&["status", "--json"]).stdout).unwrap();
    assert_eq!(st["save_state"]["state"], "read_only");
    assert_eq!(st["appearance"]["text_scale"], 2.0);
    assert!(d.attune(&["key-out"]).status.success());
    assert_eq!(d.snapshot(TOUCHED_SCHEMAS), before);
}

#[test]
fn an_offline_session_reconnects_by_itself_when_the_cloud_is_back() {
    let (d, before) = used_desktop();
    // Prime the cache, then make the cloud busy and key in: served from the cache, offline.
    let cloud = cached_then_busy(&d);
    key_in(&d, &cloud.url);
    assert_eq!(status(&d, &cloud.url)["connectivity"], "offline");

    // The cloud comes back; the listener's own probe finds it (no request from the test).
    let env = cloud_env(&cloud.url);
    let reconnected = d.listener_reconnects(&env, Duration::from_secs(30), || cloud.set(HEALTHY));
    assert!(reconnected, "the listener reconnected the session");
    let st = status(&d, &cloud.url);
    assert_eq!(st["connectivity"], "online");
    assert_eq!(st["source"], "cloud");
    key_out_restores(&d, &cloud.url, &before);
}

/// `key-in PERSON` with the flow's log at `info`, which must succeed; the log.
fn key_in_logged(d: &Desktop, url: &str) -> String {
    let o = dev_with(
        d,
        url,
        &["key-in", PERSON],
        &[("RUST_LOG", "attune_flow=info")],
    );
    assert_exit(&o, 0);
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn flat(prefs: Value) -> attune_model::prefs::PreferenceSet {
    attune_model::prefs::PreferenceSet::from_value_named(
        json!({"flat": {"contexts": {"gpii-default": {"preferences": prefs}}}}),
        "test preferences",
    )
    .unwrap()
}

/// docs/design.md §3 step 5: when the cloud's answer differs from the cache already applied, only
/// the difference is written if the cloud's answer sets again all the cache set; if it drops
/// something, the computer is put back first. Either way the desktop ends as the cloud says.
#[test]
fn a_cloud_answer_that_differs_from_the_cache_is_reconciled() {
    let (d, before) = used_desktop();
    let cloud = FakeCloud::start();
    let hc = "http://registry.gpii.net/common/highContrast/enabled";
    let fs = "http://registry.gpii.net/common/fontSize";
    // The cache: high contrast only.
    key_in_and_out(&d, &cloud.url);

    // The cloud now adds a text size: the difference is applied, nothing restored.
    *cloud.body.lock().unwrap() = answer_for(flat(json!({hc: true, fs: 18}))).to_string();
    let log = key_in_logged(&d, &cloud.url);
    assert!(log.contains("applying the difference"), "{log}");
    assert!(!log.contains("restoring"), "{log}");
    assert_eq!(high_contrast(&d), "true");
    assert_eq!(text_scale(&d), "1.5");
    let st = status(&d, &cloud.url);
    assert_eq!(st["source"], "cloud");
    assert!(st["applied"]
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["setting"] == "text-scaling-factor" && r["outcome"] == "applied"));
    key_out_restores(&d, &cloud.url, &before);

    // The cloud drops high contrast: put back first, then the cloud's answer alone.
    *cloud.body.lock().unwrap() = answer_for(flat(json!({fs: 18}))).to_string();
    let log = key_in_logged(&d, &cloud.url);
    assert!(log.contains("restoring, then applying"), "{log}");
    assert_eq!(
        high_contrast(&d),
        "false",
        "high contrast is put back to the original (unset: the default)"
    );
    assert_eq!(text_scale(&d), "1.5");
    key_out_restores(&d, &cloud.url, &before);
}

/// Issue item 9: a site lists several endpoints of its cloud; when the first cannot be reached
/// the next attempt goes to the next, and the person gets the cloud's answer.
#[test]
fn a_dead_endpoint_of_the_cluster_is_passed_over_for_the_next() {
    let d = prepared_desktop();
    let cloud = FakeCloud::start();
    let dead = attune_testkit::refused_url();
    let urls = format!("{dead},{}", cloud.url);
    let o = dev_ok(&d, &urls, &["key-in", PERSON, "--json"]);
    let out: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(out["source"]["kind"], "cloud", "{out}");
    assert_eq!(status(&d, &urls)["connectivity"], "online");
    dev_ok(&d, &urls, &["key-out"]);
}

/// docs/design.md §6.2: a token about to expire is renewed before use (not sent to fail, and not
/// taken for a stale one).
#[test]
fn a_token_about_to_expire_is_renewed_before_a_change_is_saved() {
    let d = prepared_desktop();
    let cloud = FakeCloud::start();
    cloud.set(SHORT_TOKEN);
    key_in(&d, &cloud.url);
    let seen = cloud.requests();
    dev_ok(&d, &cloud.url, &["set", "fontSize", "24"]);
    assert_eq!(cloud.requests() - seen, 2, "a fresh token, then the PUT");
    assert_eq!(status(&d, &cloud.url)["connectivity"], "online");
    dev_ok(&d, &cloud.url, &["key-out"]);
}

/// Secrets and personal data never reach logs (the standards; docs/design.md §5): with every log
/// target at `trace`, a key-in from the cloud, from the cache, a saved and an unsaved change, a
/// relogin and a key-out write neither the key, nor the token, nor the site secret.
#[test]
fn no_log_line_carries_the_key_the_token_or_the_site_secret_even_at_trace_level() {
    let d = prepared_desktop();
    let cloud = FakeCloud::start();
    let mut log = String::new();
    let mut run = |args: &[&str]| {
        let o = dev_with(&d, &cloud.url, args, &[("RUST_LOG", "trace")]);
        log.push_str(&String::from_utf8_lossy(&o.stderr));
        o
    };
    assert!(run(&["key-in", PERSON]).status.success());
    assert!(run(&["set", "fontSize", "24"]).status.success());
    cloud.set(PUT_STALE);
    run(&["set", "cursorSize", "1"]);
    cloud.set(HEALTHY);
    assert!(run(&["relogin"]).status.success());
    assert!(run(&["key-out"]).status.success());
    cloud.set(BUSY);
    assert!(run(&["key-in", PERSON]).status.success());
    assert!(run(&["key-out"]).status.success());

    assert!(
        log.lines().count() > 20,
        "trace logging is on, so there is something to check:\n{log}"
    );
    let fingerprint = attune_model::key::Key::parse(PERSON).unwrap().fingerprint();
    assert!(
        log.contains(&fingerprint),
        "keys are logged as their fingerprint"
    );
    for secret in [PERSON, "6f1c1c1e", "tok-1", "attune-dev-secret"] {
        assert!(!log.contains(secret), "{secret} reached the log");
    }
}

/// Audit issue 12 item 20: a token must not stay good for up to an hour after its person keyed
/// out. Key-out first puts the computer back, then revokes the session's token once
/// (`POST /access_token/revoke`, `Authorization: Bearer`), and never logs it.
#[test]
fn key_out_revokes_the_sessions_token_after_putting_the_computer_back() {
    let (d, before) = used_desktop();
    let cloud = FakeCloud::start();
    key_in(&d, &cloud.url);
    assert!(cloud.revokes().is_empty());

    let o = dev_with(
        &d,
        &cloud.url,
        &["key-out"],
        &[("RUST_LOG", "attune_flow=debug")],
    );

    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(d.snapshot(TOUCHED_SCHEMAS), before);
    assert_eq!(cloud.revokes(), vec!["Bearer tok-1".to_owned()]);
    let log = String::from_utf8_lossy(&o.stderr);
    assert!(log.contains("token revoked at key-out"), "{log}");
    assert!(!log.contains("tok-1"), "the token is never logged: {log}");
}

/// A GPII cloud has no revoke endpoint (404), and a cloud may be gone at key-out: either way the
/// key-out puts everything back and succeeds, with one attempt and no retry.
#[test]
fn a_cloud_without_revoke_or_gone_at_key_out_does_not_hold_it_up() {
    let (d, before) = used_desktop();
    let cloud = FakeCloud::start();
    cloud.set(NO_REVOKE);
    key_in(&d, &cloud.url);

    dev_ok(&d, &cloud.url, &["key-out"]);
    assert_eq!(d.snapshot(TOUCHED_SCHEMAS), before);
    assert_eq!(cloud.revokes().len(), 1, "asked once, not retried");

    // Gone: nothing listens where the cloud was.
    cloud.set(HEALTHY);
    key_in(&d, &cloud.url);
    let gone = attune_testkit::refused_url();
    dev_ok(&d, &gone, &["key-out"]);
    assert_eq!(d.snapshot(TOUCHED_SCHEMAS), before);
}

//! The key-in listeners, through the real `attune listen` process: USB sticks appearing in a temp
//! mount root, and GPII's local API over real HTTP on loopback. Desktop values are read back with
//! `gsettings` (keyfile backend). Synchronisation is on the listener's own event lines, never on
//! sleeps.

use std::path::PathBuf;
use std::time::Duration;

use attune_e2e::{http_get, Desktop, StdoutLines};
use attune_testkit::process::Children;
use serde_json::Value;

use crate::common::{fingerprint, high_contrast, used_desktop, TOUCHED_SCHEMAS};

const WAIT: Duration = Duration::from_secs(20);

/// `attune listen` on this desktop, stopped when dropped.
struct Listener {
    child: Children,
    lines: StdoutLines,
    api: String,
    media: PathBuf,
}

impl Listener {
    fn start(d: &Desktop) -> Listener {
        let media = d.dir.path().join("media");
        std::fs::create_dir_all(&media).unwrap();
        let (child, lines) = d.listen(
            &[
                "--local-api",
                "127.0.0.1:0",
                "--poll-ms",
                "250",
                "--usb-root",
                media.to_str().unwrap(),
            ],
            &[],
        );
        let mut me = Listener {
            child: Children(vec![child]),
            lines,
            api: String::new(),
            media,
        };
        let l = me.wait_for(|v| v["event"] == "listening");
        me.api = l["local_api"].as_str().unwrap().to_owned();
        me
    }

    /// Waits for the next event line matching `pred`, skipping others.
    fn wait_for(&mut self, pred: impl Fn(&Value) -> bool) -> Value {
        let event = |l: &str| serde_json::from_str::<Value>(l).ok();
        let line = self
            .lines
            .wait_for(WAIT, |l| event(l).is_some_and(|v| pred(&v)))
            .unwrap_or_else(|| panic!("no matching event within {WAIT:?}"));
        event(&line).unwrap()
    }

    /// "Mounts" a stick: the volume is prepared beside the mount root and renamed into it, so
    /// it appears whole, as a mount does.
    fn stick(&self, name: &str, token: &[u8]) {
        let staging = self.media.with_file_name(format!("staging-{name}"));
        std::fs::create_dir_all(&staging).unwrap();
        std::fs::write(staging.join(".gpii-user-token.txt"), token).unwrap();
        std::fs::rename(&staging, self.media.join(name)).unwrap();
    }

    /// Pulls the stick `name` out and waits until its person is keyed out.
    fn pull(&mut self, name: &str) {
        std::fs::remove_dir_all(self.media.join(name)).unwrap();
        self.wait_for(|v| v["event"] == "keyed_out");
    }
}

/// Every string in a JSON value (a key would be one; field names such as `high_contrast` are not).
fn strings(v: &Value) -> Vec<String> {
    match v {
        Value::String(s) => vec![s.clone()],
        Value::Array(a) => a.iter().flat_map(strings).collect(),
        Value::Object(o) => o.values().flat_map(strings).collect(),
        _ => Vec::new(),
    }
}

#[test]
fn a_stick_keys_in_and_pulling_it_restores_the_desktop() {
    let (d, before) = used_desktop();
    let mut l = Listener::start(&d);
    l.stick("STICK", "\u{feff}high_contrast \r\n".as_bytes());
    let e = l.wait_for(|v| v["event"] == "keyed_in");
    assert_eq!(e["via"], "usb_stick");
    assert!(
        !e.to_string().contains("high_contrast"),
        "no key in events: {e}"
    );
    assert_eq!(high_contrast(&d), "true");
    l.pull("STICK");
    assert_eq!(d.snapshot(TOUCHED_SCHEMAS), before);
}

#[test]
fn bad_tokens_and_a_second_stick_are_refused_and_the_first_stick_wins() {
    let (d, before) = used_desktop();
    let mut l = Listener::start(&d);
    for (name, token) in [
        ("EMPTY", b"".to_vec()),
        ("BINARY", vec![0xff, 0x00, 0xfe, 0x01]),
        ("HUGE", vec![b'k'; 100_000]),
    ] {
        l.stick(name, &token);
        let e = l.wait_for(|v| v["event"] == "refused");
        assert!(e["reason"].as_str().unwrap().contains(name), "{e}");
    }
    assert_eq!(d.snapshot(TOUCHED_SCHEMAS), before, "nothing applied");
    l.stick("FIRST", b"high_contrast");
    l.wait_for(|v| v["event"] == "keyed_in");
    l.stick("SECOND", b"snapset_1a");
    let e = l.wait_for(|v| v["event"] == "refused");
    assert!(
        e["reason"].as_str().unwrap().contains("another stick"),
        "{e}"
    );
    assert_eq!(
        high_contrast(&d),
        "true",
        "the first stick's person stays keyed in"
    );
    l.pull("FIRST");
    assert_eq!(d.snapshot(TOUCHED_SCHEMAS), before);
}

#[test]
fn local_api_speaks_gpii_and_refuses_browsers_and_foreign_hosts() {
    let (d, before) = used_desktop();
    let l = Listener::start(&d);
    let api = l.api.clone();

    // Browsers and DNS rebinding are refused before anything happens.
    for h in [
        ("Origin", "http://evil.example"),
        ("Sec-Fetch-Site", "cross-site"),
        ("Referer", "http://evil.example/page"),
    ] {
        let (st, _) = http_get(&api, "/user/high_contrast/login", &[h]);
        assert_eq!(st, 403, "{h:?}");
    }
    let (st, _) = http_get(
        &api,
        "/user/high_contrast/login",
        &[("Host", "evil.example:8081")],
    );
    assert_eq!(st, 403);
    let (st, _) = http_get(
        &api,
        "/user/high_contrast/login",
        &[("Content-Length", "100000")],
    );
    assert_eq!(st, 413);
    assert_eq!(d.snapshot(TOUCHED_SCHEMAS), before, "nothing applied");

    // Logout with nobody keyed in: GPII's 409.
    let (st, body) = http_get(&api, "/user/high_contrast/logout", &[]);
    assert_eq!(st, 409);
    assert!(body.contains("but the user noUser is logged in"), "{body}");

    let (st, body) = http_get(&api, "/user/high_contrast/login", &[]);
    assert_eq!(st, 200, "{body}");
    assert_eq!(
        body,
        "User with GPII key high_contrast was successfully logged in."
    );
    // Any local program may ask for the status: it names the person by fingerprint only.
    let (st, body) = http_get(&api, "/status", &[]);
    assert_eq!(st, 200);
    let status: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(status["state"], "active");
    assert_eq!(status["key"], fingerprint("high_contrast"));
    assert!(
        !strings(&status).iter().any(|s| s.contains("high_contrast")),
        "no key in /status: {body}"
    );

    // Proximity: the same key again within 1.5 s bounces.
    let (st, _) = http_get(&api, "/user/high_contrast/proximityTriggered", &[]);
    assert_eq!(st, 429);
    // Another key switches users.
    let (st, body) = http_get(&api, "/user/snapset_1a/proximityTriggered", &[]);
    assert_eq!(st, 200, "{body}");
    assert_eq!(high_contrast(&d), "false");
    // Someone else's logout: GPII's 409 names the person keyed in by fingerprint only.
    let (st, body) = http_get(&api, "/user/high_contrast/logout", &[]);
    assert_eq!(st, 409, "{body}");
    assert!(!body.contains("snapset_1a"), "no key in the 409: {body}");
    assert!(body.contains(&fingerprint("snapset_1a")), "{body}");
    let (st, body) = http_get(&api, "/user/snapset_1a/logout", &[]);
    assert_eq!(st, 200, "{body}");
    assert_eq!(
        body,
        "User with GPII key snapset_1a was successfully logged out."
    );
    assert_eq!(d.snapshot(TOUCHED_SCHEMAS), before);

    // An unknown key: GPII's 500 shape with the reason.
    let (st, body) = http_get(&api, "/user/nobody_here/login", &[]);
    assert_eq!(st, 500);
    assert!(body.contains("Error occurred during login"), "{body}");
}

#[test]
fn a_storm_of_concurrent_logins_and_logouts_leaves_a_restorable_desktop() {
    let (d, before) = used_desktop();
    let l = Listener::start(&d);
    let keys = [
        "high_contrast",
        "snapset_1a",
        "magnifier_2x",
        "low_vision_combined",
    ];
    let ops = ["login", "logout", "proximityTriggered"];
    let handles: Vec<_> = (0..24)
        .map(|i| {
            let api = l.api.clone();
            let key = keys[i % keys.len()];
            let op = ops[(i / keys.len()) % ops.len()];
            std::thread::spawn(move || http_get(&api, &format!("/user/{key}/{op}"), &[]).0)
        })
        .collect();
    for h in handles {
        let st = h.join().unwrap();
        assert!([200, 409, 429].contains(&st), "unexpected status {st}");
    }
    // Whoever is keyed in now, keying out restores the original desktop exactly.
    let (_, body) = http_get(&l.api, "/status", &[]);
    let status: Value = serde_json::from_str(&body).unwrap();
    if status["state"] == "active" {
        let key = keys
            .iter()
            .find(|k| status["key"] == fingerprint(k))
            .unwrap();
        let (st, body) = http_get(&l.api, &format!("/user/{key}/logout"), &[]);
        assert_eq!(st, 200, "{body}");
    }
    assert_eq!(d.snapshot(TOUCHED_SCHEMAS), before);
}

/// The effective uid of this test process (`/proc/self/status`).
fn own_uid() -> Option<u32> {
    std::fs::read_to_string("/proc/self/status")
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// Another user's program is refused (403) before anything happens, and its answer carries no
/// key. Needs root to run a client as `nobody` (setpriv); elsewhere it says so and passes, and the
/// refusal is covered by attune-listen's own tests with an injected uid lookup.
#[test]
fn another_users_program_is_refused() {
    let setpriv = std::path::Path::new("/usr/bin/setpriv");
    let curl = std::path::Path::new("/usr/bin/curl");
    if own_uid() != Some(0) || !setpriv.exists() || !curl.exists() {
        eprintln!("skipped: needs root, setpriv and curl to connect as another user");
        return;
    }
    let (d, before) = used_desktop();
    let mut l = Listener::start(&d);
    let api = l.api.clone();
    let as_nobody = |path: &str| {
        let o = std::process::Command::new(setpriv)
            .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(curl)
            .args(["-s", "--max-time", "20", "-w", "\n%{http_code}"])
            .arg(format!("http://{api}{path}"))
            .output()
            .unwrap();
        let out = String::from_utf8_lossy(&o.stdout).into_owned();
        let (body, code) = out.rsplit_once('\n').unwrap_or(("", &out));
        (code.trim().to_owned(), body.to_owned())
    };

    let (code, body) = as_nobody("/user/high_contrast/login");
    assert_eq!(code, "403", "{body}");
    assert_eq!(d.snapshot(TOUCHED_SCHEMAS), before, "nothing applied");

    // Our own user keys someone in; nobody may not read who, nor key them out.
    let (st, body) = http_get(&api, "/user/snapset_1a/login", &[]);
    assert_eq!(st, 200, "{body}");
    l.wait_for(|v| v["event"] == "keyed_in");
    for path in ["/status", "/user/snapset_1a/logout"] {
        let (code, body) = as_nobody(path);
        assert_eq!(code, "403", "{path}: {body}");
        assert!(!body.contains("snapset_1a"), "{path}: {body}");
    }
    let (st, _) = http_get(&api, "/user/snapset_1a/logout", &[]);
    assert_eq!(st, 200);
    assert_eq!(d.snapshot(TOUCHED_SCHEMAS), before);
}

#[test]
fn a_second_listener_is_refused_naming_the_first_ones_pid() {
    let (d, _) = used_desktop();
    let first = Listener::start(&d);

    let second = d
        .command(attune_e2e::workspace_bin("attune-cli", "attune"))
        .args(["listen", "--local-api", "127.0.0.1:0", "--usb-root"])
        .arg(&first.media)
        .output()
        .unwrap();

    let said = String::from_utf8_lossy(&second.stderr);
    assert_eq!(second.status.code(), Some(1), "{said}");
    assert!(
        said.contains(&format!(
            "attune listen (process {})",
            first.child.0[0].id()
        )),
        "{said}"
    );
}

/// Sends `signal` (a `kill` name) to `pid` and waits for the process to end, at most `within`.
fn signal_and_wait(child: &mut std::process::Child, signal: &str, within: Duration) {
    let sent = std::process::Command::new("kill")
        .args([&format!("-{signal}"), &child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    let deadline = std::time::Instant::now() + within;
    loop {
        if child.try_wait().unwrap().is_some() {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "still running {within:?} after SIG{signal}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `attune listen` on a computer whose site file says `site`, watching its own stick root.
fn listener_with_site(d: &Desktop, site: &str) -> (std::process::Child, StdoutLines, PathBuf) {
    let media = d.dir.path().join("media");
    std::fs::create_dir_all(&media).unwrap();
    let site_file = d.dir.path().join("site.toml");
    std::fs::write(&site_file, site).unwrap();
    let (child, lines) = d.listen(
        &[
            "--no-local-api",
            "--poll-ms",
            "100",
            "--usb-root",
            media.to_str().unwrap(),
        ],
        &[("ATTUNE_SITE_CONFIG", site_file.to_str().unwrap())],
    );
    (child, lines, media)
}

/// The session's state, as `attune status --json` says it.
fn state(d: &Desktop) -> String {
    let out = d.attune(&["status", "--json"]);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    v["state"].as_str().unwrap_or_default().to_owned()
}

fn insert_stick(media: &std::path::Path, key: &str) {
    let staging = media.with_file_name("staging");
    std::fs::create_dir_all(&staging).unwrap();
    std::fs::write(staging.join(".gpii-user-token.txt"), key).unwrap();
    std::fs::rename(&staging, media.join("STICK")).unwrap();
}

#[test]
fn on_a_shared_computer_the_session_ending_keys_out_and_puts_the_desktop_back_first() {
    let (d, before) = used_desktop();
    // No idle key-out here (this test has no desktop to ask); the session end is the rule.
    let (mut child, lines, media) = listener_with_site(
        &d,
        "[session]\nshared_computer = true\nidle_key_out_minutes = 0\n",
    );
    insert_stick(&media, "high_contrast");
    lines
        .wait_for(WAIT, |l| l.contains("\"keyed_in\""))
        .expect("keyed in");
    assert_eq!(high_contrast(&d), "true");

    // The session manager's hang-up: put back within the five seconds a session end allows.
    signal_and_wait(&mut child, "HUP", Duration::from_secs(5));
    let out = lines
        .wait_for(WAIT, |l| l.contains("\"session_end\""))
        .expect("a keyed_out line with its cause");
    assert!(out.contains("\"keyed_out\""), "{out}");
    assert_eq!(d.snapshot(TOUCHED_SCHEMAS), before);
    assert_eq!(state(&d), "idle");
}

#[test]
fn on_a_personal_computer_the_session_ending_keeps_the_person_keyed_in() {
    let (d, _) = used_desktop();
    let (mut child, lines, media) = listener_with_site(&d, "");
    insert_stick(&media, "high_contrast");
    lines
        .wait_for(WAIT, |l| l.contains("\"keyed_in\""))
        .expect("keyed in");
    signal_and_wait(&mut child, "TERM", Duration::from_secs(5));
    assert_eq!(high_contrast(&d), "true");
    assert_eq!(state(&d), "active");
    d.attune(&["key-out"]);
}

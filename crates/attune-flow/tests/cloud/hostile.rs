//! Hostile numbers from the cloud, through the whole flow (issue 12 item 5): a key-in against the
//! fault server, through the real GSettings keyfile backend and the journal. An `expiresIn` or a
//! `Retry-After` too large for the clock once panicked after the settings were applied; now the
//! key-in completes and the numbers are clamped.

use std::path::Path;
use std::sync::{Mutex, MutexGuard, OnceLock};

use attune_flow::config::{Config, Profile};
use attune_flow::{Flow, Paths};

use crate::fault::{FaultServer, Reply};
use crate::resilience;

/// A UUID that is no snapset, so no snapset fallback hides what the cloud path did.
const PERSON: &str = "6f1c1c1e-9a43-4f3b-8d2e-0c1f4c2b7a11";

/// The process's one throw-away desktop. GSettings reads its backend from the environment once
/// per process, so the tests here share it and take [`serial`] while they run.
fn desktop() -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let p = |d: &str| dir.path().join(d);
        for d in ["home", "config", "data"] {
            std::fs::create_dir_all(p(d)).unwrap();
        }
        // Edition 2021: set_var is safe; it runs once, before anything here touches GSettings.
        std::env::set_var("HOME", p("home"));
        std::env::set_var("XDG_CONFIG_HOME", p("config"));
        std::env::set_var("XDG_DATA_HOME", p("data"));
        std::env::set_var("GSETTINGS_BACKEND", "keyfile");
        dir
    })
    .path()
}

fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// The cloud's answer for the person, as attune-model's matchmaker makes it.
fn answer() -> String {
    let prefs = attune_model::bundled::snapset("high_contrast")
        .unwrap()
        .unwrap();
    let registry = attune_model::bundled::linux_registry().unwrap();
    let device = attune_model::device::DeviceReport::linux(registry.solutions.keys().cloned());
    let o =
        attune_model::matchmaker::match_and_transform(&prefs, "gpii-default", &registry, &device)
            .unwrap();
    serde_json::json!({
        "gpiiKey": PERSON,
        "preferences": o.filtered_preferences,
        "solutionsRegistryEntries": o.registry_entries,
        "matchMakerOutput": o.matchmaker_output,
    })
    .to_string()
}

/// A development-profile flow with its own state under `root`, talking to `url`.
fn flow_for(root: &Path, url: &str) -> Flow {
    desktop();
    let mut cfg = Config::defaults(Profile::Development);
    cfg.cloud.urls = vec![url.to_owned()];
    cfg.resilience = resilience();
    Flow::new(cfg, Paths::under(root)).unwrap()
}

/// The fault server runs on its own runtime: the flow blocks on one of its own, which cannot be
/// started from inside another.
fn server_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn a_token_that_never_expires_keys_in_without_panicking() {
    let _serial = serial();
    let rt = server_runtime();
    let body = answer();
    let s = rt.block_on(FaultServer::start(move |req, _| {
        if req.path == "/access_token" {
            Reply::json(
                r#"{"access_token":"tok","expiresIn":18446744073709551615,"token_type":"Bearer"}"#,
            )
        } else {
            Reply::json(&body)
        }
    }));
    let root = tempfile::tempdir().unwrap();
    let flow = flow_for(root.path(), &s.url());

    let out = flow.key_in(PERSON).unwrap();

    assert_eq!(out.source.as_str(), "cloud");
    assert!(out.counts.applied > 0, "{:?}", out.counts);
    let st = flow.status().unwrap();
    assert_eq!(st.state, "active");
    assert_eq!(st.connectivity.map(|c| c.as_str()), Some("online"));
    flow.key_out().unwrap();
}

#[test]
fn a_retry_after_too_long_for_the_clock_falls_back_without_panicking() {
    let _serial = serial();
    let rt = server_runtime();
    let s = rt.block_on(FaultServer::always(Reply::status(
        503,
        &[("Retry-After", "99999999999999999999")],
        r#"{"isError":true,"message":"busy"}"#,
    )));
    let root = tempfile::tempdir().unwrap();
    let flow = flow_for(root.path(), &s.url());

    // No cache and no snapset of that name: nothing to apply, the offline answer.
    let first = flow.key_in(PERSON).unwrap_err();
    let calls = s.count();
    // The server asked not to be called: the next key-in does not call it.
    let second = flow.key_in(PERSON).unwrap_err();

    assert_eq!(first.kind(), "offline", "{first}");
    assert_eq!(calls, 1, "a Retry-After beyond the deadline is not retried");
    assert_eq!(second.kind(), "offline", "{second}");
    assert_eq!(s.count(), calls, "held by the server's Retry-After");
}

/// Issue 21 item 2: with nothing applied, only a flow whose process keeps asking the cloud (the
/// app, `attune listen`) says "We'll keep trying"; one that exits (the `attune` command) says
/// what to do instead.
#[test]
fn nothing_applied_promises_a_retry_only_from_a_flow_that_reconnects() {
    let _serial = serial();
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", l.local_addr().unwrap())
    };
    let root = tempfile::tempdir().unwrap();
    let exits = flow_for(&root.path().join("cli"), &closed);
    let reconnects = flow_for(&root.path().join("app"), &closed);
    reconnects.set_reconnects_in_background(true);

    let told = exits.key_in(PERSON).unwrap_err().to_string();
    let promised = reconnects.key_in(PERSON).unwrap_err().to_string();

    assert!(!told.contains("keep trying"), "{told}");
    assert!(
        told.ends_with(
            "Try again when the server is back, or key in with a snapset: `attune snapsets`."
        ),
        "{told}"
    );
    assert!(promised.ends_with("We'll keep trying."), "{promised}");
}

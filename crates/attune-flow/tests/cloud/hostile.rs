//! Hostile numbers from the cloud, through the whole flow (issue 12 item 5): a key-in against the
//! fault server, through the real GSettings keyfile backend and the journal. An `expiresIn` or a
//! `Retry-After` too large for the clock once panicked after the settings were applied; now the
//! key-in completes and the numbers are clamped.

use std::path::Path;
use std::sync::{Mutex, MutexGuard, OnceLock};

use attune_flow::{Config, Profile};
use attune_flow::{Flow, Paths};
use attune_testkit::gpii::PERSON;
use attune_testkit::{FaultServer, KeyfileDesktop, Reply};

use crate::resilience;

/// The process's one throw-away desktop. GSettings reads its backend from the environment once
/// per process, so the tests here share it and take [`serial`] while they run.
pub(crate) fn desktop() -> &'static KeyfileDesktop {
    static DESKTOP: OnceLock<KeyfileDesktop> = OnceLock::new();
    DESKTOP.get_or_init(|| {
        let d = KeyfileDesktop::new();
        d.install_in_process();
        d
    })
}

pub(crate) fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// A development-profile flow with its own state under `root`, talking to `url`.
fn flow_for(root: &Path, url: &str) -> Flow {
    desktop();
    let mut cfg = Config::defaults(Profile::Development);
    cfg.cloud.urls = vec![url.to_owned()];
    cfg.resilience = resilience();
    Flow::new(cfg, Paths::under(root)).unwrap()
}

#[test]
fn a_token_that_never_expires_keys_in_without_panicking() {
    let _serial = serial();
    let body = attune_testkit::gpii::answer(PERSON, "high_contrast").to_string();
    let s = FaultServer::start(move |req, _| {
        if req.path == "/access_token" {
            Reply::json(&attune_testkit::gpii::token("tok", u64::MAX))
        } else {
            Reply::json(&body)
        }
    });
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
    let s = FaultServer::always(Reply::status(
        503,
        &[("Retry-After", "99999999999999999999")],
        &attune_testkit::http::gpii_error("busy"),
    ));
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
    let closed = attune_testkit::refused_url();
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

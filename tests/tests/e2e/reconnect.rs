//! Background reconnection against the real `attune-cloud` (audit, issue 12 item 16): a reconnect
//! gets its token at the first attempt, because the client's async runtime lives as long as the
//! client, so no pooled connection is left to a runtime nobody drives.

use std::time::Duration;

use attune_e2e::Desktop;
use attune_testkit::Fault;
use serde_json::Value;

use crate::common::{cloud_env, key_out_restores, used_desktop};
use crate::real_cloud::start_cloud_behind_proxy;

pub(crate) const KEY: &str = "low_vision_combined";

/// The cloud contact history of this desktop (one JSON line per cloud call, with its attempts).
fn contacts(d: &Desktop) -> Vec<Value> {
    let path = d.dir.path().join("state/attune/cloud-contacts.jsonl");
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn a_background_reconnect_gets_its_token_at_the_first_attempt() {
    let (d, before) = used_desktop();
    let (_cloud, proxy) = start_cloud_behind_proxy(d.dir.path());
    let url = proxy.url();
    let env = cloud_env(&url);
    // Prime the cache; then the cloud goes away and the key-in is served from the cache.
    d.attune_with_ok(&["key-in", KEY], &env);
    d.attune_with_ok(&["key-out"], &env);
    proxy.set(Fault::Refuse);
    let o = d.attune_with_ok(&["key-in", KEY, "--json"], &env);
    let out: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(out["source"]["kind"], "cache", "{out}");
    // The cloud is back before the listener starts, so each of its calls can succeed at once.
    proxy.set(Fault::Pass);
    let seen = contacts(&d).len();

    // One process does the probe and the key-in again (`Flow::reconnect`), as the app does.
    let reconnected = d.listener_reconnects(&env, Duration::from_secs(60), || {});
    assert!(reconnected, "the listener reconnected the session");

    // The probe's token, the key-in's token and settings: each answered at its first attempt.
    // (Before the fix the key-in's token call took the probe's pooled connection, whose runtime
    // was no longer driven, lost its first attempt to the 4-s attempt timeout, and retried.)
    let calls = contacts(&d).split_off(seen);
    let tokens = calls.iter().filter(|c| c["operation"] == "token").count();
    assert!(tokens >= 2, "probe and key-in: {calls:?}");
    for c in &calls {
        assert_eq!(c["outcome"], "ok", "{calls:?}");
        assert_eq!(
            c["attempts"], 1,
            "every call at its first attempt: {calls:?}"
        );
    }
    let st: Value =
        serde_json::from_slice(&d.attune_with(&["status", "--json"], &env).stdout).unwrap();
    assert_eq!(st["connectivity"], "online");
    key_out_restores(&d, &env, &before);
}

//! A key-in that applied nothing because the cloud was away stays pending in a process that
//! reconnects (the app, `attune listen`), so its "We'll keep trying" is kept: `Flow::reconnect`
//! keys the person in once the cloud answers. Any other key event cancels it, it runs out, and a
//! command that exits keeps nothing pending (issue 21 item 2; docs/design.md §3).

use std::time::Duration;

use attune_flow::{Flow, FlowError};
use attune_testkit::gpii::OutageCloud;
use attune_testkit::gpii::PERSON;

use attune_flow::Paths;
use attune_flow::{Config, Profile};

use crate::hostile::{desktop, serial};

/// A development-profile flow talking to `url`, whose breaker stays closed: these tests are about
/// the pending key-in, not about the breaker's pause after repeated failures.
fn flow_for(root: &std::path::Path, url: &str) -> Flow {
    desktop();
    let mut cfg = Config::defaults(Profile::Development);
    cfg.cloud.urls = vec![url.to_owned()];
    cfg.resilience = crate::resilience();
    cfg.resilience.breaker_failures = u32::MAX;
    Flow::new(cfg, Paths::under(root)).unwrap()
}

/// The serial guard, a cloud that is down, a state dir, and a flow on them.
fn setup() -> (
    std::sync::MutexGuard<'static, ()>,
    OutageCloud,
    tempfile::TempDir,
    Flow,
) {
    let serial = serial();
    let cloud = OutageCloud::start("high_contrast");
    let root = tempfile::tempdir().unwrap();
    let flow = flow_for(root.path(), &cloud.url());
    (serial, cloud, root, flow)
}

fn high_contrast() -> String {
    desktop().get("org.gnome.desktop.a11y.interface", "high-contrast")
}

/// Keys in while the cloud is down: nothing applied, the error says whether it keeps trying.
fn failed_key_in(flow: &Flow) -> (String, bool) {
    match flow.key_in(PERSON) {
        Err(FlowError::Offline {
            message,
            keeps_trying,
            ..
        }) => (message, keeps_trying),
        other => panic!("expected an offline failure, got {other:?}"),
    }
}

#[test]
fn a_pending_key_in_is_carried_out_when_the_cloud_comes_back() {
    let (_serial, cloud, _root, flow) = setup();
    flow.set_reconnects_in_background(true);
    let before = high_contrast();

    let (message, keeps_trying) = failed_key_in(&flow);
    assert!(keeps_trying);
    assert!(message.ends_with("We'll keep trying."), "{message}");
    assert!(flow.has_pending_key_in());
    assert_eq!(flow.status().unwrap().state, "idle");
    assert_eq!(high_contrast(), before, "nothing applied");

    // Still away: the reconnector is told to back off, and the key-in stays pending.
    assert_eq!(flow.reconnect().unwrap(), Some(false));
    assert!(flow.has_pending_key_in());
    assert_eq!(high_contrast(), before);

    cloud.set_down(false);
    assert_eq!(flow.reconnect().unwrap(), Some(true));
    let st = flow.status().unwrap();
    assert_eq!(st.state, "active");
    assert_eq!(st.source, Some("cloud"));
    assert_eq!(high_contrast(), "true");
    assert!(!flow.has_pending_key_in(), "done, so no longer pending");
    assert_eq!(flow.reconnect().unwrap(), None, "online: nothing to do");

    flow.key_out().unwrap();
    assert_eq!(high_contrast(), before);
}

/// Leaves a pending key-in on `flow` (the cloud down), drops it with `drop`, brings the cloud
/// back and checks that nothing is keyed in and the cloud is not even asked.
fn assert_dropped(flow: &Flow, cloud: &OutageCloud, drop: impl FnOnce(&Flow)) {
    cloud.set_down(true);
    flow.set_reconnects_in_background(true);
    failed_key_in(flow);
    drop(flow);
    cloud.set_down(false);
    let asked = cloud.count();
    assert_eq!(flow.reconnect().unwrap(), None);
    assert_eq!(cloud.count(), asked, "the cloud is not asked for it");
    assert_eq!(flow.status().unwrap().state, "idle");
}

#[test]
fn a_pending_key_in_is_dropped_by_another_key_event_or_when_it_runs_out() {
    let (_serial, cloud, root, flow) = setup();

    // Cancelled: the listener queue does this for every key event, a pulled stick included.
    assert_dropped(&flow, &cloud, Flow::cancel_pending_key_in);
    // A key-out, even with nobody keyed in.
    assert_dropped(&flow, &cloud, |f| {
        assert!(matches!(f.key_out(), Err(FlowError::NotKeyedIn)));
    });
    // Run out: a person who gave up is not keyed in later.
    let flow = flow_for(root.path(), &cloud.url()).with_pending_key_in_for(Duration::ZERO);
    assert_dropped(&flow, &cloud, |_| {});
}

#[test]
fn a_command_that_exits_promises_nothing_and_keeps_nothing_pending() {
    let (_serial, _cloud, _root, flow) = setup();

    let (message, keeps_trying) = failed_key_in(&flow);
    assert!(!keeps_trying);
    assert!(!message.contains("keep trying"), "{message}");
    assert!(!flow.has_pending_key_in());
}

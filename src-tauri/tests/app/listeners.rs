//! The key-in listeners hosted by the app (issue 14 item 1): a stick appearing in the configured
//! mount root keys in and its removal keys out, the page hears "USB key found" / "USB key
//! removed" as it happens, and the app runs no listener while `attune listen` holds them.

use std::time::{Duration, Instant};

use attune_app::listeners::LISTENER_EVENT;
use attune_listen::owner::{self, ListenerLock, Owner};

use super::*;

const WAIT: Duration = Duration::from_secs(20);

/// A harness whose flow watches `media` for sticks and serves no local API.
fn with_usb_root(media: &Path) -> Harness {
    let guard = serial();
    desktop();
    let root = tempfile::tempdir().unwrap();
    let mut flow = testing_flow(root.path());
    let mut config = flow.config().clone();
    config.usb.roots = Some(vec![media.to_path_buf()]);
    config.local_api.enabled = false;
    flow = Flow::new(config, Paths::under(root.path())).unwrap();
    Harness::with_flow(Ok(flow), root, guard)
}

fn until(what: &str, ok: impl Fn() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !ok() {
        assert!(Instant::now() < deadline, "{what} within {WAIT:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_stick_keys_in_and_out_and_the_page_hears_of_it_as_it_happens() {
    let media = tempfile::tempdir().unwrap();
    let h = with_usb_root(media.path());
    let heard = Arc::new(Mutex::new(Vec::<Value>::new()));
    let sink = heard.clone();
    h.app.listen(LISTENER_EVENT, move |e| {
        sink.lock()
            .unwrap()
            .push(serde_json::from_str(e.payload()).unwrap());
    });
    let before = gsettings_get("org.gnome.desktop.interface", "text-scaling-factor");

    attune_app::shell::start_background(h.app.handle());
    until("the listeners start", || {
        h.invoke("get_status", Value::Null).unwrap()["listeners"]["usb"] == true
    });
    let stick = media.path().join("STICK");
    std::fs::create_dir(&stick).unwrap();
    std::fs::write(stick.join(".gpii-user-token.txt"), "snapset_1a\n").unwrap();
    until("the stick's settings are applied", || {
        gsettings_get("org.gnome.desktop.interface", "text-scaling-factor") == "1.25"
    });
    std::fs::remove_dir_all(&stick).unwrap();
    until("pulling the stick puts the desktop back", || {
        gsettings_get("org.gnome.desktop.interface", "text-scaling-factor") == before
    });
    until("the page hears the stick go", || {
        heard.lock().unwrap().len() >= 2
    });

    let heard = heard.lock().unwrap().clone();
    let texts: Vec<&str> = heard.iter().filter_map(|n| n["text"].as_str()).collect();
    assert_eq!(texts, ["USB key found", "USB key removed"]);
}

#[test]
fn the_app_runs_no_listener_while_attune_listen_holds_them_and_says_whose_they_are() {
    let media = tempfile::tempdir().unwrap();
    let h = with_usb_root(media.path());
    let state_dir = Paths::under(h.root.path()).state_dir;
    let _cli = ListenerLock::acquire(&owner::lock_path(&state_dir), Owner::Cli).unwrap();

    attune_app::shell::start_background(h.app.handle());
    until("the listeners are tried", || {
        !h.invoke("get_status", Value::Null).unwrap()["listeners"]["problem"].is_null()
    });
    let status = h.invoke("get_status", Value::Null).unwrap();

    assert_eq!(status["listeners"]["usb"], false, "{status}");
    let problem = status["listeners"]["problem"].as_str().unwrap_or_default();
    assert!(
        problem.contains(&format!("attune listen (process {})", std::process::id())),
        "{problem}"
    );
}

//! The client against the real `attune-cloud` (SQLite store, `--dev` data) on 127.0.0.1: a snapset
//! key is served by the cloud, applied and cached; with the cloud stopped, the next key-in is
//! served from the cache with the exact words; key-out puts the desktop back.

use attune_e2e::{assert_says, workspace_bin};
use attune_testkit::serving::Serving;
use attune_testkit::FaultProxy;
use serde_json::Value;

use crate::common::{cloud_env, high_contrast, key_out_restores, text_scale, used_desktop};

/// The real `attune-cloud serve --dev` on 127.0.0.1:0 with its SQLite store under `dir`.
pub(crate) fn start_cloud(dir: &std::path::Path) -> Serving {
    let db = dir.join("cloud.sqlite");
    let mut c = std::process::Command::new(workspace_bin("attune-cloud", "attune-cloud"));
    c.arg("serve")
        .arg("--store")
        .arg(format!("sqlite:{}", db.display()))
        .args(["--listen", "127.0.0.1:0", "--dev"])
        .env_remove("ATTUNE_CLOUD_LISTEN")
        .env_remove("ATTUNE_CLOUD_STORE");
    Serving::start(c)
}

/// [`start_cloud`] behind a TCP fault proxy (passing everything until told otherwise).
pub(crate) fn start_cloud_behind_proxy(dir: &std::path::Path) -> (Serving, FaultProxy) {
    let cloud = start_cloud(dir);
    let proxy = FaultProxy::start(cloud.url.trim_start_matches("http://").parse().unwrap());
    (cloud, proxy)
}

#[test]
fn a_key_served_by_the_real_cloud_is_applied_cached_and_then_served_offline() {
    let (d, before) = used_desktop();
    let cloud = start_cloud(d.dir.path());
    let url = cloud.url.clone();
    let env = cloud_env(&url);

    let o = d.attune_with_ok(&["key-in", "low_vision_combined", "--json"], &env);
    let out: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(out["source"]["kind"], "cloud", "{out}");
    assert_eq!(text_scale(&d), "1.5");
    assert_eq!(
        d.get("org.gnome.desktop.a11y.magnifier", "mag-factor"),
        "1.5"
    );
    key_out_restores(&d, &env, &before);

    drop(cloud);
    let o = d.attune_with_ok(&["key-in", "low_vision_combined"], &env);
    assert_says(
        &o,
        "Can't reach the preferences server. Using your saved settings from",
    );
    assert_eq!(text_scale(&d), "1.5");
    key_out_restores(&d, &env, &before);
}

/// `attune-cloud ARGS` (an administrator's command), which must succeed.
pub(crate) fn cloud_admin(args: &[&str]) {
    attune_testkit::process::run(
        std::process::Command::new(workspace_bin("attune-cloud", "attune-cloud"))
            .args(args)
            .env_remove("ATTUNE_CLOUD_STORE"),
    );
}

/// docs/design.md §6.2 and docs/test-matrix.md N15 against the real server: a person keys in, then
/// the site restores the cloud's database from a backup taken before their token was issued
/// ("logged in a minute ago, database restored from five minutes ago"). Their next change is kept
/// here and they are told, in the exact words, to log out and back in; the one click saves it.
#[test]
fn a_database_restored_from_an_older_backup_makes_the_token_stale_and_relogin_saves_the_change() {
    const PERSON: &str = "alex-7f3a9c2e";
    // 20 pt over GNOME's 12 pt, rounded to two places by the registry's transform.
    const TWENTY_PT: &str = "1.6699999999999999";
    let (d, before) = used_desktop();
    let dir = d.dir.path();
    let store = format!("sqlite:{}", dir.join("cloud.sqlite").display());
    let cloud = cloud_with_person(dir, PERSON);
    let backup = dir.join("before-key-in.sqlite");
    cloud_admin(&[
        "backup",
        "--store",
        &store,
        "--out",
        backup.to_str().unwrap(),
    ]);

    let run = |url: &str, args: &[&str]| d.attune_with(args, &cloud_env(url));
    let o = d.attune_with_ok(&["key-in", PERSON, "--json"], &cloud_env(&cloud.url));
    assert_eq!(
        serde_json::from_slice::<Value>(&o.stdout).unwrap()["source"]["kind"],
        "cloud"
    );

    // A change saved while all is well…
    let o = run(&cloud.url, &["set", "highContrast/enabled", "false"]);
    assert_eq!(o.status.code(), Some(0), "saved");

    // …then the site restores yesterday's backup: the token this computer holds is gone, and
    // so is the saved change.
    drop(cloud);
    cloud_admin(&[
        "restore",
        "--store",
        &store,
        "--from",
        backup.to_str().unwrap(),
    ]);
    let cloud = start_cloud(dir);

    let o = run(&cloud.url, &["set", "fontSize", "20", "--json"]);
    assert_eq!(o.status.code(), Some(12), "applied here, not saved");
    let out: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        out["message"],
        "Something has gone wrong. Please log out and log back in."
    );
    assert_eq!(out["outbox"], 1);
    assert_eq!(text_scale(&d), TWENTY_PT, "the change is applied at once");
    let st: Value = serde_json::from_slice(&run(&cloud.url, &["status", "--json"]).stdout).unwrap();
    assert_eq!(st["connectivity"], "auth_stale");
    assert_eq!(st["save_state"]["state"], "pending");
    assert_eq!(
        st["message"],
        "Something has gone wrong. Please log out and log back in."
    );

    // The one click: log out and back in, and the change is saved.
    d.attune_with_ok(&["relogin", "--json"], &cloud_env(&cloud.url));
    let st: Value = serde_json::from_slice(&run(&cloud.url, &["status", "--json"]).stdout).unwrap();
    assert_eq!(st["connectivity"], "online", "{st}");
    assert_eq!(st["outbox"], 0, "{st}");
    assert_eq!(st["save_state"]["state"], "saved");
    assert_eq!(
        text_scale(&d),
        TWENTY_PT,
        "the change stays applied through the relogin"
    );

    // Both in the cloud (the change the restore lost was sent again): a fresh key-in on a clean
    // computer gets them.
    let env = cloud_env(&cloud.url);
    key_out_restores(&d, &env, &before);
    d.attune_with_ok(&["key-in", PERSON], &env);
    assert_eq!(text_scale(&d), TWENTY_PT);
    assert_eq!(high_contrast(&d), "false");
    key_out_restores(&d, &env, &before);
}

/// docs/test-matrix.md §1 between the unmodified client and the unmodified server: the real
/// `attune-cloud` behind a TCP fault proxy. With the cache primed, each fault ends in the cached
/// settings, the right words, and inside the key-in deadline; key-out puts everything back.
#[test]
fn network_faults_in_front_of_the_real_cloud_fall_back_to_the_cache_within_the_deadline() {
    use attune_testkit::{After, Fault};
    use std::time::{Duration, Instant};

    let (d, before) = used_desktop();
    let (_cloud, proxy) = start_cloud_behind_proxy(d.dir.path());
    // Scaled-down policy so the suite is quick: attempt 1.5 s, key-in deadline 4 s.
    d.user_config(
        "[resilience]\nconnect_timeout_ms = 1000\nattempt_timeout_ms = 1500\ndeadline_ms = 4000\n\
         backoff_base_ms = 50\nbackoff_cap_ms = 200\n",
    );
    let deadline = Duration::from_millis(4000);
    // Process start, the cache apply and key-in bookkeeping on a loaded two-core machine.
    let slack = Duration::from_millis(2500);
    let url = proxy.url();
    let env = cloud_env(&url);
    let key_in = |expect_source: &str| {
        let t0 = Instant::now();
        let o = d.attune_with_ok(&["key-in", "low_vision_combined", "--json"], &env);
        let took = t0.elapsed();
        let out: Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(out["source"]["kind"], expect_source, "{out}");
        assert_eq!(text_scale(&d), "1.5");
        (out["message_text"].as_str().unwrap().to_owned(), took)
    };
    let key_out = || key_out_restores(&d, &env, &before);

    key_in("cloud");
    key_out();
    proxy.set(Fault::Delay(Duration::from_millis(800)));
    let (_, took) = key_in("cloud");
    assert!(took >= Duration::from_millis(800), "{took:?}");
    key_out();

    let cant_reach = "Can't reach the preferences server. Using your saved settings from";
    let cases = [
        (Fault::Refuse, cant_reach),
        (Fault::Blackhole, cant_reach),
        (Fault::Stall, cant_reach),
        (Fault::Cut {
                body_bytes: 10,
                after: After::Hold,
            }, cant_reach),
        (Fault::Cut {
                body_bytes: 10,
                after: After::Reset,
            }, cant_reach),
        (Fault::Cut {
                body_bytes: 10,
                after: After::Close,
            }, cant_reach),
        (Fault::Garbage, "Using your saved settings from"),
        (
            Fault::Oversized {
                bytes: 5 * 1024 * 1024,
            },
            "The preferences server sent something we could not read. Using your saved settings from",
        ),
    ];
    for (toxic, words) in cases {
        proxy.set(toxic.clone());
        let seen = proxy.connections();
        let (text, took) = key_in("cache");
        assert!(text.contains(words), "{toxic:?}: {text}");
        eprintln!(
            "{toxic:?}: {took:?}, {tries} connections",
            tries = proxy.connections() - seen
        );
        assert!(took < deadline + slack, "{toxic:?}: {took:?}");
        let tries = proxy.connections() - seen;
        assert!((1..=3).contains(&tries), "{toxic:?}: {tries} connections");
        if matches!(toxic, Fault::Oversized { .. }) {
            assert_eq!(tries, 1, "an oversized answer is not asked for again");
        }
        key_out();
    }

    // HTTP faults: a busy server is asked three times; one that asks for an hour's pause and one
    // of another API major are asked once.
    let http_cases = [
        (
            Fault::Status {
                status: 503,
                headers: vec![],
            },
            "The preferences server is having problems. Using your saved settings from",
            3,
        ),
        (
            Fault::Status {
                status: 429,
                headers: vec![("Retry-After".to_owned(), "3600".to_owned())],
            },
            "The preferences server is having problems. Using your saved settings from",
            1,
        ),
        (
            Fault::ApiVersion("2.0".to_owned()),
            "This computer's Attune and the server do not match (client API 1.0, server API 2.0)",
            1,
        ),
    ];
    for (toxic, words, tries) in http_cases {
        proxy.set(toxic.clone());
        let seen = proxy.connections();
        let (text, took) = key_in("cache");
        assert!(text.starts_with(words), "{toxic:?}: {text}");
        assert!(took < deadline + slack, "{toxic:?}: {took:?}");
        assert_eq!(proxy.connections() - seen, tries, "{toxic:?}");
        let st: Value =
            serde_json::from_slice(&d.attune_with(&["status", "--json"], &env).stdout).unwrap();
        let expected = if matches!(toxic, Fault::ApiVersion(_)) {
            "version_mismatch"
        } else {
            "offline"
        };
        assert_eq!(st["connectivity"], expected, "{toxic:?}");
        key_out();
    }

    // And back: the cloud's answer again.
    proxy.set(Fault::Pass);
    key_in("cloud");
    key_out();
}

/// A cloud started in `dir` on the SQLite store `dir/cloud.sqlite`, holding `person`'s
/// preferences (the low-vision snapset's) as a user's.
pub(crate) fn cloud_with_person(dir: &std::path::Path, person: &str) -> Serving {
    let prefs = dir.join(format!("{person}.json5"));
    std::fs::copy(
        attune_e2e::workspace_root().join("snapsets/low_vision_combined.json5"),
        &prefs,
    )
    .unwrap();
    let cloud = start_cloud(dir);
    let store = format!("sqlite:{}", dir.join("cloud.sqlite").display());
    cloud_admin(&[
        "load",
        "--store",
        &store,
        "--as",
        "user",
        prefs.to_str().unwrap(),
    ]);
    cloud
}

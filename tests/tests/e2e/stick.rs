//! The portable key (docs/design.md §10.3; issue 17 item 2) on the real binary against the real
//! `attune-cloud` behind the test kit's fault proxy: `attune stick write` seals a person's
//! preferences on their stick; that stick keys in on a fresh computer whose cloud is blackholed;
//! the cloud answering later wins by difference and refreshes the stick's stale copy; and every
//! way the sealed file can be wrong is refused with its reason, the next source used.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use attune_e2e::{assert_exit, Desktop};
use attune_testkit::serving::Serving;
use attune_testkit::{Fault, FaultProxy};
use serde_json::Value;

use crate::common::{cloud_env, high_contrast, text_scale, used_desktop, TOUCHED_SCHEMAS};
use crate::real_cloud::{cloud_admin, start_cloud_behind_proxy};

/// A person whose preferences are the low-vision snapset's (text 150 %, high contrast, a 64 px
/// pointer, the magnifier at 1.5×).
const SAM: &str = "sam-0c9e41d7";
/// Another person (the large-text snapset's).
const ALEX: &str = "alex-7f3a9c2e";

/// The cloud's side, shared by the computers of one test: the real cloud behind a fault proxy.
struct Cloud {
    _cloud: Serving,
    proxy: FaultProxy,
    dir: tempfile::TempDir,
}

impl Cloud {
    /// The real cloud holding `SAM` and `ALEX`.
    fn start() -> Cloud {
        let dir = tempfile::tempdir().unwrap();
        let (cloud, proxy) = start_cloud_behind_proxy(dir.path());
        let store = format!("sqlite:{}", dir.path().join("cloud.sqlite").display());
        for (person, snapset) in [(SAM, "low_vision_combined"), (ALEX, "large_text")] {
            let prefs = dir.path().join(format!("{person}.json5"));
            std::fs::copy(
                attune_e2e::workspace_root().join(format!("snapsets/{snapset}.json5")),
                &prefs,
            )
            .unwrap();
            cloud_admin(&[
                "load",
                "--store",
                &store,
                "--as",
                "user",
                prefs.to_str().unwrap(),
            ]);
        }
        Cloud {
            _cloud: cloud,
            proxy,
            dir,
        }
    }

    fn url(&self) -> String {
        self.proxy.url()
    }

    /// A folder standing for a USB stick (not yet "inserted" anywhere).
    fn stick(&self, name: &str) -> PathBuf {
        let p = self.dir.path().join("sticks").join(name);
        std::fs::create_dir_all(&p).unwrap();
        p
    }
}

/// A computer whose cloud calls give up quickly (a blackholed cloud costs 0.8 s, not 10).
fn quick(d: &Desktop) {
    d.user_config(
        "[resilience]\nconnect_timeout_ms = 500\nattempt_timeout_ms = 800\ndeadline_ms = 1500\n\
         max_attempts = 1\n",
    );
}

/// Keys `person` in at `d` from the cloud and seals their preferences on `stick`, then keys out.
/// The cache `d` keeps is a second older than the stick's copy (both are dated in whole seconds).
fn write_stick_online(d: &Desktop, cloud: &Cloud, person: &str, stick: &Path) -> Value {
    let url = cloud.url();
    let env = cloud_env(&url);
    d.attune_with_ok(&["key-in", person], &env);
    std::thread::sleep(Duration::from_millis(1100));
    let o = d.attune_with_ok(
        &["stick", "write", "--to", stick.to_str().unwrap(), "--json"],
        &env,
    );
    d.attune_with_ok(&["key-out"], &env);
    serde_json::from_slice(&o.stdout).unwrap()
}

fn sealed(stick: &Path) -> PathBuf {
    stick.join(".attune/preferences.sealed")
}

/// `attune key-in --stick DIR --json` (the key from the stick) at `d`.
fn key_in_from(d: &Desktop, cloud: &Cloud, stick: &Path) -> std::process::Output {
    d.attune_with(
        &["key-in", "--stick", stick.to_str().unwrap(), "--json", "-v"],
        &cloud_env(&cloud.url()),
    )
}

fn json(o: &std::process::Output) -> Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
        panic!(
            "{e}: {}\n{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        )
    })
}

fn status(d: &Desktop, cloud: &Cloud) -> Value {
    json(&d.attune_with_ok(&["status", "--json"], &cloud_env(&cloud.url())))
}

#[test]
fn a_stick_written_online_keys_in_on_a_fresh_computer_whose_cloud_is_blackholed() {
    let cloud = Cloud::start();
    let stick = cloud.stick("SAMSTICK");
    let (home, _) = used_desktop();
    let out = write_stick_online(&home, &cloud, SAM, &stick);
    assert_eq!(out["token_kept"], false, "{out}");
    assert_eq!(
        std::fs::read_to_string(stick.join(".gpii-user-token.txt")).unwrap(),
        format!("{SAM}\n")
    );
    let bytes = std::fs::read(sealed(&stick)).unwrap();
    let text = String::from_utf8_lossy(&bytes);
    for secret in [SAM, "Low vision", "fontSize", "registry.gpii.net"] {
        assert!(!text.contains(secret), "the sealed file shows {secret}");
    }

    // A computer that has never seen Sam, its cloud blackholed; its listener watches `media`.
    let (fresh, before) = used_desktop();
    quick(&fresh);
    cloud.proxy.set(Fault::Blackhole);
    let media = fresh.dir.path().join("media");
    std::fs::create_dir_all(&media).unwrap();
    let url = cloud.url();
    let env = cloud_env(&url);
    let (mut child, lines) = fresh.listen(
        &[
            "--no-local-api",
            "--poll-ms",
            "250",
            "--usb-root",
            media.to_str().unwrap(),
        ],
        &env,
    );
    let event = |l: &str| serde_json::from_str::<Value>(l).ok();
    let wait = |what: &str| {
        let line = lines
            .wait_for(Duration::from_secs(30), |l| {
                event(l).is_some_and(|v| v["event"] == what)
            })
            .unwrap_or_else(|| panic!("no {what} event"));
        (Instant::now(), event(&line).unwrap())
    };
    wait("listening");
    // Inserted: the stick's folder appears whole in the mount root, as a mount does.
    let staging = fresh.dir.path().join("staging");
    std::fs::create_dir_all(staging.join(".attune")).unwrap();
    for f in [".gpii-user-token.txt", ".attune/preferences.sealed"] {
        std::fs::copy(stick.join(f), staging.join(f)).unwrap();
    }
    std::fs::rename(&staging, media.join("SAMSTICK")).unwrap();
    let (seen, _) = wait("stick_found");
    let (applied, e) = wait("applied");
    assert_eq!(e["source"], "stick", "{e}");
    eprintln!(
        "stick seen → settings applied: {:?} (cloud blackholed, no cache; debug build, \
         Argon2id optimised)",
        applied - seen
    );
    let (_, e) = wait("keyed_in");
    assert_eq!(e["via"], "usb_stick", "{e}");

    let st = status(&fresh, &cloud);
    assert_eq!(st["source"], "stick", "{st}");
    assert_eq!(
        st["name"],
        "Low vision: large text, high contrast, large pointer and magnifier"
    );
    let message = st["message"].as_str().unwrap();
    assert!(
        message.starts_with(
            "Can't reach the preferences server. Using your settings from your USB key, saved "
        ),
        "{message}"
    );
    assert_eq!(text_scale(&fresh), "1.5");
    assert_eq!(high_contrast(&fresh), "true");
    assert_eq!(
        fresh.get("org.gnome.desktop.interface", "cursor-size"),
        "64"
    );
    assert_eq!(
        fresh.get("org.gnome.desktop.a11y.magnifier", "mag-factor"),
        "1.5"
    );
    // Nothing of Sam's was written to this computer's cache (it holds only the cloud's answers).
    let cached: Vec<_> = std::fs::read_dir(fresh.path("cache"))
        .into_iter()
        .flatten()
        .flatten()
        .flat_map(|e| std::fs::read_dir(e.path()).into_iter().flatten().flatten())
        .filter(|e| e.path().extension().is_some_and(|x| x == "prefs"))
        .collect();
    assert!(cached.is_empty(), "{cached:?}");

    // Pulled out: keyed out, the computer put back.
    std::fs::remove_dir_all(media.join("SAMSTICK")).unwrap();
    wait("keyed_out");
    assert_eq!(fresh.snapshot(TOUCHED_SCHEMAS), before);
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn the_cloud_answering_after_the_stick_wins_by_difference_and_refreshes_the_stale_copy() {
    let cloud = Cloud::start();
    let stick = cloud.stick("SAMSTICK");
    let (home, _) = used_desktop();
    write_stick_online(&home, &cloud, SAM, &stick);
    let stale = std::fs::read(sealed(&stick)).unwrap();
    // Later, elsewhere, Sam chooses larger text (saved to the cloud): the stick's copy is stale.
    let url = cloud.url();
    let env = cloud_env(&url);
    home.attune_with_ok(&["key-in", SAM], &env);
    home.attune_with_ok(&["set", "fontSize", "24"], &env);
    home.attune_with_ok(&["key-out"], &env);

    // A fresh computer whose cloud answers, slowly: the stick's set is applied first, then the
    // cloud's answer by difference (only the text size changes; nothing is put back).
    let (fresh, before) = used_desktop();
    cloud.proxy.set(Fault::Delay(Duration::from_millis(300)));
    let o = key_in_from(&fresh, &cloud, &stick);
    assert_exit(&o, 0);
    let out = json(&o);
    assert_eq!(out["source"]["kind"], "cloud", "{out}");
    let log = String::from_utf8_lossy(&o.stderr);
    assert!(
        log.contains("the USB key's sealed preferences opened"),
        "{log}"
    );
    assert!(log.contains("applying the difference"), "{log}");
    assert!(!log.contains("restoring"), "{log}");
    assert!(
        log.contains("the USB key's copy of the preferences was refreshed"),
        "{log}"
    );
    assert!(!log.contains(SAM), "the key is never logged: {log}");
    assert_eq!(text_scale(&fresh), "2.0");
    assert_eq!(high_contrast(&fresh), "true");
    let fresh_copy = std::fs::read(sealed(&stick)).unwrap();
    assert_ne!(fresh_copy, stale, "the stale copy was replaced");
    let names: Vec<_> = std::fs::read_dir(stick.join(".attune"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(names, ["preferences.sealed"], "no temp file is left");
    fresh.attune_with_ok(&["key-out"], &env);
    assert_eq!(fresh.snapshot(TOUCHED_SCHEMAS), before);

    // Online again with an up-to-date stick: nothing to refresh.
    let o = key_in_from(&fresh, &cloud, &stick);
    assert!(!String::from_utf8_lossy(&o.stderr).contains("was refreshed"));
    assert_eq!(std::fs::read(sealed(&stick)).unwrap(), fresh_copy);
    fresh.attune_with_ok(&["key-out"], &env);

    // The refreshed copy serves a third computer whose cloud is blackholed.
    let (third, _) = used_desktop();
    quick(&third);
    cloud.proxy.set(Fault::Blackhole);
    let o = key_in_from(&third, &cloud, &stick);
    assert_exit(&o, 0);
    assert_eq!(json(&o)["source"]["kind"], "stick");
    assert_eq!(text_scale(&third), "2.0");
}

/// docs/test-matrix.md B13: each way the sealed file can be wrong is refused with its reason, in
/// the session's words, and the next source is used: the cache on the computer that has one,
/// nothing on a fresh one.
#[test]
fn a_tampered_truncated_foreign_or_other_keys_file_is_refused_with_its_reason_and_the_next_source_used(
) {
    let cloud = Cloud::start();
    let (stick, alex_stick) = (cloud.stick("SAMSTICK"), cloud.stick("ALEXSTICK"));
    let (home, _) = used_desktop();
    write_stick_online(&home, &cloud, SAM, &stick);
    write_stick_online(&home, &cloud, ALEX, &alex_stick);
    let good = std::fs::read(sealed(&stick)).unwrap();
    quick(&home);
    cloud.proxy.set(Fault::Blackhole);
    let url = cloud.url();
    let env = cloud_env(&url);

    // The good file, newer than this computer's cache, goes first.
    let o = key_in_from(&home, &cloud, &stick);
    assert_exit(&o, 0);
    assert_eq!(json(&o)["source"]["kind"], "stick");
    home.attune_with_ok(&["key-out"], &env);

    let flip = |at: usize| {
        let mut b = good.clone();
        b[at] ^= 0x20;
        b
    };
    let (fresh, before) = used_desktop();
    quick(&fresh);
    let cut = format!(
        "are cut short ({} of {} bytes)",
        good.len() - 30,
        good.len()
    );
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "a flipped byte in the ciphertext",
            flip(good.len() - 40),
            "were changed or damaged, or were saved for another key",
        ),
        (
            "a flipped byte in the header (the salt)",
            flip(30),
            "were changed or damaged, or were saved for another key",
        ),
        ("truncated", good[..good.len() - 30].to_vec(), &cut),
        (
            "another format version",
            {
                let mut b = good.clone();
                b[8] = 9;
                b
            },
            "were saved in another format (version 9; this Attune reads version 1)",
        ),
        (
            "another person's sealed file",
            std::fs::read(sealed(&alex_stick)).unwrap(),
            "were changed or damaged, or were saved for another key",
        ),
        (
            "not Attune's",
            br#"{"flat":{"name":"hand-made"}}"#.to_vec(),
            "was not made by Attune",
        ),
    ];
    for (what, bytes, reason) in cases {
        std::fs::write(sealed(&stick), &bytes).unwrap();
        // On the computer with a cache: the cache, the refusal said first.
        let o = key_in_from(&home, &cloud, &stick);
        assert_exit(&o, 0);
        let out = json(&o);
        assert_eq!(out["source"]["kind"], "cache", "{what}: {out}");
        let text = out["message_text"].as_str().unwrap();
        assert!(
            text.starts_with("The settings on your USB key could not be used: the "),
            "{what}: {text}"
        );
        assert!(text.contains(reason), "{what}: {text}");
        assert!(
            text.contains(". Can't reach the preferences server. Using your saved settings from "),
            "{what}: {text}"
        );
        let log = String::from_utf8_lossy(&o.stderr);
        assert!(
            log.contains("were refused; the next source is tried"),
            "{what}: {log}"
        );
        assert_eq!(text_scale(&home), "1.5", "{what}: the cache's");
        home.attune_with_ok(&["key-out"], &env);

        // On a fresh computer: nothing to fall back on; the reason comes first.
        let o = key_in_from(&fresh, &cloud, &stick);
        assert_exit(&o, 10);
        let err = json(&o);
        assert_eq!(err["error"], "offline", "{what}: {err}");
        let text = err["message"].as_str().unwrap();
        assert!(
            text.starts_with("The settings on your USB key could not be used: the "),
            "{what}: {text}"
        );
        assert!(text.contains(reason), "{what}: {text}");
        assert!(
            text.contains(
                ". Can't reach the server and there are no saved settings on this computer."
            ),
            "{what}: {text}"
        );
        assert_eq!(
            fresh.snapshot(TOUCHED_SCHEMAS),
            before,
            "{what}: nothing applied"
        );
    }
}

#[test]
fn writing_a_stick_needs_a_person_keyed_in_a_writable_folder_and_a_stick_that_is_not_anothers() {
    let cloud = Cloud::start();
    let (home, _) = used_desktop();
    let url = cloud.url();
    let env = cloud_env(&url);
    let stick = cloud.stick("SAMSTICK");
    let to = stick.to_str().unwrap();

    let o = home.attune_with(&["stick", "write", "--to", to], &env);
    assert_exit(&o, 9);

    home.attune_with_ok(&["key-in", SAM], &env);
    let missing = cloud.dir.path().join("not-mounted");
    let o = home.attune_with(
        &[
            "stick",
            "write",
            "--to",
            missing.to_str().unwrap(),
            "--json",
        ],
        &env,
    );
    assert_exit(&o, 14);
    let err = json(&o);
    assert_eq!(err["error"], "stick_not_writable", "{err}");
    assert!(
        err["message"].as_str().unwrap().contains("not-mounted"),
        "{err}"
    );

    std::fs::write(stick.join(".gpii-user-token.txt"), format!("{ALEX}\n")).unwrap();
    let o = home.attune_with(&["stick", "write", "--to", to, "--json"], &env);
    assert_exit(&o, 14);
    assert_eq!(json(&o)["error"], "stick_other_key");
    assert!(!sealed(&stick).exists(), "nothing written");
    std::fs::remove_file(stick.join(".gpii-user-token.txt")).unwrap();

    let o = home.attune_with_ok(&["stick", "write", "--to", to], &env);
    assert!(
        String::from_utf8_lossy(&o.stdout).starts_with("Your settings are saved on this USB key.")
    );
    home.attune_with_ok(&["key-out"], &env);

    // A snapset is not a person's.
    let testing = [("ATTUNE_PROFILE", "testing")];
    home.attune_with_ok(&["key-in", "large_text"], &testing);
    let o = home.attune_with(&["stick", "write", "--to", to, "--json"], &testing);
    assert_exit(&o, 1);
    assert_eq!(json(&o)["error"], "not_available");
    home.attune_with_ok(&["key-out"], &testing);
}

//! Forgetting a key: at once (tokens revoked, the key unknown), its preferences deleted after the
//! grace period, and an audit that names the key by its fingerprint only.

use std::io::Write;
use std::process::Stdio;

use attune_cloud::admin;
use attune_cloud::clock::{Clock, ManualClock};
use attune_cloud::store::sqlite::SqliteStore;
use attune_cloud::store::{AuditAction, Store};
use attune_model::key::Key;
use serde_json::Value;

use crate::common::{admin as run, admin_generate_keys, bin, password_grant, Cloud, GNOME_DEVICE};

const DAY_MS: i64 = 86_400_000;

fn key(k: &str) -> Key {
    Key::parse(k).unwrap()
}

#[tokio::test]
async fn a_forgotten_key_and_its_tokens_stop_working_at_once() {
    let c = Cloud::start().await;
    let t = c.token("alice").await;
    let before = c.get_settings("alice", GNOME_DEVICE, Some(&t)).await;
    assert_eq!(before.status(), 200);

    admin::forget_key(
        &c.store,
        &key("alice"),
        Some("asked to"),
        "admin",
        c.clock.as_ref(),
    )
    .await
    .unwrap();

    let after = c.get_settings("alice", GNOME_DEVICE, Some(&t)).await;
    assert_eq!(after.status(), 401, "the token granted before");
    let grant = password_grant("attune-dev", "attune-dev-secret", "alice");
    assert_eq!(c.token_form(&grant).await.status(), 401, "a new token");
    // Not even a credential that may create unknown keys brings it back.
    let create = password_grant("creator", "creator-secret", "alice");
    assert_eq!(
        c.token_form(&create).await.status(),
        401,
        "a credential that creates keys"
    );
    c.stop().await;
}

#[tokio::test]
async fn forgetting_audits_a_fingerprint_never_the_key_or_the_reason() {
    let c = Cloud::start().await;
    admin::forget_key(
        &c.store,
        &key("alice"),
        Some("moved away"),
        "admin",
        c.clock.as_ref(),
    )
    .await
    .unwrap();
    let lines = admin::audit_lines(&c.store).await.unwrap();
    assert_eq!(lines.len(), 1, "{lines:?}");
    let line: Value = serde_json::from_str(&lines[0]).unwrap();
    assert_eq!(line["action"], "forget");
    assert_eq!(line["actor"], "admin");
    assert_eq!(line["keyFingerprint"], key("alice").fingerprint());
    assert_eq!(line["time"], "2023-11-14T22:13:20.000Z");
    assert!(!lines[0].contains("alice") && !lines[0].contains("moved away"));
    c.stop().await;
}

#[tokio::test]
async fn forgetting_an_unknown_key_fails_and_records_nothing() {
    let c = Cloud::start().await;
    let e = admin::forget_key(
        &c.store,
        &key("nobody-here"),
        None,
        "admin",
        c.clock.as_ref(),
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(e.contains("does not exist"), "{e}");
    assert!(!e.contains("nobody-here"), "the error names the key: {e}");
    assert_eq!(c.store.forgotten_keys().await.unwrap(), vec![]);
    assert_eq!(c.store.audit().await.unwrap(), vec![]);
    c.stop().await;
}

#[tokio::test]
async fn a_reason_on_several_lines_or_too_long_is_refused_before_anything_changes() {
    let c = Cloud::start().await;
    let long = "x".repeat(admin::MAX_REASON_LEN + 1);
    let alice = key("alice");
    for reason in ["one\ntwo", long.as_str()] {
        let r = admin::forget_key(&c.store, &alice, Some(reason), "admin", c.clock.as_ref());
        assert!(matches!(r.await, Err(admin::AdminError::Usage(_))));
    }
    assert!(
        !c.store
            .find_gpii_key("alice")
            .await
            .unwrap()
            .unwrap()
            .revoked
    );
    c.stop().await;
}

#[tokio::test]
async fn preferences_are_purged_after_the_grace_period_and_not_before() {
    let dir = tempfile::tempdir().unwrap();
    let s = SqliteStore::open(&dir.path().join("s.db")).unwrap();
    let clock = ManualClock::new(1_700_000_000_000);
    admin::load(
        &s,
        &crate::common::fixtures().join("prefs"),
        attune_cloud::store::PrefsSafeType::User,
        &clock,
    )
    .await
    .unwrap();
    let (k, _) = s.find_prefs_by_key("alice").await.unwrap().unwrap();
    let safe_id = k.prefs_safe_id.unwrap();
    admin::forget_key(&s, &key("alice"), None, "admin", &clock)
        .await
        .unwrap();

    clock.advance_ms(30 * DAY_MS - 1);
    let early = admin::purge_forgotten(&s, 30, "server", &clock)
        .await
        .unwrap();
    assert_eq!(early, vec![], "a millisecond early");
    assert!(s.find_prefs_safe(&safe_id).await.unwrap().is_some());

    clock.advance_ms(1);
    let purged = admin::purge_forgotten(&s, 30, "server", &clock)
        .await
        .unwrap();
    assert_eq!(purged.len(), 1);
    assert_eq!(s.find_gpii_key("alice").await.unwrap(), None);
    assert_eq!(s.find_prefs_safe(&safe_id).await.unwrap(), None);
    let actions: Vec<_> = s
        .audit()
        .await
        .unwrap()
        .into_iter()
        .map(|e| (e.action, e.actor))
        .collect();
    assert_eq!(
        actions,
        vec![
            (AuditAction::Forget, "admin".to_owned()),
            (AuditAction::Purge, "server".to_owned())
        ]
    );
}

/// `keys forget -` reads the key from standard input, so it is in neither `ps` nor the shell's
/// history; `audit` prints JSON lines without it.
#[test]
fn the_binary_forgets_a_key_read_from_stdin_and_prints_the_audit_without_it() {
    let dir = tempfile::tempdir().unwrap();
    let store = format!("sqlite:{}", dir.path().join("c.db").display());
    run(&[
        "credentials",
        "create",
        "--store",
        &store,
        "--site",
        "branch-7",
    ]);
    let keys = admin_generate_keys(&store, 2, dir.path());
    let mut child = bin()
        .args([
            "keys",
            "forget",
            "--store",
            &store,
            "--reason",
            "asked by phone",
            "-",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    writeln!(child.stdin.take().unwrap(), "{}", keys[0]).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains(&key(&keys[0]).fingerprint()), "{said}");
    assert!(!said.contains(&keys[0]), "{said}");

    let audit = run(&["audit", "--store", &store]);
    let lines: Vec<Value> = audit
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let forgets: Vec<_> = lines.iter().filter(|l| l["action"] == "forget").collect();
    assert_eq!(forgets.len(), 1, "{audit}");
    assert_eq!(forgets[0]["keyFingerprint"], key(&keys[0]).fingerprint());
    assert!(
        !audit.contains(&keys[0]) && !audit.contains(&keys[1]),
        "{audit}"
    );

    let out = run(&["keys", "purge-forgotten", "--store", &store]);
    assert!(out.starts_with("0 forgotten keys purged"), "{out}");
    let out = run(&[
        "keys",
        "purge-forgotten",
        "--store",
        &store,
        "--grace-days",
        "0",
    ]);
    assert!(out.starts_with("1 forgotten keys purged"), "{out}");

    // An unknown key: a non-zero exit that does not repeat the key.
    let out = bin()
        .args(["keys", "forget", "--store", &store, "never-issued-key"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("does not exist") && !err.contains("never-issued-key"),
        "{err}"
    );
}

/// The server's hourly sweep (the one that deletes expired tokens, due at a grant) deletes what
/// was forgotten at least the grace period ago, on the server's clock.
#[tokio::test]
async fn the_server_sweep_purges_forgotten_keys_after_the_grace_period() {
    let c = Cloud::start_with(attune_cloud::api::Limits {
        forget_grace_days: 2,
        ..Default::default()
    })
    .await;
    let mut purges = c.state.purges();
    let (k, _) = c.store.find_prefs_by_key("alice").await.unwrap().unwrap();
    let safe_id = k.prefs_safe_id.unwrap();
    admin::forget_key(&c.store, &key("alice"), None, "admin", c.clock.as_ref())
        .await
        .unwrap();
    c.token("large_text").await;
    purges.wait_for(|n| *n == 1).await.unwrap();
    assert!(
        c.store.find_prefs_safe(&safe_id).await.unwrap().is_some(),
        "within the grace period"
    );

    c.clock.advance_ms(2 * DAY_MS);
    c.token("large_text").await;
    purges.wait_for(|n| *n == 2).await.unwrap();
    assert_eq!(c.store.find_gpii_key("alice").await.unwrap(), None);
    assert_eq!(c.store.find_prefs_safe(&safe_id).await.unwrap(), None);
    let last = c.store.audit().await.unwrap().pop().unwrap();
    assert_eq!(
        (last.action, last.actor.as_str(), last.key_fingerprint),
        (
            AuditAction::Purge,
            "server",
            Some(key("alice").fingerprint())
        )
    );
    c.stop().await;
}

/// A store with the prefs fixtures (`alice`) and two generated keys, on a clock the test moves.
async fn store_with_keys(
    dir: &std::path::Path,
) -> (SqliteStore, std::path::PathBuf, Vec<String>, ManualClock) {
    let path = dir.join("s.db");
    let s = SqliteStore::open(&path).unwrap();
    let clock = ManualClock::new(1_700_000_000_000);
    admin::load(
        &s,
        &crate::common::fixtures().join("prefs"),
        attune_cloud::store::PrefsSafeType::User,
        &clock,
    )
    .await
    .unwrap();
    let keys = admin::generate_keys(&s, 2, &dir.join("keys.csv"), &clock)
        .await
        .unwrap();
    (s, path, keys, clock)
}

/// A token granted before the backup comes back with it and would still work: its holder's
/// changes accepted between the backup and the restore would be lost without a word (the chaos
/// run's finding, docs/chaos.md). A restore ends every token instead.
#[tokio::test]
async fn a_restore_ends_every_token_even_those_the_backup_holds() {
    let dir = tempfile::tempdir().unwrap();
    let (s, path, keys, clock) = store_with_keys(dir.path()).await;
    let grant = |n: u8| attune_cloud::store::AuthorizationDoc {
        id: format!("gpiiAppInstallationAuthorization-{n}"),
        client_id: "gpiiAppInstallationClient-site".to_owned(),
        client_credential_id: "clientCredential-site".to_owned(),
        gpii_key: keys[0].clone(),
        access_token_hash: format!("{n:064x}"),
        created_ms: clock.now_ms(),
        expires_ms: clock.now_ms() + 3_600_000,
        revoked: false,
    };
    s.add_authorization(grant(1)).await.unwrap();
    let backup = dir.path().join("backup.db");
    s.backup_to(&backup).unwrap();
    s.add_authorization(grant(2)).await.unwrap();
    drop(s);

    let r = admin::restore_sqlite(&path, &backup, &clock).await.unwrap();

    assert_eq!(r.tokens_ended, 1, "the one the backup held");
    let tokens = r.store.counts().unwrap();
    assert!(
        tokens.contains(&("gpiiAppInstallationAuthorization", 0)),
        "{tokens:?}"
    );
}

#[tokio::test]
async fn a_restore_from_an_older_backup_forgets_again_what_was_forgotten_since() {
    let dir = tempfile::tempdir().unwrap();
    let (s, path, keys, clock) = store_with_keys(dir.path()).await;
    let backup = dir.path().join("backup.db");
    s.backup_to(&backup).unwrap();
    let (a, _) = s.find_prefs_by_key("alice").await.unwrap().unwrap();
    let alices_safe = a.prefs_safe_id.unwrap();
    // After the backup: alice is forgotten and purged, the first generated key forgotten only.
    admin::forget_key(&s, &key("alice"), None, "admin", &clock)
        .await
        .unwrap();
    clock.advance_ms(30 * DAY_MS);
    admin::purge_forgotten(&s, 30, "admin", &clock)
        .await
        .unwrap();
    admin::forget_key(&s, &key(&keys[0]), None, "admin", &clock)
        .await
        .unwrap();
    drop(s);

    let r = admin::restore_sqlite(&path, &backup, &clock).await.unwrap();
    assert_eq!(
        r.carried.clone().unwrap(),
        (2, 3),
        "two rows; forget, purge, forget"
    );
    let s = r.store;
    assert_eq!(
        s.find_gpii_key("alice").await.unwrap(),
        None,
        "purged stays purged"
    );
    assert_eq!(s.find_prefs_safe(&alices_safe).await.unwrap(), None);
    assert!(
        s.find_gpii_key(&keys[0]).await.unwrap().unwrap().revoked,
        "forgotten stays forgotten"
    );
    assert!(
        !s.find_gpii_key(&keys[1]).await.unwrap().unwrap().revoked,
        "the others are back"
    );
    let actions: Vec<_> = s
        .audit()
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.action)
        .collect();
    assert_eq!(
        actions,
        [
            AuditAction::Forget,
            AuditAction::Purge,
            AuditAction::Forget,
            AuditAction::Restore
        ]
    );
    // The key forgotten before the restore is purged on time after it.
    clock.advance_ms(30 * DAY_MS);
    admin::purge_forgotten(&s, 30, "admin", &clock)
        .await
        .unwrap();
    assert_eq!(s.find_gpii_key(&keys[0]).await.unwrap(), None);
}

/// A broken store cannot tell what it forgot: the restore goes on (it is how a broken store is
/// replaced), applies the backup's own list, and says what it could not carry over.
#[tokio::test]
async fn a_restore_over_a_broken_store_says_the_forget_list_was_not_carried() {
    let dir = tempfile::tempdir().unwrap();
    let (s, path, keys, clock) = store_with_keys(dir.path()).await;
    admin::forget_key(&s, &key(&keys[0]), None, "admin", &clock)
        .await
        .unwrap();
    let backup = dir.path().join("backup.db");
    s.backup_to(&backup).unwrap();
    drop(s);
    for side in ["", "-wal", "-shm"] {
        let p = format!("{}{side}", path.display());
        if std::path::Path::new(&p).exists() {
            std::fs::remove_file(&p).unwrap();
        }
    }
    std::fs::write(&path, vec![0x5a; 8192]).unwrap();

    let r = admin::restore_sqlite(&path, &backup, &clock).await.unwrap();
    assert!(r.carried.is_err(), "{:?}", r.carried);
    assert!(
        r.store
            .find_gpii_key(&keys[0])
            .await
            .unwrap()
            .unwrap()
            .revoked
    );
}

/// The drill through the binary: back up, forget, restore the backup: still forgotten.
#[test]
fn the_binary_restores_a_backup_and_the_forgotten_key_stays_forgotten() {
    let dir = tempfile::tempdir().unwrap();
    let store = format!("sqlite:{}", dir.path().join("c.db").display());
    crate::common::admin_load(&store, &crate::common::fixtures().join("prefs"));
    let keys = admin_generate_keys(&store, 2, dir.path());
    let backup = dir.path().join("b.db");
    crate::common::admin_backup(&store, &backup);
    run(&["keys", "forget", "--store", &store, &keys[0]]);
    let out = crate::common::admin_restore(&store, &backup);
    assert!(out.contains("1 forgotten keys applied again"), "{out}");
    let out = run(&["keys", "forget", "--store", &store, &keys[0]]);
    assert!(
        out.contains("forgotten"),
        "forgetting again is not an error: {out}"
    );
    let audit = run(&["audit", "--store", &store]);
    let actions: Vec<String> = audit
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["action"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    // The backup's own entry is written after the copy: the restore carries it over.
    assert_eq!(
        actions,
        ["backup", "forget", "restore", "forget"],
        "{audit}"
    );
}

async fn delete_key(c: &Cloud, k: &str, token: Option<&str>) -> u16 {
    let req = c
        .http
        .delete(c.url(&format!("/{}", attune_cloud::uri::encode_component(k))));
    crate::common::send_as(req, token).await.status().as_u16()
}

/// "Forget me" from the app: the key's own token forgets it, and nothing else can.
#[tokio::test]
async fn delete_with_the_keys_own_token_forgets_it_at_once() {
    let c = Cloud::start().await;
    let alices = c.token("alice").await;
    let other = c.token("alice").await;
    let not_alices = c.token("large_text").await;

    assert_eq!(delete_key(&c, "alice", None).await, 401, "no token");
    assert_eq!(
        delete_key(&c, "alice", Some(&not_alices)).await,
        401,
        "another key's token"
    );
    assert_eq!(
        delete_key(&c, "alice", Some("made-up")).await,
        401,
        "an unknown token"
    );
    assert!(
        !c.store
            .find_gpii_key("alice")
            .await
            .unwrap()
            .unwrap()
            .revoked
    );
    assert_eq!(c.store.audit().await.unwrap(), vec![]);

    let req = c.http.delete(c.url("/alice"));
    let forgot = crate::common::send_as(req, Some(&alices)).await;
    assert_eq!(forgot.status(), 200);
    let body: serde_json::Value = forgot.json().await.unwrap();
    assert_eq!(
        body,
        serde_json::json!({"forgotten": true, "deleted_within_days": 30}),
        "the grace period, for the app to tell the person"
    );
    let after = c.get_settings("alice", GNOME_DEVICE, Some(&other)).await;
    assert_eq!(after.status(), 401, "every token of the key is revoked");
    assert_eq!(
        delete_key(&c, "alice", Some(&alices)).await,
        401,
        "asked again"
    );
    let ok = c
        .get_settings("large_text", GNOME_DEVICE, Some(&not_alices))
        .await;
    assert_eq!(ok.status(), 200, "other keys go on");
    let audit = c.store.audit().await.unwrap();
    assert_eq!(audit.len(), 1);
    assert_eq!(
        (
            audit[0].action,
            audit[0].actor.as_str(),
            audit[0].key_fingerprint.clone()
        ),
        (
            AuditAction::Forget,
            "key-holder",
            Some(key("alice").fingerprint())
        )
    );
    c.stop().await;
}

#[test]
fn credentials_and_backups_are_audited_without_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let store = format!("sqlite:{}", dir.path().join("c.db").display());
    let snippet = run(&[
        "credentials",
        "create",
        "--store",
        &store,
        "--site",
        "branch-7",
    ]);
    crate::common::admin_backup(&store, &dir.path().join("b.db"));
    let audit = run(&["audit", "--store", &store]);
    let lines: Vec<Value> = audit
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let actions: Vec<_> = lines
        .iter()
        .map(|l| (l["action"].as_str(), l["actor"].as_str()))
        .collect();
    assert_eq!(
        actions,
        [
            (Some("credentials-create"), Some("admin")),
            (Some("backup"), Some("admin"))
        ]
    );
    let secret = snippet
        .lines()
        .find_map(|l| l.strip_prefix("client_secret = "))
        .unwrap()
        .trim_matches('"');
    assert!(!audit.contains(secret), "{audit}");
}

/// A burst of failed grants is audited once when the limiter runs out, and again only after it
/// refilled and ran out again; never with the keys that were tried.
#[tokio::test]
async fn a_burst_of_failed_grants_is_audited_once_per_burst_without_keys() {
    let c = Cloud::start_with(attune_cloud::api::Limits {
        per_address: attune_cloud::auth::LimitPolicy {
            burst: 3.0,
            per_second: 0.1,
        },
        ..Default::default()
    })
    .await;
    let statuses = |n: usize| {
        let c = &c;
        async move {
            let mut out = Vec::new();
            for i in 0..n {
                let tried = format!("guessed-key-{i}");
                let grant = password_grant("attune-dev", "attune-dev-secret", &tried);
                out.push(c.token_form(&grant).await.status().as_u16());
            }
            out
        }
    };
    assert_eq!(statuses(2).await, [401, 401]);
    assert_eq!(c.store.audit().await.unwrap(), vec![], "within the burst");
    assert_eq!(statuses(3).await, [401, 429, 429]);
    let audit = c.store.audit().await.unwrap();
    assert_eq!(audit.len(), 1, "{audit:?}");
    assert_eq!(audit[0].action, AuditAction::GrantFailedBurst);
    assert_eq!(audit[0].actor, "address 127.0.0.1 attune-dev");
    assert_eq!(audit[0].key_fingerprint, None);

    c.clock.advance_ms(10_000);
    assert_eq!(statuses(2).await, [401, 429], "one refilled, used up again");
    assert_eq!(c.store.audit().await.unwrap().len(), 2);
    let printed = admin::audit_lines(&c.store).await.unwrap().join("\n");
    assert!(!printed.contains("guessed-key"), "{printed}");
    c.stop().await;
}

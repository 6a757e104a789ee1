//! The admin commands, through the library and through the real binary.

use std::path::{Path, PathBuf};

use attune_cloud::admin;
use attune_cloud::auth::SecretHash;
use attune_cloud::clock::SystemClock;
use attune_cloud::store::sqlite::{self, SqliteStore};
use attune_cloud::store::{PrefsSafeType, Store};

use crate::common::{
    admin_backup, admin_generate_keys, admin_load, admin_restore, bin, dev_grant, fixtures, serve,
    settings_url, token_at, DEV_ID, DEV_SECRET, GNOME_DEVICE,
};

#[tokio::test]
async fn loading_gpii_files_twice_changes_nothing_the_second_time() {
    let dir = tempfile::tempdir().unwrap();
    let s = SqliteStore::open(&dir.path().join("s.db")).unwrap();
    let first = admin::load(&s, &fixtures(), PrefsSafeType::Snapset, &SystemClock)
        .await
        .unwrap();
    assert!(first.created >= 7, "{first}");
    assert_eq!(first.skipped.len(), 1, "the design document: {first}");
    let before = s.counts().unwrap();
    let second = admin::load(&s, &fixtures(), PrefsSafeType::Snapset, &SystemClock)
        .await
        .unwrap();
    assert_eq!((second.created, second.updated), (0, 0), "{second}");
    assert_eq!(second.unchanged, first.created);
    assert_eq!(s.counts().unwrap(), before);
    // GPII's converted documents keep their prefsSafeType.
    let (_, safe) = s.find_prefs_by_key("night_reader").await.unwrap().unwrap();
    assert_eq!(safe.unwrap().prefs_safe_type, PrefsSafeType::Snapset);
    // Client secrets are stored hashed, not as given.
    let cred = s.find_client_credential("site-a").await.unwrap().unwrap();
    assert!(!cred.oauth2_client_secret_hash.contains("site-a-secret"));
    assert!(SecretHash::parse(&cred.oauth2_client_secret_hash)
        .unwrap()
        .matches("site-a-secret"));
}

#[tokio::test]
async fn a_file_that_is_not_gpii_data_is_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let s = SqliteStore::open(&dir.path().join("s.db")).unwrap();
    let bad = dir.path().join("notes.json");
    std::fs::write(&bad, r#"{"hello": "world"}"#).unwrap();
    let e = admin::load(&s, &bad, PrefsSafeType::User, &SystemClock)
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("notes.json") && e.contains("flat"), "{e}");
    std::fs::write(&bad, "{ broken").unwrap();
    let e = admin::load(&s, &bad, PrefsSafeType::User, &SystemClock)
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("notes.json"), "{e}");
}

#[tokio::test]
async fn generated_keys_exist_with_empty_preferences_and_fill_the_csv() {
    let dir = tempfile::tempdir().unwrap();
    let s = SqliteStore::open(&dir.path().join("s.db")).unwrap();
    let out = dir.path().join("keys.csv");
    let keys = admin::generate_keys(&s, 5, &out, &SystemClock)
        .await
        .unwrap();
    let csv = std::fs::read_to_string(&out).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines[0], "key");
    assert_eq!(
        &lines[1..],
        keys.iter().map(String::as_str).collect::<Vec<_>>()
    );
    for k in &keys {
        assert!(uuid::Uuid::parse_str(k).is_ok());
        let (_, safe) = s.find_prefs_by_key(k).await.unwrap().unwrap();
        let safe = safe.unwrap();
        assert_eq!(safe.preferences, admin::empty_preferences());
        assert_eq!(safe.prefs_safe_type, PrefsSafeType::User);
    }
    // The CSV is never overwritten.
    assert!(admin::generate_keys(&s, 1, &out, &SystemClock)
        .await
        .is_err());
}

#[tokio::test]
async fn a_new_credential_is_printed_once_and_stored_hashed() {
    let dir = tempfile::tempdir().unwrap();
    let s = SqliteStore::open(&dir.path().join("s.db")).unwrap();
    let c = admin::create_credential(
        &s,
        "library-3",
        None,
        Some("https://cloud.example"),
        &SystemClock,
    )
    .await
    .unwrap();
    assert!(c.snippet.contains("client_id = \"library-3\""));
    assert!(c.snippet.contains(&c.client_secret));
    assert!(c.snippet.contains("https://cloud.example"));
    let stored = s
        .find_client_credential("library-3")
        .await
        .unwrap()
        .unwrap();
    assert!(SecretHash::parse(&stored.oauth2_client_secret_hash)
        .unwrap()
        .matches(&c.client_secret));
    let again = admin::create_credential(&s, "library-3", None, None, &SystemClock).await;
    assert!(again.is_err());
    assert!(
        admin::create_credential(&s, "bad site", None, None, &SystemClock)
            .await
            .is_err()
    );
}

/// A store at `dir/s.db` holding the fixtures, and its path.
async fn store_with_fixtures(dir: &Path) -> (SqliteStore, PathBuf) {
    let path = dir.join("s.db");
    let s = SqliteStore::open(&path).unwrap();
    admin::load(&s, &fixtures(), PrefsSafeType::User, &SystemClock)
        .await
        .unwrap();
    (s, path)
}

#[tokio::test]
async fn a_backup_restores_exactly_and_a_corrupt_one_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (s, path) = store_with_fixtures(dir.path()).await;
    let backup = dir.path().join("backup.db");
    s.backup_to(&backup).unwrap();
    assert!(s.backup_to(&backup).is_err(), "never overwrites a backup");
    let counts = s.counts().unwrap();
    // Changes after the backup...
    admin::generate_keys(&s, 3, &dir.path().join("k.csv"), &SystemClock)
        .await
        .unwrap();
    drop(s);
    // ...are gone after a restore, and everything before it is back.
    sqlite::restore(&path, &backup).unwrap();
    let s = SqliteStore::open(&path).unwrap();
    assert_eq!(s.counts().unwrap(), counts);
    assert!(s.find_prefs_by_key("alice").await.unwrap().is_some());
    drop(s);

    // A truncated copy and a random file are refused; the store is left as it was.
    let bytes = std::fs::read(&backup).unwrap();
    let truncated = dir.path().join("truncated.db");
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    let garbage = dir.path().join("garbage.db");
    std::fs::write(&garbage, vec![0x5a; 8192]).unwrap();
    let mut flipped = bytes.clone();
    let mid = flipped.len() - 2048;
    for b in &mut flipped[mid..mid + 512] {
        *b ^= 0xff;
    }
    let flipped_path = dir.path().join("flipped.db");
    std::fs::write(&flipped_path, &flipped).unwrap();
    std::fs::copy(
        sqlite::checksum_path(&backup),
        sqlite::checksum_path(&flipped_path),
    )
    .unwrap();
    for bad in [
        &truncated,
        &garbage,
        &flipped_path,
        &dir.path().join("missing.db"),
    ] {
        let e = sqlite::restore(&path, bad);
        assert!(e.is_err(), "{} was accepted", bad.display());
    }
    let s = SqliteStore::open(&path).unwrap();
    assert_eq!(s.counts().unwrap(), counts);
}

#[test]
fn the_binary_runs_every_admin_command() {
    let dir = tempfile::tempdir().unwrap();
    let store = format!("sqlite:{}", dir.path().join("c.db").display());
    let run = crate::common::admin;
    let out = admin_load(&store, &fixtures());
    assert!(out.contains("created"), "{out}");
    let out = admin_load(&store, &fixtures());
    assert!(out.starts_with("0 created, 0 updated"), "{out}");
    assert_eq!(admin_generate_keys(&store, 3, dir.path()).len(), 3);
    let out = run(&[
        "credentials",
        "create",
        "--store",
        &store,
        "--site",
        "branch-7",
    ]);
    assert!(out.contains("client_id = \"branch-7\""), "{out}");
    let backup = dir.path().join("b.db");
    admin_backup(&store, &backup);
    let out = admin_restore(&store, &backup);
    assert!(out.contains("restored"), "{out}");
    let out = run(&["tokens", "purge-expired", "--store", &store]);
    assert!(out.contains("0 expired tokens deleted"), "{out}");
    // Errors name what is wrong and exit non-zero.
    let out = bin()
        .args(["load", "--store", "mysql:x", "."])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("sqlite:PATH"));
}

#[test]
fn serve_dev_answers_and_stops_cleanly_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let store = format!("sqlite:{}", dir.path().join("c.db").display());
    let serving = serve(&["--dev", "--store", &store]);
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async { assert_eq!(dev_grant(&serving.url).await.status(), 200) });
    let log = serving.stop();
    assert!(log.iter().any(|l| l.contains("stopped")), "{log:?}");
    // No key or token in the log.
    assert!(!log.iter().any(|l| l.contains("large_text")), "{log:?}");
}

#[test]
fn the_dev_credential_works_only_while_serve_is_given_dev() {
    let dir = tempfile::tempdir().unwrap();
    let store = format!("sqlite:{}", dir.path().join("c.db").display());
    let rt = tokio::runtime::Runtime::new().unwrap();
    let dev = serve(&["--dev", "--store", &store]);
    let token = rt.block_on(token_at(
        &reqwest::Client::new(),
        &dev.url,
        DEV_ID,
        DEV_SECRET,
        "large_text",
    ));
    dev.stop();

    let plain = serve(&["--store", &store]);
    rt.block_on(async {
        assert_eq!(dev_grant(&plain.url).await.status(), 401, "dev grant");
        let r = reqwest::Client::new()
            .get(settings_url(&plain.url, "large_text", GNOME_DEVICE))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401, "a token granted under --dev");
    });
    plain.stop();

    // With --dev again, it works again.
    let dev = serve(&["--dev", "--store", &store]);
    rt.block_on(async { assert_eq!(dev_grant(&dev.url).await.status(), 200) });
    dev.stop();
}

#[tokio::test]
async fn the_dev_client_id_cannot_be_taken_by_a_site() {
    let dir = tempfile::tempdir().unwrap();
    let s = SqliteStore::open(&dir.path().join("s.db")).unwrap();
    let e = admin::create_credential(&s, admin::DEV_CLIENT_ID, None, None, &SystemClock)
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("serve --dev"), "{e}");
}

/// `attune-cloud restore` of `backup` into the SQLite store at `store`, however it ends.
fn restore_into(store: &Path, backup: &Path) -> std::process::Output {
    bin()
        .args([
            "restore",
            "--store",
            &format!("sqlite:{}", store.display()),
            "--from",
        ])
        .arg(backup)
        .output()
        .unwrap()
}

fn mode(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .permissions()
        .mode()
        & 0o777
}

#[test]
fn the_store_its_journal_backups_and_key_lists_are_owner_only() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("c.db");
    let store = format!("sqlite:{}", db.display());
    let serving = serve(&["--dev", "--store", &store]);
    for f in ["c.db", "c.db-wal", "c.db-shm"] {
        assert_eq!(mode(&dir.path().join(f)), 0o600, "{f} while serving");
    }
    serving.stop();
    let csv = dir.path().join("keys.csv");
    let backup = dir.path().join("b.db");
    for args in [
        vec![
            "keys", "generate", "--store", &store, "--count", "2", "--out",
        ],
        vec!["backup", "--store", &store, "--out"],
    ] {
        let target = if args[0] == "keys" { &csv } else { &backup };
        let out = bin().args(&args).arg(target).output().unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert_eq!(mode(&csv), 0o600, "keys.csv");
    assert_eq!(mode(&backup), 0o600, "backup");
    assert_eq!(
        mode(&sqlite::checksum_path(&backup)),
        0o600,
        "backup checksum"
    );
}

#[tokio::test]
async fn files_the_library_creates_are_owner_only_whatever_the_umask() {
    // This test process keeps its usual umask (022): only explicit modes make these 0600.
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("s.db");
    let s = SqliteStore::open(&db).unwrap();
    let csv = dir.path().join("k.csv");
    admin::generate_keys(&s, 1, &csv, &SystemClock)
        .await
        .unwrap();
    let backup = dir.path().join("b.db");
    s.backup_to(&backup).unwrap();
    drop(s);
    sqlite::restore(&db, &backup).unwrap();
    for p in [
        db.clone(),
        csv,
        backup.clone(),
        sqlite::checksum_path(&backup),
    ] {
        assert_eq!(mode(&p), 0o600, "{}", p.display());
    }
}

#[test]
fn commands_other_than_serve_load_and_credentials_create_refuse_a_missing_store() {
    let dir = tempfile::tempdir().unwrap();
    let typo = dir.path().join("clod.db");
    let store = format!("sqlite:{}", typo.display());
    let out_file = dir.path().join("out");
    let out_file = out_file.to_str().unwrap();
    for args in [
        vec!["backup", "--store", &store, "--out", out_file],
        vec![
            "keys", "generate", "--store", &store, "--count", "1", "--out", out_file,
        ],
        vec!["tokens", "purge-expired", "--store", &store],
        // A backup that is not there cannot make a store either.
        vec!["restore", "--store", &store, "--from", out_file],
    ] {
        let out = bin().args(&args).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} succeeded");
        assert!(
            (err.contains(typo.to_str().unwrap()) && err.contains("no store"))
                || (args[0] == "restore" && err.contains(out_file)),
            "{args:?}: {err}"
        );
        assert!(!typo.exists(), "{args:?} created the store");
    }
    // The three that may start a store do.
    let out = bin()
        .args(["credentials", "create", "--store", &store, "--site", "s1"])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(typo.exists());
}

#[test]
fn restore_onto_a_new_machine_makes_the_store_from_the_verified_backup() {
    let dir = tempfile::tempdir().unwrap();
    let old = format!("sqlite:{}", dir.path().join("old.db").display());
    let out = bin()
        .args(["load", "--store", &old, fixtures().to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success());
    let backup = dir.path().join("b.db");
    let out = bin()
        .args(["backup", "--store", &old, "--out"])
        .arg(&backup)
        .output()
        .unwrap();
    assert!(out.status.success());
    let fresh = dir.path().join("new.db");
    let out = restore_into(&fresh, &backup);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && text.contains("restored"),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(mode(&fresh), 0o600);
    // A damaged backup makes nothing.
    std::fs::write(&backup, b"not a database").unwrap();
    let other = dir.path().join("other.db");
    let out = restore_into(&other, &backup);
    assert!(!out.status.success());
    assert!(!other.exists());
}

#[test]
fn a_foreign_sqlite_file_is_refused_and_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let notes = dir.path().join("notes.db");
    let c = rusqlite::Connection::open(&notes).unwrap();
    c.execute_batch("CREATE TABLE notes (body TEXT);").unwrap();
    drop(c);
    let marked = dir.path().join("marked.db");
    let c = rusqlite::Connection::open(&marked).unwrap();
    c.pragma_update(None, "application_id", 0x1234).unwrap();
    drop(c);
    for (file, why) in [(&notes, "notes"), (&marked, "0x1234")] {
        let e = SqliteStore::open(file).unwrap_err().to_string();
        assert!(e.contains("another program") && e.contains(why), "{e}");
        let out = bin()
            .args(["load", "--store", &format!("sqlite:{}", file.display())])
            .arg(fixtures())
            .output()
            .unwrap();
        assert!(!out.status.success());
        assert!(String::from_utf8_lossy(&out.stderr).contains(file.to_str().unwrap()));
    }
    let c = rusqlite::Connection::open(&notes).unwrap();
    let tables: i64 = c
        .query_row(
            "SELECT count(*) FROM sqlite_master WHERE type = 'table'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(tables, 1, "none of our tables were added");
}

#[tokio::test]
async fn a_store_made_before_the_mark_opens_and_gets_marked() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("old.db");
    drop(SqliteStore::open(&db).unwrap());
    // As an earlier attune-cloud left it: our schema, no application id.
    let c = rusqlite::Connection::open(&db).unwrap();
    c.pragma_update(None, "application_id", 0).unwrap();
    drop(c);

    let s = SqliteStore::open_existing(&db).unwrap();
    s.ping().await.unwrap();
    drop(s);

    let c = rusqlite::Connection::open(&db).unwrap();
    let id: i32 = c
        .pragma_query_value(None, "application_id", |r| r.get(0))
        .unwrap();
    assert_eq!(id, sqlite::APPLICATION_ID);
}

#[tokio::test]
async fn a_backup_whose_schema_was_changed_is_not_restored() {
    let dir = tempfile::tempdir().unwrap();
    let (s, db) = store_with_fixtures(dir.path()).await;
    let counts = s.counts().unwrap();
    let clean = dir.path().join("clean.db");
    s.backup_to(&clean).unwrap();
    drop(s);
    for (name, sql, what) in [
        (
            "trigger.db",
            "CREATE TRIGGER steal AFTER INSERT ON authorizations BEGIN SELECT 1; END;",
            "trigger `steal`",
        ),
        ("table.db", "CREATE TABLE extra (x TEXT);", "table `extra`"),
        (
            "view.db",
            "CREATE VIEW keys AS SELECT id FROM gpii_keys;",
            "view `keys`",
        ),
    ] {
        let bad = dir.path().join(name);
        std::fs::copy(&clean, &bad).unwrap();
        let c = rusqlite::Connection::open(&bad).unwrap();
        c.execute_batch(sql).unwrap();
        drop(c);

        let e = sqlite::restore(&db, &bad).unwrap_err().to_string();

        assert!(e.contains("schema") && e.contains(what), "{e}");
    }
    let s = SqliteStore::open_existing(&db).unwrap();
    assert_eq!(s.counts().unwrap(), counts, "the store is as it was");
}

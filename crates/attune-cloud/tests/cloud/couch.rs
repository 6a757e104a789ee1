//! The CouchDB store against a real CouchDB-API server: `express-pouchdb` over an in-memory
//! PouchDB, installed from npm at test time into `<target dir>/couch-peer` (once per target
//! dir) and started on a free loopback port by each test. Needs node, npm and the npm registry,
//! so these run only with `ATTUNE_GPII_INTEROP=1` (scripts/test.sh sets it).
//!
//! Covered here: the store contract, two `attune-cloud` processes sharing one database (tokens
//! and concurrent PUTs), every admin command, and CouchDB stopped, slow or broken behind a
//! fault proxy. Serving GPII's own database is in `interop.rs`.

use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use attune_cloud::admin;
use attune_cloud::clock::SystemClock;
use attune_cloud::server;
use attune_cloud::store::contract;
use attune_cloud::store::couchdb::{CouchOptions, CouchStore, CouchUrl};
use attune_cloud::store::{AuditAction, Store};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::common::{
    admin, admin_backup, admin_generate_keys, admin_load, admin_restore, serve_store, settings_url,
    token_at, DEV_ID, DEV_SECRET, GNOME_DEVICE,
};
use attune_testkit::gpii::COUCH_PACKAGES;
use attune_testkit::serving::Serving;

fn enabled() -> bool {
    let on = std::env::var("ATTUNE_GPII_INTEROP").as_deref() == Ok("1");
    if !on {
        eprintln!("skipped: set ATTUNE_GPII_INTEROP=1 (needs node, npm and the npm registry)");
    }
    on
}

/// The cargo target dir this test binary was built into (`<target>/debug/deps/cloud-…`).
fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.ancestors().nth(3).unwrap().to_owned()
}

/// Installs the CouchDB stand-in once per target dir; tests in this binary share the lock.
fn install() -> PathBuf {
    static LOCK: Mutex<()> = Mutex::new(());
    let _g = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let dir = target_dir().join("couch-peer");
    let marker = dir.join("node_modules/pouchdb-adapter-memory/package.json");
    if !marker.exists()
        || !dir
            .join("node_modules/express-pouchdb/package.json")
            .exists()
    {
        std::fs::create_dir_all(&dir).unwrap();
        if !dir.join("package.json").exists() {
            std::fs::write(
                dir.join("package.json"),
                r#"{"name": "attune-couch-peer", "private": true}"#,
            )
            .unwrap();
        }
        attune_testkit::process::npm_install(&dir, COUCH_PACKAGES);
    }
    std::fs::copy(
        crate::common::fixtures().join("couch/server.js"),
        dir.join("server.js"),
    )
    .unwrap();
    dir
}

/// A CouchDB-API server on loopback, stopped when dropped.
pub struct CouchServer {
    pub url: String,
    _serving: Serving,
}

impl CouchServer {
    /// The stand-in, started, or `None` (the test skips) unless `ATTUNE_GPII_INTEROP=1`.
    pub fn start_if_enabled() -> Option<CouchServer> {
        enabled().then(CouchServer::start)
    }

    pub fn start() -> CouchServer {
        let mut node = Command::new("node");
        node.arg("server.js").current_dir(install());
        let serving = Serving::start(node);
        CouchServer {
            url: serving.url.clone(),
            _serving: serving,
        }
    }

    /// A store on database `db` of this server.
    pub fn store(&self, db: &str) -> CouchStore {
        CouchStore::new(CouchUrl::parse(&format!("{}/{db}", self.url)).unwrap()).unwrap()
    }
}

#[tokio::test]
async fn couchdb_store_passes_the_store_contract() {
    let Some(couch) = CouchServer::start_if_enabled() else {
        return;
    };
    let n = AtomicUsize::new(0);
    contract::run_all(|| {
        let i = n.fetch_add(1, Ordering::SeqCst);
        let s = couch.store(&format!("contract_{i}"));
        async move { s }
    })
    .await;
}

/// Starts `attune-cloud serve --dev` on a free port.
fn serve(store: &str) -> Serving {
    crate::common::serve(&["--dev", "--store", store])
}

async fn token(http: &reqwest::Client, base: &str, key: &str) -> String {
    token_at(http, base, DEV_ID, DEV_SECRET, key).await
}

async fn get_settings(http: &reqwest::Client, base: &str, key: &str, t: &str) -> (u16, Value) {
    let r = http
        .get(settings_url(base, key, GNOME_DEVICE))
        .bearer_auth(t)
        .send()
        .await
        .unwrap();
    let s = r.status().as_u16();
    (s, r.json().await.unwrap_or(Value::Null))
}

fn term(writer: usize, n: usize) -> String {
    format!("http://example.org/attune-test/w{writer}-n{n}")
}

#[tokio::test]
async fn two_servers_on_one_couchdb_share_tokens_and_lose_no_write() {
    let Some(couch) = CouchServer::start_if_enabled() else {
        return;
    };
    let store = format!("couchdb:{}/gpii", couch.url);
    let a = serve(&store);
    let b = serve(&store);
    let dir = tempfile::tempdir().unwrap();
    let key = admin_generate_keys(&store, 1, dir.path()).remove(0);
    let http = reqwest::Client::new();

    // A token from A is honoured by B, and the other way round.
    let ta = token(&http, &a.url, &key).await;
    let tb = token(&http, &b.url, &key).await;
    assert_eq!(get_settings(&http, &b.url, &key, &ta).await.0, 200);
    assert_eq!(get_settings(&http, &a.url, &key, &tb).await.0, 200);
    assert_eq!(get_settings(&http, &a.url, "large_text", &ta).await.0, 401);

    // Many writers, alternating between the two servers, each adding its own terms.
    const WRITERS: usize = 12;
    const EACH: usize = 4;
    let bases = [a.url.clone(), b.url.clone()];
    let tokens = [ta.clone(), tb.clone()];
    let tasks: Vec<_> = (0..WRITERS)
        .map(|w| {
            let http = http.clone();
            let (bases, tokens, key) = (bases.clone(), tokens.clone(), key.clone());
            tokio::spawn(async move {
                for n in 0..EACH {
                    let i = (w + n) % 2;
                    let body = json!({"contexts": {"gpii-default": {"name": "Default preferences",
                        "preferences": {term(w, n): w * 100 + n}}}});
                    let r = http
                        .put(format!("{}/{key}/settings", bases[i]))
                        .bearer_auth(&tokens[i])
                        .json(&body)
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(r.status(), 200, "writer {w} term {n}");
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let s = CouchStore::new(CouchUrl::parse(&format!("{}/gpii", couch.url)).unwrap()).unwrap();
    let (_, safe) = s.find_prefs_by_key(&key).await.unwrap().unwrap();
    let prefs = &safe.unwrap().preferences["flat"]["contexts"]["gpii-default"]["preferences"];
    let mut missing = Vec::new();
    for w in 0..WRITERS {
        for n in 0..EACH {
            if prefs[term(w, n)] != json!(w * 100 + n) {
                missing.push(term(w, n));
            }
        }
    }
    assert!(missing.is_empty(), "lost writes: {missing:?}");
}

#[tokio::test]
async fn admin_commands_work_on_couchdb_and_a_restore_makes_later_tokens_stale() {
    let Some(couch) = CouchServer::start_if_enabled() else {
        return;
    };
    let store = format!("couchdb:{}/gpii", couch.url);
    let fixtures = crate::common::fixtures();
    let dir = tempfile::tempdir().unwrap();

    admin_load(&store, &fixtures.join("dbData"));
    let out = admin_load(&store, &fixtures.join("dbData"));
    assert!(out.starts_with("0 created, 0 updated,"), "{out}");
    admin_load(&store, &fixtures.join("prefs"));
    let snippet = admin(&[
        "credentials",
        "create",
        "--store",
        &store,
        "--site",
        "school-7",
    ]);
    let secret = snippet
        .lines()
        .find_map(|l| l.strip_prefix("client_secret = \""))
        .and_then(|l| l.strip_suffix('"'))
        .unwrap()
        .to_owned();
    assert_eq!(admin_generate_keys(&store, 3, dir.path()).len(), 3);

    let backup = dir.path().join("backup.json");
    let out = admin_backup(&store, &backup);
    assert!(out.contains("verified"), "{out}");
    assert!(dir.path().join("backup.json.sha256").exists());

    // After the backup: a token for the site credential, and a PUT.
    let p = serve(&store);
    let http = reqwest::Client::new();
    let t = token_at(&http, &p.url, "school-7", &secret, "alice").await;
    assert_eq!(get_settings(&http, &p.url, "alice", &t).await.0, 200);
    drop(p);

    // The restore drill: the server is stopped, the backup restored, the server started again.
    let out = admin_restore(&store, &backup);
    assert!(out.contains("restored"), "{out}");
    let p = serve(&store);
    // The token was issued after the backup: it is gone, the client must key in again.
    assert_eq!(get_settings(&http, &p.url, "alice", &t).await.0, 401);
    let t2 = token(&http, &p.url, "alice").await;
    assert_eq!(get_settings(&http, &p.url, "alice", &t2).await.0, 200);

    // Purging: nothing has expired yet.
    let out = admin(&["tokens", "purge-expired", "--store", &store]);
    assert!(out.starts_with("0 expired"), "{out}");
    let s = couch.store("gpii");
    let mut old = contract::authorization_doc("old", "clientCredential-school-7", "feed", 1000);
    old.created_ms = 0;
    s.add_authorization(old).await.unwrap();
    let out = admin(&["tokens", "purge-expired", "--store", &store]);
    assert!(out.starts_with("1 expired"), "{out}");
}

/// What the fault proxy does with connections to CouchDB.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[repr(u8)]
enum Fault {
    Pass = 0,
    /// Accepts and closes at once, as a stopped CouchDB behind a load balancer does.
    Refuse = 1,
    /// Accepts and never answers.
    Stall = 2,
    /// Answers 500 to everything.
    Error500 = 3,
}

/// A TCP proxy in front of the CouchDB stand-in whose behaviour the test switches.
/// `upstream` may be repointed while it runs (a CouchDB replaced by a new one).
async fn fault_proxy(upstream: Arc<Mutex<String>>, mode: Arc<AtomicU8>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((mut inbound, _)) = listener.accept().await else {
                return;
            };
            let up = upstream.lock().unwrap().clone();
            let mode = mode.clone();
            tokio::spawn(async move {
                match mode.load(Ordering::SeqCst) {
                    0 => {
                        let Ok(mut out) = tokio::net::TcpStream::connect(&up).await else {
                            return;
                        };
                        // Kept-alive connections must feel a fault too: cut them when the
                        // mode changes.
                        let changed = async {
                            while mode.load(Ordering::SeqCst) == 0 {
                                tokio::time::sleep(Duration::from_millis(10)).await;
                            }
                        };
                        tokio::select! {
                            _ = tokio::io::copy_bidirectional(&mut inbound, &mut out) => {}
                            () = changed => {}
                        }
                    }
                    1 => drop(inbound),
                    2 => {
                        let mut buf = vec![0u8; 65536];
                        while inbound.read(&mut buf).await.is_ok_and(|n| n > 0) {}
                    }
                    _ => {
                        let mut buf = vec![0u8; 65536];
                        let _ = inbound.read(&mut buf).await;
                        let _ = inbound
                            .write_all(b"HTTP/1.1 500 Internal Server Error\r\ncontent-type: application/json\r\ncontent-length: 17\r\nconnection: close\r\n\r\n{\"error\":\"oops\"}\n")
                            .await;
                    }
                }
            });
        }
    });
    format!("http://{addr}")
}

#[tokio::test]
async fn couchdb_down_slow_or_broken_gives_503_fast_and_the_server_recovers() {
    let Some(couch) = CouchServer::start_if_enabled() else {
        return;
    };
    let mode = Arc::new(AtomicU8::new(Fault::Pass as u8));
    let upstream = Arc::new(Mutex::new(
        couch.url.trim_start_matches("http://").to_owned(),
    ));
    let proxy = fault_proxy(upstream.clone(), mode.clone()).await;
    let options = CouchOptions {
        connect_timeout: Duration::from_millis(500),
        request_timeout: Duration::from_millis(1500),
        down_for: Duration::from_millis(500),
        ..CouchOptions::default()
    };
    let store =
        CouchStore::with_options(CouchUrl::parse(&format!("{proxy}/gpii")).unwrap(), options)
            .unwrap();
    attune_cloud::admin::load_dev_data(&store, &SystemClock)
        .await
        .unwrap();
    let base = serve_store(Arc::new(store), server::bundled_registries().unwrap()).await;
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let t = token(&http, &base, "large_text").await;
    assert_eq!(get_settings(&http, &base, "large_text", &t).await.0, 200);

    for fault in [Fault::Stall, Fault::Refuse, Fault::Error500] {
        mode.store(fault as u8, Ordering::SeqCst);
        // Let the proxy cut the kept-alive connections first.
        tokio::time::sleep(Duration::from_millis(50)).await;
        // The first request waits at most for the store's timeout; the next ones fail at once.
        for (i, limit) in [
            (0, Duration::from_millis(3000)),
            (1, Duration::from_millis(300)),
        ] {
            let start = Instant::now();
            let r = http
                .get(settings_url(&base, "large_text", GNOME_DEVICE))
                .bearer_auth(&t)
                .send()
                .await
                .unwrap();
            let took = start.elapsed();
            assert_eq!(r.status(), 503, "{fault:?} request {i}");
            assert!(r.headers().contains_key("retry-after"), "{fault:?}");
            assert!(took < limit, "{fault:?} request {i} took {took:?}");
        }
        let r = http.get(format!("{base}/ready")).send().await.unwrap();
        assert_eq!(r.status(), 503, "{fault:?}: /ready");

        // Back to normal: the server notices by itself within a few seconds.
        mode.store(Fault::Pass as u8, Ordering::SeqCst);
        let start = Instant::now();
        loop {
            let (s, _) = get_settings(&http, &base, "large_text", &t).await;
            if s == 200 {
                break;
            }
            assert!(
                start.elapsed() < Duration::from_secs(5),
                "{fault:?}: still {s} after CouchDB came back"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let r = http.get(format!("{base}/ready")).send().await.unwrap();
        assert_eq!(r.status(), 200, "{fault:?}: /ready after recovery");
    }

    // CouchDB's process stopped for real: connections are refused.
    drop(couch);
    tokio::time::sleep(Duration::from_millis(50)).await;
    for i in 0..2 {
        let start = Instant::now();
        let (s, _) = get_settings(&http, &base, "large_text", &t).await;
        assert_eq!(s, 503, "stopped CouchDB, request {i}");
        assert!(start.elapsed() < Duration::from_millis(1500), "request {i}");
    }
    let r = http.get(format!("{base}/ready")).send().await.unwrap();
    assert_eq!(r.status(), 503, "stopped CouchDB: /ready");

    // A new, empty CouchDB in its place (a rebuilt node): the server sets the database up
    // again by itself and is ready; the old token is gone with the old data.
    let fresh = CouchServer::start();
    *upstream.lock().unwrap() = fresh.url.trim_start_matches("http://").to_owned();
    let start = Instant::now();
    loop {
        let r = http.get(format!("{base}/ready")).send().await.unwrap();
        if r.status() == 200 {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "not ready after CouchDB came back"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(get_settings(&http, &base, "large_text", &t).await.0, 401);
    let r = reqwest::Client::new()
        .get(format!("{}/gpii/_design/attune", fresh.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "design document set up again");
}

/// A backup reads the database page by page (`CouchOptions::page_size`), each page one short
/// request: with pages of 3 it holds every document exactly once, the same as one big page.
#[tokio::test]
async fn a_backup_reads_the_database_in_pages_and_misses_nothing() {
    let Some(couch) = CouchServer::start_if_enabled() else {
        return;
    };
    let url = CouchUrl::parse(&format!("{}/paged", couch.url)).unwrap();
    let small = CouchOptions {
        page_size: 3,
        ..CouchOptions::default()
    };
    let paged = CouchStore::with_options(url.clone(), small).unwrap();
    attune_cloud::admin::load_dev_data(&paged, &SystemClock)
        .await
        .unwrap();
    let whole = CouchStore::with_options(
        url,
        CouchOptions {
            page_size: 100_000,
            ..CouchOptions::default()
        },
    )
    .unwrap();
    let ids = |docs: Vec<Value>| -> Vec<String> {
        docs.iter()
            .map(|d| d["_id"].as_str().unwrap().to_owned())
            .collect()
    };
    let all = ids(whole.all_docs().await.unwrap());
    assert!(all.len() > 7, "dev data should span several pages: {all:?}");
    let by_page = ids(paged.all_docs().await.unwrap());
    assert_eq!(by_page, all);

    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("paged.json");
    assert_eq!(paged.backup_to(&out).await.unwrap(), all.len());
    let back = ids(attune_cloud::store::couchdb::read_backup(&out).unwrap());
    assert_eq!(back, all);
}

const DAY_MS: i64 = 86_400_000;

fn parsed(k: &str) -> attune_model::key::Key {
    attune_model::key::Key::parse(k).unwrap()
}

/// The forget list and the audit live in GPII's database as attune's own documents: GPII's
/// views (which GPII's cloud queries) never list them, and they hold a key's hash and
/// fingerprint, never the key.
#[tokio::test]
async fn forget_documents_are_invisible_to_gpiis_views_and_hold_no_key() {
    let Some(couch) = CouchServer::start_if_enabled() else {
        return;
    };
    let s = couch.store("gpii");
    let clock = attune_cloud::clock::ManualClock::new(1_700_000_000_000);
    let dir = tempfile::tempdir().unwrap();
    let keys = admin::generate_keys(&s, 2, &dir.path().join("k.csv"), &clock)
        .await
        .unwrap();
    admin::forget_key(&s, &parsed(&keys[0]), Some("moved"), "admin", &clock)
        .await
        .unwrap();

    let http = reqwest::Client::new();
    let db = format!("{}/gpii", couch.url);
    let ours = |id: &str| id.starts_with("attune-forgotten-") || id.starts_with("attune-audit-");
    for view in [
        "findPrefsSafeByGpiiKey",
        "findClientByOauth2ClientId",
        "findInfoByAccessToken",
        "findSnapsetPrefsSafes",
        "findAllGpiiKeys",
        "findAccessTokenByExpires",
    ] {
        let rows: Value = http
            .get(format!("{db}/_design/views/_view/{view}"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let rows = rows["rows"].as_array().unwrap();
        assert!(
            !rows.iter().any(|r| ours(r["id"].as_str().unwrap())),
            "{view}: {rows:?}"
        );
    }
    // GPII's migrations select by schema version: ours have none.
    let by_version: Value = http
        .get(format!(
            "{db}/_design/views/_view/findDocsBySchemaVersion?key=%220.2%22"
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let rows = by_version["rows"].as_array().unwrap();
    assert!(!rows.is_empty(), "the key documents are there");
    assert!(!rows.iter().any(|r| ours(r["id"].as_str().unwrap())));

    let all = s.all_docs().await.unwrap();
    let mine: Vec<&Value> = all
        .iter()
        .filter(|d| ours(d["_id"].as_str().unwrap()))
        .collect();
    let types: Vec<&str> = mine.iter().map(|d| d["type"].as_str().unwrap()).collect();
    assert_eq!(
        types,
        ["attuneAuditEntry", "attuneForgottenKey"],
        "{mine:?}"
    );
    let text = serde_json::to_string(&mine).unwrap();
    assert!(!text.contains(&keys[0]), "a key in {text}");
    assert!(text.contains(&parsed(&keys[0]).fingerprint()), "{text}");
    // The key itself is GPII-revoked, so GPII's cloud refuses it as well.
    let k: Value = http
        .get(format!("{db}/{}", keys[0]))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        (k["revoked"].clone(), k["revokedReason"].clone()),
        (json!(true), json!("forgotten"))
    );
}

/// Two replicas (two stores on one database) forget the same key at the same moment: one row,
/// the first; the key and its tokens revoked. Then both purge at once: the key, its tokens and
/// its preferences are deleted, and exactly one of them reports (and so audits) the purge.
#[tokio::test]
async fn two_replicas_forgetting_and_purging_one_key_agree() {
    let Some(couch) = CouchServer::start_if_enabled() else {
        return;
    };
    let (a, b) = (couch.store("gpii"), couch.store("gpii"));
    a.create_prefs_for_key(
        contract::key_doc("alice"),
        contract::safe_doc(
            "prefsSafe-alice",
            attune_cloud::store::PrefsSafeType::User,
            20,
        ),
    )
    .await
    .unwrap();
    a.put_client_credential(contract::credential_doc("cc-1", "site"))
        .await
        .unwrap();
    for (id, hash) in [("auth-1", "t1"), ("auth-2", "t2")] {
        a.add_authorization(contract::authorization_doc(id, "cc-1", hash, 1000))
            .await
            .unwrap();
    }
    assert!(b.find_grant("t1", 500).await.unwrap().is_some());

    for round in 0..3 {
        let (ra, rb) = tokio::join!(
            a.forget_key("alice", contract::forgotten("alice", 10 + round)),
            b.forget_key("alice", contract::forgotten("alice", 20 + round)),
        );
        ra.unwrap();
        rb.unwrap();
    }
    let rows = b.forgotten_keys().await.unwrap();
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert!(
        rows[0].forgotten_ms == 10 || rows[0].forgotten_ms == 20,
        "{rows:?}"
    );
    assert!(a.find_gpii_key("alice").await.unwrap().unwrap().revoked);
    for t in ["t1", "t2"] {
        assert_eq!(a.find_grant(t, 500).await.unwrap(), None, "{t}");
    }

    let (pa, pb) = tokio::join!(a.purge_forgotten(100, 200), b.purge_forgotten(100, 200));
    let (pa, pb) = (pa.unwrap(), pb.unwrap());
    assert_eq!(pa.len() + pb.len(), 1, "reported once: {pa:?} {pb:?}");
    assert_eq!(a.find_gpii_key("alice").await.unwrap(), None);
    assert_eq!(a.find_prefs_safe("prefsSafe-alice").await.unwrap(), None);
    let left: Vec<String> = a
        .all_docs()
        .await
        .unwrap()
        .iter()
        .map(|d| d["_id"].as_str().unwrap().to_owned())
        .filter(|id| id.starts_with("auth-"))
        .collect();
    assert_eq!(left, Vec::<String>::new(), "the tokens are deleted");
    assert_eq!(b.forgotten_keys().await.unwrap()[0].purged_ms, Some(200));
}

/// The grace period on CouchDB, through the admin functions and on a clock the test moves:
/// nothing a millisecond early, everything at the end of it, audited as forget then purge.
#[tokio::test]
async fn couchdb_purges_a_forgotten_key_after_the_grace_period_and_not_before() {
    let Some(couch) = CouchServer::start_if_enabled() else {
        return;
    };
    let s = couch.store("gpii");
    let clock = attune_cloud::clock::ManualClock::new(1_700_000_000_000);
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
    let dir = tempfile::tempdir().unwrap();
    let other = admin::generate_keys(&s, 1, &dir.path().join("k.csv"), &clock)
        .await
        .unwrap()
        .remove(0);
    admin::forget_key(&s, &parsed("alice"), None, "admin", &clock)
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
    assert!(
        s.find_gpii_key(&other).await.unwrap().is_some(),
        "the other keys stay"
    );
    let actions: Vec<_> = s
        .audit()
        .await
        .unwrap()
        .into_iter()
        .map(|e| (e.action, e.actor, e.key_fingerprint))
        .collect();
    let fp = Some(parsed("alice").fingerprint());
    assert_eq!(
        actions,
        vec![
            (AuditAction::Forget, "admin".to_owned(), fp.clone()),
            (AuditAction::Purge, "server".to_owned(), fp)
        ]
    );
}

/// `DELETE /{key}` on a server whose store is CouchDB: 200 with the grace period, every token of
/// the key revoked, audited as the key holder's.
#[tokio::test]
async fn delete_key_forgets_it_on_couchdb() {
    let Some(couch) = CouchServer::start_if_enabled() else {
        return;
    };
    let store = format!("couchdb:{}/gpii", couch.url);
    let p = serve(&store);
    let http = reqwest::Client::new();
    let t1 = token(&http, &p.url, "large_text").await;
    let t2 = token(&http, &p.url, "large_text").await;
    let r = http
        .delete(format!("{}/large_text", p.url))
        .bearer_auth(&t1)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body, json!({"forgotten": true, "deleted_within_days": 30}));
    assert_eq!(get_settings(&http, &p.url, "large_text", &t2).await.0, 401);
    let out = admin(&["audit", "--store", &store]);
    let last: Value = serde_json::from_str(out.lines().last().unwrap()).unwrap();
    assert_eq!(last["action"], "forget");
    assert_eq!(last["actor"], "key-holder");
    assert_eq!(last["keyFingerprint"], parsed("large_text").fingerprint());
}

/// The restore drill on CouchDB through the binary: back up, forget (and purge another), restore
/// the backup: the forgotten key stays forgotten, the purged one gone, and the audit whole.
#[test]
fn a_couchdb_restore_from_an_older_backup_keeps_forgotten_keys_forgotten() {
    let Some(couch) = CouchServer::start_if_enabled() else {
        return;
    };
    let store = format!("couchdb:{}/gpii", couch.url);
    let dir = tempfile::tempdir().unwrap();
    admin_load(&store, &crate::common::fixtures().join("prefs"));
    let keys = admin_generate_keys(&store, 3, dir.path());
    let backup = dir.path().join("b.json");
    admin_backup(&store, &backup);
    admin(&["keys", "forget", "--store", &store, &keys[0]]);
    admin(&["keys", "forget", "--store", &store, "alice"]);
    let out = admin(&[
        "keys",
        "purge-forgotten",
        "--store",
        &store,
        "--grace-days",
        "0",
    ]);
    assert!(out.starts_with("2 forgotten keys purged"), "{out}");
    admin(&["keys", "forget", "--store", &store, &keys[1]]);

    let out = admin_restore(&store, &backup);
    assert!(
        out.contains("3 forgotten keys applied again, 6 audit entries carried over"),
        "{out}"
    );
    let rt = tokio::runtime::Runtime::new().unwrap();
    let s = couch.store("gpii");
    rt.block_on(async {
        assert_eq!(
            s.find_gpii_key(&keys[0]).await.unwrap(),
            None,
            "purged stays purged"
        );
        assert_eq!(s.find_gpii_key("alice").await.unwrap(), None);
        assert!(
            s.find_gpii_key(&keys[1]).await.unwrap().unwrap().revoked,
            "forgotten stays forgotten"
        );
        assert!(!s.find_gpii_key(&keys[2]).await.unwrap().unwrap().revoked);
    });
    let audit = admin(&["audit", "--store", &store]);
    let actions: Vec<String> = audit
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["action"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(
        actions,
        ["backup", "forget", "forget", "purge", "purge", "forget", "restore"],
        "{audit}"
    );
}

//! The SQLite store passes the store contract, and keeps its data across reopen.

use attune_cloud::store::contract;
use attune_cloud::store::sqlite::SqliteStore;
use attune_cloud::store::{PrefsSafeType, Store};

#[tokio::test]
async fn sqlite_store_passes_the_store_contract() {
    let dir = tempfile::tempdir().unwrap();
    let n = std::sync::atomic::AtomicUsize::new(0);
    contract::run_all(|| {
        let i = n.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let path = dir.path().join(format!("store-{i}.db"));
        async move { SqliteStore::open(&path).unwrap() }
    })
    .await;
}

#[test]
fn the_sqlite_audit_refuses_updates_and_deletes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.db");
    drop(SqliteStore::open(&path).unwrap());
    let c = rusqlite::Connection::open(&path).unwrap();
    c.execute(
        "INSERT INTO audit (time_ms, action, actor) VALUES (1, 'backup', 'admin')",
        [],
    )
    .unwrap();
    let update = c.execute("UPDATE audit SET actor = 'someone'", []);
    let delete = c.execute("DELETE FROM audit", []);
    assert!(update.unwrap_err().to_string().contains("append-only"));
    assert!(delete.unwrap_err().to_string().contains("append-only"));
}

#[tokio::test]
async fn data_survives_reopening_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.db");
    {
        let s = SqliteStore::open(&path).unwrap();
        s.create_prefs_for_key(
            contract::key_doc("alice"),
            contract::safe_doc("prefsSafe-alice", PrefsSafeType::User, 20),
        )
        .await
        .unwrap();
    }
    let s = SqliteStore::open(&path).unwrap();
    let (_, safe) = s.find_prefs_by_key("alice").await.unwrap().unwrap();
    assert_eq!(
        safe.unwrap().preferences["flat"]["contexts"]["gpii-default"]["preferences"]
            ["http://registry.gpii.net/common/fontSize"],
        20
    );
}

//! Token grants under load: group commit on SQLite (grants waiting together share one
//! transaction, a 200 means stored, a failed batch fails every waiter) and the server's own
//! hourly purge of expired tokens, on its clock.

use std::path::Path;

use attune_cloud::auth::token_hash;
use attune_cloud::clock::Clock;
use attune_cloud::store::contract::{authorization_doc, credential_doc};
use attune_cloud::store::sqlite::SqliteStore;
use attune_cloud::store::{Store, StoreError};
use rusqlite::Connection;

use crate::common::Cloud;

/// A store with credential `cc-1`, and a second connection to its file: another process
/// holding the write lock, so that grants queue up behind it.
async fn store_with_credential(dir: &Path) -> (SqliteStore, Connection) {
    let path = dir.join("s.db");
    let store = SqliteStore::open(&path).unwrap();
    store
        .put_client_credential(credential_doc("cc-1", "site-a"))
        .await
        .unwrap();
    (store, Connection::open(&path).unwrap())
}

fn grant_doc(i: usize) -> attune_cloud::store::AuthorizationDoc {
    authorization_doc(&format!("auth-{i}"), "cc-1", &format!("hash-{i}"), i64::MAX)
}

#[tokio::test]
async fn grants_that_wait_together_are_committed_in_one_transaction() {
    let dir = tempfile::tempdir().unwrap();
    let (store, other) = store_with_credential(dir.path()).await;
    other.execute_batch("BEGIN IMMEDIATE").unwrap();
    // Each call queues its grant at once; the writer cannot begin while `other` writes.
    let waiting: Vec<_> = (0..16)
        .map(|i| store.add_authorization(grant_doc(i)))
        .collect();
    other.execute_batch("COMMIT").unwrap();
    for r in in_order(waiting).await {
        r.unwrap();
    }
    assert_eq!(store.grants_written(), 16);
    assert_eq!(
        store.grant_batches(),
        1,
        "16 waiting grants, one transaction"
    );
    for i in 0..16 {
        assert!(store
            .find_grant(&format!("hash-{i}"), 0)
            .await
            .unwrap()
            .is_some());
    }
}

#[tokio::test]
async fn a_batch_that_fails_fails_every_grant_in_it_and_the_writer_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let (store, other) = store_with_credential(dir.path()).await;
    other
        .execute_batch(
            "CREATE TRIGGER broken BEFORE INSERT ON authorizations
                BEGIN SELECT RAISE(ABORT, 'disk on fire'); END;
             BEGIN IMMEDIATE;",
        )
        .unwrap();
    let waiting: Vec<_> = (0..8)
        .map(|i| store.add_authorization(grant_doc(i)))
        .collect();
    other.execute_batch("COMMIT").unwrap();
    for r in in_order(waiting).await {
        assert!(
            matches!(&r, Err(StoreError::Unavailable(m)) if m.contains("disk on fire")),
            "{r:?}"
        );
    }
    assert_eq!(store.grants_written(), 0);
    assert_eq!(store.find_grant("hash-0", 0).await.unwrap(), None);

    other.execute_batch("DROP TRIGGER broken").unwrap();
    store.add_authorization(grant_doc(99)).await.unwrap();
    assert!(store.find_grant("hash-99", 0).await.unwrap().is_some());
}

#[tokio::test]
async fn a_grant_that_collides_fails_alone() {
    let dir = tempfile::tempdir().unwrap();
    let (store, other) = store_with_credential(dir.path()).await;
    store.add_authorization(grant_doc(1)).await.unwrap();
    other.execute_batch("BEGIN IMMEDIATE").unwrap();
    let waiting = vec![
        store.add_authorization(grant_doc(1)),
        store.add_authorization(grant_doc(2)),
    ];
    other.execute_batch("COMMIT").unwrap();
    let results = in_order(waiting).await;
    assert!(
        matches!(results[0], Err(StoreError::Exists { .. })),
        "{results:?}"
    );
    assert!(results[1].is_ok(), "{results:?}");
    assert_eq!(store.grant_batches(), 2);
}

#[tokio::test]
async fn a_granted_token_is_in_the_store_file_before_its_200() {
    let c = Cloud::start().await;
    let token = c.token("large_text").await;
    // Another opening of the file, as after a restart: the commit happened before the answer.
    let reopened = SqliteStore::open_existing(c.store.path()).unwrap();
    let grant = reopened
        .find_grant(&token_hash(&token), c.clock.now_ms())
        .await
        .unwrap();
    assert_eq!(grant.unwrap().authorization.gpii_key, "large_text");
    c.stop().await;
}

/// The SQLite table's rows, as a count.
fn authorizations(path: &Path) -> i64 {
    Connection::open(path)
        .unwrap()
        .query_row("SELECT count(*) FROM authorizations", [], |r| r.get(0))
        .unwrap()
}

#[tokio::test]
async fn the_server_purges_expired_tokens_hourly_on_its_clock() {
    let c = Cloud::start().await;
    let mut purges = c.state.purges();
    // The first grant after start purges (nothing yet).
    let first = c.token("large_text").await;
    purges.wait_for(|n| *n == 1).await.unwrap();
    c.clock.advance_ms(30 * 60 * 1000);
    c.token("large_text").await;
    assert_eq!(*purges.borrow(), 1, "not due within the hour");
    assert_eq!(authorizations(c.store.path()), 2);

    // An hour and a minute after the first: the first token has expired, the second not.
    c.clock.advance_ms(31 * 60 * 1000);
    c.token("large_text").await;
    purges.wait_for(|n| *n == 2).await.unwrap();
    assert_eq!(authorizations(c.store.path()), 2);
    assert_eq!(
        c.store.find_grant(&token_hash(&first), 0).await.unwrap(),
        None,
        "the expired token is gone"
    );
    c.stop().await;
}

/// Awaits each future in turn (the grants are queued already, so this order changes nothing).
async fn in_order<T>(fs: Vec<impl std::future::Future<Output = T>>) -> Vec<T> {
    let mut out = Vec::with_capacity(fs.len());
    let handles: Vec<_> = fs.into_iter().map(Box::pin).collect();
    for f in handles {
        out.push(f.await);
    }
    out
}

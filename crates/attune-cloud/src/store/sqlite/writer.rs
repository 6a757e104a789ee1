//! Group commit of token grants: one writer thread, one transaction per fsync.
//!
//! At opening time a site's computers all key in at once, and every grant is a durable write:
//! a 200 must mean the token is stored (after a restore, a desktop's 401 is the stale-token case
//! only because every token it ever got had been committed, docs/design.md §6.2). Committed one
//! by one from a pool of connections, each grant waits for its own fsync, and concurrent ones
//! meet SQLite's busy handler, which sleeps up to 100 ms between attempts. Here grants queue for
//! one thread that owns a connection: it takes the write lock, takes every grant waiting,
//! inserts them in one `IMMEDIATE` transaction and commits (one fsync with the store's
//! `synchronous=FULL`), then answers each waiter. A grant waits for at most the commit in
//! progress and its own.
//!
//! The same thread purges expired tokens, a chunk per transaction alongside the grants, so a
//! purge of a busy hour never holds the write lock for long.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, TryRecvError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use rusqlite::{params, Connection, Transaction, TransactionBehavior};
use tokio::sync::oneshot;

use super::is_unique_violation;
use crate::store::{AuthorizationDoc, StoreError};

/// Grants written at most per transaction: keeps one commit's work to a few milliseconds.
const MAX_BATCH: usize = 256;

/// Expired tokens deleted at most per transaction.
const PURGE_CHUNK: i64 = 1000;

/// What the writer thread is asked to do.
pub(super) enum Job {
    Grant(AuthorizationDoc, oneshot::Sender<Result<(), StoreError>>),
    Purge {
        now_ms: i64,
        reply: oneshot::Sender<Result<u64, StoreError>>,
    },
}

/// Counters of the writer, for tests and metrics.
#[derive(Debug, Default)]
pub(super) struct Stats {
    /// Transactions that committed at least one grant.
    pub batches: AtomicU64,
    /// Grants committed.
    pub grants: AtomicU64,
}

/// The writer thread and its queue. Dropping it closes the queue, lets the thread write what is
/// queued already, and waits for it: a grant accepted before shutdown is answered, not lost.
pub(super) struct Writer {
    queue: Option<mpsc::Sender<Job>>,
    thread: Option<JoinHandle<()>>,
    pub stats: Arc<Stats>,
}

impl Writer {
    /// Starts the thread on `conn`. `write_lock` is the store's in-process write lock, which
    /// every other writer of this process takes too, so that they queue on it instead of in
    /// SQLite's sleeping busy handler.
    pub(super) fn start(conn: Connection, write_lock: Arc<Mutex<()>>) -> std::io::Result<Writer> {
        let (tx, rx) = mpsc::channel();
        let stats = Arc::new(Stats::default());
        let counters = stats.clone();
        let thread = std::thread::Builder::new()
            .name("attune-grants".to_owned())
            .spawn(move || run(conn, &rx, &write_lock, &counters))?;
        Ok(Writer {
            queue: Some(tx),
            thread: Some(thread),
            stats,
        })
    }

    /// Queues `job` now (not when a future is first polled): the order of calls is the order
    /// of writing.
    pub(super) fn submit(&self, job: Job) -> Result<(), StoreError> {
        self.queue
            .as_ref()
            .and_then(|q| q.send(job).ok())
            .ok_or_else(|| StoreError::Unavailable("the store's writer has stopped".to_owned()))
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        drop(self.queue.take());
        if let Some(t) = self.thread.take() {
            if t.join().is_err() {
                tracing::error!("the store's grant writer ended in a panic");
            }
        }
    }
}

/// A purge being carried out, a chunk per transaction.
struct Purge {
    now_ms: i64,
    deleted: u64,
    reply: oneshot::Sender<Result<u64, StoreError>>,
}

fn run(mut conn: Connection, rx: &mpsc::Receiver<Job>, lock: &Mutex<()>, stats: &Stats) {
    let mut purges: VecDeque<Purge> = VecDeque::new();
    let mut grants = Vec::new();
    loop {
        // Wait for work, unless a purge is still going on.
        if purges.is_empty() {
            match rx.recv() {
                Ok(job) => take(job, &mut grants, &mut purges),
                Err(_) => return,
            }
        }
        let waited = std::time::Instant::now();
        // Poisoning carries no meaning for a lock that guards nothing but the turn to write.
        let guard = lock
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate);
        // Everything that arrived while the previous batch committed, or while we waited for
        // the lock, goes into this transaction.
        while grants.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(job) => take(job, &mut grants, &mut purges),
                Err(TryRecvError::Empty | TryRecvError::Disconnected) => break,
            }
        }
        let began = waited.elapsed();
        let outcome = tx.map_err(|e| e.to_string()).and_then(|tx| {
            let results = write_batch(&tx, &grants, purges.front_mut())?;
            tx.commit().map_err(|e| e.to_string())?;
            Ok(results)
        });
        drop(guard);
        tracing::trace!(
            grants = grants.len(),
            lock_us = began.as_micros() as u64,
            total_us = waited.elapsed().as_micros() as u64,
            "grant batch"
        );
        match outcome {
            Ok((results, purge_done)) => {
                let written = results.iter().filter(|r| r.is_ok()).count() as u64;
                if written > 0 {
                    stats.batches.fetch_add(1, Ordering::Relaxed);
                    stats.grants.fetch_add(written, Ordering::Relaxed);
                }
                for ((_, reply), result) in grants.drain(..).zip(results) {
                    let _ = reply.send(result);
                }
                if purge_done {
                    if let Some(p) = purges.pop_front() {
                        let _ = p.reply.send(Ok(p.deleted));
                    }
                }
            }
            Err(detail) => {
                // Nothing of this transaction was stored: every waiter hears so.
                let n = grants.len();
                tracing::warn!(grants = n, error = %detail, "writing token grants failed");
                let failed = || StoreError::Unavailable(format!("writing token grants: {detail}"));
                for (_, reply) in grants.drain(..) {
                    let _ = reply.send(Err(failed()));
                }
                if let Some(p) = purges.pop_front() {
                    let _ = p.reply.send(Err(failed()));
                }
            }
        }
    }
}

fn take(
    job: Job,
    grants: &mut Vec<(AuthorizationDoc, oneshot::Sender<Result<(), StoreError>>)>,
    purges: &mut VecDeque<Purge>,
) {
    match job {
        Job::Grant(doc, reply) => grants.push((doc, reply)),
        Job::Purge { now_ms, reply } => purges.push_back(Purge {
            now_ms,
            deleted: 0,
            reply,
        }),
    }
}

/// Inserts `grants` and deletes one chunk of `purge`'s expired tokens in `tx`. A grant whose
/// id or hash exists already fails alone (`Exists`); any other failure fails the whole batch.
/// Returns each grant's result, and whether the purge is complete.
#[allow(clippy::type_complexity)]
fn write_batch(
    tx: &Transaction<'_>,
    grants: &[(AuthorizationDoc, oneshot::Sender<Result<(), StoreError>>)],
    purge: Option<&mut Purge>,
) -> Result<(Vec<Result<(), StoreError>>, bool), String> {
    let mut results = Vec::with_capacity(grants.len());
    let mut insert = tx
        .prepare_cached(
            "INSERT INTO authorizations (id, client_id, client_credential_id, gpii_key,
                token_hash, created_ms, expires_ms, revoked)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        )
        .map_err(|e| e.to_string())?;
    for (doc, _) in grants {
        // A failed INSERT undoes itself only; the transaction goes on.
        match insert.execute(params![
            doc.id,
            doc.client_id,
            doc.client_credential_id,
            doc.gpii_key,
            doc.access_token_hash,
            doc.created_ms,
            doc.expires_ms,
            doc.revoked
        ]) {
            Ok(_) => results.push(Ok(())),
            Err(e) if is_unique_violation(&e) => results.push(Err(StoreError::Exists {
                what: "gpiiAppInstallationAuthorization",
                id: doc.id.clone(),
            })),
            Err(e) => return Err(e.to_string()),
        }
    }
    let purge_done = match purge {
        None => false,
        Some(p) => {
            let n = tx
                .prepare_cached(
                    "DELETE FROM authorizations WHERE rowid IN
                        (SELECT rowid FROM authorizations WHERE expires_ms <= ?1 LIMIT ?2)",
                )
                .and_then(|mut s| s.execute(params![p.now_ms, PURGE_CHUNK]))
                .map_err(|e| e.to_string())?;
            p.deleted += n as u64;
            (n as i64) < PURGE_CHUNK
        }
    };
    Ok((results, purge_done))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::contract::authorization_doc;

    #[test]
    fn dropping_the_writer_writes_what_is_queued_first() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.db");
        drop(super::super::SqliteStore::open(&path).unwrap());
        let conn = super::super::open_connection(&path).unwrap();
        let writer = Writer::start(conn, Arc::new(Mutex::new(()))).unwrap();
        let answers: Vec<_> = (0..32)
            .map(|i| {
                let (reply, answer) = oneshot::channel();
                let doc = authorization_doc(&format!("a{i}"), "cc-1", &format!("h{i}"), 1);
                writer.submit(Job::Grant(doc, reply)).unwrap();
                answer
            })
            .collect();
        drop(writer);
        for mut a in answers {
            assert!(matches!(a.try_recv(), Ok(Ok(()))));
        }
        let n: i64 = Connection::open(&path)
            .unwrap()
            .query_row("SELECT count(*) FROM authorizations", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 32);
    }
}

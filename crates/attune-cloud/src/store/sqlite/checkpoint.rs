//! WAL checkpoints on a thread of their own.
//!
//! SQLite's automatic checkpoint runs inside the commit that crosses 1000 pages of WAL: that
//! commit copies the pages into the database file and waits for its fsync. With group-committed
//! grants, that commit holds up every grant waiting behind it (a grant storm showed p99 of
//! 21 ms with it, 10 ms without). So the store's connections never checkpoint when they commit
//! (`wal_autocheckpoint=0`), and this thread checkpoints every [`INTERVAL`], in two steps:
//!
//! 1. a `PASSIVE` checkpoint alongside the writers: the bulk of the copying and the fsync of the
//!    database file, blocking nobody;
//! 2. when the WAL has grown past [`RESTART_FRAMES`], the same again holding the store's write
//!    lock, for the pages committed during step 1. Only a checkpoint that has caught up with the
//!    last commit lets the next writer start the WAL from its beginning: without this step a
//!    steady stream of grants kept the checkpoint one step behind, and the WAL grew by 30 MB a
//!    second.
//!
//! When writes pause, step 1 catches up by itself and the WAL starts over without step 2; in a
//! storm of grants, writers wait for a checkpoint only during the short second step, every few
//! seconds.

use std::path::Path;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use rusqlite::Connection;

/// Time between checkpoints.
pub(super) const INTERVAL: Duration = Duration::from_secs(1);

/// WAL frames (pages, 4 KiB each) past which a checkpoint catches up holding the write lock.
pub(super) const RESTART_FRAMES: i64 = 4000;

/// The checkpoint thread. Dropping it stops the thread (the last connection to close
/// checkpoints what is left, as SQLite always does).
pub(super) struct Checkpointer {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Checkpointer {
    /// Starts the thread on `conn`; `write_lock` is the store's in-process write lock.
    pub(super) fn start(
        conn: Connection,
        path: &Path,
        write_lock: Arc<Mutex<()>>,
    ) -> std::io::Result<Checkpointer> {
        let (stop, stopped) = mpsc::channel::<()>();
        let path = path.to_owned();
        let thread = std::thread::Builder::new()
            .name("attune-checkpoint".to_owned())
            .spawn(move || loop {
                match stopped.recv_timeout(INTERVAL) {
                    Err(RecvTimeoutError::Timeout) => {
                        if let Err(e) = checkpoint(&conn, &write_lock) {
                            tracing::warn!(store = %path.display(), error = %e, "WAL checkpoint failed");
                        }
                    }
                    Ok(()) | Err(RecvTimeoutError::Disconnected) => return,
                }
            })?;
        Ok(Checkpointer {
            stop: Some(stop),
            thread: Some(thread),
        })
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The two steps above.
fn checkpoint(conn: &Connection, write_lock: &Mutex<()>) -> rusqlite::Result<()> {
    // Its row: whether it was blocked, frames in the WAL, frames copied.
    let passive =
        |c: &Connection| c.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| r.get::<_, i64>(1));
    let started = std::time::Instant::now();
    let frames = passive(conn)?;
    let bulk = started.elapsed();
    if frames < RESTART_FRAMES {
        return Ok(());
    }
    let _turn = write_lock
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let locked = std::time::Instant::now();
    passive(conn)?;
    tracing::trace!(
        frames,
        bulk_us = bulk.as_micros() as u64,
        locked_us = locked.elapsed().as_micros() as u64,
        "WAL checkpoint"
    );
    Ok(())
}

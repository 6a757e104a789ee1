//! The embedded store: one SQLite file in WAL mode.
//!
//! Why SQLite: a pilot site runs one machine; one file is easy to back up, and WAL lets many
//! readers work while one writer commits. Every write runs in an `IMMEDIATE` transaction with
//! `synchronous=FULL`, so a committed change survives a power cut. The schema is versioned by
//! `PRAGMA user_version` and migrated forward when the store opens; a file written by a newer
//! version is refused rather than guessed at.
//!
//! SQLite calls block, so each runs on tokio's blocking pool with a connection taken from a
//! small pool (readers in WAL mode do not wait for each other). Token grants, the one write of
//! every key-in, go to one writer thread instead, which commits every grant waiting in one
//! transaction ([`writer`]); the other writes of this process wait for their turn on an
//! in-process lock rather than in SQLite's busy handler, which sleeps between attempts. WAL
//! checkpoints run on a thread of their own, never inside a commit ([`checkpoint`]).

mod checkpoint;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Condvar, Mutex};

use rusqlite::{params, Connection, OpenFlags, OptionalExtension, TransactionBehavior};
use serde_json::Value;

use super::{
    key_hash, AuditAction, AuditEntry, AuthorizationDoc, ClientCredentialDoc, ForgottenKey,
    GpiiKeyDoc, Grant, GrantAndPrefs, OtherDoc, PrefsSafeDoc, PrefsSafeType, Store, StoreError,
    StoreFuture,
};

/// Schema migrations, in order; `PRAGMA user_version` is how many have run. Never edit one that
/// has shipped: add the next.
const MIGRATIONS: &[&str] = &[
    // 1: GPII's documents as tables.
    "CREATE TABLE gpii_keys (
        id TEXT PRIMARY KEY,
        prefs_safe_id TEXT,
        prefs_set_id TEXT,
        revoked INTEGER NOT NULL DEFAULT 0,
        revoked_reason TEXT,
        timestamp_created TEXT,
        timestamp_updated TEXT
    ) STRICT;
    CREATE TABLE prefs_safes (
        id TEXT PRIMARY KEY,
        prefs_safe_type TEXT NOT NULL CHECK (prefs_safe_type IN ('user', 'snapset')),
        name TEXT,
        preferences TEXT NOT NULL CHECK (json_valid(preferences)),
        timestamp_created TEXT,
        timestamp_updated TEXT,
        rev INTEGER NOT NULL
    ) STRICT;
    CREATE TABLE client_credentials (
        id TEXT PRIMARY KEY,
        client_id TEXT NOT NULL,
        oauth2_client_id TEXT NOT NULL UNIQUE,
        secret_hash TEXT NOT NULL,
        allowed_ip_blocks TEXT CHECK (allowed_ip_blocks IS NULL OR json_valid(allowed_ip_blocks)),
        allowed_prefs_to_write TEXT
            CHECK (allowed_prefs_to_write IS NULL OR json_valid(allowed_prefs_to_write)),
        is_create_gpii_key_allowed INTEGER NOT NULL,
        is_create_prefs_safe_allowed INTEGER NOT NULL,
        revoked INTEGER NOT NULL,
        timestamp_created TEXT
    ) STRICT;
    CREATE TABLE authorizations (
        id TEXT PRIMARY KEY,
        client_id TEXT NOT NULL,
        client_credential_id TEXT NOT NULL,
        gpii_key TEXT NOT NULL,
        token_hash TEXT NOT NULL UNIQUE,
        created_ms INTEGER NOT NULL,
        expires_ms INTEGER NOT NULL,
        revoked INTEGER NOT NULL DEFAULT 0
    ) STRICT;
    CREATE INDEX authorizations_expires ON authorizations (expires_ms);
    CREATE TABLE other_docs (
        id TEXT PRIMARY KEY,
        doc_type TEXT NOT NULL,
        doc TEXT NOT NULL CHECK (json_valid(doc))
    ) STRICT;",
    // 2: the forget list and the append-only audit.
    "CREATE TABLE forgotten_keys (
        key_hash TEXT PRIMARY KEY,
        fingerprint TEXT NOT NULL,
        forgotten_ms INTEGER NOT NULL,
        reason TEXT,
        purged_ms INTEGER
    ) STRICT;
    CREATE TABLE audit (
        seq INTEGER PRIMARY KEY,
        time_ms INTEGER NOT NULL,
        action TEXT NOT NULL,
        actor TEXT NOT NULL,
        key_fingerprint TEXT
    ) STRICT;
    CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
        BEGIN SELECT RAISE(ABORT, 'the audit is append-only'); END;
    CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
        BEGIN SELECT RAISE(ABORT, 'the audit is append-only'); END;",
];

/// The schema version this build writes.
pub const SCHEMA_USER_VERSION: i64 = MIGRATIONS.len() as i64;

/// Marks a SQLite file as an attune-cloud store (`PRAGMA application_id`, "Atnc"), so that a
/// `--store` naming some other program's database is refused instead of getting our tables.
/// Stores made before the mark existed (0) are recognised by their tables and marked.
pub const APPLICATION_ID: i32 = 0x4174_6e63;

/// The tables a store has; any other table means the file is not ours.
const OUR_TABLES: &[&str] = &[
    "gpii_keys",
    "prefs_safes",
    "client_credentials",
    "authorizations",
    "other_docs",
    "forgotten_keys",
    "audit",
];

/// Connections kept open per store.
const POOL_SIZE: usize = 4;

/// Errors of opening, backing up or restoring a store file (not of the API calls).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SqliteError {
    #[error("{path}: cannot open the store: {source}")]
    Open {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error("{path}: the store has schema version {found}, newer than this attune-cloud knows ({known}); use a newer attune-cloud")]
    TooNew {
        path: PathBuf,
        found: i64,
        known: i64,
    },
    #[error("{path}: migrating the schema to version {version} failed: {source}")]
    Migrate {
        path: PathBuf,
        version: usize,
        source: rusqlite::Error,
    },
    #[error("{path}: not a usable attune-cloud store: {detail}")]
    NotAStore { path: PathBuf, detail: String },
    #[error("{path}: no store there (check --store; only `serve`, `load` and `credentials create` make a new one)")]
    Missing { path: PathBuf },
    #[error("{path}: another program's SQLite database, not an attune-cloud store: {detail}; check --store")]
    Foreign { path: PathBuf, detail: String },
    #[error("{path}: {action} failed: {detail}")]
    Io {
        path: PathBuf,
        action: &'static str,
        detail: String,
    },
}

struct Pool {
    path: PathBuf,
    conns: Mutex<Vec<Connection>>,
    returned: Condvar,
    /// Taken by every write of this process (the pool's and the grant writer's): one writer
    /// at a time, in order, without SQLite's busy handler sleeping in between.
    write_lock: Arc<Mutex<()>>,
    /// Token grants and purges of expired tokens, group-committed. Dropped with the last
    /// clone of the store: what is queued is written first.
    writer: writer::Writer,
    _checkpointer: checkpoint::Checkpointer,
}

/// The SQLite store. Cheap to clone (shares its connection pool).
#[derive(Clone)]
pub struct SqliteStore {
    pool: Arc<Pool>,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.pool.path)
            .finish()
    }
}

fn open_connection(path: &Path) -> Result<Connection, SqliteError> {
    // The file exists by now (see `SqliteStore::open_with`): never let SQLite create one.
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|source| SqliteError::Open {
        path: path.to_owned(),
        source,
    })?;
    conn.busy_timeout(std::time::Duration::from_secs(5))
        .and_then(|()| conn.pragma_update(None, "journal_mode", "WAL"))
        .and_then(|()| conn.pragma_update(None, "synchronous", "FULL"))
        .and_then(|()| conn.pragma_update(None, "foreign_keys", "ON"))
        // The store's checkpoint thread checkpoints; a commit never does (see `checkpoint`).
        .and_then(|()| conn.pragma_update(None, "wal_autocheckpoint", 0))
        .map_err(|source| SqliteError::Open {
            path: path.to_owned(),
            source,
        })?;
    Ok(conn)
}

fn user_version(conn: &Connection) -> rusqlite::Result<i64> {
    conn.pragma_query_value(None, "user_version", |r| r.get(0))
}

fn application_id(conn: &Connection) -> rusqlite::Result<i32> {
    conn.pragma_query_value(None, "application_id", |r| r.get(0))
}

/// Tables (not SQLite's own) in the file, sorted.
fn table_names(conn: &Connection) -> rusqlite::Result<Vec<String>> {
    let mut st = conn.prepare(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name",
    )?;
    let names = st.query_map([], |r| r.get(0))?.collect();
    names
}

/// Refuses a file that is some other program's database: marked with another application id,
/// or holding tables we never make. An empty file, and a store from before the mark, pass.
fn check_ours(conn: &Connection, path: &Path) -> Result<(), SqliteError> {
    let open_err = |source| SqliteError::Open {
        path: path.to_owned(),
        source,
    };
    let id = application_id(conn).map_err(open_err)?;
    if id != 0 && id != APPLICATION_ID {
        return Err(SqliteError::Foreign {
            path: path.to_owned(),
            detail: format!("its application_id is {id:#x}, attune-cloud's is {APPLICATION_ID:#x}"),
        });
    }
    let foreign: Vec<String> = table_names(conn)
        .map_err(open_err)?
        .into_iter()
        .filter(|t| !OUR_TABLES.contains(&t.as_str()))
        .collect();
    if !foreign.is_empty() {
        return Err(SqliteError::Foreign {
            path: path.to_owned(),
            detail: format!(
                "it has tables attune-cloud does not make: {}",
                foreign.join(", ")
            ),
        });
    }
    Ok(())
}

/// Creates the store file, readable by its owner only (it holds every key and preference
/// set; SQLite gives its `-wal` and `-shm` files the same mode).
fn create_file(path: &Path) -> Result<(), SqliteError> {
    use std::os::unix::fs::OpenOptionsExt;
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(_) => Ok(()),
        // Another process made it meanwhile: open theirs.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(SqliteError::Io {
            path: path.to_owned(),
            action: "create the store",
            detail: e.to_string(),
        }),
    }
}

fn migrate(conn: &mut Connection, path: &Path) -> Result<(), SqliteError> {
    let found = user_version(conn).map_err(|source| SqliteError::Open {
        path: path.to_owned(),
        source,
    })?;
    if found > SCHEMA_USER_VERSION {
        return Err(SqliteError::TooNew {
            path: path.to_owned(),
            found,
            known: SCHEMA_USER_VERSION,
        });
    }
    let start = usize::try_from(found).unwrap_or(0);
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(start) {
        let version = i + 1;
        let err = |source| SqliteError::Migrate {
            path: path.to_owned(),
            version,
            source,
        };
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(err)?;
        // Another process may have migrated while we waited for the lock.
        if user_version(&tx).map_err(err)? >= version as i64 {
            continue;
        }
        tx.execute_batch(sql).map_err(err)?;
        tx.pragma_update(None, "user_version", version as i64)
            .map_err(err)?;
        tx.commit().map_err(err)?;
    }
    let mark_err = |source| SqliteError::Open {
        path: path.to_owned(),
        source,
    };
    if application_id(conn).map_err(mark_err)? != APPLICATION_ID {
        conn.pragma_update(None, "application_id", APPLICATION_ID)
            .map_err(mark_err)?;
    }
    Ok(())
}

fn unavailable(e: rusqlite::Error) -> StoreError {
    StoreError::Unavailable(e.to_string())
}

fn is_unique_violation(e: &rusqlite::Error) -> bool {
    matches!(e, rusqlite::Error::SqliteFailure(f, _)
        if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
            || f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY)
}

/// A unique-constraint failure as `Exists { what, id }`; any other failure as unavailable.
fn exists_or_unavailable(e: rusqlite::Error, what: &'static str, id: &str) -> StoreError {
    if is_unique_violation(&e) {
        StoreError::Exists {
            what,
            id: id.to_owned(),
        }
    } else {
        unavailable(e)
    }
}

fn json_list(v: &Option<Vec<String>>) -> Option<String> {
    v.as_ref().map(|l| {
        Value::from(
            l.iter()
                .map(|s| Value::from(s.as_str()))
                .collect::<Vec<_>>(),
        )
        .to_string()
    })
}

fn parse_json_list(
    text: Option<String>,
    what: &'static str,
    id: &str,
) -> Result<Option<Vec<String>>, StoreError> {
    text.map(|t| {
        serde_json::from_str::<Vec<String>>(&t).map_err(|e| StoreError::Corrupt {
            what,
            id: id.to_owned(),
            detail: e.to_string(),
        })
    })
    .transpose()
}

impl SqliteStore {
    /// Opens (creating if needed) the store file and migrates its schema. For `serve`, `load`
    /// and `credentials create`, the commands that may start a new store.
    pub fn open(path: &Path) -> Result<Self, SqliteError> {
        Self::open_with(path, true)
    }

    /// Opens an existing store and migrates its schema; a missing file is an error naming
    /// the path (a typo in `--store` must not back up, or fill, an empty new store).
    pub fn open_existing(path: &Path) -> Result<Self, SqliteError> {
        Self::open_with(path, false)
    }

    fn open_with(path: &Path, create: bool) -> Result<Self, SqliteError> {
        if !path.exists() {
            if !create {
                return Err(SqliteError::Missing {
                    path: path.to_owned(),
                });
            }
            create_file(path)?;
        }
        let mut first = open_connection(path)?;
        check_ours(&first, path)?;
        migrate(&mut first, path)?;
        let mut conns = vec![first];
        for _ in 1..POOL_SIZE {
            conns.push(open_connection(path)?);
        }
        let write_lock = Arc::new(Mutex::new(()));
        let thread_err = |action| {
            move |e: std::io::Error| SqliteError::Io {
                path: path.to_owned(),
                action,
                detail: e.to_string(),
            }
        };
        let writer = writer::Writer::start(open_connection(path)?, write_lock.clone())
            .map_err(thread_err("start the grant writer"))?;
        let checkpointer =
            checkpoint::Checkpointer::start(open_connection(path)?, path, write_lock.clone())
                .map_err(thread_err("start the checkpoint thread"))?;
        Ok(SqliteStore {
            pool: Arc::new(Pool {
                path: path.to_owned(),
                conns: Mutex::new(conns),
                returned: Condvar::new(),
                write_lock,
                writer,
                _checkpointer: checkpointer,
            }),
        })
    }

    pub fn path(&self) -> &Path {
        &self.pool.path
    }

    /// Transactions that have committed token grants since the store was opened: with grants
    /// arriving together, fewer than the grants ([`Self::grants_written`]).
    pub fn grant_batches(&self) -> u64 {
        self.pool.writer.stats.batches.load(Ordering::Relaxed)
    }

    /// Token grants committed since the store was opened.
    pub fn grants_written(&self) -> u64 {
        self.pool.writer.stats.grants.load(Ordering::Relaxed)
    }

    /// Queues `job` for the grant writer at once (so calls are written in their order) and
    /// waits for its answer.
    fn queue<T: Send + 'static>(
        &self,
        job: impl FnOnce(tokio::sync::oneshot::Sender<Result<T, StoreError>>) -> writer::Job,
    ) -> StoreFuture<'static, T> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        let queued = self.pool.writer.submit(job(reply));
        Box::pin(async move {
            queued?;
            answer.await.map_err(|_| {
                StoreError::Unavailable("the store's writer stopped before answering".to_owned())
            })?
        })
    }

    /// Runs `f` with a pooled connection, on the calling thread (for admin commands and the
    /// blocking pool).
    fn with_conn<T>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let pool = &self.pool;
        let mut conn = {
            let mut guard = pool
                .conns
                .lock()
                .map_err(|_| StoreError::Unavailable("connection pool poisoned".to_owned()))?;
            loop {
                if let Some(c) = guard.pop() {
                    break c;
                }
                guard = pool
                    .returned
                    .wait(guard)
                    .map_err(|_| StoreError::Unavailable("connection pool poisoned".to_owned()))?;
            }
        };
        let out = f(&mut conn);
        if let Ok(mut guard) = pool.conns.lock() {
            guard.push(conn);
            pool.returned.notify_one();
        }
        out
    }

    /// Runs `f` with a pooled connection on tokio's blocking pool.
    fn run<T, F>(&self, f: F) -> StoreFuture<'static, T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let store = self.clone();
        Box::pin(async move {
            tokio::task::spawn_blocking(move || store.with_conn(f))
                .await
                .map_err(|e| StoreError::Unavailable(format!("store task failed: {e}")))?
        })
    }

    /// Runs `f` in an `IMMEDIATE` transaction on tokio's blocking pool and commits what it did;
    /// an error from `f` rolls it back.
    fn write<T, F>(&self, f: F) -> StoreFuture<'static, T>
    where
        T: Send + 'static,
        F: FnOnce(&rusqlite::Transaction<'_>) -> Result<T, StoreError> + Send + 'static,
    {
        let write_lock = self.pool.write_lock.clone();
        self.run(move |c| {
            let _turn = write_lock
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let tx = c
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(unavailable)?;
            let out = f(&tx)?;
            tx.commit().map_err(unavailable)?;
            Ok(out)
        })
    }

    /// Runs one statement in a transaction of its own; returns how many rows it changed.
    fn execute<P>(&self, sql: &'static str, params: P) -> StoreFuture<'static, u64>
    where
        P: rusqlite::Params + Send + 'static,
    {
        self.write(move |tx| {
            let n = tx.execute(sql, params).map_err(unavailable)?;
            Ok(n as u64)
        })
    }

    /// Writes a consistent copy of the whole store to `out` while the store stays in use
    /// (`VACUUM INTO`). `out` must not exist yet.
    pub fn backup_to(&self, out: &Path) -> Result<(), SqliteError> {
        if out.exists() {
            return Err(SqliteError::Io {
                path: out.to_owned(),
                action: "backup",
                detail: "the file exists already; choose a new name".to_owned(),
            });
        }
        let target = out.to_str().ok_or_else(|| SqliteError::Io {
            path: out.to_owned(),
            action: "backup",
            detail: "the path is not UTF-8".to_owned(),
        })?;
        // Made empty and owner-only first (it holds every key); VACUUM INTO fills an empty file.
        private_file(out).map_err(|e| SqliteError::Io {
            path: out.to_owned(),
            action: "backup",
            detail: e.to_string(),
        })?;
        self.with_conn(|c| {
            c.execute("VACUUM INTO ?1", [target])
                .map(|_| ())
                .map_err(unavailable)
        })
        .map_err(|e| SqliteError::Io {
            path: out.to_owned(),
            action: "backup",
            detail: e.to_string(),
        })?;
        verify_file(out)?;
        // SQLite's integrity check cannot see a flipped byte in unused space or inside a
        // value; the checksum beside the backup (`sha256sum -c` reads it) can.
        let sum = file_sha256(out)?;
        let name = out.file_name().and_then(|n| n.to_str()).unwrap_or("backup");
        let side = checksum_path(out);
        private_file(&side)
            .and_then(|mut f| {
                use std::io::Write;
                f.write_all(format!("{sum}  {name}\n").as_bytes())?;
                f.sync_all()
            })
            .map_err(|e| SqliteError::Io {
                path: side.clone(),
                action: "write the checksum",
                detail: e.to_string(),
            })
    }

    /// Counts of each document kind, for `restore` to report and tests to compare.
    pub fn counts(&self) -> Result<Vec<(&'static str, i64)>, StoreError> {
        self.with_conn(|c| table_counts(c).map_err(unavailable))
    }
}

fn table_counts(c: &Connection) -> rusqlite::Result<Vec<(&'static str, i64)>> {
    let mut out = Vec::new();
    for (name, table) in [
        ("gpiiKey", "gpii_keys"),
        ("prefsSafe", "prefs_safes"),
        ("clientCredential", "client_credentials"),
        ("gpiiAppInstallationAuthorization", "authorizations"),
        ("other", "other_docs"),
    ] {
        let n: i64 = c.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))?;
        out.push((name, n));
    }
    Ok(out)
}

/// Creates `path` (it must not exist) readable and writable by its owner only.
pub fn private_file(path: &Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
}

/// One `sqlite_master` row: type, name, table, SQL.
type SchemaRow = (String, String, String, Option<String>);

fn schema_rows(conn: &Connection) -> rusqlite::Result<Vec<SchemaRow>> {
    let mut st = conn.prepare(
        "SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY type, name, tbl_name",
    )?;
    let rows = st
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
        .collect();
    rows
}

/// The schema attune-cloud creates at `version`, from its migrations.
fn expected_schema(version: i64) -> rusqlite::Result<Vec<SchemaRow>> {
    let conn = Connection::open_in_memory()?;
    for sql in MIGRATIONS
        .iter()
        .take(usize::try_from(version).unwrap_or(0))
    {
        conn.execute_batch(sql)?;
    }
    schema_rows(&conn)
}

/// How `found` differs from `expected`, by object (`trigger x` extra, `table y` missing or
/// changed), at most a few.
fn schema_difference(expected: &[SchemaRow], found: &[SchemaRow]) -> String {
    let mut out = Vec::new();
    for row in found.iter().filter(|r| !expected.contains(r)) {
        let changed = expected.iter().any(|e| e.0 == row.0 && e.1 == row.1);
        out.push(format!(
            "{} {} `{}`",
            if changed { "changed" } else { "unexpected" },
            row.0,
            row.1
        ));
    }
    for row in expected
        .iter()
        .filter(|e| !found.iter().any(|f| f.0 == e.0 && f.1 == e.1))
    {
        out.push(format!("missing {} `{}`", row.0, row.1));
    }
    let more = out.len().saturating_sub(5);
    out.truncate(5);
    if more > 0 {
        out.push(format!("and {more} more"));
    }
    out.join(", ")
}

/// Checks that `path` is an intact attune-cloud store this version can read: SQLite's own
/// `integrity_check`, a known schema version, our application id (or none, from before it),
/// and exactly the schema (tables, indexes, triggers, views) our migrations create: a backup
/// with an extra trigger would run code of someone else's on every write after a restore.
pub fn verify_file(path: &Path) -> Result<(), SqliteError> {
    let not_a_store = |detail: String| SqliteError::NotAStore {
        path: path.to_owned(),
        detail,
    };
    if !path.is_file() {
        return Err(not_a_store("no such file".to_owned()));
    }
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .map_err(|e| not_a_store(e.to_string()))?;
    let check: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .map_err(|e| not_a_store(format!("integrity check could not run: {e}")))?;
    if check != "ok" {
        return Err(not_a_store(format!("integrity check failed: {check}")));
    }
    let version = user_version(&conn).map_err(|e| not_a_store(e.to_string()))?;
    if version == 0 || version > SCHEMA_USER_VERSION {
        return Err(not_a_store(format!(
            "schema version {version}, expected 1 to {SCHEMA_USER_VERSION}"
        )));
    }
    let id = application_id(&conn).map_err(|e| not_a_store(e.to_string()))?;
    if id != 0 && id != APPLICATION_ID {
        return Err(not_a_store(format!(
            "its application_id is {id:#x}, attune-cloud's is {APPLICATION_ID:#x}"
        )));
    }
    let expected = expected_schema(version)
        .map_err(|e| not_a_store(format!("cannot build the expected schema: {e}")))?;
    let found = schema_rows(&conn).map_err(|e| not_a_store(e.to_string()))?;
    if found != expected {
        return Err(not_a_store(format!(
            "its schema is not the one attune-cloud creates (version {version}): {}",
            schema_difference(&expected, &found)
        )));
    }
    table_counts(&conn).map_err(|e| not_a_store(format!("tables missing: {e}")))?;
    Ok(())
}

/// `<backup>.sha256`, written by [`SqliteStore::backup_to`] in `sha256sum` format.
pub fn checksum_path(backup: &Path) -> PathBuf {
    let mut p = backup.as_os_str().to_owned();
    p.push(".sha256");
    PathBuf::from(p)
}

fn file_sha256(path: &Path) -> Result<String, SqliteError> {
    use sha2::{Digest, Sha256};
    let mut f = std::fs::File::open(path).map_err(|e| SqliteError::Io {
        path: path.to_owned(),
        action: "read",
        detail: e.to_string(),
    })?;
    let mut h = Sha256::new();
    std::io::copy(&mut f, &mut h).map_err(|e| SqliteError::Io {
        path: path.to_owned(),
        action: "read",
        detail: e.to_string(),
    })?;
    Ok(hex::encode(h.finalize()))
}

/// Checks the backup against its `.sha256` file when there is one.
fn verify_checksum(from: &Path) -> Result<(), SqliteError> {
    let side = checksum_path(from);
    let Ok(text) = std::fs::read_to_string(&side) else {
        return Ok(());
    };
    let expected = text.split_whitespace().next().unwrap_or("");
    let found = file_sha256(from)?;
    if expected != found {
        return Err(SqliteError::NotAStore {
            path: from.to_owned(),
            detail: format!(
                "its SHA-256 is {found}, but {} says {expected}: the file changed after the backup",
                side.display()
            ),
        });
    }
    Ok(())
}

/// Replaces the store at `store` by the backup `from`, after verifying the backup (its
/// checksum file when present, SQLite's integrity check, the schema version). The server must
/// be stopped. The old file is kept beside it as `<store>.before-restore`.
///
/// The store may be missing: restoring onto a new machine is what a backup is for, and what
/// `restore` writes is a verified backup (checksum, our schema exactly), never an empty store, so a
/// typo in `--store` cannot make one. Its folder must exist.
pub fn restore(store: &Path, from: &Path) -> Result<(), SqliteError> {
    verify_file(from)?;
    verify_checksum(from)?;
    let io = |action: &'static str, p: &Path, e: std::io::Error| SqliteError::Io {
        path: p.to_owned(),
        action,
        detail: e.to_string(),
    };
    let mut tmp = store.as_os_str().to_owned();
    tmp.push(".restoring");
    let tmp = PathBuf::from(tmp);
    // A copy left by a restore that was interrupted is ours to replace.
    if tmp.exists() {
        std::fs::remove_file(&tmp).map_err(|e| io("remove an earlier partial copy", &tmp, e))?;
    }
    // Not fs::copy: it would give the store the backup's mode; the store is owner-only.
    private_file(&tmp)
        .and_then(|mut f| {
            std::io::copy(&mut std::fs::File::open(from)?, &mut f)?;
            f.sync_all()
        })
        .map_err(|e| io("copy the backup", &tmp, e))?;
    verify_file(&tmp)?;
    if store.exists() {
        let mut old = store.as_os_str().to_owned();
        old.push(".before-restore");
        std::fs::rename(store, PathBuf::from(&old))
            .map_err(|e| io("keep the old store", store, e))?;
    }
    for suffix in ["-wal", "-shm"] {
        let mut side = store.as_os_str().to_owned();
        side.push(suffix);
        let side = PathBuf::from(side);
        if side.exists() {
            std::fs::remove_file(&side).map_err(|e| io("remove the old journal", &side, e))?;
        }
    }
    std::fs::rename(&tmp, store).map_err(|e| io("move the backup in place", store, e))?;
    if let Some(dir) = store.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::File::open(dir)
            .and_then(|f| f.sync_all())
            .map_err(|e| io("sync the directory", dir, e))?;
    }
    Ok(())
}

/// The stored keys among `rows`, by their hash. Keys are not stored by hash, so this reads
/// them all, once: it runs only when purging or restoring.
fn keys_of(
    c: &Connection,
    rows: &[ForgottenKey],
) -> Result<std::collections::HashMap<String, String>, StoreError> {
    let wanted: std::collections::HashSet<&str> =
        rows.iter().map(|r| r.key_hash.as_str()).collect();
    let mut st = c.prepare("SELECT id FROM gpii_keys").map_err(unavailable)?;
    let ids = st
        .query_map([], |r| r.get::<_, String>(0))
        .map_err(unavailable)?;
    let mut found = std::collections::HashMap::new();
    for id in ids {
        let id = id.map_err(unavailable)?;
        let hash = key_hash(&id);
        if wanted.contains(hash.as_str()) {
            found.insert(hash, id);
        }
    }
    Ok(found)
}

/// [`apply_forget`] for each row.
fn apply_forgets(c: &Connection, rows: &[ForgottenKey]) -> Result<(), StoreError> {
    let keys = keys_of(c, rows)?;
    for row in rows {
        if let Some(key) = keys.get(&row.key_hash) {
            apply_forget(c, row, key)?;
        }
    }
    Ok(())
}

/// Makes the store agree with one forget-list row of `key`: a purged row's key, its tokens and
/// its own preferences safe are deleted (a snapset, or a safe another key opens, stays); any
/// other row's key and tokens are revoked.
fn apply_forget(c: &Connection, row: &ForgottenKey, key: &str) -> Result<(), StoreError> {
    if row.purged_ms.is_some() {
        let safe: Option<String> = c
            .query_row(
                "SELECT prefs_safe_id FROM gpii_keys WHERE id = ?1",
                [&key],
                |r| r.get(0),
            )
            .map_err(unavailable)?;
        c.execute("DELETE FROM authorizations WHERE gpii_key = ?1", [&key])
            .map_err(unavailable)?;
        c.execute("DELETE FROM gpii_keys WHERE id = ?1", [&key])
            .map_err(unavailable)?;
        if let Some(safe) = safe {
            c.execute(
                "DELETE FROM prefs_safes WHERE id = ?1 AND prefs_safe_type = 'user'
                 AND NOT EXISTS (SELECT 1 FROM gpii_keys WHERE prefs_safe_id = ?1)",
                [&safe],
            )
            .map_err(unavailable)?;
        }
    } else {
        c.execute(
            "UPDATE gpii_keys SET revoked = 1, revoked_reason = 'forgotten' WHERE id = ?1",
            [&key],
        )
        .map_err(unavailable)?;
        c.execute(
            "UPDATE authorizations SET revoked = 1 WHERE gpii_key = ?1 AND revoked = 0",
            [&key],
        )
        .map_err(unavailable)?;
    }
    Ok(())
}

fn forgotten_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<ForgottenKey> {
    Ok(ForgottenKey {
        key_hash: r.get(0)?,
        fingerprint: r.get(1)?,
        forgotten_ms: r.get(2)?,
        reason: r.get(3)?,
        purged_ms: r.get(4)?,
    })
}

const FORGOTTEN_COLUMNS: &str = "key_hash, fingerprint, forgotten_ms, reason, purged_ms";

/// The forget list, oldest first; with `due_by`, only the rows not yet purged that were
/// forgotten at or before it.
fn read_forgotten(c: &Connection, due_by: Option<i64>) -> Result<Vec<ForgottenKey>, StoreError> {
    let mut st = c
        .prepare(&format!(
            "SELECT {FORGOTTEN_COLUMNS} FROM forgotten_keys
             WHERE ?1 IS NULL OR (purged_ms IS NULL AND forgotten_ms <= ?1)
             ORDER BY forgotten_ms, key_hash"
        ))
        .map_err(unavailable)?;
    let rows = st
        .query_map([due_by], forgotten_from_row)
        .map_err(unavailable)?
        .collect::<rusqlite::Result<Vec<_>>>()
        .map_err(unavailable)?;
    Ok(rows)
}

fn insert_forgotten(c: &Connection, row: &ForgottenKey) -> Result<(), StoreError> {
    c.execute(
        &format!(
            "INSERT INTO forgotten_keys ({FORGOTTEN_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (key_hash) DO UPDATE SET purged_ms = coalesce(purged_ms, excluded.purged_ms)"
        ),
        params![
            row.key_hash,
            row.fingerprint,
            row.forgotten_ms,
            row.reason,
            row.purged_ms
        ],
    )
    .map_err(unavailable)?;
    Ok(())
}

fn key_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<GpiiKeyDoc> {
    Ok(GpiiKeyDoc {
        id: r.get(0)?,
        prefs_safe_id: r.get(1)?,
        prefs_set_id: r.get(2)?,
        revoked: r.get(3)?,
        revoked_reason: r.get(4)?,
        timestamp_created: r.get(5)?,
        timestamp_updated: r.get(6)?,
    })
}

const KEY_COLUMNS: &str =
    "k.id, k.prefs_safe_id, k.prefs_set_id, k.revoked, k.revoked_reason, k.timestamp_created, k.timestamp_updated";
const SAFE_COLUMNS: &str =
    "s.id, s.prefs_safe_type, s.name, s.preferences, s.timestamp_created, s.timestamp_updated, s.rev";

type SafeRow = (
    String,
    String,
    Option<String>,
    String,
    Option<String>,
    Option<String>,
    i64,
);

fn safe_row(r: &rusqlite::Row<'_>, at: usize) -> rusqlite::Result<Option<SafeRow>> {
    let id: Option<String> = r.get(at)?;
    let Some(id) = id else { return Ok(None) };
    Ok(Some((
        id,
        r.get(at + 1)?,
        r.get(at + 2)?,
        r.get(at + 3)?,
        r.get(at + 4)?,
        r.get(at + 5)?,
        r.get(at + 6)?,
    )))
}

fn safe_from_row(row: SafeRow) -> Result<PrefsSafeDoc, StoreError> {
    let (id, kind, name, prefs, created, updated, rev) = row;
    let corrupt = |detail: String| StoreError::Corrupt {
        what: "prefsSafe",
        id: id.clone(),
        detail,
    };
    let prefs_safe_type =
        PrefsSafeType::parse(&kind).ok_or_else(|| corrupt(format!("prefsSafeType `{kind}`")))?;
    let preferences = serde_json::from_str(&prefs).map_err(|e| corrupt(e.to_string()))?;
    Ok(PrefsSafeDoc {
        id: id.clone(),
        prefs_safe_type,
        name,
        preferences,
        timestamp_created: created,
        timestamp_updated: updated,
        rev: u64::try_from(rev).unwrap_or(0),
    })
}

fn upsert_key(c: &Connection, doc: &GpiiKeyDoc) -> rusqlite::Result<()> {
    c.prepare_cached(
        "INSERT INTO gpii_keys (id, prefs_safe_id, prefs_set_id, revoked, revoked_reason,
            timestamp_created, timestamp_updated) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
         ON CONFLICT (id) DO UPDATE SET prefs_safe_id = excluded.prefs_safe_id,
            prefs_set_id = excluded.prefs_set_id, revoked = excluded.revoked,
            revoked_reason = excluded.revoked_reason,
            timestamp_created = excluded.timestamp_created,
            timestamp_updated = excluded.timestamp_updated",
    )?
    .execute(params![
        doc.id,
        doc.prefs_safe_id,
        doc.prefs_set_id,
        doc.revoked,
        doc.revoked_reason,
        doc.timestamp_created,
        doc.timestamp_updated
    ])?;
    Ok(())
}

/// A safe's columns in the order `insert_safe` and the update in `put_prefs_safe` bind them:
/// `?1` the id to `?6` `timestamp_updated`, then `?7` the revision.
fn safe_params(doc: &PrefsSafeDoc, rev: u64) -> impl rusqlite::Params + '_ {
    (
        doc.id.as_str(),
        doc.prefs_safe_type.as_str(),
        doc.name.as_deref(),
        doc.preferences.to_string(),
        doc.timestamp_created.as_deref(),
        doc.timestamp_updated.as_deref(),
        rev as i64,
    )
}

fn insert_safe(c: &Connection, doc: &PrefsSafeDoc, rev: u64) -> Result<(), StoreError> {
    c.prepare_cached(
        "INSERT INTO prefs_safes (id, prefs_safe_type, name, preferences, timestamp_created,
            timestamp_updated, rev) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )
    .and_then(|mut s| s.execute(safe_params(doc, rev)))
    .map_err(|e| exists_or_unavailable(e, "prefsSafe", &doc.id))?;
    Ok(())
}

fn read_key(c: &Connection, key: &str) -> Result<Option<GpiiKeyDoc>, StoreError> {
    c.prepare_cached(&format!(
        "SELECT {KEY_COLUMNS} FROM gpii_keys k WHERE k.id = ?1"
    ))
    .and_then(|mut s| s.query_row([&key], key_from_row).optional())
    .map_err(unavailable)
}

/// A key and, when it has one, its preferences safe.
fn read_prefs_by_key(
    c: &Connection,
    key: &str,
) -> Result<Option<(GpiiKeyDoc, Option<PrefsSafeDoc>)>, StoreError> {
    let row = c
        .prepare_cached(&format!(
            "SELECT {KEY_COLUMNS}, {SAFE_COLUMNS} FROM gpii_keys k
                     LEFT JOIN prefs_safes s ON s.id = k.prefs_safe_id WHERE k.id = ?1"
        ))
        .and_then(|mut s| {
            s.query_row([&key], |r| Ok((key_from_row(r)?, safe_row(r, 7)?)))
                .optional()
        })
        .map_err(unavailable)?;
    match row {
        None => Ok(None),
        Some((k, None)) => Ok(Some((k, None))),
        Some((k, Some(s))) => Ok(Some((k, Some(safe_from_row(s)?)))),
    }
}

fn read_credential(
    c: &Connection,
    wanted: &str,
) -> Result<Option<ClientCredentialDoc>, StoreError> {
    let row = c
        .prepare_cached(
            "SELECT id, client_id, oauth2_client_id, secret_hash, allowed_ip_blocks,
                        allowed_prefs_to_write, is_create_gpii_key_allowed,
                        is_create_prefs_safe_allowed, revoked, timestamp_created
                     FROM client_credentials WHERE oauth2_client_id = ?1",
        )
        .and_then(|mut s| {
            s.query_row([&wanted], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, Option<String>>(4)?,
                    r.get::<_, Option<String>>(5)?,
                    r.get::<_, bool>(6)?,
                    r.get::<_, bool>(7)?,
                    r.get::<_, bool>(8)?,
                    r.get::<_, Option<String>>(9)?,
                ))
            })
            .optional()
        })
        .map_err(unavailable)?;
    let Some((id, client_id, oauth2_client_id, hash, ips, prefs, ck, cp, revoked, ts)) = row else {
        return Ok(None);
    };
    Ok(Some(ClientCredentialDoc {
        allowed_ip_blocks: parse_json_list(ips, "clientCredential", &id)?,
        allowed_prefs_to_write: parse_json_list(prefs, "clientCredential", &id)?,
        id,
        client_id,
        oauth2_client_id,
        oauth2_client_secret_hash: hash,
        is_create_gpii_key_allowed: ck,
        is_create_prefs_safe_allowed: cp,
        revoked,
        timestamp_created: ts,
    }))
}

/// The live grant of a token hash at `now_ms`.
fn read_grant(c: &Connection, token_hash: &str, now_ms: i64) -> Result<Option<Grant>, StoreError> {
    let row = c
        .prepare_cached(
            "SELECT a.id, a.client_id, a.client_credential_id, a.gpii_key, a.token_hash,
                        a.created_ms, a.expires_ms, a.revoked, c.allowed_prefs_to_write
                     FROM authorizations a JOIN client_credentials c
                        ON c.id = a.client_credential_id
                     WHERE a.token_hash = ?1 AND a.revoked = 0 AND c.revoked = 0
                        AND a.expires_ms > ?2",
        )
        .and_then(|mut s| {
            s.query_row(params![token_hash, now_ms], |r| {
                Ok((
                    AuthorizationDoc {
                        id: r.get(0)?,
                        client_id: r.get(1)?,
                        client_credential_id: r.get(2)?,
                        gpii_key: r.get(3)?,
                        access_token_hash: r.get(4)?,
                        created_ms: r.get(5)?,
                        expires_ms: r.get(6)?,
                        revoked: r.get(7)?,
                    },
                    r.get::<_, Option<String>>(8)?,
                ))
            })
            .optional()
        })
        .map_err(unavailable)?;
    row.map(|(authorization, prefs)| {
        let allowed = parse_json_list(
            prefs,
            "clientCredential",
            &authorization.client_credential_id,
        )?;
        Ok(Grant {
            authorization,
            allowed_prefs_to_write: allowed,
        })
    })
    .transpose()
}

impl Store for SqliteStore {
    fn ping(&self) -> StoreFuture<'_, ()> {
        self.run(|c| {
            c.query_row("SELECT count(*) FROM gpii_keys LIMIT 1", [], |_| Ok(()))
                .map_err(unavailable)
        })
    }

    fn find_gpii_key(&self, key: &str) -> StoreFuture<'_, Option<GpiiKeyDoc>> {
        let key = key.to_owned();
        self.run(move |c| read_key(c, &key))
    }

    fn find_prefs_by_key(
        &self,
        key: &str,
    ) -> StoreFuture<'_, Option<(GpiiKeyDoc, Option<PrefsSafeDoc>)>> {
        let key = key.to_owned();
        self.run(move |c| read_prefs_by_key(c, &key))
    }

    fn find_prefs_safe(&self, id: &str) -> StoreFuture<'_, Option<PrefsSafeDoc>> {
        let id = id.to_owned();
        self.run(move |c| {
            let row = c
                .prepare_cached(&format!(
                    "SELECT {SAFE_COLUMNS} FROM prefs_safes s WHERE s.id = ?1"
                ))
                .and_then(|mut s| s.query_row([&id], |r| safe_row(r, 0)).optional())
                .map_err(unavailable)?;
            row.flatten().map(safe_from_row).transpose()
        })
    }

    fn put_gpii_key(&self, doc: GpiiKeyDoc) -> StoreFuture<'_, ()> {
        self.write(move |tx| {
            upsert_key(tx, &doc).map_err(unavailable)?;
            Ok(())
        })
    }

    fn put_prefs_safe(&self, doc: PrefsSafeDoc, expected_rev: Option<u64>) -> StoreFuture<'_, u64> {
        self.write(move |tx| {
            let new_rev = match expected_rev {
                None => {
                    insert_safe(tx, &doc, 1)?;
                    1
                }
                Some(expected) => {
                    let n = tx
                        .prepare_cached(
                            "UPDATE prefs_safes SET prefs_safe_type = ?2, name = ?3,
                                preferences = ?4, timestamp_created = ?5,
                                timestamp_updated = ?6, rev = rev + 1
                             WHERE id = ?1 AND rev = ?7",
                        )
                        .and_then(|mut s| s.execute(safe_params(&doc, expected)))
                        .map_err(unavailable)?;
                    if n == 0 {
                        let exists: bool = tx
                            .query_row(
                                "SELECT EXISTS (SELECT 1 FROM prefs_safes WHERE id = ?1)",
                                [&doc.id],
                                |r| r.get(0),
                            )
                            .map_err(unavailable)?;
                        return Err(if exists {
                            StoreError::Conflict {
                                what: "prefsSafe",
                                id: doc.id.clone(),
                                expected,
                            }
                        } else {
                            StoreError::Missing {
                                what: "prefsSafe",
                                id: doc.id.clone(),
                            }
                        });
                    }
                    expected + 1
                }
            };
            Ok(new_rev)
        })
    }

    fn create_prefs_for_key(&self, key: GpiiKeyDoc, safe: PrefsSafeDoc) -> StoreFuture<'_, ()> {
        self.write(move |tx| {
            insert_safe(tx, &safe, 1)?;
            upsert_key(tx, &key).map_err(unavailable)?;
            Ok(())
        })
    }

    fn find_client_credential(
        &self,
        oauth2_client_id: &str,
    ) -> StoreFuture<'_, Option<ClientCredentialDoc>> {
        let wanted = oauth2_client_id.to_owned();
        self.run(move |c| read_credential(c, &wanted))
    }

    fn find_credential_and_key(
        &self,
        oauth2_client_id: &str,
        key: &str,
    ) -> StoreFuture<'_, (Option<ClientCredentialDoc>, Option<GpiiKeyDoc>)> {
        let (wanted, key) = (oauth2_client_id.to_owned(), key.to_owned());
        self.run(move |c| Ok((read_credential(c, &wanted)?, read_key(c, &key)?)))
    }

    fn put_client_credential(&self, doc: ClientCredentialDoc) -> StoreFuture<'_, ()> {
        self.write(move |tx| {
            tx.prepare_cached(
                "INSERT INTO client_credentials (id, client_id, oauth2_client_id, secret_hash,
                    allowed_ip_blocks, allowed_prefs_to_write, is_create_gpii_key_allowed,
                    is_create_prefs_safe_allowed, revoked, timestamp_created)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
                 ON CONFLICT (id) DO UPDATE SET client_id = excluded.client_id,
                    oauth2_client_id = excluded.oauth2_client_id,
                    secret_hash = excluded.secret_hash,
                    allowed_ip_blocks = excluded.allowed_ip_blocks,
                    allowed_prefs_to_write = excluded.allowed_prefs_to_write,
                    is_create_gpii_key_allowed = excluded.is_create_gpii_key_allowed,
                    is_create_prefs_safe_allowed = excluded.is_create_prefs_safe_allowed,
                    revoked = excluded.revoked, timestamp_created = excluded.timestamp_created",
            )
            .and_then(|mut s| {
                s.execute(params![
                    doc.id,
                    doc.client_id,
                    doc.oauth2_client_id,
                    doc.oauth2_client_secret_hash,
                    json_list(&doc.allowed_ip_blocks),
                    json_list(&doc.allowed_prefs_to_write),
                    doc.is_create_gpii_key_allowed,
                    doc.is_create_prefs_safe_allowed,
                    doc.revoked,
                    doc.timestamp_created
                ])
            })
            .map_err(|e| {
                exists_or_unavailable(
                    e,
                    "clientCredential with oauth2ClientId",
                    &doc.oauth2_client_id,
                )
            })?;
            Ok(())
        })
    }

    fn put_other_doc(&self, doc: OtherDoc) -> StoreFuture<'_, ()> {
        self.write(move |tx| {
            tx.execute(
                "INSERT INTO other_docs (id, doc_type, doc) VALUES (?1, ?2, ?3)
                 ON CONFLICT (id) DO UPDATE SET doc_type = excluded.doc_type, doc = excluded.doc",
                params![doc.id, doc.doc_type, doc.doc.to_string()],
            )
            .map_err(unavailable)?;
            Ok(())
        })
    }

    fn find_other_doc(&self, id: &str) -> StoreFuture<'_, Option<OtherDoc>> {
        let id = id.to_owned();
        self.run(move |c| {
            let row = c
                .query_row(
                    "SELECT id, doc_type, doc FROM other_docs WHERE id = ?1",
                    [&id],
                    |r| {
                        Ok((
                            r.get::<_, String>(0)?,
                            r.get::<_, String>(1)?,
                            r.get::<_, String>(2)?,
                        ))
                    },
                )
                .optional()
                .map_err(unavailable)?;
            row.map(|(id, doc_type, doc)| {
                let doc = serde_json::from_str(&doc).map_err(|e| StoreError::Corrupt {
                    what: "document",
                    id: id.clone(),
                    detail: e.to_string(),
                })?;
                Ok(OtherDoc { id, doc_type, doc })
            })
            .transpose()
        })
    }

    fn add_authorization(&self, doc: AuthorizationDoc) -> StoreFuture<'_, ()> {
        self.queue(|reply| writer::Job::Grant(doc, reply))
    }

    fn find_grant(&self, token_hash: &str, now_ms: i64) -> StoreFuture<'_, Option<Grant>> {
        let token_hash = token_hash.to_owned();
        self.run(move |c| read_grant(c, &token_hash, now_ms))
    }

    fn find_grant_and_prefs(
        &self,
        token_hash: &str,
        key: &str,
        now_ms: i64,
    ) -> StoreFuture<'_, GrantAndPrefs> {
        let (token_hash, key) = (token_hash.to_owned(), key.to_owned());
        self.run(move |c| {
            Ok((
                read_grant(c, &token_hash, now_ms)?,
                read_prefs_by_key(c, &key)?,
            ))
        })
    }

    fn revoke_authorization(&self, token_hash: &str, now_ms: i64) -> StoreFuture<'_, u64> {
        // The table has no revocation time; `now_ms` is for stores that record one.
        let _ = now_ms;
        let token_hash = token_hash.to_owned();
        self.execute(
            "UPDATE authorizations SET revoked = 1 WHERE token_hash = ?1 AND revoked = 0",
            [token_hash],
        )
    }

    fn purge_expired_authorizations(&self, now_ms: i64) -> StoreFuture<'_, u64> {
        self.queue(|reply| writer::Job::Purge { now_ms, reply })
    }

    fn forget_key(&self, key: &str, row: ForgottenKey) -> StoreFuture<'_, ()> {
        let key = key.to_owned();
        self.write(move |tx| {
            if read_key(tx, &key)?.is_none() {
                return Err(StoreError::Missing {
                    what: "gpiiKey",
                    id: row.fingerprint,
                });
            }
            let row = ForgottenKey {
                purged_ms: None,
                ..row
            };
            tx.execute(
                &format!(
                    "INSERT INTO forgotten_keys ({FORGOTTEN_COLUMNS}) VALUES (?1, ?2, ?3, ?4, NULL)
                     ON CONFLICT (key_hash) DO NOTHING"
                ),
                params![row.key_hash, row.fingerprint, row.forgotten_ms, row.reason],
            )
            .map_err(unavailable)?;
            apply_forget(tx, &row, &key)
        })
    }

    fn forgotten_keys(&self) -> StoreFuture<'_, Vec<ForgottenKey>> {
        self.run(|c| read_forgotten(c, None))
    }

    fn purge_forgotten(
        &self,
        forgotten_by_ms: i64,
        now_ms: i64,
    ) -> StoreFuture<'_, Vec<ForgottenKey>> {
        self.write(move |tx| {
            let due = read_forgotten(tx, Some(forgotten_by_ms))?;
            let mut purged = Vec::with_capacity(due.len());
            for row in due {
                let row = ForgottenKey {
                    purged_ms: Some(now_ms),
                    ..row
                };
                tx.execute(
                    "UPDATE forgotten_keys SET purged_ms = ?2 WHERE key_hash = ?1",
                    params![row.key_hash, now_ms],
                )
                .map_err(unavailable)?;
                purged.push(row);
            }
            apply_forgets(tx, &purged)?;
            Ok(purged)
        })
    }

    fn reapply_forgotten(&self, rows: Vec<ForgottenKey>) -> StoreFuture<'_, ()> {
        self.write(move |tx| {
            for row in &rows {
                insert_forgotten(tx, row)?;
            }
            apply_forgets(tx, &read_forgotten(tx, None)?)
        })
    }

    fn append_audit(&self, entry: AuditEntry) -> StoreFuture<'_, ()> {
        self.write(move |tx| {
            tx.execute(
                "INSERT INTO audit (time_ms, action, actor, key_fingerprint) VALUES (?1, ?2, ?3, ?4)",
                params![
                    entry.time_ms,
                    entry.action.as_str(),
                    entry.actor,
                    entry.key_fingerprint
                ],
            )
            .map_err(unavailable)?;
            Ok(())
        })
    }

    fn audit(&self) -> StoreFuture<'_, Vec<AuditEntry>> {
        self.run(|c| {
            let mut st = c
                .prepare(
                    "SELECT seq, time_ms, action, actor, key_fingerprint FROM audit ORDER BY seq",
                )
                .map_err(unavailable)?;
            let rows = st
                .query_map([], |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        r.get::<_, i64>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, String>(3)?,
                        r.get::<_, Option<String>>(4)?,
                    ))
                })
                .map_err(unavailable)?
                .collect::<rusqlite::Result<Vec<_>>>()
                .map_err(unavailable)?;
            rows.into_iter()
                .map(|(seq, time_ms, action, actor, key_fingerprint)| {
                    let action =
                        AuditAction::parse(&action).ok_or_else(|| StoreError::Corrupt {
                            what: "audit entry",
                            id: seq.to_string(),
                            detail: format!("unknown action `{action}`"),
                        })?;
                    Ok(AuditEntry {
                        time_ms,
                        action,
                        actor,
                        key_fingerprint,
                    })
                })
                .collect()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A new store file, closed again, in a folder that lives as long as the returned guard.
    fn a_closed_store() -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.db");
        drop(SqliteStore::open(&path).unwrap());
        (dir, path)
    }

    #[test]
    fn a_store_from_a_newer_version_is_refused() {
        let (_dir, path) = a_closed_store();
        let c = Connection::open(&path).unwrap();
        c.pragma_update(None, "user_version", SCHEMA_USER_VERSION + 1)
            .unwrap();
        drop(c);
        let e = SqliteStore::open(&path).unwrap_err();
        assert!(matches!(e, SqliteError::TooNew { .. }), "{e}");
    }

    #[test]
    fn opening_twice_migrates_once() {
        let (_dir, path) = a_closed_store();
        let s = SqliteStore::open(&path).unwrap();
        let v = s
            .with_conn(|c| user_version(c).map_err(unavailable))
            .unwrap();
        assert_eq!(v, SCHEMA_USER_VERSION);
        let mode: String = s
            .with_conn(|c| {
                c.pragma_query_value(None, "journal_mode", |r| r.get(0))
                    .map_err(unavailable)
            })
            .unwrap();
        assert_eq!(mode, "wal");
    }
}

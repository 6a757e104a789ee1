//! What happened in a run, as the people and the fault injector recorded it: the input of the
//! checker ([`crate::check`]) and of the plot. Times are milliseconds since the run started.

use serde::Serialize;

/// The preference terms people change, each with its starting value and how the n-th write
/// (n = 1, 2, …) of a person's term gets a value no earlier write of theirs had: values are
/// unique per person and term, so a value read back names the write it came from.
pub const TERMS: &[Term] = &[
    Term {
        name: "fontSize",
        initial: 12.0,
        base: 8.0,
        step: 0.01,
    },
    Term {
        name: "magnification",
        initial: 1.0,
        base: 1.0,
        step: 0.001,
    },
    Term {
        name: "cursorSize",
        initial: 0.5,
        base: 0.1,
        step: 0.0004,
    },
];

/// A preference term people change (a common term's short name).
#[derive(Debug, Clone, Copy)]
pub struct Term {
    pub name: &'static str,
    pub initial: f64,
    base: f64,
    step: f64,
}

impl Term {
    /// The value of the n-th write (n ≥ 1), rounded to the step's decimals so it prints short.
    pub fn value(&self, n: u64) -> f64 {
        let v = self.base + self.step * n as f64;
        (v * 1e6).round() / 1e6
    }
}

/// How a key-in ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyInEnd {
    /// The cloud's answer applied.
    Cloud,
    /// The cached answer applied (the cloud failed).
    Cache,
    /// The bundled snapset of that name (no person's key is one).
    Snapset,
    /// Nothing applied, the flow's `offline` answer (`reason` is the failure's code).
    Nothing { reason: String },
    /// Any other error (its kind).
    Error { kind: String },
}

impl KeyInEnd {
    /// A short label for the plot and the counts.
    pub fn label(&self) -> String {
        match self {
            KeyInEnd::Cloud => "cloud".to_owned(),
            KeyInEnd::Cache => "cache".to_owned(),
            KeyInEnd::Snapset => "snapset".to_owned(),
            KeyInEnd::Nothing { .. } => "nothing".to_owned(),
            KeyInEnd::Error { kind } => format!("error:{kind}"),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct KeyIn {
    pub person: usize,
    pub session: u64,
    pub at_ms: u64,
    pub took_ms: u64,
    pub end: KeyInEnd,
    /// The person had a cached answer on their computer (a cloud key-in succeeded before).
    pub had_cache: bool,
}

/// One change saved through `Flow::set`: invoked, then acknowledged when the cloud has it (at
/// once, or when a later flush of the outbox sends it). Never acknowledged by the end of the run
/// is "indeterminate"; `set` itself failing is "failed" (nothing was queued).
#[derive(Debug, Clone, Serialize)]
pub struct Write {
    pub person: usize,
    pub session: u64,
    pub term: &'static str,
    pub value: f64,
    pub invoked_ms: u64,
    pub acked_ms: Option<u64>,
    /// `set` returned an error: nothing applied, nothing queued.
    pub failed: Option<String>,
}

/// A session: from a key-in that applied something to its key-out.
#[derive(Debug, Clone, Serialize)]
pub struct Session {
    pub person: usize,
    pub session: u64,
    pub start_ms: u64,
    pub end_ms: Option<u64>,
    /// The tokens it held, in order, each granted between two times (the key-in's call, then
    /// each relogin's): a token is held from its grant to the next one. Empty: keyed in from
    /// the cache, it holds none.
    pub tokens: Vec<(u64, u64)>,
    /// When it asked the cloud with its token (a `set`'s save, a relogin), after the key-in.
    pub contacts_ms: Vec<u64>,
    /// When it was told "Something has gone wrong. Please log out and log back in."
    pub stale_seen_ms: Vec<u64>,
    /// A stale-token answer whose text was not the exact sentence of docs/design.md §3.
    pub stale_wrong_text: Vec<String>,
    /// After being told, the relogin emptied the outbox (all saved).
    pub relogin_saved: bool,
}

/// What a key-in from the cloud showed: the value of each term, when the key-in began.
#[derive(Debug, Clone, Serialize)]
pub struct Read {
    pub session: u64,
    pub at_ms: u64,
    pub values: std::collections::BTreeMap<String, f64>,
}

/// What kind of fault, as result.json counts them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    ReplicaKill,
    StorePause,
    PartitionBlackhole,
    PartitionReset,
    PartitionSlowBody,
    HaproxyRestart,
    RestoreFromBackup,
    DiskFull,
}

impl FaultKind {
    pub const ALL: [FaultKind; 8] = [
        FaultKind::ReplicaKill,
        FaultKind::StorePause,
        FaultKind::PartitionBlackhole,
        FaultKind::PartitionReset,
        FaultKind::PartitionSlowBody,
        FaultKind::HaproxyRestart,
        FaultKind::RestoreFromBackup,
        FaultKind::DiskFull,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            FaultKind::ReplicaKill => "replica_kill",
            FaultKind::StorePause => "store_pause",
            FaultKind::PartitionBlackhole => "partition_blackhole",
            FaultKind::PartitionReset => "partition_reset",
            FaultKind::PartitionSlowBody => "partition_slow_body",
            FaultKind::HaproxyRestart => "haproxy_restart",
            FaultKind::RestoreFromBackup => "restore_from_backup",
            FaultKind::DiskFull => "disk_full",
        }
    }
}

/// A fault as injected: its window (start to healed), its target, and for a restore the
/// backup's own window.
#[derive(Debug, Clone, Serialize)]
pub struct FaultWindow {
    pub kind: FaultKind,
    pub target: String,
    pub start_ms: u64,
    pub end_ms: u64,
    /// A restore: when the backup it restored was being taken (the window starts there).
    pub backup_ms: Option<(u64, u64)>,
    /// A restore: from stopping the server to its being ready again on the restored store.
    pub restored_ms: Option<(u64, u64)>,
    pub detail: String,
}

/// One person's record of the run.
#[derive(Debug, Default, Serialize)]
pub struct PersonLog {
    pub person: usize,
    pub key_fingerprint: String,
    pub on_sqlite: bool,
    pub key_ins: Vec<KeyIn>,
    pub writes: Vec<Write>,
    pub sessions: Vec<Session>,
    /// What each cloud key-in showed of the terms (the person's own reads of the cloud).
    pub reads: Vec<Read>,
    /// Problems seen on the way (a failed key-out, a relogin that never saved…).
    pub problems: Vec<String>,
    /// At the end: the outbox emptied, keyed out, and the desktop exactly as at the start.
    pub healed: bool,
    pub desktop_restored: bool,
    pub panicked: bool,
}

//! The flow's one error type. Each variant has a stable `kind` (what the UI and `--json` switch
//! on) and an exit code for the CLI; the `Display` text names what went wrong and where.

use crate::report::ReportRow;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FlowError {
    #[error("invalid configuration: {0}")]
    Config(#[from] crate::config::ConfigError),
    #[error(transparent)]
    Paths(#[from] crate::paths::PathsError),
    #[error(transparent)]
    Busy(#[from] crate::lock::LockError),
    #[error("invalid key: {0}")]
    Key(#[from] attune_model::key::KeyError),
    #[error("there is no snapset with that key on this computer; available: {}", available.join(", "))]
    UnknownSnapset { available: Vec<String> },
    #[error("bundled data is broken: {0}")]
    Model(#[from] attune_model::ModelError),
    #[error("nobody is keyed in")]
    NotKeyedIn,
    #[error("{what} is not available yet")]
    NotAvailable { what: String },
    #[error("{failed} setting(s) could not be put back; they stay in the journal and are retried at the next start")]
    RestoreIncomplete { failed: usize, rows: Vec<ReportRow> },
    /// The journal of original settings could not be read or written.
    #[error("settings journal: {0}")]
    Journal(#[source] attune_settings::LifecycleError),
    /// The outbox of unsaved changes could not be read or written.
    #[error("unsaved changes: {0}")]
    Outbox(#[from] crate::outbox::OutboxError),
    /// The journal has no valid header: the originals it held are unknown, so nothing may be
    /// applied (the next key-in would record the previous person's values as the originals).
    #[error(
        "this computer's record of its original settings is damaged, so Attune will not change \
         any setting ({path}: {detail}). An administrator can keep the damaged record aside and \
         start afresh with `attune recover --discard-journal`"
    )]
    JournalDamaged {
        path: std::path::PathBuf,
        detail: String,
    },
    #[error(transparent)]
    Session(#[from] crate::session::SessionError),
    #[error("invalid configuration: {0}")]
    CloudConfig(crate::cloud::ClientError),
    #[error("{message}")]
    KeyRejected { message: String },
    #[error("{message}")]
    Offline {
        reason: &'static str,
        message: String,
        /// This process keeps the key-in pending and asks the cloud again by itself
        /// ([`crate::Flow::reconnect`]); the message says "We'll keep trying" only then.
        keeps_trying: bool,
    },
    /// The cloud's settings answer does not have GPII's shape.
    #[error("the preferences server's answer could not be used: {0}")]
    CloudAnswer(#[source] attune_model::ModelError),
    #[error("{message}")]
    ReadOnly { message: String },
    /// A snapset file that cannot be used.
    #[error("snapset {file}: {detail}")]
    BadSnapset { file: String, detail: String },
    /// `attune snapsets new`: a snapset of that name is already there (`--force` replaces it).
    #[error("{file} already exists; choose another name, or replace it with --force")]
    SnapsetExists { file: String },
    /// `attune snapsets new`: the file could not be written.
    #[error("could not write the snapset {file}: {detail}")]
    SnapsetWrite { file: String, detail: String },
    /// Two snapset files have the same name, and the site has not said one may replace another.
    #[error(
        "two snapsets are named `{key}`: {first} and {second}. Rename one, or let folder \
         snapsets replace others of the same name with `override = true` under [snapsets] in the \
         site file"
    )]
    SnapsetShadowed {
        key: String,
        first: String,
        second: String,
    },
    /// `forget`: the person has changes not yet saved, which forgetting would drop; nothing was
    /// forgotten (the CLI's `--yes`, the app's tick, drop them). The changes are in words.
    /// The portable key: a USB stick that could not be written (`attune stick write`). Reading
    /// one at key-in never fails the key-in: its refusal is said and the next source is used.
    #[error(transparent)]
    Stick(#[from] crate::stick::StickError),
    #[error("Your changes not yet saved would be lost ({}). Nothing has been forgotten; forget anyway to lose them.", changes.join("; "))]
    UnsentChanges { changes: Vec<String> },
}

impl FlowError {
    /// A stable, machine-readable kind.
    pub fn kind(&self) -> &'static str {
        match self {
            FlowError::Config(_) => "config_invalid",
            FlowError::Paths(_) => "paths",
            FlowError::Busy(crate::lock::LockError::Busy { .. }) => "busy",
            FlowError::Busy(_) => "state_io",
            FlowError::Key(_) => "key_invalid",
            FlowError::UnknownSnapset { .. } => "unknown_snapset",
            FlowError::Model(_) => "data_invalid",
            FlowError::NotKeyedIn => "not_keyed_in",
            FlowError::NotAvailable { .. } => "not_available",
            FlowError::RestoreIncomplete { .. } => "restore_incomplete",
            // The outbox is state beside the journal; scripts already know this kind for it.
            FlowError::Journal(_) | FlowError::Outbox(_) => "journal",
            FlowError::JournalDamaged { .. } => "journal_damaged",
            FlowError::Session(_) => "state_io",
            FlowError::CloudConfig(_) => "config_invalid",
            FlowError::KeyRejected { .. } => "key_rejected",
            FlowError::Offline { .. } => "offline",
            FlowError::CloudAnswer(_) => "malformed",
            FlowError::ReadOnly { .. } => "read_only",
            FlowError::BadSnapset { .. } => "snapset_invalid",
            FlowError::SnapsetShadowed { .. } => "snapset_conflict",
            FlowError::SnapsetExists { .. } => "snapset_exists",
            FlowError::SnapsetWrite { .. } => "snapset_write",
            FlowError::UnsentChanges { .. } => "unsent_changes",
            FlowError::Stick(e) => e.kind(),
        }
    }

    /// The CLI's exit code for this error (documented in `attune --help`).
    pub fn exit_code(&self) -> i32 {
        match self {
            FlowError::Busy(crate::lock::LockError::Busy { .. }) => 4,
            FlowError::Config(_) | FlowError::CloudConfig(_) => 5,
            FlowError::BadSnapset { .. } | FlowError::SnapsetShadowed { .. } => 5,
            FlowError::KeyRejected { .. } => 6,
            FlowError::Offline { .. } => 10,
            FlowError::ReadOnly { .. } => 11,
            FlowError::Key(_) | FlowError::UnknownSnapset { .. } => 6,
            FlowError::RestoreIncomplete { .. } => 7,
            FlowError::Journal(_) | FlowError::Outbox(_) | FlowError::JournalDamaged { .. } => 8,
            FlowError::NotKeyedIn => 9,
            FlowError::UnsentChanges { .. } => 13,
            FlowError::Stick(_) => 14,
            _ => 1,
        }
    }
}

//! The one error the UI sees: `{kind, message}` (docs/app.md), never a debug string.

use serde::Serialize;

/// What kind of failure, as the UI switches on it: `FlowError::kind()`'s strings, plus
/// `internal` for a task of the shell that could not run. The serialised names are the
/// contract (docs/app.md lists them); the test below holds them to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    KeyInvalid,
    UnknownSnapset,
    Busy,
    NotKeyedIn,
    KeyRejected,
    Offline,
    ReadOnly,
    RestoreIncomplete,
    Journal,
    JournalDamaged,
    ConfigInvalid,
    Malformed,
    StateIo,
    NotAvailable,
    DataInvalid,
    Paths,
    SnapsetInvalid,
    SnapsetConflict,
    UnsentChanges,
    /// "Save my settings to this USB key": the stick cannot be written, or is someone else's.
    StickNotWritable,
    StickOtherKey,
    StickTooLarge,
    Internal,
}

impl ErrorKind {
    pub const ALL: [ErrorKind; 23] = [
        ErrorKind::KeyInvalid,
        ErrorKind::UnknownSnapset,
        ErrorKind::Busy,
        ErrorKind::NotKeyedIn,
        ErrorKind::KeyRejected,
        ErrorKind::Offline,
        ErrorKind::ReadOnly,
        ErrorKind::RestoreIncomplete,
        ErrorKind::Journal,
        ErrorKind::JournalDamaged,
        ErrorKind::ConfigInvalid,
        ErrorKind::Malformed,
        ErrorKind::StateIo,
        ErrorKind::NotAvailable,
        ErrorKind::DataInvalid,
        ErrorKind::Paths,
        ErrorKind::SnapsetInvalid,
        ErrorKind::SnapsetConflict,
        ErrorKind::UnsentChanges,
        ErrorKind::StickNotWritable,
        ErrorKind::StickOtherKey,
        ErrorKind::StickTooLarge,
        ErrorKind::Internal,
    ];

    /// The serialised name.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::KeyInvalid => "key_invalid",
            ErrorKind::UnknownSnapset => "unknown_snapset",
            ErrorKind::Busy => "busy",
            ErrorKind::NotKeyedIn => "not_keyed_in",
            ErrorKind::KeyRejected => "key_rejected",
            ErrorKind::Offline => "offline",
            ErrorKind::ReadOnly => "read_only",
            ErrorKind::RestoreIncomplete => "restore_incomplete",
            ErrorKind::Journal => "journal",
            ErrorKind::JournalDamaged => "journal_damaged",
            ErrorKind::ConfigInvalid => "config_invalid",
            ErrorKind::Malformed => "malformed",
            ErrorKind::StateIo => "state_io",
            ErrorKind::NotAvailable => "not_available",
            ErrorKind::DataInvalid => "data_invalid",
            ErrorKind::Paths => "paths",
            ErrorKind::SnapsetInvalid => "snapset_invalid",
            ErrorKind::SnapsetConflict => "snapset_conflict",
            ErrorKind::UnsentChanges => "unsent_changes",
            ErrorKind::StickNotWritable => "stick_not_writable",
            ErrorKind::StickOtherKey => "stick_other_key",
            ErrorKind::StickTooLarge => "stick_too_large",
            ErrorKind::Internal => "internal",
        }
    }

    /// The kind named by `FlowError::kind()`. A kind the app does not know yet is `internal`
    /// (and logged), so the UI still gets an error it can show.
    fn of_flow(kind: &str) -> ErrorKind {
        match ErrorKind::ALL.into_iter().find(|k| k.as_str() == kind) {
            Some(k) => k,
            None => {
                tracing::warn!(
                    kind,
                    "an error kind the app does not know: sent as internal"
                );
                ErrorKind::Internal
            }
        }
    }
}

impl std::fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A command's failure as the UI receives it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{message}")]
pub struct AppError {
    pub kind: ErrorKind,
    pub message: String,
}

impl AppError {
    /// A failure of the shell itself (a task that could not run), not of the flow.
    pub fn internal(message: impl Into<String>) -> AppError {
        AppError {
            kind: ErrorKind::Internal,
            message: message.into(),
        }
    }
}

impl From<attune_flow::FlowError> for AppError {
    fn from(e: attune_flow::FlowError) -> AppError {
        AppError {
            kind: ErrorKind::of_flow(e.kind()),
            message: e.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serialises_as_kind_and_message_only() {
        let e = AppError::from(attune_flow::FlowError::NotKeyedIn);
        assert_eq!(
            serde_json::to_value(&e).ok(),
            Some(serde_json::json!({"kind": "not_keyed_in", "message": "nobody is keyed in"}))
        );
    }

    #[test]
    fn each_kind_serialises_as_its_name_and_docs_app_md_lists_them_all() {
        let doc = include_str!("../../docs/app.md");
        for k in ErrorKind::ALL {
            assert_eq!(
                serde_json::to_value(k).ok(),
                Some(serde_json::Value::from(k.as_str()))
            );
            assert_eq!(ErrorKind::of_flow(k.as_str()), k);
            assert!(
                doc.contains(&format!("`{}`", k.as_str())),
                "docs/app.md does not list {k}"
            );
        }
    }

    #[test]
    fn the_flows_kinds_keep_their_names() {
        let cases = [
            (attune_flow::FlowError::NotKeyedIn, "not_keyed_in"),
            (
                attune_flow::FlowError::UnknownSnapset { available: vec![] },
                "unknown_snapset",
            ),
            (
                attune_flow::FlowError::Offline {
                    reason: "unreachable",
                    message: String::new(),
                    keeps_trying: true,
                },
                "offline",
            ),
            (
                attune_flow::FlowError::ReadOnly {
                    message: String::new(),
                },
                "read_only",
            ),
            (
                attune_flow::FlowError::Outbox(attune_flow::OutboxError::Io {
                    path: String::new(),
                    detail: String::new(),
                }),
                "journal",
            ),
            (
                attune_flow::FlowError::CloudAnswer(attune_model::ModelError::Shape {
                    what: String::new(),
                    at: String::new(),
                    detail: String::new(),
                }),
                "malformed",
            ),
        ];
        for (e, kind) in cases {
            assert_eq!(AppError::from(e).kind.as_str(), kind);
        }
    }
}

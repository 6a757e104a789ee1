//! The one error the UI sees: `{kind, message}` (docs/app.md), never a debug string.

use serde::Serialize;

/// A command's failure as the UI receives it. `kind` is `FlowError::kind()` or `internal`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{message}")]
pub struct AppError {
    pub kind: String,
    pub message: String,
}

impl AppError {
    /// A failure of the shell itself (a task that could not run), not of the flow.
    pub fn internal(message: impl Into<String>) -> AppError {
        AppError {
            kind: "internal".to_owned(),
            message: message.into(),
        }
    }
}

impl From<attune_flow::FlowError> for AppError {
    fn from(e: attune_flow::FlowError) -> AppError {
        AppError {
            kind: e.kind().to_owned(),
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
}

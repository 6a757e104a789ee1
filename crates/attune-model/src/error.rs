//! Errors of the model: each says what was expected, what was found, and where.

use thiserror::Error;

/// Everything that can go wrong while reading or interpreting GPII data.
#[derive(Debug, Error, Clone, PartialEq)]
#[non_exhaustive]
pub enum ModelError {
    /// The text is not valid JSON / JSON5 (syntax), with the parser's position message.
    #[error("{what}: not valid {format}: {detail}")]
    Syntax {
        what: String,
        format: &'static str,
        detail: String,
    },
    /// The text parsed, but does not have the shape GPII defines.
    #[error("{what}: wrong shape at `{at}`: {detail}")]
    Shape {
        what: String,
        at: String,
        detail: String,
    },
    /// The input is larger than we are willing to read.
    #[error("{what}: too large ({size} bytes, limit {limit})")]
    TooLarge {
        what: String,
        size: usize,
        limit: usize,
    },
    /// A transform rule names a type we do not implement, or is itself malformed.
    #[error("transform at `{at}`: {detail}")]
    Transform { at: String, detail: String },
    /// A value breaks its `supportedSettings` schema.
    #[error("{solution} setting `{setting}` (from {term}): {rule}")]
    Invalid {
        solution: String,
        setting: String,
        term: String,
        rule: String,
    },
}

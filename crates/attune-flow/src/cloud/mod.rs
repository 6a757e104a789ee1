//! The resilient cloud client (docs/design.md §3, §4, §6): decisions first, then the wire.
//!
//! * [`classify`]: what a failure is, whether it is retried, and what the person is told — pure.
//! * [`policy`]: retries, deadline, retry throttling, circuit breaker — pure state machines on an
//!   injected clock, plus the loop that drives them.
//! * [`client`]: [`CloudClient`], the HTTP shell over `reqwest` that feeds them.

pub mod classify;
pub mod client;
pub mod history;
pub mod policy;

pub use classify::{FailureKind, Fallback, UserMessage};
pub use client::{ClientError, ClientOptions, CloudClient, ServerVersion, Token};
pub use history::{ContactLog, ContactRecord};
pub use policy::{CallError, GiveUp, RetryPolicy};

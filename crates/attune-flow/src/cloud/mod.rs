//! The resilient cloud client (DESIGN §3, §4, §6): decisions first, then the wire.
//!
//! * [`classify`]: what a failure is, whether it is retried, and what the person is told — pure.
//! * [`policy`]: retries, deadline, retry throttling, circuit breaker — pure state machines on an
//!   injected clock, plus the loop that drives them.

pub mod classify;
pub mod policy;

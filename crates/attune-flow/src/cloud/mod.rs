//! The resilient cloud client (DESIGN §3, §4, §6): decisions first, then the wire.
//!
//! * [`classify`]: what a failure is, whether it is retried, and what the person is told — pure.

pub mod classify;

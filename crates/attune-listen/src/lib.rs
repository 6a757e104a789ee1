//! Keying in without typing (GPII's user listeners): a USB-stick token listener and GPII's local
//! HTTP API, both feeding one serialised key-in queue over `attune-flow`.
//!
//! - [`queue::KeyQueue`]: one worker thread runs every key-in and key-out in order, applies GPII's
//!   bounce rule, and reports what happened as [`queue::Event`]s (with the listener that caused
//!   it). The flow's state lock also serialises it with the CLI and the app.
//! - [`usb`]: watches removable-media mount roots for a volume holding `.gpii-user-token.txt`;
//!   insert → key in, removal → key out; what it sees is told as a [`usb::StickEvent`] too.
//! - [`owner`]: one process at a time runs the listeners (the app or `attune listen`); the other
//!   refuses, naming the holder's pid.
//! - [`local_api`]: `GET /user/{key}/login|logout|proximityTriggered` and `GET /status` on
//!   loopback, with GPII's texts and status codes; refuses other users' connections
//!   ([`peer`]), browser requests and foreign `Host`s; never answers with a key.
//!
//! **Architecture invariant:** listeners decide nothing about preferences: they only turn an
//! outside signal into a queued request to `attune-flow`.

pub mod idle;
pub mod local_api;
pub mod owner;
pub mod peer;
pub mod queue;
pub mod reconnect;
pub mod session_end;
pub mod shared;
pub mod usb;

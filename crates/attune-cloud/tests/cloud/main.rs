//! attune-cloud's integration tests: one binary, one module per topic (keeps link times down).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod admin;
mod api;
mod bad_input;
mod common;
mod config;
mod couch;
mod documents;
mod forget;
mod grants;
mod interop;
mod metrics;
mod openapi;
mod server;
mod store;
mod tls;

//! attune-cloud's integration tests: one binary, one module per topic (keeps link times down).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod api;
mod common;
mod store;

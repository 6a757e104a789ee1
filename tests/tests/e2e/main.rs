//! End-to-end tests: one test binary, a module per topic (keeps link time down on small machines).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod capture;
mod cli;
mod cloud;
mod cloud_tls;
mod common;
mod config_hardening;
mod crash;
mod damaged_journal;
mod desktop;
mod forget;
mod fsync_order;
mod gpii_interop;
mod listen;
mod pending;
mod real_cloud;
mod reconnect;
mod snapset_folders;
mod stick;
mod token_revoke;

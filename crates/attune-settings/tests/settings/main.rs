//! Integration tests of attune-settings against the real GSettings keyfile backend and real
//! files. GIO picks its backend once per process, so every scenario that touches GSettings runs
//! in a child process: this test binary re-executing itself into [`child_driver`] with a
//! throw-away desktop's environment. Values are read back with the `gsettings` tool and the
//! keyfile itself, independently of the code under test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod crash;
mod device;
mod files;
mod gsettings;
mod journal;
mod reading;
mod two_writers;

/// The child side: does one operation (`ATTUNE_SETTINGS_CHILD_OP`) and writes its result as
/// JSON. Does nothing in a normal test run.
#[test]
fn child_driver() {
    common::child_main();
}

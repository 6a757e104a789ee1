//! Test-only failpoints: named steps of the journal, apply and restore that crash tests stop at.
//!
//! **Compiled in only with the `test-support` cargo feature, which shipped builds never enable.**
//! Without it every function here is an empty inline function the compiler removes and no
//! environment variable is read: a release binary holds no `ATTUNE_TEST_*` name, so nobody can
//! switch off its fsyncs or make it kill itself by setting a variable (audit, issue 12 item 18;
//! `scripts/check-no-failpoints.sh` checks the release app). With the feature:
//! - `ATTUNE_TEST_CRASH_AT=<step>`: when the process reaches that step it kills itself with
//!   SIGKILL at once (no destructors, no buffered output), modelling a kill or a crash.
//! - `ATTUNE_TEST_TRACE_STEPS=<file>`: every step reached is appended to the file, one name per
//!   line, so a test can enumerate the steps of a real run and then crash at each in turn.
//! - `ATTUNE_TEST_FAIL_AT=<step>`: an I/O step with that name fails with "no space left on
//!   device" instead of running (a full disk while journalling, without needing a tiny mount).
//! - `ATTUNE_TEST_MUTATE=<name>`: a mutation test switches off one safety step
//!   (`atomic.fsync_file`, `atomic.fsync_dir`) to prove that the test guarding it fails.
//! - `ATTUNE_TEST_PAUSE_AT=<step>` with `ATTUNE_TEST_PAUSE_DIR=<dir>`: at that step the process
//!   creates `<dir>/paused` and waits until `<dir>/go` exists (at most a minute, then it aborts),
//!   so a test can do something from another process at exactly that point.
//!
//! Step names (`<i>` counts from 0 in the order of the operation):
//! - journal writes, for each `<purpose>` in [`JOURNAL_PURPOSES`]:
//!   `journal.<purpose>.tmp_written`, `.fsynced`, `.renamed`, `.committed`
//!   (`journal.originals.*`: the originals of an apply; `journal.applied.*`: the "applied" marker;
//!   `journal.partial.*`: the journal rewritten to keep only settings that failed to restore);
//! - `journal.close.removed` (the closed journal's file is unlinked, before the dir fsync);
//! - `apply.setting:<i>` after the i-th write of an apply (one GSettings key, or one file with all
//!   its settings, or one launch key), `apply.done_before_marker`;
//! - `restore.setting:<i>`, `restore.done_before_close` for a key-out;
//! - `recover.setting:<i>`, `recover.done_before_close` for a start-up recovery.

use std::io;

#[cfg(feature = "test-support")]
pub use self::variables::*;

/// The environment variables that drive the failpoints: test-only, so a shipped binary holds
/// none of these names.
#[cfg(feature = "test-support")]
mod variables {
    /// Crash (SIGKILL) at the named step.
    pub const CRASH_ENV: &str = "ATTUNE_TEST_CRASH_AT";
    /// Append every step name reached to this file.
    pub const TRACE_ENV: &str = "ATTUNE_TEST_TRACE_STEPS";
    /// Make the named I/O step fail with ENOSPC.
    pub const FAIL_ENV: &str = "ATTUNE_TEST_FAIL_AT";
    /// Switch off the named safety step, for mutation tests.
    pub const MUTATE_ENV: &str = "ATTUNE_TEST_MUTATE";
    /// Pause at the named step until the test says go (in [`PAUSE_DIR_ENV`]).
    pub const PAUSE_ENV: &str = "ATTUNE_TEST_PAUSE_AT";
    /// Where the paused process says "paused" and waits for the test's "go".
    pub const PAUSE_DIR_ENV: &str = "ATTUNE_TEST_PAUSE_DIR";
}

/// Whether a mutation test has switched off the named safety step.
#[cfg(feature = "test-support")]
pub fn mutated(name: &str) -> bool {
    std::env::var_os(MUTATE_ENV).is_some_and(|v| v == name)
}

/// Without `test-support` no safety step can be switched off.
#[cfg(not(feature = "test-support"))]
#[inline(always)]
pub fn mutated(_name: &str) -> bool {
    false
}

/// Why the journal is written: each gets its own step names, so a crash test reaches each one.
pub const JOURNAL_PURPOSES: &[&str] = &["originals", "applied", "partial"];

/// The stages of one journal write, in order.
pub const JOURNAL_STAGES: &[&str] = &["tmp_written", "fsynced", "renamed", "committed"];

/// Every step name of an apply that makes `writes` writes, in the order they are passed (a
/// second apply merging into an open journal passes the same names).
pub fn apply_steps(writes: usize) -> Vec<String> {
    let mut v: Vec<String> = JOURNAL_STAGES
        .iter()
        .map(|s| format!("journal.originals.{s}"))
        .collect();
    v.extend((0..writes).map(|i| format!("apply.setting:{i}")));
    v.push("apply.done_before_marker".to_owned());
    v.extend(
        JOURNAL_STAGES
            .iter()
            .map(|s| format!("journal.applied.{s}")),
    );
    v
}

/// Every step name of a restore (`mode` is `restore` or `recover`) of `entries` journalled
/// settings that all succeed.
pub fn restore_steps(mode: &str, entries: usize) -> Vec<String> {
    let mut v: Vec<String> = (0..entries)
        .map(|i| format!("{mode}.setting:{i}"))
        .collect();
    v.push(format!("{mode}.done_before_close"));
    v.push("journal.close.removed".to_owned());
    v
}

/// Passes the named step: records it when tracing, and dies with SIGKILL when it is the crash
/// point. Costs one environment lookup when neither variable is set.
#[cfg(feature = "test-support")]
pub fn step(name: &str) {
    use std::io::Write;
    if let Some(path) = std::env::var_os(TRACE_ENV) {
        if let Ok(mut f) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
        {
            let _ = writeln!(f, "{name}");
            let _ = f.sync_all();
        }
    }
    if std::env::var_os(PAUSE_ENV).is_some_and(|v| v == name) {
        pause_here();
    }
    if std::env::var_os(CRASH_ENV).is_some_and(|v| v == name) {
        tracing::warn!(step = name, "test failpoint: killing this process");
        let _ = nix::sys::signal::raise(nix::sys::signal::Signal::SIGKILL);
        // SIGKILL cannot be caught; if raising it failed, stop anyway.
        std::process::abort();
    }
}

/// Without `test-support`: nothing (the call compiles away).
#[cfg(not(feature = "test-support"))]
#[inline(always)]
pub fn step(_name: &str) {}

/// Signals "paused" and waits for the test's "go" (see `ATTUNE_TEST_PAUSE_AT`).
#[cfg(feature = "test-support")]
fn pause_here() {
    let Some(dir) = std::env::var_os(PAUSE_DIR_ENV).map(std::path::PathBuf::from) else {
        return;
    };
    let _ = std::fs::write(dir.join("paused"), b"");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !dir.join("go").exists() {
        if std::time::Instant::now() > deadline {
            tracing::error!("test failpoint: nobody said go within a minute");
            std::process::abort();
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}

/// An I/O step that a test can make fail with "no space left on device".
#[cfg(feature = "test-support")]
pub fn fail_io(name: &str) -> io::Result<()> {
    if std::env::var_os(FAIL_ENV).is_some_and(|v| v == name) {
        return Err(io::Error::from_raw_os_error(28)); // ENOSPC
    }
    Ok(())
}

/// Without `test-support` no I/O step fails on purpose.
#[cfg(not(feature = "test-support"))]
#[inline(always)]
pub fn fail_io(_name: &str) -> io::Result<()> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn apply_steps_cover_journal_writes_and_every_setting() {
        let s = apply_steps(3);
        assert_eq!(
            s.first().map(String::as_str),
            Some("journal.originals.tmp_written")
        );
        assert!(s.contains(&"apply.setting:2".to_owned()));
        assert!(!s.contains(&"apply.setting:3".to_owned()));
        assert_eq!(
            s.last().map(String::as_str),
            Some("journal.applied.committed")
        );
        assert_eq!(restore_steps("recover", 2).len(), 4);
    }
}

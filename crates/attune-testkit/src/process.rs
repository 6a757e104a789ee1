//! Child processes of a test: a guard that stops them however the test ends, a runner that
//! insists on success, a free port.

use std::path::Path;
use std::process::{Child, Command};

/// Child processes, killed when dropped, however the test ends.
#[derive(Default)]
pub struct Children(pub Vec<Child>);

impl Drop for Children {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Runs `cmd` to its end; it must succeed. Its standard output.
pub fn run(cmd: &mut Command) -> String {
    let o = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        o.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// A TCP port free on 127.0.0.1 a moment ago.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `npm install` of `packages` into `dir`: production dependencies only, no install scripts, no
/// audit or funding chatter. It must succeed.
pub fn npm_install(dir: &Path, packages: &[&str]) {
    run(Command::new("npm")
        .args([
            "install",
            "--omit=dev",
            "--ignore-scripts",
            "--no-audit",
            "--no-fund",
        ])
        .args(packages)
        .current_dir(dir));
}

/// A process that must have died by SIGKILL (a crash test's failpoint); `what` names it.
#[track_caller]
pub fn assert_killed(o: &std::process::Output, what: &str) {
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(
        o.status.signal(),
        Some(9),
        "{what} should die by SIGKILL: {:?} {}",
        o.status,
        String::from_utf8_lossy(&o.stderr)
    );
}

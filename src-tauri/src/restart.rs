//! Starting afresh in the tray. Closing the window destroys its web view and WebKit's web
//! process, but not all it cost: the app keeps the heap and the library pages the window
//! touched, and on Linux Tauri keeps WebKit's network process for the app's life (WebKit would
//! otherwise leave it behind; tauri-apps/tauri#14626). So once the window has stayed closed for
//! a while ([`DEFAULT_AFTER`]; a window reopened sooner comes back warm), the app replaces
//! itself with a fresh `attune-app --background` (exec: same pid, same autostart slot), whose
//! process tree is the app alone at its start-up size.
//!
//! It does so only when nothing is under way: the listeners are quiesced (no queued key-in or
//! key-out left) and the flow's state lock is held, so no key-in or key-out of this process is
//! running; the lock's file is closed by the exec. The new process resumes as any start does,
//! and a USB key still in keys its person in again ("already keyed in"), so pulling it still
//! keys them out.

use std::path::{Path, PathBuf};
use std::time::Duration;

/// How long the window stays closed before the app starts afresh.
pub const DEFAULT_AFTER: Duration = Duration::from_secs(60);

/// Overrides [`DEFAULT_AFTER`], in seconds; `0` or `off`: never.
pub const AFTER_ENV: &str = "ATTUNE_TRAY_RESTART_SECONDS";

/// The event loop's exit code that asks `run` to start afresh.
pub const EXIT_CODE: i32 = 75;

/// How long to wait, from the value of [`AFTER_ENV`]; `None`: never. A value that is not a
/// number keeps the default.
pub fn after(value: Option<&str>) -> Option<Duration> {
    match value.map(str::trim) {
        None | Some("") => Some(DEFAULT_AFTER),
        Some("0" | "off" | "never") => None,
        Some(v) => Some(v.parse::<u64>().map_or(DEFAULT_AFTER, Duration::from_secs)),
    }
}

/// The program to start afresh: this one, at the path it was started from even if a package
/// upgrade has replaced it since (the kernel then names it `… (deleted)`).
pub fn program(current: &Path) -> PathBuf {
    let s = current.to_string_lossy();
    match s.strip_suffix(" (deleted)") {
        Some(path) => PathBuf::from(path),
        None => current.to_path_buf(),
    }
}

/// Replaces this process with `attune-app --background`; returns only if that failed, with the
/// exit code the process should end with.
pub fn exec_in_tray() -> i32 {
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt;
        let exe = match std::env::current_exe() {
            Ok(p) => program(&p),
            Err(e) => {
                eprintln!("attune-app: cannot find its own program to start again: {e}");
                return 1;
            }
        };
        let e = std::process::Command::new(&exe).arg("--background").exec();
        eprintln!(
            "attune-app: cannot start again in the tray ({}): {e}",
            exe.display()
        );
        1
    }
    #[cfg(not(unix))]
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wait_comes_from_the_environment_or_the_default() {
        assert_eq!(after(None), Some(DEFAULT_AFTER));
        assert_eq!(after(Some("5")), Some(Duration::from_secs(5)));
        assert_eq!(after(Some("0")), None);
        assert_eq!(after(Some("off")), None);
        assert_eq!(after(Some("soon")), Some(DEFAULT_AFTER));
    }

    #[test]
    fn an_upgraded_program_is_started_from_its_path() {
        assert_eq!(
            program(Path::new("/usr/bin/attune-app (deleted)")),
            PathBuf::from("/usr/bin/attune-app")
        );
        assert_eq!(
            program(Path::new("/usr/bin/attune-app")),
            PathBuf::from("/usr/bin/attune-app")
        );
    }
}

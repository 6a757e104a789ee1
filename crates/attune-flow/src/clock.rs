//! The flow's one source of the time of day: sessions record when they began, the cache ages
//! its answers, `status` says how old they are. Injected, so tests run on a fixed clock instead
//! of the wall clock. It also says which boot of the computer this is: a shared computer keys
//! out, at start, a session that began before the last reboot.

use std::time::{SystemTime, UNIX_EPOCH};

/// Where the flow reads the time of day.
pub trait Clock: Send + Sync {
    fn now(&self) -> SystemTime;

    /// Seconds since the Unix epoch (0 for a clock set before it).
    fn now_unix(&self) -> u64 {
        self.now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0)
    }

    /// This boot's id (the kernel's, unless a test says another); `None` when unknown.
    fn boot_id(&self) -> Option<String> {
        kernel_boot_id()
    }
}

/// Where Linux says which boot this is: a random id made at each boot.
pub const BOOT_ID_FILE: &str = "/proc/sys/kernel/random/boot_id";

/// The kernel's boot id, or `None` (another system, or a sandbox without /proc).
pub fn kernel_boot_id() -> Option<String> {
    let text = std::fs::read_to_string(BOOT_ID_FILE).ok()?;
    let id = text.trim();
    // A UUID; anything else is not trusted to tell boots apart.
    (id.len() == 36 && id.chars().all(|c| c.is_ascii_hexdigit() || c == '-')).then(|| id.to_owned())
}

/// The system's wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }
}

/// A clock that always says the same time (tests, reproducible runs).
#[derive(Debug, Clone, Copy)]
pub struct FixedClock(pub SystemTime);

impl FixedClock {
    /// A clock stopped at this many seconds after the Unix epoch.
    pub fn at_unix(seconds: u64) -> FixedClock {
        FixedClock(UNIX_EPOCH + std::time::Duration::from_secs(seconds))
    }
}

impl Clock for FixedClock {
    fn now(&self) -> SystemTime {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clocks_tell_their_time() {
        assert_eq!(FixedClock::at_unix(1_795_392_000).now_unix(), 1_795_392_000);
        assert_eq!(
            FixedClock(UNIX_EPOCH - std::time::Duration::from_secs(5)).now_unix(),
            0
        );
        assert!(SystemClock.now_unix() > 1_700_000_000);
    }

    #[test]
    fn the_boot_id_is_the_kernels_and_the_same_on_each_read() {
        let first = SystemClock.boot_id();
        assert!(first.is_some(), "Linux has {BOOT_ID_FILE}");
        assert_eq!(first, kernel_boot_id());
    }
}

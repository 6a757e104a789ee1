//! Background reconnection (docs/design.md §3): while the active session is offline, Attune asks
//! the cloud again on gRPC's reconnect schedule — 1 s, ×1.6 each time, ±20 % jitter (so the
//! desktops of a site do not all ask at once), capped at 5 minutes — through the same queue as
//! every key-in.

use std::sync::mpsc;
use std::time::Duration;

use crate::queue::{KeyQueue, Reply, Request, Via};

pub const FIRST: Duration = Duration::from_secs(1);
pub const FACTOR: f64 = 1.6;
pub const CAP: Duration = Duration::from_secs(300);

/// The delay after `failures` failed probes, before jitter.
pub fn delay(failures: u32) -> Duration {
    let d = FIRST.as_secs_f64() * FACTOR.powi(failures.min(64) as i32);
    Duration::from_secs_f64(d.min(CAP.as_secs_f64()))
}

/// ±20 % jitter from a uniform sample `u` in [0, 1).
pub fn jittered(d: Duration, u: f64) -> Duration {
    d.mul_f64(0.8 + 0.4 * u.clamp(0.0, 1.0))
}

/// A running reconnection loop; dropping it stops it.
pub struct Reconnector {
    stop: mpsc::Sender<()>,
}

impl Drop for Reconnector {
    fn drop(&mut self) {
        let _ = self.stop.send(());
    }
}

impl Reconnector {
    /// Starts probing through `queue`; `idle` is how often to look for an offline session when
    /// there is none (cheap: it reads the session file).
    pub fn start(queue: KeyQueue, idle: Duration) -> Reconnector {
        let (stop, stopped) = mpsc::channel::<()>();
        let _ = std::thread::Builder::new()
            .name("attune-reconnect".to_owned())
            .spawn(move || {
                let mut rng = rand::rng();
                let mut failures = 0u32;
                let mut wait = idle;
                loop {
                    match stopped.recv_timeout(wait) {
                        Err(mpsc::RecvTimeoutError::Timeout) => {}
                        _ => return,
                    }
                    match queue.call_blocking(Via::Background, Request::Reconnect) {
                        Reply::Reconnected(Some(false)) | Reply::Failed { .. } => {
                            wait = jittered(delay(failures), rand::Rng::random::<f64>(&mut rng));
                            failures = failures.saturating_add(1);
                        }
                        _ => {
                            failures = 0;
                            wait = idle;
                        }
                    }
                }
            });
        Reconnector { stop }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedule_grows_by_1_6_with_jitter_and_caps_at_five_minutes() {
        assert_eq!(delay(0), Duration::from_secs(1));
        assert_eq!(delay(1), Duration::from_millis(1600));
        assert_eq!(delay(2), Duration::from_millis(2560));
        assert_eq!(delay(40), CAP);
        assert_eq!(
            jittered(Duration::from_secs(10), 0.0),
            Duration::from_secs(8)
        );
        assert_eq!(
            jittered(Duration::from_secs(10), 0.5),
            Duration::from_secs(10)
        );
        assert!(jittered(Duration::from_secs(10), 0.999_999) < Duration::from_secs(12));
    }

    #[test]
    fn n24_twenty_computers_do_not_probe_in_step() {
        // docs/test-matrix.md N24: after the same outage, 20 computers' probe schedules (each its
        // own random stream, seeded here) spread out instead of hitting the cloud together, and
        // each probe stays inside its slot (the 1 s x1.6 schedule, +-20 %).
        use rand::{Rng, SeedableRng};
        let schedules: Vec<Vec<Duration>> = (0..20u64)
            .map(|seed| {
                let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
                let mut at = Duration::ZERO;
                (0..8)
                    .map(|failures| {
                        at += jittered(delay(failures), rng.random::<f64>());
                        at
                    })
                    .collect()
            })
            .collect();
        let mut firsts: Vec<Duration> = schedules.iter().map(|s| s[0]).collect();
        firsts.sort();
        firsts.dedup();
        assert_eq!(firsts.len(), 20, "no two first probes at the same instant");
        let spread = schedules.iter().map(|s| s[7]).max().unwrap_or_default()
            - schedules.iter().map(|s| s[7]).min().unwrap_or_default();
        assert!(
            spread > Duration::from_secs(1),
            "8th probes spread over {spread:?}"
        );
        for s in &schedules {
            let mut nominal = Duration::ZERO;
            for (i, at) in s.iter().enumerate() {
                let prev = if i == 0 { Duration::ZERO } else { s[i - 1] };
                let gap = *at - prev;
                let d = delay(i as u32);
                assert!(
                    gap >= d.mul_f64(0.8) && gap <= d.mul_f64(1.2),
                    "{gap:?} for {d:?}"
                );
                nominal += d;
            }
            assert!(s[7] <= nominal.mul_f64(1.2));
        }
    }
}

//! Background reconnection (DESIGN §3): while the active session is offline, Attune asks the cloud
//! again on gRPC's reconnect schedule — 1 s, ×1.6 each time, ±20 % jitter (so the desktops of a
//! site do not all ask at once), capped at 5 minutes — through the same queue as every key-in.

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
}

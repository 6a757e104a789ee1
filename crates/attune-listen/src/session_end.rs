//! The computer shutting down or restarting, from logind (docs/design.md §10.2): a shared
//! computer keys the person out and puts the desktop back before it goes.
//!
//! logind sends `PrepareForShutdown(true)` on the system bus when a shutdown begins, and waits
//! for the programs that hold a *delay* inhibitor lock (up to its `InhibitDelayMaxSec`, 5 s by
//! default) before going on. [`ShutdownWatch`] takes that lock, and on the signal runs its
//! handler (the key-out) and then lets the lock go; if the shutdown is called off
//! (`PrepareForShutdown(false)`) it takes the lock again.

use std::sync::Arc;

use thiserror::Error;

#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ShutdownWatchError {
    #[error("cannot reach logind on the system bus: {0}")]
    Bus(String),
}

fn bus(e: zbus::Error) -> ShutdownWatchError {
    ShutdownWatchError::Bus(e.to_string())
}

/// Watches logind for a shutdown; the thread lives as long as the process.
pub struct ShutdownWatch {
    _thread: std::thread::JoinHandle<()>,
}

/// What runs when the computer is about to shut down; it should return within logind's delay.
pub type OnShutdown = Arc<dyn Fn() + Send + Sync>;

const WHY: &str = "Putting this computer's settings back before it shuts down";

impl ShutdownWatch {
    /// On the system bus.
    pub fn start(on_shutdown: OnShutdown) -> Result<ShutdownWatch, ShutdownWatchError> {
        let conn = zbus::blocking::Connection::system().map_err(bus)?;
        ShutdownWatch::start_on(conn, on_shutdown)
    }

    /// On a given connection (tests: a private bus with a mock logind).
    pub fn start_on(
        conn: zbus::blocking::Connection,
        on_shutdown: OnShutdown,
    ) -> Result<ShutdownWatch, ShutdownWatchError> {
        let proxy = zbus::blocking::Proxy::new(
            &conn,
            "org.freedesktop.login1",
            "/org/freedesktop/login1",
            "org.freedesktop.login1.Manager",
        )
        .map_err(bus)?;
        // Subscribed before the lock is taken, so no signal falls between the two.
        let signals = proxy.receive_signal("PrepareForShutdown").map_err(bus)?;
        let mut lock = Some(inhibit(&proxy)?);
        let thread = std::thread::Builder::new()
            .name("attune-shutdown".to_owned())
            .spawn(move || {
                for msg in signals {
                    let starting: bool = match msg.body().deserialize() {
                        Ok(b) => b,
                        Err(e) => {
                            tracing::warn!(error = %e, "a PrepareForShutdown without its flag");
                            continue;
                        }
                    };
                    if starting {
                        tracing::info!("the computer is shutting down");
                        on_shutdown();
                        // Let logind go on.
                        lock = None;
                    } else if lock.is_none() {
                        tracing::info!("the shutdown was called off");
                        lock = inhibit(&proxy)
                            .map_err(
                                |e| tracing::warn!(error = %e, "cannot delay the next shutdown"),
                            )
                            .ok();
                    }
                }
                drop(lock);
            })
            .map_err(|e| ShutdownWatchError::Bus(e.to_string()))?;
        Ok(ShutdownWatch { _thread: thread })
    }
}

/// A delay lock on shutdown: held while its file descriptor is open.
fn inhibit(
    proxy: &zbus::blocking::Proxy<'_>,
) -> Result<zbus::zvariant::OwnedFd, ShutdownWatchError> {
    proxy
        .call("Inhibit", &("shutdown", "Attune", WHY, "delay"))
        .map_err(bus)
}

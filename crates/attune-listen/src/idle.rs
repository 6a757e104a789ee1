//! The idle key-out of a shared computer (docs/design.md §10.2): when nobody has touched the
//! keyboard or pointer for the site's idle time, the person keyed in is keyed out, after a
//! warning a minute before that any input cancels.
//!
//! How long the person has been idle comes from the desktop: GNOME's
//! `org.gnome.Mutter.IdleMonitor` on the session bus, else the X server's MIT-SCREEN-SAVER
//! extension ([`system_source`]). The decision is [`decide`], a pure function of that idle time,
//! how long the session has been on, and whether the warning was given; [`IdleWatch`] polls and
//! tells its caller each [`IdleStep`].

use std::sync::mpsc;
use std::time::{Duration, Instant};

use thiserror::Error;

/// How often the idle time is read while no warning is out.
pub const POLL: Duration = Duration::from_secs(5);
/// How often it is read while the warning is out (input must cancel it promptly).
pub const POLL_WARNED: Duration = Duration::from_secs(1);

/// Why the idle time cannot be read.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum IdleError {
    #[error("GNOME's idle monitor is not available: {0}")]
    Mutter(String),
    #[error("the X server's idle time is not available: {0}")]
    X11(String),
    #[error("no way to tell how long this computer has been idle (GNOME: {mutter}; X11: {x11})")]
    NoSource { mutter: String, x11: String },
}

/// Where the idle time comes from.
pub trait IdleSource: Send {
    /// How long since the last keyboard or pointer input.
    fn idle(&mut self) -> Result<Duration, IdleError>;
    /// Its name, for the log.
    fn name(&self) -> &'static str;
}

/// GNOME Shell's idle monitor (`org.gnome.Mutter.IdleMonitor`, session bus).
pub struct MutterIdle {
    proxy: zbus::blocking::Proxy<'static>,
}

impl MutterIdle {
    /// Connects to the session bus and checks the monitor answers.
    pub fn connect() -> Result<MutterIdle, IdleError> {
        let bus = zbus::blocking::Connection::session().map_err(mutter)?;
        let proxy = zbus::blocking::Proxy::new(
            &bus,
            "org.gnome.Mutter.IdleMonitor",
            "/org/gnome/Mutter/IdleMonitor/Core",
            "org.gnome.Mutter.IdleMonitor",
        )
        .map_err(mutter)?;
        let mut m = MutterIdle { proxy };
        m.idle()?;
        Ok(m)
    }
}

fn mutter(e: zbus::Error) -> IdleError {
    IdleError::Mutter(e.to_string())
}

impl IdleSource for MutterIdle {
    fn idle(&mut self) -> Result<Duration, IdleError> {
        let ms: u64 = self.proxy.call("GetIdletime", &()).map_err(mutter)?;
        Ok(Duration::from_millis(ms))
    }
    fn name(&self) -> &'static str {
        "gnome-idle-monitor"
    }
}

/// The X server's idle time (MIT-SCREEN-SAVER), for desktops other than GNOME Shell.
pub struct X11Idle {
    conn: x11rb::rust_connection::RustConnection,
    root: u32,
}

impl X11Idle {
    /// Connects to `$DISPLAY` and checks the extension is there.
    pub fn connect() -> Result<X11Idle, IdleError> {
        X11Idle::connect_to(None)
    }

    /// Connects to a named display (`":5"`), or `$DISPLAY`.
    pub fn connect_to(display: Option<&str>) -> Result<X11Idle, IdleError> {
        use x11rb::connection::Connection as _;
        let x11 = |e: &dyn std::fmt::Display| IdleError::X11(e.to_string());
        let (conn, screen) = x11rb::connect(display).map_err(|e| x11(&e))?;
        let root = conn
            .setup()
            .roots
            .get(screen)
            .map(|s| s.root)
            .ok_or_else(|| IdleError::X11(format!("no screen {screen}")))?;
        let mut x = X11Idle { conn, root };
        x.idle()?;
        Ok(x)
    }
}

impl IdleSource for X11Idle {
    fn idle(&mut self) -> Result<Duration, IdleError> {
        use x11rb::protocol::screensaver::ConnectionExt as _;
        let x11 = |e: &dyn std::fmt::Display| IdleError::X11(e.to_string());
        let info = self
            .conn
            .screensaver_query_info(self.root)
            .map_err(|e| x11(&e))?
            .reply()
            .map_err(|e| x11(&e))?;
        Ok(Duration::from_millis(u64::from(info.ms_since_user_input)))
    }
    fn name(&self) -> &'static str {
        "x11-screensaver"
    }
}

/// The desktop's idle time: GNOME's monitor, else the X server's.
pub fn system_source() -> Result<Box<dyn IdleSource>, IdleError> {
    let mutter = match MutterIdle::connect() {
        Ok(m) => return Ok(Box::new(m)),
        Err(e) => e.to_string(),
    };
    match X11Idle::connect() {
        Ok(x) => Ok(Box::new(x)),
        Err(e) => Err(IdleError::NoSource {
            mutter,
            x11: e.to_string(),
        }),
    }
}

/// The site's idle key-out: after `limit` without input, warned `warn_before` it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdlePolicy {
    pub limit: Duration,
    pub warn_before: Duration,
}

/// What the watcher tells its caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdleStep {
    /// Warn the person: they will be keyed out in `key_out_in`.
    Warn { key_out_in: Duration },
    /// Input came after the warning: the person is still there.
    Cancelled,
    /// Key out now.
    KeyOut,
}

/// The one decision. `idle` is the desktop's idle time and `on_for` how long the session has
/// been on: a person who keys in with a stick without touching anything is not idle since before
/// they came, so the shorter of the two counts.
pub fn decide(
    policy: IdlePolicy,
    idle: Duration,
    on_for: Duration,
    warned: bool,
) -> Option<IdleStep> {
    let idle = idle.min(on_for);
    let warn_at = policy.limit.saturating_sub(policy.warn_before);
    if idle >= policy.limit {
        Some(IdleStep::KeyOut)
    } else if idle >= warn_at {
        (!warned).then(|| IdleStep::Warn {
            key_out_in: policy.limit - idle,
        })
    } else if warned {
        Some(IdleStep::Cancelled)
    } else {
        None
    }
}

/// Polls an [`IdleSource`] while a session is on and tells each [`IdleStep`]. Dropping it stops
/// the thread.
pub struct IdleWatch {
    _stop: mpsc::Sender<()>,
}

/// How the watcher asks whether someone is keyed in (and it is told nothing when nobody is).
pub type IsActive = Box<dyn Fn() -> bool + Send>;
/// Where its steps go.
pub type OnStep = Box<dyn FnMut(IdleStep) + Send>;

impl IdleWatch {
    /// Starts polling `source` every `poll` ([`POLL`]; [`POLL_WARNED`] while warned).
    pub fn start(
        source: Box<dyn IdleSource>,
        policy: IdlePolicy,
        polls: (Duration, Duration),
        is_active: IsActive,
        on_step: OnStep,
    ) -> Result<IdleWatch, std::io::Error> {
        let (stop, stopped) = mpsc::channel::<()>();
        std::thread::Builder::new()
            .name("attune-idle".to_owned())
            .spawn(move || watch(source, policy, polls, &is_active, on_step, &stopped))?;
        Ok(IdleWatch { _stop: stop })
    }
}

fn watch(
    mut source: Box<dyn IdleSource>,
    policy: IdlePolicy,
    (poll, poll_warned): (Duration, Duration),
    is_active: &IsActive,
    mut on_step: OnStep,
    stopped: &mpsc::Receiver<()>,
) {
    tracing::info!(
        source = source.name(),
        limit_s = policy.limit.as_secs(),
        "idle key-out watching"
    );
    let mut warned = false;
    let mut on_since: Option<Instant> = None;
    let mut failing = false;
    loop {
        let wait = if warned { poll_warned } else { poll };
        // The poll's timer, and the stop signal (the sender dropped).
        match stopped.recv_timeout(wait) {
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            _ => return,
        }
        if !is_active() {
            if warned {
                on_step(IdleStep::Cancelled);
            }
            warned = false;
            on_since = None;
            continue;
        }
        let since = *on_since.get_or_insert_with(Instant::now);
        let idle = match source.idle() {
            Ok(d) => {
                failing = false;
                d
            }
            Err(e) => {
                if !failing {
                    tracing::warn!(error = %e, "cannot read the idle time; trying again");
                }
                failing = true;
                continue;
            }
        };
        match decide(policy, idle, since.elapsed(), warned) {
            Some(step @ IdleStep::Warn { .. }) => {
                warned = true;
                on_step(step);
            }
            Some(IdleStep::Cancelled) => {
                warned = false;
                on_step(IdleStep::Cancelled);
            }
            Some(IdleStep::KeyOut) => {
                warned = false;
                on_since = None;
                on_step(IdleStep::KeyOut);
            }
            None => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    use std::sync::Arc;

    const MIN: Duration = Duration::from_secs(60);
    const POLICY: IdlePolicy = IdlePolicy {
        limit: Duration::from_secs(15 * 60),
        warn_before: MIN,
    };

    #[test]
    fn warned_a_minute_before_keyed_out_at_the_limit_and_input_cancels() {
        let on = Duration::from_secs(3600);
        assert_eq!(decide(POLICY, 13 * MIN, on, false), None);
        assert_eq!(
            decide(POLICY, 14 * MIN, on, false),
            Some(IdleStep::Warn { key_out_in: MIN })
        );
        assert_eq!(
            decide(POLICY, 14 * MIN + Duration::from_secs(30), on, false),
            Some(IdleStep::Warn {
                key_out_in: Duration::from_secs(30)
            })
        );
        assert_eq!(decide(POLICY, 14 * MIN, on, true), None, "warned once");
        assert_eq!(
            decide(POLICY, Duration::from_secs(2), on, true),
            Some(IdleStep::Cancelled)
        );
        assert_eq!(decide(POLICY, 15 * MIN, on, true), Some(IdleStep::KeyOut));
        assert_eq!(decide(POLICY, 15 * MIN, on, false), Some(IdleStep::KeyOut));
    }

    #[test]
    fn a_person_who_keys_in_without_touching_anything_is_idle_only_since_keying_in() {
        let long_idle = 3 * 60 * MIN;
        assert_eq!(
            decide(POLICY, long_idle, Duration::from_secs(5), false),
            None
        );
        assert_eq!(
            decide(POLICY, long_idle, 14 * MIN, false),
            Some(IdleStep::Warn { key_out_in: MIN })
        );
    }

    /// An idle time the test sets.
    struct Fake(Arc<AtomicU64>);
    impl IdleSource for Fake {
        fn idle(&mut self) -> Result<Duration, IdleError> {
            match self.0.load(Ordering::SeqCst) {
                u64::MAX => Err(IdleError::X11("gone".to_owned())),
                ms => Ok(Duration::from_millis(ms)),
            }
        }
        fn name(&self) -> &'static str {
            "fake"
        }
    }

    #[test]
    fn the_watcher_warns_cancels_and_keys_out_only_while_someone_is_keyed_in() {
        let idle = Arc::new(AtomicU64::new(0));
        let active = Arc::new(AtomicBool::new(false));
        let (tx, steps) = mpsc::channel();
        let policy = IdlePolicy {
            limit: Duration::from_millis(2000),
            warn_before: Duration::from_millis(1000),
        };
        let a = active.clone();
        let _watch = IdleWatch::start(
            Box::new(Fake(idle.clone())),
            policy,
            (Duration::from_millis(5), Duration::from_millis(5)),
            Box::new(move || a.load(Ordering::SeqCst)),
            Box::new(move |s| {
                let _ = tx.send(s);
            }),
        )
        .unwrap();
        let next = || steps.recv_timeout(Duration::from_secs(10)).unwrap();

        // Nobody keyed in: an idle computer is nobody's business.
        idle.store(10_000, Ordering::SeqCst);
        assert!(steps.recv_timeout(Duration::from_millis(100)).is_err());

        // Keyed in: idle since the key-in (not the hour before), warned, then input.
        active.store(true, Ordering::SeqCst);
        assert!(matches!(next(), IdleStep::Warn { .. }));
        idle.store(0, Ordering::SeqCst);
        assert_eq!(next(), IdleStep::Cancelled);

        // Idle again, unreadable for a while (no step), then past the limit.
        idle.store(u64::MAX, Ordering::SeqCst);
        assert!(steps.recv_timeout(Duration::from_millis(100)).is_err());
        idle.store(1500, Ordering::SeqCst);
        assert!(matches!(next(), IdleStep::Warn { .. }));
        idle.store(2500, Ordering::SeqCst);
        assert_eq!(next(), IdleStep::KeyOut);

        // Keyed out by someone else while warned: the warning is taken back. (Idle stays under
        // the limit, so no second key-out can come first however slow the machine.)
        idle.store(1500, Ordering::SeqCst);
        assert!(matches!(next(), IdleStep::Warn { .. }));
        active.store(false, Ordering::SeqCst);
        assert_eq!(next(), IdleStep::Cancelled);
    }
}

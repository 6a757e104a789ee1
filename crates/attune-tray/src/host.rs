//! The lean tray: Attune in the tray without its window, and without GTK or WebKit.
//! `attune-app --background` (the login autostart entry) becomes `attune tray`, and the app
//! starts afresh as it once its window has stayed closed a while (src-tauri's `restart`). It
//! runs what the app runs when no window is open: the resume at start (on a shared computer,
//! the key-out of a session from an earlier boot), the USB-stick listener and the local API,
//! a shared computer's idle and session-end key-outs, the reconnection of an offline session,
//! notifications, and a tray icon with the app's menu. Its memory is a few MB where the app's,
//! which links WebKitGTK, is some 70 (docs/operations.md, "Memory and reopen time").
//!
//! **Opening the window is a hand-over, not a second process:** on "Open" (or a second start
//! of the app, which reaches this process through the single-instance name) it stops its
//! listeners, waits for any key-in or key-out of its own to end, lets the name go and execs the
//! app in the same process, which starts as any first start does and resumes the session from
//! its files. One process owns keying at every moment.

use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use attune_flow::{Flow, Indicator, Profile, StateLock};
use attune_listen::owner::{self, ListenerLock, Owner};
use attune_listen::queue::{KeyQueue, Request, Via};
use attune_listen::shared::{SharedComputer, SharedNotice, Tell};
use attune_listen::usb::{StickEvent, UsbListener};

use crate::menu::MenuAction;
use crate::notices::{DesktopNotifier, Notice, Notifier, Transitions};
use crate::single_instance::{Instance, InstanceError, SecondStart};
use crate::sni::LeanTray;

/// `0` (or `off`): `attune-app --background` stays the app in the tray rather than becoming the
/// lean tray (a site whose tray host shows only the app's own kind of tray icon; comparisons).
pub const LEAN_ENV: &str = "ATTUNE_LEAN_TRAY";

/// Set by the hand-over for the app it execs: when the window was asked for (milliseconds since
/// the epoch), so the app's reopen time counts from the person's click, exec included.
pub const OPEN_ASKED_ENV: &str = "ATTUNE_OPEN_ASKED_MS";

/// The app's program beside this one.
pub const APP_PROGRAM: &str = "attune-app";

/// How long the USB mount roots go without a rescan when no file event comes (as the app).
const USB_POLL: Duration = Duration::from_secs(2);

/// Whether `attune-app --background` should become the lean tray, from [`LEAN_ENV`].
pub fn lean_wanted(value: Option<&str>) -> bool {
    !matches!(value.map(str::trim), Some("0" | "off" | "no" | "false"))
}

/// A program beside `current` (the running program's path; an upgraded one is named
/// `… (deleted)` by the kernel), if it is there.
pub fn sibling(current: &Path, name: &str) -> Option<PathBuf> {
    let s = current.to_string_lossy();
    let current = PathBuf::from(s.strip_suffix(" (deleted)").unwrap_or(&s));
    let p = current.parent()?.join(name);
    p.is_file().then_some(p)
}

/// How long ago, from [`OPEN_ASKED_ENV`]'s value, the window was asked for; `None` if it says
/// nothing usable (absent, not a number, in the future, or more than a minute ago).
pub fn asked_ago(value: Option<&str>, now: SystemTime) -> Option<Duration> {
    let ms: u64 = value?.trim().parse().ok()?;
    let asked = UNIX_EPOCH + Duration::from_millis(ms);
    let ago = now.duration_since(asked).ok()?;
    (ago <= Duration::from_secs(60)).then_some(ago)
}

fn now_ms() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis())
}

/// What the host's loop is asked to do.
enum Ask {
    Menu(MenuAction),
    Second(SecondStart),
    Refresh,
    /// The desktop session is ending (the signal's name).
    End(&'static str),
}

/// The listeners and the policy, while this process owns keying.
struct Keying {
    usb: Option<UsbListener>,
    shared: Option<SharedComputer>,
    _lock: Option<ListenerLock>,
}

struct Host {
    flow: Option<Arc<Flow>>,
    queue: Option<KeyQueue>,
    keying: Option<Keying>,
    notifier: Arc<dyn Notifier>,
    transitions: Transitions,
    tray: Option<ksni::blocking::Handle<LeanTray>>,
    instance: Option<Instance>,
    app: Option<PathBuf>,
    asks: Sender<Ask>,
    log_guard: Option<tracing_appender::non_blocking::WorkerGuard>,
}

/// Runs the lean tray until Quit, the session's end, or the hand-over to the app (which does not
/// return); the process's exit code.
pub fn main(profile: Option<Profile>) -> i32 {
    let started = Instant::now();
    let paths = attune_flow::Paths::from_env().ok();
    let log_dir = paths.as_ref().map(|p| crate::logging::dir_in(&p.data_dir));
    let log_guard = crate::logging::init(log_dir.as_deref());
    let (asks, asked) = mpsc::channel::<Ask>();

    let (second_tx, second_rx) = mpsc::channel::<SecondStart>();
    let instance = match Instance::take(second_tx) {
        Ok(i) => Some(i),
        Err(InstanceError::Running) => {
            tracing::info!("Attune already runs in this session; this start does nothing");
            return 0;
        }
        Err(e) => {
            tracing::warn!(error = %e, "a second start cannot reach this tray");
            None
        }
    };
    forward(second_rx, asks.clone(), Ask::Second);

    let flow = match Flow::from_env(profile) {
        Ok(f) => Some(Arc::new(f)),
        Err(e) => {
            // The window says why; the tray still opens it.
            tracing::error!(kind = e.kind(), error = %e, "starting without a flow");
            None
        }
    };
    let snapsets = flow
        .as_ref()
        .filter(|f| f.config().profile == Profile::Testing)
        .and_then(|f| f.snapsets().ok())
        .map(|v| v.into_iter().map(|s| (s.key, s.name)).collect())
        .unwrap_or_default();
    let notifier: Arc<dyn Notifier> = Arc::new(DesktopNotifier::probe_in_background());
    let current = std::env::current_exe().ok();
    let app = current.as_deref().and_then(|c| sibling(c, APP_PROGRAM));
    if app.is_none() {
        tracing::warn!("no {APP_PROGRAM} beside this program: \"Open\" cannot show a window");
    }
    let (menu_tx, menu_rx) = mpsc::channel::<MenuAction>();
    forward(menu_rx, asks.clone(), Ask::Menu);
    let tray = {
        use ksni::blocking::TrayMethods;
        match LeanTray::new(snapsets, menu_tx)
            .assume_sni_available(true)
            .spawn()
        {
            Ok(h) => Some(h),
            Err(e) => {
                tracing::warn!(error = %e, "no tray icon");
                None
            }
        }
    };
    let mut host = Host {
        flow,
        queue: None,
        keying: None,
        notifier,
        transitions: Transitions::default(),
        tray,
        instance,
        app,
        asks: asks.clone(),
        log_guard,
    };
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            tracing::error!(error = %e, "cannot start the async runtime");
            return 1;
        }
    };
    rt.spawn(watch_signals(asks.clone()));
    let _background = host.start(&rt);
    tracing::info!(
        ms = started.elapsed().as_millis() as u64,
        background = true,
        lean = true,
        "started"
    );
    host.refresh();
    let code = host.serve(&asked);
    drop(host);
    rt.shutdown_timeout(Duration::from_secs(1));
    code
}

/// Passes what `rx` receives on to the host's loop.
fn forward<T: Send + 'static>(rx: Receiver<T>, asks: Sender<Ask>, wrap: fn(T) -> Ask) {
    let _ = std::thread::Builder::new()
        .name("attune-tray-forward".to_owned())
        .spawn(move || {
            while let Ok(t) = rx.recv() {
                if asks.send(wrap(t)).is_err() {
                    return;
                }
            }
        });
}

/// SIGTERM and SIGHUP (the session manager), SIGINT: the session is ending.
async fn watch_signals(asks: Sender<Ask>) {
    if let Some(which) = attune_listen::shared::session_end_signal(true).await {
        let _ = asks.send(Ask::End(which));
    }
}

/// What lives as long as the host runs in the background (dropped at its end).
struct Background {
    _reconnector: Option<attune_listen::reconnect::Reconnector>,
    _watcher: Option<notify::RecommendedWatcher>,
}

impl Host {
    /// The resume at start, then the listeners and the policy, the reconnection, the watch of
    /// the state dir: what the app's `start_background` starts, in the same order.
    fn start(&mut self, rt: &tokio::runtime::Runtime) -> Background {
        let Some(flow) = self.flow.clone() else {
            return Background {
                _reconnector: None,
                _watcher: None,
            };
        };
        let asks = self.asks.clone();
        flow.set_observer(Arc::new(move |_e: &attune_flow::FlowEvent| {
            let _ = asks.send(Ask::Refresh);
        }));
        match flow.start_up() {
            Ok(Some(o)) => self
                .notifier
                .notify(&Notice::Restored(o.message_text.to_owned())),
            Ok(None) => {}
            Err(e) => tracing::warn!(kind = e.kind(), error = %e, "resume at start failed"),
        }
        let queue = KeyQueue::start(flow.clone());
        let events = queue.subscribe();
        let asks = self.asks.clone();
        let _ = std::thread::Builder::new()
            .name("attune-tray-events".to_owned())
            .spawn(move || {
                // Any queue event (keyed in, reconnected, failed …) may have changed the session.
                while events.recv().is_ok() {
                    if asks.send(Ask::Refresh).is_err() {
                        return;
                    }
                }
            });
        self.keying = self.start_keying(rt, &flow, &queue);
        let reconnector = (flow.config().profile != Profile::Testing).then(|| {
            // It keeps asking the cloud, so the flow's messages may say "We'll keep trying".
            flow.set_reconnects_in_background(true);
            attune_listen::reconnect::Reconnector::start(queue.clone(), Duration::from_secs(5))
        });
        self.queue = Some(queue);
        let asks = self.asks.clone();
        let watcher = crate::watch::state_dir(flow.paths().state_dir.clone(), move || {
            let _ = asks.send(Ask::Refresh);
        });
        Background {
            _reconnector: reconnector,
            _watcher: watcher,
        }
    }

    /// The listeners the configuration asks for and a shared computer's rules, if this process
    /// may own keying (else the owner, `attune listen`, runs them: logged).
    fn start_keying(
        &self,
        rt: &tokio::runtime::Runtime,
        flow: &Arc<Flow>,
        queue: &KeyQueue,
    ) -> Option<Keying> {
        let config = flow.config();
        let api_addr = config.local_api.address();
        let lock = if config.usb.enabled || api_addr.is_some() {
            match ListenerLock::acquire(&owner::lock_path(&flow.paths().state_dir), Owner::App) {
                Ok(lock) => Some(lock),
                Err(e) => {
                    tracing::warn!(error = %e, "the listeners run elsewhere");
                    return None;
                }
            }
        } else {
            tracing::info!("no listeners configured");
            None
        };
        let notifier = self.notifier.clone();
        let asks = self.asks.clone();
        let tell: Tell = Arc::new(move |n: SharedNotice| {
            tracing::info!(notice = ?n, "shared computer");
            if let Some(notice) = Notice::of_shared(&n) {
                notifier.notify(&notice);
            }
            let _ = asks.send(Ask::Refresh);
        });
        let shared = attune_listen::shared::start(flow, queue, tell);
        let usb = config.usb.enabled.then(|| {
            let roots = attune_listen::usb::roots_of(&config.usb);
            tracing::info!(roots = ?roots, "watching for USB keys");
            UsbListener::start_observed(
                roots,
                USB_POLL,
                queue.clone(),
                // Logged as the app logs what its window is told.
                Box::new(|e| {
                    let kind = match e {
                        StickEvent::Found { .. } => "usb_key_found",
                        StickEvent::Removed { .. } => "usb_key_removed",
                        // Saving to a blank stick is the window's; the tray has nothing to say.
                        StickEvent::Blank { .. } | StickEvent::BlankGone { .. } => return,
                    };
                    tracing::info!(kind, "listener notice");
                }),
            )
        });
        if let Some(addr) = api_addr {
            let (queue, flow) = (queue.clone(), flow.clone());
            rt.spawn(async move {
                match attune_listen::local_api::bind(addr).await {
                    Ok(listener) => {
                        let bound = listener.local_addr().map_or(addr, |a| a);
                        tracing::info!(%bound, "local API listening");
                        let forever = std::future::pending::<()>();
                        if let Err(e) =
                            attune_listen::local_api::serve(listener, queue, flow, forever).await
                        {
                            tracing::error!(error = %e, "the local API stopped");
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "no local API"),
                }
            });
        }
        Some(Keying {
            usb,
            shared: Some(shared),
            _lock: lock,
        })
    }

    /// Reads the status and shows it: the tray's icon and tooltip, and the notifications of what
    /// changed.
    fn refresh(&self) {
        let indicator = match &self.flow {
            Some(flow) => match flow.status() {
                Ok(status) => {
                    self.transitions.observe(&status, self.notifier.as_ref());
                    status.indicator()
                }
                Err(e) => {
                    tracing::warn!(kind = e.kind(), error = %e, "cannot read the status");
                    return;
                }
            },
            None => Indicator::default(),
        };
        if let Some(tray) = &self.tray {
            tray.update(|t| t.indicator = indicator);
        }
    }

    /// The loop: carries out what is asked until Quit or the session's end.
    fn serve(&mut self, asked: &Receiver<Ask>) -> i32 {
        while let Ok(ask) = asked.recv() {
            match ask {
                Ask::Refresh => self.refresh(),
                Ask::Menu(MenuAction::ShowWindow) => self.hand_over(),
                Ask::Second(s) if s.wants_window() => self.hand_over(),
                Ask::Second(_) => tracing::info!("a second start in the background does nothing"),
                Ask::Menu(MenuAction::KeyIn(key)) => self.in_background(move |f| {
                    let o = f.key_in(&key)?;
                    Ok(o.finished_first.map(|r| r.message_text.to_owned()))
                }),
                Ask::Menu(MenuAction::KeyOut) => self.in_background(|f| {
                    f.key_out()?;
                    Ok(None)
                }),
                Ask::Menu(MenuAction::Quit) => {
                    tracing::info!("quit from the tray");
                    return 0;
                }
                Ask::End(signal) => {
                    self.end_session(signal);
                    return 0;
                }
            }
        }
        0
    }

    /// A key-in or key-out from the tray's menu, off the loop; tells what it finished first.
    fn in_background(
        &self,
        f: impl FnOnce(&Flow) -> Result<Option<String>, attune_flow::FlowError> + Send + 'static,
    ) {
        let Some(flow) = self.flow.clone() else {
            return;
        };
        let (notifier, asks) = (self.notifier.clone(), self.asks.clone());
        let _ = std::thread::Builder::new()
            .name("attune-tray-menu".to_owned())
            .spawn(move || {
                match f(&flow) {
                    Ok(Some(first)) => notifier.notify(&Notice::Restored(first)),
                    Ok(None) => {}
                    Err(e) => {
                        tracing::warn!(kind = e.kind(), "the tray's key-in or key-out failed")
                    }
                }
                let _ = asks.send(Ask::Refresh);
            });
    }

    /// SIGTERM or SIGHUP: on a shared computer, key out and put the desktop back first.
    fn end_session(&self, signal: &'static str) {
        let shared_computer = self
            .flow
            .as_ref()
            .is_some_and(|f| f.config().session.shared_computer);
        tracing::info!(signal, shared_computer, "the session is ending");
        if let (true, Some(queue)) = (shared_computer, &self.queue) {
            let tell: Tell = Arc::new(|_| {});
            let done = attune_listen::shared::end_session(
                queue,
                attune_flow::KeyOutCause::SessionEnd,
                attune_listen::shared::SESSION_END_WITHIN,
                &tell,
            );
            tracing::info!(keyed_out = done, "session end");
        }
    }

    /// Opens the window: stops keying here, then becomes the app. Returns only if the app could
    /// not be started (keying goes on here then).
    fn hand_over(&mut self) {
        let asked_ms = now_ms();
        let Some(app) = self.app.clone() else {
            tracing::error!("cannot open the window: no {APP_PROGRAM} beside this program");
            return;
        };
        tracing::info!("opening the window: handing over to the app");
        // No stick or policy starts anything more; what was queued runs to its end.
        if let Some(mut k) = self.keying.take() {
            drop(k.usb.take());
            drop(k.shared.take());
            if let Some(q) = &self.queue {
                let _ = q.call_blocking(Via::Background, Request::Reconnect);
            }
            // The listeners' lock goes with the exec (its file closes), not before.
            std::mem::forget(k);
        }
        // No key-in or key-out of this process (the menu's) is running; the lock's file closes
        // with the exec.
        if let Some(flow) = &self.flow {
            match StateLock::acquire(&flow.paths().lock_file(), Duration::from_secs(30)) {
                Ok(lock) => std::mem::forget(lock),
                Err(e) => tracing::warn!(error = %e, "handing over while the state is busy"),
            }
        }
        // The tray's icon goes with the exec (its bus connection closes): not waited for here,
        // the window is.
        drop(self.tray.take());
        if let Some(instance) = &self.instance {
            instance.release();
        }
        drop(self.log_guard.take());
        let e = exec(&app, &[], Some(asked_ms));
        eprintln!("attune tray: cannot start {}: {e}", app.display());
        // Keying stopped above: start this tray afresh rather than go on without it.
        if let Ok(me) = std::env::current_exe() {
            let e = exec(&me, &["tray"], None);
            eprintln!("attune tray: cannot start again: {e}");
        }
        std::process::exit(1);
    }
}

/// Replaces this process with `program args…`; returns only the error if that failed.
fn exec(program: &Path, args: &[&str], asked_ms: Option<u128>) -> std::io::Error {
    use std::os::unix::process::CommandExt;
    let mut cmd = std::process::Command::new(program);
    cmd.args(args);
    match asked_ms {
        Some(ms) => cmd.env(OPEN_ASKED_ENV, ms.to_string()),
        None => cmd.env_remove(OPEN_ASKED_ENV),
    };
    cmd.exec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lean_tray_is_the_default_and_can_be_turned_off() {
        assert!(lean_wanted(None));
        assert!(lean_wanted(Some("1")));
        assert!(!lean_wanted(Some("0")));
        assert!(!lean_wanted(Some(" off ")));
    }

    #[test]
    fn the_app_is_found_beside_this_program_even_after_an_upgrade() {
        let dir = tempfile::tempdir().unwrap();
        let me = dir.path().join("attune");
        std::fs::write(&me, "").unwrap();
        assert_eq!(sibling(&me, APP_PROGRAM), None);
        std::fs::write(dir.path().join(APP_PROGRAM), "").unwrap();
        let found = Some(dir.path().join(APP_PROGRAM));
        assert_eq!(sibling(&me, APP_PROGRAM), found);
        let deleted = PathBuf::from(format!("{} (deleted)", me.display()));
        assert_eq!(sibling(&deleted, APP_PROGRAM), found);
    }

    #[test]
    fn the_open_time_counts_from_a_recent_request_only() {
        let now = UNIX_EPOCH + Duration::from_secs(1_000_000);
        let ms = |d: Duration| (now - d).duration_since(UNIX_EPOCH).unwrap().as_millis();
        let v = ms(Duration::from_millis(250)).to_string();
        assert_eq!(asked_ago(Some(&v), now), Some(Duration::from_millis(250)));
        let old = ms(Duration::from_secs(120)).to_string();
        assert_eq!(asked_ago(Some(&old), now), None);
        let future = (ms(Duration::ZERO) + 5_000).to_string();
        assert_eq!(asked_ago(Some(&future), now), None);
        assert_eq!(asked_ago(Some("soon"), now), None);
        assert_eq!(asked_ago(None, now), None);
    }
}

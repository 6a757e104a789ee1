//! The shell's state and what every path shares: running the (blocking) flow off the async
//! runtime, refreshing the status after a change (event, tray, notifications), and the
//! background tasks (reconnection, the key-in listeners, the watcher of the state dir).

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use attune_flow::Flow;
use attune_flow::Indicator;
use attune_flow::Message;
use serde::Serialize;
use tauri::{AppHandle, Emitter, Manager, Runtime};

use crate::adjustments::{self, Adjustment};
use crate::error::AppError;
use crate::listeners::{self, ListenerNotice, Listeners};
use crate::notices::{Availability, Notice, Notifier, Transitions};

/// The event the UI listens to (docs/app.md).
pub const STATUS_EVENT: &str = "attune://status";

/// `AppStatus` (docs/app.md): the flow's status plus the quick adjustments and the status's
/// indicator (the one decision of what state this is, which the page renders as it comes).
#[derive(Debug, Clone, Serialize)]
pub struct AppStatus {
    #[serde(flatten)]
    pub status: attune_flow::Status,
    pub adjustments: Vec<Adjustment>,
    pub indicator: Indicator,
    /// Which key-in listeners this app runs (crate::listeners).
    pub listeners: Listeners,
    /// The USB stick in this computer, as the app's listener last saw it, or null.
    pub usb_key: Option<UsbKey>,
}

/// `usb_key` in `AppStatus`: a USB stick is in (one with a key, or a blank one), and whether the
/// person keyed in may save their settings to it ("Save my settings to this USB key",
/// docs/design.md §10.3). Decided here, so the page only shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UsbKey {
    /// The stick's name (its mount folder's), as the file manager shows it.
    pub label: String,
    /// Someone is keyed in with their own key (not a snapset), outside the testing profile.
    pub can_save: bool,
}

impl UsbKey {
    pub fn of(stick: Option<&std::path::Path>, status: &attune_flow::Status) -> Option<UsbKey> {
        let stick = stick?;
        let label = stick
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| stick.display().to_string());
        let can_save = status.state == attune_flow::State::Active
            && status.profile != attune_flow::Profile::Testing
            && !matches!(status.source, None | Some("snapset"));
        Some(UsbKey { label, can_save })
    }
}

/// Everything the commands and background tasks share (Tauri-managed state).
pub struct Shell {
    /// The flow, or why there is none (an invalid configuration: the app still starts, safely,
    /// and says so).
    pub flow: Result<Arc<Flow>, AppError>,
    pub notifier: Arc<dyn Notifier>,
    pub log_dir: Option<PathBuf>,
    pub tray: Mutex<Availability>,
    /// When the window was last created, until the page's first status answer (the reopen
    /// time, logged).
    pub window_opened: Mutex<Option<std::time::Instant>>,
    /// How many windows have been made (a restart in the tray is due only if none was made
    /// since the close that scheduled it).
    pub window_generation: std::sync::atomic::AtomicU64,
    /// Which listeners run here (set once they have started).
    pub listeners: Mutex<Listeners>,
    /// The USB stick the app's listener last saw come in (with a key or blank), until it goes.
    stick_in: Mutex<Option<PathBuf>>,
    /// What the last refresh saw, for the notices' transitions.
    transitions: Transitions,
    /// The last status sent, so a watcher wake-up that changed nothing sends nothing.
    last_sent: Mutex<Option<String>>,
}

impl Shell {
    pub fn new(
        flow: Result<Flow, AppError>,
        notifier: Arc<dyn Notifier>,
        log_dir: Option<PathBuf>,
    ) -> Shell {
        Shell {
            flow: flow.map(Arc::new),
            notifier,
            log_dir,
            tray: Mutex::new(Availability::no(Message::AppTrayNotMadeYet.text())),
            listeners: Mutex::new(Listeners::default()),
            stick_in: Mutex::new(None),
            window_opened: Mutex::new(None),
            window_generation: std::sync::atomic::AtomicU64::new(0),
            transitions: Transitions::default(),
            last_sent: Mutex::new(None),
        }
    }

    pub fn flow(&self) -> Result<Arc<Flow>, AppError> {
        self.flow.clone()
    }

    pub fn notify(&self, notice: &Notice) {
        self.notifier.notify(notice);
    }

    /// Which listeners run here.
    pub fn listeners(&self) -> Listeners {
        self.listeners.lock().map(|l| l.clone()).unwrap_or_default()
    }

    /// The USB stick in this computer, if the app's listener saw one come in.
    pub fn stick_in(&self) -> Option<PathBuf> {
        self.stick_in.lock().ok().and_then(|s| s.clone())
    }

    /// A stick came in (`Some`), or the stick at `gone` went away.
    pub fn stick_seen(&self, came: Option<PathBuf>, gone: Option<&std::path::Path>) {
        if let Ok(mut s) = self.stick_in.lock() {
            match (came, gone) {
                (Some(v), _) => *s = Some(v),
                (None, Some(g)) if s.as_deref() == Some(g) => *s = None,
                _ => {}
            }
        }
    }
}

/// Runs `f` on the flow on a blocking thread (every flow call does file and network I/O).
pub async fn blocking<T, F>(shell: &Shell, f: F) -> Result<T, AppError>
where
    T: Send + 'static,
    F: FnOnce(&Flow) -> Result<T, attune_flow::FlowError> + Send + 'static,
{
    let flow = shell.flow()?;
    tauri::async_runtime::spawn_blocking(move || f(&flow))
        .await
        .map_err(|e| AppError::internal(Message::AppTaskDidNotFinish.with(&[("error", &e)])))?
        .map_err(AppError::from)
}

/// The status as the UI gets it (blocking).
pub fn app_status(
    flow: &Flow,
    listeners: Listeners,
    stick: Option<&std::path::Path>,
) -> Result<AppStatus, attune_flow::FlowError> {
    let status = flow.status()?;
    let prefs = flow.preferences()?;
    Ok(AppStatus {
        adjustments: adjustments::adjustments(prefs.as_ref()),
        indicator: status.indicator(),
        usb_key: UsbKey::of(stick, &status),
        status,
        listeners,
    })
}

/// Logs, once per window made, how long the window took from being asked for to having the
/// current status (the page asks for it as soon as it has loaded): the reopen time the bench
/// (scripts/bench-tray.sh) reads, with the state shown.
pub fn log_window_shown(shell: &Shell, answer: &Result<AppStatus, AppError>) {
    let Ok(status) = answer else { return };
    let asked = shell.window_opened.lock().ok().and_then(|mut o| o.take());
    if let Some(asked) = asked {
        let state = serde_json::to_value(status.indicator)
            .ok()
            .and_then(|v| v.get("state").and_then(|s| s.as_str()).map(str::to_owned))
            .unwrap_or_default();
        tracing::info!(
            ms = asked.elapsed().as_millis() as u64,
            state = %state,
            "window shows the current status"
        );
    }
}

/// Reads the status and tells everyone who shows it: the UI (event), the tray, notifications;
/// all three show the one indicator it carries.
/// Blocking; call from a blocking thread. Returns the status sent (or `None` when there is no
/// flow or it could not be read).
pub fn refresh_blocking<R: Runtime>(app: &AppHandle<R>) -> Option<AppStatus> {
    let shell = app.state::<Shell>();
    let flow = shell.flow().ok()?;
    let status = match app_status(&flow, shell.listeners(), shell.stick_in().as_deref()) {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(kind = e.kind(), error = %e, "cannot read the status");
            return None;
        }
    };
    shell
        .transitions
        .observe(&status.status, shell.notifier.as_ref());
    crate::tray::show(app, &status.indicator);
    let text = serde_json::to_string(&status).unwrap_or_default();
    let changed = match shell.last_sent.lock() {
        Ok(mut last) if last.as_deref() != Some(text.as_str()) => {
            *last = Some(text);
            true
        }
        Ok(_) => false,
        Err(_) => true,
    };
    if changed {
        if let Err(e) = app.emit(STATUS_EVENT, &status) {
            tracing::warn!(error = %e, "cannot send the status to the window");
        }
    }
    Some(status)
}

/// Refreshes from async code.
pub async fn refresh<R: Runtime>(app: &AppHandle<R>) {
    let app = app.clone();
    let _ = tauri::async_runtime::spawn_blocking(move || refresh_blocking(&app)).await;
}

/// Tells about a key-in that first finished an earlier, interrupted one.
pub fn notice_finished_first(shell: &Shell, o: &attune_flow::KeyInOutcome) {
    if let Some(first) = &o.finished_first {
        shell.notify(&Notice::Restored(first.message_text.to_owned()));
    }
}

/// Keys in from the tray (a snapset) without waiting.
pub fn spawn_key_in<R: Runtime>(app: AppHandle<R>, key: String) {
    tauri::async_runtime::spawn(async move {
        let shell = app.state::<Shell>();
        match blocking(&shell, move |f| f.key_in(&key)).await {
            Ok(o) => notice_finished_first(&shell, &o),
            Err(e) => tracing::warn!(kind = %e.kind, "tray key-in failed"),
        }
        refresh(&app).await;
    });
}

/// Keys out from the tray without waiting.
pub fn spawn_key_out<R: Runtime>(app: AppHandle<R>) {
    tauri::async_runtime::spawn(async move {
        let shell = app.state::<Shell>();
        if let Err(e) = blocking(&shell, |f| f.key_out()).await {
            tracing::warn!(kind = %e.kind, "tray key-out failed");
        }
        refresh(&app).await;
    });
}

/// Starts what runs in the background for the app's life: the resume of an interrupted
/// session and then the key-in listeners (crate::listeners), the reconnection loop of an offline session, and the watcher of the state dir (the
/// CLI or the listeners may change the session). Handles are kept in Tauri state so they live
/// as long as the app.
pub fn start_background<R: Runtime>(app: &AppHandle<R>) {
    let shell = app.state::<Shell>();
    let Ok(flow) = shell.flow() else {
        return;
    };
    // The flow says when settings are on the desktop before its cloud call ends (the cache's,
    // applied first): the window shows them at once rather than after the cloud's answer.
    let handle = app.clone();
    flow.set_observer(Arc::new(move |e: &attune_flow::FlowEvent| {
        tracing::debug!(event = ?e, "flow event");
        let h = handle.clone();
        // Off the flow's thread: refreshing reads the session, the flow is mid key-in.
        let _ = std::thread::Builder::new()
            .name("attune-app-observer".to_owned())
            .spawn(move || refresh_blocking(&h));
    }));

    let queue = attune_listen::queue::KeyQueue::start(flow.clone());
    let events = queue.subscribe();

    // Whatever a crash left is finished first, then the listeners start (as `attune listen`
    // does): a stick already in would otherwise key in while the restore runs.
    let handle = app.clone();
    let (resume_flow, listen_queue) = (flow.clone(), queue.clone());
    tauri::async_runtime::spawn(async move {
        let flow = resume_flow.clone();
        // On a shared computer, a session from an earlier boot is keyed out here too.
        let resumed = tauri::async_runtime::spawn_blocking(move || resume_flow.start_up()).await;
        match resumed {
            Ok(Ok(Some(o))) => handle
                .state::<Shell>()
                .notify(&Notice::Restored(o.message_text.to_owned())),
            Ok(Ok(None)) => {}
            Ok(Err(e)) => tracing::warn!(kind = e.kind(), error = %e, "resume at start failed"),
            Err(e) => tracing::warn!(error = %e, "resume task failed"),
        }
        let hosted = listeners::start(&handle, &flow, &listen_queue).await;
        if let Ok(mut l) = handle.state::<Shell>().listeners.lock() {
            *l = hosted.listeners.clone();
        }
        handle.manage(hosted);
        refresh(&handle).await;
    });
    watch_session_end(app, queue.clone(), flow.config().session.shared_computer);
    // The reconnector keeps asking the cloud, so the app's messages may say "We'll keep trying".
    flow.set_reconnects_in_background(true);
    let reconnector = attune_listen::reconnect::Reconnector::start(queue, Duration::from_secs(5));
    let handle = app.clone();
    let _ = std::thread::Builder::new()
        .name("attune-app-events".to_owned())
        .spawn(move || {
            // Any queue event (reconnected, failed …) may have changed the session.
            while let Ok(e) = events.recv() {
                if let Some(n) = ListenerNotice::of_queue(&e) {
                    listeners::tell(&handle, &n);
                }
                refresh_blocking(&handle);
            }
        });
    let handle = app.clone();
    let watcher = attune_tray::watch::state_dir(flow.paths().state_dir.clone(), move || {
        refresh_blocking(&handle);
    });
    app.manage(Background {
        _reconnector: reconnector,
        _watcher: watcher,
    });
}

/// SIGTERM or SIGHUP (the desktop session is ending): a shared computer keys out and puts the
/// desktop back first, within [`attune_listen::shared::SESSION_END_WITHIN`]; then the app exits.
fn watch_session_end<R: Runtime>(
    app: &AppHandle<R>,
    queue: attune_listen::queue::KeyQueue,
    shared_computer: bool,
) {
    let handle = app.clone();
    tauri::async_runtime::spawn(async move {
        let Some(which) = attune_listen::shared::session_end_signal(false).await else {
            return;
        };
        tracing::info!(signal = which, shared_computer, "the session is ending");
        if shared_computer {
            let _ = tauri::async_runtime::spawn_blocking(move || {
                let tell: attune_listen::shared::Tell = Arc::new(|_| {});
                let done = attune_listen::shared::end_session(
                    &queue,
                    attune_flow::KeyOutCause::SessionEnd,
                    attune_listen::shared::SESSION_END_WITHIN,
                    &tell,
                );
                tracing::info!(keyed_out = done, "session end");
            })
            .await;
        }
        handle.exit(0);
    });
}

/// Keeps the background tasks alive (dropping it stops them).
struct Background {
    _reconnector: attune_listen::reconnect::Reconnector,
    _watcher: Option<notify::RecommendedWatcher>,
}

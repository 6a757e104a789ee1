//! Attune's desktop app: a thin Tauri shell over `attune-flow` (docs/design.md §8). Commands and
//! the `attune://status` event are the contract with `ui/` (docs/app.md); the tray, notifications,
//! logging and the background tasks live here too.
//!
//! **Architecture invariant:** the only crate that knows the UI's command and event names; it
//! decides nothing about keying in or out — every such decision is the flow's.

pub mod adjustments;
pub mod commands;
pub mod diagnostics;
pub mod error;
pub mod listeners;
pub mod restart;
pub mod shell;
pub mod tray;
pub mod webview;

pub use attune_tray::{logging, notices};

/// The commands' names (also read by build.rs).
pub mod command_names {
    include!("command_names.rs");
}

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use tauri::{AppHandle, Manager, RunEvent, Runtime};

pub use error::AppError;
pub use shell::{AppStatus, Shell};

/// The label of the one window.
pub const MAIN_WINDOW: &str = "main";

/// Registers the shell's state and commands on `builder` (the real app and the tests share
/// this; the tests use Tauri's mock runtime).
pub fn register<R: Runtime>(builder: tauri::Builder<R>, shell: Shell) -> tauri::Builder<R> {
    builder
        .manage(shell)
        .invoke_handler(tauri::generate_handler![
            commands::get_status,
            commands::list_snapsets,
            commands::key_in,
            commands::key_out,
            commands::relogin,
            commands::set_preference,
            commands::capture_desktop,
            commands::save_capture,
            commands::forget_me,
            commands::save_to_stick,
            commands::get_diagnostics,
            commands::support_bundle,
        ])
}

/// What the command line asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Launch {
    /// Open the window (the default).
    Window,
    /// `--background`: the tray and the listeners, no window until asked (autostart at login).
    Background,
    Help,
    Version,
}

/// `attune-app --help`.
pub const HELP: &str =
    "attune-app: Attune's desktop app. Key in to apply your accessibility preferences to this
computer; key out (or pull your USB key) to put it back as it was.

Usage: attune-app [--background]

  --background   Start in the tray without a window (the login autostart entry uses it).
                 \"Open\" in the tray menu, or starting attune-app again, opens the window.
  -h, --help     Show this help.
  -V, --version  Show the version.

In the background Attune is `attune tray`, the lean tray beside this program: the USB-key and
local-API listeners, a shared computer's rules, notifications and the tray icon, without GTK or
WebKit (ATTUNE_LEAN_TRAY=0 keeps the app itself in the tray). Opening the window hands over to
the app in the same process. Closing the window keeps Attune running; a minute later it becomes
the lean tray again, leaving the window's memory behind (ATTUNE_TRAY_RESTART_SECONDS sets the
wait, 0 never). Quit from the tray menu.
Configuration: /etc/attune/site.toml (docs/operations.md).
";

impl Launch {
    /// The launch the arguments (without the program's name) ask for. Arguments it does not know
    /// are ignored, not refused: the desktop and test drivers may add their own.
    pub fn of<S: AsRef<str>>(args: &[S]) -> Launch {
        let has = |names: &[&str]| args.iter().any(|a| names.contains(&a.as_ref()));
        if has(&["-h", "--help"]) {
            Launch::Help
        } else if has(&["-V", "--version"]) {
            Launch::Version
        } else if has(&["--background"]) {
            Launch::Background
        } else {
            Launch::Window
        }
    }
}

/// Opens the window: shows and focuses it if it exists, else creates it (and its web view) from
/// the configuration (tray "Open", a second launch, a start without `--background`).
pub fn open_window<R: Runtime>(app: &AppHandle<R>) {
    if let Some(w) = app.get_webview_window(MAIN_WINDOW) {
        let _ = w.show();
        let _ = w.unminimize();
        let _ = w.set_focus();
        return;
    }
    let Some(config) = app
        .config()
        .app
        .windows
        .iter()
        .find(|w| w.label == MAIN_WINDOW)
        .cloned()
    else {
        tracing::error!("no window in the app's configuration");
        return;
    };
    // A window asked for by the lean tray's hand-over counts from that ask, the exec included.
    let asked = take_asked_at().unwrap_or_else(std::time::Instant::now);
    // The window's title follows the page's (the state, then "— Attune"): it is what a screen
    // reader says when switching windows, and what the window list shows.
    let built = tauri::WebviewWindowBuilder::from_config(app, &config).and_then(|b| {
        b.on_document_title_changed(|window, title| {
            if let Err(e) = window.set_title(&title) {
                tracing::warn!(error = %e, "cannot set the window's title");
            }
        })
        .build()
    });
    match built {
        Ok(window) => {
            webview::tune(&window);
            let shell = app.state::<Shell>();
            shell.window_generation.fetch_add(1, Ordering::SeqCst);
            if let Ok(mut opened) = shell.window_opened.lock() {
                *opened = Some(asked);
            }
            tracing::info!(ms = asked.elapsed().as_millis() as u64, "window created");
        }
        Err(e) => tracing::error!(error = %e, "cannot create the window"),
    }
}

/// When the lean tray was asked for the window it handed over to this process for (once: a
/// later window counts from its own ask).
fn take_asked_at() -> Option<std::time::Instant> {
    use attune_tray::host::{asked_ago, OPEN_ASKED_ENV};
    let value = std::env::var(OPEN_ASKED_ENV).ok();
    std::env::remove_var(OPEN_ASKED_ENV);
    let ago = asked_ago(value.as_deref(), std::time::SystemTime::now())?;
    std::time::Instant::now().checked_sub(ago)
}

/// `--background` becomes the lean tray (`attune tray`, beside this program) unless
/// `ATTUNE_LEAN_TRAY=0`: the tray without WebKit's memory. Returns only if it did not (no such
/// program, or the exec failed), and the app then runs in the tray itself.
fn become_lean_tray() {
    use attune_tray::host::{lean_wanted, sibling, LEAN_ENV};
    if !lean_wanted(std::env::var(LEAN_ENV).ok().as_deref()) {
        return;
    }
    let Some(lean) = std::env::current_exe()
        .ok()
        .and_then(|me| sibling(&me, "attune"))
    else {
        eprintln!("attune-app: no attune program beside this one; running in the tray as the app");
        return;
    };
    use std::os::unix::process::CommandExt;
    let e = std::process::Command::new(&lean).arg("tray").exec();
    eprintln!(
        "attune-app: cannot start the lean tray {}: {e}; running in the tray as the app",
        lean.display()
    );
}

/// Carries out what the tray's menu asks for.
fn on_tray_menu<R: Runtime>(app: &AppHandle<R>, action: tray::MenuAction) {
    match action {
        tray::MenuAction::ShowWindow => open_window(app),
        tray::MenuAction::KeyIn(key) => shell::spawn_key_in(app.clone(), key),
        tray::MenuAction::KeyOut => shell::spawn_key_out(app.clone()),
        tray::MenuAction::Quit => app.exit(0),
    }
}

/// Whether the app goes on when its window is closed: with a tray (which reopens it), or when
/// started in the background (the listeners keep running; a second launch reopens it). Without
/// either, closing quits: nothing could reopen the window.
fn keeps_running<R: Runtime>(app: &AppHandle<R>, launch: Launch) -> bool {
    launch == Launch::Background
        || app
            .state::<Shell>()
            .tray
            .lock()
            .map(|t| t.available)
            .unwrap_or(false)
}

/// Starts the app afresh in the tray ([`restart`]) once the window has stayed closed for the
/// configured while, if nothing is under way then.
fn schedule_restart<R: Runtime>(app: &AppHandle<R>) {
    let Some(after) = restart::after(std::env::var(restart::AFTER_ENV).ok().as_deref()) else {
        return;
    };
    let generation = app
        .state::<Shell>()
        .window_generation
        .load(Ordering::SeqCst);
    let app = app.clone();
    let unchanged = move |app: &AppHandle<R>| {
        app.state::<Shell>()
            .window_generation
            .load(Ordering::SeqCst)
            == generation
            && app.get_webview_window(MAIN_WINDOW).is_none()
    };
    let spawned = std::thread::Builder::new()
        .name("attune-app-restart".to_owned())
        .spawn(move || {
            // A timer, not a synchronisation: the restart is due this long after the close.
            std::thread::sleep(after);
            if !unchanged(&app) {
                return;
            }
            if let Some(hosted) = app.try_state::<listeners::Hosted>() {
                hosted.quiesce();
            }
            let lock = match app.state::<Shell>().flow() {
                Ok(flow) => match attune_flow::StateLock::acquire(
                    &flow.paths().lock_file(),
                    Duration::from_secs(30),
                ) {
                    Ok(lock) => Some(lock),
                    Err(e) => {
                        tracing::warn!(error = %e, "not starting afresh: the state is busy");
                        return;
                    }
                },
                Err(_) => None,
            };
            if !unchanged(&app) {
                return;
            }
            // Held until the exec closes its file: no key-in or key-out starts meanwhile.
            std::mem::forget(lock);
            tracing::info!("starting afresh in the tray");
            app.exit(restart::EXIT_CODE);
        });
    if let Err(e) = spawned {
        tracing::warn!(error = %e, "cannot schedule the restart in the tray");
    }
}

/// Runs the app; returns the process's exit code.
pub fn run() -> i32 {
    let started = std::time::Instant::now();
    webview::prepare_environment();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let launch = Launch::of(&args);
    match launch {
        Launch::Help => {
            print!("{HELP}");
            return 0;
        }
        Launch::Version => {
            println!("attune-app {}", env!("CARGO_PKG_VERSION"));
            return 0;
        }
        Launch::Background => become_lean_tray(),
        Launch::Window => {}
    }
    let paths = attune_flow::Paths::from_env().ok();
    let log_dir = paths.as_ref().map(|p| logging::dir_in(&p.data_dir));
    let log_guard = logging::init(log_dir.as_deref());
    let flow = attune_flow::Flow::from_env(None).map_err(|e| {
        tracing::error!(kind = e.kind(), error = %e, "starting without a flow");
        AppError::from(e)
    });
    let notifier: Arc<dyn notices::Notifier> =
        Arc::new(notices::DesktopNotifier::probe_in_background());
    let snapsets: Vec<(String, String)> = flow
        .as_ref()
        .ok()
        .filter(|f| f.config().profile == attune_flow::Profile::Testing)
        .and_then(|f| f.snapsets().ok())
        .map(|v| v.into_iter().map(|s| (s.key, s.name)).collect())
        .unwrap_or_default();
    let shell = Shell::new(flow, notifier, log_dir);

    // A second launch opens the window of the running one; a second autostart does nothing.
    let builder =
        tauri::Builder::default().plugin(tauri_plugin_single_instance::init(|app, args, _cwd| {
            if Launch::of(args.get(1..).unwrap_or_default()) != Launch::Background {
                open_window(app);
            }
        }));
    let app = register(builder, shell)
        .setup(move |app| {
            let handle = app.handle();
            // The window first: WebKit starts its processes while the tray and the background
            // tasks are made (the open time counts from the ask).
            if launch == Launch::Window {
                open_window(handle);
            }
            let tray = match tray::build(handle, &snapsets, on_tray_menu) {
                Ok(_) => notices::Availability::yes(),
                Err(why) => {
                    tracing::warn!(reason = ?why.reason, "no tray");
                    why
                }
            };
            if let Ok(mut t) = app.state::<Shell>().tray.lock() {
                *t = tray;
            }
            shell::start_background(handle);
            tracing::info!(
                ms = started.elapsed().as_millis() as u64,
                background = launch == Launch::Background,
                "started"
            );
            Ok(())
        })
        .build(tauri::generate_context!());
    match app {
        Ok(app) => {
            // Closing the window destroys it and its web view (WebKit's web process ends with
            // it); the app goes on in the tray when it can be reopened from there, and starts
            // afresh there after a while (crate::restart).
            let code = app.run_return(move |app, event| {
                if let RunEvent::ExitRequested {
                    code: None, api, ..
                } = event
                {
                    if keeps_running(app, launch) {
                        tracing::info!("window closed; running in the background");
                        api.prevent_exit();
                        schedule_restart(app);
                    }
                }
            });
            if code == restart::EXIT_CODE {
                drop(log_guard);
                return restart::exec_in_tray();
            }
            code
        }
        Err(e) => {
            tracing::error!(error = %e, "the app could not start");
            eprintln!("attune-app: cannot start: {e}");
            1
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_picks_the_launch_and_ignores_what_it_does_not_know() {
        assert_eq!(Launch::of::<&str>(&[]), Launch::Window);
        assert_eq!(Launch::of(&["--background"]), Launch::Background);
        assert_eq!(
            Launch::of(&["--automation", "--background"]),
            Launch::Background
        );
        assert_eq!(Launch::of(&["--something"]), Launch::Window);
        assert_eq!(Launch::of(&["--background", "-h"]), Launch::Help);
        assert_eq!(Launch::of(&["--version"]), Launch::Version);
    }

    #[test]
    fn the_lean_tray_answers_for_this_apps_single_instance_name() {
        let conf: serde_json::Value =
            serde_json::from_str(include_str!("../tauri.conf.json")).unwrap();
        assert_eq!(conf["identifier"], attune_tray::single_instance::APP_ID);
    }
}

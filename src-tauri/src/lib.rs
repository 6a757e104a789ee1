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
pub mod logging;
pub mod notices;
pub mod shell;
pub mod tray;
pub mod webview;

/// The commands' names (also read by build.rs).
pub mod command_names {
    include!("command_names.rs");
}

use std::sync::Arc;

use tauri::{AppHandle, Manager, Runtime, WindowEvent};

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
            commands::get_diagnostics,
            commands::support_bundle,
        ])
}

/// Shows, unminimises and focuses the window (tray "Open", a second launch).
pub fn show_window<R: Runtime>(app: &AppHandle<R>) {
    if let Some(w) = app.get_webview_window(MAIN_WINDOW) {
        let _ = w.show();
        let _ = w.unminimize();
        let _ = w.set_focus();
    }
}

/// Carries out what the tray's menu asks for.
fn on_tray_menu<R: Runtime>(app: &AppHandle<R>, action: tray::MenuAction) {
    match action {
        tray::MenuAction::ShowWindow => show_window(app),
        tray::MenuAction::KeyIn(key) => shell::spawn_key_in(app.clone(), key),
        tray::MenuAction::KeyOut => shell::spawn_key_out(app.clone()),
        tray::MenuAction::Quit => app.exit(0),
    }
}

/// Runs the app; returns the process's exit code.
pub fn run() -> i32 {
    let started = std::time::Instant::now();
    let paths = attune_flow::Paths::from_env().ok();
    let log_dir = paths.as_ref().map(|p| logging::dir_in(&p.data_dir));
    let _log_guard = logging::init(log_dir.as_deref());
    let flow = attune_flow::Flow::from_env(None).map_err(|e| {
        tracing::error!(kind = e.kind(), error = %e, "starting without a flow");
        AppError::from(e)
    });
    let notifier: Arc<dyn notices::Notifier> = Arc::new(notices::DesktopNotifier::probe());
    let snapsets: Vec<(String, String)> = flow
        .as_ref()
        .ok()
        .filter(|f| f.config().profile == attune_flow::Profile::Testing)
        .and_then(|f| f.snapsets().ok())
        .map(|v| v.into_iter().map(|s| (s.key, s.name)).collect())
        .unwrap_or_default();
    let shell = Shell::new(flow, notifier, log_dir);

    let builder =
        tauri::Builder::default().plugin(tauri_plugin_single_instance::init(|app, _args, _cwd| {
            show_window(app)
        }));
    let app = register(builder, shell)
        .setup(move |app| {
            let handle = app.handle();
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
            if let Some(window) = app.get_webview_window(MAIN_WINDOW) {
                webview::tune(&window);
            }
            shell::start_background(handle);
            tracing::info!(ms = started.elapsed().as_millis() as u64, "window set up");
            Ok(())
        })
        .on_window_event(|window, event| {
            // With a tray, closing the window only hides it: Attune keeps the session and
            // restores at key-out. Without one, closing quits (nothing could reopen it).
            if let WindowEvent::CloseRequested { api, .. } = event {
                let has_tray = window
                    .app_handle()
                    .state::<Shell>()
                    .tray
                    .lock()
                    .map(|t| t.available)
                    .unwrap_or(false);
                if has_tray {
                    api.prevent_close();
                    let _ = window.hide();
                }
            }
        })
        .build(tauri::generate_context!());
    match app {
        Ok(app) => {
            app.run(|_, _| {});
            0
        }
        Err(e) => {
            tracing::error!(error = %e, "the app could not start");
            eprintln!("attune-app: cannot start: {e}");
            1
        }
    }
}

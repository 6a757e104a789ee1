//! The app's commands through Tauri's mock runtime and the app's real capabilities, on a
//! throw-away desktop (temp HOME and XDG dirs, GSettings keyfile backend), testing profile.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod commands;
mod listeners;
mod notifications;
#[path = "../support/session_bus.rs"]
mod session_bus;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use attune_app::notices::{Notice, Notifier, RecordingNotifier};
use attune_app::Shell;
use attune_flow::Sources;
use attune_flow::{Config, Flow, Paths, Profile};
use serde_json::Value;
use tauri::test::{get_ipc_response, mock_builder, MockRuntime, INVOKE_KEY};
use tauri::{App, Listener, Manager, WebviewWindow};

/// The process's one throw-away desktop. GSettings reads its backend from the environment once
/// per process, so every test here shares it and takes [`serial`] while it runs.
pub fn desktop() -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        for d in ["home", "config", "data", "state", "cache", "runtime"] {
            std::fs::create_dir_all(dir.path().join(d)).unwrap();
        }
        let p = |d: &str| dir.path().join(d);
        // Edition 2021: set_var is safe; it runs once, before any test touches GSettings.
        std::env::set_var("HOME", p("home"));
        std::env::set_var("XDG_CONFIG_HOME", p("config"));
        std::env::set_var("XDG_DATA_HOME", p("data"));
        std::env::set_var("XDG_STATE_HOME", p("state"));
        std::env::set_var("XDG_CACHE_HOME", p("cache"));
        std::env::set_var("XDG_RUNTIME_DIR", p("runtime"));
        std::env::set_var("GSETTINGS_BACKEND", "keyfile");
        dir
    })
    .path()
}

/// One test at a time on the shared desktop.
pub fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// A testing-profile flow with its own state under a fresh dir.
pub fn testing_flow(root: &Path) -> Flow {
    let config = Config::load(&Sources {
        profile_override: Some(Profile::Testing),
        site_file: None,
        user_file: None,
        env: BTreeMap::new(),
    })
    .unwrap();
    Flow::new(config, Paths::under(root)).unwrap()
}

pub struct Harness {
    pub app: App<MockRuntime>,
    pub window: WebviewWindow<MockRuntime>,
    pub notices: Arc<RecordingNotifier>,
    pub events: Arc<Mutex<Vec<Value>>>,
    pub root: tempfile::TempDir,
    _serial: MutexGuard<'static, ()>,
}

impl Default for Harness {
    fn default() -> Self {
        Self::new()
    }
}

impl Harness {
    pub fn new() -> Harness {
        let guard = serial();
        desktop();
        let root = tempfile::tempdir().unwrap();
        let flow = testing_flow(root.path());
        Self::with_flow(Ok(flow), root, guard)
    }

    pub fn with_flow(
        flow: Result<Flow, attune_app::AppError>,
        root: tempfile::TempDir,
        guard: MutexGuard<'static, ()>,
    ) -> Harness {
        let notices = Arc::new(RecordingNotifier::default());
        let notifier: Arc<dyn Notifier> = notices.clone();
        let shell = Shell::new(flow, notifier, Some(root.path().join("logs")));
        let app = attune_app::register(mock_builder(), shell)
            .build(tauri::generate_context!())
            .unwrap();
        let window = match app.get_webview_window("main") {
            Some(w) => w,
            None => tauri::WebviewWindowBuilder::new(&app, "main", Default::default())
                .build()
                .unwrap(),
        };
        let events = Arc::new(Mutex::new(Vec::new()));
        let sink = events.clone();
        app.listen(attune_app::shell::STATUS_EVENT, move |e| {
            sink.lock()
                .unwrap()
                .push(serde_json::from_str(e.payload()).unwrap());
        });
        Harness {
            app,
            window,
            notices,
            events,
            root,
            _serial: guard,
        }
    }

    /// Invokes a command as the UI does; `Err` is the rejected value.
    pub fn invoke(&self, cmd: &str, args: Value) -> Result<Value, Value> {
        get_ipc_response(
            &self.window,
            tauri::webview::InvokeRequest {
                cmd: cmd.into(),
                callback: tauri::ipc::CallbackFn(0),
                error: tauri::ipc::CallbackFn(1),
                url: "tauri://localhost".parse().unwrap(),
                body: tauri::ipc::InvokeBody::Json(args),
                headers: Default::default(),
                invoke_key: INVOKE_KEY.to_string(),
            },
        )
        .map(|b| b.deserialize::<Value>().unwrap())
    }

    pub fn notices(&self) -> Vec<Notice> {
        self.notices.seen.lock().unwrap().clone()
    }

    pub fn last_event(&self) -> Option<Value> {
        self.events.lock().unwrap().last().cloned()
    }
}

/// `gsettings get` on the test desktop.
pub fn gsettings_get(schema: &str, key: &str) -> String {
    let out = std::process::Command::new("gsettings")
        .args(["get", schema, key])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

pub fn bin_path(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|d| Path::new(d).join(name))
        .find(|p| p.exists())
}

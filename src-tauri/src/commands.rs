//! The app's commands (docs/app.md): each runs the flow on a blocking thread, answers the UI
//! with the flow's outcome or an [`AppError`], and refreshes the status after any change.

use attune_flow::Message;
use attune_flow::{
    CaptureOutcome, KeyInOutcome, RecoverOutcome, SaveCaptureOutcome, SetOutcome, SnapsetInfo,
};
use tauri::{AppHandle, Manager, Runtime, State};

use crate::diagnostics::{self, Diagnostics};
use crate::error::AppError;
use crate::shell::{self, blocking, AppStatus, Shell};

/// A key as it may be logged: the flow's short fingerprint.
fn fingerprint(key: &str) -> String {
    attune_model::key::Key::parse(key)
        .map(|k| format!("key#{}", k.fingerprint()))
        .unwrap_or_else(|_| "key#invalid".to_owned())
}

/// Logs how a command that may have changed the session ended, then refreshes the status.
async fn finish<R: Runtime, T>(
    app: &AppHandle<R>,
    command: &str,
    r: Result<T, AppError>,
) -> Result<T, AppError> {
    match &r {
        Ok(_) => tracing::info!(command, "done"),
        Err(e) => tracing::warn!(command, kind = %e.kind, "failed"),
    }
    shell::refresh(app).await;
    r
}

/// [`finish`] for a key-in (a relogin keys in again): first tells about an interrupted key-in it
/// finished before.
async fn finish_key_in<R: Runtime>(
    app: &AppHandle<R>,
    state: &Shell,
    command: &str,
    r: Result<KeyInOutcome, AppError>,
) -> Result<KeyInOutcome, AppError> {
    if let Ok(o) = &r {
        shell::notice_finished_first(state, o);
    }
    finish(app, command, r).await
}

#[tauri::command]
pub async fn get_status(state: State<'_, Shell>) -> Result<AppStatus, AppError> {
    let (listeners, stick) = (state.listeners(), state.stick_in());
    let r = blocking(&state, move |f| {
        shell::app_status(f, listeners, stick.as_deref())
    })
    .await;
    shell::log_window_shown(&state, &r);
    r
}

#[tauri::command]
pub async fn list_snapsets(state: State<'_, Shell>) -> Result<Vec<SnapsetInfo>, AppError> {
    blocking(&state, |f| {
        if f.config().profile == attune_flow::Profile::Testing {
            f.snapsets()
        } else {
            Ok(Vec::new())
        }
    })
    .await
}

#[tauri::command]
pub async fn key_in<R: Runtime>(
    app: AppHandle<R>,
    state: State<'_, Shell>,
    key: String,
) -> Result<KeyInOutcome, AppError> {
    tracing::info!(key = %fingerprint(&key), "key_in");
    let r = blocking(&state, move |f| f.key_in(&key)).await;
    finish_key_in(&app, &state, "key_in", r).await
}

#[tauri::command]
pub async fn key_out<R: Runtime>(
    app: AppHandle<R>,
    state: State<'_, Shell>,
) -> Result<RecoverOutcome, AppError> {
    let r = blocking(&state, |f| f.key_out()).await;
    finish(&app, "key_out", r).await
}

#[tauri::command]
pub async fn relogin<R: Runtime>(
    app: AppHandle<R>,
    state: State<'_, Shell>,
) -> Result<KeyInOutcome, AppError> {
    let r = blocking(&state, |f| f.relogin()).await;
    finish_key_in(&app, &state, "relogin", r).await
}

#[tauri::command]
pub async fn set_preference<R: Runtime>(
    app: AppHandle<R>,
    state: State<'_, Shell>,
    term: String,
    value: serde_json::Value,
) -> Result<SetOutcome, AppError> {
    let term = crate::adjustments::term_for(&term);
    // The term is logged, its value never is.
    tracing::info!(term = %term, "set_preference");
    let r = blocking(&state, move |f| f.set(&term, value)).await;
    finish(&app, "set_preference", r).await
}

/// "Save these settings as mine", step one: the desktop's settings as they are now, in words,
/// each with the id the page ticks it by. Changes nothing.
#[tauri::command]
pub async fn capture_desktop(state: State<'_, Shell>) -> Result<CaptureOutcome, AppError> {
    blocking(&state, |f| f.capture()).await
}

/// Step two: saves the ticked items (`ids`) as the keyed-in person's preferences.
#[tauri::command]
pub async fn save_capture<R: Runtime>(
    app: AppHandle<R>,
    state: State<'_, Shell>,
    ids: Vec<String>,
) -> Result<SaveCaptureOutcome, AppError> {
    // How many, never which: the ids name the person's settings.
    tracing::info!(items = ids.len(), "save_capture");
    let r = blocking(&state, move |f| f.save_capture(Some(&ids))).await;
    finish(&app, "save_capture", r).await
}

/// "Forget me" (docs/design.md §10.3): the keyed-in person forgotten on this computer, or
/// everywhere (the cloud first); keyed out first. Unsent changes reject with `unsent_changes`
/// (listed) unless `drop_unsent`.
#[tauri::command]
pub async fn forget_me<R: Runtime>(
    app: AppHandle<R>,
    state: State<'_, Shell>,
    everywhere: bool,
    drop_unsent: bool,
) -> Result<attune_flow::ForgetOutcome, AppError> {
    tracing::info!(everywhere, drop_unsent, "forget_me");
    let reach = if everywhere {
        attune_flow::ForgetReach::Everywhere
    } else {
        attune_flow::ForgetReach::ThisComputer
    };
    let r = blocking(&state, move |f| f.forget(None, reach, drop_unsent)).await;
    finish(&app, "forget_me", r).await
}

/// "Save my settings to this USB key" (docs/design.md §10.3): the keyed-in person's key and
/// preferences, sealed under their key, written to the stick the app's listener saw come in.
/// The page names no folder: only a stick that is in can be written.
#[tauri::command]
pub async fn save_to_stick<R: Runtime>(
    app: AppHandle<R>,
    state: State<'_, Shell>,
) -> Result<attune_flow::StickWriteOutcome, AppError> {
    tracing::info!("save_to_stick");
    let Some(dir) = state.stick_in() else {
        return Err(AppError {
            kind: crate::error::ErrorKind::NotAvailable,
            message: Message::NoUsbKeyIn.text().to_owned(),
        });
    };
    let r = blocking(&state, move |f| f.write_stick(&dir)).await;
    finish(&app, "save_to_stick", r).await
}

#[tauri::command]
pub async fn get_diagnostics<R: Runtime>(app: AppHandle<R>) -> Result<Diagnostics, AppError> {
    on_shell(app, diagnostics::collect).await
}

#[tauri::command]
pub async fn support_bundle<R: Runtime>(app: AppHandle<R>) -> Result<String, AppError> {
    tracing::info!("support bundle made");
    on_shell(app, diagnostics::support_bundle).await
}

/// Runs `f` over the shell's state on a blocking thread (it reads files).
async fn on_shell<R, T, F>(app: AppHandle<R>, f: F) -> Result<T, AppError>
where
    R: Runtime,
    T: Send + 'static,
    F: FnOnce(&Shell) -> T + Send + 'static,
{
    tauri::async_runtime::spawn_blocking(move || f(&app.state::<Shell>()))
        .await
        .map_err(|e| AppError::internal(Message::AppTaskDidNotFinish.with(&[("error", &e)])))
}

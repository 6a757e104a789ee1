//! The tray icon (docs/design.md §8): its look and tooltip show the status's [`Indicator`] (decided
//! in the flow, not here), its menu asks to key in and out (the caller carries that out, so the
//! tray imports no shell). The app-indicator library is loaded at run time; where it is missing
//! the tray is reported unavailable in Diagnostics and the app goes on without it.

use attune_flow::Message;
use attune_flow::{Indicator, Tone};
use tauri::image::Image;
use tauri::menu::{Menu, MenuItem, PredefinedMenuItem, Submenu};
use tauri::tray::{TrayIcon, TrayIconBuilder};
use tauri::{AppHandle, Runtime};

use crate::notices::Availability;
pub use attune_tray::menu::{icon_rgba, MenuAction};

fn image(tone: Tone) -> Image<'static> {
    Image::new_owned(icon_rgba(tone), 32, 32)
}

/// Builds the tray; never panics (the indicator library may be missing).
/// `on_menu` carries out what a menu item asks for.
pub fn build<R: Runtime>(
    app: &AppHandle<R>,
    snapsets: &[(String, String)],
    on_menu: impl Fn(&AppHandle<R>, MenuAction) + Send + Sync + 'static,
) -> Result<TrayIcon<R>, Availability> {
    let built = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        try_build(app, snapsets, on_menu)
    }));
    match built {
        Ok(Ok(t)) => Ok(t),
        Ok(Err(e)) => Err(Availability::no(
            Message::AppTrayCouldNotBeMade.with(&[("error", &e)]),
        )),
        Err(p) => {
            let why = p
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                .unwrap_or_else(|| Message::AppIndicatorLibraryFailed.text().to_owned());
            Err(Availability::no(Message::AppNoTray.with(&[("why", &why)])))
        }
    }
}

fn try_build<R: Runtime>(
    app: &AppHandle<R>,
    snapsets: &[(String, String)],
    on_menu: impl Fn(&AppHandle<R>, MenuAction) + Send + Sync + 'static,
) -> tauri::Result<TrayIcon<R>> {
    let item = |id: &str, m: Message| MenuItem::with_id(app, id, m.text(), true, None::<&str>);
    let key_in = item("key_in", Message::MenuKeyIn)?;
    let key_out = item("key_out", Message::MenuKeyOut)?;
    let open = item("open", Message::MenuOpen)?;
    let quit = item("quit", Message::MenuQuit)?;
    let sep = PredefinedMenuItem::separator(app)?;
    let menu = Menu::with_items(app, &[&key_in])?;
    if !snapsets.is_empty() {
        let sub = Submenu::with_id(app, "snapsets", Message::MenuSnapsets.text(), true)?;
        for (key, name) in snapsets {
            sub.append(&MenuItem::with_id(
                app,
                format!("snapset:{key}"),
                name,
                true,
                None::<&str>,
            )?)?;
        }
        menu.append(&sub)?;
    }
    menu.append_items(&[&key_out, &sep, &open, &quit])?;
    let idle = Indicator::default();
    TrayIconBuilder::with_id("attune")
        .icon(image(idle.tone()))
        .tooltip(idle.tooltip().text())
        .menu(&menu)
        .on_menu_event(move |app, event| {
            if let Some(action) = MenuAction::of(event.id.as_ref()) {
                on_menu(app, action);
            }
        })
        .build(app)
}

/// Shows `indicator` on the tray, if there is one.
pub fn show<R: Runtime>(app: &AppHandle<R>, indicator: &Indicator) {
    if let Some(tray) = app.tray_by_id("attune") {
        if let Err(e) = tray.set_icon(Some(image(indicator.tone()))) {
            tracing::warn!(error = %e, "cannot change the tray icon");
        }
        let _ = tray.set_tooltip(Some(indicator.tooltip().text()));
    }
}

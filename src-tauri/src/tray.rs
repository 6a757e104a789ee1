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

/// What a tray menu item asks for (the caller carries it out: the tray knows no flow).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MenuAction {
    /// "Key in…" and "Open": show the window.
    ShowWindow,
    KeyIn(String),
    KeyOut,
    Quit,
}

impl MenuAction {
    /// The action of a menu item's id, if it is one of ours.
    pub fn of(id: &str) -> Option<MenuAction> {
        match id {
            "key_in" | "open" => Some(MenuAction::ShowWindow),
            "key_out" => Some(MenuAction::KeyOut),
            "quit" => Some(MenuAction::Quit),
            _ => id
                .strip_prefix("snapset:")
                .map(|key| MenuAction::KeyIn(key.to_owned())),
        }
    }
}

/// A 32×32 RGBA icon for a tone, drawn from simple shapes, distinct in shape as well as colour
/// (so it reads without colour vision): neutral a ring, ok a disc, offline a half disc,
/// attention a disc with a bar, testing a square, busy a ring with a quarter open.
pub fn icon_rgba(tone: Tone) -> Vec<u8> {
    const N: usize = 32;
    let (r, g, b) = match tone {
        Tone::Neutral => (120, 120, 120),
        Tone::Ok => (22, 163, 74),
        Tone::Offline => (217, 119, 6),
        Tone::Attention => (220, 38, 38),
        Tone::Testing => (124, 58, 237),
        Tone::Busy => (37, 99, 235),
    };
    let mut px = vec![0u8; N * N * 4];
    let c = (N as f32 - 1.0) / 2.0;
    for y in 0..N {
        for x in 0..N {
            let (dx, dy) = (x as f32 - c, y as f32 - c);
            let d = (dx * dx + dy * dy).sqrt();
            let on = match tone {
                Tone::Neutral => (10.0..=15.0).contains(&d),
                Tone::Ok => d <= 15.0,
                Tone::Offline => d <= 15.0 && (dx <= 0.0 || d >= 11.0),
                Tone::Attention => d <= 15.0 && !(dx.abs() <= 2.0 && dy.abs() <= 9.0),
                Tone::Testing => dx.abs() <= 13.0 && dy.abs() <= 13.0,
                Tone::Busy => (10.0..=15.0).contains(&d) && !(dx > 0.0 && dy < 0.0),
            };
            if on {
                let i = (y * N + x) * 4;
                px[i..i + 4].copy_from_slice(&[r, g, b, 255]);
            }
        }
    }
    px
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_tone_has_its_own_icon() {
        let all = Tone::ALL;
        for (i, a) in all.iter().enumerate() {
            assert_eq!(icon_rgba(*a).len(), 32 * 32 * 4);
            for b in &all[i + 1..] {
                assert_ne!(icon_rgba(*a), icon_rgba(*b), "{a:?} vs {b:?}");
            }
        }
    }

    #[test]
    fn menu_ids_map_to_actions() {
        assert_eq!(MenuAction::of("open"), Some(MenuAction::ShowWindow));
        assert_eq!(MenuAction::of("key_out"), Some(MenuAction::KeyOut));
        assert_eq!(
            MenuAction::of("snapset:snapset_1a"),
            Some(MenuAction::KeyIn("snapset_1a".to_owned()))
        );
        assert_eq!(MenuAction::of("other"), None);
    }
}

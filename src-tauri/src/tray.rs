//! The tray icon (DESIGN §8): its look follows the state, its menu keys in and out. The
//! app-indicator library is loaded at run time; where it is missing the tray is reported
//! unavailable in Diagnostics and the app goes on without it.

use tauri::image::Image;
use tauri::menu::{Menu, MenuItem, PredefinedMenuItem, Submenu};
use tauri::tray::{TrayIcon, TrayIconBuilder};
use tauri::{AppHandle, Runtime};

use crate::notices::Availability;

/// What the tray shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrayState {
    Idle,
    Online,
    /// Keyed in from saved settings or a snapset because the cloud is unreachable.
    Offline,
    /// The person or an admin should look: stale token, version mismatch, restore incomplete.
    Attention,
    /// Testing profile, keyed in from a snapset.
    Testing,
}

impl TrayState {
    /// The state for a status (a pure decision; the tests pin it).
    pub fn of(s: &attune_flow::Status) -> TrayState {
        let attention_conn = matches!(
            s.connectivity.map(|c| c.as_str()),
            Some("auth_stale" | "version_mismatch")
        );
        match s.state.as_str() {
            "interrupted" | "restoring" => TrayState::Attention,
            "idle" if s.journal == "open" => TrayState::Attention,
            "active" if attention_conn => TrayState::Attention,
            "active" if s.profile == attune_flow::Profile::Testing => TrayState::Testing,
            "active"
                if s.source == Some("cloud")
                    && s.connectivity.map(|c| c.as_str()) != Some("offline") =>
            {
                TrayState::Online
            }
            "active" => TrayState::Offline,
            _ => TrayState::Idle,
        }
    }

    pub fn tooltip(self) -> &'static str {
        match self {
            TrayState::Idle => "Attune: nobody is keyed in",
            TrayState::Online => "Attune: your settings are applied",
            TrayState::Offline => "Attune: offline, using saved settings",
            TrayState::Attention => "Attune: needs attention",
            TrayState::Testing => "Attune (testing): snapset applied",
        }
    }

    /// A 32×32 RGBA icon drawn from simple shapes, distinct in shape as well as colour (so it
    /// reads without colour vision): idle a ring, online a disc, offline a half disc,
    /// attention a disc with a bar, testing a square.
    pub fn icon_rgba(self) -> Vec<u8> {
        const N: usize = 32;
        let (r, g, b) = match self {
            TrayState::Idle => (120, 120, 120),
            TrayState::Online => (22, 163, 74),
            TrayState::Offline => (217, 119, 6),
            TrayState::Attention => (220, 38, 38),
            TrayState::Testing => (124, 58, 237),
        };
        let mut px = vec![0u8; N * N * 4];
        let c = (N as f32 - 1.0) / 2.0;
        for y in 0..N {
            for x in 0..N {
                let (dx, dy) = (x as f32 - c, y as f32 - c);
                let d = (dx * dx + dy * dy).sqrt();
                let on = match self {
                    TrayState::Idle => (10.0..=15.0).contains(&d),
                    TrayState::Online => d <= 15.0,
                    TrayState::Offline => d <= 15.0 && (dx <= 0.0 || d >= 11.0),
                    TrayState::Attention => d <= 15.0 && !(dx.abs() <= 2.0 && dy.abs() <= 9.0),
                    TrayState::Testing => dx.abs() <= 13.0 && dy.abs() <= 13.0,
                };
                if on {
                    let i = (y * N + x) * 4;
                    px[i..i + 4].copy_from_slice(&[r, g, b, 255]);
                }
            }
        }
        px
    }

    pub fn image(self) -> Image<'static> {
        Image::new_owned(self.icon_rgba(), 32, 32)
    }
}

/// Builds the tray; never panics (the indicator library may be missing).
pub fn build<R: Runtime>(
    app: &AppHandle<R>,
    snapsets: &[(String, String)],
) -> Result<TrayIcon<R>, Availability> {
    let built = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| try_build(app, snapsets)));
    match built {
        Ok(Ok(t)) => Ok(t),
        Ok(Err(e)) => Err(Availability::no(format!("the tray could not be made: {e}"))),
        Err(p) => {
            let why = p
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                .unwrap_or_else(|| "the indicator library failed".to_owned());
            Err(Availability::no(format!("no tray on this desktop: {why}")))
        }
    }
}

fn try_build<R: Runtime>(
    app: &AppHandle<R>,
    snapsets: &[(String, String)],
) -> tauri::Result<TrayIcon<R>> {
    let key_in = MenuItem::with_id(app, "key_in", "Key in…", true, None::<&str>)?;
    let key_out = MenuItem::with_id(app, "key_out", "Log out and restore", true, None::<&str>)?;
    let open = MenuItem::with_id(app, "open", "Open", true, None::<&str>)?;
    let quit = MenuItem::with_id(app, "quit", "Quit", true, None::<&str>)?;
    let sep = PredefinedMenuItem::separator(app)?;
    let menu = Menu::with_items(app, &[&key_in])?;
    if !snapsets.is_empty() {
        let sub = Submenu::with_id(app, "snapsets", "Snapsets", true)?;
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
    TrayIconBuilder::with_id("attune")
        .icon(TrayState::Idle.image())
        .tooltip(TrayState::Idle.tooltip())
        .menu(&menu)
        .on_menu_event(|app, event| on_menu(app, event.id.as_ref()))
        .build(app)
}

fn on_menu<R: Runtime>(app: &AppHandle<R>, id: &str) {
    match id {
        "key_in" | "open" => crate::show_window(app),
        "key_out" => crate::shell::spawn_key_out(app.clone()),
        "quit" => app.exit(0),
        _ => {
            if let Some(key) = id.strip_prefix("snapset:") {
                crate::shell::spawn_key_in(app.clone(), key.to_owned());
            }
        }
    }
}

/// Shows `state` on the tray, if there is one.
pub fn show<R: Runtime>(app: &AppHandle<R>, state: TrayState) {
    if let Some(tray) = app.tray_by_id("attune") {
        if let Err(e) = tray.set_icon(Some(state.image())) {
            tracing::warn!(error = %e, "cannot change the tray icon");
        }
        let _ = tray.set_tooltip(Some(state.tooltip()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_state_has_its_own_icon() {
        let all = [
            TrayState::Idle,
            TrayState::Online,
            TrayState::Offline,
            TrayState::Attention,
            TrayState::Testing,
        ];
        for (i, a) in all.iter().enumerate() {
            assert_eq!(a.icon_rgba().len(), 32 * 32 * 4);
            for b in &all[i + 1..] {
                assert_ne!(a.icon_rgba(), b.icon_rgba(), "{a:?} vs {b:?}");
            }
        }
    }
}

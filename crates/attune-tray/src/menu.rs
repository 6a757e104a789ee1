//! The tray's menu and icons, the same in the app's tray and the lean one (crate::host): what a
//! menu item asks for, and an icon per tone of the status's indicator.

use attune_flow::Tone;

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

/// [`icon_rgba`] as a StatusNotifierItem wants it: ARGB, each pixel in network byte order.
pub fn icon_argb(tone: Tone) -> Vec<u8> {
    let mut px = icon_rgba(tone);
    for p in px.chunks_exact_mut(4) {
        p.rotate_right(1);
    }
    px
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
    fn the_tray_icon_is_argb_of_the_same_pixels() {
        let rgba = icon_rgba(Tone::Ok);
        let argb = icon_argb(Tone::Ok);
        let i = (16 * 32 + 16) * 4;
        assert_eq!(rgba[i..i + 4], [22, 163, 74, 255]);
        assert_eq!(argb[i..i + 4], [255, 22, 163, 74]);
        assert_eq!(argb[0..4], [0, 0, 0, 0]);
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

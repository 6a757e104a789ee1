//! The lean tray's icon and menu: a StatusNotifierItem with its D-Bus menu (ksni), which GNOME
//! Shell shows through its AppIndicator extension as it shows the app's. What a menu item asks
//! for goes to the host on a channel (crate::host carries it out).

use std::sync::mpsc::Sender;

use attune_flow::{Indicator, Message};

use crate::menu::{icon_argb, MenuAction};

/// The tray's state: what it shows, and where its menu's choices go.
pub struct LeanTray {
    pub indicator: Indicator,
    /// The testing profile's snapsets, `(key, name)`, for the "Snapsets" submenu.
    pub snapsets: Vec<(String, String)>,
    actions: Sender<MenuAction>,
}

impl LeanTray {
    pub fn new(snapsets: Vec<(String, String)>, actions: Sender<MenuAction>) -> LeanTray {
        LeanTray {
            indicator: Indicator::default(),
            snapsets,
            actions,
        }
    }

    fn send(&self, action: MenuAction) {
        let _ = self.actions.send(action);
    }
}

/// A menu label as the D-Bus menu wants it: a single underscore marks an access key there.
fn label(text: &str) -> String {
    text.replace('_', "__")
}

fn item(text: &str, action: MenuAction) -> ksni::MenuItem<LeanTray> {
    ksni::menu::StandardItem {
        label: label(text),
        activate: Box::new(move |t: &mut LeanTray| t.send(action.clone())),
        ..Default::default()
    }
    .into()
}

impl ksni::Tray for LeanTray {
    fn id(&self) -> String {
        "attune".to_owned()
    }

    fn title(&self) -> String {
        "Attune".to_owned()
    }

    fn icon_pixmap(&self) -> Vec<ksni::Icon> {
        vec![ksni::Icon {
            width: 32,
            height: 32,
            data: icon_argb(self.indicator.tone()),
        }]
    }

    fn tool_tip(&self) -> ksni::ToolTip {
        ksni::ToolTip {
            title: self.indicator.tooltip().text().to_owned(),
            ..Default::default()
        }
    }

    /// A click on the icon opens the window.
    fn activate(&mut self, _x: i32, _y: i32) {
        self.send(MenuAction::ShowWindow);
    }

    fn menu(&self) -> Vec<ksni::MenuItem<Self>> {
        let mut items = vec![item(Message::MenuKeyIn.text(), MenuAction::ShowWindow)];
        if !self.snapsets.is_empty() {
            items.push(
                ksni::menu::SubMenu {
                    label: label(Message::MenuSnapsets.text()),
                    submenu: self
                        .snapsets
                        .iter()
                        .map(|(key, name)| item(name, MenuAction::KeyIn(key.clone())))
                        .collect(),
                    ..Default::default()
                }
                .into(),
            );
        }
        items.extend([
            item(Message::MenuKeyOut.text(), MenuAction::KeyOut),
            ksni::MenuItem::Separator,
            item(Message::MenuOpen.text(), MenuAction::ShowWindow),
            item(Message::MenuQuit.text(), MenuAction::Quit),
        ]);
        items
    }

    /// No StatusNotifierWatcher yet (GNOME's extension may start after the autostart entries):
    /// keep the item, and show it when a watcher comes.
    fn watcher_offline(&self, reason: ksni::OfflineReason) -> bool {
        tracing::warn!(reason = ?reason, "no tray host yet; the icon shows when one starts");
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ksni::Tray;

    #[test]
    fn the_menu_asks_for_what_its_items_say() {
        let (tx, rx) = std::sync::mpsc::channel();
        let mut tray = LeanTray::new(vec![("snapset_1a".to_owned(), "Large_text".to_owned())], tx);
        let items = tray.menu();
        // Key in…, Snapsets, Key out, separator, Open, Quit.
        assert_eq!(items.len(), 6);
        let ksni::MenuItem::SubMenu(sub) = &items[1] else {
            panic!("no snapsets submenu")
        };
        let ksni::MenuItem::Standard(snap) = &sub.submenu[0] else {
            panic!("no snapset item")
        };
        assert_eq!(snap.label, "Large__text");
        (snap.activate)(&mut tray);
        assert_eq!(
            rx.recv().unwrap(),
            MenuAction::KeyIn("snapset_1a".to_owned())
        );
        tray.activate(0, 0);
        assert_eq!(rx.recv().unwrap(), MenuAction::ShowWindow);
        let ksni::MenuItem::Standard(quit) = &items[5] else {
            panic!("no quit")
        };
        (quit.activate)(&mut tray);
        assert_eq!(rx.recv().unwrap(), MenuAction::Quit);
    }

    #[test]
    fn the_icon_follows_the_indicator() {
        let (tx, _rx) = std::sync::mpsc::channel();
        let mut tray = LeanTray::new(vec![], tx);
        let idle = tray.icon_pixmap();
        tray.indicator = Indicator::Online;
        assert_ne!(idle[0].data, tray.icon_pixmap()[0].data);
        assert_eq!(idle[0].data.len(), 32 * 32 * 4);
    }
}

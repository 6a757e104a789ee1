//! Desktop notifications (docs/design.md §8): what to tell the person when the session's state
//! changes (a pure decision over two status snapshots), and a [`Notifier`] that shows it. A missing
//! notification daemon is logged, never fatal.

use attune_flow::Message;
use attune_flow::{Indicator, Notify};
use serde::Serialize;

/// Something worth a notification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// Keyed in from saved settings (cache or snapset) because the cloud failed; carries the
    /// flow's message ("… Using your saved settings from 12 May 2025.").
    Fallback(String),
    /// An offline session reached the cloud again.
    BackOnline,
    /// The cloud refused the session's token.
    StaleToken,
    /// A previous session or operation that stopped unexpectedly was put back.
    Restored(String),
    /// A shared computer's idle key-out is a minute away (docs/design.md §10.2).
    IdleKeyOutSoon(String),
    /// A shared computer's policy keyed the person out (idle, session end).
    KeyedOutByPolicy(String),
}

impl Notice {
    pub fn summary(&self) -> &'static str {
        match self {
            Notice::Fallback(_) => Message::NotifyFallback,
            Notice::BackOnline => Message::NotifyBackOnline,
            Notice::StaleToken => Message::NotifyStaleToken,
            Notice::Restored(_) | Notice::KeyedOutByPolicy(_) => Message::NotifyRestored,
            Notice::IdleKeyOutSoon(_) => Message::NotifyIdleKeyOutSoon,
        }
        .text()
    }

    pub fn body(&self) -> String {
        match self {
            Notice::Fallback(m)
            | Notice::Restored(m)
            | Notice::IdleKeyOutSoon(m)
            | Notice::KeyedOutByPolicy(m) => m.clone(),
            Notice::BackOnline => Message::NotifyBackOnlineBody.text().to_owned(),
            Notice::StaleToken => Message::StaleToken.text().to_owned(),
        }
    }
}

/// What the notices are decided from: the status's indicator (the one decision of the state),
/// which session it is, and its message; nothing personal beyond that.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Seen {
    pub indicator: Indicator,
    pub since_unix: Option<u64>,
    pub message: Option<String>,
}

impl Seen {
    pub fn of(s: &attune_flow::Status) -> Seen {
        Seen {
            indicator: s.indicator(),
            since_unix: s.since_unix,
            message: s.message.clone(),
        }
    }
}

/// The notices for a change from `before` to `now`: the indicator's own notification when its
/// state is entered (or a new session starts in it), and "back online" when a session the
/// person was notified about reaches the cloud again.
pub fn decide(before: &Seen, now: &Seen) -> Vec<Notice> {
    let mut out = Vec::new();
    let (was, is) = (&before.indicator, &now.indicator);
    let new_session = is.keyed_in() && (!was.keyed_in() || before.since_unix != now.since_unix);
    if let Some(n) = is.notify() {
        if new_session || was.notify() != Some(n) {
            out.push(match n {
                Notify::Fallback => Notice::Fallback(now.message.clone().unwrap_or_default()),
                Notify::StaleToken => Notice::StaleToken,
            });
        }
    }
    if *is == Indicator::Online && was.keyed_in() && was.notify().is_some() {
        out.push(Notice::BackOnline);
    }
    out
}

/// The notices of a stream of statuses: remembers what the last one saw, and tells the
/// [`Notifier`] what changed (the app's refresh and the lean tray's share it).
#[derive(Default)]
pub struct Transitions {
    seen: std::sync::Mutex<Seen>,
}

impl Transitions {
    /// Decides the notices from the last status seen to `now`, shows them, remembers `now`.
    pub fn observe(&self, now: &attune_flow::Status, notifier: &dyn Notifier) {
        let now = Seen::of(now);
        let notices = match self.seen.lock() {
            Ok(mut seen) => {
                let n = decide(&seen, &now);
                *seen = now;
                n
            }
            Err(_) => Vec::new(),
        };
        for n in &notices {
            notifier.notify(n);
        }
    }
}

impl Notice {
    /// The notification for what a shared computer's policy did, if it is worth one (the idle
    /// warning and a key-out; a cancelled warning only clears the window's banner).
    pub fn of_shared(n: &attune_listen::shared::SharedNotice) -> Option<Notice> {
        use attune_listen::shared::SharedNotice;
        match n {
            SharedNotice::IdleKeyOutSoon { text, .. } => Some(Notice::IdleKeyOutSoon(text.clone())),
            SharedNotice::KeyedOut { text, .. } => Some(Notice::KeyedOutByPolicy(text.clone())),
            SharedNotice::IdleKeyOutCancelled { .. } => None,
        }
    }
}

/// Whether a part of the shell works here, and why not.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Availability {
    pub available: bool,
    pub reason: Option<String>,
}

impl Availability {
    pub fn yes() -> Availability {
        Availability {
            available: true,
            reason: None,
        }
    }

    pub fn no(reason: impl Into<String>) -> Availability {
        Availability {
            available: false,
            reason: Some(reason.into()),
        }
    }
}

/// Shows notices; tests record them instead.
pub trait Notifier: Send + Sync {
    fn notify(&self, notice: &Notice);
    fn availability(&self) -> Availability;
}

/// Notifications through the session bus's notification daemon (org.freedesktop.Notifications).
pub struct DesktopNotifier {
    availability: std::sync::Arc<std::sync::Mutex<Availability>>,
}

impl DesktopNotifier {
    /// Asks the daemon who it is once, so Diagnostics can say whether notifications work.
    pub fn probe() -> DesktopNotifier {
        DesktopNotifier {
            availability: std::sync::Arc::new(std::sync::Mutex::new(Self::ask())),
        }
    }

    /// As [`probe`](Self::probe), off the caller's thread: a start does not wait for the
    /// session bus (the window opens sooner); until the answer, notifications are "not checked
    /// yet" (and are still sent).
    pub fn probe_in_background() -> DesktopNotifier {
        let availability = std::sync::Arc::new(std::sync::Mutex::new(Availability::no(
            Message::AppNotificationsNotCheckedYet.text(),
        )));
        let slot = availability.clone();
        let spawned = std::thread::Builder::new()
            .name("attune-notify-probe".to_owned())
            .spawn(move || {
                let a = Self::ask();
                if let Ok(mut s) = slot.lock() {
                    *s = a;
                }
            });
        if let Err(e) = spawned {
            tracing::warn!(error = %e, "cannot ask for the notification daemon");
        }
        DesktopNotifier { availability }
    }

    fn ask() -> Availability {
        match notify_rust::get_server_information() {
            Ok(info) => {
                tracing::info!(server = %info.name, "notification daemon found");
                Availability::yes()
            }
            Err(e) => {
                tracing::warn!(error = %e, "no notification daemon: notices are only logged");
                Availability::no(Message::AppNoNotificationDaemon.with(&[("error", &e)]))
            }
        }
    }
}

impl Notifier for DesktopNotifier {
    fn notify(&self, notice: &Notice) {
        tracing::info!(notice = notice.summary(), "notifying");
        let shown = notify_rust::Notification::new()
            .appname("Attune")
            .summary(notice.summary())
            .body(&notice.body())
            .show();
        if let Err(e) = shown {
            tracing::warn!(error = %e, notice = notice.summary(), "notification not shown");
        }
    }

    fn availability(&self) -> Availability {
        self.availability
            .lock()
            .map(|a| a.clone())
            .unwrap_or_else(|_| Availability::no(Message::AppNotificationsNotCheckedYet.text()))
    }
}

/// Keeps notices in memory (tests, and nothing else).
#[derive(Default)]
pub struct RecordingNotifier {
    pub seen: std::sync::Mutex<Vec<Notice>>,
}

impl Notifier for RecordingNotifier {
    fn notify(&self, notice: &Notice) {
        if let Ok(mut v) = self.seen.lock() {
            v.push(notice.clone());
        }
    }

    fn availability(&self) -> Availability {
        Availability::no("recording notifier (tests)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use attune_flow::SettingsFrom;

    const SAVED: &str = "Using your saved settings from 12 May 2025.";

    fn seen(indicator: Indicator, since: u64) -> Seen {
        Seen {
            indicator,
            since_unix: Some(since),
            message: Some(SAVED.to_owned()),
        }
    }

    fn from_cache(since: u64) -> Seen {
        seen(
            Indicator::SavedSettings {
                from: SettingsFrom::Cache {
                    age_seconds: Some(60),
                },
            },
            since,
        )
    }

    #[test]
    fn a_fallback_key_in_is_told_once() {
        let idle = Seen::default();
        let now = from_cache(10);
        assert_eq!(
            decide(&idle, &now),
            vec![Notice::Fallback(SAVED.to_owned())]
        );
        assert_eq!(decide(&now, &now), vec![]);
        // A new session in the same state is told again.
        assert_eq!(
            decide(&now, &from_cache(11)),
            vec![Notice::Fallback(SAVED.to_owned())]
        );
    }

    #[test]
    fn reaching_the_cloud_again_is_back_online() {
        let before = from_cache(10);
        let now = seen(Indicator::Online, 10);
        assert_eq!(decide(&before, &now), vec![Notice::BackOnline]);
        let stale = seen(Indicator::StaleToken, 10);
        assert_eq!(decide(&stale, &now), vec![Notice::BackOnline]);
    }

    #[test]
    fn a_stale_token_says_the_exact_text() {
        let before = seen(Indicator::Online, 10);
        let now = seen(Indicator::StaleToken, 10);
        let n = decide(&before, &now);
        assert_eq!(n, vec![Notice::StaleToken]);
        assert_eq!(
            n[0].body(),
            "Something has gone wrong. Please log out and log back in."
        );
    }

    #[test]
    fn a_healthy_testing_or_cloud_offline_session_is_not_notified() {
        let idle = Seen::default();
        assert_eq!(decide(&idle, &seen(Indicator::Online, 1)), vec![]);
        assert_eq!(decide(&idle, &seen(Indicator::Testing, 1)), vec![]);
        // Keyed in from the cloud, which went away later: shown on the page, not notified,
        // and nothing to say when it comes back.
        let waiting = seen(Indicator::ChangesWaiting, 1);
        assert_eq!(decide(&seen(Indicator::Online, 1), &waiting), vec![]);
        assert_eq!(decide(&waiting, &seen(Indicator::Online, 1)), vec![]);
    }
}

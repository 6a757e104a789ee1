//! Desktop notifications (DESIGN §8): what to tell the person when the session's state changes
//! (a pure decision over two status snapshots), and a [`Notifier`] that shows it. A missing
//! notification daemon is logged, never fatal.

use serde::Serialize;

/// The exact text for a stale token (DESIGN §6.2).
pub const STALE_TOKEN_TEXT: &str = "Something has gone wrong. Please log out and log back in.";

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
}

impl Notice {
    pub fn summary(&self) -> &'static str {
        match self {
            Notice::Fallback(_) => "Using your saved settings",
            Notice::BackOnline => "Back online",
            Notice::StaleToken => "Please log in again",
            Notice::Restored(_) => "This computer was put back",
        }
    }

    pub fn body(&self) -> String {
        match self {
            Notice::Fallback(m) | Notice::Restored(m) => m.clone(),
            Notice::BackOnline => {
                "Attune reached the preferences server again; your settings are up to date."
                    .to_owned()
            }
            Notice::StaleToken => STALE_TOKEN_TEXT.to_owned(),
        }
    }
}

/// What the notices are decided from: the parts of a status that matter, nothing personal
/// beyond whether it is the same session.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Seen {
    pub active: bool,
    pub since_unix: Option<u64>,
    pub source: Option<String>,
    pub connectivity: Option<String>,
    pub message: Option<String>,
}

impl Seen {
    pub fn of(s: &attune_flow::Status) -> Seen {
        Seen {
            active: s.state == "active",
            since_unix: s.since_unix,
            source: s.source.map(str::to_owned),
            connectivity: s.connectivity.map(|c| c.as_str().to_owned()),
            message: s.message.clone(),
        }
    }

    fn fallback(&self) -> bool {
        self.active
            && matches!(self.source.as_deref(), Some("cache" | "snapset"))
            && matches!(
                self.connectivity.as_deref(),
                Some("offline" | "version_mismatch")
            )
    }

    fn stale(&self) -> bool {
        self.active && self.connectivity.as_deref() == Some("auth_stale")
    }

    fn online(&self) -> bool {
        self.active && self.connectivity.as_deref() == Some("online")
    }
}

/// The notices for a change from `before` to `now` (each said once per change of state).
pub fn decide(before: &Seen, now: &Seen) -> Vec<Notice> {
    let mut out = Vec::new();
    let new_session = now.active && (!before.active || before.since_unix != now.since_unix);
    if now.fallback() && (new_session || !before.fallback()) {
        out.push(Notice::Fallback(now.message.clone().unwrap_or_default()));
    }
    if now.stale() && (new_session || !before.stale()) {
        out.push(Notice::StaleToken);
    }
    if now.online() && before.active && (before.fallback() || before.stale()) {
        out.push(Notice::BackOnline);
    }
    out
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
    availability: Availability,
}

impl DesktopNotifier {
    /// Asks the daemon who it is once, so Diagnostics can say whether notifications work.
    pub fn probe() -> DesktopNotifier {
        let availability = match notify_rust::get_server_information() {
            Ok(info) => {
                tracing::info!(server = %info.name, "notification daemon found");
                Availability::yes()
            }
            Err(e) => {
                tracing::warn!(error = %e, "no notification daemon: notices are only logged");
                Availability::no(format!("no notification daemon on the session bus ({e})"))
            }
        };
        DesktopNotifier { availability }
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
        self.availability.clone()
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

    fn active(source: &str, connectivity: &str, since: u64) -> Seen {
        Seen {
            active: true,
            since_unix: Some(since),
            source: Some(source.to_owned()),
            connectivity: Some(connectivity.to_owned()),
            message: Some("Using your saved settings from 12 May 2025.".to_owned()),
        }
    }

    #[test]
    fn a_fallback_key_in_is_told_once() {
        let idle = Seen::default();
        let now = active("cache", "offline", 10);
        assert_eq!(
            decide(&idle, &now),
            vec![Notice::Fallback(
                "Using your saved settings from 12 May 2025.".to_owned()
            )]
        );
        assert_eq!(decide(&now, &now), vec![]);
    }

    #[test]
    fn reaching_the_cloud_again_is_back_online() {
        let before = active("cache", "offline", 10);
        let now = active("cloud", "online", 10);
        assert_eq!(decide(&before, &now), vec![Notice::BackOnline]);
    }

    #[test]
    fn a_stale_token_says_the_exact_text() {
        let before = active("cloud", "online", 10);
        let now = active("cloud", "auth_stale", 10);
        let n = decide(&before, &now);
        assert_eq!(n, vec![Notice::StaleToken]);
        assert_eq!(
            n[0].body(),
            "Something has gone wrong. Please log out and log back in."
        );
    }

    #[test]
    fn a_healthy_or_testing_session_is_not_notified() {
        assert_eq!(
            decide(&Seen::default(), &active("cloud", "online", 1)),
            vec![]
        );
        let mut testing = active("snapset", "", 1);
        testing.connectivity = None;
        assert_eq!(decide(&Seen::default(), &testing), vec![]);
    }
}

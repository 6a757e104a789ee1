//! "What state are we in", decided once: [`Status::indicator`]. The tray (icon and tooltip), the
//! desktop notifications and the app's page all show this one answer; none of them decides it
//! again. Every word it carries comes from [`Message`].

use serde::ser::SerializeStruct;
use serde::Serialize;

use crate::config::Profile;
use crate::engine::{State, Status};
use crate::messages::Message;
use crate::session::Connectivity;

/// The state Attune shows, with what each consumer needs to show it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Indicator {
    /// Nobody is keyed in.
    #[default]
    Ready,
    /// Nobody is keyed in, in the testing profile (snapsets only; the network is never used).
    TestingReady,
    /// Nobody is keyed in and this computer's latest cloud call (a key-in) reached no server;
    /// `last_tried` is when (unix seconds).
    Unreachable { last_tried: Option<u64> },
    /// Keyed in from saved settings while the cloud call of the key-in is still under way.
    Connecting,
    /// Keyed in; the cloud answered.
    Online,
    /// Keyed in from saved settings (the cache or a snapset) because the cloud could not be
    /// reached; the session is retried in the background.
    SavedSettings { from: SettingsFrom },
    /// Keyed in from the cloud, which cannot be reached now: changes wait in the outbox.
    ChangesWaiting,
    /// This computer's Attune and the server do not match (`keyed_in`: saved settings or the
    /// cloud's earlier answer are in use).
    VersionMismatch { keyed_in: bool, from: SettingsFrom },
    /// The cloud refused the session's token: log out and in again.
    StaleToken,
    /// Testing profile, keyed in from a snapset.
    Testing,
    /// A key-in or key-out stopped half way; settings may wait to be put back.
    Interrupted,
    /// Putting this computer back (a key-out under way).
    Restoring,
}

/// Where the settings in use came from (for the words about them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SettingsFrom {
    Cloud,
    /// The preference cache; `age_seconds` is how old its answer is, when known.
    Cache {
        age_seconds: Option<u64>,
    },
    Snapset,
    /// The preferences sealed on the person's USB stick; `age_seconds` as for the cache.
    Stick {
        age_seconds: Option<u64>,
    },
    /// Nobody is keyed in.
    Nothing,
}

/// The tone of the state: the tray's icon and the page's colours (never the only signal: the
/// words say it too).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Tone {
    Neutral,
    Ok,
    Offline,
    Attention,
    Testing,
    Busy,
}

impl Tone {
    pub const ALL: [Tone; 6] = [
        Tone::Neutral,
        Tone::Ok,
        Tone::Offline,
        Tone::Attention,
        Tone::Testing,
        Tone::Busy,
    ];
}

/// What entering a state tells the person through a desktop notification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Notify {
    /// Keyed in from saved settings after a cloud failure (the status `message` says which).
    Fallback,
    /// The cloud refused the token.
    StaleToken,
}

/// The page's notice for a state: which one (`kind`: `offline`, `version_mismatch`,
/// `stale_token`), its heading and its text. The text may hold `{saved}` (the saved settings'
/// date, from `cache_age_seconds`) and `{tried}` (from `last_cloud_failure`), which the page
/// fills in the reader's locale.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PageNotice {
    pub kind: &'static str,
    pub heading: &'static str,
    pub text: String,
}

impl Status {
    /// The one decision of what state this is (the tray, the notices and the page show it).
    pub fn indicator(&self) -> Indicator {
        let from = match self.source {
            Some("cloud") => SettingsFrom::Cloud,
            Some("cache") => SettingsFrom::Cache {
                age_seconds: self.cache_age_seconds,
            },
            Some("snapset") => SettingsFrom::Snapset,
            Some("stick") => SettingsFrom::Stick {
                age_seconds: self.cache_age_seconds,
            },
            _ => SettingsFrom::Nothing,
        };
        let testing = self.profile == Profile::Testing;
        match self.state {
            State::Restoring => Indicator::Restoring,
            State::Interrupted => Indicator::Interrupted,
            State::Active => match self.connectivity {
                Some(Connectivity::AuthStale) => Indicator::StaleToken,
                Some(Connectivity::VersionMismatch) => Indicator::VersionMismatch {
                    keyed_in: true,
                    from,
                },
                Some(Connectivity::Offline) if from == SettingsFrom::Cloud => {
                    Indicator::ChangesWaiting
                }
                Some(Connectivity::Offline) => Indicator::SavedSettings { from },
                Some(Connectivity::Online) => Indicator::Online,
                None if testing => Indicator::Testing,
                None => Indicator::Connecting,
            },
            State::Idle => match self.connectivity {
                Some(Connectivity::VersionMismatch) => Indicator::VersionMismatch {
                    keyed_in: false,
                    from: SettingsFrom::Nothing,
                },
                Some(Connectivity::Offline) => Indicator::Unreachable {
                    last_tried: self.last_cloud_failure,
                },
                _ if testing => Indicator::TestingReady,
                _ => Indicator::Ready,
            },
        }
    }
}

impl Indicator {
    /// A stable snake_case name (the JSON's `state`).
    pub fn name(&self) -> &'static str {
        match self {
            Indicator::Ready => "ready",
            Indicator::TestingReady => "testing_ready",
            Indicator::Unreachable { .. } => "unreachable",
            Indicator::Connecting => "connecting",
            Indicator::Online => "online",
            Indicator::SavedSettings { .. } => "saved_settings",
            Indicator::ChangesWaiting => "changes_waiting",
            Indicator::VersionMismatch { .. } => "version_mismatch",
            Indicator::StaleToken => "stale_token",
            Indicator::Testing => "testing",
            Indicator::Interrupted => "interrupted",
            Indicator::Restoring => "restoring",
        }
    }

    /// Whether someone is keyed in (a session is active).
    pub fn keyed_in(&self) -> bool {
        match self {
            Indicator::Connecting
            | Indicator::Online
            | Indicator::SavedSettings { .. }
            | Indicator::ChangesWaiting
            | Indicator::StaleToken
            | Indicator::Testing => true,
            Indicator::VersionMismatch { keyed_in, .. } => *keyed_in,
            Indicator::Ready
            | Indicator::TestingReady
            | Indicator::Unreachable { .. }
            | Indicator::Interrupted
            | Indicator::Restoring => false,
        }
    }

    pub fn tone(&self) -> Tone {
        match self {
            Indicator::Ready => Tone::Neutral,
            Indicator::TestingReady | Indicator::Testing => Tone::Testing,
            Indicator::Unreachable { .. }
            | Indicator::SavedSettings { .. }
            | Indicator::ChangesWaiting => Tone::Offline,
            Indicator::Online => Tone::Ok,
            Indicator::VersionMismatch { .. } | Indicator::StaleToken | Indicator::Interrupted => {
                Tone::Attention
            }
            Indicator::Connecting | Indicator::Restoring => Tone::Busy,
        }
    }

    /// The state in a word or two (the page's badge, the window title).
    /// The badge says the tone in a word, except that a busy one says what it is busy with.
    pub fn words(&self) -> Message {
        match (self, self.tone()) {
            (Indicator::Restoring, _) => Message::BadgeRestoring,
            (_, Tone::Busy) => Message::BadgeConnecting,
            (_, Tone::Neutral) => Message::BadgeReady,
            (_, Tone::Testing) => Message::BadgeTesting,
            (_, Tone::Offline) => Message::BadgeOffline,
            (_, Tone::Ok) => Message::BadgeOnline,
            (_, Tone::Attention) => Message::BadgeNeedsAttention,
        }
    }

    /// The tray's tooltip.
    pub fn tooltip(&self) -> Message {
        match self {
            Indicator::Ready => Message::TrayReady,
            Indicator::TestingReady => Message::TrayTestingReady,
            Indicator::Unreachable { .. } => Message::TrayUnreachable,
            Indicator::Connecting => Message::TrayConnecting,
            Indicator::Online => Message::TrayOnline,
            Indicator::SavedSettings { .. } => Message::TraySavedSettings,
            Indicator::ChangesWaiting => Message::TrayChangesWaiting,
            Indicator::VersionMismatch { .. } | Indicator::StaleToken | Indicator::Interrupted => {
                Message::TrayAttention
            }
            Indicator::Testing => Message::TrayTesting,
            Indicator::Restoring => Message::TrayRestoring,
        }
    }

    /// The notification that entering this state warrants, if any. A cloud session whose
    /// server went away later (changes waiting) is shown, not notified: the person's own
    /// settings are in place.
    pub fn notify(&self) -> Option<Notify> {
        match self {
            Indicator::SavedSettings { .. } => Some(Notify::Fallback),
            Indicator::VersionMismatch {
                keyed_in: true,
                from:
                    SettingsFrom::Cache { .. } | SettingsFrom::Stick { .. } | SettingsFrom::Snapset,
            } => Some(Notify::Fallback),
            Indicator::StaleToken => Some(Notify::StaleToken),
            _ => None,
        }
    }

    /// The page's notice for this state, if any.
    pub fn page_notice(&self) -> Option<PageNotice> {
        let joined = |parts: &[Option<Message>]| {
            parts
                .iter()
                .flatten()
                .map(|m| m.text())
                .collect::<Vec<_>>()
                .join(" ")
        };
        let in_use = |from: &SettingsFrom| match from {
            SettingsFrom::Cache {
                age_seconds: Some(_),
            } => Some(Message::UsingSavedSettingsFrom),
            SettingsFrom::Cache { age_seconds: None } => Some(Message::UsingSavedSettingsHere),
            SettingsFrom::Stick { .. } => Some(Message::UsingSettingsFromStick),
            _ => None,
        };
        let notice = |kind, heading: Message, text| PageNotice {
            kind,
            heading: heading.text(),
            text,
        };
        match self {
            Indicator::SavedSettings { from } => Some(notice(
                "offline",
                Message::NoticeWorkingOffline,
                joined(&[in_use(from), Some(Message::KeepsTryingInBackground)]),
            )),
            Indicator::ChangesWaiting => Some(notice(
                "offline",
                Message::NoticeWorkingOffline,
                joined(&[Some(Message::KeepsTryingInBackground)]),
            )),
            Indicator::Unreachable { last_tried } => Some(notice(
                "offline",
                Message::NoticeServerUnreachable,
                joined(&[
                    last_tried.map(|_| Message::LastTried),
                    Some(Message::TriesAgainAtKeyIn),
                ]),
            )),
            Indicator::VersionMismatch { from, .. } => Some(notice(
                "version_mismatch",
                Message::NoticeVersionMismatch,
                joined(&[in_use(from)]),
            )),
            Indicator::StaleToken => Some(notice(
                "stale_token",
                Message::NoticeStaleToken,
                joined(&[Some(Message::StaleTokenKeepsSettings)]),
            )),
            _ => None,
        }
    }
}

/// As the page gets it: `{ state, words, tone, notice }` (docs/app.md).
impl Serialize for Indicator {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut s = serializer.serialize_struct("Indicator", 4)?;
        s.serialize_field("state", self.name())?;
        s.serialize_field("words", self.words().text())?;
        s.serialize_field("tone", &self.tone())?;
        s.serialize_field("notice", &self.page_notice())?;
        s.end()
    }
}

#[cfg(test)]
mod tests;

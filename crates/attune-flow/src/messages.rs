//! Every sentence Attune says to a person, in one table (docs/design.md §3). The CLI, the tray, the
//! notifications and the app's page show these; they will be translated from here. `{saved}`,
//! `{tried}` and the like are slots the caller fills (the page formats dates in the reader's
//! locale).

/// A user-facing message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Message {
    KeyedInSnapset,
    KeyedInCloud,
    AlreadyKeyedIn,
    KeyedOut,
    // What `forget` did (docs/design.md §10.3).
    ForgottenHere,
    ForgottenEverywhere,
    ForgottenEverywhereWithin,
    ForgottenHereCloudDidNotKnow,
    NotForgottenCloud,
    // The portable key (docs/design.md §10.3).
    /// The stick's sealed preferences were not used (`{reason}`); what follows says what was.
    StickRefused,
    /// `attune stick write`, the app's "Save my settings to this USB key".
    StickWritten,
    /// A session from the stick (the page's notice; `{saved}` is filled by the page).
    UsingSettingsFromStick,
    /// The app's "Save my settings to this USB key" with no stick in.
    NoUsbKeyIn,
    RestoredAfterUnexpectedStop,
    /// Shared computers (docs/design.md §10.2): why the last person was keyed out.
    KeyedOutIdle,
    KeyedOutSessionEnd,
    KeyedOutEarlierBoot,
    /// The warning before an idle key-out (`{seconds}`), and its end.
    IdleKeyOutSoon,
    IdleKeyOutCancelled,
    NothingToRestore,
    SomeSettingsFailed,
    ChangedInSnapset,
    /// "Save these settings as mine" (`attune capture --save`) where there is nowhere to save.
    CaptureTestingProfile,
    CaptureSnapset,
    CaptureNothing,
    DamagedJournalKeptAside,
    // The state in a word or two (`Indicator::words`: the page's badge and window title).
    BadgeReady,
    BadgeTesting,
    BadgeOffline,
    BadgeOnline,
    BadgeNeedsAttention,
    BadgeConnecting,
    BadgeRestoring,
    // The tray's tooltip (`Indicator::tooltip`).
    TrayReady,
    TrayTestingReady,
    TrayUnreachable,
    TrayConnecting,
    TrayOnline,
    TraySavedSettings,
    TrayChangesWaiting,
    TrayAttention,
    TrayTesting,
    TrayRestoring,
    // The tray's menu.
    MenuKeyIn,
    MenuSnapsets,
    MenuKeyOut,
    MenuOpen,
    MenuQuit,
    // The page's notices (`Indicator::page_notice`).
    NoticeWorkingOffline,
    NoticeServerUnreachable,
    NoticeVersionMismatch,
    NoticeStaleToken,
    UsingSavedSettingsFrom,
    UsingSavedSettingsHere,
    KeepsTryingInBackground,
    LastTried,
    TriesAgainAtKeyIn,
    StaleTokenKeepsSettings,
    // Desktop notifications: summaries, and the bodies that are not the status message.
    NotifyFallback,
    NotifyBackOnline,
    NotifyBackOnlineBody,
    NotifyStaleToken,
    NotifyRestored,
    NotifyIdleKeyOutSoon,
    /// The exact text for a stale token (docs/design.md §6.2).
    StaleToken,
    // The app's Diagnostics: why a part of the shell does not work, and its own failures.
    AppTaskDidNotFinish,
    AppTrayNotMadeYet,
    AppTrayCouldNotBeMade,
    AppNoTray,
    AppIndicatorLibraryFailed,
    AppNoNotificationDaemon,
    AppNotificationsNotCheckedYet,
    AppUnknown,
    // What the app's USB-stick listener saw (the key-in screen shows it as it happens).
    UsbKeyFound,
    UsbKeyRemoved,
    UsbKeyNotUsed,
    // The `attune` command's text output (`--json` has none of these).
    CliKeyedIn,
    CliUnnamed,
    CliCounts,
    CliPutBack,
    CliKeptAt,
    CliRowApplied,
    /// `attune capture`'s headings.
    CliCaptured,
    CliCaptureSkipped,
    /// `attune snapsets new`: where it wrote the file (`{file}`).
    CliSnapsetWritten,
    CliRowNotSupported,
    CliRowFailed,
    CliLastTriedSeconds,
    CliLastTriedMinutes,
    CliLastTriedHours,
    CliState,
    CliProfile,
    CliKey,
    CliSource,
    CliCloud,
    CliNetwork,
    CliMessage,
    CliJournal,
    CliJournalEntries,
    CliApplied,
}

impl Message {
    /// The text, in plain words.
    pub fn text(self) -> &'static str {
        match self {
            Message::KeyedInSnapset => "Your settings are applied (from a snapset on this computer).",
            Message::KeyedInCloud => "Your settings are applied.",
            Message::AlreadyKeyedIn => "You are already keyed in; your settings are applied.",
            Message::KeyedOut => "This computer has been put back as it was.",
            Message::ForgottenHere => {
                "This computer has forgotten you: your saved settings and unsent changes are gone from it."
            }
            Message::ForgottenEverywhere => {
                "You have been forgotten: the preferences server no longer knows your key, and this computer has forgotten you."
            }
            Message::ForgottenEverywhereWithin => {
                "You have been forgotten: the preferences server no longer knows your key and deletes your preferences within {days} days; this computer has forgotten you."
            }
            Message::NotForgottenCloud => {
                "Nothing has been forgotten: {reason}. Try again later, or have only this computer forget you."
            }
            Message::ForgottenHereCloudDidNotKnow => {
                "This computer has forgotten you. The preferences server did not know your key (it may have forgotten it before)."
            }
            Message::StickRefused => "The settings on your USB key could not be used: {reason}.",
            Message::StickWritten => {
                "Your settings are saved on this USB key. On a computer that cannot reach the preferences server, it brings them with you; keep it safe, as you would a key."
            }
            Message::UsingSettingsFromStick => "Using your settings from your USB key, saved {saved}.",
            Message::NoUsbKeyIn => "There is no USB key in this computer. Put yours in, then try again.",
            Message::RestoredAfterUnexpectedStop => {
                "Attune stopped unexpectedly last time. This computer's settings have been put back as they were."
            }
            Message::KeyedOutIdle => {
                "Nobody used this computer for a while, so the last person was keyed out and it has been put back as it was."
            }
            Message::KeyedOutSessionEnd => {
                "The desktop session ended, so the last person was keyed out and this computer has been put back as it was."
            }
            Message::KeyedOutEarlierBoot => {
                "This computer was restarted since the last person keyed in, so their settings have been put back as they were."
            }
            Message::IdleKeyOutSoon => {
                "Are you still there? You will be keyed out in {seconds} seconds. Move the mouse or press a key to stay."
            }
            Message::IdleKeyOutCancelled => "You are still keyed in.",
            Message::NothingToRestore => "There was nothing to put back.",
            Message::SomeSettingsFailed => {
                "Some of your settings could not be applied; the rest are in place."
            }
            Message::ChangedInSnapset => {
                "Changed on this computer. A snapset is read-only, so the change is not saved; it is put back when you log out."
            }
            Message::CaptureTestingProfile => {
                "The testing profile has no preferences server to save settings to. `attune capture` shows what would be saved; `attune snapsets new NAME --from-desktop` keeps it as a snapset."
            }
            Message::CaptureSnapset => {
                "These settings come from a snapset, which is read-only: there is nowhere to save them. Key in with your own key to save them as yours."
            }
            Message::CaptureNothing => {
                "Nothing on this computer is set differently from its defaults, so there is nothing to save."
            }
            Message::DamagedJournalKeptAside => {
                "The damaged record of this computer's settings was kept aside; keying in works again. Settings changed before it was damaged were not put back."
            }
            Message::BadgeReady => "Ready",
            Message::BadgeTesting => "Testing",
            Message::BadgeOffline => "Offline",
            Message::BadgeOnline => "Online",
            Message::BadgeNeedsAttention => "Needs attention",
            Message::BadgeConnecting => "Connecting…",
            Message::BadgeRestoring => "Restoring this computer…",
            Message::TrayReady => "Attune: nobody is keyed in",
            Message::TrayTestingReady => "Attune (testing): nobody is keyed in",
            Message::TrayUnreachable => "Attune: nobody is keyed in; the server could not be reached",
            Message::TrayConnecting => "Attune: your saved settings are applied; asking the server",
            Message::TrayOnline => "Attune: your settings are applied",
            Message::TraySavedSettings => "Attune: offline, using saved settings",
            Message::TrayChangesWaiting => "Attune: offline, your changes are not yet saved",
            Message::TrayAttention => "Attune: needs attention",
            Message::TrayTesting => "Attune (testing): snapset applied",
            Message::TrayRestoring => "Attune: restoring this computer",
            Message::MenuKeyIn => "Key in…",
            Message::MenuSnapsets => "Snapsets",
            Message::MenuKeyOut => "Log out and restore",
            Message::MenuOpen => "Open",
            Message::MenuQuit => "Quit",
            Message::NoticeWorkingOffline => "Working offline",
            Message::NoticeServerUnreachable => "The server could not be reached",
            Message::NoticeVersionMismatch => "Attune and the server do not match",
            Message::NoticeStaleToken => "Please log out and back in",
            Message::UsingSavedSettingsFrom => "Using your saved settings from {saved}.",
            Message::UsingSavedSettingsHere => "Using your settings saved on this computer.",
            Message::KeepsTryingInBackground => "Attune keeps trying the server in the background.",
            Message::LastTried => "Last tried {tried}.",
            Message::TriesAgainAtKeyIn => "Attune tries again when you key in.",
            Message::StaleTokenKeepsSettings => {
                "Your settings stay in place and any unsaved changes are kept."
            }
            Message::NotifyFallback => "Using your saved settings",
            Message::NotifyBackOnline => "Back online",
            Message::NotifyBackOnlineBody => {
                "Attune reached the preferences server again; your settings are up to date."
            }
            Message::NotifyStaleToken => "Please log in again",
            Message::NotifyRestored => "This computer was put back",
            Message::NotifyIdleKeyOutSoon => "Are you still there?",
            Message::StaleToken => "Something has gone wrong. Please log out and log back in.",
            Message::AppTaskDidNotFinish => "the task did not finish: {error}",
            Message::AppTrayNotMadeYet => "the tray has not been made yet",
            Message::AppTrayCouldNotBeMade => "the tray could not be made: {error}",
            Message::AppNoTray => "no tray on this desktop: {why}",
            Message::AppIndicatorLibraryFailed => "the indicator library failed",
            Message::AppNoNotificationDaemon => {
                "no notification daemon on the session bus ({error})"
            }
            Message::AppNotificationsNotCheckedYet => {
                "the notification daemon has not answered yet"
            }
            Message::AppUnknown => "unknown",
            Message::UsbKeyFound => "USB key found",
            Message::UsbKeyRemoved => "USB key removed",
            Message::UsbKeyNotUsed => "This USB key was not used: {reason}",
            Message::CliKeyedIn => "Keyed in {key} ({name}), source: {source}",
            Message::CliUnnamed => "unnamed",
            Message::CliCounts => {
                "{applied} applied, {not_supported} not supported here, {failed} failed."
            }
            Message::CliPutBack => "{message} ({restored} setting(s) put back)",
            Message::CliKeptAt => "{message} (kept at {path})",
            Message::CliRowApplied => "applied",
            Message::CliCaptured => "Set on this computer, as preferences:",
            Message::CliCaptureSkipped => "Read but not kept:",
            Message::CliSnapsetWritten => "Wrote the snapset {file}.",
            Message::CliRowNotSupported => "not supported here",
            Message::CliRowFailed => "FAILED",
            Message::CliLastTriedSeconds => "last tried {n} s ago",
            Message::CliLastTriedMinutes => "last tried {n} min ago",
            Message::CliLastTriedHours => "last tried {n} h ago",
            Message::CliState => "State:",
            Message::CliProfile => "Profile:",
            Message::CliKey => "Key:",
            Message::CliSource => "Source:",
            Message::CliCloud => "Cloud:",
            Message::CliNetwork => "Network:",
            Message::CliMessage => "Message:",
            Message::CliJournal => "Journal:",
            Message::CliJournalEntries => "{journal} ({entries} entries)",
            Message::CliApplied => "Applied:",
        }
    }

    /// The text with its `{name}` slots filled from `slots` (a slot not given stays as it is).
    pub fn with(self, slots: &[(&str, &dyn std::fmt::Display)]) -> String {
        slots
            .iter()
            .fold(self.text().to_owned(), |text, (name, value)| {
                text.replace(&format!("{{{name}}}"), &value.to_string())
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_filled_by_name() {
        assert_eq!(
            Message::CliCounts.with(&[("applied", &3), ("not_supported", &1), ("failed", &0)]),
            "3 applied, 1 not supported here, 0 failed."
        );
        assert_eq!(
            Message::LastTried.with(&[]),
            "Last tried {tried}.",
            "a slot not given stays for the page to fill"
        );
    }
}

//! Every sentence Attune says to a person, in one table (DESIGN §3). The UI and the CLI show
//! these; they will be translated from here.

/// A user-facing message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Message {
    KeyedInSnapset,
    KeyedInCloud,
    AlreadyKeyedIn,
    KeyedOut,
    NotKeyedIn,
    RestoredAfterUnexpectedStop,
    RestoreIncomplete,
    NothingToRestore,
    UnknownSnapset,
    SomeSettingsFailed,
    Busy,
    TestingProfileOnly,
    ChangedInSnapset,
    DamagedJournalKeptAside,
}

impl Message {
    /// The text, in plain words.
    pub fn text(self) -> &'static str {
        match self {
            Message::KeyedInSnapset => "Your settings are applied (from a snapset on this computer).",
            Message::KeyedInCloud => "Your settings are applied.",
            Message::AlreadyKeyedIn => "You are already keyed in; your settings are applied.",
            Message::KeyedOut => "This computer has been put back as it was.",
            Message::NotKeyedIn => "Nobody is keyed in.",
            Message::RestoredAfterUnexpectedStop => {
                "Attune stopped unexpectedly last time. This computer's settings have been put back as they were."
            }
            Message::RestoreIncomplete => {
                "Some settings could not be put back. Attune will try again the next time it starts."
            }
            Message::NothingToRestore => "There was nothing to put back.",
            Message::UnknownSnapset => "There is no snapset with that key on this computer.",
            Message::SomeSettingsFailed => {
                "Some of your settings could not be applied; the rest are in place."
            }
            Message::Busy => "Attune is busy keying someone in or out. Please try again in a moment.",
            Message::ChangedInSnapset => {
                "Changed on this computer. A snapset is read-only, so the change is not saved; it is put back when you log out."
            }
            Message::DamagedJournalKeptAside => {
                "The damaged record of this computer's settings was kept aside; keying in works again. Settings changed before it was damaged were not put back."
            }
            Message::TestingProfileOnly => {
                "Keying in with the cloud is not available yet: use the testing profile and a snapset."
            }
        }
    }
}

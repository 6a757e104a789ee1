//! Forgetting a person (docs/design.md §10.3; issue 17 item 3): `attune forget` and the app's
//! "Forget me". On this computer: their saved preferences (the sealed cache entry) and their
//! unsent changes (the outbox, an unreadable copy kept aside included); if they are keyed in,
//! they are keyed out first and the computer put back. Everywhere: the cloud forgets the key
//! first (`DELETE /{key}`, authorised by a token granted for it), which revokes its tokens at
//! once and deletes its preferences after the cloud's grace period; only then is this computer
//! cleaned, so a cloud that cannot be reached leaves everything as it was, to try again.
//!
//! Unsent changes are the person's work: they are listed and kept unless the person says to drop
//! them ([`FlowError::UnsentChanges`]; the CLI's `--yes`).
//!
//! What stays, because none of it is the person's: the cloud contact history (when, to which
//! host, how it ended: no key and no fingerprint), the journal (this computer's own settings,
//! empty once keyed out), and the log (a fingerprint, never the key, kept a week).

use attune_model::key::Key;
use serde::Serialize;

use crate::engine::Flow;
use crate::error::FlowError;
use crate::messages::Message;
use crate::outbox::Outbox;
use crate::session::{self, Phase};

/// How far the forgetting goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ForgetReach {
    /// This computer only.
    ThisComputer,
    /// The cloud too (`DELETE /{key}`), then this computer.
    Everywhere,
}

/// What `forget` did.
#[derive(Debug, Clone, Serialize)]
pub struct ForgetOutcome {
    pub reach: ForgetReach,
    pub key_fingerprint: String,
    /// They were keyed in here: keyed out first, the computer put back.
    pub keyed_out_first: bool,
    /// A saved copy of their preferences was on this computer and is gone.
    pub saved_settings_removed: bool,
    /// The unsent changes that were dropped, in words ("Text size: 167 %"), oldest first.
    pub unsent_dropped: Vec<String>,
    /// Everywhere: the cloud forgot the key; it deletes the preferences within this many days
    /// (`None` when it did not say, or did not know the key).
    pub cloud_deletes_within_days: Option<u32>,
    /// Everywhere: the cloud did not know the key (forgotten before, or never there).
    pub cloud_did_not_know_the_key: bool,
    /// What to tell the person.
    pub message_text: String,
}

/// Forgets the person of `raw_key` (the one keyed in when `None`): see the module's docs.
pub(crate) fn forget(
    flow: &Flow,
    raw_key: Option<&str>,
    reach: ForgetReach,
    drop_unsent: bool,
) -> Result<ForgetOutcome, FlowError> {
    let active = {
        let _lock = flow.lock()?;
        flow.resume_locked()?;
        session::load(&flow.paths.session_file())?.filter(|s| s.phase == Phase::Active)
    };
    let key = match raw_key {
        Some(k) => Key::parse(k)?,
        None => Key::parse(&active.as_ref().ok_or(FlowError::NotKeyedIn)?.key)?,
    };
    if flow.snapset(key.expose()).is_ok() {
        return Err(FlowError::NotAvailable {
            what: "forgetting a snapset (it is this computer's, not a person's)".to_owned(),
        });
    }
    let outbox = Outbox::open(&flow.paths.state_dir, &key)?;
    let unsent: Vec<String> = outbox
        .list()
        .iter()
        .map(|c| crate::words::change_in_words(&c.term, &c.value))
        .collect();
    if !unsent.is_empty() && !drop_unsent {
        return Err(FlowError::UnsentChanges { changes: unsent });
    }

    let (mut days, mut unknown) = (None, false);
    if reach == ForgetReach::Everywhere {
        match crate::cloudflow::forget_in_cloud(flow, &key)? {
            crate::cloudflow::CloudForget::Forgotten { within_days } => days = within_days,
            crate::cloudflow::CloudForget::UnknownKey => unknown = true,
        }
    }

    let keyed_out_first = active.is_some_and(|s| s.key == key.expose());
    if keyed_out_first {
        flow.key_out()?;
    }
    let _lock = flow.lock()?;
    let saved_settings_removed = match crate::cloudflow::open_cache(flow) {
        Some(cache) => {
            let existed = cache.path_for(&key).exists();
            cache.purge(&key).map_err(|e| FlowError::NotAvailable {
                what: format!("removing the saved settings ({e})"),
            })?;
            existed
        }
        None => false,
    };
    outbox.purge()?;
    tracing::info!(
        key = %key.fingerprint(),
        reach = ?reach,
        keyed_out_first,
        saved_settings_removed,
        unsent_dropped = unsent.len(),
        "forgotten"
    );
    let message_text = match (reach, days, unknown) {
        (ForgetReach::ThisComputer, ..) => Message::ForgottenHere.text().to_owned(),
        (ForgetReach::Everywhere, _, true) => {
            Message::ForgottenHereCloudDidNotKnow.text().to_owned()
        }
        (ForgetReach::Everywhere, Some(d), false) => {
            Message::ForgottenEverywhereWithin.with(&[("days", &d)])
        }
        (ForgetReach::Everywhere, None, false) => Message::ForgottenEverywhere.text().to_owned(),
    };
    Ok(ForgetOutcome {
        reach,
        key_fingerprint: key.fingerprint(),
        keyed_out_first,
        saved_settings_removed,
        unsent_dropped: unsent,
        cloud_deletes_within_days: days,
        cloud_did_not_know_the_key: unknown,
        message_text,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The app's contract (docs/app.md) lists the outcome's keys; the page's fixtures are held to
    /// that line too (ui/tests/fixtures.test.mjs), so Rust and the page cannot drift apart.
    #[test]
    fn the_outcome_has_the_keys_docs_app_md_lists() {
        let doc = include_str!("../../../docs/app.md");
        let line = doc
            .lines()
            .find(|l| l.starts_with("`ForgetOutcome`: `{"))
            .expect("docs/app.md describes ForgetOutcome");
        let inner = &line[line.find('{').unwrap() + 1..line.rfind('}').unwrap()];
        let mut documented: Vec<String> = inner
            .split(',')
            .map(|p| p.split(':').next().unwrap().trim().to_owned())
            .collect();
        documented.sort();
        let o = ForgetOutcome {
            reach: ForgetReach::ThisComputer,
            key_fingerprint: "5d0e7a1c".to_owned(),
            keyed_out_first: false,
            saved_settings_removed: false,
            unsent_dropped: vec![],
            cloud_deletes_within_days: None,
            cloud_did_not_know_the_key: false,
            message_text: String::new(),
        };
        let v = serde_json::to_value(&o).unwrap();
        let mut keys: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
        keys.sort();
        assert_eq!(keys, documented);
        assert_eq!(v["reach"], "this_computer");
    }
}

//! The Diagnostics view and the support bundle (docs/design.md §8): what an admin needs to see why
//! a key-in went the way it did, and nothing personal — no key, no preference value.

use serde::Serialize;

use crate::notices::Availability;
use crate::shell::Shell;

/// `Diagnostics` (docs/app.md).
#[derive(Debug, Clone, Serialize)]
pub struct Diagnostics {
    pub version: &'static str,
    pub profile: Option<&'static str>,
    pub cloud_urls: Vec<String>,
    pub contacts: Vec<attune_flow::cloud::ContactRecord>,
    pub cache_age_seconds: Option<u64>,
    pub journal: &'static str,
    pub journal_entries: usize,
    pub log_file: Option<String>,
    pub tray: Availability,
    pub notifications: Availability,
    pub config_error: Option<String>,
}

/// How many cloud contacts the view lists.
const CONTACTS_SHOWN: usize = 50;

/// Reads the diagnostics (blocking).
pub fn collect(shell: &Shell) -> Diagnostics {
    let tray = shell
        .tray
        .lock()
        .map(|t| t.clone())
        .unwrap_or_else(|_| Availability::no(attune_flow::Message::AppUnknown.text()));
    let mut d = Diagnostics {
        version: env!("CARGO_PKG_VERSION"),
        profile: None,
        cloud_urls: Vec::new(),
        contacts: Vec::new(),
        cache_age_seconds: None,
        journal: "closed",
        journal_entries: 0,
        log_file: crate::logging::current_file(shell.log_dir.as_deref())
            .map(|p| p.display().to_string()),
        tray,
        notifications: shell.notifier.availability(),
        config_error: None,
    };
    match shell.flow() {
        Err(e) => d.config_error = Some(e.message),
        Ok(flow) => {
            d.profile = Some(flow.config().profile.as_str());
            d.cloud_urls = flow
                .config()
                .cloud
                .urls
                .iter()
                .map(|u| strip_userinfo(u))
                .collect();
            d.contacts = flow.contacts(CONTACTS_SHOWN);
            match flow.status() {
                Ok(s) => {
                    d.cache_age_seconds = s.cache_age_seconds;
                    d.journal = s.journal;
                    d.journal_entries = s.journal_entries;
                }
                Err(e) => tracing::warn!(kind = e.kind(), "diagnostics: no status"),
            }
        }
    }
    d
}

/// A URL without `user:password@` (a site might put credentials there).
fn strip_userinfo(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
            let host = authority.rsplit('@').next().unwrap_or(authority);
            format!("{scheme}://{host}{path}")
        }
        None => url.to_owned(),
    }
}

/// The support bundle: pretty JSON an admin can paste into a ticket (blocking). The session is
/// summarised by counts only: which settings were applied would say which accessibility features
/// the person uses, and the bundle leaves this computer.
pub fn support_bundle(shell: &Shell) -> String {
    let diagnostics = collect(shell);
    let session = shell.flow().ok().and_then(|f| f.status().ok()).map(|s| {
        serde_json::json!({
            "state": s.state,
            "profile": s.profile.as_str(),
            "keyed_in": s.key.is_some(),
            "source": s.source,
            "connectivity": s.connectivity,
            "reason": s.reason,
            "outbox": s.outbox,
            "save_state": s.save_state.state,
            "since_unix": s.since_unix,
            "last_cloud_contact": s.last_cloud_contact,
            "counts": attune_flow::counts(&s.applied),
        })
    });
    let doctor = shell.flow().ok().and_then(|f| f.doctor().ok());
    let bundle = serde_json::json!({
        "attune_support_bundle": 1,
        "os": std::env::consts::OS,
        "arch": std::env::consts::ARCH,
        "diagnostics": diagnostics,
        "session": session,
        "doctor": doctor,
    });
    serde_json::to_string_pretty(&bundle).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_in_cloud_urls_are_not_shown() {
        assert_eq!(
            strip_userinfo("https://site:secret@cloud.example/api"),
            "https://cloud.example/api"
        );
        assert_eq!(
            strip_userinfo("http://127.0.0.1:8084"),
            "http://127.0.0.1:8084"
        );
    }
}

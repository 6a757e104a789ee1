//! The flow's decisions, and nothing else: what to do with what the fetchers found (the session
//! file, the journal, the cache, the cloud's answer or failure). Every function here is pure — no
//! file, no desktop, no clock, no network — so each decision is table-tested on its own below,
//! and the executor (`engine.rs`, `cloudflow.rs`) only carries them out.

use attune_model::lifecycle::LifecycleInstructions;

use crate::cloud::{FailureKind, Fallback};
use crate::engine::{SaveKind, State};
use crate::messages::Message;
use crate::report::ReportRow;
use crate::session::{Connectivity, Phase, Source};

/// What a command does first about what a crashed process left (docs/design.md §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Resume {
    /// Nothing was left half done (or an active session is simply live).
    Nothing,
    /// An open journal that no active session owns: put everything back.
    Restore,
    /// A key-out restored everything but died before removing the session record.
    ForgetSession,
}

/// `phase`: the session record's phase, if there is one.
pub(crate) fn resume_action(phase: Option<Phase>, journal_open: bool) -> Resume {
    match (phase, journal_open) {
        (Some(Phase::Active), true) => Resume::Nothing,
        (_, true) => Resume::Restore,
        (Some(Phase::Applying | Phase::Restoring), false) => Resume::ForgetSession,
        _ => Resume::Nothing,
    }
}

/// How a key-in begins, given the session already on this computer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Start {
    /// The same person is already keyed in: nothing to apply.
    AlreadyKeyedIn,
    /// Someone else is keyed in: key them out first (docs/design.md §3).
    KeyOutFirst,
    Fresh,
}

/// `session`: the phase of the recorded session and whether it is the same key.
pub(crate) fn key_in_start(session: Option<(Phase, bool)>) -> Start {
    match session {
        Some((Phase::Active, true)) => Start::AlreadyKeyedIn,
        Some((Phase::Active, false)) => Start::KeyOutFirst,
        _ => Start::Fresh,
    }
}

/// What is applied before the cloud is asked (docs/design.md §3 step 3, §10.3): the newer of
/// the cache's answer and the stick's sealed set (the cache on a tie: it is this computer's
/// cloud answer, matched by the cloud), else the snapset of the key's name, else nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum First {
    Cache,
    Stick,
    Snapset,
    Nothing,
}

/// `cache_saved` and `stick_saved`: when each usable copy was saved (unix seconds), if there is
/// one.
pub(crate) fn first_source(
    cache_saved: Option<u64>,
    stick_saved: Option<u64>,
    snapset: bool,
) -> First {
    match (cache_saved, stick_saved) {
        (Some(c), Some(s)) if s > c => First::Stick,
        (Some(_), _) => First::Cache,
        (None, Some(_)) => First::Stick,
        (None, None) if snapset => First::Snapset,
        (None, None) => First::Nothing,
    }
}

/// Whether the stick's sealed copy is replaced once the cloud has answered (docs/design.md
/// §10.3): when it differs from the cloud's preferences, or could not be used for a reason a
/// fresh copy cures. A stick with no sealed file is left so: the person never asked for one.
pub(crate) fn refresh_stick(
    stick: &Result<Option<attune_model::prefs::PreferenceSet>, crate::stick::StickError>,
    cloud: &attune_model::prefs::PreferenceSet,
) -> bool {
    match stick {
        Ok(Some(on_stick)) => on_stick != cloud,
        Ok(None) => false,
        Err(e) => e.replaceable(),
    }
}

/// What to do when the cloud's answer arrives after the cache's was applied (docs/design.md §3 step
/// 5). Public, with [`reconcile`], for the performance gates (`perf/`), which measure it.
#[derive(Debug, Clone, PartialEq)]
pub enum Reconcile {
    /// The same instructions: the desktop already shows the cloud's answer.
    Keep,
    /// The cloud's answer sets again everything the cache set: write only what changed, so
    /// nothing the person already has flickers back to the original and out again.
    ApplyDifference(LifecycleInstructions),
    /// The cloud's answer drops something the cache applied: put the computer back, then apply
    /// the cloud's (the journal keeps the first originals).
    RestoreThenApply,
}

/// How to go from the cache's instructions, applied, to the cloud's.
pub fn reconcile(cached: &LifecycleInstructions, cloud: &LifecycleInstructions) -> Reconcile {
    if cached == cloud {
        return Reconcile::Keep;
    }
    match difference(cached, cloud) {
        Some(delta) => Reconcile::ApplyDifference(delta),
        None => Reconcile::RestoreThenApply,
    }
}

/// What must be written to go from `old` (applied) to `new`, when `new` sets again every setting
/// and launch `old` did: the settings whose value changed or is new, and the launches that
/// changed. `None` when `new` leaves out something of `old`, which only a restore can undo.
pub(crate) fn difference(
    old: &LifecycleInstructions,
    new: &LifecycleInstructions,
) -> Option<LifecycleInstructions> {
    if !covers(new, old) {
        return None;
    }
    let mut delta = new.clone();
    for (sid, n) in delta.solutions.iter_mut() {
        let Some(o) = old.solutions.get(sid) else {
            continue;
        };
        for (hid, nh) in n.settings_handlers.iter_mut() {
            if let Some(oh) = o.settings_handlers.get(hid) {
                nh.settings.retain(|k, v| oh.settings.get(k) != Some(v));
            }
        }
        n.settings_handlers.retain(|_, h| !h.settings.is_empty());
        if n.launch == o.launch {
            n.launch = None;
        }
    }
    delta
        .solutions
        .retain(|_, s| !s.settings_handlers.is_empty() || s.launch.is_some());
    Some(delta)
}

/// Whether `new` sets again every setting (same handler, same options) and launch of `old`.
fn covers(new: &LifecycleInstructions, old: &LifecycleInstructions) -> bool {
    old.solutions.iter().all(|(sid, o)| {
        let Some(n) = new.solutions.get(sid) else {
            return false;
        };
        let handlers = o.settings_handlers.iter().all(|(hid, oh)| {
            n.settings_handlers.get(hid).is_some_and(|nh| {
                nh.handler_type == oh.handler_type
                    && nh.options == oh.options
                    && oh.settings.keys().all(|k| nh.settings.contains_key(k))
            })
        });
        handlers && !(o.launch.is_some() && n.launch.is_none())
    })
}

/// The cached report with the rows of the difference laid over it (by solution and setting).
pub(crate) fn merge_rows(mut rows: Vec<ReportRow>, changed: Vec<ReportRow>) -> Vec<ReportRow> {
    for c in changed {
        match rows
            .iter_mut()
            .find(|r| r.solution == c.solution && r.setting == c.setting)
        {
            Some(r) => *r = c,
            None => rows.push(c),
        }
    }
    rows
}

/// What a key-in does when the cloud failed (docs/design.md §3 step 6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum AfterFailure {
    /// The cloud does not accept this key: purge its cache, undo what was applied first, apply
    /// nothing.
    Reject,
    /// Keep what was applied before the cloud was asked: the cache's answer, or (with no cache)
    /// the bundled snapset of the same name.
    KeepCache,
    /// Apply the bundled snapset of the same name.
    Snapset,
    /// Apply nothing, and tell the person so in these words' second sentence.
    Nothing(Fallback),
}

pub(crate) fn after_failure(
    kind: &FailureKind,
    cache_applied: bool,
    snapset_available: bool,
    reconnects_in_background: bool,
) -> AfterFailure {
    match kind {
        FailureKind::KeyRejected { .. } => AfterFailure::Reject,
        _ if cache_applied => AfterFailure::KeepCache,
        _ if snapset_available => AfterFailure::Snapset,
        _ if reconnects_in_background && asking_again_may_help(kind) => {
            AfterFailure::Nothing(Fallback::Nothing)
        }
        _ => AfterFailure::Nothing(Fallback::NothingNoRetry),
    }
}

/// Whether a key-in that failed this way is worth keeping pending: the cloud was away, slow,
/// in trouble or unreadable, which passes. Not a refusal, a stale token or a version mismatch
/// (the client keeps that until it restarts): asking again gives the same answer.
fn asking_again_may_help(kind: &FailureKind) -> bool {
    use crate::cloud::UserMessage;
    matches!(
        kind.user_message(),
        UserMessage::CantReach
            | UserMessage::Untrusted(_)
            | UserMessage::ServerTrouble
            | UserMessage::Unreadable
    )
}

/// The session's connectivity after a failed cloud call.
pub(crate) fn connectivity(kind: &FailureKind) -> Connectivity {
    match kind {
        FailureKind::VersionMismatch { .. } => Connectivity::VersionMismatch,
        FailureKind::StaleToken => Connectivity::AuthStale,
        _ => Connectivity::Offline,
    }
}

/// What a finished key-in says.
pub(crate) fn keyed_in_message(source: &Source, failed_settings: usize) -> Message {
    match source {
        _ if failed_settings > 0 => Message::SomeSettingsFailed,
        Source::Snapset => Message::KeyedInSnapset,
        _ => Message::KeyedInCloud,
    }
}

/// What `status` says of a session: what the person was last told, or what its key-in says.
pub(crate) fn status_message(session: &crate::session::Session) -> String {
    match &session.message {
        Some(m) => m.clone(),
        None => match session.origin {
            crate::session::Origin::Snapset => Message::KeyedInSnapset,
            _ => Message::KeyedInCloud,
        }
        .text()
        .to_owned(),
    }
}

/// What `attune set` says once the change is applied: saved, waiting (`left` changes in the
/// outbox), or the stale-token sentence.
pub(crate) fn save_outcome(connectivity: Option<Connectivity>, left: usize) -> String {
    match (connectivity, left) {
        (Some(Connectivity::AuthStale), _) => crate::cloud::classify::STALE_TOKEN_TEXT.to_owned(),
        (_, 0) => "Saved.".to_owned(),
        (_, n) => format!(
            "Applied here; not yet saved ({n} change{}).",
            if n == 1 { "" } else { "s" }
        ),
    }
}

/// `attune status`'s state: the session's phase, or what an open journal without one means.
pub(crate) fn status_state(phase: Option<Phase>, journal_open: bool) -> State {
    match (phase, journal_open) {
        (Some(Phase::Active), _) => State::Active,
        (Some(Phase::Applying), _) | (None, true) => State::Interrupted,
        (Some(Phase::Restoring), _) => State::Restoring,
        (None, false) => State::Idle,
    }
}

/// Whether the person's changes are kept.
pub(crate) fn save_kind(source: Option<&Source>, pending: u64) -> SaveKind {
    match source {
        None => SaveKind::None,
        Some(Source::Snapset) => SaveKind::ReadOnly,
        Some(_) if pending > 0 => SaveKind::Pending,
        Some(_) => SaveKind::Saved,
    }
}

/// What `status` says about the cloud: connectivity and reason code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CloudView {
    pub connectivity: Option<Connectivity>,
    pub reason_code: Option<String>,
}

/// `failed_contact`: the outcome code of this computer's newest cloud call, when nobody is keyed
/// in and it failed; `session`: the session's own connectivity and reason.
pub(crate) fn cloud_view(
    testing: bool,
    failed_contact: Option<&str>,
    session: (Option<Connectivity>, Option<&str>),
) -> CloudView {
    let connectivity = match failed_contact {
        Some("version_mismatch") => Some(Connectivity::VersionMismatch),
        Some(_) => Some(Connectivity::Offline),
        None => session.0,
    };
    let reason_code = if testing {
        Some("testing".to_owned())
    } else {
        failed_contact.or(session.1).map(str::to_owned)
    };
    CloudView {
        connectivity,
        reason_code,
    }
}

/// Why the session is not online, in words for people.
pub(crate) fn reason_words(testing: bool, reason_code: Option<&str>) -> Option<String> {
    if testing {
        return Some("testing profile: the network is never used".to_owned());
    }
    reason_code.map(|c| crate::cloud::classify::reason_words(c).to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use attune_model::lifecycle::{HandlerInstructions, LaunchInstruction, SolutionInstructions};
    use serde_json::{json, Value};

    #[test]
    fn resume_action_table() {
        use Phase::*;
        let table = [
            (None, false, Resume::Nothing),
            (None, true, Resume::Restore),
            (Some(Active), true, Resume::Nothing),
            (Some(Active), false, Resume::Nothing),
            (Some(Applying), true, Resume::Restore),
            (Some(Restoring), true, Resume::Restore),
            (Some(Applying), false, Resume::ForgetSession),
            (Some(Restoring), false, Resume::ForgetSession),
        ];
        for (phase, open, want) in table {
            assert_eq!(resume_action(phase, open), want, "{phase:?} open={open}");
        }
    }

    #[test]
    fn the_newer_of_cache_and_stick_goes_first_then_the_snapset() {
        use First::*;
        let table = [
            (Some(10), Some(20), true, Stick),
            (Some(20), Some(10), true, Cache),
            (Some(10), Some(10), false, Cache),
            (Some(10), None, true, Cache),
            (None, Some(10), true, Stick),
            (None, None, true, Snapset),
            (None, None, false, Nothing),
        ];
        for (cache, stick, snapset, want) in table {
            assert_eq!(
                first_source(cache, stick, snapset),
                want,
                "{cache:?} {stick:?} {snapset}"
            );
        }
    }

    #[test]
    fn a_stale_or_damaged_stick_copy_is_refreshed_and_a_newer_format_or_none_is_left() {
        use crate::stick::StickError;
        let set = |font: u32| {
            attune_model::prefs::PreferenceSet::from_value_named(
                json!({"flat": {"contexts": {"gpii-default": {"preferences": {
                    "http://registry.gpii.net/common/fontSize": font}}}}}),
                "t",
            )
            .unwrap()
        };
        let cloud = set(18);
        let table = [
            (Ok(Some(set(18))), false),
            (Ok(Some(set(12))), true),
            (Ok(None), false),
            (Err(StickError::Damaged), true),
            (
                Err(StickError::Truncated {
                    found: 1,
                    expected: 90,
                }),
                true,
            ),
            (Err(StickError::NotSealed), true),
            (Err(StickError::Version { found: 2 }), false),
            (
                Err(StickError::Unreadable {
                    detail: "EIO".to_owned(),
                }),
                false,
            ),
        ];
        for (stick, want) in table {
            assert_eq!(refresh_stick(&stick, &cloud), want, "{stick:?}");
        }
    }

    #[test]
    fn key_in_start_table() {
        use Phase::*;
        let table = [
            (None, Start::Fresh),
            (Some((Active, true)), Start::AlreadyKeyedIn),
            (Some((Active, false)), Start::KeyOutFirst),
            (Some((Applying, true)), Start::Fresh),
            (Some((Restoring, false)), Start::Fresh),
        ];
        for (session, want) in table {
            assert_eq!(key_in_start(session), want, "{session:?}");
        }
    }

    fn handler(settings: &[(&str, Value)]) -> HandlerInstructions {
        HandlerInstructions {
            handler_type: "gsettings".to_owned(),
            options: json!({"schema": "s"}),
            settings: settings
                .iter()
                .map(|(k, v)| ((*k).to_owned(), v.clone()))
                .collect(),
            ..Default::default()
        }
    }

    /// A solution's id, its settings, and its launch (`Some(enabled)`).
    type Solution<'a> = (&'a str, &'a [(&'a str, Value)], Option<bool>);

    fn instr(solutions: &[Solution<'_>]) -> LifecycleInstructions {
        let mut out = LifecycleInstructions::default();
        for (id, settings, launch) in solutions {
            let mut s = SolutionInstructions::default();
            if !settings.is_empty() {
                s.settings_handlers
                    .insert("h".to_owned(), handler(settings));
            }
            s.launch = launch.map(|enabled| LaunchInstruction {
                handler_type: "systemd".to_owned(),
                options: json!({}),
                enabled,
            });
            out.solutions.insert((*id).to_owned(), s);
        }
        out
    }

    #[test]
    fn reconcile_table() {
        let cached = instr(&[(
            "a",
            &[("size", json!(1.5)), ("contrast", json!(true))],
            None,
        )]);
        let same = cached.clone();
        let changed_value = instr(&[(
            "a",
            &[("size", json!(2.0)), ("contrast", json!(true))],
            None,
        )]);
        let added = instr(&[
            (
                "a",
                &[("size", json!(1.5)), ("contrast", json!(true))],
                None,
            ),
            ("b", &[("zoom", json!(2))], Some(true)),
        ]);
        let dropped_setting = instr(&[("a", &[("size", json!(1.5))], None)]);
        let dropped_solution = instr(&[("b", &[("zoom", json!(2))], None)]);
        let mut other_options = cached.clone();
        if let Some(h) = other_options
            .solutions
            .get_mut("a")
            .and_then(|s| s.settings_handlers.get_mut("h"))
        {
            h.options = json!({"schema": "other"});
        }

        assert_eq!(reconcile(&cached, &same), Reconcile::Keep);
        assert_eq!(
            reconcile(&cached, &changed_value),
            Reconcile::ApplyDifference(instr(&[("a", &[("size", json!(2.0))], None)]))
        );
        assert_eq!(
            reconcile(&cached, &added),
            Reconcile::ApplyDifference(instr(&[("b", &[("zoom", json!(2))], Some(true))]))
        );
        for dropping in [dropped_setting, dropped_solution, other_options] {
            assert_eq!(
                reconcile(&cached, &dropping),
                Reconcile::RestoreThenApply,
                "{dropping:?}"
            );
        }
    }

    #[test]
    fn reconcile_launches() {
        let running = instr(&[("a", &[], Some(true))]);
        let stopped = instr(&[("a", &[], Some(false))]);
        let none = instr(&[("a", &[], None)]);
        assert_eq!(
            reconcile(&running, &stopped),
            Reconcile::ApplyDifference(stopped.clone())
        );
        assert_eq!(reconcile(&running, &none), Reconcile::RestoreThenApply);
        assert_eq!(
            reconcile(&none, &running),
            Reconcile::ApplyDifference(running.clone())
        );
    }

    #[test]
    fn after_failure_table() {
        let rejected = FailureKind::KeyRejected {
            detail: String::new(),
        };
        let away = FailureKind::TooSlow;
        let mismatch = FailureKind::VersionMismatch {
            client: "1".to_owned(),
            server: "2".to_owned(),
        };
        let stale = FailureKind::StaleToken;
        let refused = FailureKind::Refused {
            status: 501,
            detail: String::new(),
        };
        let (keep, snap, reject) = (
            AfterFailure::KeepCache,
            AfterFailure::Snapset,
            AfterFailure::Reject,
        );
        let retry = AfterFailure::Nothing(Fallback::Nothing);
        let give_up = AfterFailure::Nothing(Fallback::NothingNoRetry);
        let table = [
            // kind, cache applied, snapset, reconnects → decision
            (&rejected, true, true, true, reject.clone()),
            (&rejected, false, false, false, reject),
            (&away, true, true, false, keep.clone()),
            (&away, true, false, true, keep.clone()),
            (&away, false, true, false, snap.clone()),
            (&away, false, false, true, retry),
            (&away, false, false, false, give_up.clone()),
            (&stale, false, true, true, snap),
            // A mismatch or a refusal is not asked again, even by a process that reconnects.
            (&mismatch, true, false, true, keep),
            (&refused, false, false, true, give_up.clone()),
            (&mismatch, false, false, true, give_up),
        ];
        for (kind, cache, snapset, reconnects, want) in table {
            assert_eq!(
                after_failure(kind, cache, snapset, reconnects),
                want,
                "{kind:?} cache={cache} snapset={snapset} reconnects={reconnects}"
            );
        }
    }

    #[test]
    fn connectivity_table() {
        let table = [
            (
                FailureKind::VersionMismatch {
                    client: "1".to_owned(),
                    server: "2".to_owned(),
                },
                Connectivity::VersionMismatch,
            ),
            (FailureKind::StaleToken, Connectivity::AuthStale),
            (FailureKind::TooSlow, Connectivity::Offline),
            (
                FailureKind::Busy {
                    status: 503,
                    retry_after: None,
                },
                Connectivity::Offline,
            ),
        ];
        for (kind, want) in table {
            assert_eq!(connectivity(&kind), want, "{kind:?}");
        }
    }

    #[test]
    fn keyed_in_message_table() {
        let cache = Source::Cache { age_seconds: 5 };
        let table = [
            (&Source::Snapset, 0, Message::KeyedInSnapset),
            (&Source::Cloud, 0, Message::KeyedInCloud),
            (&cache, 0, Message::KeyedInCloud),
            (&Source::Snapset, 1, Message::SomeSettingsFailed),
            (&Source::Cloud, 3, Message::SomeSettingsFailed),
        ];
        for (source, failed, want) in table {
            assert_eq!(
                keyed_in_message(source, failed),
                want,
                "{source:?} {failed}"
            );
        }
    }

    #[test]
    fn save_outcome_table() {
        let stale = crate::cloud::classify::STALE_TOKEN_TEXT;
        let table = [
            (Some(Connectivity::Online), 0, "Saved."),
            (None, 0, "Saved."),
            (
                Some(Connectivity::Offline),
                1,
                "Applied here; not yet saved (1 change).",
            ),
            (
                Some(Connectivity::Offline),
                3,
                "Applied here; not yet saved (3 changes).",
            ),
            (Some(Connectivity::AuthStale), 0, stale),
            (Some(Connectivity::AuthStale), 2, stale),
        ];
        for (conn, left, want) in table {
            assert_eq!(save_outcome(conn, left), want, "{conn:?} {left}");
        }
    }

    #[test]
    fn status_state_table() {
        use Phase::*;
        let table = [
            (None, false, State::Idle),
            (None, true, State::Interrupted),
            (Some(Active), true, State::Active),
            (Some(Active), false, State::Active),
            (Some(Applying), true, State::Interrupted),
            (Some(Applying), false, State::Interrupted),
            (Some(Restoring), true, State::Restoring),
        ];
        for (phase, open, want) in table {
            assert_eq!(status_state(phase, open), want, "{phase:?} {open}");
        }
    }

    #[test]
    fn save_kind_table() {
        let cache = Source::Cache { age_seconds: 1 };
        let table = [
            (None, 0, SaveKind::None),
            (None, 3, SaveKind::None),
            (Some(&Source::Snapset), 0, SaveKind::ReadOnly),
            (Some(&Source::Snapset), 2, SaveKind::ReadOnly),
            (Some(&Source::Cloud), 0, SaveKind::Saved),
            (Some(&Source::Cloud), 1, SaveKind::Pending),
            (Some(&cache), 0, SaveKind::Saved),
            (Some(&cache), 4, SaveKind::Pending),
        ];
        for (source, pending, want) in table {
            assert_eq!(save_kind(source, pending), want, "{source:?} {pending}");
        }
    }

    #[test]
    fn cloud_view_table() {
        let s = |c: Option<Connectivity>, r: Option<&str>| CloudView {
            connectivity: c,
            reason_code: r.map(str::to_owned),
        };
        let table = [
            // testing, failed contact, session (connectivity, reason) → view
            (false, None, (None, None), s(None, None)),
            (true, None, (None, None), s(None, Some("testing"))),
            (
                false,
                Some("unreachable"),
                (None, None),
                s(Some(Connectivity::Offline), Some("unreachable")),
            ),
            (
                false,
                Some("version_mismatch"),
                (None, None),
                s(
                    Some(Connectivity::VersionMismatch),
                    Some("version_mismatch"),
                ),
            ),
            (
                false,
                None,
                (Some(Connectivity::Offline), Some("busy")),
                s(Some(Connectivity::Offline), Some("busy")),
            ),
            (
                true,
                None,
                (Some(Connectivity::Online), None),
                s(Some(Connectivity::Online), Some("testing")),
            ),
        ];
        for (testing, failed, session, want) in table {
            assert_eq!(
                cloud_view(testing, failed, session),
                want,
                "{testing} {failed:?} {session:?}"
            );
        }
        assert_eq!(
            reason_words(true, Some("busy")).as_deref(),
            Some("testing profile: the network is never used")
        );
        assert_eq!(reason_words(false, None), None);
        assert!(reason_words(false, Some("unreachable")).is_some());
    }

    #[test]
    fn merged_rows_replace_by_solution_and_setting() {
        let row = |sol: &str, set: &str, v: i64| ReportRow {
            solution: sol.to_owned(),
            setting: set.to_owned(),
            value: Some(json!(v)),
            outcome: crate::report::Outcome::Applied,
            reason: None,
        };
        let merged = merge_rows(
            vec![row("a", "x", 1), row("a", "y", 1)],
            vec![row("a", "y", 2), row("b", "x", 3)],
        );
        assert_eq!(
            merged,
            vec![row("a", "x", 1), row("a", "y", 2), row("b", "x", 3)]
        );
    }
}

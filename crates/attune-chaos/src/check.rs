//! The checker, Jepsen's way: pure functions over the recorded history and one final read made
//! after every fault has healed. Nothing here does I/O.
//!
//! - **lost**: an acknowledged save whose value the final read does not hold, when no later save
//!   of the same person and term is what it holds instead (a superseded save is not lost);
//! - **unexpected**: a value in the final read (or shown by a cloud key-in) that the person never
//!   wrote and did not start with;
//! - every key-in ended with the person's settings (cloud or cache), or with nothing when they had
//!   no cache, within the key-in bound;
//! - exactly the sessions whose token died in a restore were told "Something has gone wrong.
//!   Please log out and log back in.", and their relogin saved their outbox;
//! - no 500, no panic, every desktop put back exactly.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::history::{FaultKind, FaultWindow, KeyInEnd, PersonLog, Session, Write, TERMS};

/// The longest a key-in may take: the policy's 10 s deadline for the whole cloud step
/// (docs/design.md §4), plus 1 s for the local work around it (the cache applied first, the
/// session and journal written, the fallback decided) in a debug build, sixty people at once on
/// two shared cores.
pub const KEY_IN_BOUND_MS: u64 = 11_000;

/// A person's final read: term → value, or `None` when the read itself failed.
pub type FinalRead = Option<BTreeMap<String, f64>>;

/// What the checker found.
#[derive(Debug, Default, Serialize)]
pub struct Verdict {
    pub key_ins: usize,
    pub key_ins_settled_in_deadline: usize,
    pub key_in_outcomes: BTreeMap<String, usize>,
    pub key_in_p50_ms: u64,
    pub key_in_p99_ms: u64,
    pub key_in_max_ms: u64,
    pub saves_invoked: usize,
    pub acknowledged_saves: usize,
    /// `set` failed: nothing applied or queued.
    pub failed_saves: usize,
    /// Never acknowledged (still queued when the run ended); none once every outbox is empty.
    pub indeterminate_saves: usize,
    pub lost_saves: usize,
    /// Acknowledged after the backup began, then rolled back by the restore, from a session that
    /// never contacted the cloud again (docs/operations.md, "What people notice after a restore
    /// from an older backup"): expected, counted apart from `lost_saves`.
    pub restore_rolled_back_saves: usize,
    /// An acknowledged save that a later cloud key-in did not show (nor anything newer): lost,
    /// for a while at least, even when a newer save hides it from the final read.
    pub lost_at_later_read: usize,
    /// The same for a save a restore rolled back unseen (see `restore_rolled_back_saves`).
    pub restore_rolled_back_reads: usize,
    pub unexpected_values: usize,
    /// A value a cloud key-in showed that the person never wrote.
    pub unexpected_reads: usize,
    pub stale_token_sessions: usize,
    pub stale_token_guided: usize,
    pub stale_token_relogin_saved: usize,
    pub desktops_restored: usize,
    /// Every failed check, in words; empty means the run passed.
    pub failures: Vec<String>,
    /// Each lost save, for the report (person, term, value, why it counts).
    pub lost: Vec<String>,
}

fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// The restores of the SQLite node: (backup started, backup ended, restore started, restore
/// ended).
fn restores(faults: &[FaultWindow]) -> Vec<(u64, u64, u64, u64)> {
    faults
        .iter()
        .filter(|f| f.kind == FaultKind::RestoreFromBackup)
        .filter_map(|f| match (f.backup_ms, f.restored_ms) {
            (Some((b0, b1)), Some((r0, r1))) => Some((b0, b1, r0, r1)),
            _ => None,
        })
        .collect()
}

/// What a restore did to a session's token. A restore ends every token (attune-cloud's
/// `admin::end_every_token`): those the backup held as well as those granted after it.
#[derive(Debug, PartialEq, Eq)]
enum TokenFate {
    /// Granted once the server was back on the restored store (or no restore came after it).
    Alive,
    /// Granted before the server stopped for the restore: ended by it. `after` is when the
    /// restore ended.
    Died { after: u64 },
    /// Asked for before the stop, its answer after the restart: either.
    Either { after: u64 },
}

fn token_fate((g0, g1): (u64, u64), restores: &[(u64, u64, u64, u64)]) -> TokenFate {
    for &(_b0, _b1, r0, r1) in restores {
        if g0 >= r0 {
            // Asked for once the server was stopping: granted by the restored store.
            continue;
        }
        if g1 < r1 {
            // Nothing is granted while the server is stopped: a grant that ended before it
            // was back was stored before it stopped.
            return TokenFate::Died { after: r1 };
        }
        return TokenFate::Either { after: r1 };
    }
    TokenFate::Alive
}

/// Whether an acknowledged save may have been rolled back by a restore without the person's
/// computer ever being able to know: acknowledged after the backup began, invoked before the
/// server was stopped for the restore (so possibly stored between the two), and its session
/// asked the cloud nothing after the restore.
fn rolled_back_unseen(w: &Write, s: Option<&Session>, restores: &[(u64, u64, u64, u64)]) -> bool {
    let Some(acked) = w.acked_ms else {
        return false;
    };
    restores.iter().any(|&(b0, _b1, r0, r1)| {
        acked > b0 && w.invoked_ms < r0 && s.is_none_or(|s| s.contacts_ms.iter().all(|&c| c <= r1))
    })
}

/// Checks one person's saves against their final read. Adds to `v`.
fn check_saves(
    p: &PersonLog,
    read: &FinalRead,
    restores: &[(u64, u64, u64, u64)],
    v: &mut Verdict,
) {
    let restores: &[(u64, u64, u64, u64)] = if p.on_sqlite { restores } else { &[] };
    let sessions: BTreeMap<u64, &Session> = p.sessions.iter().map(|s| (s.session, s)).collect();
    for term in TERMS {
        let writes: Vec<&Write> = p
            .writes
            .iter()
            .filter(|w| w.term == term.name && w.failed.is_none())
            .collect();
        let final_value = read.as_ref().and_then(|r| r.get(term.name).copied());
        // Which write the final value came from: the newest with that value (values are unique
        // per person and term, so there is at most one); before all of them for the initial.
        let present = final_value.and_then(|f| writes.iter().rposition(|w| w.value == f));
        let is_initial = final_value == Some(term.initial);
        if let Some(f) = final_value {
            if present.is_none() && !is_initial {
                v.unexpected_values += 1;
                v.failures.push(format!(
                    "unexpected value: person {} {} = {f}, never written",
                    p.person, term.name
                ));
            }
        }
        let first_not_superseded = present.map_or(0, |i| i + 1);
        for w in &writes[first_not_superseded.min(writes.len())..] {
            if w.acked_ms.is_none() {
                continue;
            }
            if rolled_back_unseen(w, sessions.get(&w.session).copied(), restores) {
                v.restore_rolled_back_saves += 1;
                continue;
            }
            v.lost_saves += 1;
            v.lost.push(format!(
                "person {} {} = {} (acknowledged at {} ms, session {}); final read {}",
                p.person,
                term.name,
                w.value,
                w.acked_ms.unwrap_or_default(),
                w.session,
                final_value.map_or("nothing".to_owned(), |f| f.to_string())
            ));
        }
    }
}

/// Checks the stale-token guidance of one person's sessions. Adds to `v`.
///
/// A token is held from its grant to the next grant of the session (a relogin's). One that a
/// restore ended must be reported stale if the session asks the cloud with it after the
/// restore; a stale report while holding a token no restore ended is wrong.
fn check_stale(p: &PersonLog, restores: &[(u64, u64, u64, u64)], v: &mut Verdict) {
    let restores: &[(u64, u64, u64, u64)] = if p.on_sqlite { restores } else { &[] };
    for s in &p.sessions {
        let told = !s.stale_seen_ms.is_empty();
        let mut affected = told;
        for (k, &grant) in s.tokens.iter().enumerate() {
            let until = s.tokens.get(k + 1).map_or(u64::MAX, |next| next.0);
            let held = |t: u64| t >= grant.0 && t < until;
            let told_here = s.stale_seen_ms.iter().any(|&t| held(t));
            match token_fate(grant, restores) {
                TokenFate::Died { after } => {
                    let asked_after = s.contacts_ms.iter().any(|&c| held(c) && c > after);
                    affected |= asked_after;
                    if asked_after && !told_here {
                        v.failures.push(format!(
                            "person {} session {}: the restore ended its token and it asked the cloud afterwards, but it was never told to log out and back in",
                            p.person, s.session
                        ));
                    }
                }
                TokenFate::Either { .. } => {}
                TokenFate::Alive if told_here => v.failures.push(format!(
                    "person {} session {}: told its sign-in is stale, but its token was granted after every restore",
                    p.person, s.session
                )),
                TokenFate::Alive => {}
            }
        }
        if s.tokens.is_empty() && told {
            v.failures.push(format!(
                "person {} session {}: told its sign-in is stale, but it holds no token",
                p.person, s.session
            ));
        }
        for t in &s.stale_wrong_text {
            v.failures.push(format!(
                "person {} session {}: a stale token was answered with {t:?}, not the sentence of docs/design.md §3",
                p.person, s.session
            ));
        }
        if affected {
            v.stale_token_sessions += 1;
        }
        if told {
            if s.stale_wrong_text.is_empty() {
                v.stale_token_guided += 1;
            }
            if s.relogin_saved {
                v.stale_token_relogin_saved += 1;
            } else {
                v.failures.push(format!(
                    "person {} session {}: told to log out and back in, but the relogin did not save its outbox",
                    p.person, s.session
                ));
            }
        }
    }
}

/// Checks what each cloud key-in showed: no value the person never wrote, and no acknowledged
/// save older than what it shows (a save acknowledged before the key-in began must be there, or
/// a newer one). Adds to `v`.
fn check_reads(p: &PersonLog, restores: &[(u64, u64, u64, u64)], v: &mut Verdict) {
    let restores: &[(u64, u64, u64, u64)] = if p.on_sqlite { restores } else { &[] };
    let sessions: BTreeMap<u64, &Session> = p.sessions.iter().map(|s| (s.session, s)).collect();
    for read in &p.reads {
        for term in TERMS {
            let Some(&value) = read.values.get(term.name) else {
                continue;
            };
            let writes: Vec<&Write> = p
                .writes
                .iter()
                .filter(|w| w.term == term.name && w.failed.is_none())
                .collect();
            let shown = writes.iter().rposition(|w| w.value == value);
            if shown.is_none() && value != term.initial {
                v.unexpected_reads += 1;
                v.failures.push(format!(
                    "person {}: a cloud key-in at {} ms showed {} = {value}, never written",
                    p.person, read.at_ms, term.name
                ));
                continue;
            }
            let newest_acked = writes
                .iter()
                .rposition(|w| w.acked_ms.is_some_and(|a| a < read.at_ms));
            let (Some(a), first) = (newest_acked, shown.map_or(0, |i| i + 1)) else {
                continue;
            };
            if a < first {
                continue;
            }
            let w = writes[a];
            if rolled_back_unseen(w, sessions.get(&w.session).copied(), restores) {
                v.restore_rolled_back_reads += 1;
                continue;
            }
            v.lost_at_later_read += 1;
            v.lost.push(format!(
                "person {} {} = {} (acknowledged at {} ms) missing from the cloud key-in at {} ms, which showed {value}",
                p.person,
                term.name,
                w.value,
                w.acked_ms.unwrap_or_default(),
                read.at_ms
            ));
        }
    }
}

/// Checks one person's key-ins. Adds to `v`; returns the latencies.
fn check_key_ins(p: &PersonLog, v: &mut Verdict) -> Vec<u64> {
    let mut took = Vec::new();
    for k in &p.key_ins {
        v.key_ins += 1;
        took.push(k.took_ms);
        *v.key_in_outcomes.entry(k.end.label()).or_default() += 1;
        let right = match &k.end {
            KeyInEnd::Cloud => true,
            KeyInEnd::Cache => k.had_cache,
            KeyInEnd::Nothing { .. } => !k.had_cache,
            KeyInEnd::Snapset | KeyInEnd::Error { .. } => false,
        };
        if !right {
            v.failures.push(format!(
                "person {} key-in at {} ms ended with {} (had a cache: {})",
                p.person,
                k.at_ms,
                k.end.label(),
                k.had_cache
            ));
        }
        if k.took_ms <= KEY_IN_BOUND_MS {
            v.key_ins_settled_in_deadline += 1;
        } else {
            v.failures.push(format!(
                "person {} key-in at {} ms took {} ms (bound {KEY_IN_BOUND_MS} ms), ended with {}",
                p.person,
                k.at_ms,
                k.took_ms,
                k.end.label()
            ));
        }
    }
    took
}

/// Checks a whole run: the people's logs, their final reads (same order), and the faults.
pub fn check(people: &[PersonLog], reads: &[FinalRead], faults: &[FaultWindow]) -> Verdict {
    let mut v = Verdict::default();
    let restores = restores(faults);
    let mut took = Vec::new();
    for (p, read) in people.iter().zip(reads) {
        took.extend(check_key_ins(p, &mut v));
        for w in &p.writes {
            v.saves_invoked += 1;
            match (&w.failed, w.acked_ms) {
                (Some(_), _) => v.failed_saves += 1,
                (None, Some(_)) => v.acknowledged_saves += 1,
                (None, None) => v.indeterminate_saves += 1,
            }
        }
        if read.is_none() {
            v.failures
                .push(format!("person {}: the final read failed", p.person));
        }
        check_saves(p, read, &restores, &mut v);
        check_reads(p, &restores, &mut v);
        check_stale(p, &restores, &mut v);
        if p.desktop_restored {
            v.desktops_restored += 1;
        } else {
            v.failures.push(format!(
                "person {}: the desktop was not put back exactly",
                p.person
            ));
        }
        if !p.healed {
            v.failures.push(format!(
                "person {}: after healing, the outbox did not empty or the key-out failed",
                p.person
            ));
        }
        if p.panicked {
            v.failures
                .push(format!("person {}: the person's thread panicked", p.person));
        }
        for problem in &p.problems {
            v.failures.push(format!("person {}: {problem}", p.person));
        }
    }
    if v.lost_saves + v.lost_at_later_read > 0 {
        v.failures.push(format!(
            "{} acknowledged save(s) lost from the final read, {} missing from a later key-in: {}",
            v.lost_saves,
            v.lost_at_later_read,
            v.lost.join("; ")
        ));
    }
    took.sort_unstable();
    v.key_in_p50_ms = percentile(&took, 50.0);
    v.key_in_p99_ms = percentile(&took, 99.0);
    v.key_in_max_ms = took.last().copied().unwrap_or(0);
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::KeyIn;

    fn write(term: &'static str, value: f64, invoked: u64, acked: Option<u64>) -> Write {
        Write {
            person: 0,
            session: 1,
            term,
            value,
            invoked_ms: invoked,
            acked_ms: acked,
            failed: None,
        }
    }

    fn person(writes: Vec<Write>) -> PersonLog {
        PersonLog {
            writes,
            sessions: vec![session(None, vec![])],
            healed: true,
            desktop_restored: true,
            ..PersonLog::default()
        }
    }

    fn session(token: Option<(u64, u64)>, contacts: Vec<u64>) -> Session {
        Session {
            person: 0,
            session: 1,
            start_ms: 0,
            end_ms: Some(100_000),
            tokens: token.into_iter().collect(),
            contacts_ms: contacts,
            stale_seen_ms: vec![],
            stale_wrong_text: vec![],
            relogin_saved: false,
        }
    }

    fn read(pairs: &[(&str, f64)]) -> FinalRead {
        let mut r: BTreeMap<String, f64> = TERMS
            .iter()
            .map(|t| (t.name.to_owned(), t.initial))
            .collect();
        for (k, v) in pairs {
            r.insert((*k).to_owned(), *v);
        }
        Some(r)
    }

    fn restore(b0: u64, b1: u64, r0: u64, r1: u64) -> FaultWindow {
        FaultWindow {
            kind: FaultKind::RestoreFromBackup,
            target: "sqlite".to_owned(),
            start_ms: b0,
            end_ms: r1,
            backup_ms: Some((b0, b1)),
            restored_ms: Some((r0, r1)),
            detail: String::new(),
        }
    }

    #[test]
    fn the_last_acknowledged_save_read_back_loses_nothing() {
        let p = person(vec![
            write("fontSize", 8.01, 10, Some(20)),
            write("fontSize", 8.02, 30, Some(40)),
        ]);

        let v = check(&[p], &[read(&[("fontSize", 8.02)])], &[]);

        assert_eq!((v.lost_saves, v.unexpected_values), (0, 0));
        assert_eq!(v.acknowledged_saves, 2);
        assert!(v.failures.is_empty(), "{:?}", v.failures);
    }

    #[test]
    fn an_acknowledged_save_missing_from_the_final_read_is_lost() {
        let p = person(vec![
            write("fontSize", 8.01, 10, Some(20)),
            write("fontSize", 8.02, 30, Some(40)),
        ]);

        let v = check(&[p], &[read(&[("fontSize", 8.01)])], &[]);

        assert_eq!(v.lost_saves, 1);
        assert!(!v.failures.is_empty());
    }

    #[test]
    fn a_superseded_save_is_not_lost_even_when_the_newer_one_was_never_acknowledged() {
        let p = person(vec![
            write("fontSize", 8.01, 10, Some(20)),
            write("fontSize", 8.02, 30, None),
        ]);

        let v = check(&[p], &[read(&[("fontSize", 8.02)])], &[]);

        assert_eq!(v.lost_saves, 0);
        assert_eq!(v.indeterminate_saves, 1);
    }

    #[test]
    fn a_value_nobody_wrote_is_unexpected() {
        let p = person(vec![write("fontSize", 8.01, 10, Some(20))]);

        let v = check(&[p], &[read(&[("fontSize", 99.0)])], &[]);

        assert_eq!(v.unexpected_values, 1);
        assert_eq!(v.lost_saves, 1, "the acknowledged save is missing too");
    }

    #[test]
    fn the_initial_value_with_nothing_acknowledged_is_fine() {
        let p = person(vec![write("fontSize", 8.01, 10, None)]);

        let v = check(&[p], &[read(&[])], &[]);

        assert_eq!((v.lost_saves, v.unexpected_values), (0, 0));
    }

    #[test]
    fn a_save_rolled_back_by_a_restore_from_a_session_that_never_asked_again_is_counted_apart() {
        let mut p = person(vec![write("fontSize", 8.01, 1_500, Some(1_600))]);
        p.on_sqlite = true;
        p.sessions = vec![session(Some((100, 200)), vec![1_500])];

        let v = check(&[p], &[read(&[])], &[restore(1_000, 1_100, 5_000, 6_000)]);

        assert_eq!(v.lost_saves, 0);
        assert_eq!(v.restore_rolled_back_saves, 1);
    }

    #[test]
    fn a_rolled_back_save_from_a_session_that_asked_the_cloud_again_is_lost() {
        let mut p = person(vec![write("fontSize", 8.01, 1_500, Some(1_600))]);
        p.on_sqlite = true;
        p.sessions = vec![session(Some((100, 200)), vec![1_500, 7_000])];

        let v = check(&[p], &[read(&[])], &[restore(1_000, 1_100, 5_000, 6_000)]);

        assert_eq!(v.lost_saves, 1);
    }

    #[test]
    fn a_token_granted_before_the_restore_must_be_told_stale_when_it_asks_again() {
        let mut p = person(vec![]);
        p.on_sqlite = true;
        p.sessions = vec![session(Some((2_000, 2_100)), vec![7_000])];

        let v = check(&[p], &[read(&[])], &[restore(1_000, 1_100, 5_000, 6_000)]);

        assert_eq!(v.stale_token_sessions, 1);
        assert_eq!(v.stale_token_guided, 0);
        assert!(v.failures.iter().any(|f| f.contains("never told")));
    }

    #[test]
    fn told_stale_with_a_living_token_fails_and_a_guided_relogin_passes() {
        let mut alive = person(vec![]);
        alive.on_sqlite = true;
        alive.sessions = vec![session(Some((6_100, 6_200)), vec![7_000])];
        alive.sessions[0].stale_seen_ms = vec![7_000];
        alive.sessions[0].relogin_saved = true;
        let mut died = person(vec![]);
        died.on_sqlite = true;
        died.sessions = vec![session(Some((2_000, 2_100)), vec![7_000])];
        died.sessions[0].stale_seen_ms = vec![7_000];
        died.sessions[0].relogin_saved = true;
        let faults = [restore(1_000, 1_100, 5_000, 6_000)];

        let v_alive = check(&[alive], &[read(&[])], &faults);
        let v_died = check(&[died], &[read(&[])], &faults);

        assert!(v_alive
            .failures
            .iter()
            .any(|f| f.contains("after every restore")));
        assert_eq!(
            (v_died.stale_token_sessions, v_died.stale_token_guided),
            (1, 1)
        );
        assert!(v_died.failures.is_empty(), "{:?}", v_died.failures);
    }

    #[test]
    fn key_ins_must_apply_the_cache_when_there_is_one_and_end_within_the_bound() {
        let k = |end: KeyInEnd, had_cache: bool, took_ms: u64| KeyIn {
            person: 0,
            session: 1,
            at_ms: 0,
            took_ms,
            end,
            had_cache,
        };
        let nothing = || KeyInEnd::Nothing {
            reason: "unreachable".to_owned(),
        };
        let mut p = person(vec![]);
        p.key_ins = vec![
            k(KeyInEnd::Cloud, false, 30),
            k(nothing(), false, 2_000),
            k(KeyInEnd::Cache, true, 9_000),
        ];
        let mut bad = person(vec![]);
        bad.key_ins = vec![k(nothing(), true, 100), k(KeyInEnd::Cache, true, 11_500)];

        let good = check(&[p], &[read(&[])], &[]);
        let v = check(&[bad], &[read(&[])], &[]);

        assert!(good.failures.is_empty(), "{:?}", good.failures);
        assert_eq!(good.key_ins_settled_in_deadline, 3);
        assert_eq!(v.failures.len(), 2, "{:?}", v.failures);
        assert_eq!(v.key_ins_settled_in_deadline, 1);
    }

    #[test]
    fn a_restore_ends_every_token_granted_before_the_server_stopped() {
        let faults = [restore(1_000, 1_100, 5_000, 6_000)];
        let r = restores(&faults);

        assert_eq!(token_fate((100, 900), &r), TokenFate::Died { after: 6_000 });
        assert_eq!(
            token_fate((4_000, 5_500), &r),
            TokenFate::Died { after: 6_000 }
        );
        assert_eq!(
            token_fate((4_000, 6_500), &r),
            TokenFate::Either { after: 6_000 }
        );
        assert_eq!(token_fate((5_100, 6_200), &r), TokenFate::Alive);
        assert_eq!(token_fate((7_000, 7_100), &r), TokenFate::Alive);
    }

    #[test]
    fn a_later_key_in_that_shows_an_older_value_than_an_acknowledged_save_loses_it() {
        let mut p = person(vec![
            write("fontSize", 8.01, 10, Some(20)),
            write("fontSize", 8.02, 30, Some(40)),
        ]);
        let read = |at_ms, v| crate::history::Read {
            session: 2,
            at_ms,
            values: BTreeMap::from([("fontSize".to_owned(), v)]),
        };
        p.reads = vec![read(50, 8.02), read(60, 8.01)];

        let v = check(&[p], &[read_final(8.02)], &[]);

        assert_eq!(v.lost_at_later_read, 1);
        assert_eq!(v.lost_saves, 0, "the final read has it back");
        assert!(!v.failures.is_empty());
    }

    fn read_final(font: f64) -> FinalRead {
        read(&[("fontSize", font)])
    }
}

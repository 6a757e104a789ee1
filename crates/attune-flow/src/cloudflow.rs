//! Key-in against the cloud (docs/design.md §3 steps 3–6): apply the cached answer first, then ask
//! the cloud under the resilience policy; on success apply the cloud's answer and refresh the
//! cache, on failure keep what the cache gave, or fall back to the snapset of the same name, or
//! apply nothing — and always say which, in the words of the one message table.

use std::time::{Duration, UNIX_EPOCH};

use attune_model::device::DeviceReport;
use attune_model::key::Key;
use attune_model::matchmaker::{instructions_from_cloud_answer, match_and_transform};
use attune_model::prefs::{PreferenceSet, DEFAULT_CONTEXT};

use crate::cache::PrefCache;
use crate::cloud::{CloudClient, FailureKind, Fallback};
use crate::engine::{Flow, KeyInOutcome, RecoverOutcome, SaveState};
use crate::error::FlowError;
use crate::outbox::Outbox;
use crate::plan;
use crate::report::ReportRow;
use crate::session::{Connectivity, Origin, Session, SessionToken, Source};
use attune_model::lifecycle::LifecycleInstructions;

fn client(flow: &Flow) -> Result<&CloudClient, FlowError> {
    flow.cloud
        .get_or_init(|| {
            CloudClient::with_options(
                &flow.config.cloud,
                &flow.config.resilience,
                crate::cloud::ClientOptions {
                    use_system_proxy: flow.config.cloud.use_system_proxy,
                    history: Some(crate::cloud::ContactLog::in_dir(&flow.paths.state_dir)),
                    ..Default::default()
                },
            )
        })
        .as_ref()
        .map_err(|e| FlowError::CloudConfig(e.clone()))
}

/// The runtime of a flow's cloud calls: one for the flow's lifetime, with one worker thread of
/// its own, and every blocking call (`block_on`) runs on it.
///
/// The client keeps idle connections in its pool, and each connection is driven by a task on the
/// runtime that opened it. With a runtime per call, a connection opened by one call (the token
/// probe of a reconnect) outlived the runtime that drives it, or sat on one no longer polled; the
/// next call took it from the pool, sent its request into a connection nobody drove, and lost the
/// attempt to its timeout (4 s) before retrying (audit, issue 12 item 16). One runtime that is
/// always driven (its worker polls the connections between calls too, so one the server closed
/// leaves the pool at once) keeps every pooled connection usable.
pub struct CloudRuntime {
    handle: tokio::runtime::Handle,
    /// Always `Some` until dropped.
    runtime: Option<tokio::runtime::Runtime>,
}

impl CloudRuntime {
    fn new() -> std::io::Result<CloudRuntime> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("attune-cloud-io")
            .enable_all()
            .build()?;
        Ok(CloudRuntime {
            handle: runtime.handle().clone(),
            runtime: Some(runtime),
        })
    }

    /// Runs a future to completion on this runtime, blocking the calling thread (which must
    /// not be an async one, as before).
    pub(crate) fn block_on<F: std::future::Future>(&self, f: F) -> F::Output {
        self.handle.block_on(f)
    }
}

impl Drop for CloudRuntime {
    fn drop(&mut self) {
        // Without waiting: the last handle on a flow may be dropped on an async thread (the
        // app), where a blocking shutdown panics. Nothing left on it needs finishing.
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

impl std::fmt::Debug for CloudRuntime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CloudRuntime")
    }
}

fn runtime_unavailable(detail: impl std::fmt::Display) -> FlowError {
    FlowError::NotAvailable {
        what: format!("the async runtime ({detail})"),
    }
}

/// The flow's cloud runtime, made on first use.
pub(crate) fn runtime(flow: &Flow) -> Result<&CloudRuntime, FlowError> {
    flow.runtime
        .get_or_init(|| CloudRuntime::new().map_err(|e| e.to_string()))
        .as_ref()
        .map_err(runtime_unavailable)
}

fn saved_date(unix: u64) -> String {
    // A plain UTC date (the UI formats it for the person's locale later).
    attune_model::civil::utc_date(unix)
}

/// The preference set's display name in a cloud answer (or the cached copy of one).
fn answer_name(answer: &serde_json::Value) -> Option<String> {
    answer
        .get("preferences")
        .and_then(|p| p.get("name"))
        .and_then(|n| n.as_str())
        .map(str::to_owned)
}

/// What was applied in a new session before the cloud is asked: the newer of the cache's answer
/// for this key and the preferences sealed on the stick it came with, or, with neither, the
/// bundled snapset of the same name (issue 21 item 3: a snapset key does not wait for the
/// cloud's deadline either).
struct FromCache {
    sess: Session,
    rows: Vec<ReportRow>,
    instr: LifecycleInstructions,
    /// What the person is told was applied, should the cloud fail.
    fallback: Fallback,
}

/// The executor of a cloud key-in (docs/design.md §3 steps 3–6): fetch the cache and the stick's
/// sealed set and apply the newer, fetch the cloud's answer, then carry out what [`plan`] decides
/// about the two. `stick`: the USB stick the key came on, its sealed set being opened.
pub(crate) fn key_in_cloud(
    flow: &Flow,
    key: &Key,
    snapset: Option<PreferenceSet>,
    device: &DeviceReport,
    finished_first: Option<RecoverOutcome>,
    stick: Option<crate::stickflow::Unsealing>,
) -> Result<KeyInOutcome, FlowError> {
    let cache = open_cache(flow);
    let cached = fetch_cached(flow, cache.as_ref(), key);
    let on_stick = stick.map(|s| s.finish(key));
    // Step 3: apply first: the newer of the cache and the stick, else the snapset.
    let first = plan::first_source(
        cached.as_ref().map(|(c, _)| unix(c.saved_at)),
        on_stick
            .as_ref()
            .and_then(|s| s.unsealed())
            .map(|u| u.saved_at_unix),
        snapset.is_some(),
    );
    let from_cache = match (
        first,
        cached,
        on_stick.as_ref().and_then(|s| s.unsealed()),
        &snapset,
    ) {
        (plan::First::Cache, Some((cached, instr)), ..) => {
            Some(apply_cached(flow, key, cached, instr)?)
        }
        (plan::First::Stick, _, Some(unsealed), _) => {
            Some(apply_stick_first(flow, key, unsealed, device)?)
        }
        (plan::First::Snapset, _, _, Some(prefs)) => {
            Some(apply_snapset_first(flow, key, prefs, device)?)
        }
        _ => None,
    };
    // The client is made once the saved settings are on the desktop (making it reads the
    // system's certificates); a configuration it refuses undoes them, as before any was applied.
    let client = match client(flow) {
        Ok(c) => c,
        Err(e) => {
            if from_cache.is_some() {
                flow.undo_locked()?;
            }
            return Err(e);
        }
    };
    let refusal = on_stick.as_ref().and_then(|s| s.refusal());
    let with_stick = |sess: Session| -> Result<Session, FlowError> {
        let mut sess = sess;
        if let Some(read) = &on_stick {
            sess.stick = Some(read.dir.clone());
            flow.store_session(&sess)?;
        }
        Ok(sess)
    };
    // Step 4: the cloud, under the resilience policy (one deadline for token and settings).
    let answer = runtime(flow)?.block_on(async {
        let deadline = client.deadline_from_now();
        let token = client.token(key, deadline).await?;
        let answer = client.get_settings(&token, key, device, deadline).await?;
        Ok::<_, crate::cloud::CallError>((token, answer))
    });
    match answer {
        Ok((token, answer)) => {
            let sess = on_cloud_answer(flow, key, from_cache, &token, &answer)?;
            if let Some(c) = &cache {
                if let Err(e) = c.put(key, &answer, flow.clock.now()) {
                    tracing::warn!(error = %e, "could not refresh the preference cache");
                }
            }
            if let Some(read) = &on_stick {
                crate::stickflow::refresh_if_stale(key, read, &answer, flow.clock.now_unix());
            }
            let (sess, rows) = sess;
            let sess = with_stick(sess)?;
            Ok(flow.outcome(sess, rows, None, finished_first))
        }
        Err(err) => {
            let failed = Failed {
                cache: cache.as_ref(),
                from_cache,
                snapset,
                device,
                refusal,
            };
            let (sess, rows, text) = on_cloud_failure(flow, key, failed, err)?;
            let sess = with_stick(sess)?;
            Ok(flow.outcome(sess, rows, Some(text), finished_first))
        }
    }
}

fn unix(t: std::time::SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// The stick's sealed set, applied before the cloud is asked (it was newer than the cache, or
/// there was none). Matched and transformed here, through this computer's registry, as a
/// snapset is (docs/design.md §10.1); the cloud's answer is then reconciled with it by
/// difference, as with the cache's.
fn apply_stick_first(
    flow: &Flow,
    key: &Key,
    unsealed: &crate::stick::Unsealed,
    device: &DeviceReport,
) -> Result<FromCache, FlowError> {
    let prefs = &unsealed.preferences;
    let outcome = match_and_transform(prefs, DEFAULT_CONTEXT, flow.registry(), device)?;
    let saved = unsealed.saved_at_unix;
    let origin = Origin::Stick {
        answer: Some(serde_json::json!({"preferences": prefs.to_value()["flat"].clone()})),
        saved_unix: Some(saved),
        age_seconds: flow.clock.now_unix().saturating_sub(saved),
    };
    let sess = flow.new_session(key, origin, prefs.name());
    let (sess, rows) = flow.apply_in_session(sess, &outcome.instructions)?;
    Ok(FromCache {
        sess,
        rows,
        instr: outcome.instructions,
        fallback: Fallback::Stick {
            saved: saved_date(saved),
        },
    })
}

/// The preference cache, or `None` (logged) when it cannot be opened: key-in goes on without it.
pub(crate) fn open_cache(flow: &Flow) -> Option<PrefCache> {
    match PrefCache::open(&flow.paths.cache_dir, flow.config.cache.clone()) {
        Ok(c) => Some(c),
        Err(e) => {
            tracing::warn!(error = %e, "preference cache unavailable");
            None
        }
    }
}

/// Fetcher: the cached answer for `key` and the instructions it gives on this computer. The
/// cached answer is read like the cloud's: only this computer's registry says what may be
/// written (docs/design.md §10.1), whatever registry entries the entry holds. An unusable entry is
/// purged.
fn fetch_cached(
    flow: &Flow,
    cache: Option<&PrefCache>,
    key: &Key,
) -> Option<(crate::cache::Cached, LifecycleInstructions)> {
    let cache = cache?;
    let cached = cache.get(key, flow.clock.now())?;
    match instructions_from_cloud_answer(
        &cached.answer,
        DEFAULT_CONTEXT,
        flow.registry(),
        "cached answer",
    ) {
        Ok(instr) => Some((cached, instr)),
        Err(e) => {
            tracing::warn!(error = %e, "cached answer unusable; removed");
            let _ = cache.purge(key);
            None
        }
    }
}

fn apply_cached(
    flow: &Flow,
    key: &Key,
    cached: crate::cache::Cached,
    instr: LifecycleInstructions,
) -> Result<FromCache, FlowError> {
    // The name is the cloud's, from the answer it came with: an offline session is shown as
    // "Jo's settings", not "unnamed" (issue 21 item 4). Entries written before this carry it
    // too, since the cache keeps the whole answer.
    let name = answer_name(&cached.answer);
    let saved_unix = unix(cached.saved_at);
    let origin = Origin::Cache {
        answer: Some(cached.answer),
        saved_unix: Some(saved_unix),
        age_seconds: cached.age.as_secs(),
    };
    let sess = flow.new_session(key, origin, name.as_deref());
    let (sess, rows) = flow.apply_in_session(sess, &instr)?;
    Ok(FromCache {
        sess,
        rows,
        instr,
        fallback: Fallback::Cache {
            saved: saved_date(saved_unix),
        },
    })
}

/// With no cached answer, the bundled snapset of the key's name, applied before the cloud is
/// asked; the cloud's answer is then reconciled with it by difference, as with the cache's.
fn apply_snapset_first(
    flow: &Flow,
    key: &Key,
    prefs: &PreferenceSet,
    device: &DeviceReport,
) -> Result<FromCache, FlowError> {
    let outcome = match_and_transform(prefs, DEFAULT_CONTEXT, flow.registry(), device)?;
    let sess = flow.new_session(key, Origin::Snapset, prefs.name());
    let (sess, rows) = flow.apply_in_session(sess, &outcome.instructions)?;
    Ok(FromCache {
        sess,
        rows,
        instr: outcome.instructions,
        fallback: Fallback::Snapset,
    })
}

/// Step 5: the cloud answered. Reconciles it with what the cache applied ([`plan::reconcile`])
/// and records the session as online.
fn on_cloud_answer(
    flow: &Flow,
    key: &Key,
    from_cache: Option<FromCache>,
    token: &crate::cloud::Token,
    answer: &serde_json::Value,
) -> Result<(Session, Vec<ReportRow>), FlowError> {
    let instr =
        instructions_from_cloud_answer(answer, DEFAULT_CONTEXT, flow.registry(), "cloud answer")
            .map_err(FlowError::CloudAnswer)?;
    let name = answer_name(answer);
    let now = flow.clock.now_unix();
    let origin = Origin::Cloud {
        answer: Some(answer.clone()),
        token: Some(SessionToken {
            token: token.expose().to_owned(),
            expires_unix: now.saturating_add(
                token
                    .expires_at()
                    .saturating_duration_since(tokio::time::Instant::now())
                    .as_secs(),
            ),
        }),
    };
    let fresh = |flow: &Flow| {
        flow.apply_in_session(
            flow.new_session(key, origin.clone(), name.as_deref()),
            &instr,
        )
    };
    let (mut sess, rows) = match from_cache {
        None => fresh(flow)?,
        Some(c) => match plan::reconcile(&c.instr, &instr) {
            plan::Reconcile::Keep => (c.sess, c.rows),
            plan::Reconcile::ApplyDifference(delta) => {
                tracing::info!(
                    key = %key,
                    changed = delta.setting_count(),
                    "cloud answer differs from the cache: applying the difference"
                );
                let changed = flow.desktop.apply(&delta)?;
                let rows = plan::merge_rows(c.rows, changed);
                let mut sess = c.sess;
                sess.applied = rows.clone();
                (sess, rows)
            }
            plan::Reconcile::RestoreThenApply => {
                tracing::info!(key = %key, "cloud answer drops cached settings: restoring, then applying it");
                flow.undo_locked()?;
                fresh(flow)?
            }
        },
    };
    sess.origin = origin;
    sess.name = name;
    sess.connectivity = Some(Connectivity::Online);
    sess.last_cloud_contact_unix = Some(now);
    flow.store_session(&sess)?;
    Ok((sess, rows))
}

/// The cloud does not accept this key: its cache entry is purged, and whatever was applied
/// before the cloud was asked is undone. Nothing of it stays on this computer.
fn reject(
    flow: &Flow,
    key: &Key,
    cache: Option<&PrefCache>,
    applied_first: bool,
) -> Result<(), FlowError> {
    if let Some(c) = cache {
        let _ = c.purge(key);
    }
    if applied_first {
        flow.undo_locked()?;
    }
    Ok(())
}

/// What a key-in had when the cloud failed.
struct Failed<'a> {
    cache: Option<&'a PrefCache>,
    from_cache: Option<FromCache>,
    snapset: Option<PreferenceSet>,
    device: &'a DeviceReport,
    /// Why the stick's sealed set was refused, in the session's words, if it was.
    refusal: Option<String>,
}

/// Step 6: the cloud failed. Carries out [`plan::after_failure`]: keep the cache's session,
/// apply the snapset, or apply nothing; the session records why, in the message table's words.
fn on_cloud_failure(
    flow: &Flow,
    key: &Key,
    had: Failed<'_>,
    err: crate::cloud::CallError,
) -> Result<(Session, Vec<ReportRow>, String), FlowError> {
    let kind = err.kind;
    tracing::warn!(key = %key, failure = kind.code(), attempts = err.attempts, "cloud key-in failed");
    let msg = kind.user_message();
    // A refused stick is said first; what was used instead follows.
    let said = |text: String| match &had.refusal {
        Some(r) => format!("{r} {text}"),
        None => text,
    };
    let decision = plan::after_failure(
        &kind,
        had.from_cache.is_some(),
        had.snapset.is_some(),
        flow.reconnects_in_background(),
    );
    let offline = |mut sess: Session, text: &str| {
        sess.connectivity = Some(plan::connectivity(&kind));
        sess.reason = Some(kind.code().to_owned());
        sess.message = Some(text.to_owned());
        sess
    };
    match (decision, had.from_cache, had.snapset) {
        (plan::AfterFailure::KeepCache, Some(c), _) => {
            let text = said(msg.text(&c.fallback));
            let sess = offline(c.sess, &text);
            flow.store_session(&sess)?;
            Ok((sess, c.rows, text))
        }
        (plan::AfterFailure::Snapset, None, Some(prefs)) => {
            let outcome =
                match_and_transform(&prefs, DEFAULT_CONTEXT, flow.registry(), had.device)?;
            let text = said(msg.text(&Fallback::Snapset));
            let sess = offline(flow.new_session(key, Origin::Snapset, prefs.name()), &text);
            let (sess, rows) = flow.apply_in_session(sess, &outcome.instructions)?;
            Ok((sess, rows, text))
        }
        (plan::AfterFailure::Reject, from_cache, _) => {
            reject(flow, key, had.cache, from_cache.is_some())?;
            Err(FlowError::KeyRejected {
                message: msg.text(&Fallback::Nothing),
            })
        }
        (plan::AfterFailure::Nothing(nothing), ..) => Err(FlowError::Offline {
            reason: kind.code(),
            message: said(msg.text(&nothing)),
            keeps_trying: nothing == Fallback::Nothing,
        }),
        // The plan only keeps a cache that was applied and only falls back to a snapset there is.
        (decision, ..) => Err(FlowError::NotAvailable {
            what: format!("the fallback {decision:?}"),
        }),
    }
}

/// What `attune set` did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SetOutcome {
    pub term: String,
    pub value: serde_json::Value,
    pub applied: Vec<crate::report::ReportRow>,
    /// Saved in the cloud (else it waits in the outbox).
    pub saved: bool,
    /// Unsaved changes left.
    pub outbox: usize,
    pub connectivity: Option<Connectivity>,
    pub message: String,
    pub save_state: SaveState,
}

/// Expands a short common-term name (`fontSize`) to its URI.
fn expand_term(term: &str) -> String {
    if term.contains("://") {
        term.to_owned()
    } else {
        format!("{}{term}", attune_model::prefs::COMMON_PREFIX)
    }
}

/// `attune set`: change one preference in the active session — apply it now, then save it to
/// the cloud or keep it in the outbox (docs/design.md §5.3).
pub(crate) fn set(
    flow: &Flow,
    term: &str,
    value: serde_json::Value,
) -> Result<SetOutcome, FlowError> {
    let _lock = flow.lock()?;
    flow.resume_locked()?;
    let mut sess = crate::session::load(&flow.paths.session_file())?
        .filter(|s| s.phase == crate::session::Phase::Active)
        .ok_or(FlowError::NotKeyedIn)?;
    if sess.origin == Origin::Snapset {
        return set_in_snapset(flow, sess, &expand_term(term), value);
    }
    let Some(answer) = sess.origin.answer().cloned() else {
        return Err(FlowError::NotAvailable {
            what: "changing a preference in a session without a cloud answer".to_owned(),
        });
    };
    let key = Key::parse(&sess.key)?;
    let term = expand_term(term);
    let rows = apply_changes(flow, &mut sess, answer, &[(term.clone(), value.clone())])?;
    // Remembered for the session even once saved: if the cloud's database is later restored
    // from an older backup, relogin sends them again (docs/design.md §6.2, docs/operations.md).
    sess.local_changes.insert(term.clone(), value.clone());
    let outbox = Outbox::open(&flow.paths.state_dir, &key)?;
    outbox.push(&term, value.clone(), flow.clock.now_unix())?;
    flush(flow, &mut sess, &key, &outbox);
    flow.store_session(&sess)?;
    let left = outbox.len();
    let message = crate::plan::save_outcome(sess.connectivity, left);
    Ok(SetOutcome {
        term,
        value,
        applied: rows,
        saved: left == 0,
        outbox: left,
        connectivity: sess.connectivity,
        message,
        save_state: SaveState::of(Some(&sess.source()), left as u64),
    })
}

/// What "Save these settings as mine" did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SaveCaptureOutcome {
    /// The capture, in words, as it was saved (only the chosen items).
    pub lines: Vec<crate::words::CapturedLine>,
    pub preferences: std::collections::BTreeMap<String, serde_json::Value>,
    pub skipped: Vec<crate::report::ReportRow>,
    /// Saved in the cloud (else waiting in the outbox).
    pub saved: bool,
    pub outbox: usize,
    pub connectivity: Option<Connectivity>,
    pub message: String,
    pub save_state: SaveState,
}

/// `attune capture --save`, the app's "Save these settings as mine": captures the desktop and
/// saves the chosen items (`None`: all) as the keyed-in person's preferences, through the
/// outbox as `set` does (docs/design.md §5.3), without writing anything to the desktop (it
/// already holds these values). Only a cloud session has somewhere to save to: the testing
/// profile and a snapset session are refused with a sentence saying so.
pub(crate) fn save_capture(
    flow: &Flow,
    ids: Option<&[String]>,
) -> Result<SaveCaptureOutcome, FlowError> {
    if flow.config.profile == crate::config::Profile::Testing {
        return Err(FlowError::ReadOnly {
            message: crate::messages::Message::CaptureTestingProfile
                .text()
                .to_owned(),
        });
    }
    let _lock = flow.lock()?;
    flow.resume_locked()?;
    let mut sess = crate::session::load(&flow.paths.session_file())?
        .filter(|s| s.phase == crate::session::Phase::Active)
        .ok_or(FlowError::NotKeyedIn)?;
    if sess.origin == Origin::Snapset {
        return Err(FlowError::ReadOnly {
            message: crate::messages::Message::CaptureSnapset.text().to_owned(),
        });
    }
    let Some(mut answer) = sess.origin.answer().cloned() else {
        return Err(FlowError::NotAvailable {
            what: "saving settings in a session without a cloud answer".to_owned(),
        });
    };
    let captured = crate::capture::capture_locked(flow)?;
    let chosen = captured.chosen(ids);
    let lines = captured
        .lines
        .iter()
        .filter(|l| ids.is_none_or(|ids| ids.contains(&l.id)))
        .cloned()
        .collect();
    let key = Key::parse(&sess.key)?;
    let outbox = Outbox::open(&flow.paths.state_dir, &key)?;
    let changes: Vec<(String, serde_json::Value)> = chosen.clone().into_iter().collect();
    add_changes(&mut answer, &changes);
    for (term, value) in &changes {
        sess.local_changes.insert(term.clone(), value.clone());
        outbox.push(term, value.clone(), flow.clock.now_unix())?;
    }
    sess.origin.set_answer(answer);
    if !changes.is_empty() {
        flush(flow, &mut sess, &key, &outbox);
    }
    flow.store_session(&sess)?;
    let left = outbox.len();
    let message = if changes.is_empty() {
        crate::messages::Message::CaptureNothing.text().to_owned()
    } else {
        crate::plan::save_outcome(sess.connectivity, left)
    };
    Ok(SaveCaptureOutcome {
        lines,
        preferences: chosen,
        skipped: captured.skipped,
        saved: left == 0,
        outbox: left,
        connectivity: sess.connectivity,
        message,
        save_state: SaveState::of(Some(&sess.source()), left as u64),
    })
}

/// Lays `changes` over the session's cloud answer, matches it again for this device and applies
/// the result through the journal (originals already journalled stay the first ones). The
/// session keeps the new answer, so later changes and `status` build on it.
fn apply_changes(
    flow: &Flow,
    sess: &mut crate::session::Session,
    mut answer: serde_json::Value,
    changes: &[(String, serde_json::Value)],
) -> Result<Vec<crate::report::ReportRow>, FlowError> {
    add_changes(&mut answer, changes);
    let prefs = PreferenceSet::from_value_named(
        serde_json::json!({"flat": answer["preferences"].clone()}),
        "preferences in this session",
    )?;
    // Matched against this computer's registry, never the answer's entries (docs/design.md §10.1).
    let device = flow.desktop.device_report(flow.registry());
    let outcome = match_and_transform(&prefs, DEFAULT_CONTEXT, flow.registry(), &device)?;
    let rows = flow.desktop.apply(&outcome.instructions)?;
    sess.applied = rows.clone();
    sess.origin.set_answer(answer);
    Ok(rows)
}

/// Writes `changes` into the default context of an answer's preference set. Every level on the
/// way is made an object first: the answer came from outside, and indexing into a number or a
/// string (`"preferences": 1`) would panic (found while fuzzing; `fuzz/regressions/`).
fn add_changes(answer: &mut serde_json::Value, changes: &[(String, serde_json::Value)]) {
    let mut slot = answer;
    for key in ["preferences", "contexts", DEFAULT_CONTEXT, "preferences"] {
        if !slot.is_object() {
            *slot = serde_json::json!({});
        }
        slot = &mut slot[key];
    }
    if !slot.is_object() {
        *slot = serde_json::json!({});
    }
    for (term, value) in changes {
        match (&mut slot[term.as_str()], value) {
            // An application block merges setting by setting, as the cloud's PUT does
            // (GPII's deep extend): a capture's block keeps the block's other settings.
            (serde_json::Value::Object(old), serde_json::Value::Object(new)) => {
                for (k, v) in new {
                    old.insert(k.clone(), v.clone());
                }
            }
            (old, new) => *old = new.clone(),
        }
    }
}

/// A change to a snapset session: snapsets are read-only (nothing to save them to), but the
/// person at the computer may still adjust it. The change is applied through the journal like
/// any other, remembered in the session so later changes build on it, and put back at key-out.
fn set_in_snapset(
    flow: &Flow,
    mut sess: crate::session::Session,
    term: &str,
    value: serde_json::Value,
) -> Result<SetOutcome, FlowError> {
    let mut changes = sess.local_changes.clone();
    changes.insert(term.to_owned(), value.clone());
    let prefs = snapset_with_changes(flow, &sess.key, &changes)?;
    let device = flow.desktop.device_report(flow.registry());
    let outcome = match_and_transform(&prefs, DEFAULT_CONTEXT, flow.registry(), &device)?;
    let rows = flow.desktop.apply(&outcome.instructions)?;
    sess.applied = rows.clone();
    sess.local_changes = changes;
    flow.store_session(&sess)?;
    Ok(SetOutcome {
        term: term.to_owned(),
        value,
        applied: rows,
        saved: false,
        outbox: 0,
        connectivity: sess.connectivity,
        message: crate::messages::Message::ChangedInSnapset.text().to_owned(),
        save_state: SaveState::of(Some(&Source::Snapset), 0),
    })
}

/// The snapset `key` with the session's local changes laid over its default context.
fn snapset_with_changes(
    flow: &Flow,
    key: &str,
    changes: &std::collections::BTreeMap<String, serde_json::Value>,
) -> Result<PreferenceSet, FlowError> {
    let set = flow.snapset(key)?;
    if changes.is_empty() {
        return Ok(set);
    }
    let mut v = set.to_value();
    let slot = &mut v["flat"]["contexts"][DEFAULT_CONTEXT]["preferences"];
    if !slot.is_object() {
        *slot = serde_json::json!({});
    }
    for (term, value) in changes {
        slot[term.as_str()] = value.clone();
    }
    Ok(PreferenceSet::from_value_named(
        v,
        "snapset with changes made here",
    )?)
}

/// The default context's preferences in effect in a session: the cloud's (or cache's) answer
/// with the changes made since, or the snapset with the changes made here.
pub(crate) fn session_preferences(
    flow: &Flow,
    sess: &crate::session::Session,
) -> Result<std::collections::BTreeMap<String, serde_json::Value>, FlowError> {
    let prefs = match (&sess.origin, sess.origin.answer()) {
        (Origin::Snapset, _) => snapset_with_changes(flow, &sess.key, &sess.local_changes)?,
        (_, Some(answer)) => PreferenceSet::from_value_named(
            serde_json::json!({"flat": answer["preferences"].clone()}),
            "preferences in this session",
        )?,
        (_, None) => return Ok(Default::default()),
    };
    Ok(prefs.default_preferences().clone())
}

/// Replays the outbox in order with the session's token; stops at the first failure. A 401 on
/// the token we hold is the stale-token case (docs/design.md §6.2): no silent re-grant, no retry
/// loop.
fn flush(flow: &Flow, sess: &mut crate::session::Session, key: &Key, outbox: &Outbox) {
    let Ok(client) = client(flow) else {
        return;
    };
    let Some(SessionToken {
        token: tok,
        expires_unix: exp,
    }) = sess.origin.token().cloned()
    else {
        sess.connectivity = Some(Connectivity::Offline);
        return;
    };
    let Ok(rt) = runtime(flow) else {
        return;
    };
    let held = crate::cloud::Token::new(
        tok,
        Duration::from_secs(exp.saturating_sub(flow.clock.now_unix())),
        tokio::time::Instant::now(),
    );
    let Some(token) = usable_token(flow, sess, key, held, client, rt) else {
        return;
    };
    for change in outbox.list() {
        // GPII's PUT body is a preference set without its `flat` wrapper (FlowManager.md).
        let body = serde_json::json!({"contexts": {DEFAULT_CONTEXT: {"preferences": {change.term.as_str(): change.value}}}});
        let r = rt.block_on(async {
            let deadline = client.deadline_from_now();
            client.put_settings(&token, key, &body, deadline).await
        });
        match r {
            Ok(()) => {
                let _ = outbox.remove(change.id);
                sess.connectivity = Some(Connectivity::Online);
                sess.reason = None;
                sess.message = None;
                sess.last_cloud_contact_unix = Some(flow.clock.now_unix());
            }
            Err(e) => {
                tracing::warn!(key = %key, failure = e.kind.code(), "change not saved; kept in the outbox");
                sess.connectivity = Some(crate::plan::connectivity(&e.kind));
                sess.reason = Some(e.kind.code().to_owned());
                if matches!(e.kind, FailureKind::StaleToken) {
                    sess.message = Some(crate::cloud::classify::STALE_TOKEN_TEXT.to_owned());
                }
                break;
            }
        }
    }
}

/// The session's token, renewed first when it has run out or nearly (an expired token is
/// renewed, not sent to fail: only a 401 on a token that has not expired is the stale-token
/// case). `None`: it could not be renewed; the session says why.
fn usable_token(
    flow: &Flow,
    sess: &mut Session,
    key: &Key,
    held: crate::cloud::Token,
    client: &CloudClient,
    rt: &CloudRuntime,
) -> Option<crate::cloud::Token> {
    if !held.needs_renewal(tokio::time::Instant::now()) {
        return Some(held);
    }
    match rt.block_on(client.token(key, client.deadline_from_now())) {
        Ok(t) => {
            if let Origin::Cloud { token, .. } = &mut sess.origin {
                *token = Some(SessionToken {
                    token: t.expose().to_owned(),
                    expires_unix: flow.clock.now_unix().saturating_add(t.expires_in.as_secs()),
                });
            }
            Some(t)
        }
        Err(e) => {
            tracing::warn!(key = %key, failure = e.kind.code(), "cannot renew the token; changes kept in the outbox");
            sess.connectivity = Some(crate::plan::connectivity(&e.kind));
            sess.reason = Some(e.kind.code().to_owned());
            None
        }
    }
}

/// `attune relogin`: key out, key in again with a fresh token, then save the outbox. Unsaved
/// changes survive it.
pub(crate) fn relogin(flow: &Flow) -> Result<KeyInOutcome, FlowError> {
    let _lock = flow.lock()?;
    flow.resume_locked()?;
    let sess = crate::session::load(&flow.paths.session_file())?
        .filter(|s| s.phase == crate::session::Phase::Active)
        .ok_or(FlowError::NotKeyedIn)?;
    let key = Key::parse(&sess.key)?;
    let outbox = Outbox::open(&flow.paths.state_dir, &key)?;
    // A stale token usually means the cloud lost what it held since some point (a restore from
    // backup): changes of this session it had accepted may be gone too. Queue them again, in
    // front of nothing newer: a term still waiting in the outbox keeps its own newer value.
    let waiting: std::collections::BTreeSet<String> =
        outbox.list().into_iter().map(|c| c.term).collect();
    for (term, value) in &sess.local_changes {
        if !waiting.contains(term) {
            outbox.push(term, value.clone(), flow.clock.now_unix())?;
        }
    }
    let session_changes = sess.local_changes.clone();
    let first = flow.key_out_locked(crate::Message::KeyedOut)?;
    let stick = sess
        .stick
        .as_deref()
        .map(|d| crate::stickflow::Unsealing::start(&key, d));
    let mut out = flow.key_in_locked(&key, Some(first), stick)?;
    let pending: Vec<(String, serde_json::Value)> = outbox
        .list()
        .into_iter()
        .map(|c| (c.term, c.value))
        .collect();
    if pending.is_empty() {
        return Ok(out);
    }
    let Some(mut s) = crate::session::load(&flow.paths.session_file())? else {
        return Ok(out);
    };
    s.local_changes = session_changes;
    flush(flow, &mut s, &key, &outbox);
    // The fresh answer predates the changes (saved just now, or still waiting): lay them over
    // it so the desktop shows what the person chose, whichever of the two happened.
    if let Some(answer) = s.origin.answer().cloned() {
        let rows = apply_changes(flow, &mut s, answer, &pending)?;
        out.counts = crate::report::counts(&rows);
        out.applied = rows;
    }
    flow.store_session(&s)?;
    Ok(out)
}

/// Background reconnection (docs/design.md §3): when the active session is offline (served from the
/// cache or a snapset because the cloud failed), asks the cloud once more; when it answers, the
/// session is keyed in again from the cloud and the outbox replayed. `None`: nothing to do (no
/// offline session); `Some(true)`: back online; `Some(false)`: still offline.
pub(crate) fn reconnect(flow: &Flow) -> Result<Option<bool>, FlowError> {
    let _lock = flow.lock()?;
    flow.resume_locked()?;
    let active = crate::session::load(&flow.paths.session_file())?
        .filter(|s| s.phase == crate::session::Phase::Active);
    // An offline session, or else a key-in that applied nothing and is still pending.
    let (key, stick, pending) = match active {
        Some(sess) if sess.connectivity == Some(Connectivity::Offline) => {
            (Key::parse(&sess.key)?, sess.stick, false)
        }
        Some(_) => return Ok(None),
        None => match flow.take_pending_key_in() {
            Some((key, stick)) => (key, stick, true),
            None => return Ok(None),
        },
    };
    let client = client(flow)?;
    // The same runtime as the key-in below: the probe's pooled connection stays driven and is
    // reused by the key-in's token call (see [`CloudRuntime`]).
    let probe = runtime(flow)?.block_on(async {
        let deadline = client.deadline_from_now();
        client.token(&key, deadline).await
    });
    if pending {
        if probe.is_err() {
            flow.set_pending_key_in(&key, stick.as_deref());
            return Ok(Some(false));
        }
        return flow
            .retry_pending_key_in_locked(&key, stick.as_deref())
            .map(Some);
    }
    if probe.is_err() {
        return Ok(Some(false));
    }
    let first = flow.key_out_locked(crate::Message::KeyedOut)?;
    let unsealing = stick
        .as_deref()
        .map(|d| crate::stickflow::Unsealing::start(&key, d));
    let out = flow.key_in_locked(&key, Some(first), unsealing)?;
    if out.source != Source::Cloud {
        return Ok(Some(false));
    }
    let outbox = Outbox::open(&flow.paths.state_dir, &key)?;
    if !outbox.is_empty() {
        if let Some(mut s) = crate::session::load(&flow.paths.session_file())? {
            flush(flow, &mut s, &key, &outbox);
            flow.store_session(&s)?;
        }
    }
    Ok(Some(true))
}

/// The longest a key-out waits for the cloud to revoke its token.
const REVOKE_TIMEOUT_CAP: Duration = Duration::from_secs(2);

/// Key-out on a computer whose site says `cache.purge_on_key_out`: the person's cached answer goes
/// with them (a shared computer keeps nobody's preferences once they have left). Their outbox,
/// changes not yet saved, stays: it is theirs to send at their next key-in. A snapset session has
/// no cache entry.
pub(crate) fn purge_cache_on_key_out(flow: &Flow, sess: &Session) {
    if !flow.config.cache.purge_on_key_out || sess.origin == Origin::Snapset {
        return;
    }
    let Ok(key) = Key::parse(&sess.key) else {
        return;
    };
    let Some(cache) = open_cache(flow) else {
        return;
    };
    match cache.purge(&key) {
        Ok(()) => {
            tracing::info!(key = %sess.key_fingerprint, "key-out: cached preferences purged (site policy)")
        }
        Err(e) => {
            tracing::warn!(key = %sess.key_fingerprint, error = %e, "key-out: the cached preferences could not be purged")
        }
    }
}

/// Revokes the token of a session that has just keyed out (audit, issue 12 item 20), so it is
/// not good for the rest of its hour. Called after the restore, never before or instead of it,
/// and best effort: bounded by the connect timeout (at most 2 s), not retried, skipped while the
/// breaker says the cloud is away; a cloud without the endpoint (404/405, GPII) or any failure
/// is logged at debug and the token just runs out. The token itself is never logged.
pub(crate) fn revoke_token(flow: &Flow, token: Option<&str>) {
    let Some(token) = token.filter(|t| !t.is_empty()) else {
        return;
    };
    let (Ok(client), Ok(rt)) = (client(flow), runtime(flow)) else {
        return;
    };
    if client.is_offline() {
        tracing::debug!("cloud known to be away: the token is not revoked and runs out");
        return;
    }
    let timeout = flow
        .config
        .resilience
        .connect_timeout
        .min(REVOKE_TIMEOUT_CAP);
    let token = crate::cloud::Token::new(
        token.to_owned(),
        Duration::ZERO,
        tokio::time::Instant::now(),
    );
    match rt.block_on(client.revoke(&token, timeout)) {
        Ok(status @ (200 | 204)) => tracing::debug!(status, "token revoked at key-out"),
        Ok(status) => tracing::debug!(
            status,
            "the cloud did not revoke the token (no revoke endpoint?); it runs out"
        ),
        Err(kind) => tracing::debug!(
            failure = kind.code(),
            "could not revoke the token at key-out; it runs out"
        ),
    }
}

/// What the cloud said to `DELETE /{key}`.
pub(crate) enum CloudForget {
    /// Forgotten; it deletes the preferences within this many days (if it said).
    Forgotten { within_days: Option<u32> },
    /// It does not know the key (no token is granted for it): forgotten before, or never there.
    UnknownKey,
}

/// Asks the cloud to forget `key` (docs/design.md §10.3): a token for the key, then
/// `DELETE /{key}` with it, under the resilience policy and the key-in deadline. A cloud that
/// cannot be reached, or refuses, is an error naming why: nothing has been forgotten then.
pub(crate) fn forget_in_cloud(flow: &Flow, key: &Key) -> Result<CloudForget, FlowError> {
    if flow.config.profile == crate::config::Profile::Testing {
        return Err(FlowError::NotAvailable {
            what: "forgetting everywhere in the testing profile, which has no preferences server"
                .to_owned(),
        });
    }
    let client = client(flow)?;
    let rt = runtime(flow)?;
    let deadline = client.deadline_from_now();
    let answer = rt.block_on(async {
        let token = client.token(key, deadline).await?;
        client.forget(&token, key, deadline).await
    });
    match answer {
        Ok(within_days) => Ok(CloudForget::Forgotten { within_days }),
        Err(e) if matches!(e.kind, FailureKind::KeyRejected { .. }) => Ok(CloudForget::UnknownKey),
        Err(e) => {
            let code = e.kind.code();
            tracing::warn!(key = %key.fingerprint(), failure = code, "the cloud did not forget the key");
            Err(FlowError::Offline {
                reason: code,
                message: crate::Message::NotForgottenCloud
                    .with(&[("reason", &crate::cloud::classify::reason_words(code))]),
                keeps_trying: false,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_go_into_answers_of_any_shape_without_panicking() {
        let change = [("fontSize".to_owned(), serde_json::json!(18))];
        for answer in [
            r#"{"preferences":1,"matchMakerOutput":{"inferredConfiguration":{}}}"#,
            r#"{"preferences":{"contexts":1}}"#,
            r#"{"preferences":{"contexts":{"gpii-default":1}}}"#,
            r#"{"preferences":{"contexts":{"gpii-default":{"preferences":"x"}}}}"#,
            r#"[1,2]"#,
            r#"{"preferences":{"contexts":{"gpii-default":{"name":"n","preferences":{"a":1}}}}}"#,
        ] {
            let mut v: serde_json::Value = serde_json::from_str(answer).unwrap();
            add_changes(&mut v, &change);
            let prefs = &v["preferences"]["contexts"][DEFAULT_CONTEXT]["preferences"];
            assert_eq!(prefs["fontSize"], 18, "{answer}");
        }
        let mut kept: serde_json::Value = serde_json::from_str(
            r#"{"preferences":{"contexts":{"gpii-default":{"name":"n","preferences":{"a":1}}}}}"#,
        )
        .unwrap();
        add_changes(&mut kept, &change);
        assert_eq!(
            kept["preferences"]["contexts"][DEFAULT_CONTEXT]["name"],
            "n"
        );
        assert_eq!(
            kept["preferences"]["contexts"][DEFAULT_CONTEXT]["preferences"]["a"],
            1
        );
    }

    #[test]
    fn an_application_block_merges_setting_by_setting_as_the_cloud_does() {
        let block = "http://registry.gpii.net/applications/org.gnome.desktop.interface";
        let mut v = serde_json::json!({"preferences": {"contexts": {"gpii-default": {
            "preferences": {(block): {"cursor-size": 32, "enable-animations": false}}}}}});
        add_changes(
            &mut v,
            &[(block.to_owned(), serde_json::json!({"cursor-size": 40}))],
        );
        assert_eq!(
            v["preferences"]["contexts"][DEFAULT_CONTEXT]["preferences"][block],
            serde_json::json!({"cursor-size": 40, "enable-animations": false})
        );
    }

    #[test]
    fn saved_dates_are_plain_utc_dates_() {
        assert_eq!(saved_date(0), "1970-01-01");
        assert_eq!(saved_date(951_782_400), "2000-02-29");
        assert_eq!(saved_date(1_795_392_000), "2026-11-23");
    }
}

//! A shared computer's policy (docs/design.md §10.2), run by whichever process hosts the
//! listeners (the app, or `attune listen`): the idle key-out with its warning, and the key-out
//! before a shutdown. The host adds the rest: [`Flow::start_up`] before it listens, and
//! [`end_session`] when its desktop session ends (SIGTERM, SIGHUP).
//!
//! Every key-out goes through the key-in queue, so it never interleaves with a stick or the
//! local API.

use std::sync::Arc;
use std::time::Duration;

use attune_flow::{Flow, KeyOutCause, Message, State, IDLE_WARNING};

use crate::idle::{self, IdlePolicy, IdleStep, IdleWatch};
use crate::queue::{KeyQueue, Reply, Request, Via};
use crate::session_end::ShutdownWatch;

/// The longest a session end waits for the key-out (logind's default delay, and what a session
/// manager gives a program between SIGTERM and SIGKILL). A key-out cut short is finished at the
/// next start: the journal says what to put back.
pub const SESSION_END_WITHIN: Duration = Duration::from_secs(5);

/// What the policy tells the person (the host shows it: notification, window banner, JSON line).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum SharedNotice {
    /// The idle key-out comes in `seconds` unless there is input.
    IdleKeyOutSoon { seconds: u64, text: String },
    /// There was input after the warning.
    IdleKeyOutCancelled { text: String },
    /// The person was keyed out by the policy.
    KeyedOut { cause: KeyOutCause, text: String },
}

/// Where notices go.
pub type Tell = Arc<dyn Fn(SharedNotice) + Send + Sync>;

/// The policy's watchers; dropping it stops the idle watch.
#[derive(Default)]
pub struct SharedComputer {
    _idle: Option<IdleWatch>,
    _shutdown: Option<ShutdownWatch>,
    /// What the configuration asks for but cannot run here (no idle source, no logind), in
    /// words for the log and the app's diagnostics.
    pub problems: Vec<String>,
}

/// Starts what the configuration asks for: the idle key-out when `session.idle_key_out` is set,
/// the key-out before a shutdown on a shared computer.
pub fn start(flow: &Arc<Flow>, queue: &KeyQueue, tell: Tell) -> SharedComputer {
    let mut shared = SharedComputer::default();
    let config = &flow.config().session;
    if let Some(limit) = config.idle_key_out {
        match idle::system_source() {
            Ok(source) => {
                let policy = IdlePolicy {
                    limit,
                    warn_before: IDLE_WARNING,
                };
                match start_idle(
                    flow,
                    queue,
                    tell.clone(),
                    source,
                    policy,
                    (idle::POLL, idle::POLL_WARNED),
                ) {
                    Ok(w) => shared._idle = Some(w),
                    Err(e) => shared.problems.push(format!("idle key-out: {e}")),
                }
            }
            Err(e) => shared.problems.push(format!("idle key-out: {e}")),
        }
    }
    if config.shared_computer {
        let q = queue.clone();
        let t = tell.clone();
        match ShutdownWatch::start(Arc::new(move || {
            end_session(&q, KeyOutCause::SessionEnd, SESSION_END_WITHIN, &t);
        })) {
            Ok(w) => shared._shutdown = Some(w),
            Err(e) => shared.problems.push(format!("key-out at shutdown: {e}")),
        }
    }
    for p in &shared.problems {
        tracing::warn!(problem = %p, "a shared-computer rule cannot run here");
    }
    shared
}

/// The idle key-out over `source` (tests give their own), polled every `polls.0`, every
/// `polls.1` while the warning is out ([`idle::POLL`], [`idle::POLL_WARNED`]).
pub fn start_idle(
    flow: &Arc<Flow>,
    queue: &KeyQueue,
    tell: Tell,
    source: Box<dyn idle::IdleSource>,
    policy: IdlePolicy,
    polls: (Duration, Duration),
) -> Result<IdleWatch, std::io::Error> {
    let f = flow.clone();
    let q = queue.clone();
    IdleWatch::start(
        source,
        policy,
        polls,
        Box::new(move || f.status().is_ok_and(|s| s.state == State::Active)),
        Box::new(move |step| match step {
            IdleStep::Warn { key_out_in } => {
                let seconds = key_out_in.as_secs_f64().round() as u64;
                tell(SharedNotice::IdleKeyOutSoon {
                    seconds,
                    text: Message::IdleKeyOutSoon.with(&[("seconds", &seconds)]),
                });
            }
            IdleStep::Cancelled => tell(SharedNotice::IdleKeyOutCancelled {
                text: Message::IdleKeyOutCancelled.text().to_owned(),
            }),
            IdleStep::KeyOut => {
                end_session(&q, KeyOutCause::Idle, SESSION_END_WITHIN * 6, &tell);
            }
        }),
    )
}

/// Waits for the sign that the desktop session is ending: SIGTERM or SIGHUP from the session
/// manager, and Ctrl-C too when `interrupt` (a process run from a terminal). Returns the
/// signal's name; `None`, logged, when the signals cannot be watched.
pub async fn session_end_signal(interrupt: bool) -> Option<&'static str> {
    use tokio::signal::unix::{signal, SignalKind};
    let (mut term, mut hup) = match (
        signal(SignalKind::terminate()),
        signal(SignalKind::hangup()),
    ) {
        (Ok(t), Ok(h)) => (t, h),
        (Err(e), _) | (_, Err(e)) => {
            tracing::warn!(error = %e, "cannot watch for the end of the session");
            return None;
        }
    };
    let ctrl_c = async {
        if interrupt {
            let _ = tokio::signal::ctrl_c().await;
        } else {
            std::future::pending::<()>().await;
        }
    };
    Some(tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = hup.recv() => "SIGHUP",
        _ = ctrl_c => "SIGINT",
    })
}

/// Keys out whoever is keyed in for `cause`, waiting `within` at the most; tells the person when
/// it did. Returns whether someone was keyed out in time.
pub fn end_session(queue: &KeyQueue, cause: KeyOutCause, within: Duration, tell: &Tell) -> bool {
    let (tx, rx) = std::sync::mpsc::channel();
    let q = queue.clone();
    let spawned = std::thread::Builder::new()
        .name("attune-end-session".to_owned())
        .spawn(move || {
            let _ = tx.send(q.call_blocking(Via::SharedComputer, Request::EndSession(cause)));
        });
    if let Err(e) = spawned {
        tracing::error!(error = %e, "cannot key out");
        return false;
    }
    match rx.recv_timeout(within) {
        Ok(Reply::LoggedOut(_)) => {
            tell(SharedNotice::KeyedOut {
                cause,
                text: cause.message().text().to_owned(),
            });
            true
        }
        Ok(Reply::NotActive { .. }) => false,
        Ok(other) => {
            tracing::warn!(cause = cause.as_str(), reply = ?other, "the policy's key-out failed");
            false
        }
        Err(_) => {
            tracing::warn!(
                cause = cause.as_str(),
                within_ms = within.as_millis() as u64,
                "the key-out did not finish in time; the next start finishes it"
            );
            false
        }
    }
}

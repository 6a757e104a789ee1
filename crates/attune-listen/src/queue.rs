//! The serialised key-in queue: every request from every listener goes through one worker thread,
//! so no two key-ins or key-outs of this process interleave; the flow's state lock serialises them
//! with other processes (the CLI, the app).
//!
//! A request that panics (a bug, or an input nobody foresaw) must not take the queue with it: the
//! worker catches it, its caller gets an error reply, and the next request runs.

use std::panic::AssertUnwindSafe;
use std::sync::mpsc;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use attune_flow::{Flow, FlowError};
use serde::Serialize;

/// GPII's bounce window for `proximityTriggered` (LifecycleManager `debounceTimeMs`).
pub const BOUNCE: Duration = Duration::from_millis(1500);

/// Which listener asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Via {
    UsbStick,
    LocalApi,
    /// Attune itself (background reconnection).
    Background,
    /// A shared computer's policy (docs/design.md §10.2): the desktop session ending, nobody
    /// using the computer for the site's idle time.
    SharedComputer,
}

/// A request to the queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    Login(String),
    /// A key read from the USB stick mounted at this folder: the flow may apply the preferences
    /// sealed on it (docs/design.md §10.3).
    LoginFromStick(String, std::path::PathBuf),
    Logout(String),
    /// Toggle: the same key again keys out; another key switches users.
    Proximity(String),
    /// Background reconnection of an offline session.
    Reconnect,
    /// Key out whoever is keyed in, for a reason that is not theirs (a shared computer's
    /// policy); nobody keyed in: [`Reply::NotActive`].
    EndSession(attune_flow::KeyOutCause),
}

/// The answer to a request, in GPII's terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    LoggedIn(String),
    LoggedOut(String),
    /// A repeat within the bounce window (GPII: 429).
    Bounced,
    /// Logout for a key that is not the active one (GPII: 409); `active` is the active key's
    /// fingerprint (the caller may be someone else: never their key) or `noUser`.
    NotActive {
        requested: String,
        active: String,
    },
    /// Reconnection: `None` nothing to do, `Some(true)` back online, `Some(false)` still offline.
    Reconnected(Option<bool>),
    /// The flow failed; `kind` is the flow's stable error kind.
    Failed {
        during: &'static str,
        kind: &'static str,
        message: String,
    },
}

/// What happened, for the app, `attune listen` and tests. Keys are never in events (only
/// fingerprints): events are logged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    KeyedIn {
        via: Via,
        key: String,
    },
    /// An offline session is back online (keyed in again from the cloud).
    Reconnected,
    KeyedOut {
        via: Via,
        key: String,
    },
    Bounced {
        via: Via,
        key: String,
    },
    Refused {
        via: Via,
        reason: String,
    },
    Failed {
        via: Via,
        kind: String,
        message: String,
    },
}

struct Job {
    via: Via,
    req: Request,
    reply: Option<tokio::sync::oneshot::Sender<Reply>>,
}

/// Runs one request (the real one is [`run`]; tests put in one that panics).
type Runner = fn(&Flow, &Job, &mut Option<LastChange>) -> Reply;

/// The `kind` of the reply to a request that panicked.
pub const PANICKED: &str = "internal";

/// Handle to the queue; cheap to clone, usable from threads and async tasks.
#[derive(Clone)]
pub struct KeyQueue {
    tx: mpsc::Sender<Job>,
    events: Arc<std::sync::Mutex<Vec<mpsc::Sender<Event>>>>,
}

/// The last logon change, for GPII's bounce rule.
#[derive(Debug, Clone)]
struct LastChange {
    key: String,
    at: Instant,
}

/// GPII's bounce rule (LifecycleManager `isBounce`): a proximity trigger for the key whose logon
/// changed less than [`BOUNCE`] ago is ignored.
fn is_bounce(last: Option<&LastChange>, key: &str, now: Instant) -> bool {
    last.is_some_and(|l| l.key == key && now.saturating_duration_since(l.at) < BOUNCE)
}

impl KeyQueue {
    /// Starts the worker thread over `flow`.
    pub fn start(flow: Arc<Flow>) -> KeyQueue {
        KeyQueue::start_with(flow, run)
    }

    fn start_with(flow: Arc<Flow>, runner: Runner) -> KeyQueue {
        let (tx, rx) = mpsc::channel::<Job>();
        let events: Arc<std::sync::Mutex<Vec<mpsc::Sender<Event>>>> = Arc::default();
        let ev = events.clone();
        thread::Builder::new()
            .name("attune-key-queue".to_owned())
            .spawn(move || worker(&flow, &rx, &ev, runner))
            .map(|_| ())
            .unwrap_or_else(|e| tracing::error!(error = %e, "cannot start the key-in queue"));
        KeyQueue { tx, events }
    }

    /// Subscribes to events.
    pub fn subscribe(&self) -> mpsc::Receiver<Event> {
        let (tx, rx) = mpsc::channel();
        if let Ok(mut v) = self.events.lock() {
            v.push(tx);
        }
        rx
    }

    /// Queues a request without waiting for its outcome.
    pub fn submit(&self, via: Via, req: Request) {
        let _ = self.tx.send(Job {
            via,
            req,
            reply: None,
        });
    }

    /// Queues a request and waits for its outcome.
    pub async fn call(&self, via: Via, req: Request) -> Reply {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let sent = self.tx.send(Job {
            via,
            req,
            reply: Some(tx),
        });
        if sent.is_err() {
            return Reply::Failed {
                during: "queue",
                kind: "queue_stopped",
                message: "the key-in queue has stopped".to_owned(),
            };
        }
        rx.await.unwrap_or(Reply::Failed {
            during: "queue",
            kind: "queue_stopped",
            message: "the key-in queue has stopped".to_owned(),
        })
    }

    /// Queues a request and blocks the calling (non-async) thread until its outcome.
    pub fn call_blocking(&self, via: Via, req: Request) -> Reply {
        let (tx, rx) = tokio::sync::oneshot::channel();
        if self
            .tx
            .send(Job {
                via,
                req,
                reply: Some(tx),
            })
            .is_err()
        {
            return Reply::Failed {
                during: "queue",
                kind: "queue_stopped",
                message: "the key-in queue has stopped".to_owned(),
            };
        }
        rx.blocking_recv().unwrap_or(Reply::Failed {
            during: "queue",
            kind: "queue_stopped",
            message: "the key-in queue has stopped".to_owned(),
        })
    }

    /// Publishes an event from a listener (e.g. a refused second stick).
    pub fn publish(&self, e: Event) {
        publish(&self.events, e);
    }
}

fn publish(events: &std::sync::Mutex<Vec<mpsc::Sender<Event>>>, e: Event) {
    tracing::info!(event = ?e, "listener event");
    if let Ok(mut v) = events.lock() {
        v.retain(|s| s.send(e.clone()).is_ok());
    }
}

/// What events and the local API show instead of a key: `key#` and its fingerprint.
pub(crate) fn fingerprint(key: &str) -> String {
    attune_model::key::Key::parse(key)
        .map(|k| format!("key#{}", k.fingerprint()))
        .unwrap_or_else(|_| "key#invalid".to_owned())
}

fn active_key(flow: &Flow) -> Option<String> {
    flow.status()
        .ok()
        .filter(|s| s.state == "active")
        .and_then(|s| s.key)
}

/// What a panic said, for the log (a `&str` or `String` payload; anything else unnamed).
fn panic_text(payload: &(dyn std::any::Any + Send)) -> &str {
    payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(no message)")
}

/// Runs one job, turning a panic into an error reply so the worker goes on.
fn run_caught(flow: &Flow, job: &Job, last: &mut Option<LastChange>, runner: Runner) -> Reply {
    // Unwind safety: `last` is only ever replaced whole, and the flow's state on disk is
    // finished by the next request's recovery (the journal decides what to restore).
    match std::panic::catch_unwind(AssertUnwindSafe(|| runner(flow, job, last))) {
        Ok(r) => r,
        Err(payload) => {
            let during = job.req.during();
            tracing::error!(
                via = ?job.via,
                during,
                panic = panic_text(payload.as_ref()),
                "a key-in queue request panicked; the queue goes on"
            );
            Reply::Failed {
                during,
                kind: PANICKED,
                message: "an internal error stopped this request (see the log)".to_owned(),
            }
        }
    }
}

impl Request {
    /// The operation's name, as GPII words it in `Error occurred during …`.
    fn during(&self) -> &'static str {
        match self {
            Request::Login(_) | Request::LoginFromStick(..) => "login",
            Request::Logout(_) => "logout",
            Request::Proximity(_) => "proximityTriggered",
            Request::Reconnect => "reconnect",
            Request::EndSession(_) => "logout",
        }
    }
}

fn worker(
    flow: &Flow,
    rx: &mpsc::Receiver<Job>,
    events: &std::sync::Mutex<Vec<mpsc::Sender<Event>>>,
    runner: Runner,
) {
    let mut last: Option<LastChange> = None;
    while let Ok(job) = rx.recv() {
        let reply = run_caught(flow, &job, &mut last, runner);
        if let Reply::Reconnected(r) = &reply {
            if *r == Some(true) {
                publish(events, Event::Reconnected);
            }
            if let Some(tx) = job.reply {
                let _ = tx.send(reply);
            }
            continue;
        }
        let event = match &reply {
            Reply::LoggedIn(k) => Event::KeyedIn {
                via: job.via,
                key: fingerprint(k),
            },
            Reply::LoggedOut(k) => Event::KeyedOut {
                via: job.via,
                key: fingerprint(k),
            },
            Reply::Bounced => Event::Bounced {
                via: job.via,
                key: fingerprint(match &job.req {
                    Request::Login(k)
                    | Request::LoginFromStick(k, _)
                    | Request::Logout(k)
                    | Request::Proximity(k) => k,
                    Request::Reconnect | Request::EndSession(_) => "",
                }),
            },
            Reply::Reconnected(_) => continue,
            Reply::NotActive { .. } => Event::Refused {
                via: job.via,
                reason: "logout for a key that is not keyed in".to_owned(),
            },
            Reply::Failed { kind, message, .. } => Event::Failed {
                via: job.via,
                kind: (*kind).to_owned(),
                message: message.clone(),
            },
        };
        publish(events, event);
        if let Some(tx) = job.reply {
            let _ = tx.send(reply);
        }
    }
}

fn failed(during: &'static str, e: &FlowError) -> Reply {
    Reply::Failed {
        during,
        kind: e.kind(),
        message: e.to_string(),
    }
}

fn login(
    flow: &Flow,
    key: &str,
    stick: Option<&std::path::Path>,
    last: &mut Option<LastChange>,
) -> Reply {
    let r = match stick {
        Some(dir) => flow.key_in_with_stick(key, dir),
        None => flow.key_in(key),
    };
    let r = match r {
        Ok(_) => Reply::LoggedIn(key.to_owned()),
        Err(e) => failed("login", &e),
    };
    *last = Some(LastChange {
        key: key.to_owned(),
        at: Instant::now(),
    });
    r
}

fn logout(flow: &Flow, key: &str, last: &mut Option<LastChange>) -> Reply {
    let r = match flow.key_out() {
        Ok(_) => Reply::LoggedOut(key.to_owned()),
        Err(e) => failed("logout", &e),
    };
    *last = Some(LastChange {
        key: key.to_owned(),
        at: Instant::now(),
    });
    r
}

/// Keys out whoever is keyed in (or finishes an interrupted session) for `cause`.
fn end_session(flow: &Flow, cause: attune_flow::KeyOutCause) -> Reply {
    let active = active_key(flow);
    match flow.key_out_because(cause) {
        Ok(_) => Reply::LoggedOut(active.unwrap_or_default()),
        Err(FlowError::NotKeyedIn) => Reply::NotActive {
            requested: String::new(),
            active: "noUser".to_owned(),
        },
        Err(e) => failed("logout", &e),
    }
}

fn run(flow: &Flow, job: &Job, last: &mut Option<LastChange>) -> Reply {
    if job.req != Request::Reconnect {
        // Any key event ends a pending key-in, even one the flow refuses below (a pulled stick
        // whose key-in never applied anything).
        flow.cancel_pending_key_in();
    }
    match &job.req {
        Request::Reconnect => match flow.reconnect() {
            Ok(r) => Reply::Reconnected(r),
            Err(e) => failed("reconnect", &e),
        },
        Request::Login(k) => login(flow, k, None, last),
        Request::LoginFromStick(k, dir) => login(flow, k, Some(dir), last),
        Request::EndSession(cause) => end_session(flow, *cause),
        Request::Logout(k) => match active_key(flow) {
            Some(a) if &a == k => logout(flow, k, last),
            a => Reply::NotActive {
                requested: k.clone(),
                active: a.map_or_else(|| "noUser".to_owned(), |a| fingerprint(&a)),
            },
        },
        Request::Proximity(k) => {
            if is_bounce(last.as_ref(), k, Instant::now()) {
                return Reply::Bounced;
            }
            match active_key(flow) {
                Some(a) if &a == k => logout(flow, k, last),
                // key_in keys the other person out first.
                _ => login(flow, k, None, last),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounce_applies_to_the_same_key_within_the_window_only() {
        let t0 = Instant::now();
        let last = LastChange {
            key: "a".to_owned(),
            at: t0,
        };
        assert!(is_bounce(
            Some(&last),
            "a",
            t0 + Duration::from_millis(1499)
        ));
        assert!(!is_bounce(Some(&last), "a", t0 + BOUNCE));
        assert!(!is_bounce(Some(&last), "b", t0));
        assert!(!is_bounce(None, "a", t0));
    }

    fn testing_flow(root: &std::path::Path) -> Arc<Flow> {
        let config = attune_flow::Config::defaults(attune_flow::Profile::Testing);
        Arc::new(Flow::new(config, attune_flow::Paths::under(root)).unwrap())
    }

    /// Panics on the key `boom`, logs everyone else in without touching the desktop.
    fn panics_on_boom(_: &Flow, job: &Job, _: &mut Option<LastChange>) -> Reply {
        match &job.req {
            Request::Login(k) if k == "boom" => panic!("a bug in a key-in"),
            Request::Login(k) => Reply::LoggedIn(k.clone()),
            _ => Reply::Reconnected(None),
        }
    }

    #[test]
    fn a_request_that_panics_gets_an_error_reply_and_the_next_request_runs() {
        let root = tempfile::tempdir().unwrap();
        let q = KeyQueue::start_with(testing_flow(root.path()), panics_on_boom);
        let events = q.subscribe();

        let first = q.call_blocking(Via::LocalApi, Request::Login("boom".to_owned()));
        let second = q.call_blocking(Via::LocalApi, Request::Login("next".to_owned()));

        assert!(
            matches!(
                first,
                Reply::Failed {
                    during: "login",
                    kind: PANICKED,
                    ..
                }
            ),
            "{first:?}"
        );
        assert_eq!(second, Reply::LoggedIn("next".to_owned()));
        let failed = events.recv().unwrap();
        assert!(
            matches!(&failed, Event::Failed { kind, .. } if kind == PANICKED),
            "{failed:?}"
        );
    }
}

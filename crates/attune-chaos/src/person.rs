//! One simulated person: their own state folder and in-memory desktop, the real `attune-flow`
//! (key in, change settings with `set`, key out, again), seeded think times, and a record of
//! everything they saw ([`PersonLog`]).

use std::collections::{BTreeMap, VecDeque};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use attune_flow::{
    Config, Connectivity, Flow, FlowError, MemoryDesktop, MemorySetting, Message, Paths, Profile,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::history::{KeyIn, KeyInEnd, PersonLog, Read, Session, Write, TERMS};

/// How long, after every fault has healed, a person may take to key in from the cloud and save
/// what waits in their outbox. A circuit breaker opened by the last fault stays open up to 30 s
/// (docs/design.md §4), and a key-in can take its 10 s deadline.
const HEAL_WITHIN: Duration = Duration::from_secs(120);

/// The run's clock: milliseconds since the run started.
#[derive(Clone, Copy)]
pub struct RunClock(pub Instant);

impl RunClock {
    pub fn ms(&self) -> u64 {
        u64::try_from(self.0.elapsed().as_millis()).unwrap_or(u64::MAX)
    }
}

/// A gate the people wait at until the faults have healed.
#[derive(Default)]
pub struct Gate {
    open: Mutex<bool>,
    cv: Condvar,
}

impl Gate {
    pub fn open(&self) {
        if let Ok(mut o) = self.open.lock() {
            *o = true;
        }
        self.cv.notify_all();
    }

    fn wait(&self) {
        let Ok(mut o) = self.open.lock() else {
            return;
        };
        while !*o {
            o = match self.cv.wait(o) {
                Ok(o) => o,
                Err(_) => return,
            };
        }
    }
}

/// What a person is given.
pub struct Spec {
    pub index: usize,
    pub key: String,
    pub url: String,
    pub on_sqlite: bool,
    pub state_dir: PathBuf,
    pub seed: u64,
    /// Think times are scaled by this (a quick run thinks faster).
    pub think_scale: f64,
    pub clock: RunClock,
    /// Set when the load ends: the person finishes the session they are in.
    pub stop: Arc<AtomicBool>,
    /// Opened when every fault has healed: the person then settles up.
    pub healed: Arc<Gate>,
}

/// The in-memory desktop's settings before anyone keys in: what a key-out must leave again.
fn baseline() -> BTreeMap<MemorySetting, serde_json::Value> {
    let at = |s: &str, k: &str| (s.to_owned(), k.to_owned());
    BTreeMap::from([
        (
            at("org.gnome.desktop.interface", "text-scaling-factor"),
            serde_json::json!(1.0),
        ),
        (
            at("org.gnome.desktop.interface", "cursor-size"),
            serde_json::json!(24),
        ),
        (
            at("org.gnome.desktop.a11y.magnifier", "mag-factor"),
            serde_json::json!(2.0),
        ),
        (
            at("org.gnome.desktop.interface", "gtk-theme"),
            serde_json::json!("Adwaita"),
        ),
    ])
}

/// The person's preference file (GPII's form), for `attune-cloud load --as user`.
pub fn preference_file(index: usize) -> String {
    let prefs: serde_json::Map<String, serde_json::Value> = TERMS
        .iter()
        .map(|t| {
            (
                format!("http://registry.gpii.net/common/{}", t.name),
                serde_json::json!(t.initial),
            )
        })
        .collect();
    serde_json::json!({"flat": {"name": format!("Chaos person {index}"), "contexts": {
        "gpii-default": {"name": "Default preferences", "preferences": prefs}}}})
    .to_string()
}

struct Person {
    spec: Spec,
    flow: Flow,
    desktop: Arc<MemoryDesktop>,
    rng: StdRng,
    log: PersonLog,
    /// Writes not yet known to be saved, oldest first (indices into `log.writes`): the outbox as
    /// this person knows it.
    pending: VecDeque<usize>,
    /// Writes so far per term (the n of [`crate::history::Term::value`]).
    written: BTreeMap<&'static str, u64>,
    had_cache: bool,
    next_session: u64,
}

/// Runs a person until `stop`, then waits for `healed` and settles up; their record.
pub fn run(spec: Spec) -> PersonLog {
    let mut cfg = Config::defaults(Profile::Development);
    cfg.cloud.urls = vec![spec.url.clone()];
    let desktop = Arc::new(MemoryDesktop::with_values(baseline()));
    let flow = Flow::new(cfg, Paths::under(&spec.state_dir));
    let log = PersonLog {
        person: spec.index,
        key_fingerprint: attune_flow_key_fingerprint(&spec.key),
        on_sqlite: spec.on_sqlite,
        ..PersonLog::default()
    };
    let flow = match flow {
        Ok(f) => f.with_desktop(Box::new(desktop.clone())),
        Err(e) => {
            let mut log = log;
            log.problems.push(format!("the flow would not start: {e}"));
            return log;
        }
    };
    let rng = StdRng::seed_from_u64(spec.seed);
    let mut p = Person {
        spec,
        flow,
        desktop,
        rng,
        log,
        pending: VecDeque::new(),
        written: BTreeMap::new(),
        had_cache: false,
        next_session: 1,
    };
    // People arrive over the warm-up, not all in the same second.
    let arrival = p.rng.random_range(0..crate::faults::WARM_UP_MS * 4 / 5);
    std::thread::sleep(Duration::from_millis(arrival));
    while !p.spec.stop.load(Ordering::SeqCst) {
        p.one_session();
        p.think(500, 3000);
    }
    p.spec.healed.wait();
    // Not all in the same second either (sixty key-ins at once are a storm of their own).
    p.think(0, 8000);
    p.settle_up();
    p.log
}

/// The key's fingerprint (attune-model's short hash): the only form of a key the run writes.
fn attune_flow_key_fingerprint(key: &str) -> String {
    attune_model::key::Key::parse(key).map_or_else(|_| "?".to_owned(), |k| k.fingerprint())
}

impl Person {
    fn think(&mut self, lo_ms: u64, hi_ms: u64) {
        let ms = self.rng.random_range(lo_ms..=hi_ms) as f64 * self.spec.think_scale;
        // Think time is load, not synchronisation.
        std::thread::sleep(Duration::from_millis(ms as u64));
    }

    fn now(&self) -> u64 {
        self.spec.clock.ms()
    }

    /// Keys in and records how it ended; the new session's index when something was applied.
    fn key_in(&mut self) -> Option<usize> {
        let session = self.next_session;
        self.next_session += 1;
        let at = self.now();
        let t0 = Instant::now();
        let r = self.flow.key_in(&self.spec.key);
        let took = u64::try_from(t0.elapsed().as_millis()).unwrap_or(u64::MAX);
        let end = match &r {
            Ok(out) => match out.source.as_str() {
                "cloud" => KeyInEnd::Cloud,
                "cache" => KeyInEnd::Cache,
                _ => KeyInEnd::Snapset,
            },
            Err(FlowError::Offline { reason, .. }) => KeyInEnd::Nothing {
                reason: (*reason).to_owned(),
            },
            Err(e) => KeyInEnd::Error {
                kind: e.kind().to_owned(),
            },
        };
        self.log.key_ins.push(KeyIn {
            person: self.spec.index,
            session,
            at_ms: at,
            took_ms: took,
            end: end.clone(),
            had_cache: self.had_cache,
        });
        let tokens = match end {
            KeyInEnd::Cloud => {
                self.had_cache = true;
                self.record_read(session, at);
                vec![(at, at + took)]
            }
            KeyInEnd::Cache | KeyInEnd::Snapset => Vec::new(),
            KeyInEnd::Nothing { .. } | KeyInEnd::Error { .. } => return None,
        };
        self.log.sessions.push(Session {
            person: self.spec.index,
            session,
            start_ms: at,
            end_ms: None,
            tokens,
            contacts_ms: Vec::new(),
            stale_seen_ms: Vec::new(),
            stale_wrong_text: Vec::new(),
            relogin_saved: false,
        });
        Some(self.log.sessions.len() - 1)
    }

    /// Records what a cloud key-in showed of the terms (checked against the writes later).
    fn record_read(&mut self, session: u64, at: u64) {
        let Ok(Some(prefs)) = self.flow.preferences() else {
            self.log
                .problems
                .push("a cloud key-in has no preferences to show".to_owned());
            return;
        };
        let values = TERMS
            .iter()
            .filter_map(|t| {
                let uri = format!("http://registry.gpii.net/common/{}", t.name);
                let v = prefs.get(&uri).and_then(serde_json::Value::as_f64)?;
                Some((t.name.to_owned(), v))
            })
            .collect();
        self.log.reads.push(Read {
            session,
            at_ms: at,
            values,
        });
    }

    /// Marks as saved every pending write the outbox no longer holds (it sends in order).
    fn saved_down_to(&mut self, outbox: usize) {
        let now = self.now();
        while self.pending.len() > outbox {
            if let Some(i) = self.pending.pop_front() {
                self.log.writes[i].acked_ms = Some(now);
            }
        }
    }

    fn outbox(&self) -> Option<usize> {
        self.flow
            .status()
            .ok()
            .and_then(|s| usize::try_from(s.outbox).ok())
    }

    /// One change through `set`; a stale sign-in is answered by the one click, relogin.
    fn change_something(&mut self, s: usize) {
        let term = TERMS[self.rng.random_range(0..TERMS.len())];
        let n = self.written.entry(term.name).or_insert(0);
        *n += 1;
        let value = term.value(*n);
        let at = self.now();
        let session = self.log.sessions[s].session;
        self.log.writes.push(Write {
            person: self.spec.index,
            session,
            term: term.name,
            value,
            invoked_ms: at,
            acked_ms: None,
            failed: None,
        });
        let i = self.log.writes.len() - 1;
        if !self.log.sessions[s].tokens.is_empty() {
            self.log.sessions[s].contacts_ms.push(at);
        }
        match self.flow.set(term.name, serde_json::json!(value)) {
            Ok(out) => {
                self.pending.push_back(i);
                self.saved_down_to(out.outbox);
                if out.connectivity == Some(Connectivity::AuthStale) {
                    self.log.sessions[s].stale_seen_ms.push(at);
                    if out.message != Message::StaleToken.text() {
                        self.log.sessions[s].stale_wrong_text.push(out.message);
                    }
                    self.relogin(s);
                }
            }
            Err(e) => self.log.writes[i].failed = Some(e.kind().to_owned()),
        }
    }

    /// "Log out and back in" until the outbox is empty (a few tries: another fault may be on).
    fn relogin(&mut self, s: usize) {
        for _ in 0..6 {
            self.think(200, 1000);
            let at = self.now();
            let t0 = Instant::now();
            let r = self.flow.relogin();
            let took = u64::try_from(t0.elapsed().as_millis()).unwrap_or(u64::MAX);
            self.log.sessions[s].contacts_ms.push(at);
            match r {
                Ok(out) if out.source.as_str() == "cloud" => {
                    self.had_cache = true;
                    self.log.sessions[s].tokens.push((at, at + took));
                }
                Ok(_) => {}
                Err(e) => {
                    self.log
                        .problems
                        .push(format!("relogin failed with {}", e.kind()));
                    return;
                }
            }
            if let Some(left) = self.outbox() {
                self.saved_down_to(left);
                if left == 0 {
                    self.log.sessions[s].relogin_saved = true;
                    return;
                }
            }
        }
    }

    fn key_out(&mut self, s: Option<usize>) {
        if let Err(e) = self.flow.key_out() {
            if !matches!(e, FlowError::NotKeyedIn) {
                self.log
                    .problems
                    .push(format!("key-out failed with {}", e.kind()));
            }
        }
        if let Some(s) = s {
            self.log.sessions[s].end_ms = Some(self.now());
        }
    }

    fn one_session(&mut self) {
        let Some(s) = self.key_in() else {
            return;
        };
        // Most sessions are a few changes; one in five is a long one (a person who stays a
        // while), long enough to span a backup and the restore that follows it.
        let changes = if self.rng.random_ratio(1, 5) {
            self.rng.random_range(8..=20)
        } else {
            self.rng.random_range(1..=4)
        };
        for _ in 0..changes {
            self.think(300, 2000);
            self.change_something(s);
        }
        self.think(300, 1500);
        self.key_out(Some(s));
    }

    /// After the faults: key in from the cloud and save whatever waits, then key out; the
    /// desktop must then be exactly as it was.
    fn settle_up(&mut self) {
        let t0 = Instant::now();
        while t0.elapsed() < HEAL_WITHIN {
            let s = self.key_in();
            let from_cloud = self
                .log
                .key_ins
                .last()
                .is_some_and(|k| k.end == KeyInEnd::Cloud);
            if from_cloud {
                if let Some(s) = s {
                    if self.outbox() != Some(0) {
                        self.relogin(s);
                    }
                }
                if let Some(left) = self.outbox() {
                    self.saved_down_to(left);
                }
                if self.outbox() == Some(0) {
                    self.key_out(s);
                    break;
                }
            }
            self.key_out(s);
            // The breaker may still be open from the last fault: ask again in a while.
            self.think(1000, 3000);
        }
        self.log.healed = self.pending.is_empty() && self.outbox() == Some(0);
        let idle = self
            .flow
            .status()
            .is_ok_and(|st| st.journal_entries == 0 && st.key.is_none());
        self.log.desktop_restored = idle && self.desktop.values() == baseline();
    }
}

//! Cloud key-in, in process, through the real GSettings keyfile backend and the journal:
//! - healthy: a loopback cloud answers (token + settings) → applied → key-out;
//! - cache + cloud refusing: the cached answer is applied first, then 3 refused attempts with
//!   backoff end in the cache fallback (the whole key-in is timed; the apply itself happens first);
//! - cache + breaker open: after the breaker has opened, the offline decision costs nothing;
//! - a USB stick with the person's sealed preferences, no cache, cloud blackholed: the key-in
//!   (the listener calls it the moment it sees the stick) until the stick's set is applied,
//!   Argon2id included (docs/design.md §10.3, issue 17's 100 ms).
//!
//! `cargo bench -p attune-flow --bench cloud_keyin` (ATTUNE_BENCH_ITERS, default 30).

#![allow(clippy::expect_used, clippy::unwrap_used)] // a benchmark: failing loudly is right

mod common;

use std::time::{Duration, Instant};

use attune_flow::{Config, Profile};
use attune_flow::{Flow, Paths};
use attune_testkit::gpii::PERSON;
use attune_testkit::{Fault, FaultServer, Reply};

use common::pct;

fn report(name: &str, mut t: Vec<Duration>) {
    t.sort();
    println!(
        "{name:<40} p50 {:>10.2?}  p99 {:>10.2?}  (n={})",
        pct(&t, 0.5),
        pct(&t, 0.99),
        t.len()
    );
}

/// A loopback cloud answering every token and settings request (keep-alive, like a real one).
fn cloud() -> FaultServer {
    let token = Reply::json(&attune_testkit::gpii::token("t", 3600)).keep_alive();
    let settings =
        Reply::json(&attune_testkit::gpii::answer(PERSON, "low_vision_combined").to_string())
            .keep_alive();
    FaultServer::start(move |req, _| {
        if req.path.starts_with("/access_token") {
            token.clone()
        } else {
            settings.clone()
        }
    })
}

fn flow_for(root: &std::path::Path, url: &str) -> Result<Flow, Box<dyn std::error::Error>> {
    let mut cfg = Config::defaults(Profile::Development);
    cfg.cloud.urls = vec![url.to_owned()];
    Ok(Flow::new(cfg, Paths::under(root))?)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let iters = common::iterations(30);
    let desktop = common::keyfile_desktop();
    let root = desktop.path("attune");

    // Healthy cloud.
    let server = cloud();
    let flow = flow_for(&root, &server.url())?;
    report("healthy cloud: key-in → applied", key_ins(&flow, iters)?);

    // Cache present, cloud refusing (a closed port): the person is personalised when the cache
    // is applied (the observer's first `Applied`), long before the cloud path gives up.
    let closed = attune_testkit::refused_url();
    let (applied, whole) = cache_first(&root, &closed, iters.min(10))?;
    report("cache + refused: key-in → cache applied", applied);
    report("cache + refused: whole key-in (3 tries)", whole);

    // Cache present, cloud blackholed (accepts, never answers): every attempt runs to its
    // timeout, the whole key-in to the deadline; the cache is applied first all the same.
    let hole = FaultServer::always(Reply::fault(Fault::Blackhole));
    let hole_url = hole.url();
    let (applied, whole) = cache_first(&root, &hole_url, iters.min(3))?;
    report("cache + blackholed: key-in → cache applied", applied);
    report("cache + blackholed: whole key-in (to the deadline)", whole);

    // A stick, no cache, cloud blackholed: a fresh computer (its own state) and a fresh client
    // for each key-in (the listener's first), so the breaker is closed and the cloud asked.
    let stick = desktop.path("stick");
    std::fs::create_dir_all(&stick)?;
    let file = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../snapsets/low_vision_combined.json5");
    let prefs = attune_model::prefs::PreferenceSet::from_value_named(
        json5::from_str::<serde_json::Value>(&std::fs::read_to_string(file)?)?,
        "low_vision_combined",
    )?;
    let person = attune_model::key::Key::parse(PERSON)?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs();
    attune_flow::stick::write(
        &stick,
        &person,
        &prefs,
        now,
        attune_flow::stick::KdfParams::DEFAULT,
    )?;
    let mut applied = Vec::new();
    for i in 0..iters.min(10) {
        let mut cfg = Config::defaults(Profile::Development);
        cfg.cloud.urls = vec![hole_url.clone()];
        cfg.resilience.attempt_timeout = Duration::from_millis(200);
        cfg.resilience.deadline = Duration::from_millis(300);
        cfg.resilience.max_attempts = 1;
        let flow = Flow::new(cfg, Paths::under(&desktop.path(&format!("fresh-{i}"))))?;
        let (_, first) = timed_applied(&flow);
        let out = flow.key_in_with_stick(PERSON, &stick)?;
        assert_eq!(out.source.as_str(), "stick");
        applied.extend(first.lock().map(|f| *f).ok().flatten());
        flow.key_out()?;
    }
    report("stick, no cache + blackholed: → applied", applied);

    // Cache present, breaker open: one client across key-ins.
    let flow = flow_for(&root, &closed)?;
    for _ in 0..3 {
        flow.key_in(PERSON)?;
        flow.key_out()?;
    }
    report("cache + breaker open: whole key-in", key_ins(&flow, iters)?);

    // No cache, breaker open: the decision "nothing to apply" (exit 10 in the CLI).
    let mut t = Vec::new();
    let fresh = desktop.path("no-cache");
    let flow = flow_for(&fresh, &closed)?;
    for _ in 0..3 {
        let _ = flow.key_in(PERSON);
    }
    for _ in 0..iters {
        let s = Instant::now();
        let r = flow.key_in(PERSON);
        t.push(s.elapsed());
        if r.is_ok() {
            flow.key_out()?;
        }
    }
    report("no cache + breaker open: whole key-in (nothing applied)", t);
    Ok(())
}

/// How long each of `n` key-ins took (each keyed out again).
fn key_ins(flow: &Flow, n: usize) -> Result<Times, Box<dyn std::error::Error>> {
    let mut t = Vec::new();
    for _ in 0..n {
        let s = Instant::now();
        flow.key_in(PERSON)?;
        t.push(s.elapsed());
        flow.key_out()?;
    }
    Ok(t)
}

/// Keys in and out `n` times with the cache present and the cloud at `url` failing, each time
/// with a fresh client (its breaker closed): when the cache was applied, and the whole key-in.
type Times = Vec<Duration>;
fn cache_first(
    root: &std::path::Path,
    url: &str,
    n: usize,
) -> Result<(Times, Times), Box<dyn std::error::Error>> {
    let (mut applied, mut whole) = (Vec::new(), Vec::new());
    for _ in 0..n {
        let flow = flow_for(root, url)?;
        let (s, first) = timed_applied(&flow);
        flow.key_in(PERSON)?;
        whole.push(s.elapsed());
        applied.extend(first.lock().map(|f| *f).ok().flatten());
        flow.key_out()?;
    }
    Ok((applied, whole))
}

/// Starts a clock and an observer that notes when the first settings are applied.
fn timed_applied(flow: &Flow) -> (Instant, std::sync::Arc<std::sync::Mutex<Option<Duration>>>) {
    let start = Instant::now();
    let first = std::sync::Arc::new(std::sync::Mutex::new(None));
    let slot = first.clone();
    flow.set_observer(std::sync::Arc::new(move |e: &attune_flow::FlowEvent| {
        if matches!(e, attune_flow::FlowEvent::Applied { .. }) {
            if let Ok(mut f) = slot.lock() {
                f.get_or_insert(start.elapsed());
            }
        }
    }));
    (start, first)
}

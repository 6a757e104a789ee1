//! Cloud key-in, in process, through the real GSettings keyfile backend and the journal:
//! - healthy: a loopback cloud answers (token + settings) → applied → key-out;
//! - cache + cloud refusing: the cached answer is applied first, then 3 refused attempts with
//!   backoff end in the cache fallback (the whole key-in is timed; the apply itself happens first);
//! - cache + breaker open: after the breaker has opened, the offline decision costs nothing.
//!
//! `cargo bench -p attune-flow --bench cloud_keyin` (ATTUNE_BENCH_ITERS, default 30).

#![allow(clippy::expect_used, clippy::unwrap_used)] // a benchmark: failing loudly is right

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::time::{Duration, Instant};

use attune_flow::config::{Config, Profile};
use attune_flow::{Flow, Paths};

const PERSON: &str = "6f1c1c1e-9a43-4f3b-8d2e-0c1f4c2b7a11";

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

fn answer() -> String {
    let prefs = attune_model::bundled::snapset("low_vision_combined")
        .and_then(Result::ok)
        .expect("bundled snapset");
    let registry = attune_model::bundled::linux_registry().expect("bundled registry");
    let device = attune_model::device::DeviceReport::linux(registry.solutions.keys().cloned());
    let o =
        attune_model::matchmaker::match_and_transform(&prefs, "gpii-default", &registry, &device)
            .expect("match");
    serde_json::json!({
        "gpiiKey": PERSON,
        "preferences": o.filtered_preferences,
        "solutionsRegistryEntries": o.registry_entries,
        "matchMakerOutput": o.matchmaker_output,
    })
    .to_string()
}

/// A loopback cloud answering every token and settings request (keep-alive, like a real one).
fn cloud() -> String {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", l.local_addr().expect("addr"));
    let body = answer();
    std::thread::spawn(move || {
        for s in l.incoming().flatten() {
            let body = body.clone();
            std::thread::spawn(move || {
                let _ = s.set_nodelay(true);
                let mut reader = BufReader::new(s.try_clone().expect("clone"));
                let mut s = s;
                loop {
                    let mut first = String::new();
                    if reader.read_line(&mut first).unwrap_or(0) == 0 {
                        return;
                    }
                    let mut len = 0usize;
                    loop {
                        let mut h = String::new();
                        if reader.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
                            break;
                        }
                        if let Some(v) = h.to_ascii_lowercase().strip_prefix("content-length:") {
                            len = v.trim().parse().unwrap_or(0);
                        }
                    }
                    let mut b = vec![0u8; len];
                    let _ = reader.read_exact(&mut b);
                    let out = if first.starts_with("POST /access_token") {
                        r#"{"access_token":"t","expiresIn":3600,"token_type":"Bearer"}"#.to_owned()
                    } else {
                        body.clone()
                    };
                    // One write per answer: split writes meet delayed ACKs and cost 40 ms.
                    let msg = format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Attune-Api: 1.0\r\nContent-Length: {}\r\n\r\n{out}",
                        out.len()
                    );
                    let _ = s.write_all(msg.as_bytes());
                }
            });
        }
    });
    url
}

fn flow_for(root: &std::path::Path, url: &str) -> Result<Flow, Box<dyn std::error::Error>> {
    let mut cfg = Config::defaults(Profile::Development);
    cfg.cloud.urls = vec![url.to_owned()];
    Ok(Flow::new(cfg, Paths::under(root))?)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let iters = common::iterations(30);
    let dir = common::keyfile_desktop()?;
    let root = dir.path().join("attune");

    // Healthy cloud.
    let url = cloud();
    let flow = flow_for(&root, &url)?;
    let mut t = Vec::new();
    for _ in 0..iters {
        let s = Instant::now();
        flow.key_in(PERSON)?;
        t.push(s.elapsed());
        flow.key_out()?;
    }
    report("healthy cloud: key-in → applied", t);

    // Cache present, cloud refusing (a closed port): the person is personalised when the cache
    // is applied (the observer's first `Applied`), long before the cloud path gives up.
    let closed = {
        let l = TcpListener::bind("127.0.0.1:0")?;
        format!("http://{}", l.local_addr()?)
    };
    let (mut applied, mut whole) = (Vec::new(), Vec::new());
    for _ in 0..iters.min(10) {
        let flow = flow_for(&root, &closed)?; // a fresh client: breaker closed
        let (s, first) = timed_applied(&flow);
        flow.key_in(PERSON)?;
        whole.push(s.elapsed());
        applied.extend(first.lock().map(|f| *f).ok().flatten());
        flow.key_out()?;
    }
    report("cache + refused: key-in → cache applied", applied);
    report("cache + refused: whole key-in (3 tries)", whole);

    // Cache present, cloud blackholed (accepts, never answers): every attempt runs to its
    // timeout, the whole key-in to the deadline; the cache is applied first all the same.
    let hole = TcpListener::bind("127.0.0.1:0")?;
    let hole_url = format!("http://{}", hole.local_addr()?);
    std::thread::spawn(move || {
        let mut parked = Vec::new();
        for s in hole.incoming().flatten() {
            parked.push(s);
        }
    });
    let (mut applied, mut whole) = (Vec::new(), Vec::new());
    for _ in 0..iters.min(3) {
        let flow = flow_for(&root, &hole_url)?;
        let (s, first) = timed_applied(&flow);
        flow.key_in(PERSON)?;
        whole.push(s.elapsed());
        applied.extend(first.lock().map(|f| *f).ok().flatten());
        flow.key_out()?;
    }
    report("cache + blackholed: key-in → cache applied", applied);
    report("cache + blackholed: whole key-in (to the deadline)", whole);

    // Cache present, breaker open: one client across key-ins.
    let flow = flow_for(&root, &closed)?;
    for _ in 0..3 {
        flow.key_in(PERSON)?;
        flow.key_out()?;
    }
    let mut t = Vec::new();
    for _ in 0..iters {
        let s = Instant::now();
        flow.key_in(PERSON)?;
        t.push(s.elapsed());
        flow.key_out()?;
    }
    report("cache + breaker open: whole key-in", t);

    // No cache, breaker open: the decision "nothing to apply" (exit 10 in the CLI).
    let mut t = Vec::new();
    let fresh = dir.path().join("no-cache");
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

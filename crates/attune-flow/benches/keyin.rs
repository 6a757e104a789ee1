//! Key-in → applied → key-out of every bundled snapset through the real GSettings keyfile
//! backend, in process, with the journal's fsyncs. Prints p50/p99 per snapset.
//!
//! `cargo bench -p attune-flow --bench keyin` (ATTUNE_BENCH_ITERS sets the iterations, default 50).

use std::time::{Duration, Instant};

use attune_flow::config::{Config, Profile};
use attune_flow::{Flow, Paths};

fn pct(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // `cargo bench` passes --bench; a plain `cargo test --benches` passes nothing: run one
    // iteration then so the bench stays compiled and working.
    let bench_mode = std::env::args().any(|a| a == "--bench");
    let iters: usize = if bench_mode {
        std::env::var("ATTUNE_BENCH_ITERS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(50)
    } else {
        1
    };
    let dir = tempfile::tempdir()?;
    // GIO reads these once, at first use: set them before anything touches GSettings.
    std::env::set_var("GSETTINGS_BACKEND", "keyfile");
    std::env::set_var("HOME", dir.path());
    std::env::set_var("XDG_CONFIG_HOME", dir.path().join("config"));
    std::env::set_var("XDG_DATA_HOME", dir.path().join("data"));

    let flow = Flow::new(
        Config::defaults(Profile::Testing),
        Paths::under(&dir.path().join("attune")),
    )?;
    println!(
        "{:<30} {:>10} {:>10} {:>10}   (key-in + key-out, {iters} iterations)",
        "snapset", "p50", "p99", "max"
    );
    let mut all = Vec::new();
    for s in flow.snapsets()? {
        let mut times = Vec::with_capacity(iters);
        for _ in 0..iters {
            let t = Instant::now();
            flow.key_in(&s.key)?;
            flow.key_out()?;
            times.push(t.elapsed());
        }
        times.sort();
        all.extend_from_slice(&times);
        println!(
            "{:<30} {:>10.2?} {:>10.2?} {:>10.2?}",
            s.key,
            pct(&times, 0.5),
            pct(&times, 0.99),
            times[times.len() - 1]
        );
    }
    all.sort();
    println!(
        "{:<30} {:>10.2?} {:>10.2?} {:>10.2?}",
        "ALL",
        pct(&all, 0.5),
        pct(&all, 0.99),
        all[all.len() - 1]
    );
    Ok(())
}

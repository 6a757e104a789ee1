//! Key-in → applied → key-out of every bundled snapset through the real GSettings keyfile
//! backend, in process, with the journal's fsyncs. Prints p50/p99 per snapset.
//!
//! `cargo bench -p attune-flow --bench keyin` (ATTUNE_BENCH_ITERS sets the iterations, default 50).

mod common;

use std::time::Instant;

use common::pct;

use attune_flow::{Config, Profile};
use attune_flow::{Flow, Paths};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let iters = common::iterations(50);
    let desktop = common::keyfile_desktop();

    let flow = Flow::new(
        Config::defaults(Profile::Testing),
        Paths::under(&desktop.path("attune")),
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

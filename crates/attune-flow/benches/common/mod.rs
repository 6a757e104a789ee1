//! What both flow benchmarks need: the iteration count, a throw-away keyfile desktop, percentiles.

use std::time::Duration;

/// `cargo bench` passes `--bench`; a plain `cargo test --benches` passes nothing: then one
/// iteration, so the bench stays compiled and working. `ATTUNE_BENCH_ITERS` overrides `default`.
pub fn iterations(default: usize) -> usize {
    if std::env::args().any(|a| a == "--bench") {
        std::env::var("ATTUNE_BENCH_ITERS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    } else {
        1
    }
}

/// A throw-away keyfile desktop, made the desktop of this process. GIO reads it once, at first
/// use: call this before anything touches GSettings, and keep it alive for the whole run.
pub fn keyfile_desktop() -> attune_testkit::KeyfileDesktop {
    let d = attune_testkit::KeyfileDesktop::new();
    d.install_in_process();
    d
}

/// The `p` quantile of sorted durations.
pub fn pct(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

//! The USB stick's sealed preferences (docs/design.md §10.3): how long Argon2id takes at the
//! default and at stronger settings, and a whole unseal of a realistic preference set. Quoted in
//! docs/design.md §10.3; never asserted (a shared two-core machine).
//!
//! `cargo bench -p attune-flow --bench stick` (release); the dev build's numbers with
//! `cargo run`-like `cargo bench --profile dev -p attune-flow --bench stick`.
//! ATTUNE_BENCH_ITERS sets the iterations (default 20).

use std::time::{Duration, Instant};

use attune_flow::stick::{self, KdfParams};
use attune_model::key::Key;

/// As the other flow benches (benches/common): one iteration under `cargo test --benches`.
fn iterations(default: usize) -> usize {
    if std::env::args().any(|a| a == "--bench") {
        std::env::var("ATTUNE_BENCH_ITERS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    } else {
        1
    }
}

fn pct(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn time(iters: usize, mut f: impl FnMut()) -> (Duration, Duration, Duration) {
    let mut t: Vec<Duration> = (0..iters)
        .map(|_| {
            let s = Instant::now();
            f();
            s.elapsed()
        })
        .collect();
    t.sort();
    (pct(&t, 0.5), pct(&t, 0.99), t[t.len() - 1])
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let iters = iterations(20);
    let key = Key::parse("sam-0c9e41d7")?;
    let salt = [7u8; 16];
    println!(
        "{:<36} {:>10} {:>10} {:>10}   ({iters} iterations)",
        "Argon2id", "p50", "p99", "max"
    );
    let settings = [
        ("m=19 MiB t=2 p=1 (default, OWASP)", KdfParams::DEFAULT),
        (
            "m=46 MiB t=1 p=1 (OWASP)",
            KdfParams {
                m_kib: 46 * 1024,
                t: 1,
                p: 1,
            },
        ),
        (
            "m=64 MiB t=3 p=1",
            KdfParams {
                m_kib: 64 * 1024,
                t: 3,
                p: 1,
            },
        ),
        (
            "m=64 MiB t=3 p=4",
            KdfParams {
                m_kib: 64 * 1024,
                t: 3,
                p: 4,
            },
        ),
    ];
    for (name, kdf) in settings {
        let (p50, p99, max) = time(iters, || {
            let _ = stick::derive(&key, kdf, &salt);
        });
        println!("{name:<36} {p50:>10.2?} {p99:>10.2?} {max:>10.2?}");
    }
    let file = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../snapsets/low_vision_combined.json5");
    let prefs = attune_model::prefs::PreferenceSet::from_value_named(
        json5::from_str::<serde_json::Value>(&std::fs::read_to_string(file)?)?,
        "low_vision_combined",
    )?;
    let sealed = stick::seal(&key, &prefs, 0, KdfParams::DEFAULT)?;
    let (p50, p99, max) = time(iters, || {
        let _ = stick::unseal(&key, &sealed);
    });
    println!(
        "{:<36} {p50:>10.2?} {p99:>10.2?} {max:>10.2?}",
        "unseal (default, low_vision_combined)"
    );
    Ok(())
}

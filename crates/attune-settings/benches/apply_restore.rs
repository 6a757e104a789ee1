//! apply → restore of bundled snapsets' instructions through the real GSettings keyfile backend
//! (in a throw-away HOME) and real files: the cost of a key-in and key-out on the desktop side,
//! journal fsyncs included. Prints p50/p99 of `low_vision_combined` after criterion's runs.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use attune_model::device::DeviceReport;
use attune_model::lifecycle::LifecycleInstructions;
use attune_model::{bundled, matchmaker, prefs};
use attune_settings::lifecycle::Lifecycle;
use criterion::Criterion;

fn instructions(key: &str) -> LifecycleInstructions {
    let registry = bundled::linux_registry().unwrap();
    let device = DeviceReport::linux(registry.solutions.keys().cloned());
    let set = bundled::snapset(key).unwrap().unwrap();
    matchmaker::match_and_transform(&set, prefs::DEFAULT_CONTEXT, &registry, &device)
        .unwrap()
        .instructions
}

fn cycle(life: &Lifecycle, li: &LifecycleInstructions) {
    let r = life.apply(li).unwrap();
    assert!(r.counts().2 == 0, "failures in the bench set: {r:?}");
    let rr = life.restore().unwrap();
    assert_eq!(rr.failed, 0);
}

fn main() {
    // GIO reads these once, at its first use: set them before anything touches GSettings.
    let dir = tempfile::tempdir().unwrap();
    for (k, d) in [
        ("HOME", "home"),
        ("XDG_CONFIG_HOME", "config"),
        ("XDG_DATA_HOME", "data"),
    ] {
        let p = dir.path().join(d);
        std::fs::create_dir_all(&p).unwrap();
        std::env::set_var(k, p);
    }
    std::env::set_var("GSETTINGS_BACKEND", "keyfile");
    let life = Lifecycle::new(dir.path().join("attune"));

    let mut c = Criterion::default()
        .sample_size(20)
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_millis(500))
        .configure_from_args();
    let mut g = c.benchmark_group("apply_restore");
    for key in bundled::snapset_keys() {
        let li = instructions(key);
        let writes = li.setting_count();
        if writes == 0 {
            continue;
        }
        g.bench_function(format!("{key} ({writes} writes)"), |b| {
            b.iter(|| cycle(&life, &li))
        });
    }
    g.finish();
    c.final_summary();

    if std::env::args().any(|a| a == "--bench") {
        let li = instructions("low_vision_combined");
        let mut t: Vec<Duration> = (0..200)
            .map(|_| {
                let s = Instant::now();
                cycle(&life, &li);
                s.elapsed()
            })
            .collect();
        t.sort();
        println!(
            "low_vision_combined apply→restore over 200 runs: p50 {:?}, p99 {:?}, max {:?}",
            t[100], t[197], t[199]
        );
    }
}

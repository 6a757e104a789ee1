//! Matchmake + transform for every bundled snapset against the bundled Linux registry with
//! every solution installed: the work of one key-in in the testing profile, minus I/O.

use attune_model::bundled;
use attune_model::device::DeviceReport;
use attune_model::matchmaker::{match_and_transform, Matcher};
use attune_model::prefs::DEFAULT_CONTEXT;
use criterion::{criterion_group, criterion_main, Criterion};
use std::hint::black_box;

fn matchmake(c: &mut Criterion) {
    let registry = match bundled::linux_registry() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("no bundled registry to benchmark: {e}");
            return;
        }
    };
    let device = DeviceReport::linux(registry.solutions.keys().cloned().collect::<Vec<_>>());
    let mut group = c.benchmark_group("match_and_transform");
    for snapset in bundled::snapsets() {
        let prefs = match bundled::snapset(snapset.key) {
            Some(Ok(p)) => p,
            _ => continue,
        };
        group.bench_function(snapset.key, |b| {
            b.iter(|| {
                match_and_transform(black_box(&prefs), DEFAULT_CONTEXT, &registry, &device)
                    .map(|o| o.instructions.solutions.len())
            })
        });
    }
    group.finish();
    // The same with the registry prepared for the device once, as the cloud keeps it per device.
    let matcher = match Matcher::new(&registry, &device) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("the bundled registry cannot be prepared: {e}");
            return;
        }
    };
    let mut group = c.benchmark_group("prepared_match_and_transform");
    for snapset in bundled::snapsets() {
        let prefs = match bundled::snapset(snapset.key) {
            Some(Ok(p)) => p,
            _ => continue,
        };
        group.bench_function(snapset.key, |b| {
            b.iter(|| {
                matcher
                    .match_and_transform(black_box(&prefs), DEFAULT_CONTEXT)
                    .map(|o| o.instructions.solutions.len())
            })
        });
    }
    group.finish();
    c.bench_function("parse_bundled_registry", |b| {
        b.iter(bundled::linux_registry)
    });
}

criterion_group!(benches, matchmake);
criterion_main!(benches);

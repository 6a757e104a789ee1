//! The performance gates' measurements: each hot path run once under valgrind's callgrind.
//! Only the work inside `counted` is counted, in every thread (`attune_perf::counted` says
//! how): the set-up (`attune_perf`'s fixtures, made as the bench's argument) and the fixture's
//! drop (each function hands its fixture back) are not.
//!
//! `bash scripts/perf-gates.sh` runs this and holds the counts to `perf/limits.toml`
//! (docs/performance.md). By hand: `GUNGRAUN_RUNNER=target/tools/bin/gungraun-runner cargo
//! bench -p attune-perf --bench instructions`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;

use attune_model::lifecycle::LifecycleInstructions;
use attune_perf::{counted, reconcile_input, Cloud, MatchInput, MemoryDesktop};
use gungraun::prelude::*;
use gungraun::{Callgrind, EntryPoint};

// attune-model: matchmaking and transforms for one preference set (the work of a key-in's
// decision, and of the cloud's `GET settings` when the answer is not cached).
#[library_benchmark]
#[bench::low_vision_combined(MatchInput::new())]
fn match_and_transform(input: MatchInput) -> (usize, MatchInput) {
    let n = counted(|| {
        attune_model::matchmaker::match_and_transform(
            black_box(&input.prefs),
            attune_model::prefs::DEFAULT_CONTEXT,
            &input.registry,
            &input.device,
        )
        .unwrap()
        .instructions
        .setting_count()
    });
    (n, input)
}

// attune-settings: a key-in's apply and its key-out's restore, through the journal, on a
// desktop in memory.
#[library_benchmark]
#[bench::low_vision_combined(MemoryDesktop::new())]
fn apply_restore(desktop: MemoryDesktop) -> (usize, MemoryDesktop) {
    (counted(|| black_box(&desktop).apply_restore()), desktop)
}

// attune-flow: key-in step 5, the cloud's answer reconciled with the cache's, one value changed.
#[library_benchmark]
#[bench::one_value_changed(reconcile_input())]
fn reconcile(
    input: (LifecycleInstructions, LifecycleInstructions),
) -> (
    attune_flow::Reconcile,
    (LifecycleInstructions, LifecycleInstructions),
) {
    let r = counted(|| attune_flow::reconcile(black_box(&input.0), black_box(&input.1)));
    assert!(matches!(r, attune_flow::Reconcile::ApplyDifference(_)));
    (r, input)
}

// attune-cloud: `GET settings`, its answer cached (the hot path under load) and not (the first
// fetch after a change: matchmaking, and the answer written). Cached, ten requests: the
// allocator's occasional tidying, and the store's WAL checkpoint on its one-second timer in a
// thread of its own, then weigh a few per cent of the count rather than a third.
#[library_benchmark]
#[bench::cached_10_requests(Cloud::new(true), 10)]
#[bench::uncached(Cloud::new(false), 1)]
fn get_settings(cloud: Cloud, requests: usize) -> (usize, Cloud) {
    let bytes = counted(|| {
        (0..requests)
            .map(|_| black_box(&cloud).get_settings())
            .sum()
    });
    (bytes, cloud)
}

// attune-cloud: `POST /access_token`, password grants: their checks and durable writes (ten, for
// the reasons above).
#[library_benchmark]
#[bench::snapset_10_grants(Cloud::new(false))]
fn token_grant(cloud: Cloud) -> (Vec<String>, Cloud) {
    let tokens = counted(|| (0..10).map(|_| black_box(&cloud).grant()).collect());
    (tokens, cloud)
}

library_benchmark_group!(name = model, benchmarks = [match_and_transform]);
library_benchmark_group!(name = settings, benchmarks = [apply_restore]);
library_benchmark_group!(name = flow, benchmarks = [reconcile]);
library_benchmark_group!(name = cloud, benchmarks = [get_settings, token_grant]);

main!(
    // Instrumentation off until `counted` switches it on (no entry point: that is a per-thread
    // toggle); no cache simulation: the gates hold instruction counts only.
    config = LibraryBenchmarkConfig::default()
        .tool(
            Callgrind::with_args(["--instr-atstart=no", "--collect-atstart=yes", "--cache-sim=no"])
                .entry_point(EntryPoint::None)
        );
    library_benchmark_groups = model, settings, flow, cloud
);

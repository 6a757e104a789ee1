# The one optimised build of the performance scripts (scripts/perf-gates.sh and
# scripts/perf-vs-gpii.sh), sourced by both: the gates' bench, attune-cloud and its load
# generator, in the bench profile (release's optimisation with the symbol table, which callgrind
# needs), in ONE cargo invocation. Cargo resolves features per invocation: the load generator is
# an example, built with attune-cloud's dev-dependencies and their features (tokio's `process`,
# …), so two invocations would compile tokio, hyper, axum and the rest twice (measured: 66 crates,
# 3.3 CPU-minutes). The same invocation in both scripts, so the second finds everything built.
#
# perf_build: builds, then sets perf_bench, perf_cloud and perf_loadgen to the executables (and
# exports GUNGRAUN_RUNNER, the runner scripts/install-tools.sh installs).

perf_build() {
  local artifacts
  # gungraun's `main!` reads the runner's path at compile time (option_env!), so it is part of
  # the bench's fingerprint: set the same way for both scripts, or each rebuilds the bench.
  export GUNGRAUN_RUNNER="$PWD/target/tools/bin/gungraun-runner"
  artifacts="$(cargo build --locked --profile bench --message-format=json-render-diagnostics \
    -p attune-perf --bench instructions -p attune-cloud --bin attune-cloud --example loadgen)"
  perf_bench="$(python3 -c '
import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "instructions" \
            and m.get("executable"):
        print(m["executable"])
' <<<"$artifacts")"
  perf_cloud="$PWD/target/release/attune-cloud"
  perf_loadgen="$PWD/target/release/examples/loadgen"
  if [ -z "$perf_bench" ] || [ ! -x "$perf_cloud" ] || [ ! -x "$perf_loadgen" ]; then
    echo "perf-build: the build named no bench executable, or made no attune-cloud or loadgen" >&2
    return 1
  fi
}

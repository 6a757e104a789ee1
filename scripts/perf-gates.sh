#!/usr/bin/env bash
# The instruction-count gates (issue 16; docs/performance.md): the hot paths of the model,
# the desktop, the flow and the cloud, each run once under valgrind's callgrind by gungraun
# (perf/benches/instructions.rs), and their counts held to perf/limits.toml: a gate fails when
# its count is over its baseline plus the file's margin. Prints every gate's count, baseline and
# limit; a failure names the gate, its limit and the count measured, and the exit status is 1.
#
# Usage: bash scripts/perf-gates.sh [--update]
#   --update: runs the gates three times and writes the median counts into perf/limits.toml as
#   the new baselines (and passes). Commit that change on its own, saying why the counts moved
#   (docs/performance.md).
#
# Needs valgrind (scripts/setup-deps.sh) and gungraun-runner in target/tools, the version of the
# gungraun library in Cargo.lock (scripts/install-tools.sh; installed here when missing). The
# build is the one scripts/perf-vs-gpii.sh uses (scripts/lib/perf-build.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

update=""
case "${1:-}" in
  "") ;;
  --update) update=1 ;;
  *) echo "usage: $0 [--update]" >&2; exit 2 ;;
esac

t0=$SECONDS
bash scripts/setup-deps.sh
bash scripts/install-tools.sh gungraun-runner
if [ "$(cat target/tools/logs/gungraun-runner.rc)" != 0 ]; then
  tail -n 40 target/tools/logs/gungraun-runner.log >&2
  echo "perf-gates: installing gungraun-runner failed (log above)" >&2
  exit 1
fi

echo "== build the gates, attune-cloud and its load generator (bench profile)"
source scripts/lib/perf-build.sh
perf_build
built=$SECONDS

# Each run's output in a folder of its own (gungraun's home), emptied first: a summary left by an
# earlier run, or by a gate since removed, must not count.
runs=target/perf-gates
rm -rf "$runs"
# --update takes the median of three runs for each baseline.
n=1
[ -z "$update" ] || n=3
for run in $(seq "$n"); do
  echo "== run the gates under callgrind${update:+ (run $run of 3)}"
  # A summary per gate, for the limits below. gungraun's own comparison with an earlier run
  # has none to compare with here (N/A beside each count).
  GUNGRAUN_HOME="$PWD/$runs/$run" "$perf_bench" --bench --save-summary=json
done
ran=$SECONDS

rc=0
python3 scripts/lib/perf-limits.py perf/limits.toml "$runs"/* ${update:+--update} || rc=$?
echo "-- perf-gates: build $((built - t0)) s, run $((ran - built)) s"
if [ "$rc" != 0 ]; then
  echo "perf-gates: where the instructions went: callgrind's profiles under $runs/1/ (one" \
    "file a thread), e.g. callgrind_annotate --inclusive=yes FILE" >&2
fi
exit "$rc"

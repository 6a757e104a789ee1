#!/usr/bin/env bash
# The one command that runs every test of Attune (the README's test command; .ci/run calls it).
# Installs what it needs first, then: formatting, the dependency tree (cargo deny), lints, the
# whole workspace's tests, a quick chaos run (scripts/chaos.sh --quick), the hot paths'
# instruction counts against their limits and attune-cloud against GPII's cloud
# (scripts/perf-gates.sh, scripts/perf-vs-gpii.sh), the real app end to end (scripts/test-app.sh), the UI's accessibility
# tests (scripts/test-ui.sh), a short fuzzing run of every parser of outside input
# (scripts/fuzz.sh), the Debian package built from the app's development build, installed,
# run as the login autostart does, removed and purged (scripts/test-package.sh), the cloud's
# package from the same build: its units checked by systemd-analyze, the installed server keyed
# in over TLS, backed up, a key forgotten, a backup restored, removed and purged
# (scripts/test-cloud-package.sh), and the app's package once more on a real GNOME Shell 43 with
# dconf: keyed in by USB sticks, the screen measured, and every snapset's round trip on dconf
# (scripts/test-desktop.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

# Each stage's elapsed time, printed when it ends and as a table at the end (on failure too): how
# the next person sees where CI's minutes go. `stage NAME` ends the stage before it.
stage_names=()
stage_secs=()
stage_name=""
stage_t0=0
mmss() { printf '%dm%02ds' $(($1 / 60)) $(($1 % 60)); }
stage_end() {
  [ -n "$stage_name" ] || return 0
  local took=$((SECONDS - stage_t0))
  stage_names+=("$stage_name")
  stage_secs+=("$took")
  echo "-- stage $stage_name: $(mmss "$took")"
  stage_name=""
}
stage() {
  stage_end
  stage_name="$1"
  stage_t0=$SECONDS
  echo "== stage $stage_name (at $(mmss "$SECONDS"))"
}
stage_summary() { # EXIT_STATUS
  local rc="$1" failed="$stage_name"
  stage_end
  echo "== stages (elapsed, of $(mmss "$SECONDS"))"
  local i
  for i in "${!stage_names[@]}"; do
    printf '  %-14s %8s\n' "${stage_names[$i]}" "$(mmss "${stage_secs[$i]}")"
  done
  [ "$rc" -eq 0 ] || echo "  FAILED in stage ${failed:-?} (exit $rc)"
}

# The cargo tools built from crates.io (cargo-deny, cargo-fuzz, tauri-driver; scripts/install-tools.sh
# installs those missing): minutes of compiling on a cold run, so they build in the background
# while the UI tests run (measured: 2m28 of wall time for 65 s of CPU, so on two cores most of it
# idle). Niced, so the stages in front keep the CPU they need and the installs take what is left.
# A stage that needs one waits for it with tool_wait; a failed install fails that stage with the
# install's log. The installer is its own process group (setsid), ended on exit if still running.
tools_pid=""
tool_wait() { # NAME
  local log="target/tools/logs/$1.log" rc="target/tools/logs/$1.rc" t0=$SECONDS
  while [ ! -e "$rc" ] && [ -n "$tools_pid" ] && kill -0 "$tools_pid" 2>/dev/null; do
    sleep 2
  done
  [ "$SECONDS" -eq "$t0" ] || echo "-- waited $((SECONDS - t0)) s for the install of $1"
  if [ -e "$rc" ] && [ "$(cat "$rc")" != 0 ]; then
    echo "test.sh: installing $1 failed (exit $(cat "$rc")); its log, $log:" >&2
    tail -n 80 "$log" >&2
    return 1
  fi
}
on_exit() {
  local rc=$?
  if [ -n "$tools_pid" ] && kill -0 "$tools_pid" 2>/dev/null; then
    kill -TERM -- "-$tools_pid" 2>/dev/null || true
  fi
  stage_summary "$rc"
}
trap on_exit EXIT

stage setup
bash scripts/setup-deps.sh

export CARGO_TERM_COLOR=never
# The real GPII cloud is installed from npm by the tests that need it; CI must run them.
export ATTUNE_GPII_INTEROP="${ATTUNE_GPII_INTEROP:-1}"
# A CI run builds everything once from cold: incremental caches would only take disk.
if [ "${CI:-}" = "true" ]; then
  export CARGO_INCREMENTAL=0
fi

# Earlier runs' results would answer tool_wait before this run's installs end.
rm -f target/tools/logs/*.rc
setsid -w nice -n 10 bash scripts/install-tools.sh &
tools_pid=$!

# Free disk at each stage, so a run that fails for want of space says how much there was.
disk() { echo "-- disk: $(df -h --output=avail . | tail -1 | tr -d ' ') free; target/ $(du -sh target 2>/dev/null | cut -f1 || echo 0)"; }

disk
stage ui
bash scripts/test-ui.sh
stage fmt
echo "== cargo fmt --check"
cargo fmt --all -- --check
# The dependency tree against deny.toml: duplicate versions (warnings), wildcards, licences, and
# crates.io as the only source. cargo-deny is installed once into the tools cache under target/
# (as scripts/test-app.sh does with tauri-driver) and reused. Advisories are not checked here: the
# RustSec database is not a package registry, which is all CI reaches (README, "Tests").
tools="$PWD/target/tools"
stage deny
tool_wait cargo-deny
if [ ! -x "$tools/bin/cargo-deny" ]; then
  echo "== install cargo-deny into $tools"
  cargo install cargo-deny --locked --root "$tools"
fi
echo "== cargo deny check bans licenses sources"
"$tools/bin/cargo-deny" --locked check bans licenses sources
stage clippy
echo "== cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings
disk
# Built, then run, as two stages: the table then shows compile and test time apart (the run only
# finds the build fresh). The build includes the app's end-to-end test (tests/tests/app-e2e),
# which runs later, in scripts/test-app.sh.
stage test-build
echo "== cargo test --no-run"
cargo test --workspace --locked --no-run
stage test-run
echo "== cargo test"
cargo test --workspace --locked --no-fail-fast
disk
# The chaos run, quick (docs/chaos.md): replicas behind HAProxy over the CouchDB stand-in and a
# SQLite node, a swarm of people, every fault kind at least once, checked Jepsen's way. Its two
# binaries come from the test build above; the stand-in from target/couch-peer, which the
# cloud's CouchDB tests installed.
stage chaos
bash scripts/chaos.sh --quick
disk
# Instruction counts of the hot paths held to perf/limits.toml, then attune-cloud against GPII's
# cloud at 16 clients, from target/gpii-peer, which the interop test installed
# (docs/performance.md); both use one optimised build (scripts/lib/perf-build.sh).
stage perf-gates
tool_wait gungraun-runner
bash scripts/perf-gates.sh
stage perf-vs-gpii
bash scripts/perf-vs-gpii.sh
disk
# Every parser of outside input, fuzzed a short while each from the committed corpus
# (docs/fuzzing.md); its own target dir, fuzz/target. An unoptimised build: the release build
# alone takes longer than the whole stage's budget (about six minutes on two cores).
stage fuzz
tool_wait cargo-fuzz
bash scripts/fuzz.sh --dev --seconds "${ATTUNE_FUZZ_SECONDS:-10}"
disk
stage app
tool_wait tauri-driver
bash scripts/test-app.sh
disk
stage package
bash scripts/test-package.sh
disk
# The cloud's package, which test-package.sh has built beside the app's.
stage cloud-package
bash scripts/test-cloud-package.sh --deb "$(ls target/debian/attune-cloud_*_amd64.deb)"
disk
# The package test-package.sh has just built (it purges the package, not the file).
stage desktop
bash scripts/test-desktop.sh --deb "$(ls target/debian/attune_*_amd64.deb)"
disk

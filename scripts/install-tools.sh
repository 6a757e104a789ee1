#!/usr/bin/env bash
# Installs the cargo tools the tests build from crates.io, those missing only, one after the other:
# cargo-deny (scripts/test.sh's deny stage), tauri-driver (scripts/test-app.sh) and
# gungraun-runner (scripts/perf-gates.sh) into the tools cache under target/tools, cargo-fuzz
# (scripts/fuzz.sh) into cargo's own bin dir, where fuzz.sh looks for it. Each one's output goes
# to target/tools/logs/NAME.log and its exit status to NAME.rc when it is done, so scripts/test.sh
# can run this in the background and wait for one tool (its `tool_wait`).
# Usage: scripts/install-tools.sh [NAME...] (only the tools named; all of them without a name)
set -euo pipefail
cd "$(dirname "$0")/.."

tools="$PWD/target/tools"
logs="$tools/logs"
mkdir -p "$logs"

# NAME PRESENT [cargo install options]: installs NAME unless the command PRESENT succeeds. Either
# way NAME.rc is written last, so a waiter never waits for a tool that is there already.
only=" $* "
tool() {
  local name="$1" present="$2" rc=0
  shift 2
  [ "$only" = "  " ] || [[ "$only" == *" $name "* ]] || return 0
  if bash -c "$present" >/dev/null 2>&1; then
    echo "install-tools: $name is installed already" >"$logs/$name.log"
  else
    echo "install-tools: $name ($(date -u +%H:%M:%S))" >"$logs/$name.log"
    cargo install "$name" --locked "$@" >>"$logs/$name.log" 2>&1 || rc=$?
  fi
  echo "$rc" >"$logs/$name.rc"
}

# Needed first (the deny stage comes before the builds). Its release profile is fat LTO in one
# codegen unit, a long single-threaded link on two cores: about 8 CPU-minutes; without LTO and in
# 16 units, measured 4.2, and the checks it runs (bans, licences, sources) take 3 s instead of 2.
CARGO_PROFILE_RELEASE_LTO=false CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16 \
  tool cargo-deny "test -x '$tools/bin/cargo-deny'" --root "$tools"
tool cargo-fuzz "command -v cargo-fuzz"
tool tauri-driver "test -x '$tools/bin/tauri-driver'" --root "$tools"
# The runner of the instruction-count gates' harness (scripts/perf-gates.sh): the version of the
# gungraun library in Cargo.lock, which refuses any other, so a lock file that moves to a new
# gungraun installs its runner. Unoptimised and without debug info: it starts valgrind and reads
# its output files, and the gates took as long with it as with an optimised one (13.0 s against
# 13.9), for 1.7 CPU-minutes of build instead of 4.2.
gungraun="$(awk '/^name = "gungraun"$/ { getline; gsub(/"/, "", $3); print $3 }' Cargo.lock)"
CARGO_PROFILE_DEV_DEBUG=false \
  tool gungraun-runner "'$tools/bin/gungraun-runner' --version | grep -qwF '${gungraun:?no gungraun in Cargo.lock}'" \
  --root "$tools" --version "$gungraun" --debug

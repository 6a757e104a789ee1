#!/usr/bin/env bash
# The chaos run (docs/chaos.md): three attune-cloud replicas behind HAProxy over the CouchDB
# stand-in (express-pouchdb from npm), one attune-cloud over SQLite on a small tmpfs, a swarm of
# simulated people driving the real attune-flow, seeded faults, and a Jepsen-style checker.
# Everything on loopback, bounded in time.
#
#   bash scripts/chaos.sh [--quick] [--seed N] [--minutes M] [--people P] [--out DIR]
#
# Writes target/chaos/result.json and target/chaos/timeline.png (the run's logs and its whole
# history under target/chaos/run/; --out DIR writes there instead). Exits non-zero on any lost
# or unexpected value or any other failed check, printing which. --quick: every fault kind once, about three minutes on two cores
# once built. Needs root (the tmpfs mount), HAProxy, node and npm (scripts/setup-deps.sh), and
# the npm registry the first time (express-pouchdb, installed once into target/couch-peer, the
# folder the cloud's CouchDB tests use).
set -euo pipefail
cd "$(dirname "$0")/.."

args=()
out=target/chaos
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) args+=(--quick) ;;
    --out)
      [ $# -ge 2 ] || { echo "chaos.sh: --out needs a folder" >&2; exit 2; }
      out="$2"
      shift
      ;;
    --seed | --minutes | --people)
      [ $# -ge 2 ] || { echo "chaos.sh: $1 needs a value" >&2; exit 2; }
      args+=("$1" "$2")
      shift
      ;;
    -h | --help) sed -n '2,14p' "$0"; exit 0 ;;
    *) echo "chaos.sh: unknown argument $1 (--quick, --seed N, --minutes M, --people P, --out DIR)" >&2; exit 2 ;;
  esac
  shift
done

for tool in haproxy node npm mount; do
  command -v "$tool" >/dev/null || { echo "chaos.sh: $tool not found (bash scripts/setup-deps.sh)" >&2; exit 2; }
done

# The dev profile, and the features `cargo test --workspace` builds with: `--workspace` with a
# test target unifies them as that build does (as scripts/test-app.sh builds its cloud), so after
# scripts/test.sh's test stage both binaries are fresh and nothing is compiled. `-p` alone would
# unify features for two packages only and recompile most of their trees.
# In CI, incremental compilation off as scripts/test.sh has it (it is part of every fingerprint).
[ "${CI:-}" != "true" ] || export CARGO_INCREMENTAL=0
t0=$SECONDS
nice -n 5 cargo build --locked --workspace --test chaos --bin attune-chaos --bin attune-cloud
echo "chaos.sh: built in $((SECONDS - t0)) s"

# The CouchDB stand-in, as the cloud's CouchDB tests install it (attune-testkit's COUCH_PACKAGES).
couch=target/couch-peer
if [ ! -f "$couch/node_modules/express-pouchdb/package.json" ] ||
  [ ! -f "$couch/node_modules/pouchdb-adapter-memory/package.json" ]; then
  mkdir -p "$couch"
  [ -f "$couch/package.json" ] || echo '{"name": "attune-couch-peer", "private": true}' >"$couch/package.json"
  (cd "$couch" && npm install --omit=dev --ignore-scripts --no-audit --no-fund \
    express@4 express-pouchdb pouchdb-core pouchdb-adapter-memory pouchdb-adapter-http \
    pouchdb-mapreduce pouchdb-replication)
fi
cp crates/attune-cloud/tests/fixtures/couch/server.js "$couch/server.js"

exec target/debug/attune-chaos --cloud-bin target/debug/attune-cloud --couch-dir "$couch" \
  --out "$out" "${args[@]}"

#!/usr/bin/env bash
# The one command that runs every test of Attune (the README's test command; .ci/run calls it).
# Installs what it needs first, then: formatting, the dependency tree (cargo deny), lints, the
# whole workspace's tests, the real app end to end (scripts/test-app.sh), the UI's accessibility
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

bash scripts/setup-deps.sh

export CARGO_TERM_COLOR=never
# The real GPII cloud is installed from npm by the tests that need it; CI must run them.
export ATTUNE_GPII_INTEROP="${ATTUNE_GPII_INTEROP:-1}"
# A CI run builds everything once from cold: incremental caches would only take disk.
if [ "${CI:-}" = "true" ]; then
  export CARGO_INCREMENTAL=0
fi

# Free disk at each stage, so a run that fails for want of space says how much there was.
disk() { echo "-- disk: $(df -h --output=avail . | tail -1 | tr -d ' ') free; target/ $(du -sh target 2>/dev/null | cut -f1 || echo 0)"; }

disk
bash scripts/test-ui.sh
echo "== cargo fmt --check"
cargo fmt --all -- --check
# The dependency tree against deny.toml: duplicate versions (warnings), wildcards, licences, and
# crates.io as the only source. cargo-deny is installed once into the tools cache under target/
# (as scripts/test-app.sh does with tauri-driver) and reused. Advisories are not checked here: the
# RustSec database is not a package registry, which is all CI reaches (README, "Tests").
tools="$PWD/target/tools"
if [ ! -x "$tools/bin/cargo-deny" ]; then
  echo "== install cargo-deny into $tools"
  cargo install cargo-deny --locked --root "$tools"
fi
echo "== cargo deny check bans licenses sources"
"$tools/bin/cargo-deny" --locked check bans licenses sources
echo "== cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings
disk
echo "== cargo test"
cargo test --workspace --locked --no-fail-fast
disk
# Every parser of outside input, fuzzed a short while each from the committed corpus
# (docs/fuzzing.md); its own target dir, fuzz/target. An unoptimised build: the release build
# alone takes longer than the whole stage's budget (about six minutes on two cores).
bash scripts/fuzz.sh --dev --seconds "${ATTUNE_FUZZ_SECONDS:-10}"
disk
bash scripts/test-app.sh
disk
bash scripts/test-package.sh
disk
# The cloud's package, which test-package.sh has built beside the app's.
bash scripts/test-cloud-package.sh --deb "$(ls target/debian/attune-cloud_*_amd64.deb)"
disk
# The package test-package.sh has just built (it purges the package, not the file).
bash scripts/test-desktop.sh --deb "$(ls target/debian/attune_*_amd64.deb)"
disk

#!/usr/bin/env bash
# The one command that runs every test of Attune (the README's test command; .ci/run calls it).
# Installs what it needs first, then: formatting, lints, and the whole workspace's tests.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup-deps.sh

export CARGO_TERM_COLOR=never
# The real GPII cloud is installed from npm by the tests that need it; CI must run them.
export ATTUNE_GPII_INTEROP="${ATTUNE_GPII_INTEROP:-1}"

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "== cargo test"
cargo test --workspace --locked --no-fail-fast
bash scripts/test-app.sh
bash scripts/test-ui.sh

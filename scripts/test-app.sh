#!/usr/bin/env bash
# The desktop app's end-to-end test (scripts/test.sh calls it after the cargo tests): builds the
# app and attune-cloud (development profile: the release build alone took 15 of CI's 44 minutes,
# and the app's behaviour does not depend on the optimiser), installs tauri-driver into a cache
# under target/ (reused), and drives the real app under Xvfb through tauri-driver and
# WebKitWebDriver (tests/tests/app-e2e, the test `app-e2e` of attune-e2e). Screenshots land in
# docs/screenshots/.
#
# The app is built the way it ships, with its own features only: `-p attune-app` leaves out the
# test-only failpoints that `cargo test --workspace` unifies into every crate (attune-settings'
# `test-support`) and Tauri's `test` feature (attune-app's dev-dependency), and
# check-no-failpoints.sh proves the first on the binary under test. scripts/package.sh packages
# this very build (its `-p attune-app -p attune-cli` gives the app the same features, so cargo
# finds it fresh).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup-deps.sh
export CARGO_TERM_COLOR=never

# The default target dir, as CI builds everything there.
target="${CARGO_TARGET_DIR:-$PWD/target}"
echo "== build the app (as it ships), the cloud, and the end-to-end test"
cargo build --locked -p attune-app
# The test and the cloud it talks to, with --workspace: the feature set `cargo test --workspace`
# builds them with (the e2e tests build their cloud the same way, tests/src/lib.rs), so after
# scripts/test.sh's test stage both are fresh; `-p` alone would unify features differently and
# recompile most of their trees.
cargo build --locked --workspace --test app-e2e --bin attune-cloud
echo "== the app under test holds no test-only failpoints"
bash scripts/check-no-failpoints.sh "$target/debug/attune-app"

tools="$PWD/target/tools"
if [ ! -x "$tools/bin/tauri-driver" ]; then
  echo "== install tauri-driver into $tools"
  cargo install tauri-driver --locked --root "$tools"
fi
# The builds' and the test's times apart, for scripts/test.sh's stage table.
echo "-- test-app: built and installed in ${SECONDS} s"

export ATTUNE_APP_E2E=1
export ATTUNE_APP_BIN="$target/debug/attune-app"
export ATTUNE_CLOUD_BIN="$target/debug/attune-cloud"
export ATTUNE_TAURI_DRIVER="$tools/bin/tauri-driver"
# WebKit's sandbox needs user namespaces, which containers often lack; the app loads only its
# own bundled pages.
export WEBKIT_DISABLE_SANDBOX_THIS_IS_DANGEROUS="${WEBKIT_DISABLE_SANDBOX_THIS_IS_DANGEROUS:-1}"
export LIBGL_ALWAYS_SOFTWARE=1

echo "== app end to end (Xvfb, tauri-driver, WebKitWebDriver)"
xvfb-run -a -s "-screen 0 1280x1024x24" \
  cargo test --locked --workspace --test app-e2e -- --nocapture
echo "-- test-app: done in ${SECONDS} s"

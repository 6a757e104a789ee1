#!/usr/bin/env bash
# The desktop app's end-to-end test (scripts/test.sh calls it after the cargo tests): builds the
# app and attune-cloud (development profile: the release build alone took 15 of CI's 44 minutes,
# and the app's behaviour does not depend on the optimiser), installs tauri-driver into a cache
# under target/ (reused), and drives the real app under Xvfb through tauri-driver and
# WebKitWebDriver (src-tauri/tests/e2e). Screenshots land in docs/screenshots/.
#
# The app is built the way it ships, with its own features only: `-p attune-app` leaves out the
# test-only failpoints that `cargo test --workspace` unifies into every crate (attune-settings'
# `test-support`), and check-no-failpoints.sh proves it on the binary under test.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup-deps.sh
export CARGO_TERM_COLOR=never

# The default target dir, as CI builds everything there.
target="${CARGO_TARGET_DIR:-$PWD/target}"
echo "== build the app (with its end-to-end test) and the cloud"
cargo test --locked -p attune-app --test app-e2e --no-run
cargo build --locked -p attune-cloud
echo "== the app under test holds no test-only failpoints"
bash scripts/check-no-failpoints.sh "$target/debug/attune-app"

tools="$PWD/target/tools"
if [ ! -x "$tools/bin/tauri-driver" ]; then
  echo "== install tauri-driver into $tools"
  cargo install tauri-driver --locked --root "$tools"
fi

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
  cargo test --locked -p attune-app --test app-e2e -- --nocapture

#!/usr/bin/env bash
# The README's run command. On a machine with a display: builds Attune, starts a local development
# cloud (attune-cloud --dev, SQLite in Attune's data dir) in the background, and opens the desktop
# app in the development profile against it; the cloud stops when the app exits. Key in with
# snapset_1a, then stop the cloud (the command is printed) and key in again to see the fallback
# to the saved settings.
#
# Without a display ($DISPLAY and $WAYLAND_DISPLAY empty: a server, a container, CI) it says so
# and shows the command-line demo instead: keys in a bundled snapset on this desktop (testing
# profile, no network), shows the status, and puts the desktop back. With no desktop session
# either (no D-Bus session bus), GSettings would fall back to a memory backend that forgets
# everything, so the demo then runs on a scratch desktop: the real GSettings keyfile backend in
# target/demo-desktop, read back with the gsettings tool.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup-deps.sh

cli_demo() {
  cargo build --release --locked -p attune-cli
  attune="$PWD/target/release/attune"

  if [ -z "${DBUS_SESSION_BUS_ADDRESS:-}" ] && [ -z "${GSETTINGS_BACKEND:-}" ]; then
    demo="$PWD/target/demo-desktop"
    rm -rf "$demo"
    mkdir -p "$demo"/{home,config,data,state}
    export HOME="$demo/home" XDG_CONFIG_HOME="$demo/config" XDG_DATA_HOME="$demo/data" \
      XDG_STATE_HOME="$demo/state" GSETTINGS_BACKEND=keyfile
    echo "No desktop session here: demonstrating on a scratch desktop in $demo"
    echo "(GSettings keyfile backend: $XDG_CONFIG_HOME/glib-2.0/settings/keyfile)"
  fi

  show() {
    printf '  text-scaling-factor = %s, cursor-size = %s\n' \
      "$(gsettings get org.gnome.desktop.interface text-scaling-factor)" \
      "$(gsettings get org.gnome.desktop.interface cursor-size)"
  }

  echo
  echo "== snapsets bundled with Attune"
  "$attune" --profile testing snapsets
  echo
  echo "== the desktop before"
  show
  echo
  echo "== key in snapset_1a (larger text and cursor)"
  "$attune" --profile testing key-in snapset_1a
  show
  echo
  echo "== status"
  "$attune" --profile testing status
  echo
  echo "== key out: the desktop is put back exactly as it was"
  "$attune" --profile testing key-out
  show
}

if [ -z "${DISPLAY:-}" ] && [ -z "${WAYLAND_DISPLAY:-}" ]; then
  echo "No display here (\$DISPLAY and \$WAYLAND_DISPLAY are empty), so the desktop app cannot open."
  echo "Showing the command-line demo instead."
  echo
  cli_demo
  exit 0
fi

cargo build --release --locked -p attune-app -p attune-cloud
app="$PWD/target/release/attune-app"
cloud="$PWD/target/release/attune-cloud"

# Attune's data dir (as the app resolves it): the development cloud's database lives beside it.
data="${ATTUNE_DATA_DIR:-${XDG_DATA_HOME:-$HOME/.local/share}/attune}"
mkdir -p "$data"
listen="127.0.0.1:8084"

listening() { (exec 3<>"/dev/tcp/127.0.0.1/8084") 2>/dev/null; }

cloud_pid=""
stop_cloud() {
  if [ -n "$cloud_pid" ] && kill -0 "$cloud_pid" 2>/dev/null; then
    kill -TERM "$cloud_pid" 2>/dev/null || true
    wait "$cloud_pid" 2>/dev/null || true
  fi
}
trap stop_cloud EXIT INT TERM

if listening; then
  echo "Something already listens on $listen: using it as the development cloud."
else
  "$cloud" serve --dev --listen "$listen" --store "sqlite:$data/cloud.db" >"$data/cloud.log" 2>&1 &
  cloud_pid=$!
  for _ in $(seq 1 100); do
    listening && break
    kill -0 "$cloud_pid" 2>/dev/null || { echo "attune-cloud did not start; see $data/cloud.log" >&2; exit 1; }
    sleep 0.1
  done
  echo "Development cloud on http://$listen (pid $cloud_pid; log: $data/cloud.log; store: $data/cloud.db)."
fi
echo
echo "Opening Attune (development profile). Key in with: snapset_1a"
[ -n "$cloud_pid" ] && echo "To see the fallback to saved settings: key out, run 'kill $cloud_pid', and key in again."
echo "Closing the window keeps Attune in the tray; quit from the tray menu (the cloud stops with it)."
ATTUNE_PROFILE=development ATTUNE_CLOUD_URL="http://$listen" "$app"

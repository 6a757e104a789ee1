#!/usr/bin/env bash
# The README's run command: builds Attune and shows it working on embedded defaults, with no
# network: keys in a bundled snapset on this desktop, shows the status, and puts the desktop back.
#
# On a machine with no desktop session (no D-Bus session bus: a server, a container, CI), GSettings
# would fall back to a memory backend that forgets everything, so the demo runs on a scratch
# desktop instead: the real GSettings keyfile backend in target/demo-desktop, read back with the
# gsettings tool.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup-deps.sh
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

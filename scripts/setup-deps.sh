#!/usr/bin/env bash
# Installs everything Attune needs to build, run and test on Debian 12, idempotently:
# Debian packages (GLib/GIO for GSettings, the gsettings tool and GNOME's schemas, strace for the
# fsync-order checks, Node.js/npm for the GPII interop peer, valgrind for the performance gates,
# HAProxy for the chaos run), and the Rust toolchain's components.
# Safe to run again: it installs only what is missing.
set -euo pipefail

need=(pkg-config libglib2.0-dev libglib2.0-bin gsettings-desktop-schemas dbus ca-certificates strace)
# The desktop app (src-tauri): WebKitGTK, the tray's app-indicator library and SVG icons to build
# and run it; Xvfb, xauth, WebKitWebDriver, a D-Bus session and python-dbusmock (a recording
# notification daemon) for its end-to-end test (scripts/test-app.sh); xwd and netpbm take its
# screenshots from the X server.
need+=(libwebkit2gtk-4.1-dev libayatana-appindicator3-dev librsvg2-dev libxdo-dev build-essential
  xvfb xauth webkit2gtk-driver dbus-x11 python3-dbusmock x11-apps netpbm)
# The tray bench and the package test (scripts/bench-tray.sh, scripts/test-package.sh): xwininfo
# finds the window, python3-xlib closes it as a window manager would.
need+=(x11-utils python3-xlib)
# A real GNOME desktop (scripts/test-desktop.sh): GNOME Shell 43, GSettings on dconf (GIO's
# dconf backend, dconf-service, and dconf-cli to read dconf itself), gjs for GNOME Shell's own
# notification service (a GNOME session has it; Debian's gnome-shell package does not depend on
# it), ImageMagick to measure the screenshots.
need+=(gnome-shell gjs dconf-gsettings-backend dconf-service dconf-cli imagemagick)
# Chromium and a font for the UI's accessibility tests in headless Chromium (scripts/test-ui.sh);
# the same font draws the chaos run's timeline (crates/attune-chaos).
need+=(chromium fonts-dejavu-core)
# Valgrind's callgrind counts the instructions of the hot paths for the performance gates
# (scripts/perf-gates.sh, docs/performance.md).
need+=(valgrind)
# The chaos run's load balancer in front of the cloud's replicas (scripts/chaos.sh, docs/chaos.md).
need+=(haproxy)
command -v node >/dev/null 2>&1 || need+=(nodejs)
command -v npm >/dev/null 2>&1 || need+=(npm)

missing=()
for p in "${need[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing Debian packages: ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

if ! command -v cargo >/dev/null 2>&1; then
  echo "setup: cargo not found; install Rust with rustup (https://rustup.rs) and run again" >&2
  exit 1
fi
rustup component list --installed 2>/dev/null | grep -q '^clippy' || rustup component add clippy rustfmt >/dev/null 2>&1 || true

#!/usr/bin/env bash
# The program of a headless GNOME session's process group (shared/REAL-DESKTOP.md; started by
# gnome_start in scripts/lib/gnome.sh, through setsid, as the desktop's user, with the desktop's
# HOME and XDG dirs already in the environment). Everything it starts stays in that group, so one
# kill of the group ends the whole desktop:
#   1. Xvfb, on the first free display;
#   2. a system bus of its own (on a socket in the run's dir: the machine's is not touched) with
#      python-dbusmock's logind on it: the machine has /run/systemd/seats, so GNOME Shell asks
#      for systemd's login manager and dies at start without one;
#   3. the session bus (dbus-run-session), started only now so that the services it starts
#      (dconf-service above all) get the desktop's environment, not another home;
#   4. inside it (--inside): the desktop's settings before anyone keys in, then GNOME Shell as
#      the X11 compositor of the display.
# Each step waits on its condition (a file written, a bus name owned), polled with a deadline.
# What the test needs to reach the desktop is written into DIR: display, system_bus, session_bus.
#
# Usage: gnome-session.sh DIR              (the group's leader)
#        gnome-session.sh --inside DIR     (run by dbus-run-session)
set -euo pipefail

# wait_file SECONDS FILE WHAT: until FILE is not empty.
wait_file() {
  local deadline=$((SECONDS + $1))
  until [ -s "$2" ]; do
    [ "$SECONDS" -lt "$deadline" ] || { echo "gnome-session: $3 did not start in $1 s" >&2; exit 1; }
    sleep 0.1
  done
}

if [ "${1:-}" = --inside ]; then
  dir="$2"
  printf '%s\n' "$DBUS_SESSION_BUS_ADDRESS" >"$dir/session_bus.tmp"
  mv "$dir/session_bus.tmp" "$dir/session_bus"
  # A person who has logged in before: GNOME Shell shows its first-login notices (the welcome
  # tour, "Screen Lock disabled" when there is no GDM) only once, and a notice would stay on the
  # screen the test measures (banners do not time out while nobody touches the desktop).
  mkdir -p "$XDG_DATA_HOME/gnome-shell"
  touch "$XDG_DATA_HOME/gnome-shell/lock-warning-shown"
  gsettings set org.gnome.shell welcome-dialog-last-shown-version "'999'"
  # A plain background of GNOME's own blue (its picture is WebP, which this machine may not
  # decode): the test knows the overview is drawn when its workspace shows that blue.
  gsettings set org.gnome.desktop.background picture-options none
  gsettings set org.gnome.desktop.background primary-color "'#023c88'"
  # A screen that never blanks (GNOME's idle dims and blanks it after five minutes), then the
  # same "used desktop" as the end-to-end tests (tests/tests/e2e/common.rs): a few keys set, one
  # of them to its default value, every other key unset. Key-out must bring back both kinds.
  gsettings set org.gnome.desktop.session idle-delay 0
  gsettings set org.gnome.desktop.interface cursor-size 32
  gsettings set org.gnome.desktop.interface enable-animations true
  gsettings set org.gnome.desktop.a11y.magnifier mag-factor 1.5
  gsettings set org.gnome.desktop.a11y.keyboard slowkeys-delay 450
  exec gnome-shell --x11 --replace >"$dir/gnome-shell.log" 2>&1
fi

dir="$1"
Xvfb -displayfd 3 -screen 0 1280x800x24 -nolisten tcp 3>"$dir/display" >"$dir/xvfb.log" 2>&1 &
wait_file 20 "$dir/display" Xvfb
DISPLAY=":$(tr -d '[:space:]' <"$dir/display")"
export DISPLAY

# --nofork: a forking dbus-daemon calls setsid() and would leave the group.
dbus-daemon --session --nofork --address="unix:path=$dir/system_bus_socket" --print-address=3 \
  3>"$dir/system_bus" >"$dir/system-bus.log" 2>&1 &
wait_file 20 "$dir/system_bus" "the system bus"
DBUS_SYSTEM_BUS_ADDRESS="$(head -1 "$dir/system_bus")"
export DBUS_SYSTEM_BUS_ADDRESS
# Debian's python3: python-dbusmock is a Debian package, absent from other Python installs.
/usr/bin/python3 -m dbusmock --system --template logind >"$dir/logind.log" 2>&1 &
deadline=$((SECONDS + 20))
until dbus-send --system --print-reply --dest=org.freedesktop.DBus /org/freedesktop/DBus \
  org.freedesktop.DBus.NameHasOwner string:org.freedesktop.login1 2>/dev/null | grep -q 'boolean true'; do
  [ "$SECONDS" -lt "$deadline" ] || { echo "gnome-session: the logind mock did not start in 20 s" >&2; exit 1; }
  sleep 0.1
done

exec dbus-run-session -- bash "$0" --inside "$dir"

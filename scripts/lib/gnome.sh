# shellcheck shell=bash
# A real GNOME desktop for scripts/test-desktop.sh: GNOME Shell 43 as the X11 compositor of an
# Xvfb display, GSettings on dconf through dconf-service on the session bus, as on a person's
# computer (shared/REAL-DESKTOP.md). Source it after scripts/lib/desktop.sh (wait_for), then call
# gnome_start; gnome_stop (on EXIT) ends the whole desktop.
#
# The desktop runs as an ordinary user: as root, `nobody` (a root session would also open with
# GNOME's "Logged in as a privileged user" banner over the screen it measures). It lives in a
# process group of its own (scripts/lib/gnome-session.sh is its leader); every process it starts,
# and the app and commands the test runs on it, carry GNOME_TEST_RUN=<its dir> in their
# environment, so that gnome_stop can find, end and report anything that left the group.

GNOME_DIR=""
GNOME_PGID=""
GNOME_USER=()

# as_user CMD...: runs CMD as the desktop's user. Sent to the background, a function runs in a
# subshell whose pid is not CMD's: start a background process with "${GNOME_USER[@]}" CMD.
as_user() { "${GNOME_USER[@]}" "$@"; }

gnome_start() {
  GNOME_DIR="$(mktemp -d "${TMPDIR:-/tmp}/attune-gnome.XXXXXX")"
  chmod 755 "$GNOME_DIR"
  mkdir -p "$GNOME_DIR"/{home,config,data,state,cache,runtime,media}
  GNOME_USER=()
  if [ "$(id -u)" -eq 0 ]; then
    local uid gid
    uid="$(id -u nobody)"
    gid="$(id -g nobody)"
    chown "$uid:$gid" "$GNOME_DIR" "$GNOME_DIR"/{home,config,data,state,cache,runtime}
    GNOME_USER=(setpriv "--reuid=$uid" "--regid=$gid" --clear-groups --)
    # Xvfb as an ordinary user cannot create the X sockets' directory.
    [ -d /tmp/.X11-unix ] || install -d -m 1777 /tmp/.X11-unix
  fi
  chmod 700 "$GNOME_DIR/runtime"

  # The desktop's environment, before any bus starts (dconf-service gets the bus's).
  local v
  for v in $(env | grep -oE '^(ATTUNE_[A-Z_]*|GSETTINGS_[A-Z_]*|DBUS_[A-Z_]*)' || true); do unset "$v"; done
  unset DISPLAY WAYLAND_DISPLAY
  export HOME="$GNOME_DIR/home" XDG_CONFIG_HOME="$GNOME_DIR/config" XDG_DATA_HOME="$GNOME_DIR/data" \
    XDG_STATE_HOME="$GNOME_DIR/state" XDG_CACHE_HOME="$GNOME_DIR/cache" \
    XDG_RUNTIME_DIR="$GNOME_DIR/runtime" XDG_SESSION_TYPE=x11 XDG_CURRENT_DESKTOP=GNOME \
    NO_COLOR=1 GNOME_TEST_RUN="$GNOME_DIR"

  setsid "${GNOME_USER[@]}" bash scripts/lib/gnome-session.sh "$GNOME_DIR" >"$GNOME_DIR/session.log" 2>&1 &
  GNOME_PGID=$!
  if ! wait_for 90 "GNOME Shell starts" gnome_started; then
    tail -20 "$GNOME_DIR/session.log" "$GNOME_DIR/gnome-shell.log" >&2 2>/dev/null || true
    return 1
  fi
  DISPLAY=":$(tr -d '[:space:]' <"$GNOME_DIR/display")"
  DBUS_SESSION_BUS_ADDRESS="$(head -1 "$GNOME_DIR/session_bus")"
  DBUS_SYSTEM_BUS_ADDRESS="$(head -1 "$GNOME_DIR/system_bus")"
  export DISPLAY DBUS_SESSION_BUS_ADDRESS DBUS_SYSTEM_BUS_ADDRESS
}

# Whether GNOME Shell has said it started; fails the wait at once if the session ended.
gnome_started() {
  grep -q "GNOME Shell started" "$GNOME_DIR/gnome-shell.log" 2>/dev/null && return 0
  # The leader (at the end, dbus-run-session) ends with GNOME Shell; a zombie has ended too.
  local state
  state="$(ps -o stat= -p "$GNOME_PGID" 2>/dev/null || true)"
  if [ -z "$state" ] || [ "${state:0:1}" = Z ]; then
    echo "FAIL: the GNOME session ended before GNOME Shell started" >&2
    exit 1
  fi
  return 1
}

# The pids of every process carrying this desktop's GNOME_TEST_RUN.
gnome_pids() {
  local p
  for p in /proc/[0-9]*; do
    [ "${p#/proc/}" = "$$" ] && continue
    tr '\0' '\n' 2>/dev/null <"$p/environ" | grep -qxF "GNOME_TEST_RUN=$GNOME_DIR" && echo "${p#/proc/}"
  done
  return 0
}

# Ends the session's group (TERM, then KILL after 10 s), then anything else of this desktop
# (reported: it left the group). KEEP_GNOME=1 keeps the run's dir.
gnome_stop() {
  [ -n "$GNOME_DIR" ] || return 0
  # From here on, nothing this script starts carries the mark (the scan's own commands).
  unset GNOME_TEST_RUN
  if [ -n "$GNOME_PGID" ]; then
    kill -TERM -- "-$GNOME_PGID" 2>/dev/null || true
    wait_for 10 "the GNOME session ends" bash -c "! kill -0 -- -$GNOME_PGID 2>/dev/null" 2>/dev/null ||
      kill -KILL -- "-$GNOME_PGID" 2>/dev/null || true
    wait "$GNOME_PGID" 2>/dev/null || true
  fi
  local left
  left="$(gnome_pids)"
  if [ -n "$left" ]; then
    echo "gnome_stop: ending processes that left the session's group:" >&2
    # shellcheck disable=SC2086
    ps -o pid,pgid,args -p "$(echo $left | tr ' ' ,)" >&2 || true
    # shellcheck disable=SC2086
    kill -KILL $left 2>/dev/null || true
  fi
  [ -n "${KEEP_GNOME:-}" ] || rm -rf "$GNOME_DIR"
  GNOME_DIR=""
  GNOME_PGID=""
  return 0
}

# A throw-away desktop for the scripts that run the real app outside a test harness
# (scripts/bench-tray.sh, scripts/test-package.sh): Xvfb, a private D-Bus session bus, temp HOME
# and XDG dirs, GSettings' keyfile backend. Source it, then call desk_start; desk_stop (on EXIT)
# ends only what desk_start started, by pid.
#
# Waiting is on conditions (a log line, a process, a value), polled with a deadline: never a
# fixed sleep taken as proof that something happened.

DESK_PIDS=()

desk_start() {
  DESK="$(mktemp -d "${TMPDIR:-/tmp}/attune-desk.XXXXXX")"
  mkdir -p "$DESK"/{home,config,data,state,cache,runtime,media}
  chmod 700 "$DESK/runtime"
  export HOME="$DESK/home" XDG_CONFIG_HOME="$DESK/config" XDG_DATA_HOME="$DESK/data" \
    XDG_STATE_HOME="$DESK/state" XDG_CACHE_HOME="$DESK/cache" XDG_RUNTIME_DIR="$DESK/runtime" \
    GSETTINGS_BACKEND=keyfile NO_AT_BRIDGE=1 NO_COLOR=1 LIBGL_ALWAYS_SOFTWARE=1
  # WebKit's sandbox needs user namespaces, which containers often lack (as scripts/test-app.sh).
  export WEBKIT_DISABLE_SANDBOX_THIS_IS_DANGEROUS="${WEBKIT_DISABLE_SANDBOX_THIS_IS_DANGEROUS:-1}"
  unset WAYLAND_DISPLAY
  for v in $(env | grep -o '^ATTUNE_[A-Z_]*' || true); do unset "$v"; done

  Xvfb -displayfd 3 -screen 0 1280x1024x24 -nolisten tcp 3>"$DESK/display" >"$DESK/xvfb.log" 2>&1 &
  DESK_PIDS+=($!)
  wait_for 20 "Xvfb starts" test -s "$DESK/display" || { cat "$DESK/xvfb.log" >&2; return 1; }
  local n
  n="$(tr -d '[:space:]' <"$DESK/display")"
  export DISPLAY=":$n"

  local bus
  bus="$(dbus-daemon --session --fork --print-address=1 --print-pid=1 | tr '\n' ' ')"
  export DBUS_SESSION_BUS_ADDRESS="${bus%% *}"
  DESK_PIDS+=("$(echo "$bus" | awk '{print $2}')")
}

desk_stop() {
  local p
  for p in "${DESK_PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  [ -n "${DESK:-}" ] && [ -z "${KEEP_DESK:-}" ] && rm -rf "$DESK"
  return 0
}

# wait_for SECONDS DESCRIPTION COMMAND...: polls COMMAND until it succeeds.
wait_for() {
  local secs="$1" what="$2"
  shift 2
  local deadline=$((SECONDS + secs))
  until "$@"; do
    if [ "$SECONDS" -ge "$deadline" ]; then
      echo "FAIL: $what (waited ${secs}s)" >&2
      return 1
    fi
    sleep 0.1
  done
}

# The app's log (one file a day under the data dir).
app_log() { cat "$XDG_DATA_HOME"/attune/logs/attune.*.log 2>/dev/null || true; }
log_has() { app_log | grep -q -- "$1"; }

# The pid of the first process running the executable $1 (a path), or nothing.
pid_of_exe() {
  local want p
  want="$(readlink -f "$1")"
  for p in /proc/[0-9]*; do
    [ "$(readlink "$p/exe" 2>/dev/null)" = "$want" ] && { echo "${p#/proc/}"; return 0; }
  done
  return 1
}

# "pid comm pss_kB" for a process and every descendant.
tree() {
  /usr/bin/python3 - "$1" <<'EOF'
import os, sys
kids = {}
for p in filter(str.isdigit, os.listdir('/proc')):
    try:
        stat = open(f'/proc/{p}/stat').read()
    except OSError:
        continue
    ppid = int(stat.rsplit(')', 1)[1].split()[1])
    kids.setdefault(ppid, []).append(int(p))
stack = [int(sys.argv[1])]
while stack:
    p = stack.pop()
    try:
        comm = open(f'/proc/{p}/comm').read().strip()
        pss = next(int(l.split()[1]) for l in open(f'/proc/{p}/smaps_rollup') if l.startswith('Pss:'))
    except (OSError, StopIteration):
        continue
    print(p, comm, pss)
    stack.extend(kids.get(p, []))
EOF
}

tree_pss_kb() { tree "$1" | awk '{s += $3} END {print s + 0}'; }
has_web_process() { tree "$1" | grep -q WebKitWebProces; }

# The id of the app's window: its title is the page's, "<state> — Attune" ("Attune" at first).
window_id() { xwininfo -root -tree 2>/dev/null | grep -m1 -E ' "([^"]* )?Attune"' | awk '{print $1}'; }

# Whether the app's window is titled "<state> — Attune": the page has rendered that state.
window_shows() { xwininfo -root -tree 2>/dev/null | grep -q " \"$1 .*Attune\""; }

# Asks the app's window to close, as a window manager's close button does
# (WM_DELETE_WINDOW), so the app sees a real close request.
close_window() {
  /usr/bin/python3 - <<'EOF'
from Xlib import X, display, protocol
d = display.Display()
root = d.screen().root
def find(w):
    try:
        prop = w.get_full_property(d.intern_atom('_NET_WM_NAME'), 0)
        name = prop.value.decode('utf-8', 'replace') if prop else ''
        if name.endswith('Attune') and w.get_wm_protocols():
            return w
    except Exception:
        pass
    for c in w.query_tree().children:
        f = find(c)
        if f:
            return f
w = find(root)
if w is None:
    raise SystemExit('no window named Attune')
atom = d.intern_atom('WM_DELETE_WINDOW')
ev = protocol.event.ClientMessage(window=w, client_type=d.intern_atom('WM_PROTOCOLS'),
                                  data=(32, [atom, X.CurrentTime, 0, 0, 0]))
w.send_event(ev)
d.flush()
EOF
}

# Whether the app's window is mapped.
window_mapped() { local id; id="$(window_id)"; [ -n "$id" ] && xwininfo -id "$id" 2>/dev/null | grep -q 'IsViewable'; }

# Saves the app's window as PNG $1 and says whether it shows more than a few colours
# (a blank web view is one flat colour).
window_not_blank() {
  xwd -silent -id "$(window_id)" | xwdtopnm 2>/dev/null | tee >(pnmtopng >"$1" 2>/dev/null) |
    ppmhist -noheader 2>/dev/null | awk 'END { exit !(NR > 20) }'
}

# "Mounts" a stick holding token $2 at root $1 as volume $3: prepared beside the root and renamed
# into it, so it appears whole, as a mount does.
stick_in() {
  local staging="$1/../staging-$3"
  mkdir -p "$staging"
  printf '%s\n' "$2" >"$staging/.gpii-user-token.txt"
  mv "$staging" "$1/$3"
}
stick_out() { rm -rf "${1:?}/$2"; }

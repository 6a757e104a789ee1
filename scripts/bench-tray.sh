#!/usr/bin/env bash
# The app in the tray, measured (issue 14 item 2): starts attune-app --background (as the login
# autostart entry does) on a throw-away desktop (scripts/lib/desktop.sh: Xvfb, a private D-Bus
# session, GSettings keyfile backend, testing profile, a temp dir as the USB mount root), then
#   1. in the tray: the process is the lean tray (`attune tray`, which `--background` becomes),
#      alone (no WebKitWebProcess); its PSS;
#   2. a USB key keys in while there is no window;
#   3. a second launch opens the window (the lean tray hands over to the app in the same
#      process): the time from the tray's ask until the page has the current status, the
#      state it shows, and a screenshot that is not blank; the tree's PSS with the window open;
#   4. closing the window destroys the web view (its web process ends); the tray's PSS after;
#   5. the window reopens at once (warm), again with the current state;
#   6. closed again, the app becomes the lean tray again once the window has stayed closed
#      (ATTUNE_TRAY_RESTART_SECONDS, here ATTUNE_BENCH_RESTART_S, default 10 s): its tree is the
#      lean tray alone, at its start-up PSS; the window then opens cold with the current state;
#   7. pulling the key (still in through the restart) restores the desktop;
#   8. on this shared computer (the site file says so), the session's end (SIGTERM, as a logout
#      sends) keys the person out and puts the desktop back before the app exits, within 5 s.
# Fails if a check fails. Says whether the tray PSS is within its target (ATTUNE_TRAY_PSS_MAX_KB,
# default 60 MB) and a reopen within ATTUNE_REOPEN_MAX_MS (default 500 ms), and fails on them too
# with ATTUNE_BENCH_STRICT=1: the targets are for the shipped (release) binary on an idle machine,
# which a debug build on a busy CI machine is not.
#
# Usage: bash scripts/bench-tray.sh [path/to/attune-app]   (default: target/debug/attune-app)
#   ATTUNE_BENCH_START="attune-app --background": the command line that starts it (the package
#   test passes the Exec line of the installed autostart entry).
set -euo pipefail
cd "$(dirname "$0")/.."
app="$(readlink -f "${1:-${CARGO_TARGET_DIR:-$PWD/target}/debug/attune-app}")"
[ -x "$app" ] || { echo "no app at $app (cargo build -p attune-app)" >&2; exit 1; }
pss_max="${ATTUNE_TRAY_PSS_MAX_KB:-61440}"
reopen_max="${ATTUNE_REOPEN_MAX_MS:-500}"
shots="${ATTUNE_BENCH_SHOTS:-$PWD/target/bench}"
start_cmd="${ATTUNE_BENCH_START:-$app --background}"
strict="${ATTUNE_BENCH_STRICT:-0}"
settle="${ATTUNE_SETTLE_S:-3}"
restart_s="${ATTUNE_BENCH_RESTART_S:-10}"
mkdir -p "$shots"

. scripts/lib/desktop.sh
app_pid=""
finish() {
  if [ -n "$app_pid" ]; then
    kill "$app_pid" 2>/dev/null || true
    wait "$app_pid" 2>/dev/null || true
  fi
  desk_stop
}
trap finish EXIT
desk_start
cat >"$DESK/site.toml" <<EOF
profile = "testing"
[session]
shared_computer = true
[usb]
enabled = true
roots = ["$DESK/media"]
[local_api]
enabled = false
EOF
export ATTUNE_SITE_CONFIG="$DESK/site.toml" ATTUNE_TRAY_RESTART_SECONDS="$restart_s"
gs() { gsettings get org.gnome.desktop.interface text-scaling-factor; }
gs_is() { [ "$(gs)" = "$1" ]; }
before="$(gs)"
fail() { echo "FAIL: $*" >&2; app_log | tail -20 >&2; exit 1; }
# PSS after the process has settled: what it holds idle, not the peak of what it just did.
settled_pss() { sleep "$settle"; tree_pss_kb "$app_pid"; }

read -ra start <<<"$start_cmd"
echo "start: ${start[*]}"
"${start[@]}" >"$DESK/app.out" 2>&1 &
app_pid=$!
wait_for 60 "the app starts" log_has "started"
log_has "background=true" || fail "not started in the background"
# The lean tray: the process runs the attune program (its comm), not attune-app.
lean() { [ "$(cat /proc/"$app_pid"/comm 2>/dev/null)" = attune ]; }
lean || fail "the process in the tray is $(cat /proc/"$app_pid"/comm), not the lean tray (attune)"
window_mapped && fail "a window was created in the background"
has_web_process "$app_pid" && fail "a web process runs with no window"
tray_kb="$(settled_pss)"
echo "measure: in the tray at start (no window), process tree:"
tree "$app_pid" | sed 's/^/  /'
echo "measure: tray PSS at start: $((tray_kb / 1024)) MB ($tray_kb kB)"

stick_in "$DESK/media" snapset_1a STICK
wait_for 30 "the USB key keys in" log_has "kind=\"usb_key_found\"\|kind=usb_key_found"
wait_for 30 "the key's settings are applied" gs_is 1.25

# open_and_measure N: a second launch opens the window; prints the app's own reopen time.
open_and_measure() {
  local n="$1" t0 line ms
  local seen_before
  seen_before="$(app_log | grep -c 'window shows the current status' || true)"
  t0=$(date +%s%N)
  "$app" >"$DESK/second-$n.out" 2>&1
  wait_for 30 "window $n shows the status" \
    bash -c "[ \"\$(cat \"$XDG_DATA_HOME\"/attune/logs/attune.*.log | grep -c 'window shows the current status')\" -gt $seen_before ]"
  line="$(app_log | grep 'window shows the current status' | tail -1)"
  ms="$(echo "$line" | grep -o 'ms=[0-9]*' | cut -d= -f2)"
  state="$(echo "$line" | grep -o 'state=[a-z_]*' | cut -d= -f2)"
  [ "$state" = "testing" ] || fail "window $n got state $state, not the keyed-in 'testing'"
  # The page has rendered it: the window's title is the page's, "Testing — Attune".
  wait_for 10 "window $n shows the keyed-in state" window_shows Testing
  local shown=$((($(date +%s%N) - t0) / 1000000))
  wait_for 10 "window $n is mapped" window_mapped
  echo "measure: open $n: the page has the current status ($state) ${ms} ms after the open request; the window shows it ${shown} ms after the second launch's exec"
  wait_for 10 "window $n is not blank" window_not_blank "$shots/tray-open-$n.png"
  OPEN_MS="$ms"
}

open_and_measure 1
open_kb="$(settled_pss)"
echo "measure: window open, process tree:"
tree "$app_pid" | sed 's/^/  /'
echo "measure: PSS with the window open: $((open_kb / 1024)) MB ($open_kb kB)"

close_window
wait_for 10 "the window closes" bash -c '! (. scripts/lib/desktop.sh; window_mapped)'
wait_for 20 "the web process ends with the window" bash -c "! (. scripts/lib/desktop.sh; has_web_process $app_pid)"
kill -0 "$app_pid" 2>/dev/null || fail "the app quit when its window closed"
closed_kb="$(settled_pss)"
echo "measure: in the tray after closing the window, process tree:"
tree "$app_pid" | sed 's/^/  /'
echo "measure: tray PSS after close: $((closed_kb / 1024)) MB ($closed_kb kB)"

open_and_measure 2
reopen_ms="$OPEN_MS"

starts() { app_log | grep -c ' started ' || true; }
close_window
wait_for 10 "the window closes again" bash -c '! (. scripts/lib/desktop.sh; window_mapped)'
wait_for $((restart_s + 30)) "the app becomes the lean tray again" bash -c "[ \"\$(cat \"$XDG_DATA_HOME\"/attune/logs/attune.*.log | grep ' started ' | grep -c 'lean=true')\" -ge 2 ]"
lean || fail "after the restart the process is $(cat /proc/"$app_pid"/comm), not the lean tray"
log_has "starting afresh in the tray" || fail "a second start without the restart"
kill -0 "$app_pid" 2>/dev/null || fail "the app is gone after its restart"
wait_for 20 "the restarted app's tree is the app alone" bash -c "[ \"\$(. scripts/lib/desktop.sh; tree $app_pid | wc -l)\" = 1 ]"
fresh_kb="$(settled_pss)"
echo "measure: in the tray after starting afresh, process tree:"
tree "$app_pid" | sed 's/^/  /'
echo "measure: tray PSS after the restart: $((fresh_kb / 1024)) MB ($fresh_kb kB)"
open_and_measure 3
cold_ms="$OPEN_MS"

stick_out "$DESK/media" STICK
wait_for 30 "pulling the key restores the desktop" gs_is "$before"
wait_for 10 "the page hears the key go" log_has "usb_key_removed"

stick_in "$DESK/media" snapset_1a STICK2
wait_for 30 "the key keys in again" gs_is 1.25
t0=$(date +%s%N)
kill -TERM "$app_pid"
# Gone, or a zombie this script has not reaped yet.
gone() { local st; st="$(ps -o stat= -p "$1" 2>/dev/null || true)"; [ -z "$st" ] || [[ "$st" == Z* ]]; }
wait_for 5 "the app exits at the session's end" gone "$app_pid"
end_ms=$((($(date +%s%N) - t0) / 1000000))
wait "$app_pid" 2>/dev/null || true
app_pid=""
gs_is "$before" || fail "the session's end left text-scaling-factor at $(gs), not $before"
log_has "session end" || fail "no session end in the log"
echo "measure: session end on a shared computer: keyed out, desktop put back, app gone in ${end_ms} ms"

status=0
over() { echo "OVER TARGET: $*" >&2; [ "$strict" = 1 ] && status=1; return 0; }
[ "$cold_ms" -le "$reopen_max" ] || over "open from the lean tray $cold_ms ms > $reopen_max ms"
[ "$tray_kb" -le "$pss_max" ] || over "tray PSS at start $tray_kb kB > $pss_max kB"
[ "$fresh_kb" -le "$pss_max" ] || over "tray PSS after the restart $fresh_kb kB > $pss_max kB"
[ "$reopen_ms" -le "$reopen_max" ] || over "reopen $reopen_ms ms > $reopen_max ms"
echo "bench-tray: tray ${tray_kb} kB at start, ${closed_kb} kB just after close, ${fresh_kb} kB after the restart; window open ${open_kb} kB; reopen ${reopen_ms} ms warm, ${cold_ms} ms after the restart"
exit $status

#!/usr/bin/env bash
# The UI's tests (ui/tests/): axe-core in headless Chromium against every UI state, the keyboard
# walk-through, the appearance test. Installs what it needs on a fresh Debian 12: Chromium (Debian's
# package; the network is closed to browser downloads) and the npm packages in ui/ (npm ci).
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
missing=()
[ -x /usr/bin/chromium ] || missing+=(chromium)
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)
dpkg-query -W -f='${Status}' fonts-dejavu-core 2>/dev/null | grep -q "install ok installed" || missing+=(fonts-dejavu-core)
if [ ${#missing[@]} -gt 0 ]; then
  echo "test-ui: installing Debian packages: ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

node_major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$node_major" -lt 20 ]; then
  echo "test-ui: Node.js 20 or newer is needed (playwright-core); found $(node --version)" >&2
  exit 1
fi

cd ui
if [ ! -d node_modules/axe-core ] || [ ! -d node_modules/playwright-core ] \
   || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "test-ui: npm ci"
  npm ci --no-audit --no-fund --loglevel=error
fi

echo "== UI tests (axe-core, keyboard, appearance) in $(/usr/bin/chromium --version 2>/dev/null)"
# Chromium's own output (its stderr, how it exited), as Playwright logs it with DEBUG=pw:browser,
# goes to a file (tests/harness.mjs), printed only if the suite fails: a browser that dies
# mid-suite says why.
export ATTUNE_UI_BROWSER_LOG="${TMPDIR:-/tmp}/attune-ui-browser.$$.log"
rm -f "$ATTUNE_UI_BROWSER_LOG"
if ! DEBUG=pw:browser node --test --test-concurrency=1 --test-reporter=spec tests/; then
  echo "test-ui: the suite failed; the browser's output (last 300 lines of $ATTUNE_UI_BROWSER_LOG):" >&2
  tail -n 300 "$ATTUNE_UI_BROWSER_LOG" >&2 || true
  exit 1
fi
rm -f "$ATTUNE_UI_BROWSER_LOG"

#!/usr/bin/env bash
# The Debian package, tested for real (issue 14 item 5; scripts/test.sh runs it after the app's
# end-to-end test): builds it (and the cloud's, which scripts/test-cloud-package.sh tests) from
# the development binaries CI already has (scripts/package.sh --profile dev: no release build),
# checks its control data (conffiles, Depends, Recommends) and lintian (no errors), installs
# it with apt-get, starts the installed app the way the login autostart entry does (its Exec line)
# under Xvfb and a D-Bus session, and runs the tray scenario on it (scripts/bench-tray.sh: in the
# tray with no web process, keyed in by a simulated USB key from a test site file, the window
# opened by a second launch, closed, reopened, the key pulled and the desktop restored). Then
# `apt-get remove` keeps the site's changed conffile and `apt-get purge` removes it.
#
# It installs into this machine's /usr and /etc (as root, or through sudo), and purges on exit
# whatever happened.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup-deps.sh
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
if ! dpkg-query -W -f='${Status}' lintian 2>/dev/null | grep -q "install ok installed"; then
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends lintian
fi
if dpkg-query -W -f='${Status}' attune 2>/dev/null | grep -q "install ok installed"; then
  echo "test-package: a package named attune is installed already; not touching it" >&2
  exit 1
fi

echo "== package (dev profile)"
bash scripts/package.sh --profile dev
deb="$(ls target/debian/attune_*_amd64.deb)"
fail() { echo "FAIL: $*" >&2; exit 1; }

echo "== control data"
info="$(dpkg-deb --info "$deb")"
conffiles="$(dpkg-deb --ctrl-tarfile "$deb" | tar -xO ./conffiles)"
for f in /etc/attune/site.toml /etc/xdg/autostart/attune.desktop; do
  grep -qx "$f" <<<"$conffiles" || fail "$f is not a conffile: $conffiles"
done
depends="$(dpkg-deb --field "$deb" Depends)"
for d in libwebkit2gtk-4.1-0 libayatana-appindicator3-1 gsettings-desktop-schemas libgtk-3-0 libc6; do
  grep -qE "(^|, )$d( |,|$)" <<<"$depends" || fail "Depends lacks $d: $depends"
done
[ "$(dpkg-deb --field "$deb" Recommends)" = gnome-shell-extension-appindicator ] ||
  fail "Recommends: $(dpkg-deb --field "$deb" Recommends)"
echo "$info" | sed -n '/Package:/,/Recommends:/p'
contents="$(dpkg-deb --contents "$deb")"
echo "files:"
awk '{print "  " $1, $6}' <<<"$contents"
grep -q ' ./etc/xdg/autostart/attune.desktop$' <<<"$contents" || fail "no autostart entry"

echo "== lintian"
# Errors fail; warnings and notes are printed for the record.
lintian --fail-on error --display-info "$deb" || fail "lintian reports errors"
echo "lintian: no errors"

installed=""
cleanup() {
  if [ -n "$installed" ]; then
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get purge -y -qq attune >/dev/null 2>&1 || true
  fi
}
trap cleanup EXIT

echo "== apt-get install $deb"
# Without Recommends: GNOME Shell's AppIndicator extension pulls GNOME Shell itself, which a
# headless test has no use for (the tray's library, a Depends, is what the app loads).
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "./$deb"
installed=1
for f in /usr/bin/attune-app /usr/bin/attune /etc/attune/site.toml /etc/xdg/autostart/attune.desktop \
  /usr/share/applications/attune.desktop /usr/share/icons/hicolor/128x128/apps/attune.png \
  /usr/share/doc/attune/copyright; do
  [ -e "$f" ] || fail "$f is not installed"
done
/usr/bin/attune --version
# The shipped site file is valid as it is (every line a comment): the installed CLI reads it.
ATTUNE_SITE_CONFIG=/etc/attune/site.toml /usr/bin/attune doctor --json >/dev/null ||
  fail "the installed CLI does not accept the shipped site file"

echo "== the installed app, started as the autostart entry does"
exec_line="$(sed -n 's/^Exec=//p' /etc/xdg/autostart/attune.desktop)"
[ "$exec_line" = "attune-app --background" ] || fail "autostart Exec is '$exec_line'"
app="$(command -v "${exec_line%% *}")"
[ "$app" = /usr/bin/attune-app ] || fail "the autostart entry runs $app, not the installed app"
ATTUNE_BENCH_START="$exec_line" ATTUNE_SETTLE_S=0 bash scripts/bench-tray.sh "$app"

echo "== apt-get remove keeps the site's configuration; purge removes it"
echo '# changed by the site' | $SUDO tee -a /etc/attune/site.toml >/dev/null
DEBIAN_FRONTEND=noninteractive $SUDO apt-get remove -y -qq attune >/dev/null
[ ! -e /usr/bin/attune-app ] || fail "remove left /usr/bin/attune-app"
grep -q 'changed by the site' /etc/attune/site.toml || fail "remove did not keep the changed site.toml"
dpkg-query -W -f='${Status}\n' attune | grep -q "config-files" || fail "not in config-files state after remove"
DEBIAN_FRONTEND=noninteractive $SUDO apt-get purge -y -qq attune >/dev/null
installed=""
[ ! -e /etc/attune/site.toml ] || fail "purge left /etc/attune/site.toml"
[ ! -e /etc/xdg/autostart/attune.desktop ] || fail "purge left the autostart entry"
! dpkg-query -W attune >/dev/null 2>&1 || dpkg-query -W -f='${Status}\n' attune | grep -q "not-installed" ||
  fail "the package is still known after purge"
echo "test-package: ok"

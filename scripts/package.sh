#!/usr/bin/env bash
# Builds the Debian package target/debian/attune_<version>_amd64.deb (docs/operations.md,
# "Desktops at a pilot site"): the app (/usr/bin/attune-app) and the attune command, the login
# autostart entry (/etc/xdg/autostart/attune.desktop, `attune-app --background`), a menu entry,
# icons, the documented site file /etc/attune/site.toml as a conffile, the copyright file and the
# changelog. Depends come from dpkg-shlibdeps on the binaries plus what the app loads at run time
# (libwebkit2gtk-4.1-0's web processes, the tray's libayatana-appindicator3-1, GNOME's schemas).
#
# The package is put together with dpkg-deb from packaging/ rather than by Tauri's bundler: that
# needs tauri-cli (minutes of build in CI) and marks no conffiles. Both binaries are built in one
# `cargo build -p attune-app -p attune-cli`, without the rest of the workspace, so neither holds the
# test-only failpoints (the script checks). The CLI adds no feature to any crate the app uses, so
# the app is the one `-p attune-app` alone gives (scripts/test-app.sh's, which is then reused),
# and the CLI reuses the app's dependencies: built alone it would unify features differently
# (serde, glib, syn, ...) and recompile most of them.
#
# Usage: bash scripts/package.sh [--profile release|dev]
#   release (default): optimised binaries, what a site installs;
#   dev: the development build CI already has (scripts/test-app.sh), stripped, to test the package
#   without a release build.
set -euo pipefail
cd "$(dirname "$0")/.."

profile=release
while [ $# -gt 0 ]; do
  case "$1" in
    --profile) profile="${2:?--profile needs release or dev}"; shift 2 ;;
    --profile=*) profile="${1#--profile=}"; shift ;;
    -h|--help) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "package.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
case "$profile" in
  release) dir=release ;;
  dev) dir=debug ;;
  *) echo "package.sh: --profile is release or dev, not $profile" >&2; exit 2 ;;
esac

need=(dpkg-dev binutils)
missing=()
for p in "${need[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

export CARGO_TERM_COLOR=never
target="${CARGO_TARGET_DIR:-$PWD/target}"
echo "== build attune-app and attune ($profile)"
cargo build --locked --profile "$profile" -p attune-app -p attune-cli
for b in attune-app attune; do
  bash scripts/check-no-failpoints.sh "$target/$dir/$b"
done
echo "-- package: built in ${SECONDS} s"

version="$(cargo metadata --no-deps --format-version 1 --locked |
  /usr/bin/python3 -c 'import json,sys; print(next(p["version"] for p in json.load(sys.stdin)["packages"] if p["name"] == "attune-app"))')"
out="$PWD/target/debian"
stage="$out/stage"
rm -rf "$stage"
mkdir -p "$stage"
umask 022

install -D -m 0755 "$target/$dir/attune-app" "$stage/usr/bin/attune-app"
install -D -m 0755 "$target/$dir/attune" "$stage/usr/bin/attune"
# A release build is stripped already (profile.release); a dev build carries line tables.
strip --strip-unneeded --remove-section=.comment --remove-section=.note "$stage/usr/bin/attune-app" "$stage/usr/bin/attune"
install -D -m 0644 packaging/attune-autostart.desktop "$stage/etc/xdg/autostart/attune.desktop"
install -D -m 0644 packaging/attune.desktop "$stage/usr/share/applications/attune.desktop"
install -D -m 0644 packaging/site.toml "$stage/etc/attune/site.toml"
for s in 32x32 128x128; do
  install -D -m 0644 "src-tauri/icons/$s.png" "$stage/usr/share/icons/hicolor/$s/apps/attune.png"
done
install -D -m 0644 src-tauri/icons/icon.png "$stage/usr/share/icons/hicolor/256x256/apps/attune.png"
install -D -m 0644 packaging/copyright "$stage/usr/share/doc/attune/copyright"
sed "s/@VERSION@/$version/" packaging/changelog | gzip -9n >"$stage/usr/share/doc/attune/changelog.gz"
chmod 0644 "$stage/usr/share/doc/attune/changelog.gz"

# The libraries the binaries link, as Debian package dependencies.
shl="$out/shlibdeps"
rm -rf "$shl"
mkdir -p "$shl/debian"
printf 'Source: attune\n\nPackage: attune\nArchitecture: amd64\n' >"$shl/debian/control"
shlibs="$(cd "$shl" && dpkg-shlibdeps -O "$stage/usr/bin/attune-app" "$stage/usr/bin/attune" 2>/dev/null |
  sed -n 's/^shlibs:Depends=//p')"
[ -n "$shlibs" ] || { echo "package.sh: dpkg-shlibdeps found no libraries" >&2; exit 1; }
# What the app needs besides what it links: WebKit's own processes (linked already, kept in case
# that changes), the tray's indicator library (loaded at run time) and GNOME's schemas (the
# settings it applies). Each only once.
depends="$shlibs"
for d in libwebkit2gtk-4.1-0 libayatana-appindicator3-1 gsettings-desktop-schemas; do
  grep -qE "(^|, )$d( |,|$)" <<<"$depends" || depends="$depends, $d"
done

mkdir -p "$stage/DEBIAN"
size="$(du -sk --exclude=DEBIAN "$stage" | cut -f1)"
sed -e "s/@VERSION@/$version/" -e "s/@SIZE@/$size/" -e "s/@DEPENDS@/$depends/" packaging/control.in \
  >"$stage/DEBIAN/control"
# Everything under /etc is the site's once installed: dpkg keeps a changed file on upgrade and on
# remove, and deletes it only on purge. Tauri's bundler lists none; this is why it is not used.
(cd "$stage" && find etc -type f -printf '/%p\n' | sort) >"$stage/DEBIAN/conffiles"
(cd "$stage" && find usr -type f -print0 | sort -z | xargs -0 md5sum) >"$stage/DEBIAN/md5sums"
chmod 0644 "$stage/DEBIAN/control" "$stage/DEBIAN/conffiles" "$stage/DEBIAN/md5sums"

deb="$out/attune_${version}_amd64.deb"
rm -f "$deb"
dpkg-deb --root-owner-group -Zxz --build "$stage" "$deb" >/dev/null
rm -rf "$stage" "$shl"
echo "== $deb ($(du -h "$deb" | cut -f1))"
dpkg-deb --info "$deb" | sed -n '/Package:/,$p'
echo "conffiles:"
dpkg-deb --ctrl-tarfile "$deb" | tar -xO ./conffiles | sed 's/^/  /'

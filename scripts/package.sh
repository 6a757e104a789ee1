#!/usr/bin/env bash
# Builds the two Debian packages into target/debian/:
#
# attune_<version>_amd64.deb (docs/operations.md, "Desktops at a pilot site"): the app
# (/usr/bin/attune-app) and the attune command, the login autostart entry
# (/etc/xdg/autostart/attune.desktop, `attune-app --background`), a menu entry, icons, the
# documented site file /etc/attune/site.toml as a conffile, the copyright file and the changelog.
# Depends come from dpkg-shlibdeps on the binaries plus what the app loads at run time
# (libwebkit2gtk-4.1-0's web processes, the tray's libayatana-appindicator3-1, GNOME's schemas).
#
# attune-cloud_<version>_amd64.deb (docs/operations.md, "One machine on SQLite"): the server
# (/usr/bin/attune-cloud), its hardened unit attune-cloud.service, the daily
# attune-cloud-backup.timer and its service, the documented /etc/attune/cloud.toml as a
# conffile, maintainer scripts that make the attune-cloud system user and enable the units
# (packaging/cloud/), the copyright file, the changelog and the operations guide.
#
# Both are put together with dpkg-deb from packaging/ rather than by a bundler: Tauri's needs
# tauri-cli and cargo-deb needs cargo-deb (each minutes of build in CI on two cores), and
# Tauri's marks no conffiles. None of the binaries holds the test-only failpoints (the script
# checks). The app and the CLI are built in one `cargo build -p attune-app -p attune-cli`: the
# CLI adds no feature to any crate the app uses, so the app is the one `-p attune-app` alone
# gives (scripts/test-app.sh's, which is then reused), and the CLI reuses the app's
# dependencies, where built alone it would unify features differently and recompile most of
# them. The cloud is built on its own (-p attune-cloud), for its features are its own.
#
# Usage: bash scripts/package.sh [--profile release|dev]
#   release (default): optimised binaries, what a site installs;
#   dev: the development build CI already has (scripts/test-app.sh), stripped, to test the
#   packages without a release build.
set -euo pipefail
cd "$(dirname "$0")/.."

profile=release
while [ $# -gt 0 ]; do
  case "$1" in
    --profile) profile="${2:?--profile needs release or dev}"; shift 2 ;;
    --profile=*) profile="${1#--profile=}"; shift ;;
    -h|--help) sed -n '2,25p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
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
echo "== build attune-app, attune and attune-cloud ($profile)"
cargo build --locked --profile "$profile" -p attune-app -p attune-cli
cargo build --locked --profile "$profile" -p attune-cloud
for b in attune-app attune attune-cloud; do
  bash scripts/check-no-failpoints.sh "$target/$dir/$b"
done
echo "-- package: built in ${SECONDS} s"

metadata="$(cargo metadata --no-deps --format-version 1 --locked)"
# The version of the workspace package $1.
version_of() {
  /usr/bin/python3 -c 'import json,sys; print(next(p["version"] for p in json.load(sys.stdin)["packages"] if p["name"] == sys.argv[1]))' "$1" <<<"$metadata"
}
out="$PWD/target/debian"
umask 022

# The libraries the binaries $2… of package $1 link, as Debian package dependencies.
shlibdeps() {
  local name="$1" shl="$out/shlibdeps" deps
  shift
  rm -rf "$shl"
  mkdir -p "$shl/debian"
  printf 'Source: attune\n\nPackage: %s\nArchitecture: amd64\n' "$name" >"$shl/debian/control"
  deps="$(cd "$shl" && dpkg-shlibdeps -O "$@" 2>/dev/null | sed -n 's/^shlibs:Depends=//p')"
  rm -rf "$shl"
  [ -n "$deps" ] || { echo "package.sh: dpkg-shlibdeps found no libraries for $name" >&2; return 1; }
  echo "$deps"
}

# Builds target/debian/$1_$2_amd64.deb from the tree $3 and the control template $4, with
# Depends $5: everything under /etc is a conffile.
build_deb() {
  local name="$1" version="$2" stage="$3" template="$4" depends="$5" size deb
  mkdir -p "$stage/DEBIAN"
  size="$(du -sk --exclude=DEBIAN "$stage" | cut -f1)"
  sed -e "s/@VERSION@/$version/" -e "s/@SIZE@/$size/" -e "s/@DEPENDS@/$depends/" "$template" \
    >"$stage/DEBIAN/control"
  # Everything under /etc is the site's once installed: dpkg keeps a changed file on upgrade and
  # on remove, and deletes it only on purge. Tauri's bundler lists none; this is why it is not
  # used.
  (cd "$stage" && find etc -type f -printf '/%p\n' | sort) >"$stage/DEBIAN/conffiles"
  (cd "$stage" && find . \( -path ./DEBIAN -o -path ./etc \) -prune -o -type f -printf '%P\0' |
    sort -z | xargs -0 md5sum) >"$stage/DEBIAN/md5sums"
  chmod 0644 "$stage/DEBIAN/control" "$stage/DEBIAN/conffiles" "$stage/DEBIAN/md5sums"
  deb="$out/${name}_${version}_amd64.deb"
  rm -f "$deb"
  dpkg-deb --root-owner-group -Zxz --build "$stage" "$deb" >/dev/null
  rm -rf "$stage"
  echo "== $deb ($(du -h "$deb" | cut -f1))"
  dpkg-deb --info "$deb" | sed -n '/Package:/,$p'
  echo "conffiles:"
  dpkg-deb --ctrl-tarfile "$deb" | tar -xO ./conffiles | sed 's/^/  /'
}

# --- attune: the desktop app and the attune command
version="$(version_of attune-app)"
stage="$out/stage"
rm -rf "$stage"
mkdir -p "$stage"

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

shlibs="$(shlibdeps attune "$stage/usr/bin/attune-app" "$stage/usr/bin/attune")"
# What the app needs besides what it links: WebKit's own processes (linked already, kept in case
# that changes), the tray's indicator library (loaded at run time) and GNOME's schemas (the
# settings it applies). Each only once.
depends="$shlibs"
for d in libwebkit2gtk-4.1-0 libayatana-appindicator3-1 gsettings-desktop-schemas; do
  grep -qE "(^|, )$d( |,|$)" <<<"$depends" || depends="$depends, $d"
done

build_deb attune "$version" "$stage" packaging/control.in "$depends"

# --- attune-cloud: the server, its units and its configuration
version="$(version_of attune-cloud)"
stage="$out/stage-cloud"
rm -rf "$stage"
mkdir -p "$stage"
install -D -m 0755 "$target/$dir/attune-cloud" "$stage/usr/bin/attune-cloud"
strip --strip-unneeded --remove-section=.comment --remove-section=.note "$stage/usr/bin/attune-cloud"
install -D -m 0644 packaging/cloud.toml "$stage/etc/attune/cloud.toml"
for u in attune-cloud.service attune-cloud-backup.service attune-cloud-backup.timer; do
  install -D -m 0644 "packaging/cloud/$u" "$stage/lib/systemd/system/$u"
done
doc="$stage/usr/share/doc/attune-cloud"
install -D -m 0644 packaging/copyright "$doc/copyright"
sed "s/@VERSION@/$version/" packaging/cloud/changelog | gzip -9n >"$doc/changelog.gz"
for f in operations cloud; do
  gzip -9n <"docs/$f.md" >"$doc/$f.md.gz"
done
chmod 0644 "$doc"/*.gz
mkdir -p "$stage/DEBIAN"
for m in postinst prerm postrm; do
  install -m 0755 "packaging/cloud/$m" "$stage/DEBIAN/$m"
done
# adduser makes the system user (postinst); deb-systemd-helper is Essential (init-system-helpers).
depends="$(shlibdeps attune-cloud "$stage/usr/bin/attune-cloud"), adduser"
build_deb attune-cloud "$version" "$stage" packaging/cloud/control.in "$depends"

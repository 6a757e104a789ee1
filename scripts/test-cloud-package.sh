#!/usr/bin/env bash
# The cloud's Debian package, tested for real (issue 15 item 6; scripts/test.sh runs it right
# after scripts/test-package.sh, which builds both packages): its control data (conffiles,
# Depends, maintainer scripts), its files, lintian (no errors), `apt-get install`, then on the
# installed units `systemd-analyze verify` (clean) and `systemd-analyze security --offline`
# (exposure at most 2.0). There is no systemd running in CI, so the INSTALLED /usr/bin/attune-cloud
# is then run by hand, as the units would run it: with the INSTALLED /etc/attune/cloud.toml,
# copied and pointed at a temporary state dir, a free loopback port and TLS files made here with
# openssl (a site CA and a certificate for 127.0.0.1). The workspace's `attune` (debug build)
# keys in over that TLS, trusting the CA through `cloud.ca_file`; then a backup (the timer's
# command), a forget, the server stopped, the older backup restored, and the forgotten key is
# still refused while the other still keys in; an excerpt of the audit is printed. Last,
# `apt-get remove` keeps the site's changed conffile and `apt-get purge` removes it.
#
# It installs into this machine's /usr, /lib and /etc (as root, or through sudo) and purges on
# exit whatever happened.
#
# Usage: bash scripts/test-cloud-package.sh [--deb target/debian/attune-cloud_<version>_amd64.deb]
#   Without --deb it builds the packages first (scripts/package.sh --profile dev).
set -euo pipefail
cd "$(dirname "$0")/.."
started=$SECONDS

deb=""
while [ $# -gt 0 ]; do
  case "$1" in
    --deb) deb="${2:?--deb needs a file}"; shift 2 ;;
    --deb=*) deb="${1#--deb=}"; shift ;;
    -h|--help) sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "test-cloud-package.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
need=(lintian openssl curl systemd)
missing=()
for p in "${need[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
if dpkg-query -W -f='${Status}' attune-cloud 2>/dev/null | grep -q "install ok installed"; then
  echo "test-cloud-package: a package named attune-cloud is installed already; not touching it" >&2
  exit 1
fi
fail() { echo "FAIL: $*" >&2; exit 1; }

if [ -z "$deb" ]; then
  echo "== package (dev profile)"
  bash scripts/package.sh --profile dev
  deb="$(ls target/debian/attune-cloud_*_amd64.deb)"
fi
[ -f "$deb" ] || fail "no package $deb"
attune="${CARGO_TARGET_DIR:-$PWD/target}/debug/attune"
[ -x "$attune" ] || fail "no $attune: build it first (cargo build -p attune-cli)"

echo "== control data"
conffiles="$(dpkg-deb --ctrl-tarfile "$deb" | tar -xO ./conffiles)"
[ "$conffiles" = /etc/attune/cloud.toml ] || fail "conffiles: $conffiles"
depends="$(dpkg-deb --field "$deb" Depends)"
for d in libc6 adduser; do
  grep -qE "(^|, )$d( |,|$)" <<<"$depends" || fail "Depends lacks $d: $depends"
done
scripts="$(dpkg-deb --ctrl-tarfile "$deb" | tar -t | sed 's|^\./||' | sort | tr '\n' ' ')"
for m in postinst prerm postrm; do
  grep -qw "$m" <<<"$scripts" || fail "no $m: $scripts"
done
dpkg-deb --info "$deb" | sed -n '/Package:/,/Homepage:/p'
echo "conffiles: $conffiles"
echo "files:"
contents="$(dpkg-deb --contents "$deb")"
awk '$1 !~ /^d/ {print "  " $1, $6}' <<<"$contents"
for f in ./usr/bin/attune-cloud ./etc/attune/cloud.toml ./lib/systemd/system/attune-cloud.service \
  ./lib/systemd/system/attune-cloud-backup.service ./lib/systemd/system/attune-cloud-backup.timer \
  ./usr/share/doc/attune-cloud/copyright ./usr/share/doc/attune-cloud/changelog.gz; do
  grep -q " $f\$" <<<"$contents" || fail "the package lacks $f"
done

echo "== lintian"
# Errors fail; warnings and notes are printed for the record.
lintian --fail-on error --display-info "$deb" || fail "lintian reports errors"
echo "lintian: no errors"

work="$(mktemp -d)"
server=""
installed=""
# SIGTERM, as systemctl stop sends; it must stop by itself.
stop_server() {
  if [ -n "$server" ]; then
    kill "$server" 2>/dev/null || true
    wait "$server" 2>/dev/null || true
    server=""
  fi
}
cleanup() {
  stop_server
  if [ -n "$installed" ]; then
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get purge -y -qq attune-cloud >/dev/null 2>&1 || true
    $SUDO rm -rf /var/backups/attune-cloud
  fi
  rm -rf "$work"
}
trap cleanup EXIT

echo "== apt-get install $deb"
case "$deb" in /*) ;; *) deb="./${deb#./}" ;; esac
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "$deb"
installed=1
for f in /usr/bin/attune-cloud /etc/attune/cloud.toml /lib/systemd/system/attune-cloud.service \
  /lib/systemd/system/attune-cloud-backup.service /lib/systemd/system/attune-cloud-backup.timer; do
  [ -e "$f" ] || fail "$f is not installed"
done
getent passwd attune-cloud >/dev/null || fail "postinst made no attune-cloud user"
[ "$(stat -c '%U:%G %a' /etc/attune/cloud.toml)" = "root:attune-cloud 640" ] ||
  fail "/etc/attune/cloud.toml is $(stat -c '%U:%G %a' /etc/attune/cloud.toml)"
for d in /var/lib/attune-cloud /var/backups/attune-cloud; do
  [ "$(stat -c '%U %a' "$d")" = "attune-cloud 700" ] || fail "$d is $(stat -c '%U %a' "$d")"
done
# Enabled as dh_installsystemd would (symlinks only: no systemd runs here).
[ -L /etc/systemd/system/multi-user.target.wants/attune-cloud.service ] || fail "attune-cloud.service not enabled"
[ -L /etc/systemd/system/timers.target.wants/attune-cloud-backup.timer ] || fail "the backup timer is not enabled"
/usr/bin/attune-cloud --version

echo "== the same package again (postinst's upgrade path): the site's own permissions stay"
$SUDO dpkg-statoverride --remove /etc/attune/cloud.toml
$SUDO dpkg-statoverride --update --add root attune-cloud 0600 /etc/attune/cloud.toml
DEBIAN_FRONTEND=noninteractive $SUDO dpkg -i "$deb" >/dev/null
[ "$(stat -c '%U:%G %a' /etc/attune/cloud.toml)" = "root:attune-cloud 600" ] ||
  fail "an upgrade changed /etc/attune/cloud.toml to $(stat -c '%U:%G %a' /etc/attune/cloud.toml)"
dpkg-query -W -f='${Status}\n' attune-cloud | grep -q "install ok installed" || fail "not installed after the upgrade"

echo "== systemd-analyze verify and security (installed units)"
units=(/lib/systemd/system/attune-cloud.service /lib/systemd/system/attune-cloud-backup.service
  /lib/systemd/system/attune-cloud-backup.timer)
verify="$(systemd-analyze verify --man=no "${units[@]}" 2>&1)" || fail "systemd-analyze verify: $verify"
# Only lines about our units count: verify also reads the units they name (network-online.target).
if grep -i attune <<<"$verify"; then fail "systemd-analyze verify complains about the units"; fi
echo "systemd-analyze verify: clean"
for u in attune-cloud.service attune-cloud-backup.service; do
  level="$(systemd-analyze security --offline=true --no-pager "/lib/systemd/system/$u" 2>&1 |
    sed -n 's/^→ Overall exposure level for [^:]*: \([0-9.]*\) .*/\1/p')"
  [ -n "$level" ] || fail "systemd-analyze security gave no exposure level for $u"
  echo "systemd-analyze security $u: exposure $level"
  awk -v l="$level" 'BEGIN { exit !(l <= 2.0) }' || fail "$u: exposure $level is over 2.0"
done

echo "== the installed attune-cloud with the installed configuration"
mkdir -p "$work/state" "$work/backups" "$work/tls" "$work/desk"
chmod 700 "$work/state" "$work/backups"
# The site's CA and the server's certificate for 127.0.0.1, signed by it.
(
  cd "$work/tls"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj "/CN=Test site CA" \
    -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign \
    -keyout ca.key -out ca.pem 2>/dev/null
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=127.0.0.1" \
    -keyout cloud.key -out cloud.csr 2>/dev/null
  printf 'subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' >ext
  openssl x509 -req -in cloud.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 -extfile ext \
    -out cloud.pem 2>/dev/null
)
# The installed file, pointed at the temp dir: the store, the TLS files, the backup folder, and
# any free loopback port (the log says which).
config="$work/cloud.toml"
sed -e "s|^store = .*|store = \"sqlite:$work/state/cloud.db\"|" \
  -e 's|^listen = .*|listen = "127.0.0.1:0"|' \
  -e "s|^cert = .*|cert = \"$work/tls/cloud.pem\"|" \
  -e "s|^key = .*|key = \"$work/tls/cloud.key\"|" \
  -e "s|^dir = .*|dir = \"$work/backups\"|" /etc/attune/cloud.toml >"$config"
diff <(grep -vE '^(store|listen|cert|key|dir) = ' /etc/attune/cloud.toml) \
  <(grep -vE '^(store|listen|cert|key|dir) = ' "$config") >/dev/null || fail "the copy differs beyond its paths"
[ "$(grep -cE '^(store|listen|cert|key|dir) = ' "$config")" = 5 ] || fail "the installed cloud.toml lacks a key the test sets"
cloud() { /usr/bin/attune-cloud --config "$config" "$@"; }

site="$work/site.toml"
url=""
# Starts the installed server on the copied config; waits (polling its log) until it listens.
start_server() {
  local log="$work/serve.log" addr=""
  : >"$log"
  # The binary itself, not the function: $! must be the server's pid.
  /usr/bin/attune-cloud --config "$config" serve >"$log" 2>&1 &
  server=$!
  for _ in $(seq 1 300); do
    addr="$(sed -n 's/.*"message":"attune-cloud listening","addr":"\([0-9.:]*\)","scheme":"https".*/\1/p' "$log")"
    [ -n "$addr" ] && break
    kill -0 "$server" 2>/dev/null || { cat "$log" >&2; fail "attune-cloud serve exited"; }
    sleep 0.1
  done
  [ -n "$addr" ] || { cat "$log" >&2; fail "attune-cloud did not listen within 30 s"; }
  url="https://$addr"
  curl -sS --fail --cacert "$work/tls/ca.pem" "$url/ready" >/dev/null || fail "$url/ready"
  # The site file the credential's snippet gave, with this server's URL and the site's CA.
  sed -e "s|^url = .*|url = \"$url\"|" "$work/snippet.toml" >"$site"
  printf 'ca_file = "%s"\n' "$work/tls/ca.pem" >>"$site"
  echo "serving on $url (pid $server)"
}
# `attune` (the workspace's debug build) on a throw-away desktop with the site file.
attune_cli() {
  env -u ATTUNE_PROFILE -u ATTUNE_CLOUD_URL -u ATTUNE_CLIENT_ID -u ATTUNE_CLIENT_SECRET \
    HOME="$work/desk/home" XDG_CONFIG_HOME="$work/desk/config" XDG_DATA_HOME="$work/desk/data" \
    XDG_STATE_HOME="$work/desk/state" XDG_CACHE_HOME="$work/desk/cache" \
    XDG_RUNTIME_DIR="$work/desk/runtime" GSETTINGS_BACKEND=keyfile NO_COLOR=1 \
    ATTUNE_SITE_CONFIG="$site" "$attune" "$@"
}
# Keys in with $1 and out again; fails unless the preferences came from the cloud.
keys_in() {
  local out
  out="$(attune_cli key-in "$1" --json)" || fail "key-in of key#${1:0:8}… failed: $out"
  /usr/bin/python3 -c 'import json,sys; sys.exit(json.load(sys.stdin)["source"]["kind"] != "cloud")' \
    <<<"$out" || fail "key-in did not come from the cloud: $out"
  attune_cli key-out >/dev/null || fail "key-out failed"
}
# Keys in with $1, which the cloud must refuse as an unknown key (401 at the token endpoint).
refused() {
  local out
  if out="$(attune_cli key-in "$1" --json)"; then fail "key-in of a forgotten key succeeded: $out"; fi
  /usr/bin/python3 -c 'import json,sys; sys.exit(json.load(sys.stdin)["error"] != "key_rejected")' \
    <<<"$out" || fail "key-in of a forgotten key failed otherwise: $out"
  echo "  refused: $(tr -s '\n ' ' ' <<<"$out")"
}
mkdir -p "$work/desk/runtime"
chmod 700 "$work/desk/runtime"

cloud credentials create --site ci-site --url https://127.0.0.1 >"$work/snippet.toml"
grep -q '^client_secret = ' "$work/snippet.toml" || fail "no credential snippet"
cloud keys generate --count 2 --out "$work/keys.csv"
mapfile -t keys < <(grep -oE '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}' "$work/keys.csv")
[ "${#keys[@]}" -eq 2 ] || fail "keys generate wrote ${#keys[@]} keys"
forgotten="${keys[0]}"
kept="${keys[1]}"
start_server

echo "== key-in over TLS (the site's CA from cloud.ca_file)"
keys_in "$forgotten"
keys_in "$kept"
echo "  both keys keyed in and out"

echo "== reload (the unit's ExecReload: SIGHUP re-reads the certificate)"
kill -HUP "$server"
for _ in $(seq 1 100); do
  grep -q '"message":"TLS certificate reloaded"' "$work/serve.log" && break
  sleep 0.1
done
grep -q '"message":"TLS certificate reloaded"' "$work/serve.log" || fail "SIGHUP did not reload the certificate"
kill -0 "$server" || fail "the server died on SIGHUP"
echo "  reloaded"

echo "== backup (the timer's command), while serving"
cloud backup
backup="$(ls "$work"/backups/cloud-*.db)"
[ -f "$backup.sha256" ] || fail "no $backup.sha256"

echo "== forget a key"
echo "$forgotten" | cloud keys forget --reason "asked at the desk" -
refused "$forgotten"

echo "== restore drill: the server stopped, the older backup restored"
stop_server
grep -q '"message":"stopped"' "$work/serve.log" || fail "the server did not stop cleanly on SIGTERM"
cloud restore --from "$backup" | tee "$work/restore.out"
grep -q '1 forgotten keys applied again' "$work/restore.out" || fail "restore did not apply the forget list again"
start_server
refused "$forgotten"
keys_in "$kept"
echo "  the forgotten key stays forgotten; the other keys in"

echo "== audit (excerpt)"
cloud audit >"$work/audit"
sed 's/^/  /' "$work/audit" | tail -n 6
for a in credentials-create backup forget restore; do
  grep -q "\"action\":\"$a\"" "$work/audit" || fail "the audit has no $a"
done
grep -qi "${forgotten}" "$work/audit" && fail "the audit holds a key in clear"
stop_server

echo "== apt-get remove keeps the site's configuration; purge removes it"
echo '# changed by the site' | $SUDO tee -a /etc/attune/cloud.toml >/dev/null
DEBIAN_FRONTEND=noninteractive $SUDO apt-get remove -y -qq attune-cloud >/dev/null
[ ! -e /usr/bin/attune-cloud ] || fail "remove left /usr/bin/attune-cloud"
[ ! -e /lib/systemd/system/attune-cloud.service ] || fail "remove left the unit"
grep -q 'changed by the site' /etc/attune/cloud.toml || fail "remove did not keep the changed cloud.toml"
dpkg-query -W -f='${Status}\n' attune-cloud | grep -q "config-files" || fail "not in config-files state after remove"
DEBIAN_FRONTEND=noninteractive $SUDO apt-get purge -y -qq attune-cloud >/dev/null 2>&1
installed=""
[ ! -e /etc/attune/cloud.toml ] || fail "purge left /etc/attune/cloud.toml"
[ ! -e /var/lib/attune-cloud ] || fail "purge left /var/lib/attune-cloud"
[ ! -e /etc/systemd/system/multi-user.target.wants/attune-cloud.service ] || fail "purge left the unit enabled"
! dpkg-statoverride --list /etc/attune/cloud.toml >/dev/null || fail "purge left the statoverride"
! dpkg-query -W attune-cloud >/dev/null 2>&1 || dpkg-query -W -f='${Status}\n' attune-cloud | grep -q "not-installed" ||
  fail "the package is still known after purge"
$SUDO rm -rf /var/backups/attune-cloud
echo "test-cloud-package: ok ($((SECONDS - started)) s)"

#!/usr/bin/env bash
# GPII's own cloud (cloud-based flow manager + preferences server from npm, over an in-memory
# CouchDB stand-in) on loopback, for the load generator's --gpii-url (docs/cloud.md, Benchmark).
# The same setup as tests/cloud/interop.rs, plus a credential that may create keys, so that
# `loadgen --mode prepare` can give GPII the same keys as attune-cloud.
#
#   bash crates/attune-cloud/bench/gpii-peer.sh DIR [FLOW_MANAGER_PORT]
#
# Installs into DIR (kept between runs), starts the three Node processes, loads GPII's test data,
# prints their pids and waits; ctrl-c stops them. Needs node, npm and the npm registry.
set -euo pipefail
dir=${1:?usage: gpii-peer.sh DIR [PORT]}
fm=${2:-8091}
couch=$((fm + 1))
ps=$((fm + 2))
here=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$dir"
cd "$dir"
g=node_modules/gpii-universal
if [ ! -d "$g/build/dbData/snapset" ]; then
    echo '{"name":"attune-bench","private":true}' > package.json
    # The versions the interop test pins (attune-testkit's gpii.rs).
    npm install --omit=dev --ignore-scripts --no-audit --no-fund \
        gpii-universal@0.3.0-dev.20200604T131823Z.d6fed9a express@4 express-pouchdb pouchdb-core \
        pouchdb-adapter-memory pouchdb-adapter-http pouchdb-mapreduce pouchdb-replication
    (cd "$g" && node scripts/convertPrefs.js testData/preferences/ build/dbData/snapset/ snapset \
        && node gpii/node_modules/solutionsRegistry/src/js/generate-schemas.js)
fi
cp "$here/tests/fixtures/interop/couch.js" couch.js
pids=()
trap 'kill "${pids[@]}" 2>/dev/null' EXIT
node couch.js "$couch" >couch.log 2>&1 & pids+=($!)
wait_for() { for _ in $(seq 300); do curl -sf "$1" >/dev/null && return; sleep 0.2; done; echo "$1 never answered" >&2; exit 1; }
wait_for "http://127.0.0.1:$couch/"
curl -sf -X PUT "http://127.0.0.1:$couch/gpii" >/dev/null
for f in testData/dbData/clientCredentials.json testData/dbData/gpiiAppInstallationClients.json \
    testData/dbData/views.json build/dbData/snapset/gpiiKeys.json build/dbData/snapset/prefsSafes.json; do
    printf '{"docs":%s}' "$(cat "$g/$f")" |
        curl -sf -H 'content-type: application/json' -d @- "http://127.0.0.1:$couch/gpii/_bulk_docs" >/dev/null
done
# A site credential that may create keys (GPII's pilot-computer may not): loadgen's `prepare`.
curl -sf -H 'content-type: application/json' "http://127.0.0.1:$couch/gpii/_bulk_docs" -d '{"docs":[
 {"_id":"gpiiAppInstallationClient-loadgen","type":"gpiiAppInstallationClient","schemaVersion":"0.2",
  "name":"loadgen","computerType":"public","timestampCreated":"2020-01-01T00:00:00.000Z","timestampUpdated":null},
 {"_id":"clientCredential-loadgen","type":"clientCredential","schemaVersion":"0.2",
  "clientId":"gpiiAppInstallationClient-loadgen","oauth2ClientId":"loadgen","oauth2ClientSecret":"loadgen-secret",
  "allowedIPBlocks":null,"allowedPrefsToWrite":null,"isCreateGpiiKeyAllowed":true,"isCreatePrefsSafeAllowed":true,
  "revoked":false,"revokedReason":null,"timestampCreated":"2020-01-01T00:00:00.000Z","timestampRevoked":null}]}' >/dev/null
common=(GPII_DATASOURCE_HOSTNAME=http://127.0.0.1 GPII_DATASOURCE_PORT=$couch)
(cd "$g" && exec env "${common[@]}" NODE_ENV=gpii.config.preferencesServer.standalone.production \
    GPII_PREFERENCESSERVER_LISTEN_PORT=$ps node gpii.js >"$dir/ps.log" 2>&1) & pids+=($!)
(cd "$g" && exec env "${common[@]}" NODE_ENV=gpii.config.cloudBased.flowManager.production \
    GPII_FLOWMANAGER_LISTEN_PORT=$fm GPII_FLOWMANAGER_TO_PREFERENCESSERVER_URL=http://127.0.0.1:$ps \
    node gpii.js >"$dir/fm.log" 2>&1) & pids+=($!)
wait_for "http://127.0.0.1:$ps/health"
wait_for "http://127.0.0.1:$fm/health"
echo "GPII's cloud at http://127.0.0.1:$fm (couch $couch, preferences server $ps); pids ${pids[*]}"
wait

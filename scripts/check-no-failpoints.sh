#!/usr/bin/env bash
# Shipped binaries must not hold the test-only failpoints (attune-settings' `test-support`
# feature: ATTUNE_TEST_CRASH_AT, _TRACE_STEPS, _FAIL_AT, _PAUSE_AT, _MUTATE — the last one turns
# fsync off).
# Without the feature the failpoints compile to nothing, so no ATTUNE_TEST_ name is left in the
# binary; one that has any was built with the feature. Usage: check-no-failpoints.sh BINARY...
# (scripts/test-app.sh runs it on the release app it builds).
set -euo pipefail

if [ "$#" -eq 0 ]; then
  echo "usage: $0 BINARY..." >&2
  exit 2
fi
status=0
for bin in "$@"; do
  if [ ! -f "$bin" ]; then
    echo "check-no-failpoints: $bin: no such file" >&2
    status=1
    continue
  fi
  # grep -a over the raw bytes (strings(1) is in binutils, which a runtime image may lack).
  n=$(LC_ALL=C grep -a -o -E 'ATTUNE_TEST_(CRASH_AT|TRACE_STEPS|FAIL_AT|PAUSE_AT|PAUSE_DIR|MUTATE)?' "$bin" |
    sort -u | tr '\n' ' ' || true)
  if [ -n "$n" ]; then
    echo "check-no-failpoints: $bin holds test-only failpoints: $n(built with test-support?)" >&2
    status=1
  else
    echo "check-no-failpoints: $bin: no test-only failpoints"
  fi
done
exit "$status"

#!/usr/bin/env bash
# The README's run command: builds Attune and shows it working on embedded defaults, with no
# network: keys in a bundled snapset on this desktop, shows the status, and puts the desktop back.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup-deps.sh
cargo build --release --locked -p attune-cli
attune=target/release/attune

echo "== snapsets bundled with Attune"
"$attune" --profile testing snapsets
echo
echo "== key in snapset_1a (larger text and cursor)"
"$attune" --profile testing key-in snapset_1a
echo
echo "== status"
"$attune" --profile testing status
echo
echo "== key out: the desktop is put back exactly as it was"
"$attune" --profile testing key-out

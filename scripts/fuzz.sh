#!/usr/bin/env bash
# Fuzzes every parser that reads outside input (docs/fuzzing.md): builds the targets of fuzz/
# with cargo-fuzz (libFuzzer, no sanitizer, on the stable toolchain) and runs each for a while
# from its committed corpus. Any crash, panic, timeout or out-of-memory fails the run; the
# failing input is kept under fuzz/artifacts/<target>/ and printed (hex) for the report.
#
#   scripts/fuzz.sh [--seconds N] [--rss-mb M] [--dev] [target…]  (default: 20 s each, all targets)
#
# --dev builds without optimisation: a cold build takes a quarter of the CPU time of the release
# build (about 4 min on two cores instead of 9 to 10), but runs some 20 times fewer inputs a
# second. scripts/test.sh runs `--dev --seconds 10` in CI, to stay within about six minutes.
#
# New inputs found in a run go to a scratch corpus (fuzz/target/corpus-run/<target>), never into
# the committed one: minimise them into fuzz/corpus/ by hand (docs/fuzzing.md) when worth keeping.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=20
rss_mb=2048
dev=0
targets=()
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) seconds="$2"; shift 2 ;;
    --rss-mb) rss_mb="$2"; shift 2 ;;
    --dev) dev=1; shift ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
    -*) echo "fuzz.sh: unknown option $1" >&2; exit 2 ;;
    *) targets+=("$1"); shift ;;
  esac
done

if ! command -v cargo-fuzz >/dev/null 2>&1; then
  echo "fuzz: installing cargo-fuzz from crates.io"
  cargo install cargo-fuzz --locked
fi

# The one set of build flags, used for the build and for every run (other flags would rebuild):
# no sanitizer (`-s none`: sanitizers need nightly; Attune has no unsafe code for them to check),
# so the stable toolchain builds it as is, without RUSTC_BOOTSTRAP; release with debug assertions
# and overflow checks (cargo-fuzz's default); 16 codegen units (cargo-fuzz's default of 1 builds
# slower).
flags=(-s none --codegen-units 16)
if [ "$dev" = 1 ]; then
  flags=(-s none --dev) # the dev profile's own codegen units, as measured
fi

cd fuzz
if [ ${#targets[@]} -eq 0 ]; then
  mapfile -t targets < <(cargo fuzz list)
fi

# The fuzz workspace is outside the main one, so the main `cargo fmt --all` does not see it.
cargo fmt -- --check

start=$(date +%s)
echo "== fuzz: build (${#targets[@]} targets)"
cargo fuzz build "${flags[@]}"
echo "-- fuzz: built in $(( $(date +%s) - start )) s"

# The targets' throw-away files (a journal, a config file, a whole desktop for local_api) go
# under one temp dir, on tmpfs when there is one (the journal is synced), removed afterwards.
scratch_tmp=$(mktemp -d "$( [ -d /dev/shm ] && echo /dev/shm || echo "${TMPDIR:-/tmp}")/attune-fuzz.XXXXXX")
trap 'rm -rf "$scratch_tmp"' EXIT
export TMPDIR="$scratch_tmp"

failed=()
for t in "${targets[@]}"; do
  corpus="corpus/$t"
  scratch="target/corpus-run/$t"
  log="target/fuzz-$t.log"
  mkdir -p "$corpus" "$scratch" "artifacts/$t"
  before=$(ls "artifacts/$t")
  echo "== fuzz: $t for ${seconds} s"
  # -timeout: one input taking 10 s is a hang; -rss_limit_mb: a parser that balloons is a bug.
  rc=0
  cargo fuzz run "${flags[@]}" "$t" "$scratch" "$corpus" -- \
    -max_total_time="$seconds" -rss_limit_mb="$rss_mb" -timeout=10 -print_final_stats=1 \
    >"$log" 2>&1 || rc=$?
  grep -E '^(stat::number_of_executed_units|stat::new_units_added|stat::peak_rss_mb|#[0-9]+ +DONE)' "$log" || true
  new=$(comm -13 <(echo "$before") <(ls "artifacts/$t"))
  if [ "$rc" -ne 0 ] || [ -n "$new" ]; then
    failed+=("$t")
    echo "!! fuzz: $t failed (exit $rc); the end of its log (fuzz/$log):"
    tail -n 60 "$log"
    for a in $new; do
      echo "!! fuzz: $t: input fuzz/artifacts/$t/$a ($(stat -c %s "artifacts/$t/$a") bytes):"
      od -A d -t x1z -v "artifacts/$t/$a" | head -n 40
    done
  fi
done

echo "-- fuzz: done in $(( $(date +%s) - start )) s; fuzz/target $(du -sh target 2>/dev/null | cut -f1)"
# CI builds from cold each time and has the app's stages still to run: give the disk back (the
# build is about 2 GB; the failing inputs stay in fuzz/artifacts/).
if [ "${CI:-}" = "true" ]; then
  rm -rf target
fi
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: FAILED: ${failed[*]} (inputs under fuzz/artifacts/; see docs/fuzzing.md)" >&2
  exit 1
fi

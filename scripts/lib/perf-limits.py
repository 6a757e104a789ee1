"""Holds the instruction counts of a gungraun run to perf/limits.toml (scripts/perf-gates.sh).

    python3 scripts/lib/perf-limits.py LIMITS SUMMARY_DIR... [--update]

Reads every `summary.json` under each SUMMARY_DIR (gungraun's `--save-summary=json`, one dir per
run), names each gate `group/function/id`, and compares its total instruction count (all
threads, Ir; the median of the runs) with its baseline plus the file's margin. Prints one row per
gate; a gate over its limit, a gate measured without a baseline, and a baseline no gate measured
each fail (exit 1). With `--update`, writes the counts measured as the new baselines instead
(and the compiler and valgrind versions they were measured with), and exits 0.
"""

import json
import pathlib
import re
import statistics
import subprocess
import sys
import tomllib


def version(cmd):
    """The version a tool prints, or '?' when it cannot be run."""
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return "?"
    m = re.search(r"\d+\.\d+\.\d+", out)
    return m.group(0) if m else out.strip()


def measured(summary_dir):
    """Gate name -> total Ir of one run's summaries."""
    counts = {}
    for path in sorted(pathlib.Path(summary_dir).rglob("summary.json")):
        s = json.loads(path.read_text())
        name = f"{s['group']}/{s['function_name']}/{s['id']}" if s.get("id") else \
            f"{s['group']}/{s['function_name']}"
        callgrind = [p for p in s["profiles"] if p["tool"].lower() == "callgrind"]
        if not callgrind:
            sys.exit(f"perf-gates: {path} has no callgrind profile")
        metrics = callgrind[0]["data"]["total"]["metrics"]
        metrics = metrics.get("Callgrind", metrics)
        counts[name] = int(metrics["Ir"]["values"]["new"])
    return counts


def update(limits_path, text, counts, rustc, valgrind):
    """The file with its [baseline] table replaced by `counts` and its versions by these."""
    head = text.split("\n[baseline]\n", 1)[0]
    head = re.sub(r'(?m)^rustc = ".*"$', f'rustc = "{rustc}"', head)
    head = re.sub(r'(?m)^valgrind = ".*"$', f'valgrind = "{valgrind}"', head)
    rows = "".join(f'"{name}" = {n:_}\n' for name, n in sorted(counts.items()))
    limits_path.write_text(f"{head}\n[baseline]\n{rows}")


def main():
    args = [a for a in sys.argv[1:] if a != "--update"]
    if len(args) < 2:
        sys.exit(__doc__)
    limits_path, summary_dirs = pathlib.Path(args[0]), args[1:]
    text = limits_path.read_text()
    limits = tomllib.loads(text)
    margin = float(limits["margin_percent"])
    baselines = limits.get("baseline", {})
    runs = [measured(d) for d in summary_dirs]
    names = set().union(*runs)
    if not names:
        sys.exit(f"perf-gates: no gate measured (no summary.json under {' '.join(summary_dirs)})")
    for name in names:
        if any(name not in r for r in runs):
            sys.exit(f"perf-gates: {name} was measured in some runs only")
    counts = {name: int(statistics.median(r[name] for r in runs)) for name in names}
    rustc, valgrind = version(["rustc", "--version"]), version(["valgrind", "--version"])

    if "--update" in sys.argv[1:]:
        update(limits_path, text, counts, rustc, valgrind)
        for name, n in sorted(counts.items()):
            old = baselines.get(name)
            was = f"was {old:,}" if old else "new"
            print(f"perf-gates: baseline of {name}: {n:,} ({was})")
        print(f"perf-gates: wrote {limits_path}; commit it on its own, saying why the counts moved")
        return 0

    failures = []
    print(f"\n{'gate':<48} {'measured':>11} {'baseline':>11} {'limit':>11} {'change':>8}")
    for name in sorted(set(counts) | set(baselines)):
        n, base = counts.get(name), baselines.get(name)
        if n is None:
            failures.append(f"{name}: has a baseline in {limits_path} but was not measured"
                            " (renamed or removed? run with --update and commit why)")
            continue
        if base is None:
            print(f"{name:<48} {n:>11,} {'-':>11} {'-':>11} {'':>8}  NO BASELINE")
            failures.append(f"{name}: measured {n:,} instructions but has no baseline in"
                            f" {limits_path} (a new gate: run with --update and commit it)")
            continue
        limit = int(base * (1 + margin / 100))
        change = (n - base) / base * 100
        verdict = "ok" if n <= limit else "OVER"
        print(f"{name:<48} {n:>11,} {base:>11,} {limit:>11,} {change:>+7.1f}%  {verdict}")
        if n > limit:
            failures.append(f"{name}: {n:,} instructions, over its limit of {limit:,}"
                            f" (baseline {base:,} + {margin:g} %, {limits_path})")
    if failures:
        print(file=sys.stderr)
        for f in failures:
            print(f"perf-gates: FAIL {f}", file=sys.stderr)
        if (rustc, valgrind) != (limits.get("rustc"), limits.get("valgrind")):
            print(f"perf-gates: note: the baselines were measured with rustc {limits.get('rustc')}"
                  f" and valgrind {limits.get('valgrind')}; this is rustc {rustc} and valgrind"
                  f" {valgrind}, whose code may differ", file=sys.stderr)
        return 1
    print(f"perf-gates: {len(counts)} gates within {margin:g} % of their baselines")
    return 0


if __name__ == "__main__":
    sys.exit(main())

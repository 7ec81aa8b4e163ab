"""The fault scenarios' figures: tests/faults run with the issue's bounds, one table.

    python bench/faults.py              # every scenario, both loops, soak included (~5 min)
    python bench/faults.py --no-soak    # without the default-settings vanished client
    python bench/faults.py -k stalled   # extra arguments go to pytest
    python bench/faults.py --runs 3     # three runs; each figure is the median
    python bench/faults.py --loops asyncio,trio,uvloop

Runs ``pytest tests/faults`` with ``GORUMS_FAULTS_MIN_RATE=0.9`` (the issue's
">= 90 % of the normal rate", which the suite relaxes for noisy CI machines)
and ``GORUMS_FAULTS_REPORT`` set, then prints per scenario and loop: the
longest overshoot of any call past its 1 s timeout, the majority calls'
success rate, and their rate during the fault relative to

* the fault-free phases right before and right after it (3 s each, their
  mean; the fault phase lasts at least 4 s): the bound's baseline, because
  a shared machine's rate drifts by +-15 % within seconds;
* the first phase of the run (the suite's baseline, kept for comparison);
* a phase of calls to the healthy nodes alone (a majority of the two must
  wait for the slower of them, instead of the faster two of three: that is
  the quorum's arithmetic, not the fault's cost);

and the detection / reconnection times. Network-namespace scenarios need
root. Rates on a shared machine are noisy: with ``--runs N`` every figure
is the median of N runs, and the rate columns also show the lowest run and
how many runs fell below the bound.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _fmt(value: object, unit: str = "", pct: bool = False) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.0%}" if pct else f"{value:.2f}{unit}"
    return str(value)


def _ratio(row: dict[str, object], key: str, min_rate: float) -> str:
    """A median ratio, with the lowest run and how many runs fell below ``min_rate``."""
    text = _fmt(row.get(key), pct=True)
    values = row.get(f"{key}_runs")
    notes = []
    if isinstance(values, list) and len(values) > 1:
        notes.append(f"min {_fmt(min(values), pct=True)}")
        low = sum(v < min_rate for v in values)
        if low:
            notes.append(f"{low} of {len(values)} < {min_rate:.0%}")
    return text + (f" ({', '.join(notes)})" if notes else "")


def table(rows: list[dict[str, object]], min_rate: float = 0.9) -> str:
    head = ("| scenario | loop | max overshoot | success | rate vs adjacent normal (bound) | "
            "rate vs first phase | rate vs healthy nodes only | detection | reconnect | "
            "other |")
    lines = [head, "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        other = ", ".join(f"{k} {_fmt(r[k], ' s')}" for k in
                          ("first_call", "rpc", "median_latency") if k in r)
        failed = f" ({r['failed_runs']} of {r['runs']} runs failed)" if r.get("failed_runs") else ""
        lines.append(
            f"| {r['scenario']} | {r['backend']} | {_fmt(r.get('overshoot'), ' s')} | "
            f"{_fmt(r.get('success'), pct=True)} | "
            f"{_ratio(r, 'bracket_ratio', min_rate)}{failed} | "
            f"{_ratio(r, 'rate_ratio', min_rate)} | "
            f"{_fmt(r.get('ref_ratio'), pct=True)} | "
            f"{_fmt(r.get('detection'), ' s')} | {_fmt(r.get('reconnect'), ' s')} | "
            f"{other or '-'} |")
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--no-soak", action="store_true", help="skip the ~1 min soak scenarios")
    ap.add_argument("--runs", type=int, default=1, help="runs; figures are medians")
    ap.add_argument("--loops", default="asyncio,trio",
                    help="comma-separated loops (asyncio, trio, uvloop)")
    ap.add_argument("--min-rate", type=float, default=0.9,
                    help="rate bound while a node is faulty (default 0.9, the issue's)")
    args, extra = ap.parse_known_args()
    status = 0
    runs: list[list[dict[str, object]]] = []
    for _ in range(max(1, args.runs)):
        with tempfile.NamedTemporaryFile("r", suffix=".jsonl") as report:
            env = {**os.environ, "GORUMS_FAULTS_REPORT": report.name,
                   "GORUMS_FAULTS_MIN_RATE": str(args.min_rate),
                   "GORUMS_FAULTS_LOOPS": args.loops}
            marks = "not soak" if args.no_soak else "soak or not soak"
            done = subprocess.run([sys.executable, "-m", "pytest", "-q", "tests/faults",
                                   "-m", marks, *extra], cwd=ROOT, env=env)
            status = status or done.returncode
            runs.append([json.loads(line) for line in report.read().splitlines()
                         if line.strip()])
    rows = _medians(runs)
    rows.sort(key=lambda r: (r["scenario"], r["backend"]))
    print()
    print(table(rows, args.min_rate))
    print(f"\n{len(runs)} run(s); pytest exit status {status}. A run that broke a "
          "bound counts in the medians and is named in the rate column; a scenario "
          "that failed before its figures were taken is missing from its row.")
    for row in rows:
        for reason in row.get("failures", []):  # type: ignore[attr-defined]
            print(f"  {row['scenario']} [{row['backend']}]: {reason}")
    return status


def _medians(runs: list[list[dict[str, object]]]) -> list[dict[str, object]]:
    """One row per scenario and loop: the median of each number over the runs
    (the largest overshoot)."""
    groups: dict[tuple[object, object], list[dict[str, object]]] = {}
    for run in runs:
        for row in run:
            groups.setdefault((row["scenario"], row["backend"]), []).append(row)
    rows = []
    for (scenario, backend), found in groups.items():
        row: dict[str, object] = {"scenario": scenario, "backend": backend,
                                  "runs": len(found)}
        for key in dict.fromkeys(k for r in found for k in r if k != "failed"):
            values = [r[key] for r in found if isinstance(r.get(key), (int, float))]
            if values and key not in row:
                pick = max if key == "overshoot" else statistics.median  # the worst overshoot
                row[key] = float(pick(values))  # type: ignore[type-var, operator]
            elif key not in row:
                row[key] = next(r[key] for r in found if key in r)
        failures = [str(r["failed"]) for r in found if r.get("failed")]
        row["failed_runs"] = len(failures)
        row["failures"] = failures
        for key in ("bracket_ratio", "rate_ratio"):
            row[f"{key}_runs"] = [r[key] for r in found if isinstance(r.get(key), float)]
        rows.append(row)
    return rows


if __name__ == "__main__":
    sys.exit(main())

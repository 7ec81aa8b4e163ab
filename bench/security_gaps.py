"""The HTTP/2 attack figures: tests/security/test_h2_floods.py with the issue's bounds, one table.

    python bench/security_gaps.py                 # every attack, asyncio, trio and uvloop
    python bench/security_gaps.py -k window       # extra arguments go to pytest
    python bench/security_gaps.py --gap 0.5       # the probe-gap bound asserted (default 0.5 s)

Runs the attack tests with ``GORUMS_SECURITY_GAP`` set to the issue's 0.5 s
(the suite allows 0.75 s for shared CI machines) and prints, per attack and
loop, the probe client's longest gap between replies, the server's RSS
growth, the GOAWAY code the attacker got, and whether the test passed. Run
it on a quiet machine: the gaps measure how long the attacked server keeps
the other client waiting, and any other load on the cores adds to them.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
_TEST = re.compile(r"test_h2_floods\.py::(\w+\[[\w-]+\])")
_OUTCOME = re.compile(r"^(asyncio|trio|uvloop): Outcome\(gap=([\d.]+)s, replies=(\d+), "
                      r".*?rss=\+([\d.]+)MiB, goaway=(\w+)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gap", type=float, default=0.5, help="probe-gap bound (s)")
    args, extra = parser.parse_known_args()
    env = dict(os.environ, GORUMS_SECURITY_GAP=str(args.gap))
    cmd = [sys.executable, "-m", "pytest", "-v", "-s", "-p", "no:cacheprovider",
           str(ROOT / "tests/security/test_h2_floods.py"), *extra]
    out = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    rows: list[tuple[str, str, str, str, str, str]] = []
    test = ""
    for line in out.stdout.splitlines():
        found = _TEST.search(line)
        if found:
            test = found.group(1)
        outcome = _OUTCOME.search(line)
        if outcome:
            loop, gap, replies, rss, goaway = outcome.groups()
            rows.append((test, loop, gap, replies, rss, goaway))
        if rows and ("PASSED" in line or "FAILED" in line) and len(rows[-1]) == 6:
            rows[-1] = (*rows[-1][:5], rows[-1][5] + (" ok" if "PASSED" in line else " FAIL"))
    print(f"{'attack':66} {'loop':8} {'gap s':>6} {'replies':>7} {'RSS MiB':>8}  goaway")
    for test, loop, gap, replies, rss, goaway in rows:
        print(f"{test:66} {loop:8} {gap:>6} {replies:>7} {rss:>8}  {goaway}")
    tail = out.stdout.strip().splitlines()[-1:] or [out.stderr.strip()]
    print(tail[0])
    return out.returncode


if __name__ == "__main__":
    sys.exit(main())

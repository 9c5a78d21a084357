"""Lists rag_core's modules whose line coverage is under the floor, and the totals.

`make test` (and `make harness COVERAGE=1`) run it with ``--combine``: the data files that the
processes under coverage left in reports/coverage/ are first added to the combined data there
(reports/coverage/.coverage). A process killed while it wrote its file (a test's SIGKILL after
a server's SIGTERM began the save) leaves one that is not coverage data: coverage warns, naming
it, and it is left out; the gate counts the lines the other processes measured. (`coverage
combine` itself stops with "No usable data files" when such a file is the only one left, as it
was once after pytest-cov had combined the rest.) The gate itself is
`coverage report --include='rag_core/*' --fail-under=FLOOR`, run next.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path


def combine() -> None:
    """The parallel data files added to the combined data (``coverage combine --append``),
    an unusable file warned about and left out rather than failing the step."""
    import coverage

    cov = coverage.Coverage()
    cov.load()
    cov.combine(strict=False)
    cov.save()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--floor", type=float, default=80.0)
    parser.add_argument("--out", default="reports/coverage/coverage.json")
    parser.add_argument("--combine", action="store_true",
                        help="add the processes' data files to the combined data first")
    args = parser.parse_args()
    if args.combine:
        combine()
    subprocess.run(
        [sys.executable, "-m", "coverage", "json", "--quiet", "-o", args.out], check=True
    )
    files = json.loads(Path(args.out).read_text())["files"]
    lines: dict[str, tuple[int, int]] = {}
    branches = [0, 0]
    for name, data in files.items():
        s = data["summary"]
        lines[name] = (s["covered_lines"], s["num_statements"])
        branches[0] += s.get("covered_branches", 0)
        branches[1] += s.get("num_branches", 0)
    for package in ("rag_core", "evals"):
        mine = {n: v for n, v in lines.items() if n.startswith(package + "/")}
        hit = sum(v[0] for v in mine.values())
        total = sum(v[1] for v in mine.values()) or 1
        print(f"coverage: {package} lines {100 * hit / total:.1f} % ({hit} of {total})")
    print(f"coverage: branches (both) {100 * branches[0] / max(branches[1], 1):.1f} %")
    under = sorted(
        (100 * hit / total, name, total - hit)
        for name, (hit, total) in lines.items()
        if name.startswith("rag_core/") and total and 100 * hit / total < args.floor
    )
    print(f"coverage: {len(under)} rag_core modules under {args.floor:g} % of lines:")
    for pct, name, missed in under:
        print(f"  {pct:5.1f} %  {missed:4d} lines missed  {name}")
    print("coverage: HTML report reports/coverage/index.html")
    return 0


if __name__ == "__main__":
    sys.exit(main())

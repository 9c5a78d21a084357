"""Peak memory of a command's whole process tree, by sampling.

    python benchmarks/bench_memory.py [--interval 0.5] [--trace trace.csv] -- COMMAND...

Runs COMMAND and, every ``--interval`` seconds, sums the resident set (``VmRSS`` of
``/proc/<pid>/status``) over the command and every process below it. A page shared by two
processes counts once per process, so the sum is an upper bound of what the tree holds, the
figure a runner's memory limit is compared with when each worker is charged on its own. Prints
one JSON line: the command, its exit code, wall seconds, the peak sum and when it happened, and
the largest single process at that moment. ``--trace`` writes every sample (time, sum, the
three largest processes) for finding the step that made it jump.

Figures of the README's cost table:

    python benchmarks/bench_memory.py -- make test
    python benchmarks/bench_memory.py -- python -m evals run --dataset DIR
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path


def _children_map() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        # the command name may hold spaces and parentheses: the fields follow the last ')'
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    return children


def tree(pid: int) -> list[int]:
    """``pid`` and every process below it."""
    children = _children_map()
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, ()))
    return out


def rss_kb(pid: int) -> tuple[int, str]:
    """Resident kB and the command name of ``pid`` (0 when it has gone)."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0, ""
    name, rss = "", 0
    for line in text.splitlines():
        if line.startswith("Name:"):
            name = line[len("Name:"):].strip()
        elif line.startswith("VmRSS:"):
            rss = int(line.split()[1])
    return rss, name


def sample(pid: int) -> tuple[int, list[tuple[int, int, str]]]:
    """The tree's summed RSS in kB, and (kB, pid, name) of each process, largest first."""
    rows = []
    for p in tree(pid):
        kb, name = rss_kb(p)
        if kb:
            rows.append((kb, p, name))
    rows.sort(reverse=True)
    return sum(r[0] for r in rows), rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--interval", type=float, default=0.5)
    parser.add_argument("--trace", type=Path, help="write every sample to this CSV")
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("a command to run is required (after --)")
    start = time.monotonic()
    proc = subprocess.Popen(command)
    peak, peak_at, peak_top = 0, 0.0, []
    trace = args.trace.open("w") if args.trace else None
    if trace:
        trace.write("seconds,tree_mb,top\n")
    while proc.poll() is None:
        total, rows = sample(proc.pid)
        now = time.monotonic() - start
        if total > peak:
            peak, peak_at, peak_top = total, now, rows[:3]
        if trace:
            top = " ".join(f"{n}:{p}:{kb // 1024}" for kb, p, n in rows[:3])
            trace.write(f"{now:.1f},{total // 1024},{top}\n")
            trace.flush()
        time.sleep(args.interval)
    wall = time.monotonic() - start
    if trace:
        trace.close()
    print(json.dumps({
        "command": " ".join(command), "exit_code": proc.returncode, "wall_s": round(wall, 1),
        "peak_tree_mb": round(peak / 1024), "peak_at_s": round(peak_at, 1),
        "largest_at_peak": [{"pid": p, "name": n, "mb": round(kb / 1024)}
                            for kb, p, n in peak_top],
    }), flush=True)
    return int(proc.returncode or 0)


if __name__ == "__main__":
    sys.exit(main())

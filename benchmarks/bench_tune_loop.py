"""The tuning loop as a user runs it: ``python -m evals run --profile tune --only quality
--param settings='{"top_k": K}'``, each command a new process, with the warm kernel
(``evals/runs/warm_kernel.py``) and without it (``EVALS_WARM_KERNEL=0``: a new kernel per run).

    python benchmarks/bench_tune_loop.py [--repeats 3]

In the checkout's harness state folder (``$RAG_STATE_DIR`` or ``.rag_state``: its notes, vectors
and servers are what a tuning user has after the first run), reports into a temporary folder.
One first run (top_k 8; it starts the warm kernel unless one with the same fingerprint is up),
then ``--repeats`` rounds of: top_k 8 again in the warm kernel (the second of two identical
commands), top_k 6 right after (what a tuning user does next), and top_k 8 in a new kernel.
Wall seconds per command with the load average beside it; medians with [min-max] and the ratio
new kernel / warm kernel of the same run; the warm kernel's peak RSS; and whether the figures
of the warm and the new kernel's top_k 8 runs are equal (``summary.json`` metrics other than
latencies). The servers and the warm kernel stay up (``rag-core services down`` stops them).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from evals import knobs  # noqa: E402
from evals.runs import warm_kernel  # noqa: E402


def load() -> str:
    return Path("/proc/loadavg").read_text().split()[0] if Path("/proc/loadavg").exists() else "?"


def run(top_k: int, reports: Path, warm: bool) -> tuple[float, str, Path]:
    """Wall seconds, the load average before, and the run's summary.json."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop(warm_kernel.SWITCH, None)
    if not warm:
        env[warm_kernel.SWITCH] = "0"
    command = [sys.executable, "-m", "evals", "run", "--profile", "tune", "--only", "quality",
               "--reports-dir", str(reports), "--param", f'settings={{"top_k": {top_k}}}']
    before = load()
    start = time.perf_counter()
    done = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True,
                          check=False)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed: {done.stderr[-3000:]}")
    runs = sorted((reports / "tune" / "runs").iterdir())
    return wall, before, runs[-1] / "summary.json"


def figures(summary: Path) -> dict[str, object]:
    metrics = json.loads(summary.read_text())["metrics"]
    return {k: v for k, v in metrics.items() if "latency" not in k}


def spread(values: list[float]) -> str:
    return f"{statistics.median(values):.1f} [{min(values):.1f}-{max(values):.1f}]"


def peak_rss_mb() -> str:
    info = json.loads((warm_kernel.folder(knobs.harness_state_dir()) / "kernel.json")
                      .read_text())
    for line in Path(f"/proc/{info['pid']}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return f"{int(line.split()[1]) / 1024:.0f} MB (pid {info['pid']})"
    return "?"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    reports = Path(tempfile.mkdtemp(prefix="bench_tune"))
    wall, before, _ = run(8, reports, warm=True)
    print(f"first run (top_k 8): {wall:.1f} s (load {before})", flush=True)
    rows: dict[str, list[float]] = {"warm top_k 8": [], "warm top_k 6": [], "new top_k 8": []}
    unequal: list[str] = []
    for i in range(args.repeats):
        for name, top_k, warm in (("warm top_k 8", 8, True), ("warm top_k 6", 6, True),
                                  ("new top_k 8", 8, False)):
            wall, before, summary = run(top_k, reports, warm)
            rows[name].append(wall)
            print(f"round {i + 1}: {name}: {wall:.1f} s (load {before})", flush=True)
            if name == "warm top_k 8":
                warm_figures = figures(summary)
            elif name == "new top_k 8":
                cold = figures(summary)
                unequal += [k for k in sorted(set(cold) | set(warm_figures))
                            if cold.get(k) != warm_figures.get(k)]
    for name, values in rows.items():
        print(f"{name}: median {spread(values)} s")
    ratio = statistics.median(rows["new top_k 8"]) / statistics.median(rows["warm top_k 8"])
    print(f"new kernel / warm kernel (top_k 8): {ratio:.2f}x")
    print(f"warm kernel peak RSS: {peak_rss_mb()}")
    print("figures (non-latency metrics) warm vs new kernel: "
          + ("equal" if not unequal else f"DIFFER: {sorted(set(unequal))}"))


if __name__ == "__main__":
    main()

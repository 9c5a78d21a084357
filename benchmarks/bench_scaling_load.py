"""The same short load (ci-sized) against 1 and 2 app processes and from 1 Locust process, a
master with 1 worker and a master with 2 workers (figures, not tests), interleaved repeats in
one run on one machine.

    python benchmarks/bench_scaling_load.py [--repeats 2] [--users 20] [--duration 30]

Each run is ``evals.load.loadtest.run_load`` (embedded PostgreSQL and Redis of
``.rag_state/loadtest``, the mock LLM, ``rag-core serve --workers N``, headless Locust) with
empty answer caches at its start. Prints per variant the medians over the repeats of
throughput, p50 and p99, the error rate, and the cores (CPU seconds over the run window) that
the load generator and the app used.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
from pathlib import Path

from evals.load import loadtest

VARIANTS = {  # name: (uvicorn workers, Locust workers)
    "app x1, locust 1 process": (1, 0),
    "app x2, locust 1 process": (2, 0),
    "app x2, locust master + 1 worker": (2, 1),
    "app x2, locust master + 2 workers": (2, 2),
}
KEYS = ("rps", "p50_ms", "p99_ms", "error_rate", "requests", "rps_share_of_offered",
        "loadgen_cores", "app_cores")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--duration", type=int, default=30)
    parser.add_argument("--wait", default="0.1,0.3", help="think time min,max (seconds)")
    parser.add_argument("--json", default="")
    args = parser.parse_args()
    wait = tuple(float(w) for w in args.wait.split(","))
    out = Path(tempfile.mkdtemp(prefix="scale", dir="/tmp"))
    results: dict[str, list[dict[str, float]]] = {name: [] for name in VARIANTS}
    for r in range(args.repeats):
        names = list(VARIANTS) if r % 2 == 0 else list(VARIANTS)[::-1]
        for name in names:
            workers, locust_workers = VARIANTS[name]
            config = loadtest.LoadConfig(
                users=args.users, spawn_rate=10.0, duration_s=args.duration, mix="mixed",
                shape="sustained", wait_s=wait, workers=workers,  # type: ignore[arg-type]
                locust_workers=locust_workers, mock_latency_ms=300.0, seed=7,
                output_dir=str(out / f"r{r}"), label=f"w{workers}l{locust_workers}")
            try:
                summary = loadtest.run_load(config).summary()
            except (RuntimeError, TimeoutError) as exc:  # a run that could not start
                print(name, "failed:", str(exc).splitlines()[0], flush=True)
                continue
            results[name].append({k: float(summary[k]) for k in KEYS})
            print(name, {k: round(float(summary[k]), 3) for k in KEYS}, flush=True)
    offered = args.users / (sum(wait) / 2)
    print(f"\n{args.users} users, think time {wait} s (offered {offered:.0f} req/s), "
          f"{args.duration} s, mock LLM 300 ms; medians of {args.repeats} repeats")
    print("| variant | req/s | p50 ms | p99 ms | errors | Locust cores | app cores |")
    print("|---|---|---|---|---|---|---|")
    for name, rows in results.items():
        if not rows:
            print(f"| {name} | no run finished | | | | | |")
            continue
        med = {k: statistics.median(row[k] for row in rows) for k in KEYS}
        print(f"| {name} | {med['rps']:.1f} | {med['p50_ms']:.0f} | {med['p99_ms']:.0f} | "
              f"{med['error_rate']:.3f} | {med['loadgen_cores']:.2f} | {med['app_cores']:.2f} |")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()

"""The same short load (ci-sized) against 1 and 2 app processes and from 1 Locust process, a
master with 1 worker and a master with 2 workers (figures, not tests), interleaved repeats in
one run on one machine.

    python benchmarks/bench_scaling_load.py [--repeats 2] [--users 20] [--duration 30]
    python benchmarks/bench_scaling_load.py --peak 600,800,1000 [--duration 120]
        [--compare DIR]

Each run is ``evals.load.loadtest.run_load`` (embedded PostgreSQL and Redis of
``.rag_state/loadtest``, the mock LLM, ``rag-core serve --workers N``, headless Locust) with
empty answer caches at its start. Prints per variant the medians over the repeats of
throughput, p50 and p99, the error rate, and the cores (CPU seconds over the run window) that
the load generator and the app used.

``--peak``: the seeds' 1,000-user run instead (the full profile's load parameters: the mixed
mix, think time 5-10 s, the mock LLM at 3.5 s, 2 app workers, a Locust master and 2 workers,
spawn 50/s, 30 s of warm-up left out), shortened to ``--duration`` seconds, at each user
count given; with ``--compare DIR`` each count runs twice in turn (the order alternating),
once with the app of the checkout DIR (``before``) and once with this tree's (``after``). It
prints p99 after the warm-up, errors, the answered rate against the offered one and the
cores, and per app the most users with p99 <= ``--p99-ms`` (4,000) and no error. Every run
has the request limits off (0).
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


PEAK_KEYS = ("p99_ms", "p50_ms", "error_rate", "rps_after_warmup", "rps_share_of_offered",
             "app_cores", "loadgen_cores")


def peak(args: argparse.Namespace, out: Path) -> None:
    """The full profile's load at each user count, per app (``--compare``: before, after)."""
    counts = [int(u) for u in args.peak.split(",")]
    apps = {"before": args.compare, "after": ""} if args.compare else {"this": ""}
    rows: list[tuple[str, int, dict[str, float]]] = []
    for i, users in enumerate(counts):
        names = list(apps) if i % 2 == 0 else list(apps)[::-1]
        for name in names:
            env = {"PYTHONPATH": apps[name]} if apps[name] else {}
            config = loadtest.LoadConfig(
                users=users, spawn_rate=50.0, duration_s=args.duration, mix="mixed",
                shape="sustained", wait_s=(5.0, 10.0), workers=2, locust_workers=2,
                mock_latency_ms=3500.0, warmup_s=30.0, warm_up_requests=20, seed=7,
                output_dir=str(out / f"{name}{users}"), label=f"{name}{users}",
                extra_env=env)
            try:
                summary = loadtest.run_load(config).summary()
            except (RuntimeError, TimeoutError) as exc:
                print(name, users, "failed:", str(exc).splitlines()[0], flush=True)
                continue
            row = {k: float(summary[k]) for k in PEAK_KEYS}  # type: ignore[arg-type]
            rows.append((name, users, row))
            print(name, users, {k: round(v, 3) for k, v in row.items()},
                  "limits:", {k: v for k, v in summary.items() if k.startswith("limit_")},
                  flush=True)
    print(f"\nthe full profile's load, {args.duration} s runs (30 s warm-up left out), request "
          "limits off (0)")
    print("| app | users | offered req/s | answered req/s | share | p50 ms | p99 ms | errors "
          "| app cores | Locust cores |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name, users, row in rows:
        offered = users / 7.5
        print(f"| {name} | {users} | {offered:.0f} | {row['rps_after_warmup']:.1f} | "
              f"{row['rps_share_of_offered']:.2f} | {row['p50_ms']:.0f} | {row['p99_ms']:.0f} | "
              f"{row['error_rate']:.3f} | {row['app_cores']:.2f} | {row['loadgen_cores']:.2f} |")
    for name in apps:
        held = [u for n, u, r in rows if n == name
                and r["p99_ms"] <= args.p99_ms and r["error_rate"] == 0]
        print(f"{name}: most users with p99 <= {args.p99_ms:.0f} ms and no error: "
              f"{max(held) if held else 'none of ' + args.peak}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--duration", type=int, default=30)
    parser.add_argument("--wait", default="0.1,0.3", help="think time min,max (seconds)")
    parser.add_argument("--json", default="")
    parser.add_argument("--peak", default="", metavar="USERS,...",
                        help="the full profile's load at these user counts (see above)")
    parser.add_argument("--compare", default="", metavar="DIR",
                        help="--peak: also the app of this checkout, as 'before'")
    parser.add_argument("--p99-ms", type=float, default=4000.0)
    args = parser.parse_args()
    wait = tuple(float(w) for w in args.wait.split(","))
    out = Path(tempfile.mkdtemp(prefix="scale", dir="/tmp"))
    if args.peak:
        peak(args, out)
        return
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

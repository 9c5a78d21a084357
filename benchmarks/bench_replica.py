"""Searches on the primary alone against searches routed to a streaming replica (figures, not
tests), in one run on one machine: the same golden questions, the same vectors, the two stores
interleaved in every repeat.

    python benchmarks/bench_replica.py [--repeats 5] [--threads 4] [--rounds 3]

A primary and a replica are built as the tests build them (tests/pg_replica.py:
``pg_basebackup -R -X stream``); the golden notes are ingested on the primary with the real
embedding model, and the replica is waited for. Each repeat measures, for each store, the
median latency of single searches (the questions one after another) and the throughput of
``--threads`` threads searching together. The replica path is the service's: the user's notes
version is passed (``min_version``), so each replica search also reads that version there.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # the replica builder of the tests

from pg_replica import StreamingReplica  # noqa: E402

from evals.datasets import golden  # noqa: E402
from rag_core.config import Settings  # noqa: E402
from rag_core.ingest.ingestion import ingest_path  # noqa: E402
from rag_core.parts import build_embedder, build_parts, build_store  # noqa: E402
from rag_core.telemetry.metrics import REGISTRY  # noqa: E402


def _reads(target: str) -> float:
    return sum(REGISTRY.get_sample_value("db_reads_total", {"target": target, "reason": r}) or 0
               for r in ("ok", "down", "lagging", "behind"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=3, help="passes over the questions per "
                        "throughput measurement")
    args = parser.parse_args()
    pair = StreamingReplica()
    try:
        name = pair.create_database()
        base = Settings(profile="ci", state_dir=Path(tempfile.mkdtemp(prefix="rb", dir="/tmp")),
                        database_url=pair.primary_url(name), llm="extractive")
        parts = build_parts(base)
        for user in sorted((ROOT / "golden" / "notes").iterdir()):
            ingest_path(parts, user.name, user, progress=False)
        pair.wait_caught_up()
        primary = parts.store
        routed = build_store(base.with_overrides(database_replica_url=pair.replica_url(name)))
        qa = golden.load_qa()
        questions = list(zip(qa["user_id"], qa["question"], strict=True))
        embedder = build_embedder(base)
        vectors = embedder.embed([q for _, q in questions])
        versions = {u: primary.notes_version(u) for u, _ in questions}
        params = base.retrieval
        chunks = primary.count_chunks()
        print(f"{chunks} chunks, {len(questions)} questions, mode {params.retrieval_mode}, "
              f"{args.threads} threads x {args.rounds} rounds")

        def search(store: Any, i: int) -> float:
            user, text = questions[i]
            start = time.perf_counter()
            store.search(user, vectors[i], base.retrieval.top_k, query_text=text, params=params,
                         min_version=versions[user])
            return time.perf_counter() - start

        def latency(store: Any) -> float:
            return statistics.median(search(store, i) for i in range(len(questions))) * 1000

        def throughput(store: Any) -> float:
            work = list(range(len(questions))) * args.rounds
            with ThreadPoolExecutor(args.threads) as pool:
                start = time.perf_counter()
                list(pool.map(lambda i: search(store, i), work))
                return len(work) / (time.perf_counter() - start)

        for store in (primary, routed):  # warm both pools and caches once
            latency(store)
        rows: dict[str, dict[str, list[float]]] = {
            k: {"ms": [], "qps": []} for k in ("primary", "replica")}
        replica_before = _reads("replica")
        for r in range(args.repeats):
            order = [("primary", primary), ("replica", routed)]
            for label, store in order if r % 2 == 0 else order[::-1]:
                rows[label]["ms"].append(latency(store))
                rows[label]["qps"].append(throughput(store))
        replica_reads = _reads("replica") - replica_before
        expected = args.repeats * len(questions) * (1 + args.rounds)
        print(f"searches answered by the replica: {replica_reads:.0f} of {expected} routed")
        print("| reads | median search ms | searches/s |")
        print("|---|---|---|")
        for label, vals in rows.items():
            print(f"| {label} | {statistics.median(vals['ms']):.2f} "
                  f"[{min(vals['ms']):.2f}-{max(vals['ms']):.2f}] | "
                  f"{statistics.median(vals['qps']):.0f} "
                  f"[{min(vals['qps']):.0f}-{max(vals['qps']):.0f}] |")
        ms_ratio = statistics.median(
            b / a for a, b in zip(rows["primary"]["ms"], rows["replica"]["ms"], strict=True))
        qps_ratio = statistics.median(
            b / a for a, b in zip(rows["primary"]["qps"], rows["replica"]["qps"], strict=True))
        print(f"replica / primary (median of per-repeat ratios): latency x{ms_ratio:.2f}, "
              f"throughput x{qps_ratio:.2f}")
        routed.close()
        parts.close()
    finally:
        pair.remove()


if __name__ == "__main__":
    main()

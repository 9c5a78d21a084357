"""Benchmarks of the pipeline (figures, not tests): ingestion against raw encode, and `ask` on
the cached paths against the uncached path, all in one run on the embedded services.

    python benchmarks/bench_pipeline.py [--repeats 200]

Prints medians and p99 and the ratios against the baselines measured in the same run.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from rag_core.config import Settings
from rag_core.ingest import ingest_path
from rag_core.notes import load_notes
from rag_core.parts import parts_for
from rag_core.pipeline import Pipeline

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "notes"


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=200)
    args = parser.parse_args()
    state = Path(tempfile.mkdtemp(prefix="ragb", dir="/tmp"))
    parts = parts_for(Settings(profile="ci", state_dir=state))
    pipe = Pipeline(parts)
    parts.embedder.load()

    # 1. ingestion of the golden corpus against raw SentenceTransformer.encode of the same texts
    from rag_core.chunking import chunk_note, embedding_text

    notes = [n for user in sorted(GOLDEN.iterdir()) for n in load_notes(user)]
    texts = [embedding_text(n, c.text) for n in notes
             for c in chunk_note(n, parts.counter, parts.settings.chunk_tokens,
                                 parts.settings.chunk_overlap_tokens)]
    start = time.perf_counter()
    parts.embedder.embed(texts)
    raw = time.perf_counter() - start
    start = time.perf_counter()
    total = 0
    for user in sorted(GOLDEN.iterdir()):
        total += ingest_path(parts, user.name, user, progress=False).chunks_written
    full = time.perf_counter() - start
    print(f"ingestion: {total} chunks in {full:.2f} s = {total / full:.0f} chunks/s; raw encode "
          f"of the same {len(texts)} texts {len(texts) / raw:.0f} chunks/s; "
          f"ingestion/raw time ratio {full / raw:.2f}")

    # 2. ask: miss (new question each time), L2 hit (embedding cached, answer not), L1 hit
    questions = [f"What did my notes say about faith and work number {i}?"
                 for i in range(args.repeats)]
    timings: dict[str, list[float]] = {"miss": [], "l2_hit": [], "l1_hit": []}
    steps: dict[str, list[dict[str, float]]] = {k: [] for k in timings}
    for q in questions:
        for label in ("miss", "l1_hit"):
            start = time.perf_counter()
            answer = pipe.ask("amara", q)
            timings[label].append((time.perf_counter() - start) * 1000)
            steps[label].append(answer.timings_ms)
        parts.caches.forget_notes("amara")  # answers, contexts, semantic: not embeddings
        start = time.perf_counter()
        answer = pipe.ask("amara", q)
        timings["l2_hit"].append((time.perf_counter() - start) * 1000)
        steps["l2_hit"].append(answer.timings_ms)
    base = statistics.median(timings["miss"])
    for label, values in timings.items():
        med = statistics.median(values)
        print(f"ask {label:7s}: median {med:7.2f} ms  p99 {pct(values, 99):7.2f} ms  "
              f"ratio to miss {med / base:.3f}")
        keys = sorted({k for s in steps[label] for k in s if k != "total"})
        print("   steps (median ms): " + ", ".join(
            f"{k} {statistics.median(s.get(k, 0.0) for s in steps[label]):.2f}" for k in keys))
    parts.close()
    from rag_core import services

    services.stop_all(parts.settings.with_overrides(database_url=None, redis_url=None))


if __name__ == "__main__":
    main()

"""Benchmarks of the pipeline (figures, not tests): ingestion against raw encode, and `ask` on
the cached paths against the uncached path, all in one run on the embedded services.

    python benchmarks/bench_pipeline.py [--repeats 200] [--ingest-chunks 10000]

Prints medians and p99 and the ratios against the baselines measured in the same run.

Ingestion at scale: synthetic notes (``evals.datasets.corpus``) of one user, about
``--ingest-chunks``
chunks after the project's chunking, in blocks of about 400; each block is first encoded raw (the
model on exactly the texts ingestion embeds), then ingested (chunking, embedding, bulk writes, BM25
statistics, HNSW and GIN index upkeep) into a growing table.  Alternating the two puts them
under the same machine load; throughput is chunks over summed seconds.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from rag_core.config import Settings
from rag_core.ingest.ingestion import ingest_path
from rag_core.ingest.readers import load_notes
from rag_core.parts import Parts, parts_for
from rag_core.pipeline import Pipeline

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "notes"


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q))


def synthetic_notes(parts: Parts, chunks: int) -> list[Any]:
    """Synthetic notes of the golden style whose project chunking gives >= ``chunks`` chunks."""
    from evals.datasets.corpus import generate
    from rag_core.ingest.chunking import chunk_note
    from rag_core.types import Note

    s = parts.settings
    corpus = generate(2 * chunks, users=1, seed=7)  # short texts: notes re-chunk to fewer
    bodies: dict[int, list[str]] = {}
    for text, note_id in zip(corpus.texts, corpus.note_ids.tolist(), strict=True):
        bodies.setdefault(note_id, []).append(text)
    notes, total = [], 0
    for note_id, texts in bodies.items():
        meta = corpus.notes[note_id]
        note = Note(id=f"s{note_id}", title=meta["title"], body="\n\n".join(texts),
                    speaker=meta["speaker"], series=meta["series"], tags=tuple(meta["tags"]),
                    scripture=tuple(meta["scripture"]))
        notes.append(note)
        total += len(chunk_note(note, parts.counter, s.embedding.chunk_tokens,
                                s.embedding.chunk_overlap_tokens))
        if total >= chunks:
            return notes
    raise ValueError(f"the synthetic corpus gives only {total} chunks")


def ingestion_at_scale(parts: Parts, chunks: int, blocks: int = 0) -> dict[str, float]:
    """Chunks/s of raw encode and of ingestion of the same texts, blocks alternating (about
    400 chunks a block by default: on a shared machine the load moves within minutes)."""
    from rag_core.ingest.chunking import chunk_note, embedding_text
    from rag_core.ingest.ingestion import ingest_notes

    s = parts.settings
    notes = synthetic_notes(parts, chunks)
    blocks = blocks or max(5, chunks // 400)
    raw_s = ingest_s = 0.0
    total = raw_total = 0
    step = -(-len(notes) // blocks)
    for i in range(0, len(notes), step):
        part = notes[i:i + step]
        texts = [embedding_text(n, c.text) for n in part
                 for c in chunk_note(n, parts.counter, s.embedding.chunk_tokens,
                                     s.embedding.chunk_overlap_tokens)]
        start = time.perf_counter()
        for j in range(0, len(texts), s.embedding.embedding_batch_size):
            parts.embedder.embed(texts[j:j + s.embedding.embedding_batch_size])
        raw_s += time.perf_counter() - start
        raw_total += len(texts)
        report = ingest_notes(parts, "bulk", part, progress=False)
        ingest_s += report.seconds
        total += report.chunks_written
        print(f"  block {i // step + 1}: {len(texts)} chunks; so far raw "
              f"{raw_total / raw_s:.2f} chunks/s, ingestion {total / ingest_s:.2f} chunks/s, "
              f"ratio {(total / ingest_s) / (raw_total / raw_s):.3f}", flush=True)
    return {"chunks": total, "raw_chunks_per_s": raw_total / raw_s,
            "ingest_chunks_per_s": total / ingest_s,
            "ratio": (total / ingest_s) / (raw_total / raw_s)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=200)
    parser.add_argument("--ingest-chunks", type=int, default=10_000,
                        help="chunks of the ingestion-at-scale run (0: skip it)")
    args = parser.parse_args()
    state = Path(tempfile.mkdtemp(prefix="ragb", dir="/tmp"))
    parts = parts_for(Settings(profile="ci", state_dir=state))
    pipe = Pipeline(parts)
    parts.embedder.load()

    # 1. ingestion of the golden corpus against raw SentenceTransformer.encode of the same texts
    from rag_core.ingest.chunking import chunk_note, embedding_text

    notes = [n for user in sorted(GOLDEN.iterdir()) for n in load_notes(user)]
    texts = [embedding_text(n, c.text) for n in notes
             for c in chunk_note(n, parts.counter, parts.settings.embedding.chunk_tokens,
                                 parts.settings.embedding.chunk_overlap_tokens)]
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
    if args.ingest_chunks:
        scale = ingestion_at_scale(parts, args.ingest_chunks)
        print(f"ingestion at scale: {scale['chunks']} chunks, raw encode "
              f"{scale['raw_chunks_per_s']:.1f} chunks/s, ingestion "
              f"{scale['ingest_chunks_per_s']:.1f} chunks/s = {100 * scale['ratio']:.1f} % of raw")

    # 2. ask: miss (new question each time), L2 hit (embedding cached, answer not), L1 hit;
    # and a question the notes do not cover: decided ("no_context"), then asked again (L1)
    questions = [f"What did my notes say about faith and work number {i}?"
                 for i in range(args.repeats)]
    off_topic = [f"Which graphics card should I buy for gaming rig number {i}?"
                 for i in range(args.repeats)]
    timings: dict[str, list[float]] = {"miss": [], "l2_hit": [], "l1_hit": [],
                                       "no_context": [], "no_context_again": []}
    steps: dict[str, list[dict[str, float]]] = {k: [] for k in timings}
    outcomes: dict[str, set[str]] = {k: set() for k in timings}

    def timed(label: str, question: str) -> None:
        start = time.perf_counter()
        answer = pipe.ask("amara", question)
        timings[label].append((time.perf_counter() - start) * 1000)
        steps[label].append(answer.timings_ms)
        outcomes[label].add(f"{answer.cache['query']}{' no_context' * answer.no_context}")

    for q, other in zip(questions, off_topic, strict=True):
        timed("miss", q)
        timed("l1_hit", q)
        timed("no_context", other)
        timed("no_context_again", other)
        parts.caches.forget_notes("amara")  # answers, contexts, semantic: not embeddings
        timed("l2_hit", q)
    base = statistics.median(timings["miss"])
    again = statistics.median(timings["no_context_again"]) / statistics.median(
        timings["no_context"])
    print(f"a no-context question asked again costs {again:.3f} of its first decision")
    for label, values in timings.items():
        med = statistics.median(values)
        print(f"ask {label:16s}: median {med:7.2f} ms  p99 {pct(values, 99):7.2f} ms  "
              f"ratio to miss {med / base:.3f}  (answers: {', '.join(sorted(outcomes[label]))})")
        keys = sorted({k for s in steps[label] for k in s if k != "total"})
        print("   steps (median ms): " + ", ".join(
            f"{k} {statistics.median(s.get(k, 0.0) for s in steps[label]):.2f}" for k in keys))
    parts.close()
    from rag_core import services

    services.stop_all(parts.settings.with_overrides(database_url=None, redis_url=None))


if __name__ == "__main__":
    main()

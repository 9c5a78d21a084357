"""What a query filter costs in the store's search, and whether it still fills ``top_k``
(figures, not tests).

    python benchmarks/bench_filters.py [--chunks 5000] [--queries 200] [--mode hybrid]

One user of ``--chunks`` synthetic chunks (random unit vectors, 40 words each of a 300-word
vocabulary; five chunks a note, eight speakers, dates over ten years) beside 20 users of 250
chunks, in the embedded PostgreSQL of ``RAG_STATE_DIR`` (the users are deleted at the end).
The big user is searched through the shared HNSW and GIN indexes (as the service does past
``user_scan_max_chunks``) and, for comparison, on its own rows; each way without filters, with
a speaker (an eighth of the notes) and with a speaker and a year (an eightieth). Printed per
way: median and p99 ms of ``PgVectorStore.search`` over the queries (the ways interleaved query
by query), and the share of searches that returned fewer than ``top_k`` chunks although enough
notes pass the filter.
"""

from __future__ import annotations

import argparse
import hashlib
import statistics
import time

import numpy as np

from rag_core import services
from rag_core.config import Settings, fixed
from rag_core.parts import build_store
from rag_core.store.base import ChunkDraft, NoteWrite
from rag_core.store.filters import NO_FILTERS, Filters
from rag_core.types import Note

SPEAKERS = [f"Speaker {c}" for c in "ABCDEFGH"]
PER_NOTE = 5


def _library(rng: np.random.Generator, user: str, chunks: int, dim: int,
             vocab: list[str]) -> list[NoteWrite]:
    notes = []
    for n in range(chunks // PER_NOTE):
        texts = [" ".join(rng.choice(vocab, 40)) for _ in range(PER_NOTE)]
        vecs = rng.normal(size=(PER_NOTE, dim)).astype(np.float32)
        vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
        note = Note(id=f"{user}-{n:05d}", title=f"note {n}", body="-",
                    speaker=SPEAKERS[n % len(SPEAKERS)], date=f"{2015 + n % 10}-06-01")
        drafts = [ChunkDraft(i, t, hashlib.sha256(t.encode()).hexdigest())
                  for i, t in enumerate(texts)]
        notes.append(NoteWrite(note, f"h{n}", drafts, vecs))
    return notes


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--chunks", type=int, default=5000)
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--top-k", type=int, default=5)
    ap.add_argument("--mode", default="hybrid", choices=["dense", "lexical", "hybrid"])
    args = ap.parse_args()
    fixed.DB_STATEMENT_TIMEOUT_MS = 0  # a bulk load is long
    settings = services.resolve(Settings())
    store = build_store(settings)
    rng = np.random.default_rng(7)
    vocab = [f"w{i:03d}" for i in range(300)]
    users = ["bf-big"] + [f"bf-small-{i:02d}" for i in range(20)]
    try:
        for user in users:
            library = _library(rng, user, args.chunks if user == "bf-big" else 250,
                               settings.embedding.embedding_dim, vocab)
            for start in range(0, len(library), 50):
                store.upsert_notes(user, library[start:start + 50])
        with store._db("analyse") as conn:  # the planner's statistics after a bulk load
            conn.execute("ANALYZE chunks")
        shared = settings.retrieval.with_(retrieval_mode=args.mode, user_scan_max_chunks=0,
                                          user_scan_scale=0.0)
        own = shared.with_(user_scan_max_chunks=10 ** 7)
        cases = {"none": NO_FILTERS, "speaker": Filters(speaker=SPEAKERS[3]),
                 "speaker+year": Filters(speaker=SPEAKERS[3], date_from="2018",
                                         date_to="2018")}
        ways = [(f"{path} {name}", params, filters) for path, params in
                (("shared", shared), ("own rows", own)) for name, filters in cases.items()]
        times: dict[str, list[float]] = {w[0]: [] for w in ways}
        short: dict[str, int] = {w[0]: 0 for w in ways}
        for _ in range(args.queries):
            vec = rng.normal(size=settings.embedding.embedding_dim).astype(np.float32)
            vec /= np.linalg.norm(vec)
            text = " ".join(rng.choice(vocab, 6))
            for name, params, filters in ways:
                began = time.perf_counter()
                got = store.search("bf-big", vec, args.top_k, query_text=text, params=params,
                                   filters=filters)
                times[name].append((time.perf_counter() - began) * 1000)
                assert all(filters.matches(c.metadata) for c in got), name
                short[name] += len(got) < args.top_k
        print(f"{args.chunks} chunks of one user ({args.mode}, top_k {args.top_k}, "
              f"{args.queries} queries): median / p99 ms, searches short of top_k")
        for name in times:
            ms = sorted(times[name])
            p99 = ms[min(len(ms) - 1, int(0.99 * len(ms)))]
            print(f"  {name:<22} {statistics.median(ms):7.2f} / {p99:7.2f}   "
                  f"{short[name]}/{args.queries}")
    finally:
        for user in users:
            for row in store.list_notes(user):
                store.delete_note(user, row["note_id"])
        store.close()


if __name__ == "__main__":
    main()

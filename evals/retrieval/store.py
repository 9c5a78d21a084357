"""The real store in the retrieval benchmark: the synthetic corpus with text as notes of a
``PgVectorStore``, then its searches timed mode by mode.

``store_modes`` times dense, hybrid and lexical search with each lexical ranker (BM25 and
PostgreSQL's ``ts_rank_cd``), and dense, hybrid and BM25 with every user through the shared
indexes, in turn, so every configuration meets the same machine load (``staggered``: never two
searches of one question in a row); its rows
feed ``hybrid_p99_ratio``, the BM25 against ``ts_rank_cd`` latency and what searching small
users on their own rows moved.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, cast

import numpy as np

from evals.datasets.corpus import Corpus, Queries
from evals.retrieval.pg import bench_settings
from evals.retrieval.stats import latency_stats
from rag_core.config import Retrieval, Settings
from rag_core.store.base import Store
from rag_core.store.searching import user_rows_limit

if TYPE_CHECKING:
    from rag_core.store.pgvector import PgVectorStore

# label -> (mode, lexical ranker, shared indexes); "dense" and "hybrid" are the headline pair.
# Shared indexes (``SHARED``): every user through the HNSW and GIN indexes of all users'
# chunks, the way before small users were searched on their own rows (the lever's baseline,
# measured in the same run).
SHARED = {"user_scan_max_chunks": 0, "user_scan_scale": 0.0}
MODES = {
    "dense": ("dense", "bm25", False),
    "hybrid": ("hybrid", "bm25", False),
    "hybrid_ts_rank_cd": ("hybrid", "ts_rank_cd", False),
    "lexical_bm25": ("lexical", "bm25", False),
    "lexical_ts_rank_cd": ("lexical", "ts_rank_cd", False),
    "dense_shared_indexes": ("dense", "bm25", True),
    "hybrid_shared_indexes": ("hybrid", "bm25", True),
    "lexical_bm25_shared_indexes": ("lexical", "bm25", True),
}


def store_for(url: str, state_dir: str | Path | None = None, dim: int = 384, *,
              base: Settings | None = None) -> PgVectorStore:
    """The real store on database ``url``; ``base``: Settings to start from (the notebook's)."""
    from rag_core.parts import build_store

    settings = (base.model_copy(update={"database_url": url, "embedding_dim": dim}) if base
                else bench_settings(state_dir, database_url=url, embedding_dim=dim))
    return cast("PgVectorStore", build_store(settings))


def ingest_corpus(store: PgVectorStore, corpus: Corpus, n: int, progress: bool = True,
                  batch_chunks: int = 256) -> int:
    """The first ``n`` chunks as notes of the store, written in bulk (``upsert_notes``, one
    transaction per user and batch); idempotent: unchanged notes are skipped."""
    from rag_core.ingest.chunking import content_hash
    from rag_core.store.base import ChunkDraft, NoteWrite
    from rag_core.types import Note

    assert corpus.vectors is not None
    note_ids = corpus.note_ids[:n]
    starts = np.flatnonzero(np.r_[True, note_ids[1:] != note_ids[:-1]])
    bounds = list(zip(starts, np.r_[starts[1:], len(note_ids)], strict=True))
    by_user: dict[str, list[NoteWrite]] = {}
    for lo, hi in bounds:
        meta = corpus.notes[int(note_ids[lo])]
        texts = corpus.texts[lo:hi]
        note = Note(id=f"n{int(note_ids[lo])}", title=meta["title"], body="\n\n".join(texts),
                    speaker=meta["speaker"], series=meta["series"], tags=tuple(meta["tags"]),
                    scripture=tuple(meta["scripture"]))
        drafts = [ChunkDraft(i, t, content_hash(t)) for i, t in enumerate(texts)]
        by_user.setdefault(f"u{meta['user']}", []).append(NoteWrite(
            note, content_hash(note.body + repr(meta)), drafts, corpus.vectors[lo:hi]))
    batches = []
    for user, items in by_user.items():
        batch: list[NoteWrite] = []
        for item in items:
            batch.append(item)
            if sum(len(it.chunks) for it in batch) >= batch_chunks:
                batches.append((user, batch))
                batch = []
        if batch:
            batches.append((user, batch))
    iterator: Iterable[tuple[str, list[NoteWrite]]] = batches
    if progress:
        from tqdm.std import tqdm

        iterator = tqdm(batches, desc="store ingest", file=sys.stderr, mininterval=5.0, ncols=90)
    written = 0
    for user, batch in iterator:
        written += sum(r.chunks_written for r in store.upsert_notes(user, batch))
    analyze(store.pool.url)
    return written


def analyze(url: str) -> None:
    """ANALYZE the store's tables, as autovacuum would a little later: a search reads the
    table's size from the planner's statistics (``rag_core.store.searching.user_rows_limit``)."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("ANALYZE")


def staggered(n: int, labels: list[str]) -> list[tuple[int, str]]:
    """The order of ``store_modes``' searches: every label on every one of ``n`` questions,
    labels in turn, label ``j`` ``j * n // len(labels)`` questions ahead of the first.

    A search that follows another of the same vector finds what the first one read in the
    CPU's caches: an HNSW search looked twice as fast that way (benchmarks/bench_pg_search.py).
    Staggered, neighbours are different questions. For these modes at 10,000 chunks the two
    orders measured the same hybrid / dense p99 within their noise (benchmarks/README.md).
    """
    stride = max(1, n // max(1, len(labels)))
    return [((i + j * stride) % n, label) for i in range(n) for j, label in enumerate(labels)]


def store_modes(store: Store, queries: Queries, top_k: int, ef_search: int,
                base: Retrieval | None = None, table_chunks: int = 0
                ) -> list[dict[str, object]]:
    """Every configuration of ``MODES`` on the same queries, in turn (``staggered``); one row
    each. ``table_chunks``: the store's chunks, for the label of the own-rows limit."""
    assert queries.vectors is not None
    base = (base or Retrieval()).with_(hnsw_ef_search=ef_search)
    params = {label: base.with_(retrieval_mode=mode, lexical_ranker=ranker,
                                **(SHARED if shared else {}))
              for label, (mode, ranker, shared) in MODES.items()}
    times: dict[str, list[float]] = {label: [] for label in MODES}
    order = staggered(len(queries.texts), list(MODES))
    for warm in (True, False):
        for k, label in order:
            start = time.perf_counter()
            store.search(f"u{int(queries.user_ids[k])}", queries.vectors[k], top_k,
                         query_text=queries.texts[k], params=params[label])
            if not warm:
                times[label].append(time.perf_counter() - start)
    return [{"mode": label, "lexical_ranker": MODES[label][1], "ef_search": ef_search,
             "small_users": "shared indexes" if MODES[label][2] else
             f"own rows (<= {user_rows_limit(params[label], table_chunks)} chunks)",
             **latency_stats(t)} for label, t in times.items()]

"""A BEIR set through the project's own ingest and search, per retrieval mode.

Every document becomes a note of one user (``beir-<set>``) through ``rag_core.ingest.ingestion``
(chunking, embedding, bulk writes, BM25 statistics); every query goes through the pipeline's
validation (sanitising, the query token budget) and the store's ``search`` with
``Retrieval``, 100 chunks deep.  Embeddings are cached on disk (``CachedEmbedder``) beside
the data, so a second run, or a run on a fresh database, embeds nothing it embedded before.

The notebook's section over several sets is ``evals.retrieval.beir_public``.

``run_configs`` times each search (client side, the store call only: the same query vector for
every configuration) and scores the ranked documents with ``evals.datasets.beir.score_query``;
``mode_table`` averages per configuration, with the published dense figure beside the dense row.
"""

from __future__ import annotations

import hashlib
import os
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TypedDict

import numpy as np
import pandas as pd

from evals.datasets.arrays import Vectors
from evals.datasets.beir import BeirSet, score_query, to_notes
from evals.retrieval.stats import latency_stats
from rag_core.config import Retrieval, Settings
from rag_core.config.settings import user_model_cache
from rag_core.embedding import Embedder, vector_numerics
from rag_core.parts import Parts
from rag_core.store.base import Store

METRICS = ("ndcg_at_10", "recall_at_100", "mrr_at_10")
# Chunks per search: the top 10 documents need more than 10 chunks (a document may have several,
# and the ranking is of documents, each at its best chunk); about 1.7 chunks per NFCorpus doc.
TOP_CHUNKS = 20
DEPTH = 200


class CachedEmbedder:
    """An Embedder that keeps every vector it computed in ``folder`` (one ``.npy`` of vectors
    and a JSON list of text hashes per model and numerics), and computes only texts it has not
    seen.  ``numerics`` is ``rag_core.embedding.vector_numerics`` of the settings: f32 runtimes
    (torch, ONNX Runtime) share files, OpenVINO bf16 vectors get their own."""

    def __init__(self, inner: Embedder, folder: str | Path, numerics: str = "f32") -> None:
        self.inner = inner
        self.model_id = inner.model_id
        self.dim = inner.dim
        name = self.model_id if numerics == "f32" else f"{self.model_id}:{numerics}"
        tag = hashlib.sha256(name.encode()).hexdigest()[:12]
        # one file holds the keys and their vectors, replaced whole: runs of several
        # checkouts share the folder, and a reader never pairs one run's keys with another's
        self._path = Path(folder) / f"vectors-{tag}.npz"
        self._index: dict[str, int] = {}
        self._rows: list[Vectors] = []
        self._unsaved = 0
        if self._path.is_file():
            with np.load(self._path) as saved:
                keys, matrix = [str(k) for k in saved["keys"]], saved["vectors"]
            if len(keys) == len(matrix):
                self._index = {k: i for i, k in enumerate(keys)}
                self._rows = list(matrix)
        self.computed = 0

    @property
    def loaded(self) -> bool:
        return bool(self.inner.loaded)

    def load(self) -> None:
        self.inner.load()

    @staticmethod
    def _key(text: str) -> str:
        return hashlib.sha256(text.encode("utf-8")).hexdigest()

    def embed(self, texts: Sequence[str], *, progress: bool = False) -> Vectors:
        keys = [self._key(t) for t in texts]
        first: dict[str, int] = {}
        for i, k in enumerate(keys):
            if k not in self._index:
                first.setdefault(k, i)
        todo = sorted(first.values())
        if todo:
            fresh = np.asarray(self.inner.embed([texts[i] for i in todo], progress=progress),
                               dtype=np.float32)
            for i, vec in zip(todo, fresh, strict=True):
                self._index[keys[i]] = len(self._rows)
                self._rows.append(vec)
            self.computed += len(todo)
            self._unsaved += len(todo)
            if self._unsaved >= 2_000:
                self.save()
        if not keys:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.stack([self._rows[self._index[k]] for k in keys])

    def save(self) -> None:
        if not self._unsaved and self._path.is_file():
            return
        self._path.parent.mkdir(parents=True, exist_ok=True)
        keys = sorted(self._index, key=self._index.__getitem__)
        vectors = np.stack(self._rows) if self._rows else np.zeros((0, self.dim), np.float32)
        part = self._path.with_name(f"{self._path.stem}.{os.getpid()}.part.npz")
        np.savez(part, keys=np.asarray(keys, dtype=str), vectors=vectors)
        os.replace(part, self._path)
        self._unsaved = 0


def user_of(ds: BeirSet) -> str:
    return f"beir-{ds.name}"


def ingest(parts: Parts, ds: BeirSet, cache_dir: str | Path, progress: bool = True
           ) -> dict[str, object]:
    """The set's documents as the notes of ``user_of(ds)`` (notes not in the set pruned)."""
    from dataclasses import replace

    from rag_core.ingest.ingestion import ingest_notes

    embedder = CachedEmbedder(parts.embedder, cache_dir, vector_numerics(parts.settings.embedding))
    try:
        report = ingest_notes(replace(parts, embedder=embedder), user_of(ds), to_notes(ds),
                              progress, prune=True)
    finally:
        embedder.save()
    return {**report.to_dict(), "embedded_now": embedder.computed}


def fit_query(text: str, limit: int) -> str:
    """``text`` cut to the service's ``max_query_chars`` at a word boundary, as a user would
    cut it (a few CISI queries are longer; the query token budget cuts them further anyway)."""
    if len(text) <= limit:
        return text
    head = text[:limit + 1]
    cut = head.rstrip().rfind(" ")
    return (head[:cut] if cut > 0 else text[:limit]).rstrip()


def query_inputs(parts: Parts, ds: BeirSet, cache_dir: str | Path
                 ) -> tuple[list[str], list[str], Vectors]:
    """Query ids, their validated text (the pipeline's step 1, after ``fit_query``) and their
    vectors."""
    from rag_core.safety.guard import validate_query

    ids = sorted(ds.queries)
    limit = parts.settings.services.max_query_chars
    texts = [validate_query(user_of(ds), fit_query(ds.queries[q], limit), parts.counter,
                            parts.settings, sanitiser=parts.sanitiser).text for q in ids]
    embedder = CachedEmbedder(parts.embedder, cache_dir, vector_numerics(parts.settings.embedding))
    vectors = embedder.embed(texts)
    embedder.save()
    return ids, texts, vectors


def run_configs(store: Store, ds: BeirSet, inputs: tuple[list[str], list[str], Vectors],
                configs: Mapping[str, Retrieval], depth: int = DEPTH,
                progress: bool = False) -> pd.DataFrame:
    """One row per (configuration, query): metrics and the search's latency in ms.

    Each query is searched twice per configuration: ``TOP_CHUNKS`` deep, close to how the
    service searches (the hybrid candidate lists keep their configured depth), for nDCG@10 and
    MRR@10 of the documents in chunk order, timed; then ``depth`` chunks deep, untimed, for
    recall@100 (``depth`` at most ``TOP_CHUNKS``: no deep search, recall@100 not measured, NaN).
    Configurations are interleaved query by query, so that they meet the same machine load.
    """
    ids, texts, vectors = inputs
    user = user_of(ds)
    rows: list[dict[str, object]] = []
    iterator: Iterable[tuple[str, str, Vectors]] = zip(ids, texts, vectors, strict=True)
    if progress:
        from tqdm.std import tqdm

        iterator = tqdm(list(iterator), desc=f"{ds.name} queries", file=sys.stderr,
                        mininterval=5.0, ncols=90)
    for qid, text, vec in iterator:
        for label, params in configs.items():
            start = time.perf_counter()
            top = store.search(user, vec, TOP_CHUNKS, query_text=text, params=params)
            ms = (time.perf_counter() - start) * 1000.0
            scores = score_query([c.note_id for c in top], ds.qrels[qid], qid)
            if depth > TOP_CHUNKS:
                deep = store.search(user, vec, depth, query_text=text, params=params)
                scores["recall_at_100"] = score_query(
                    [c.note_id for c in deep], ds.qrels[qid], qid)["recall_at_100"]
            else:  # 20 chunks cannot say what 100 documents hold
                scores["recall_at_100"] = float("nan")
            rows.append({"config": label, "query_id": qid, "latency_ms": ms, **scores})
    return pd.DataFrame(rows)


def mode_table(frame: pd.DataFrame, ds: BeirSet) -> pd.DataFrame:
    """Mean metrics and latency percentiles per configuration, published dense beside."""
    out = []
    for label, group in frame.groupby("config", sort=False):
        lat = latency_stats(group["latency_ms"].to_numpy() / 1000.0)
        out.append({"set": ds.name, "split": ds.split, "config": label, "queries": len(group),
                    **{m: float(group[m].mean()) for m in METRICS},
                    "p50_ms": lat["p50_ms"], "p95_ms": lat["p95_ms"], "p99_ms": lat["p99_ms"]})
    table = pd.DataFrame(out)
    table["published_dense_ndcg_at_10"] = [
        ds.published_dense if str(c).startswith("dense") else np.nan for c in table["config"]]
    return table


# mode slug -> the changes to the service's Retrieval that search that way
MODES: dict[str, dict[str, str]] = {
    "dense": {"retrieval_mode": "dense"},
    "bm25": {"retrieval_mode": "lexical", "lexical_ranker": "bm25"},
    "ts_rank_cd": {"retrieval_mode": "lexical", "lexical_ranker": "ts_rank_cd"},
    "hybrid": {"retrieval_mode": "hybrid"},
}


def standard_configs(base: Retrieval) -> dict[str, Retrieval]:
    """The modes the issue compares, on the service's other knobs: dense, both lexical
    rankers, hybrid (labels: the slugs of ``MODES``)."""
    return {slug: base.with_(**changes) for slug, changes in MODES.items()}


def grid(base: Retrieval, **axes: Sequence[object]) -> dict[str, Retrieval]:
    """Every combination of the given parameter values (labels name the changed knobs)."""
    configs = {"": base}
    for name, values in axes.items():
        configs = {f"{label} {name}={v}".strip(): params.with_(**{name: v})
                   for label, params in configs.items() for v in values}
    return configs


def best_config(table: pd.DataFrame, metric: str = "ndcg_at_10") -> pd.Series:
    return table.sort_values([metric, "config"], ascending=[False, True]).iloc[0]


def beir_parts(state_dir: str | Path | None = None, database: str = "rag_beir", *,
               base: Settings | None = None, **overrides: object) -> Parts:
    """The parts (ci profile, caches off; or ``base``, the notebook's Settings) on their own
    database of the embedded PostgreSQL."""
    from evals.retrieval.pg import bench_settings, server_url
    from rag_core import services
    from rag_core.parts import parts_for

    url = services.ensure_database(server_url(state_dir), database)
    if base is not None:
        return parts_for(base.model_copy(update={"database_url": url, **overrides}))
    return parts_for(bench_settings(state_dir, database_url=url, **overrides))


def cache_dir_for(parts: Parts, folder: str | Path) -> Path:
    """Where a set's vectors are cached: the machine user's ``rag_core/beir/<set>`` beside the
    exported models (``user_model_cache``), so that every checkout and state folder of the
    machine embeds each text once (a fresh clone's CI run included); ``<state_dir>/beir/<set>``
    where that folder cannot be written. The files are keyed by the text's hash and the
    model, so a shared folder never serves another model's or text's vector."""
    models = user_model_cache()
    base = models.parent if models is not None else Path(parts.settings.services.state_dir)
    return base / "beir" / Path(folder).name


class BeirResult(TypedDict):
    set: dict[str, object]  # ``BeirSet.describe``
    ingest: dict[str, object]  # ``ingest``'s report and the run's seconds
    per_query: pd.DataFrame
    table: pd.DataFrame  # ``mode_table``


def evaluate(folder: str | Path, split: str = "test", *, max_queries: int = 0,
             max_docs: int = 0, seed: int = 0, configs: Mapping[str, Retrieval] | None = None,
             parts: Parts | None = None, progress: bool = True, depth: int = DEPTH
             ) -> BeirResult:
    """Load (and cut) a set, ingest it, run every configuration; tables for the notebook
    (``depth``: of the untimed search for recall@100, ``run_configs``)."""
    from evals.datasets.beir import load_beir, subset

    ds = subset(load_beir(folder, split), max_queries, max_docs, seed)
    own = parts is None
    used = parts or beir_parts()
    try:
        cache = cache_dir_for(used, folder)
        start = time.perf_counter()
        report = ingest(used, ds, cache, progress)
        inputs = query_inputs(used, ds, cache)
        report["ingest_and_embed_s"] = time.perf_counter() - start
        base = used.settings.retrieval
        start = time.perf_counter()
        frame = run_configs(used.store, ds, inputs, configs or standard_configs(base),
                            depth=depth, progress=progress)
        report["search_s"] = time.perf_counter() - start
    finally:
        if own:
            used.close()
    return {"set": ds.describe(), "ingest": report, "per_query": frame,
            "table": mode_table(frame, ds)}

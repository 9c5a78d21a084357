"""The chunking sweep of notebook 02 (``chunking_values``): each value of ``RAG_CHUNKING`` on
the golden notes (or a dataset's) and on public BEIR sets, through the real ingest and store.

Each method gets a database of its own on the embedded PostgreSQL (``rag_chunking_<method>``),
so no method's chunks replace another's. Per method and set: the notes and chunks stored,
chunks per note, mean tokens per chunk (the service's tokenizer), and the retrieval figures of
the service's default search mode: recall@5 and nDCG@10 by note for the golden questions
(``evals.metrics.retrieval``), nDCG@10 graded as BEIR computes it for the public sets
(``evals.retrieval.beir_run``). Vectors of the public sets come from the same cache as the
main run's (a text embedded once is never embedded again), so the default method costs
nothing there. A method that cuts every note into the chunks of a method already measured
(``heading`` on notes without a heading line cuts as ``sentences`` does) is not ingested and
searched again: its rows are that method's (``sweep``).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from evals.metrics import retrieval as scores
from evals.retrieval import beir_run
from rag_core.config import Settings
from rag_core.parts import Parts
from rag_core.types import Note

COLUMNS = ["method", "set", "notes", "chunks", "chunks_per_note", "tokens_per_chunk",
           "queries", "recall_at_5", "ndcg_at_10", "seconds"]


@dataclass(frozen=True)
class Question:
    """One answerable question: whose notes, the text, the notes that hold its answer."""

    user_id: str
    text: str
    reference_note_ids: tuple[str, ...]


@dataclass(frozen=True)
class Row:
    method: str
    set: str
    notes: int
    chunks: int
    chunks_per_note: float
    tokens_per_chunk: float
    queries: int
    recall_at_5: float | None
    ndcg_at_10: float | None
    seconds: float


def _parts(method: str, settings: Settings, state_dir: str | Path | None) -> Parts:
    return beir_run.beir_parts(state_dir, f"rag_chunking_{method}", base=settings,
                               chunking=method)


def _mean(values: Sequence[float | None]) -> float | None:
    kept = [v for v in values if v is not None]
    return float(np.mean(kept)) if kept else None


def _chunk_figures(parts: Parts, users: Sequence[str], notes: int) -> tuple[int, float, float]:
    texts = [text for user in users for _, text, _ in parts.store.user_texts(user)]
    tokens = [parts.counter.count(t) for t in texts]
    return len(texts), len(texts) / max(1, notes), float(np.mean(tokens)) if tokens else 0.0


def notes_run(method: str, parts: Parts, library: Mapping[str, Sequence[Note]],
              questions: Sequence[Question], name: str = "golden") -> Row:
    """Ingest each user's notes (as ``<name>-<user>``) by ``method`` and ask every question."""
    from rag_core.ingest.ingestion import ingest_notes

    start = time.perf_counter()
    users = {user: f"{name}-{user}" for user in library}
    for user, notes in library.items():
        ingest_notes(parts, users[user], list(notes), progress=False, prune=True)
    asked = [q for q in questions if q.user_id in users and q.reference_note_ids]
    vectors = np.asarray(parts.embedder.embed([q.text for q in asked])) if asked else \
        np.zeros((0, parts.settings.embedding.embedding_dim), dtype=np.float32)
    recall, ndcg = [], []
    for question, vector in zip(asked, vectors, strict=True):
        hits = parts.store.search(users[question.user_id], np.asarray(vector), 10,
                                  query_text=question.text, params=parts.settings.retrieval)
        ranked = scores.notes_in_rank_order([h.note_id for h in hits])
        recall.append(scores.recall_at_k(ranked, question.reference_note_ids, 5))
        ndcg.append(scores.ndcg_at_k(ranked, question.reference_note_ids, 10))
    total = sum(len(n) for n in library.values())
    chunks, per_note, tokens = _chunk_figures(parts, list(users.values()), total)
    return Row(method, name, total, chunks, per_note, tokens, len(asked), _mean(recall),
               _mean(ndcg), time.perf_counter() - start)


def public_run(method: str, parts: Parts, folder: Path, split: str, max_docs: int,
               max_queries: int, seed: int) -> Row:
    """One public set ingested by ``method`` and searched in the default mode (nDCG@10 only:
    the row has no recall@100, so no 200-deep search is made for it)."""
    start = time.perf_counter()
    result = beir_run.evaluate(folder, split, max_queries=max_queries, max_docs=max_docs,
                               seed=seed, configs={"default": parts.settings.retrieval},
                               parts=parts, progress=False, depth=beir_run.TOP_CHUNKS)
    described = result["set"]
    documents = int(str(described.get("documents", 0)))
    table = result["table"]
    ndcg = float(table["ndcg_at_10"].iloc[0]) if not table.empty else None
    chunks, per_note, tokens = _chunk_figures(parts, [f"beir-{folder.name}"], documents)
    return Row(method, folder.name, documents, chunks, per_note, tokens,
               int(str(described.get("queries", 0))), None, ndcg, time.perf_counter() - start)


class _Texts:
    """What each method cuts the sweep's notes into (the golden or dataset library, then each
    public set present, as the runs ingest them): a digest of every chunk's text, note by note.
    Two methods with one digest store the same chunks: the second measures nothing new."""

    def __init__(self, settings: Settings, library: Sequence[Sequence[Note]],
                 folders: Sequence[Path], split: str, max_docs: int, max_queries: int,
                 seed: int) -> None:
        self.settings, self.library = settings, [list(notes) for notes in library]
        self.folders, self.split = list(folders), split
        self.cut = (max_queries, max_docs, seed)
        self._sets: list[list[Note]] | None = None

    def _notes(self) -> list[list[Note]]:
        if self._sets is None:
            from evals.datasets.beir import load_beir, subset, to_notes

            self._sets = [*self.library, *(to_notes(subset(load_beir(f, self.split), *self.cut))
                                            for f in self.folders)]
        return self._sets

    def digest(self, method: str) -> str:
        from rag_core.ingest.chunking import chunk_note
        from rag_core.tokens import default_counter

        embedding, counter = self.settings.embedding, default_counter()
        h = hashlib.sha256()
        for notes in self._notes():
            for note in notes:
                h.update(f"{note.id}\x1f".encode())
                for draft in chunk_note(note, counter, embedding.chunk_tokens,
                                        embedding.chunk_overlap_tokens, method):
                    h.update(draft.content_hash.encode())
                h.update(b"\x1e")
            h.update(b"\x1d")
        return h.hexdigest()


def sweep(methods: Sequence[str], settings: Settings, library: Mapping[str, Sequence[Note]],
          questions: Sequence[Question], *, public_sets: Sequence[str] = (),
          data_dir: str | Path | None = None, split: str = "test", max_docs: int = 0,
          max_queries: int = 0, seed: int = 0, state_dir: str | Path | None = None
          ) -> pd.DataFrame:
    """One row per method and set (the sets absent are skipped, as in the public run). A
    method that cuts every note of every set into the chunks of a method measured before it
    (``heading`` on notes without a heading line is ``sentences``) gets that method's rows:
    its stores would hold the same rows, searched the same way."""
    from evals.datasets.beir import data_status, find_data_dir

    root = Path(data_dir) if data_dir else find_data_dir(list(public_sets)) \
        if public_sets else None
    present = [name for name in public_sets
               if root is not None and data_status(root / name, split)[0]]
    texts = _Texts(settings, [list(notes) for notes in library.values()],
                   [root / name for name in present] if root is not None else [],
                   split, max_docs, max_queries, seed)
    rows: list[Row] = []
    measured: dict[str, str] = {}  # the chunks' digest -> the method measured with them
    for method in methods:
        same = measured.setdefault(texts.digest(method), method)
        if same != method:  # the same chunks of every note: the same stores, searched alike
            rows += [replace(r, method=method) for r in rows if r.method == same]
            print(f"chunking {method}: every note of every set cut as by {same}: its rows "
                  f"({len(rows)} rows so far)", flush=True)
            continue
        parts = _parts(method, settings, state_dir)
        try:
            rows.append(notes_run(method, parts, library, questions))
            for name in present:
                assert root is not None
                rows.append(public_run(method, parts, root / name, split, max_docs,
                                       max_queries, seed))
        finally:
            parts.close()
        print(f"chunking {method}: {len(rows)} rows so far", flush=True)
    return pd.DataFrame([asdict(r) for r in rows], columns=COLUMNS)


def metrics(table: pd.DataFrame) -> dict[str, dict[str, dict[str, float | None]]]:
    """``chunking.<method>.<set>.<figure>`` for the run's summary."""
    out: dict[str, dict[str, dict[str, float | None]]] = {}
    for row in table.itertuples(index=False):
        figures = {k: (None if pd.isna(getattr(row, k)) else float(getattr(row, k)))
                   for k in ("recall_at_5", "ndcg_at_10", "chunks_per_note",
                             "tokens_per_chunk")}
        out.setdefault(str(row.method), {})[str(row.set)] = figures
    return out


def plot(table: pd.DataFrame, path: Path) -> Path | None:
    """nDCG@10 per set, a bar per method, with chunks per note written above each bar."""
    if table.empty:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sets = list(dict.fromkeys(table["set"]))
    methods = list(dict.fromkeys(table["method"]))
    width = 0.8 / max(1, len(methods))
    fig, ax = plt.subplots(figsize=(max(6.0, 1.8 * len(sets)), 4))
    for i, method in enumerate(methods):
        part = table[table["method"] == method].set_index("set").reindex(sets)
        xs = np.arange(len(sets)) + i * width
        bars = ax.bar(xs, part["ndcg_at_10"].fillna(0), width, label=method)
        for bar, per_note in zip(bars, part["chunks_per_note"], strict=True):
            if not pd.isna(per_note):
                ax.annotate(f"{per_note:.1f}", (bar.get_x() + bar.get_width() / 2,
                                                bar.get_height()),
                            ha="center", va="bottom", fontsize=7)
    ax.set_xticks(np.arange(len(sets)) + width * (len(methods) - 1) / 2, sets)
    ax.set_ylabel("nDCG@10 (by note)")
    ax.set_title("RAG_CHUNKING: nDCG@10 per set (chunks per note above each bar)")
    ax.legend(title="method")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path

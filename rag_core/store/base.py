"""The Store protocol: notes, chunks and vectors of many users, always read per user."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date
from typing import Any, Literal, Protocol

import numpy as np

from rag_core.config import Settings
from rag_core.embedding import vector_numerics
from rag_core.types import Chunk, Note

RetrievalMode = Literal["dense", "lexical", "hybrid", "hybrid_prf", "auto"]
MODES: tuple[RetrievalMode, ...] = ("dense", "lexical", "hybrid", "hybrid_prf", "auto")
# the modes that fuse a dense and a lexical candidate list
FUSED_MODES: tuple[RetrievalMode, ...] = ("hybrid", "hybrid_prf", "auto")
LexicalRanker = Literal["bm25", "ts_rank_cd"]
FusionMethod = Literal["rrf", "score"]


@dataclass(frozen=True)
class SearchParams:
    """Every knob of one search, passed by the caller on each call (built from Settings at the
    edge): the same object goes into the cache key, so a sweep that changes a knob changes both
    the search and the key.

    ``dense_depth`` / ``lexical_depth`` are the candidate lists' lengths in hybrid mode (never
    fewer than ``top_k``).  ``fusion`` is reciprocal-rank fusion (``rrf``: weight / (rrf_k +
    rank) per list) or ``score``: min-max normalised cosine and lexical scores over the
    candidates, weighted.  The defaults are Settings' defaults, except ``mode``: a bare
    ``SearchParams()`` searches dense; the service's mode comes from Settings (from_settings).

    ``hybrid_prf`` searches hybrid (fused by ``prf_first_fusion`` with the ``prf_first_*``
    weights), then again with pseudo-relevance feedback from that first pass's ``prf_docs``
    best chunks (``rag_core.store.searching.prf_search``): the query vector
    plus ``prf_vector_weight`` times their mean vector, and BM25 over the question's lexemes
    and the ``prf_terms`` most probable lexemes of those chunks (RM3: the question's lexemes
    share ``prf_query_weight``, the feedback lexemes the rest), fused with ``prf_rrf_k`` and
    ``prf_lexical_weight``. ``auto`` searches as ``hybrid_prf`` a user with at least
    ``prf_min_chunks`` chunks, as ``hybrid`` a smaller one.
    """

    mode: RetrievalMode = "dense"
    ef_search: int = 40
    iterative_scan: Literal["off", "relaxed_order", "strict_order"] = "relaxed_order"
    max_scan_tuples: int = 20_000
    user_scan_max_chunks: int = 500
    user_scan_scale: float = 25.0
    lexical_ranker: LexicalRanker = "bm25"
    bm25_k1: float = 1.2
    bm25_b: float = 0.75
    metadata_weight: float = 2.0
    fusion: FusionMethod = "rrf"
    rrf_k: int = 30
    dense_weight: float = 1.0
    lexical_weight: float = 1.5
    dense_depth: int = 50
    lexical_depth: int = 50
    prf_docs: int = 3
    prf_terms: int = 50
    prf_query_weight: float = 0.5
    prf_vector_weight: float = 0.5
    prf_rrf_k: int = 10
    prf_lexical_weight: float = 1.0
    prf_first_fusion: FusionMethod = "score"
    prf_first_dense_weight: float = 0.6
    prf_first_lexical_weight: float = 0.4
    prf_min_chunks: int = 1_000
    numerics: str = "f32"  # of the query vector (rag_core.embedding.vector_numerics)

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"unknown retrieval mode {self.mode!r}; expected one of {MODES}")

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: Any) -> SearchParams:
        s = settings
        params = cls(
            mode=s.retrieval_mode, ef_search=s.hnsw_ef_search, iterative_scan=s.iterative_scan,
            max_scan_tuples=s.hnsw_max_scan_tuples,
            user_scan_max_chunks=s.user_scan_max_chunks, user_scan_scale=s.user_scan_scale,
            lexical_ranker=s.lexical_ranker,
            bm25_k1=s.bm25_k1, bm25_b=s.bm25_b, metadata_weight=s.bm25_metadata_weight,
            fusion=s.fusion, rrf_k=s.rrf_k, dense_weight=s.fusion_dense_weight,
            lexical_weight=s.fusion_lexical_weight, dense_depth=s.dense_candidates,
            lexical_depth=s.lexical_candidates, prf_docs=s.prf_docs, prf_terms=s.prf_terms,
            prf_query_weight=s.prf_query_weight, prf_vector_weight=s.prf_vector_weight,
            prf_rrf_k=s.prf_rrf_k, prf_lexical_weight=s.prf_lexical_weight,
            prf_first_fusion=s.prf_first_fusion, prf_first_dense_weight=s.prf_first_dense_weight,
            prf_first_lexical_weight=s.prf_first_lexical_weight,
            prf_min_chunks=s.prf_min_chunks, numerics=vector_numerics(s),
        )
        return params.with_(**overrides) if overrides else params

    def with_(self, **changes: Any) -> SearchParams:
        return replace(self, **changes)


@dataclass(frozen=True)
class ChunkDraft:
    """A chunk before it is stored: its text, its place in the note and its content hash."""

    ordinal: int
    text: str
    content_hash: str


@dataclass(frozen=True)
class UpsertResult:
    note_id: str
    status: Literal["inserted", "updated", "unchanged"]
    chunks_written: int


@dataclass(frozen=True)
class NoteWrite:
    """One note of a bulk write: the note, its stored hash, its chunks and their vectors."""

    note: Note
    note_hash: str
    chunks: Sequence[ChunkDraft]
    embeddings: np.ndarray


class CostStore(Protocol):
    """Durable cost rows (the ledger's record; Redis holds only the running totals)."""

    def add_cost(self, day: date | str, user_id: str, cost_usd: float, input_tokens: int,
                 output_tokens: int) -> object: ...

    def costs_for_day(self, day: date | str) -> list[dict[str, Any]]: ...

    def day_totals(self, day: date | str, user_id: str) -> tuple[float, float]:
        """The user's and everyone's recorded spend of that day (dollars)."""


class Store(CostStore, Protocol):
    def ensure_schema(self) -> Any: ...

    def note_hash(self, user_id: str, note_id: str) -> str | None:
        """The content hash of a stored note, or None when the user has no such note."""

    def note_hashes(self, user_id: str, note_ids: Sequence[str]) -> dict[str, str]:
        """The content hashes of those of ``note_ids`` the user has (one round trip)."""

    def upsert_note(
        self,
        user_id: str,
        note: Note,
        note_hash: str,
        chunks: Sequence[ChunkDraft],
        embeddings: np.ndarray,
    ) -> UpsertResult: ...

    def upsert_notes(self, user_id: str, items: Sequence[NoteWrite]) -> list[UpsertResult]:
        """Several notes in one transaction (unchanged hashes skipped), results in order."""

    def delete_note(self, user_id: str, note_id: str) -> bool: ...

    def notes_version(self, user_id: str) -> int:
        """A counter bumped by every add, edit and delete of this user's notes."""

    def list_notes(self, user_id: str, *, after: str = "",
                   limit: int | None = None) -> list[dict[str, Any]]:
        """The user's notes in id order, those after ``after``, at most ``limit``:
        ``note_id``, ``title``, ``content_hash``, ``updated_at`` (and more)."""

    def user_texts(self, user_id: str) -> list[tuple[str, str, dict[str, Any]]]:
        """(note id, text, the note's front matter) of every chunk: the no-context decision's
        facts (``rag_core.decisions.note_facts``)."""

    def search(
        self,
        user_id: str,
        embedding: np.ndarray | None,
        top_k: int,
        *,
        query_text: str | None = None,
        params: SearchParams | None = None,
        min_version: int | None = None,
    ) -> list[Chunk]:
        """The user's best chunks, best first; ``Chunk.score`` is cosine similarity.

        ``params`` carries every knob (default ``SearchParams()``, dense). ``min_version``: the
        user's notes version the answer must reflect (a read replica that has not replayed it
        yet is skipped)."""

    def ping(self) -> bool: ...

    def replica_status(self) -> dict[str, Any] | None:
        """The read replica's state for readiness, or None without one."""

    def close(self) -> None: ...

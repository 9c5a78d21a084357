"""What names an answer in L1: the shape of its settings (``redis_kv.keys.answer_shape``), the
search it ran, the prompt, the user, the question, top_k and filters. The parts that are the
same for every question of one shape and params are encoded once; a question's slot is kept for
recent questions, so one asked again is not hashed again.

The shape's embedding part names the numerics of the vectors, which follow the embedding runtime
in use: after a runtime fell back (``embedding.fallback``) the shape is made again from the
embedding section and the memos are dropped, so no answer of one numerics is found under the
other's key.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache

from rag_core.config import Embedding, Retrieval
from rag_core.embedding.base import numerics_generation
from rag_core.llm.prompt import prompt_id
from rag_core.redis_kv.keys import (
    VersionSlot,
    answer_parts,
    embedding_shape,
    normalize_query,
    query_slot,
)
from rag_core.store.filters import NO_FILTERS, Filters


@dataclass
class AnswerKeys:
    shape: Mapping[str, object]  # what names every answer of these settings (answer_shape)
    # what names the vectors: the shape's numerics follow the embedding runtime in use
    embedding: Embedding | None = None
    # the answer key's parts that do not change per question, by params (for ``shape``)
    _answer_parts: dict[Retrieval, Mapping[str, object]] = field(
        default_factory=dict, init=False, repr=False)
    # a question's L1 slot, kept for recent questions: one asked again is not hashed again
    slot: Callable[..., VersionSlot] = field(init=False, repr=False)
    _numerics: int = field(default=0, init=False, repr=False)  # the numerics_generation seen

    def __post_init__(self) -> None:
        self.slot = lru_cache(maxsize=4096)(self._slot)
        self._numerics = numerics_generation()

    def __call__(self, params: Retrieval, user_id: str, question: str, top_k: int,
                 filters: Filters = NO_FILTERS) -> VersionSlot:
        """The question's L1 slot, its notes version left open."""
        self._follow_runtime()
        return self.slot(params, user_id, question, top_k, filters)

    def _follow_runtime(self) -> None:
        generation = numerics_generation()
        if generation == self._numerics:
            return
        self._numerics = generation
        if self.embedding is not None:
            self.shape = {**self.shape, "embedding": embedding_shape(self.embedding)}
        self._answer_parts.clear()
        self.slot.cache_clear()  # type: ignore[attr-defined]

    def _slot(self, params: Retrieval, user_id: str, question: str, top_k: int,
              filters: Filters = NO_FILTERS) -> VersionSlot:
        parts = self._answer_parts.get(params)
        if parts is None:  # the same for every question of these settings and params
            if len(self._answer_parts) >= 64:  # a sweep of many params: keep a few
                self._answer_parts.clear()
            parts = self._answer_parts[params] = answer_parts(self.shape, params, prompt_id())
        return query_slot(parts, user_id, normalize_query(question), top_k, filters)


__all__ = ["AnswerKeys"]

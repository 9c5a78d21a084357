"""The read-through layers over one plain cache: L2 (a question's embedding, in Redis) and L3
(the chunks a search retrieved, in process), and the outcome every layer reports for a read.

Each layer owns its key, its codec and its TTL: the pipeline asks for a vector or a list of
chunks and never sees bytes or key formats.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from rag_core.cache.base import Cache
from rag_core.config import Caches, Embedding, Retrieval
from rag_core.embedding import vector_numerics
from rag_core.redis_kv import codec
from rag_core.redis_kv.keys import context_key, embedding_key, normalize_query
from rag_core.store.filters import NO_FILTERS, Filters
from rag_core.types import CacheOutcome, Chunk

if TYPE_CHECKING:
    import numpy as np


def outcome(cache: Cache, value: object) -> CacheOutcome:
    if not cache.enabled:
        return "off"
    return "hit" if value is not None else "miss"


@dataclass
class EmbeddingLayer:
    """L2: question vectors, per user."""

    caches: Caches  # the TTL
    embedding: Embedding  # what names a vector
    cache: Cache

    def vector(self, user_id: str, text: str, dim: int,
               embed: Callable[[str], np.ndarray], *, read: bool = True,
               write: bool = True) -> tuple[np.ndarray, CacheOutcome]:
        """The question's vector, from L2 or from ``embed`` (then stored). Keys are per user:
        whether someone else asked the same words stays unknowable. ``read``/``write`` false:
        L2 is not read / not written (a request's cache controls, ``cache.control``)."""
        key = embedding_key(self.embedding, user_id, normalize_query(text))
        raw = self.cache.get(key) if read else None
        if raw is not None:
            return codec.unpack_vector(raw, dim), outcome(self.cache, raw)
        vector = embed(text)
        if write:
            self.cache.set(key, codec.pack_vector(vector), self.caches.embedding_cache_ttl_s)
        return vector, outcome(self.cache, raw)


@dataclass
class ContextLayer:
    """L3: the chunks retrieved for a question, per user and notes version."""

    caches: Caches  # the TTL
    embedding: Embedding  # the numerics of the question's vector
    cache: Cache

    def chunks(self, params: Retrieval, user_id: str, notes_version: int,
               question: str, top_k: int, search: Callable[[], list[Chunk]],
               filters: Filters = NO_FILTERS, *, read: bool = True, write: bool = True
               ) -> tuple[list[Chunk], CacheOutcome]:
        """The chunks, from L3 or from ``search`` (then stored); ``read``/``write`` as for
        ``EmbeddingLayer.vector``."""
        key = context_key(params, user_id, notes_version, normalize_query(question), top_k,
                          filters, numerics=vector_numerics(self.embedding))
        raw = self.cache.get(key) if read else None
        if raw is not None:
            return [Chunk(**c) for c in codec.unpack(raw)], outcome(self.cache, raw)
        chunks = search()
        # each chunk's fields as they are: packing copies them (``asdict`` deep-copied every
        # chunk's front matter first)
        if write:
            self.cache.set(key, codec.pack([vars(c) for c in chunks]),
                           self.caches.context_cache_ttl_s)
        return chunks, outcome(self.cache, raw)

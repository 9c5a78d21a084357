"""The cache layers of the pipeline, built from Settings in one place.

L1 query result and L2 embedding live in Redis (shared by every worker), L3 context in process
(bounded in bytes), plus the semantic cache and the stale store. Without a Redis client every
layer is in process, which suits unit tests and a single process.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import redis

from rag_core.cache.base import CacheStats
from rag_core.cache.keys import user_prefix
from rag_core.cache.memory import MemoryCache, NullCache
from rag_core.cache.redis_cache import RedisCache
from rag_core.cache.semantic import SemanticCache
from rag_core.config import Settings


class StaleStore:
    """The last good answer per query key, kept longer than its TTL for the breaker's fallback.

    Keys embed the notes version, so a stale answer is never one built from older notes than
    the user has now.
    """

    def __init__(self, backend: Any, ttl_s: int) -> None:
        self.backend = backend
        self.ttl_s = ttl_s

    @staticmethod
    def _key(query_key: str) -> str:
        return query_key.replace("rag:query:", "rag:stale:", 1)

    def put(self, query_key: str, answer: bytes) -> None:
        self.backend.set(self._key(query_key), answer, self.ttl_s)

    def get(self, query_key: str) -> bytes | None:
        return self.backend.get(self._key(query_key))  # type: ignore[no-any-return]


@dataclass
class CacheLayers:
    query: Any
    embedding: Any
    context: Any
    semantic: SemanticCache
    stale: StaleStore
    semantic_enabled: bool

    @classmethod
    def from_settings(cls, settings: Settings, client: redis.Redis | None) -> CacheLayers:
        def shared(layer: str) -> Any:
            if not settings.cache_enabled:
                return NullCache(layer)
            if client is not None:
                return RedisCache(layer, client)
            return MemoryCache(layer, settings.cache_max_entries, settings.context_cache_max_bytes)

        context: Any = (MemoryCache("context", settings.cache_max_entries,
                                    settings.context_cache_max_bytes)
                        if settings.cache_enabled else NullCache("context"))
        stale_backend = (RedisCache("stale", client) if client is not None
                         else MemoryCache("stale", settings.cache_max_entries))
        return cls(
            query=shared("query"),
            embedding=shared("embedding"),
            context=context,
            semantic=SemanticCache(client, settings),
            stale=StaleStore(stale_backend, settings.stale_ttl_s),
            semantic_enabled=settings.cache_enabled and settings.semantic_cache_enabled,
        )

    def stats(self) -> dict[str, CacheStats]:
        out = {name: getattr(self, name).stats() for name in ("query", "embedding", "context")}
        out["semantic"] = CacheStats("semantic", hits=self.semantic.hits,
                                     misses=self.semantic.misses)
        return out

    def clear(self, user_id: str | None) -> int:
        """Every layer, or one user's entries (embeddings are not per user and stay)."""
        removed = 0
        for name in ("query", "context"):
            removed += getattr(self, name).clear(user_prefix(name, user_id))
        removed += self.semantic.clear(user_prefix("semantic", user_id))
        removed += self.stale.backend.clear(user_prefix("stale", user_id))
        if user_id is None:
            removed += self.embedding.clear(user_prefix("embedding", None))
        return removed

    def ping(self) -> bool:
        return bool(self.query.ping())

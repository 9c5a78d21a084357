"""Cache layers: L1 query result, L2 embedding, L3 context, semantic cache, stale store."""

from rag_core.cache.base import Cache, CacheStats

__all__ = ["Cache", "CacheStats"]

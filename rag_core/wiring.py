"""Build the pipeline's parts from Settings: the one place that knows every implementation."""

from __future__ import annotations

from typing import Any

from rag_core import services
from rag_core.config import Settings


def build_parts(settings: Settings, *, start_services: bool = True) -> dict[str, Any]:
    """Store, embedder, caches, generator and ledger for ``Pipeline(settings, **parts)``.

    Without ``DATABASE_URL`` / ``REDIS_URL`` the embedded servers are started (or reused).
    """
    from rag_core.cache.layers import CacheLayers
    from rag_core.cache.redis_cache import make_redis_client
    from rag_core.costs import CostLedger
    from rag_core.embedding import build_embedder
    from rag_core.llm import build_generator
    from rag_core.store import PgVectorStore

    if start_services:
        settings = services.resolve(settings)
    store = PgVectorStore(settings)
    store.ensure_schema()
    redis_client = make_redis_client(settings.redis_url, settings) if settings.redis_url else None
    return {
        "store": store,
        "embedder": build_embedder(settings),
        "caches": CacheLayers.from_settings(settings, redis_client),
        "generator": build_generator(settings, redis_client),
        "ledger": CostLedger(redis_client, settings, store=store),
    }

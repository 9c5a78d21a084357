"""Each user's share of the cache layers, for ``/v1/stats``: the entries the user holds in
each layer, the most one user may hold while others hold entries (``redis_kv.writes``'s
``user_share``), and the layer's bound across all users."""

from __future__ import annotations

from typing import Any

from rag_core.cache.base import Cache
from rag_core.config import Caches
from rag_core.redis_kv.keys import user_prefix
from rag_core.redis_kv.writes import user_share

LAYERS = ("query", "stale", "semantic", "embedding", "context")


def layer_share(cache: Any, caches: Caches, layer: str, user_id: str) -> dict[str, int]:
    held = cache.user_entries(user_id) if getattr(cache, "enabled", True) else 0
    bound = caches.layer_bound(layer)
    return {"entries": int(held), "most_while_shared": user_share(bound), "layer_bound": bound}


def user_shares(layers: Any, user_id: str) -> dict[str, dict[str, int]]:
    """``{layer: {"entries", "most_while_shared", "layer_bound"}}`` for ``user_id``
    (``layers``: a ``CacheLayers``)."""
    out = {}
    for name in LAYERS:
        cache: Cache | Any = getattr(layers, name)
        if name == "semantic":
            cache = cache.layer if cache.layer is not None else _LocalSemantic(cache)
        out[name] = layer_share(cache, layers.sections.caches, name, user_id)
    return out


class _LocalSemantic:
    """The in-process semantic cache counted per user (its scopes start with the user)."""

    def __init__(self, semantic: Any) -> None:
        self.semantic = semantic

    def user_entries(self, user_id: str) -> int:
        prefix = user_prefix("semantic", user_id)
        with self.semantic._lock:
            return sum(len(bucket) for scope, bucket in self.semantic._local.items()
                       if scope.startswith(prefix))

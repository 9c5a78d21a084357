"""Each user's share of the cache layers, for ``/v1/stats``: the entries the user holds in
each layer, the most one user may hold while others hold entries (``redis_kv.writes``'s
``user_share``), and the layer's bound across all users."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from rag_core.config import Caches
from rag_core.redis_kv.keys import user_prefix
from rag_core.redis_kv.writes import user_share

if TYPE_CHECKING:
    from rag_core.cache.layers import CacheLayers
    from rag_core.cache.semantic import SemanticCache

LAYERS = ("query", "stale", "semantic", "embedding", "context")


class Counted(Protocol):
    """A layer that counts the entries each user holds."""

    def user_entries(self, user_id: str) -> int: ...


def layer_share(cache: Counted, caches: Caches, layer: str, user_id: str) -> dict[str, int]:
    held = cache.user_entries(user_id) if getattr(cache, "enabled", True) else 0
    bound = caches.layer_bound(layer)
    return {"entries": int(held), "most_while_shared": user_share(bound), "layer_bound": bound}


def user_shares(layers: CacheLayers, user_id: str) -> dict[str, dict[str, int]]:
    """``{layer: {"entries", "most_while_shared", "layer_bound"}}`` for ``user_id``."""
    out = {}
    for name in LAYERS:
        if name == "semantic":
            semantic = layers.semantic
            cache: Counted = (semantic.layer if semantic.layer is not None
                              else _LocalSemantic(semantic))
        else:
            cache = getattr(layers, name)
        out[name] = layer_share(cache, layers.sections.caches, name, user_id)
    return out


class _LocalSemantic:
    """The in-process semantic cache counted per user (its scopes start with the user)."""

    def __init__(self, semantic: SemanticCache) -> None:
        self.semantic = semantic

    def user_entries(self, user_id: str) -> int:
        prefix = user_prefix("semantic", user_id)
        with self.semantic._lock:
            return sum(len(bucket) for scope, bucket in self.semantic._local.items()
                       if scope.startswith(prefix))

"""``POST /v1/query``'s ``cache`` block (``QueryIn.cache``) as the pipeline's ``CacheControl``,
and the server's say on who may send one (``RAG_CACHE_CONTROLS_SCOPE``; see
``rag_core.cache.control``)."""

from __future__ import annotations

from collections.abc import Collection

from rag_core.api.schemas import QueryIn
from rag_core.cache.control import NO_CONTROL, CacheControl, allowed
from rag_core.config import Caches


def control_for(body: QueryIn) -> CacheControl:
    """The question's cache controls (none sent: the plain behaviour)."""
    if body.cache is None:
        return NO_CONTROL
    return CacheControl(no_cache=body.cache.no_cache, no_store=body.cache.no_store,
                        max_age_s=body.cache.max_age_s)


def echo_for(body: QueryIn) -> CacheControl | None:
    """The controls to echo in the answer's ``cache`` block: those the question sent."""
    return control_for(body) if body.cache is not None else None


def check_controls(body: QueryIn, caches: Caches, scopes: Collection[str]) -> None:
    """Refuse (403 ``FORBIDDEN``) controls this caller may not send (``caches``'
    ``cache_controls_scope``); count those it may (``cache_controls_total``), once per
    question."""
    control = control_for(body)
    allowed(control, caches.cache_controls_scope, scopes)
    control.count()

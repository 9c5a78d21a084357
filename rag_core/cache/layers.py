"""The cache layers of the pipeline, built from Settings in one place (``layers_for``), and the
one object that routes to them, holding only the sections of Settings it needs.

L1 query result and L2 embedding live in Redis (shared by every worker), L3 context in process
(bounded in bytes), plus the semantic cache and the stale store. Without a Redis client every
layer is in process, which suits unit tests and a single process.

Each layer owns its key, its codec and its TTL, in an object of its own: ``AnswerLayer`` (L1
with its stale twins and semantic entries), ``EmbeddingLayer`` and ``ContextLayer``
(``read_through``), ``VersionLayer`` (the notes version every answer key names). The pipeline
calls those objects directly (``caches.answers.lookup``, ``caches.vectors.vector``,
``caches.chunks.chunks``, ``caches.notes.changed``) and never sees bytes or key formats;
``CacheLayers`` holds them and does what spans every layer (stats, clearing, closing).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace

from rag_core.cache.answer_layer import AnswerLayer
from rag_core.cache.base import Cache, CacheStats
from rag_core.cache.counters import COUNTS, SharedCounters
from rag_core.cache.memory import MemoryCache, NullCache
from rag_core.cache.owned_cache import OwnedRedisCache
from rag_core.cache.read_through import ContextLayer, EmbeddingLayer
from rag_core.cache.redis_cache import RedisCache
from rag_core.cache.semantic import SemanticCache, semantic_for
from rag_core.cache.version_layer import VersionLayer
from rag_core.cache.versioned_read import VersionedRead
from rag_core.cache.versions import NotesVersions
from rag_core.config import Caches, DecisionSettings, Embedding, Settings, fixed
from rag_core.decisions.judges import SemanticJudge
from rag_core.redis_kv.client import RedisClient
from rag_core.redis_kv.keys import answer_shape, cache_counters_key, user_prefix
from rag_core.redis_kv.restarts import watch_of
from rag_core.store.version_debts import VersionDebts


@dataclass(frozen=True)
class LayerSections:
    """What the layers hold of Settings (never the whole): the caches section (on or off,
    TTLs, bounds), the embedding section (what names a vector), the decisions section (whether
    reworded questions reuse answers) and the answer key's shape (``answer_shape``)."""

    caches: Caches
    embedding: Embedding
    decisions: DecisionSettings
    shape: Mapping[str, object]

    @classmethod
    def of(cls, settings: Settings) -> LayerSections:
        return cls(settings.caches, settings.embedding, settings.decisions,
                   answer_shape(settings))


@dataclass
class CacheLayers:
    sections: LayerSections
    query: Cache
    embedding: Cache
    context: Cache
    semantic: SemanticCache
    stale: Cache
    versions: Cache
    # the notes version and the answer it names in one round trip (single Redis server only)
    versioned: VersionedRead | None = None
    # hits, misses, ... of every process, in Redis (None without Redis: this process's own)
    counters: SharedCounters | None = None
    # one object per layer, made from the fields above (anew by ``dataclasses.replace``)
    notes: VersionLayer = field(init=False, repr=False)
    answers: AnswerLayer = field(init=False, repr=False)
    vectors: EmbeddingLayer = field(init=False, repr=False)
    chunks: ContextLayer = field(init=False, repr=False)

    def __post_init__(self) -> None:
        held = self.sections
        self.notes = VersionLayer(self.versions, NotesVersions(
            self.versions, fixed.NOTES_VERSION_TTL_S, self.purge_user))
        self.answers = AnswerLayer(held.caches, held.decisions, held.shape, self.query,
                                   self.stale, self.semantic, self.notes, self.versioned,
                                   held.embedding)
        self.vectors = EmbeddingLayer(held.caches, held.embedding, self.embedding)
        self.chunks = ContextLayer(held.caches, held.embedding, self.context)

    def under(self, settings: Settings, judge: SemanticJudge) -> CacheLayers:
        """The same layers (their entries and connections shared) under other settings: the
        answer keys of those settings, and their semantic decisions (``judge``: the one
        ``parts.build_judges`` built of them)."""
        return replace(self, sections=LayerSections.of(settings),
                       semantic=self.semantic.with_judge(judge))

    @property
    def truth(self) -> NotesVersions:
        """The notes version in Redis held to PostgreSQL's (set: one view for several copies)."""
        return self.notes.truth

    @truth.setter
    def truth(self, truth: NotesVersions) -> None:
        self.notes.truth = truth

    # --- housekeeping: what spans the layers --------------------------------------------

    def purge_user(self, user_id: str) -> int:
        """``forget_notes`` that raises when Redis fails (so that it is retried)."""
        removed = 0
        for cache in (self.query, self.context, self.stale):
            purge = getattr(cache, "purge", cache.clear)
            removed += purge(user_prefix(cache.layer, user_id))
        return removed + self.semantic.purge(user_prefix("semantic", user_id))

    def stats(self) -> dict[str, CacheStats]:
        """Per layer: the counts of every process sharing this Redis (without Redis, this
        process's); ``entries`` and ``bytes`` (Redis's ``MEMORY USAGE`` of the layer's keys
        and index, or the values' sizes in process) as this process sees them (context lives
        in each process); ``stale`` holds the answer bodies ``query`` entries point to."""
        out = {name: getattr(self, name).stats()
               for name in ("query", "embedding", "context", "semantic", "stale")}
        if self.counters is not None:
            shared = self.counters.read()
            for name, stats in out.items():
                counts = shared.get(name, {})
                out[name] = replace(stats, **{c: counts.get(c, 0) for c in COUNTS})
        return out

    def close(self) -> None:
        """Send this process's last counts; stop polling for notes version debts."""
        self.truth.close()
        if self.counters is not None:
            self.counters.close()

    def forget_notes(self, user_id: str) -> int:
        """After a user's notes changed: drop that user's answers, stale answers, semantic
        entries and contexts of older versions (they are unreachable already; this also takes
        their text out of Redis). The user's question embeddings stay: they do not depend on
        notes."""
        removed = 0
        for cache in (self.query, self.context, self.stale):
            removed += cache.clear(user_prefix(cache.layer, user_id))
        removed += self.semantic.clear(user_prefix("semantic", user_id))
        return removed

    def clear(self, user_id: str | None) -> int:
        """Every layer, or every entry of one user."""
        removed = self.forget_notes(user_id) if user_id is not None else sum(
            cache.clear(user_prefix(cache.layer, None))
            for cache in (self.query, self.context, self.stale)) + self.semantic.clear()
        return removed + self.embedding.clear(user_prefix("embedding", user_id))

    def ping(self) -> bool:
        return bool(self.query.ping())


def layers_for(settings: Settings, client: RedisClient | None, *, judge: SemanticJudge,
               clock: Callable[[], float] | None = None,
               version_debts: VersionDebts | None = None) -> CacheLayers:
    """The cache layers of ``settings`` (built in ``rag_core.parts``); ``judge``: the
    semantic one (``parts.build_judges``). ``clock`` (seconds)
    drives the expiry of the in-process context cache and of the semantic entries: the harness
    replays a month of traffic on simulated time. ``version_debts``: the notes versions
    PostgreSQL records as not yet in Redis (the store's), so that a change whose process died is
    not undone by Redis's copy."""
    bounds = settings.caches
    counters = SharedCounters(client, cache_counters_key()) if client is not None else None

    def shared(layer: str) -> Cache:
        if not bounds.cache_enabled:
            return NullCache(layer)
        if client is not None:
            return RedisCache(layer, client, clock or time.time,
                              max_entries=bounds.layer_bound(layer), counters=counters)
        return MemoryCache(layer, bounds.layer_bound(layer), fixed.CONTEXT_CACHE_MAX_BYTES)

    context: Cache = (MemoryCache("context", bounds.layer_bound("context"),
                                  fixed.CONTEXT_CACHE_MAX_BYTES,
                                  **({"clock": clock} if clock else {}), counters=counters)
                      if bounds.cache_enabled else NullCache("context"))
    stale: Cache = (RedisCache("stale", client, clock or time.time,
                               max_entries=bounds.layer_bound("stale"), counters=counters)
                    if client is not None else MemoryCache("stale", bounds.layer_bound("stale")))
    versions: Cache = (OwnedRedisCache("version", client) if client is not None
                       else MemoryCache("version", bounds.cache_max_entries))
    query = shared("query")
    versioned = (VersionedRead(versions, query) if isinstance(versions, OwnedRedisCache)
                 and isinstance(query, RedisCache) else None)
    semantic = semantic_for(client, settings, **({"clock": clock} if clock else {}),
                            counters=counters, judge=judge)
    layers = CacheLayers(sections=LayerSections.of(settings), query=query,
                         embedding=shared("embedding"), context=context, stale=stale,
                         versions=versions, versioned=versioned, semantic=semantic,
                         counters=counters)
    layers.truth = NotesVersions(versions, fixed.NOTES_VERSION_TTL_S, layers.purge_user,
                                 watch_of(client) if client is not None else None,
                                 version_debts if client is not None else None)
    return layers

"""The cache layers of the pipeline, built from Settings in one place.

L1 query result and L2 embedding live in Redis (shared by every worker), L3 context in process
(bounded in bytes), plus the semantic cache and the stale store. Without a Redis client every
layer is in process, which suits unit tests and a single process.

Each layer owns its key, its codec and its TTL: the pipeline asks for an answer, a vector or a
list of chunks (read-through helpers below) and never sees bytes or key formats.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np

from rag_core import observability as obs
from rag_core.cache import answer_codec
from rag_core.cache.answer_codec import IN_STALE, fitting
from rag_core.cache.answer_codec import stale_twin as _twin
from rag_core.cache.base import Cache, CacheStats
from rag_core.cache.counters import COUNTS, SharedCounters
from rag_core.cache.memory import MemoryCache, NullCache
from rag_core.cache.redis_cache import OwnedRedisCache, RedisCache, VersionedRead
from rag_core.cache.semantic import SemanticCache
from rag_core.cache.versions import NotesVersions
from rag_core.config import Settings, fixed
from rag_core.decisions.semantic_evidence import Similar
from rag_core.embedding import vector_numerics
from rag_core.redis_kv import codec
from rag_core.redis_kv.client import RedisClient
from rag_core.redis_kv.keys import (
    VersionSlot,
    answer_parts,
    cache_counters_key,
    context_key,
    embedding_key,
    normalize_query,
    notes_version_key,
    query_slot,
    user_prefix,
)
from rag_core.redis_kv.restarts import watch_of
from rag_core.redis_kv.writes import Condition, Put
from rag_core.store.base import SearchParams
from rag_core.store.filters import NO_FILTERS, Filters
from rag_core.store.version_debts import VersionDebts
from rag_core.types import Answer, CacheOutcome, Chunk


def outcome(cache: Cache, value: object) -> CacheOutcome:
    if not cache.enabled:
        return "off"
    return "hit" if value is not None else "miss"


Write = tuple[Cache, str, bytes, int]  # a layer, a key, a value, a TTL


@dataclass
class CacheLayers:
    settings: Settings
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
    # the answer key's parts that do not change per question, by params (for ``settings``;
    # not passed on by ``dataclasses.replace``: a copy under other settings starts empty)
    _answer_parts: dict[SearchParams, Mapping[str, object]] = field(
        default_factory=dict, init=False, repr=False)
    # the notes version in Redis held to PostgreSQL's (failed writes redone, restarts noticed)
    truth: NotesVersions = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.truth = NotesVersions(self.versions, fixed.NOTES_VERSION_TTL_S,
                                   self.purge_user)

    @classmethod
    def from_settings(cls, settings: Settings, client: RedisClient | None, *,
                      clock: Callable[[], float] | None = None,
                      version_debts: VersionDebts | None = None) -> CacheLayers:
        """``clock`` (seconds) drives the expiry of the in-process context cache and of the
        semantic entries: the harness replays a month of traffic on simulated time.
        ``version_debts``: the notes versions PostgreSQL records as not yet in Redis (the
        store's), so that a change whose process died is not undone by Redis's copy."""
        counters = (SharedCounters(client, cache_counters_key()) if client is not None
                    else None)

        def shared(layer: str) -> Cache:
            if not settings.cache_enabled:
                return NullCache(layer)
            if client is not None:
                return RedisCache(layer, client, clock or time.time,
                                  max_entries=settings.layer_bound(layer), counters=counters)
            return MemoryCache(layer, settings.layer_bound(layer),
                               fixed.CONTEXT_CACHE_MAX_BYTES)

        context: Cache = (MemoryCache("context", settings.layer_bound("context"),
                                      fixed.CONTEXT_CACHE_MAX_BYTES,
                                      **({"clock": clock} if clock else {}), counters=counters)
                          if settings.cache_enabled else NullCache("context"))
        stale: Cache = (RedisCache("stale", client, clock or time.time,
                                   max_entries=settings.layer_bound("stale"), counters=counters)
                        if client is not None
                        else MemoryCache("stale", settings.layer_bound("stale")))
        versions: Cache = (OwnedRedisCache("version", client) if client is not None
                           else MemoryCache("version", settings.cache_max_entries))
        query = shared("query")
        versioned = (VersionedRead(versions, query) if isinstance(versions, OwnedRedisCache)
                     and isinstance(query, RedisCache) else None)
        layers = cls(settings=settings, query=query, embedding=shared("embedding"),
                     context=context, stale=stale, versions=versions, versioned=versioned,
                     semantic=SemanticCache(client, settings,
                                            **({"clock": clock} if clock else {}),
                                            counters=counters),
                     counters=counters)
        layers.truth = NotesVersions(versions, fixed.NOTES_VERSION_TTL_S, layers.purge_user,
                                     watch_of(client) if client is not None else None,
                                     version_debts if client is not None else None)
        return layers

    @property
    def semantic_enabled(self) -> bool:
        return (self.settings.cache_enabled and self.settings.semantic_cache_enabled
                and self.settings.semantic_mode != "off")

    # --- the notes version: what every key of a user's answers names ----------------------

    def notes_version(self, user_id: str, read: Callable[[str], int]) -> int:
        """The user's notes version from Redis; from PostgreSQL (``read``) when Redis does not
        have it (new, expired, evicted, restarted, or written through a master that a failover
        replaced: ``OwnedRedisCache``), written back only if nobody
        wrote a newer one meanwhile. An L1 hit therefore needs no database."""
        raw = self.versions.get(notes_version_key(user_id))
        if raw is not None:
            return int(raw)
        return self._version_from_store(user_id, read)

    def _version_from_store(self, user_id: str, read: Callable[[str], int]) -> int:
        version = read(user_id)
        self.versions.add(notes_version_key(user_id), str(version).encode(),
                          fixed.NOTES_VERSION_TTL_S)
        return version

    def notes_changed(self, user_id: str, version: int) -> bool:
        """After a change of the user's notes (``version`` read from PostgreSQL after it):
        the new version for everyone at once, and the older entries purged. False when Redis
        did not take both: they are redone before Redis answers for that user again
        (``cache.versions``), and meanwhile the version comes from PostgreSQL."""
        return self.truth.changed(user_id, version)

    def purge_user(self, user_id: str) -> int:
        """``forget_notes`` that raises when Redis fails (so that it is retried)."""
        removed = 0
        for cache in (self.query, self.context, self.stale):
            purge = getattr(cache, "purge", cache.clear)
            removed += purge(user_prefix(cache.layer, user_id))
        return removed + self.semantic.purge(user_prefix("semantic", user_id))

    # --- L1: answers -----------------------------------------------------------------------

    def answer_key(self, params: SearchParams, user_id: str, notes_version: int,
                   question: str, top_k: int, filters: Filters = NO_FILTERS) -> str:
        return self._slot(params, user_id, question, top_k, filters).key(notes_version)

    def _slot(self, params: SearchParams, user_id: str, question: str, top_k: int,
              filters: Filters = NO_FILTERS) -> VersionSlot:
        parts = self._answer_parts.get(params)
        if parts is None:  # the same for every question of these settings and params
            # imported here: the prompt pulls in the sanitiser (its patterns compile on import),
            # which commands that only read the caches (``rag-core cache stats``) do not need
            from rag_core.llm.prompt import prompt_id

            if len(self._answer_parts) >= 64:  # a sweep of many params: keep a few
                self._answer_parts.clear()
            parts = self._answer_parts[params] = answer_parts(self.settings, params, prompt_id())
        return query_slot(parts, user_id, normalize_query(question), top_k, filters)

    def lookup_answer(self, params: SearchParams, user_id: str, question: str, top_k: int,
                      read: Callable[[str], int], filters: Filters = NO_FILTERS
                      ) -> tuple[int, str, Answer | None, CacheOutcome]:
        """Step 2: the user's notes version (as ``notes_version`` finds it), the question's L1
        key under that version, and the answer kept there with its outcome. On a single Redis
        server the version and the answer come in one round trip (``VersionedRead``); without
        a version in Redis, or elsewhere, the version first and then the answer."""
        slot = self._slot(params, user_id, question, top_k, filters)
        epoch = self.truth.epoch()
        if not self.truth.trusted(user_id):  # Redis's copy may be older: PostgreSQL's
            version = read(user_id)
            return (version, slot.key(version), *self.get_answer(slot.key(version)))
        found = (self.versioned.get(notes_version_key(user_id), slot.head, slot.tail,
                                    (_twin(slot.head), IN_STALE))
                 if self.versioned is not None else None)
        if found is not None and found[0] is not None and self.truth.epoch() == epoch:
            version, raw = int(found[0]), found[1]
            return (version, slot.key(version), _answer(raw) if raw is not None else None,
                    outcome(self.query, raw))
        if self.truth.epoch() != epoch:  # the read met a restarted Redis: not trusted
            version = read(user_id)
            self.truth.trusted(user_id)  # its versions dropped, when it answers
        else:
            version = (self._version_from_store(user_id, read) if found is not None
                       else self.notes_version(user_id, read))
            if self.truth.epoch() != epoch:
                version = read(user_id)
        key = slot.key(version)
        return (version, key, *self.get_answer(key))

    def get_answer(self, key: str) -> tuple[Answer | None, CacheOutcome]:
        if isinstance(self.query, RedisCache):  # the body is the stale twin's (answer_codec)
            raw = self.query.get_through(key, _twin(key), IN_STALE)
        else:
            raw = self.query.get(key)
            raw = self.stale.get(_twin(key)) if raw == IN_STALE else raw
        return (_answer(raw) if raw is not None else None), outcome(self.query, raw)

    def put_answer(self, key: str, answer: Answer, *, user_id: str, notes_version: int,
                   question: str, vector: np.ndarray | None,
                   evidence: Sequence[Chunk] = (), filters: Filters = NO_FILTERS) -> None:
        """Write a generated answer to L1, to the stale store and to the semantic cache (with
        the chunks it was built from, for later decisions; among the answers of its
        ``filters``): its body once, under the stale
        key, which the other two name (``answer_codec``)."""
        payload = answer_codec.pack(answer.to_dict())
        writes = self._answer_writes(key, payload)
        semantic = (self.semantic.entry(user_id, notes_version, question, vector, payload,
                                        self.settings.query_cache_ttl_s, evidence,
                                        filters, answer_at=_twin(key))
                    if self.semantic_enabled and vector is not None else None)
        self._store_if_current(user_id, notes_version, writes, semantic)

    def _answer_writes(self, key: str, payload: bytes) -> list[Write]:
        """An answer's body under the stale twin of ``key``, and ``key`` naming it."""
        return [(self.query, key, IN_STALE, self.settings.query_cache_ttl_s),
                (self.stale, _twin(key), payload, fixed.STALE_TTL_S)]

    def put_no_context(self, key: str, answer: Answer, *, user_id: str,
                       notes_version: int) -> None:
        """A "nothing in your notes" answer in L1 (the key names the notes version and every
        setting of the decision): asked again, it costs a lookup instead of a search and a
        parse. Not kept as a stale answer (no model was involved) nor as a semantic entry (a
        paraphrase is decided on its own retrieval)."""
        self._store_if_current(user_id, notes_version, [
            (self.query, key, answer_codec.pack(answer.to_dict()),
             self.settings.query_cache_ttl_s)])

    def put_reused(self, key: str, answer: Answer, decision: dict[str, Any], *,
                   user_id: str, notes_version: int) -> None:
        """A paraphrase's reused answer under the new question's own L1 key (and in the stale
        store), with the decision that reused it: asked again, the new question is an exact
        hit instead of another semantic decision. Not added to the semantic index, so that
        reuse never chains from one paraphrase to the next."""
        payload = answer_codec.pack(replace(answer, decisions={"semantic": decision}).to_dict())
        self._store_if_current(user_id, notes_version, self._answer_writes(key, payload))

    def _store_if_current(self, user_id: str, notes_version: int,
                          writes: list[Write],
                          semantic: Put | None = None) -> bool:
        """Write an answer's entries only while ``notes_version`` is still the user's version
        in Redis (one script: ``redis_kv.writes``): an answer made from notes that changed
        meanwhile is never stored. In process (no Redis), the same check, then the writes.
        Writes over ``answer_codec.MAX_ANSWER_BYTES`` lose the semantic entry, then all."""
        kept = fitting(writes, semantic)
        if kept is None:
            return False
        writes, semantic = kept
        version_key = notes_version_key(user_id)
        expected = str(notes_version).encode()
        redis_writes = [w for w in writes if isinstance(w[0], RedisCache)]
        if isinstance(self.versions, OwnedRedisCache) and (redis_writes or semantic):
            puts = [cache.entry(k, v, ttl) for cache, k, v, ttl in redis_writes
                    if isinstance(cache, RedisCache)]
            puts += [semantic] if semantic is not None else []
            layer = (redis_writes[0][0] if redis_writes else self.semantic.layer)
            assert isinstance(layer, RedisCache)
            done = layer.write(puts, Condition(version_key,
                                               self.versions.stored(version_key, expected)))
            if done == "written" and semantic is not None:
                self.semantic.trimmed(semantic)
            return done == "written"
        if self.versions.get(version_key) != expected:
            return False
        for cache, k, v, ttl in writes:
            cache.set(k, v, ttl)
        return True

    def stale_answer(self, key: str) -> Answer | None:
        """The last good answer for this key, kept past its TTL for the breaker's fallback.
        Keys embed the notes version: never an answer built from older notes."""
        raw = self.stale.get(_twin(key))
        return _answer(raw) if raw is not None else None

    def similar_answer(self, user_id: str, notes_version: int, question: str,
                       vector: np.ndarray, evidence: Sequence[Chunk],
                       similar: Similar | None = None, filters: Filters = NO_FILTERS
                       ) -> tuple[Answer | None, dict[str, Any]]:
        """The answer of a cached paraphrase that passed every rule (``decisions.semantic_rules``,
        judged on ``evidence``: the chunks this question retrieves; ``similar``: near words from
        the embedder's word vectors, for the strict mode's coverage), and the decision."""
        lookup = self.semantic.decide(user_id, notes_version, question, vector,
                                      lambda: list(evidence), similar, filters)
        found = lookup.hit
        counter = obs.CACHE_HITS if found is not None else obs.CACHE_MISSES
        counter.labels(layer="semantic").inc()
        return (_answer(found.answer) if found is not None else None), lookup.explain()

    def forget_answer(self, user_id: str, key: str, notes_version: int,
                      semantic_field: str | None) -> None:
        """One answer out of every layer of its user: its L1 entry, its stale twin and the
        semantic entry that holds it (a verdict said it was wrong)."""
        if key:
            self.query.delete(key)
            self.stale.delete(_twin(key))
        if semantic_field:
            self.semantic.forget(user_id, notes_version, semantic_field)

    def peek_answer(self, key: str) -> Answer | None:
        """The answer kept under an L1 key, else its stale twin (counted as cache reads)."""
        if not key:
            return None
        raw = self.query.get(key)
        if raw is None or raw == IN_STALE:
            raw = self.stale.get(_twin(key))
        return _answer(raw) if raw is not None else None

    # --- L2: embeddings --------------------------------------------------------------------

    def embedding_for(self, user_id: str, text: str, dim: int,
                      embed: Callable[[str], np.ndarray]) -> tuple[np.ndarray, CacheOutcome]:
        """The question's vector, from L2 or from ``embed`` (then stored). Keys are per user:
        whether someone else asked the same words stays unknowable."""
        key = embedding_key(self.settings, user_id, normalize_query(text))
        raw = self.embedding.get(key)
        if raw is not None:
            return codec.unpack_vector(raw, dim), outcome(self.embedding, raw)
        vector = embed(text)
        self.embedding.set(key, codec.pack_vector(vector), self.settings.embedding_cache_ttl_s)
        return vector, outcome(self.embedding, raw)

    # --- L3: retrieved chunks --------------------------------------------------------------

    def chunks_for(self, params: SearchParams, user_id: str, notes_version: int,
                   question: str, top_k: int, search: Callable[[], list[Chunk]],
                   filters: Filters = NO_FILTERS) -> tuple[list[Chunk], CacheOutcome]:
        key = context_key(params, user_id, notes_version, normalize_query(question), top_k,
                          filters, numerics=vector_numerics(self.settings))
        raw = self.context.get(key)
        if raw is not None:
            return [Chunk(**c) for c in codec.unpack(raw)], outcome(self.context, raw)
        chunks = search()
        self.context.set(key, codec.pack([asdict(c) for c in chunks]),
                         self.settings.context_cache_ttl_s)
        return chunks, outcome(self.context, raw)

    # --- housekeeping ----------------------------------------------------------------------

    def stats(self) -> dict[str, CacheStats]:
        """Per layer: the counts of every process that shares this Redis (this process's own
        without Redis); ``entries`` and ``bytes`` as this process sees them (the context
        layer lives in each process)."""
        out = {name: getattr(self, name).stats() for name in ("query", "embedding", "context")}
        out["semantic"] = CacheStats("semantic", hits=self.semantic.hits,
                                     misses=self.semantic.misses, entries=self.semantic.size())
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


def _answer(raw: bytes) -> Answer:
    return Answer.from_dict(answer_codec.unpack(raw))


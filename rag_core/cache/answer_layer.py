"""L1: answers, with their stale twins and their semantic entries.

An answer's key names the user's notes version (``VersionLayer``) and every setting that
shapes an answer. Its body is written once, under the stale twin of its key, which the L1 key
and the semantic entry name (``answer_codec``); every write of an answer's entries holds only
while the notes version it was made from is still the user's.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import TYPE_CHECKING

from rag_core.answer import Answer
from rag_core.cache import answer_codec
from rag_core.cache.answer_codec import IN_STALE, fitting
from rag_core.cache.answer_codec import stale_twin as _twin
from rag_core.cache.answer_keys import AnswerKeys
from rag_core.cache.base import Cache
from rag_core.cache.owned_cache import OwnedRedisCache
from rag_core.cache.read_through import outcome
from rag_core.cache.redis_cache import RedisCache
from rag_core.cache.semantic import SemanticCache
from rag_core.cache.version_layer import VersionLayer
from rag_core.cache.versioned_read import Read, VersionedRead
from rag_core.config import Caches, DecisionSettings, Embedding, Retrieval, fixed
from rag_core.decision_records import Decisions, SemanticRecord
from rag_core.redis_kv.joined import First
from rag_core.redis_kv.keys import VersionSlot, notes_version_key
from rag_core.redis_kv.writes import Condition, Put
from rag_core.store.filters import NO_FILTERS, Filters
from rag_core.telemetry import metrics
from rag_core.types import CacheOutcome, Chunk, TokenUsage

if TYPE_CHECKING:
    import numpy as np

Write = tuple[Cache, str, bytes, int]  # a layer, a key, a value, a TTL


@dataclass
class AnswerLayer:
    caches: Caches  # on or off, the TTL
    decisions: DecisionSettings  # whether reworded questions may reuse an answer
    shape: Mapping[str, object]  # what names every answer of these settings (answer_shape)
    query: Cache
    stale: Cache
    semantic: SemanticCache
    notes: VersionLayer
    # the notes version and the answer it names in one round trip (single Redis server only)
    versioned: VersionedRead | None = None
    # what names the vectors: the shape's numerics follow the embedding runtime in use
    embedding: Embedding | None = None
    # a question's L1 slot (``answer_keys``), made of ``shape`` and ``embedding``
    slots: AnswerKeys = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.slots = AnswerKeys(self.shape, self.embedding)

    @property
    def semantic_enabled(self) -> bool:
        return self.caches.cache_enabled and self.decisions.semantic_mode != "off"

    def key(self, params: Retrieval, user_id: str, notes_version: int,
            question: str, top_k: int, filters: Filters = NO_FILTERS) -> str:
        return self.slots(params, user_id, question, top_k, filters).key(notes_version)

    def lookup(self, params: Retrieval, user_id: str, question: str, top_k: int,
               read: Callable[[str], int], filters: Filters = NO_FILTERS
               ) -> tuple[int, str, Answer | None, CacheOutcome]:
        """Step 2: the user's notes version (as ``VersionLayer.current`` finds it), the
        question's L1 key under that version, and the answer kept there with its outcome. On a
        single Redis server the version and the answer come in one round trip
        (``VersionedRead``); without a version in Redis, or elsewhere, the version first and
        then the answer."""
        slot = self.slots(params, user_id, question, top_k, filters)
        truth = self.notes.truth
        epoch = truth.epoch()
        if not truth.trusted(user_id):  # Redis's copy may be older: PostgreSQL's
            version = read(user_id)
            return (version, slot.key(version), *self.get(slot.key(version)))
        found = (self.versioned.get(notes_version_key(user_id), slot.head, slot.tail,
                                    (_twin(slot.head), IN_STALE))
                 if self.versioned is not None else None)
        served = self._served(slot, found, epoch)
        if served is not None:
            return served
        version = self.notes.after_read(user_id, read, epoch, answered=found is not None)
        key = slot.key(version)
        return (version, key, *self.get(key))

    async def alookup(self, params: Retrieval, user_id: str, question: str, top_k: int,
                      filters: Filters = NO_FILTERS, first: First | None = None
                      ) -> tuple[int, str, Answer | None, CacheOutcome] | None:
        """``lookup`` from the event loop, in its one round trip, when one reply decides it:
        Redis's copy of the user's version trusted without a repair
        (``NotesVersions.trusted_now``) and found there. None otherwise: ask ``lookup``.
        ``first``: a script run in that trip before the read (``VersionedRead.aget``)."""
        truth = self.notes.truth
        if self.versioned is None or not truth.trusted_now(user_id):
            return None
        epoch = truth.epoch()
        slot = self.slots(params, user_id, question, top_k, filters)
        found = await self.versioned.aget(notes_version_key(user_id), slot.head, slot.tail,
                                          (_twin(slot.head), IN_STALE), first)
        return self._served(slot, found, epoch)

    def _served(self, slot: VersionSlot, found: Read | None, epoch: int
                ) -> tuple[int, str, Answer | None, CacheOutcome] | None:
        """Step 2 decided by one read of the version and the answer, with its outcome; None
        when the read did not decide it (no version, or it met a restarted Redis)."""
        if found is None or found[0] is None or self.notes.truth.epoch() != epoch:
            return None
        version, raw = int(found[0]), found[1]
        return (version, slot.key(version), _hot_answer(raw) if raw is not None else None,
                outcome(self.query, raw))

    def get(self, key: str) -> tuple[Answer | None, CacheOutcome]:
        if isinstance(self.query, RedisCache):  # the body is the stale twin's (answer_codec)
            raw = self.query.get_through(key, _twin(key), IN_STALE)
        else:
            raw = self.query.get(key)
            raw = self.stale.get(_twin(key)) if raw == IN_STALE else raw
        return (_answer(raw) if raw is not None else None), outcome(self.query, raw)

    def put(self, key: str, answer: Answer, *, user_id: str, notes_version: int,
            question: str, vector: np.ndarray | None,
            evidence: Sequence[Chunk] = (), filters: Filters = NO_FILTERS) -> None:
        """Write a generated answer to L1, to the stale store and to the semantic cache (with
        the chunks it was built from, for later decisions; among the answers of its
        ``filters``): its body once, under the stale
        key, which the other two name (``answer_codec``)."""
        payload = answer_codec.pack(answer.to_dict())
        writes = self._writes(key, payload)
        semantic = (self.semantic.entry(user_id, notes_version, question, vector, payload,
                                        self.caches.query_cache_ttl_s, evidence,
                                        filters, answer_at=_twin(key))
                    if self.semantic_enabled and vector is not None else None)
        self._store_if_current(user_id, notes_version, writes, semantic)

    def _writes(self, key: str, payload: bytes) -> list[Write]:
        """An answer's body under the stale twin of ``key``, and ``key`` naming it."""
        return [(self.query, key, IN_STALE, self.caches.query_cache_ttl_s),
                (self.stale, _twin(key), payload, fixed.STALE_TTL_S)]

    def put_no_context(self, key: str, answer: Answer, *, user_id: str,
                       notes_version: int) -> None:
        """A "nothing in your notes" answer in L1 (the key names the notes version and every
        setting of the decision): asked again, it costs a lookup instead of a search and a
        parse. Not kept as a stale answer (no model was involved) nor as a semantic entry (a
        paraphrase is decided on its own retrieval). Only what its hit serves is kept
        (``free_entry``), within ``answer_codec.MAX_FREE_ANSWER_BYTES``: a free answer over it
        (many long titles at ``top_k`` 50) is served but not kept."""
        self._store_if_current(user_id, notes_version, [
            (self.query, key, answer_codec.pack(free_entry(answer).to_dict()),
             self.caches.query_cache_ttl_s)], limit=answer_codec.MAX_FREE_ANSWER_BYTES)

    def put_reused(self, key: str, answer: Answer, decision: SemanticRecord | None, *,
                   user_id: str, notes_version: int) -> None:
        """A paraphrase's reused answer under the new question's own L1 key (and in the stale
        store), with the decision that reused it: asked again, the new question is an exact
        hit instead of another semantic decision. Not added to the semantic index, so that
        reuse never chains from one paraphrase to the next."""
        reused = replace(answer, decisions=Decisions(semantic=decision))
        payload = answer_codec.pack(reused.to_dict())
        self._store_if_current(user_id, notes_version, self._writes(key, payload))

    def _store_if_current(self, user_id: str, notes_version: int,
                          writes: list[Write], semantic: Put | None = None,
                          limit: int = answer_codec.MAX_ANSWER_BYTES) -> bool:
        """Write an answer's entries only while ``notes_version`` is still the user's version
        in Redis (one script: ``redis_kv.writes``): an answer made from notes that changed
        meanwhile is never stored. In process (no Redis), the same check, then the writes.
        Writes over ``limit`` (``answer_codec.MAX_ANSWER_BYTES``) lose the semantic entry,
        then all."""
        kept = fitting(writes, semantic, limit)
        if kept is None:
            return False
        writes, semantic = kept
        versions = self.notes.versions
        version_key = notes_version_key(user_id)
        expected = str(notes_version).encode()
        redis_writes = [w for w in writes if isinstance(w[0], RedisCache)]
        if isinstance(versions, OwnedRedisCache) and (redis_writes or semantic):
            puts = [cache.entry(k, v, ttl) for cache, k, v, ttl in redis_writes
                    if isinstance(cache, RedisCache)]
            puts += [semantic] if semantic is not None else []
            layer = (redis_writes[0][0] if redis_writes else self.semantic.layer)
            assert isinstance(layer, RedisCache)
            done = layer.write(puts, Condition(version_key,
                                               versions.stored(version_key, expected)))
            if done == "written" and semantic is not None:
                self.semantic.trimmed(semantic)
            return done == "written"
        if versions.get(version_key) != expected:
            return False
        for cache, k, v, ttl in writes:
            cache.set(k, v, ttl)
        return True

    def stale_answer(self, key: str) -> Answer | None:
        """The last good answer for this key, kept past its TTL for the breaker's fallback.
        Keys embed the notes version: never an answer built from older notes."""
        raw = self.stale.get(_twin(key))
        return _answer(raw) if raw is not None else None

    def similar(self, user_id: str, notes_version: int, question: str,
                vector: np.ndarray, evidence: Sequence[Chunk], filters: Filters = NO_FILTERS
                ) -> tuple[Answer | None, SemanticRecord]:
        """The answer of a cached paraphrase that the semantic judge reuses (decided on
        ``evidence``: the chunks this question retrieves), and the decision."""
        lookup = self.semantic.decide(user_id, notes_version, question, vector,
                                      lambda: list(evidence), filters)
        found = lookup.hit
        counter = metrics.CACHE_HITS if found is not None else metrics.CACHE_MISSES
        counter.labels(layer="semantic").inc()
        return (_answer(found.answer) if found is not None else None), lookup.explain()

    def forget(self, user_id: str, key: str, notes_version: int,
               semantic_field: str | None) -> None:
        """One answer out of every layer of its user: its L1 entry, its stale twin and the
        semantic entry that holds it (a verdict said it was wrong)."""
        if key:
            self.query.delete(key)
            self.stale.delete(_twin(key))
        if semantic_field:
            self.semantic.forget(user_id, notes_version, semantic_field)

    def peek(self, key: str) -> Answer | None:
        """The answer kept under an L1 key, else its stale twin (counted as cache reads)."""
        if not key:
            return None
        raw = self.query.get(key)
        if raw is None or raw == IN_STALE:
            raw = self.stale.get(_twin(key))
        return _answer(raw) if raw is not None else None


def free_entry(answer: Answer) -> Answer:
    """What a free answer's entry keeps: only what its hit serves. A hit takes its request's
    own id, timings, cache outcomes, usage, cost, flags and truncation
    (``AnswerMaker.from_cache``) and explains itself by ``Decisions.kept``: those are left
    empty here, so the hit's JSON is the same as from the whole answer. The question stays (a
    verdict on the answer names it: ``answers.feedback``)."""
    return replace(answer, cache={}, usage=TokenUsage(), cost_usd=0.0, timings_ms={},
                   request_id="", flags=[], query_truncated=False,
                   decisions=answer.decisions.kept(answer.no_context), debug=None)


def _answer(raw: bytes) -> Answer:
    return Answer.from_dict(answer_codec.unpack(raw))


# An entry served again is decoded once per process while it is hot: the bytes are the key, so
# an entry written anew is decoded anew. The answer is shared, never
# changed: a hit is served as a copy with its own request's fields (``AnswerMaker.from_cache``).
_hot_answer = lru_cache(maxsize=256)(_answer)

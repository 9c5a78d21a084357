"""The semantic cache: reuse an answer for a paraphrase of a question already answered.

Entries live per (user, notes version): a paraphrase can only ever reuse an answer built from
the same user's current notes. Each entry keeps the question, its embedding, the answer and the
evidence the answer was built from (the best retrieved chunks). A lookup takes the cached
questions whose cosine similarity reaches ``Settings.semantic_cache_threshold`` and asks
:func:`rag_core.cache.semantic_rules.decide` about the closest few: names, numbers, dates,
scripture, negation, question kind, the same evidence, no swapped detail. The decision, hit or
not, carries every rule's verdict (``Lookup.decision``), so a reuse can be explained.
"""

from __future__ import annotations

import hashlib
import math
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from rag_core.cache import codec
from rag_core.cache.client import REDIS_ERRORS, RedisClient
from rag_core.cache.keys import layer_prefix, normalize_query, user_prefix
from rag_core.cache.redis_cache import warn
from rag_core.cache.semantic_rules import Decision, Evidence, Policy, decide
from rag_core.config import Settings

LAYER = "semantic"
MAX_ENTRIES_PER_SCOPE = 200
MAX_CANDIDATES = 3  # closest cached questions that get a full decision
EVIDENCE_DEPTH = 5  # best chunks kept as an entry's evidence


def policy_from(settings: Settings) -> Policy:
    return Policy(threshold=settings.semantic_cache_threshold,
                  evidence=settings.semantic_evidence, evidence_depth=EVIDENCE_DEPTH)


@dataclass(frozen=True)
class SemanticHit:
    answer: bytes
    similarity: float
    matched_query: str
    decision: Decision | None = None

    def __getitem__(self, index: int) -> Any:  # (answer, similarity, query) like a tuple
        return (self.answer, self.similarity, self.matched_query)[index]


@dataclass(frozen=True)
class Lookup:
    """A lookup's outcome: the hit (or None) and the decision of the closest candidate."""

    hit: SemanticHit | None
    decision: Decision | None = None
    candidates: int = 0

    def explain(self) -> dict[str, Any]:
        if self.decision is None:
            return {"hit": False, "reason": "no cached question close enough",
                    "candidates": self.candidates}
        return {**self.decision.to_dict(), "candidates": self.candidates}


EvidenceSource = Callable[[], Sequence[Any]]


class SemanticCache:
    """Per user and notes version; Redis when given a client, else in process."""

    def __init__(self, client: RedisClient | None, settings: Settings,
                 clock: Callable[[], float] = time.time) -> None:
        self.client = client
        self.settings = settings
        self.clock = clock  # each entry expires on its own, at its TTL after it was stored
        self.policy = policy_from(settings)
        self._local: dict[str, dict[str, dict[str, Any]]] = {}
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    @staticmethod
    def scope(user_id: str, notes_version: int) -> str:
        return f"{user_prefix(LAYER, user_id)}v{notes_version}"

    def lookup(self, user_id: str, notes_version: int, query_text: str,
               embedding: np.ndarray, evidence: EvidenceSource | None = None
               ) -> SemanticHit | None:
        return self.decide(user_id, notes_version, query_text, embedding, evidence).hit

    def decide(self, user_id: str, notes_version: int, query_text: str,
               embedding: np.ndarray, evidence: EvidenceSource | None = None) -> Lookup:
        """The closest cached questions at or above the threshold, decided in order of
        similarity; the first that passes every rule is the hit. ``evidence`` gives the new
        question's retrieved chunks (called at most once, only when a candidate exists)."""
        now = self.clock()
        entries = [e for e in self._entries(self.scope(user_id, notes_version))
                   if e.get("e", math.inf) > now]
        outcome = Lookup(None)
        if entries:
            matrix = np.stack([codec.unpack_vector(e["v"], len(embedding)) for e in entries])
            sims = matrix @ np.asarray(embedding, dtype=np.float32)
            order = [int(i) for i in np.argsort(-sims) if sims[i] >= self.policy.threshold]
            outcome = self._decide(query_text, entries, sims, order[:MAX_CANDIDATES], evidence)
        if outcome.hit is None:
            self.misses += 1
        else:
            self.hits += 1
        return outcome

    def _decide(self, query_text: str, entries: list[dict[str, Any]], sims: np.ndarray,
                order: list[int], evidence: EvidenceSource | None) -> Lookup:
        new: Evidence | None = None
        first: Decision | None = None
        for i in order:
            if new is None:
                chunks = list(evidence()) if evidence is not None else []
                new = Evidence.of(chunks, self.policy.evidence_depth)
            cached = Evidence.from_dict(entries[i].get("x"))
            decision = decide(query_text, entries[i]["q"], float(sims[i]), self.policy, new,
                              cached)
            first = first or decision
            if decision.hit:
                hit = SemanticHit(entries[i]["a"], float(sims[i]), entries[i]["q"], decision)
                return Lookup(hit, decision, len(order))
        return Lookup(None, first, len(order))

    def store(self, user_id: str, notes_version: int, query_text: str, embedding: np.ndarray,
              answer: bytes, ttl_s: int, evidence: Sequence[Any] = ()) -> None:
        """Keep an answer with the chunks it was built from (``evidence``, best first)."""
        scope = self.scope(user_id, notes_version)
        field = hashlib.sha256(normalize_query(query_text).encode()).hexdigest()[:16]
        now = self.clock()
        kept = Evidence.of(list(evidence), self.policy.evidence_depth)
        entry = {"q": query_text, "v": codec.pack_vector(embedding), "a": answer,
                 "x": kept.to_dict(), "t": now, "e": now + ttl_s}
        if self.client is None:
            with self._lock:
                bucket = self._local.setdefault(scope, {})
                bucket[field] = entry
                while len(bucket) > MAX_ENTRIES_PER_SCOPE:
                    bucket.pop(min(bucket, key=lambda k: bucket[k]["t"]))
            return
        try:
            pipe = self.client.pipeline(transaction=True)  # one key: one slot
            pipe.hset(scope, field, codec.pack(entry))
            pipe.expire(scope, max(1, int(ttl_s)))
            pipe.hlen(scope)
            size = pipe.execute()[-1]
            if int(size) > MAX_ENTRIES_PER_SCOPE:
                self._trim(scope)
        except REDIS_ERRORS as exc:
            warn(LAYER, exc)

    def clear(self, prefix: str = "") -> int:
        if self.client is None:
            with self._lock:
                doomed = [k for k in self._local if k.startswith(prefix or layer_prefix(LAYER))]
                for key in doomed:
                    del self._local[key]
                return len(doomed)
        removed = 0
        try:
            pattern = (prefix or layer_prefix(LAYER)) + "*"
            for key in self.client.scan_iter(match=pattern, count=500):
                removed += int(self.client.unlink(key))
        except REDIS_ERRORS as exc:
            warn(LAYER, exc)
        return removed

    def _entries(self, scope: str) -> list[dict[str, Any]]:
        if self.client is None:
            with self._lock:
                return list(self._local.get(scope, {}).values())
        try:
            raw = self.client.hvals(scope)
        except REDIS_ERRORS as exc:
            warn(LAYER, exc)
            return []
        return [codec.unpack(_as_bytes(r)) for r in raw]

    def _trim(self, scope: str) -> None:
        assert self.client is not None
        items = self.client.hgetall(scope)
        ordered = sorted(items.items(), key=lambda kv: codec.unpack(_as_bytes(kv[1]))["t"])
        excess = len(ordered) - MAX_ENTRIES_PER_SCOPE
        if excess > 0:
            self.client.hdel(scope, *[k for k, _ in ordered[:excess]])


def _as_bytes(value: bytes | str) -> bytes:
    """Redis answers bytes, or str from a client made with ``decode_responses``."""
    return value.encode() if isinstance(value, str) else value

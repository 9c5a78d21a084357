"""The semantic cache: reuse an answer for a question already answered in other words.

Entries live per (user, notes version): a paraphrase can only ever reuse an answer built from
the same user's current notes. Each entry keeps the question, its embedding, its canonical form
(``rag_core.decisions.semantic_canonical``), the answer and the evidence the answer was built
from (the best retrieved chunks). ``strict`` (the default) reuses an entry whose canonical form
is the new question's: the same words in the same order, up to case, punctuation, articles,
inflection and one keyboard slip. ``loose`` does that first, else takes the cached questions
whose cosine similarity reaches ``Settings.semantic_cache_threshold`` and asks
:func:`rag_core.decisions.semantic_rules.decide` about the closest few: names, numbers, dates,
scripture, negation, question kind, the same evidence, no swapped detail. The decision, hit or
not, carries every rule's verdict (``Lookup.decision``), so a reuse can be explained.

On Redis a scope is two hashes: the entries (question, vector, evidence with its chunk texts,
and the key of the answer: the answer's body is kept once, under its stale key, by
``CacheLayers.put_answer``) and an index beside them (``index_key``: vector, stored-at and
expiry, canonical form: 1.5 KB each). A lookup reads the index, and only the entries in the
same words and (loose) the few closest (``MAX_CANDIDATES``) in full: reading every entry made
each lookup of a full scope move 1.6 MB out of Redis and through the decoder, which capped the
app at about 40 requests/s under the full load profile.
"""

from __future__ import annotations

import copy
import hashlib
import math
import re
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from rag_core import observability as obs
from rag_core.cache.counters import SharedCounters
from rag_core.cache.redis_cache import RedisCache, warn
from rag_core.config import Settings, fixed
from rag_core.decisions import nlp
from rag_core.decisions.semantic_canonical import canonical, same_question, vocabulary
from rag_core.decisions.semantic_rules import Decision, Evidence, Policy, Similar, decide
from rag_core.redis_kv import codec
from rag_core.redis_kv.client import REDIS_ERRORS, RedisClient
from rag_core.redis_kv.keys import layer_prefix, normalize_query, semantic_line_key, user_prefix
from rag_core.redis_kv.writes import Put
from rag_core.store.filters import NO_FILTERS, Filters

LAYER = "semantic"
MAX_ENTRIES_PER_SCOPE = 200
TRIM_SLACK = 20  # a full scope is trimmed once it holds this many more (not at every store)
MAX_CANDIDATES = 3  # closest cached questions that get a full decision
EVIDENCE_DEPTH = 5  # best chunks kept as an entry's evidence


def policy_for(settings: Settings, mode: str | None = None) -> Policy:
    """The decision of a mode (``Settings.semantic_mode`` unless given). ``strict``: a cached
    question whose canonical form is the new one's (``semantic_canonical``), nothing else;
    ``loose``: that, else a candidate at cosine >= the threshold that passes the rules of
    ``semantic_rules``; ``off`` decides like ``strict`` but is never asked."""
    loose = Policy(threshold=settings.semantic_cache_threshold,
                   corroborated=settings.semantic_corroborated_floor,
                   evidence=fixed.SEMANTIC_EVIDENCE, evidence_depth=EVIDENCE_DEPTH,
                   canonical="first", vocabulary=model_words(settings.embedding_model))
    if (mode or settings.semantic_mode) == "loose":
        return loose
    return replace(loose, canonical="only")


def model_words(model: str) -> frozenset[str]:
    """The whole words of the embedding model's vocabulary (what a keyboard slip is not)."""
    from rag_core.embedding.base import resolve_model_path

    try:
        return vocabulary(resolve_model_path(model))
    except ImportError:
        return frozenset()


def policy_from(settings: Settings) -> Policy:
    return policy_for(settings)


@dataclass(frozen=True)
class SemanticHit:
    answer: bytes
    similarity: float
    matched_query: str
    decision: Decision | None = None
    at: str = ""  # the key that holds the answer (an entry in Redis), read on a hit

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
            return {"hit": False, "reason": "no_candidate",
                    "why": "no cached question close enough", "candidates": self.candidates}
        return {**self.decision.to_dict(), "candidates": self.candidates}


EvidenceSource = Callable[[], Sequence[Any]]

_CODE = re.compile(r"[a-z][a-z0-9_]{0,39}")


def reason_code(lookup: Lookup, nearest: float | None) -> str:
    """The label of a lookup's decision: ``reuse``, the code of the rule that refused (a
    decision's ``code``, else its ``reason``), ``below_floor`` (cached questions, none close
    enough) or ``empty_scope`` (nothing cached for this user and notes version). Anything that
    is not a short code becomes ``other``: the label stays bounded."""
    if lookup.decision is None:
        return "empty_scope" if nearest is None else "below_floor"
    code = str(getattr(lookup.decision, "code", None) or lookup.decision.reason)
    return code if _CODE.fullmatch(code) else "other"


def observe(lookup: Lookup, nearest: float | None) -> None:
    """One lookup in the semantic cache's metrics (the layer where the decision returns)."""
    if nearest is not None:
        obs.SEMANTIC_NEAREST.observe(max(0.0, min(1.0, nearest)))
    obs.SEMANTIC_DECISIONS.labels(reason=reason_code(lookup, nearest)).inc()


class SemanticCache:
    """Per user and notes version; Redis when given a client, else in process."""

    def __init__(self, client: RedisClient | None, settings: Settings,
                 clock: Callable[[], float] = time.time,
                 counters: SharedCounters | None = None) -> None:
        self.client = client
        self.settings = settings
        self.clock = clock  # each entry expires on its own, at its TTL after it was stored
        self.policy = policy_from(settings)
        self._local: dict[str, dict[str, dict[str, Any]]] = {}
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0
        self.counters = counters  # counts shared by every process (``cache stats``)
        # the Redis side of the layer: its index, bound and the one write path
        self.layer = (RedisCache(LAYER, client, clock, max_entries=settings.layer_bound(LAYER))
                      if client is not None else None)

    def with_settings(self, settings: Settings) -> SemanticCache:
        """The same entries (Redis client or in-process store, shared) decided under the
        policy of ``settings``: what a sweep of the thresholds changes."""
        twin = copy.copy(self)
        twin.settings, twin.policy = settings, policy_from(settings)
        return twin

    @staticmethod
    def scope(user_id: str, notes_version: int, filters: Filters = NO_FILTERS) -> str:
        """Where the answers of one user, notes version and set of filters live: an answer
        made under some filters is never a candidate for a question under others (or none)."""
        base = f"{user_prefix(LAYER, user_id)}v{notes_version}"
        return f"{base}:f{_filters_tag(filters)}" if filters else base

    def lookup(self, user_id: str, notes_version: int, query_text: str,
               embedding: np.ndarray, evidence: EvidenceSource | None = None
               ) -> SemanticHit | None:
        return self.decide(user_id, notes_version, query_text, embedding, evidence).hit

    def decide(self, user_id: str, notes_version: int, query_text: str,
               embedding: np.ndarray, evidence: EvidenceSource | None = None,
               similar: Similar | None = None, filters: Filters = NO_FILTERS) -> Lookup:
        """The closest cached questions at or above the policy's floor, decided in order of
        similarity; the first that passes every rule is the hit. ``evidence`` gives the new
        question's retrieved chunks (called at most once, only when a candidate exists)."""
        now = self.clock()
        scope = self.scope(user_id, notes_version, filters)
        index = [(f, e) for f, e in self._index(scope) if e.get("e", math.inf) > now]
        outcome = Lookup(None)
        nearest: float | None = None
        if index:
            matrix = np.stack([codec.unpack_vector(e["v"], len(embedding)) for _, e in index])
            sims = matrix @ np.asarray(embedding, dtype=np.float32)
            nearest = float(sims.max())
            order = [int(i) for i in np.argsort(-sims) if sims[i] >= self.policy.floor]
            closest = self._twins(query_text, index, order)
            full = self._fetch(scope, [index[i][0] for i in closest])
            candidates = [(full[index[i][0]], float(sims[i])) for i in closest
                          if index[i][0] in full]
            outcome = self._decide(query_text, candidates, len(order), evidence, similar)
            outcome = self._with_answer(outcome)
        observe(outcome, nearest)
        if outcome.hit is None:
            self.misses += 1
        else:
            self.hits += 1
        if self.counters is not None:
            self.counters.add(LAYER, "misses" if outcome.hit is None else "hits")
        return outcome

    def _twins(self, query_text: str, index: list[tuple[str, dict[str, Any]]],
               order: list[int]) -> list[int]:
        """The entries to decide: those whose canonical form (kept in the index line) is the
        question's first, then (loose) the closest by cosine; strict decides only the twins,
        or the closest one to explain a miss."""
        if self.policy.canonical == "off":
            return order[:MAX_CANDIDATES]
        words, vocab = canonical(query_text), self.policy.vocabulary
        twins = [i for i, (_, e) in enumerate(index)
                 if "c" in e and same_question(words, e["c"], vocab)]
        if self.policy.canonical == "only":
            return twins[:MAX_CANDIDATES] or order[:1]
        return (twins + [i for i in order if i not in twins])[:MAX_CANDIDATES]

    def _decide(self, query_text: str, candidates: list[tuple[dict[str, Any], float]],
                above: int, evidence: EvidenceSource | None,
                similar: Similar | None = None) -> Lookup:
        """The closest ``candidates`` (entry, similarity), in order; ``above``: how many cached
        questions reached the threshold."""
        new: Evidence | None = None
        first: Decision | None = None
        for entry, sim in candidates:
            if new is None:
                chunks = list(evidence()) if evidence is not None else []
                new = Evidence.of(chunks, self.policy.evidence_depth)
            cached = Evidence.from_dict(entry.get("x"))
            decision = decide(query_text, entry["q"], sim, self.policy, new, cached,
                              nlp.Facts.from_dict(entry.get("f")), similar, entry.get("c"))
            first = first or decision
            if decision.hit:
                return Lookup(SemanticHit(entry.get("a", b""), sim, entry["q"], decision,
                                          str(entry.get("r") or "")), decision, above)
        return Lookup(None, first, above)

    def _with_answer(self, outcome: Lookup) -> Lookup:
        """A hit whose entry names the key of its answer (``entry(answer_at=...)``) with that
        answer read; a miss when the key is gone (evicted or expired before the entry)."""
        hit = outcome.hit
        if hit is None or not hit.at or self.client is None:
            return outcome
        try:
            raw = self.client.get(hit.at)
        except REDIS_ERRORS as exc:
            warn(LAYER, exc)
            raw = None
        if raw is None:
            return Lookup(None, outcome.decision, outcome.candidates)
        return replace(outcome, hit=replace(hit, answer=_as_bytes(raw)))

    def store(self, user_id: str, notes_version: int, query_text: str, embedding: np.ndarray,
              answer: bytes, ttl_s: int, evidence: Sequence[Any] = ()) -> None:
        """Keep an answer with the chunks it was built from (``evidence``, best first)."""
        put = self.entry(user_id, notes_version, query_text, embedding, answer, ttl_s, evidence)
        if put is not None and self.layer is not None:
            self.layer.write([put])
            self.trimmed(put)

    def entry(self, user_id: str, notes_version: int, query_text: str, embedding: np.ndarray,
              answer: bytes, ttl_s: int, evidence: Sequence[Any] = (),
              filters: Filters = NO_FILTERS, *, answer_at: str = "") -> Put | None:
        """The Redis write of one entry (for :mod:`rag_core.redis_kv.writes`, alone or with
        the answer's other layers); None in process, where it is stored at once.
        ``answer_at``: in Redis, the key that holds ``answer`` (written with the entry, by the
        same script): the entry names it instead of holding the answer a second time."""
        scope = self.scope(user_id, notes_version, filters)
        field = self.field_of(query_text)
        now = self.clock()
        kept = Evidence.of(list(evidence), self.policy.evidence_depth)
        # the question's facts go with it: a lookup in another process compares them without
        # running spaCy again (this process has them memoised from the no-context decision)
        entry = {"q": query_text, "v": codec.pack_vector(embedding), "a": answer,
                 "x": kept.to_dict(), "f": nlp.facts(query_text).to_dict(), "t": now,
                 "e": now + ttl_s, "c": list(canonical(query_text))}
        if answer_at and self.layer is not None:
            del entry["a"]
            entry["r"] = answer_at
        if self.layer is None:
            with self._lock:
                bucket = self._local.setdefault(scope, {})
                bucket[field] = entry
                while len(bucket) > MAX_ENTRIES_PER_SCOPE:
                    bucket.pop(min(bucket, key=lambda k: bucket[k]["t"]))
            return None
        # the entry and its index line are written by one script (the line names the entry)
        return self.layer.entry(scope, codec.pack(entry), ttl_s, field=field,
                                line=codec.pack({k: entry[k] for k in ("v", "t", "e", "c")}))

    def trimmed(self, put: Put) -> None:
        """After ``put`` was written: a scope past its own bound loses its oldest entries."""
        if self.client is None:
            return
        try:
            if int(self.client.hlen(self.index_key(put.key))) > MAX_ENTRIES_PER_SCOPE + TRIM_SLACK:
                self._trim(put.key)
        except REDIS_ERRORS as exc:
            warn(LAYER, exc)

    @staticmethod
    def field_of(query_text: str) -> str:
        """The field of a question's entry in its scope (one entry per normalised question)."""
        return hashlib.sha256(normalize_query(query_text).encode()).hexdigest()[:16]

    @staticmethod
    def place_of(query_text: str, filters: Filters = NO_FILTERS) -> str:
        """Where a question's entry is among its user's and notes version's (what an answer
        record keeps for ``forget``): its field, behind the tag of its filters if any."""
        field = SemanticCache.field_of(query_text)
        return f"{_filters_tag(filters)}/{field}" if filters else field

    def forget(self, user_id: str, notes_version: int, field: str) -> int:
        """Drop one entry (a verdict said its answer was wrong): no paraphrase reuses it.
        ``field``: as ``place_of`` gives it."""
        tag, _, field = field.rpartition("/")
        scope = self.scope(user_id, notes_version)
        scope = f"{scope}:f{tag}" if tag else scope
        if self.client is None:
            with self._lock:
                return 1 if self._local.get(scope, {}).pop(field, None) is not None else 0
        try:
            pipe = self.client.pipeline(transaction=False)
            pipe.hdel(self.index_key(scope), field)
            pipe.hdel(scope, field)
            removed = int(pipe.execute()[-1])
            self._unindex(scope, [field])
            return removed
        except REDIS_ERRORS as exc:
            warn(LAYER, exc)
            return 0

    def size(self) -> int:
        """Live entries in Redis across every user (its index); sets ``cache_size``."""
        return self.layer.size() if self.layer is not None else sum(
            len(b) for b in self._local.values())

    def clear(self, prefix: str = "") -> int:
        if self.client is None:
            with self._lock:
                doomed = [k for k in self._local if k.startswith(prefix or layer_prefix(LAYER))]
                for key in doomed:
                    del self._local[key]
                return len(doomed)
        try:
            return self.purge(prefix)
        except REDIS_ERRORS as exc:
            warn(LAYER, exc)
            return 0

    def purge(self, prefix: str = "") -> int:
        """``clear`` that raises when Redis fails (a purge that must be retried)."""
        if self.client is None:
            return self.clear(prefix)
        removed = 0
        pattern = (prefix or layer_prefix(LAYER)) + "*"
        for key in self.client.scan_iter(match=pattern, count=500):
            removed += int(self.client.unlink(key))
        if self.layer is not None:  # and their lines in the layer's index
            lines = [m for m, _ in self.client.zscan_iter(self.layer.index, match=pattern)]
            self.layer.writer.unindex(self.layer.index, lines)
        return removed

    @staticmethod
    def index_key(scope: str) -> str:
        """The hash beside a scope's entries that holds their vectors and times only."""
        return semantic_line_key(scope)

    def _index(self, scope: str) -> list[tuple[str, dict[str, Any]]]:
        """(field, {"v", "t", "e"}) of every entry of ``scope``."""
        if self.client is None:
            with self._lock:
                return list(self._local.get(scope, {}).items())
        try:
            raw = self.client.hgetall(self.index_key(scope))
        except REDIS_ERRORS as exc:
            warn(LAYER, exc)
            return []
        return [(_as_bytes(f).decode(), codec.unpack(_as_bytes(v))) for f, v in raw.items()]

    def _fetch(self, scope: str, fields: list[str]) -> dict[str, dict[str, Any]]:
        """The full entries of ``fields`` (an entry gone since its index line was read is left
        out: a miss, not an error)."""
        if not fields:
            return {}
        if self.client is None:
            with self._lock:
                bucket = self._local.get(scope, {})
                return {f: bucket[f] for f in fields if f in bucket}
        try:
            raw = self.client.hmget(scope, fields)
        except REDIS_ERRORS as exc:
            warn(LAYER, exc)
            return {}
        return {f: codec.unpack(_as_bytes(v)) for f, v in zip(fields, raw, strict=True)
                if v is not None}

    def _trim(self, scope: str) -> None:
        """Down to ``MAX_ENTRIES_PER_SCOPE``, oldest first, in the index and the entries."""
        assert self.client is not None
        index = self.index_key(scope)
        items = self.client.hgetall(index)
        ordered = sorted(items, key=lambda f: codec.unpack(_as_bytes(items[f]))["t"])
        doomed = ordered[:len(ordered) - MAX_ENTRIES_PER_SCOPE]
        if doomed:
            pipe = self.client.pipeline(transaction=False)
            pipe.hdel(index, *doomed)
            pipe.hdel(scope, *doomed)
            pipe.execute()
            self._unindex(scope, [_as_bytes(f).decode() for f in doomed])

    def _unindex(self, scope: str, fields: list[str]) -> None:
        """Entries dropped from ``scope`` out of the layer's index (and their user's count)."""
        if self.layer is not None:
            self.layer.writer.unindex(self.layer.index, [f"{scope}\n{f}" for f in fields])


def _filters_tag(filters: Filters) -> str:
    return hashlib.sha256(repr(sorted(filters.key()["filters"].items())).encode()
                          ).hexdigest()[:16]


def _as_bytes(value: bytes | str) -> bytes:
    """Redis answers bytes, or str from a client made with ``decode_responses``."""
    return value.encode() if isinstance(value, str) else value

"""The semantic cache: reuse an answer for a question already answered in other words.

Entries live per (user, notes version): a paraphrase can only ever reuse an answer built from
the same user's current notes. Each entry keeps the question, its embedding, its canonical form
(``rag_core.decisions.semantic_canonical``), the answer and the evidence the answer was built
from (the best retrieved chunks). ``strict`` (the default) reuses an entry whose canonical form
is the new question's: the same words in the same order, up to case, punctuation, articles,
inflection and one keyboard slip. ``loose`` does that first, else takes the cached questions
whose cosine similarity reaches ``Settings.semantic_cache_threshold`` and asks
:func:`rag_core.decisions.semantic_rules.decide` about the closest few: names, numbers, dates,
scripture, negation, question kind, the same best sentence, no changed detail. The decision, hit or
not, carries every rule's verdict (``SemanticLookup.decision``), so a reuse can be explained.

Where the entries live, in Redis or in process, and how a lookup reads only the few it
decides on in full: ``rag_core.cache.semantic_entries``.
"""

from __future__ import annotations

import copy
import re
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from functools import cached_property
from typing import TYPE_CHECKING

from rag_core.cache.base import CacheStats
from rag_core.cache.counters import SharedCounters
from rag_core.cache.semantic_entries import LAYER, SemanticEntries
from rag_core.cache.semantic_record import IndexLine, SemanticEntry
from rag_core.config import Settings
from rag_core.decision_records import SemanticRecord
from rag_core.decisions.judges import RulesJudge, SemanticJudge
from rag_core.decisions.semantic_canonical import Form, canonical, same_question
from rag_core.decisions.semantic_rules import Decision, Evidence, Policy
from rag_core.embedding.base import model_words
from rag_core.redis_kv import codec
from rag_core.redis_kv.client import RedisClient
from rag_core.redis_kv.writes import Put
from rag_core.store.filters import NO_FILTERS, Filters
from rag_core.telemetry import metrics, tracing
from rag_core.types import Chunk

if TYPE_CHECKING:
    import numpy as np

MAX_CANDIDATES = 3  # closest cached questions that get a full decision
EVIDENCE_DEPTH = 5  # best chunks kept as an entry's evidence


def policy_for(settings: Settings, mode: str | None = None) -> Policy:
    """The decision of a mode (``Settings.semantic_mode`` unless given). ``strict``: a cached
    question whose canonical form is the new one's (``semantic_canonical``), nothing else;
    ``loose``: that, else a candidate at cosine >= the threshold that passes the rules of
    ``semantic_rules``; ``off`` decides like ``strict`` but is never asked."""
    return _policy(settings.decisions.semantic_cache_threshold, settings.embedding.embedding_model,
                   mode or settings.decisions.semantic_mode)


def _policy(threshold: float, model: str, mode: str) -> Policy:
    loose = Policy(threshold=threshold, evidence_depth=EVIDENCE_DEPTH, canonical="first",
                   vocabulary=model_words(model))
    return loose if mode == "loose" else replace(loose, canonical="only")


def semantic_for(client: RedisClient | None, settings: Settings, *, judge: SemanticJudge,
                 clock: Callable[[], float] = time.time,
                 counters: SharedCounters | None = None) -> SemanticCache:
    """The semantic cache of ``settings`` (the layer's bound) decided by ``judge`` (the one
    ``parts.build_judges`` built)."""
    return SemanticCache(client, judge, settings.caches.layer_bound(LAYER), clock, counters)


def judge_for(settings: Settings) -> SemanticJudge:
    """The semantic judge of ``settings``: the rules of their mode. Built once, by
    ``parts.build_judges`` (a test of the cache alone builds its own)."""
    return ModeJudge(settings.decisions.semantic_cache_threshold,
                     settings.embedding.embedding_model,
                     settings.decisions.semantic_mode)


@dataclass(frozen=True)
class ModeJudge:
    """The rules of one mode (``RulesJudge``), built when first asked: their policy holds the
    embedding model's whole words (its ``vocab.txt`` read, ~13 ms), which only a decision
    reads (this one, or a no-context one whose name is not in the notes), so a process that
    answers from the exact cache never reads them."""

    threshold: float
    model: str
    mode: str

    @cached_property
    def rules(self) -> RulesJudge:
        return RulesJudge(_policy(self.threshold, self.model, self.mode))

    @property
    def policy(self) -> Policy:
        return self.rules.policy

    def decide(self, query: str, cached_query: str, similarity: float, new: Evidence,
               cached: Evidence, cached_form: Form | None = None) -> Decision:
        return self.rules.decide(query, cached_query, similarity, new, cached, cached_form)


@dataclass(frozen=True)
class SemanticHit:
    answer: bytes
    similarity: float
    matched_query: str
    decision: Decision | None = None
    at: str = ""  # the key that holds the answer (an entry in Redis), read on a hit


@dataclass(frozen=True)
class SemanticLookup:
    """A lookup's outcome: the hit (or None) and the decision of the closest candidate."""

    hit: SemanticHit | None
    decision: Decision | None = None
    candidates: int = 0

    def explain(self) -> SemanticRecord:
        if self.decision is None:
            return SemanticRecord(hit=False, reason="no_candidate",
                                  why="no cached question close enough",
                                  candidates=self.candidates)
        return self.decision.record(self.candidates)


EvidenceSource = Callable[[], Sequence[Chunk]]

_CODE = re.compile(r"[a-z][a-z0-9_]{0,39}")


def reason_code(lookup: SemanticLookup, nearest: float | None) -> str:
    """The label of a lookup's decision: ``reuse``, the code of the rule that refused (a
    decision's ``code``, else its ``reason``), ``below_floor`` (cached questions, none close
    enough) or ``empty_scope`` (nothing cached for this user and notes version). Anything that
    is not a short code becomes ``other``: the label stays bounded."""
    if lookup.decision is None:
        return "empty_scope" if nearest is None else "below_floor"
    code = str(getattr(lookup.decision, "code", None) or lookup.decision.reason)
    return code if _CODE.fullmatch(code) else "other"


def observe(lookup: SemanticLookup, nearest: float | None) -> None:
    """One lookup in the semantic cache's metrics (the layer where the decision returns)."""
    if nearest is not None:
        metrics.SEMANTIC_NEAREST.observe(max(0.0, min(1.0, nearest)))
    metrics.SEMANTIC_DECISIONS.labels(reason=reason_code(lookup, nearest)).inc()
    # on the lookup's span (``cache.lookup semantic``), when the pipeline traces one
    tracing.on_current_span(**{"cache.semantic.nearest_similarity": nearest,
                               "cache.semantic.reason": reason_code(lookup, nearest)})


class SemanticCache:
    """Per user and notes version; Redis when given a client, else in process. The entries
    (``SemanticEntries``) are shared by every copy ``with_judge`` makes; the judge that
    decides on them (the cache finds candidates, the judge decides) is each copy's own: given
    when the cache is made, or to the copy ``with_judge`` makes, and in no other way."""

    def __init__(self, client: RedisClient | None, judge: SemanticJudge, max_entries: int,
                 clock: Callable[[], float] = time.time,
                 counters: SharedCounters | None = None) -> None:
        self.client = client
        self.clock = clock  # each entry expires on its own, at its TTL after it was stored
        self.judge = judge
        self.entries = SemanticEntries(client, max_entries, clock)
        self.layer = self.entries.layer  # the Redis side of the layer (None in process)
        self.hits = 0
        self.misses = 0
        self.counters = counters  # counts shared by every process (``cache stats``)

    @property
    def _local(self) -> dict[str, dict[str, SemanticEntry]]:
        """The in-process entries by scope (``shares`` counts them per user)."""
        return self.entries.local

    @property
    def _lock(self) -> threading.Lock:
        return self.entries.lock

    def with_judge(self, judge: SemanticJudge) -> SemanticCache:
        """The same entries (Redis client or in-process store, shared) decided by another
        judge: other settings' (``parts.variant``), or another policy's
        (``RulesJudge(policy_for(settings))``: what a sweep of the thresholds changes)."""
        twin = copy.copy(self)
        twin.judge = judge
        return twin

    @property
    def policy(self) -> Policy:
        """What the cache reads of its judge to find candidates (floor, canonical forms)."""
        return self.judge.policy

    scope = staticmethod(SemanticEntries.scope)
    field_of = staticmethod(SemanticEntries.field_of)
    place_of = staticmethod(SemanticEntries.place_of)
    index_key = staticmethod(SemanticEntries.index_key)

    def lookup(self, user_id: str, notes_version: int, query_text: str,
               embedding: np.ndarray, evidence: EvidenceSource | None = None
               ) -> SemanticHit | None:
        return self.decide(user_id, notes_version, query_text, embedding, evidence).hit

    def decide(self, user_id: str, notes_version: int, query_text: str,
               embedding: np.ndarray, evidence: EvidenceSource | None = None,
               filters: Filters = NO_FILTERS) -> SemanticLookup:
        """The closest cached questions at or above the policy's floor, decided in order of
        similarity; the first that passes every rule is the hit. ``evidence`` gives the new
        question's retrieved chunks (called at most once, only when a candidate exists)."""
        import numpy as np

        now = self.clock()
        scope = self.scope(user_id, notes_version, filters)
        index = [(f, line) for f, line in self.entries.index(scope) if line.expires_at > now]
        outcome = SemanticLookup(None)
        nearest: float | None = None
        if index:
            matrix = np.stack([codec.unpack_vector(line.vector, len(embedding))
                               for _, line in index])
            sims = matrix @ np.asarray(embedding, dtype=np.float32)
            nearest = float(sims.max())
            order = [int(i) for i in np.argsort(-sims) if sims[i] >= self.policy.threshold]
            closest = self._twins(query_text, index, order)
            full = self.entries.fetch(scope, [index[i][0] for i in closest])
            candidates = [(full[index[i][0]], float(sims[i])) for i in closest
                          if index[i][0] in full]
            outcome = self._decide(query_text, candidates, len(order), evidence)
            outcome = self._with_answer(outcome)
        observe(outcome, nearest)
        if outcome.hit is None:
            self.misses += 1
        else:
            self.hits += 1
        if self.counters is not None:
            self.counters.add(LAYER, "misses" if outcome.hit is None else "hits")
        return outcome

    def _twins(self, query_text: str, index: list[tuple[str, IndexLine]],
               order: list[int]) -> list[int]:
        """The entries to decide: those whose canonical form (kept in the index line) is the
        question's first, then (loose) the closest by cosine; strict decides only the twins,
        or the closest one to explain a miss."""
        if self.policy.canonical == "off":
            return order[:MAX_CANDIDATES]
        words, vocab = canonical(query_text), self.policy.vocabulary
        twins = [i for i, (_, line) in enumerate(index)
                 if line.form is not None and same_question(words, line.form, vocab)]
        if self.policy.canonical == "only":
            return twins[:MAX_CANDIDATES] or order[:1]
        return (twins + [i for i in order if i not in twins])[:MAX_CANDIDATES]

    def _decide(self, query_text: str, candidates: list[tuple[SemanticEntry, float]],
                above: int, evidence: EvidenceSource | None) -> SemanticLookup:
        """The closest ``candidates`` (entry, similarity), in order; ``above``: how many cached
        questions reached the threshold."""
        new: Evidence | None = None
        first: Decision | None = None
        for entry, sim in candidates:
            if new is None:
                chunks = list(evidence()) if evidence is not None else []
                new = Evidence.of(chunks, self.policy.evidence_depth)
            decision = self.judge.decide(query_text, entry.question, sim, new, entry.evidence,
                                         entry.line.form)
            first = first or decision
            if decision.hit:
                return SemanticLookup(SemanticHit(entry.answer, sim, entry.question, decision,
                                          entry.answer_at), decision, above)
        return SemanticLookup(None, first, above)

    def _with_answer(self, outcome: SemanticLookup) -> SemanticLookup:
        """A hit whose entry names the key of its answer (``entry(answer_at=...)``) with that
        answer read; a miss when the key is gone (evicted or expired before the entry)."""
        hit = outcome.hit
        if hit is None or not hit.at or self.client is None:
            return outcome
        raw = self.entries.answer_at(hit.at)
        if raw is None:
            return SemanticLookup(None, outcome.decision, outcome.candidates)
        return replace(outcome, hit=replace(hit, answer=raw))

    def store(self, user_id: str, notes_version: int, query_text: str, embedding: np.ndarray,
              answer: bytes, ttl_s: int, evidence: Sequence[Chunk] = ()) -> None:
        """Keep an answer with the chunks it was built from (``evidence``, best first)."""
        put = self.entry(user_id, notes_version, query_text, embedding, answer, ttl_s, evidence)
        if put is not None and self.layer is not None:
            self.layer.write([put])
            self.trimmed(put)

    def entry(self, user_id: str, notes_version: int, query_text: str, embedding: np.ndarray,
              answer: bytes, ttl_s: int, evidence: Sequence[Chunk] = (),
              filters: Filters = NO_FILTERS, *, answer_at: str = "") -> Put | None:
        """The Redis write of one entry (for :mod:`rag_core.redis_kv.writes`, alone or with
        the answer's other layers); None in process, where it is stored at once.
        ``answer_at``: in Redis, the key that holds ``answer`` (written with the entry, by the
        same script): the entry names it instead of holding the answer a second time."""
        now = self.clock()
        kept = Evidence.of(list(evidence), self.policy.evidence_depth)
        # the canonical form goes with it: a lookup in another process compares it without
        # running spaCy again
        line = IndexLine(codec.pack_vector(embedding), now, now + ttl_s,
                         tuple(tuple(word) for word in canonical(query_text)))
        entry = SemanticEntry(query_text, line, kept, answer)
        return self.entries.put(self.scope(user_id, notes_version, filters),
                                self.field_of(query_text), entry, ttl_s, answer_at)

    def trimmed(self, put: Put) -> None:
        """After ``put`` was written: a scope past its own bound loses its oldest entries."""
        self.entries.trimmed(put)

    def forget(self, user_id: str, notes_version: int, field: str) -> int:
        """Drop one entry (a verdict said its answer was wrong); ``field`` as ``place_of``
        gives it."""
        return self.entries.forget(user_id, notes_version, field)

    def size(self) -> int:
        return self.entries.size()

    def stats(self) -> CacheStats:
        """This process's hits and misses, the live entries and the bytes they hold."""
        return CacheStats(LAYER, hits=self.hits, misses=self.misses, entries=self.size(),
                          bytes=self.entries.held_bytes())

    def clear(self, prefix: str = "") -> int:
        return self.entries.clear(prefix)

    def purge(self, prefix: str = "") -> int:
        """``clear`` that raises when Redis fails (a purge that must be retried)."""
        return self.entries.purge(prefix)

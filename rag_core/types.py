"""Plain data types that flow between the pipeline steps."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from functools import cached_property
from typing import Any, Literal

from rag_core.decision_records import (
    DeclineRecord,
    FiltersRecord,
    JsonObject,
    NarrowedRecord,
    RelevanceRecord,
    RouteRecord,
    SemanticRecord,
    StandaloneRecord,
)

CacheOutcome = Literal["hit", "miss", "semantic_hit", "off", "error"]
# how a note is cut into chunks (``RAG_CHUNKING``, ``ingest.chunking``)
ChunkingMethod = Literal["heading", "sentences", "window"]


@dataclass(frozen=True)
class Note:
    """One note as a user wrote it."""

    id: str
    title: str
    body: str
    date: str | None = None
    speaker: str | None = None
    series: str | None = None
    tags: tuple[str, ...] = ()
    scripture: tuple[str, ...] = ()

    def metadata(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "date": self.date,
            "speaker": self.speaker,
            "series": self.series,
            "tags": list(self.tags),
            "scripture": list(self.scripture),
        }


@dataclass(frozen=True)
class Chunk:
    """A piece of a note as stored and retrieved."""

    chunk_id: str
    note_id: str
    user_id: str
    ordinal: int
    text: str
    metadata: dict[str, Any] = field(default_factory=dict)
    score: float = 0.0
    dense_rank: int | None = None
    lexical_rank: int | None = None
    fused_score: float | None = None
    lexical_score: float | None = None
    matched_terms: tuple[str, ...] = ()

    @property
    def title(self) -> str:
        return str(self.metadata.get("title") or "")


@dataclass(frozen=True)
class Query:
    """A validated, sanitised question of one user."""

    user_id: str
    text: str
    original: str
    truncated: bool
    # counts the tokens of a text (``TokenCounter.count``): ``tokens`` asks it when first read,
    # so a question answered from the cache need not load the tokenizer
    counter: Callable[[str], int] = field(repr=False, compare=False)
    flags: tuple[str, ...] = ()

    @cached_property
    def tokens(self) -> int:
        return self.counter(self.text)


@dataclass
class TokenUsage:
    input_tokens: int = 0
    output_tokens: int = 0

    @property
    def total(self) -> int:
        return self.input_tokens + self.output_tokens


@dataclass(frozen=True)
class Citation:
    n: int
    chunk_id: str
    note_id: str
    title: str
    score: float


@dataclass(frozen=True)
class RetrievedRow:
    """One retrieved chunk as an answer lists it (``Answer.retrieved``): its ranks in each
    search and the fused score (None where a search did not find it)."""

    chunk_id: str
    note_id: str
    title: str
    score: float
    dense_rank: int | None = None
    lexical_rank: int | None = None
    fused_score: float | None = None


@dataclass(frozen=True)
class AnswerDebug:
    """What one freshly computed answer was built from, for the evaluation harness.

    Never part of ``Answer.to_dict`` (so not in ``ask --json``, the API or a cached answer).
    ``retrieved_texts``: chunk id -> text of the retrieved chunks, in rank order.
    ``packed_chunk_ids`` / ``packed_texts``: the chunks the context budget kept, in the order
    they were sent (a best chunk cut to fit carries its cut text). ``context_tokens``: the
    tokens of the rendered note blocks that were sent (with or without the note guard, as the
    pipeline ran). ``context_sent``: False when no model was called (a refusal or a no-context
    answer): nothing was packed, and the packed fields are empty.
    """

    retrieved_texts: dict[str, str] = field(default_factory=dict)
    packed_chunk_ids: tuple[str, ...] = ()
    packed_texts: tuple[str, ...] = ()
    context_tokens: int = 0
    context_sent: bool = False


# --- the decisions an answer carries, typed (``Answer.decisions``), and the reasons they give.
# Each part is a record of what its decision saw: the semantic cache's lookup
# (``SemanticRecord``), the no-context decision before the model (``RelevanceRecord``), the
# filters' match (``FiltersRecord``), the model's decline (``DeclineRecord``) and the filters
# read from the question (``NarrowedRecord``); a decision the request did not reach is None.
# They become JSON in one place, ``Decisions.to_dict`` (``ask --json``, the API's
# ``decisions``, a cached answer), and are read back by ``Decisions.from_dict``;
# ``cache_reason`` and ``no_context_reason`` phrase them (a short code and a phrase), so that
# an answer read back from the cache explains itself the same way.

# what each rule of the no-context decision found missing, in a phrase (the rule's own detail
# follows it); a rule not named here is shown by its name
_NOT_FOUND = {
    "retrieved": "nothing was retrieved from your notes",
    "similarity": "nothing in your notes is close enough",
    "names": "a name the question uses is in none of your notes",
    "numbers": "a number the question names is in none of your notes",
    "dates": "a date the question names is in none of your notes",
    "scripture": "a scripture reference the question names is in none of your notes",
}
@dataclass
class Decisions:
    semantic: SemanticRecord | None = None  # reuse or not, every rule's verdict (or no_candidate)
    relevance: RelevanceRecord | None = None  # the no-context decision before the model
    filters: FiltersRecord | None = None  # whether a note passes the request's filters
    declined: DeclineRecord | None = None  # the model replied with the decline marker
    narrowed: NarrowedRecord | None = None  # filters read from the question (``answers.scope``)
    route: RouteRecord | None = None  # which model routing sent the question to (``llm.route``)
    standalone: StandaloneRecord | None = None  # a conversation's question made to stand alone

    def recorded(self) -> bool:
        """Whether any decision was recorded."""
        return any(getattr(self, f.name) is not None for f in fields(self))

    def to_dict(self) -> JsonObject:
        """The JSON of the decisions recorded, in the order of the fields."""
        return {f.name: part.to_dict() for f in fields(self)
                if (part := getattr(self, f.name)) is not None}

    @classmethod
    def from_dict(cls, data: Mapping[str, object] | None) -> Decisions:
        """``to_dict`` read back (a part that is missing or not an object stays None)."""
        data = data or {}

        def part(name: str) -> Mapping[str, object] | None:
            value = data.get(name)
            return value if isinstance(value, Mapping) else None

        semantic, relevance, filters = part("semantic"), part("relevance"), part("filters")
        declined, narrowed, route = part("declined"), part("narrowed"), part("route")
        standalone = part("standalone")
        return cls(
            semantic=SemanticRecord.from_dict(semantic) if semantic is not None else None,
            relevance=RelevanceRecord.from_dict(relevance) if relevance is not None else None,
            filters=FiltersRecord.from_dict(filters) if filters is not None else None,
            declined=DeclineRecord.from_dict(declined) if declined is not None else None,
            narrowed=NarrowedRecord.from_dict(narrowed) if narrowed is not None else None,
            route=RouteRecord.from_dict(route) if route is not None else None,
            standalone=StandaloneRecord.from_dict(standalone) if standalone is not None else None)

    def kept(self, no_context: bool) -> Decisions:
        """What an exact hit still explains: why this question got another question's answer
        (the semantic decision that reused it) or why the notes have nothing (relevance,
        filters). A generated answer's own decisions stay behind."""
        semantic = self.semantic if self.semantic and self.semantic.hit else None
        # the same question and notes: the same narrowing
        return Decisions(semantic, self.relevance if no_context else None,
                         self.filters if no_context else None, narrowed=self.narrowed)

    def cache_reason(self, cache: Mapping[str, str]) -> str:
        """``code: phrase``; the codes: exact_hit, semantic_reuse, semantic_refused,
        no_candidate, semantic_off, miss."""
        query, decision = cache.get("query"), self.semantic
        if query == "hit":
            if decision and decision.hit:
                return ("exact_hit: asked before, the answer first reused from "
                        f"{decision.matched_query!r}")
            return "exact_hit: the same question was answered from these notes before"
        if query == "semantic_hit" and decision:
            return (f"semantic_reuse: every rule passed against "
                    f"{decision.matched_query!r} (cosine {decision.similarity})")
        if cache.get("semantic") == "off":
            return "semantic_off: the semantic cache is off (RAG_SEMANTIC_MODE)"
        if decision is not None and not decision.hit:
            rule = decision.reason
            if rule == "no_candidate":
                return "no_candidate: no cached question close enough"
            check = decision.checks.get(rule)
            detail = check.detail if check is not None else ""
            return f"semantic_refused: {rule} ({detail})" if detail else \
                f"semantic_refused: {rule}"
        return "miss: not answered before"

    def no_context_reason(self, *, refused: bool = False) -> str:
        """``no_context_reason`` of an answer that is no_context: ``code: phrase``; the codes:
        refused (the question itself was refused), filter_no_match (no note passes the
        request's filters), not_found (the no-context decision before the model: its rule and
        what that rule saw), declined (the model read the notes and replied that they hold no
        answer), and no_context (anything else)."""
        if refused:
            return "refused: the question holds nothing to answer once unsafe text is removed"
        if self.filters and self.filters.matched is False:
            return f"filter_no_match: no note of yours matches {self.filters.described}"
        relevance = self.relevance
        if relevance and not relevance.answer:
            rule = relevance.reason
            check = relevance.checks.get(rule)
            detail = check.detail if check is not None else ""
            phrase = _NOT_FOUND.get(rule, rule.replace("_", " "))
            return f"not_found: {phrase} ({rule}: {detail})" if detail else \
                f"not_found: {phrase}"
        if self.declined:
            return "declined: the model read your notes and found no answer in them"
        return "no_context: no answer was made from your notes"


@dataclass
class Answer:
    """What the pipeline returns; ``to_dict`` is the shape of ``ask --json`` and the API."""

    answer: str
    citations: list[Citation]
    no_context: bool
    generator: str
    cache: dict[str, CacheOutcome]
    usage: TokenUsage
    cost_usd: float
    timings_ms: dict[str, float]
    request_id: str
    # whose token counts ``usage`` and ``cost_usd`` rest on: ``provider`` (the model's server
    # reported them and they passed the checks: ``llm.usage``) or ``counted`` (the service's
    # own count: no figures, figures that failed, a stream, no model call or a cache hit)
    usage_source: str = "counted"
    stale: bool = False
    query_truncated: bool = False
    flags: list[str] = field(default_factory=list)
    retrieved: list[RetrievedRow] = field(default_factory=list)
    budget_state: str = "ok"
    # why the semantic cache reused an answer or not, and why no context was found: the rules
    # and what each saw, typed (``Decisions``)
    decisions: Decisions = field(default_factory=Decisions)
    # the id a user gives back with a verdict (``rag_core.answers.feedback``): a record in
    # PostgreSQL, with ``.<layer>`` when a cache served it; kept in the cache entry with the
    # question, so that a verdict can name what was asked (the API does not echo ``question``)
    answer_id: str = ""
    question: str = ""
    # why an answer is no_context, ``code: phrase`` (``Decisions.no_context_reason``); "" when the
    # notes answered. Kept with a cached answer, so a hit explains itself the same way.
    no_context_reason: str = ""
    # the model that wrote the answer (the provider's, "extractive", or "none" when no
    # generator ran); a cached answer keeps its writer's
    model: str = ""
    # made from the notes without a model, every model having failed (``answers.degraded``);
    # ``degraded_reason``: ``code: phrase``. Both in the JSON of a degraded answer only.
    degraded: bool = False
    degraded_reason: str = ""
    # when the answer was made (epoch seconds; 0 for an answer kept before answers carried it):
    # a request's ``max_age_s`` serves a cached answer only while it is younger
    made_at: float = 0.0
    # a question asked in a conversation (issue 80): its id, the question every step worked
    # on, and whether the turn was kept; set per request after the steps, never from a cache
    # (``from_dict`` does not read them back). None: a stateless question.
    conversation_id: str | None = None
    standalone_question: str | None = None
    conversation_saved: bool | None = None
    # what this request retrieved and sent (AnswerDebug); None for an answer taken from a cache
    # (an exact, semantic or stale hit), which packed nothing in this request. Not in to_dict.
    debug: AnswerDebug | None = field(default=None, repr=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(replace(self, debug=None))
        del data["debug"]
        data["decisions"] = self.decisions.to_dict()
        data["usage"] = {
            "input_tokens": self.usage.input_tokens,
            "output_tokens": self.usage.output_tokens,
        }
        if not self.degraded:
            del data["degraded"], data["degraded_reason"]
        if self.conversation_id is None:  # a stateless question's JSON is as it was
            del data["conversation_id"], data["standalone_question"], data["conversation_saved"]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Answer:
        return cls(
            answer=data["answer"],
            citations=[Citation(**c) for c in data["citations"]],
            no_context=data["no_context"],
            generator=data["generator"],
            cache=dict(data["cache"]),
            usage=TokenUsage(**data["usage"]),
            cost_usd=data["cost_usd"],
            timings_ms=dict(data["timings_ms"]),
            request_id=data["request_id"],
            usage_source=str(data.get("usage_source") or "counted"),
            stale=data.get("stale", False),
            query_truncated=data.get("query_truncated", False),
            flags=list(data.get("flags", [])),
            retrieved=[RetrievedRow(**r) for r in data.get("retrieved", [])],
            budget_state=data.get("budget_state", "ok"),
            decisions=Decisions.from_dict(data.get("decisions")),
            answer_id=str(data.get("answer_id") or ""),
            question=str(data.get("question") or ""),
            no_context_reason=str(data.get("no_context_reason") or ""),
            model=str(data.get("model") or ("none" if data["generator"] == "none" else "")),
            degraded=bool(data.get("degraded", False)),
            degraded_reason=str(data.get("degraded_reason") or ""),
            made_at=float(data.get("made_at") or 0.0),
        )

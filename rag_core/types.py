"""Plain data types that flow between the pipeline steps."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal

CacheOutcome = Literal["hit", "miss", "semantic_hit", "off", "error"]


@dataclass(frozen=True)
class Note:
    """One sermon note as a user wrote it."""

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
    tokens: int
    truncated: bool
    flags: tuple[str, ...] = ()


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
    stale: bool = False
    query_truncated: bool = False
    flags: list[str] = field(default_factory=list)
    retrieved: list[dict[str, Any]] = field(default_factory=list)
    budget_state: str = "ok"
    # why the semantic cache reused an answer or not, and why no context was found: the rules
    # and what each saw (rag_core.decisions.semantic_rules, rag_core.decisions.relevance)
    decisions: dict[str, Any] = field(default_factory=dict)
    # the id a user gives back with a verdict (``rag_core.answers.feedback``): a record in
    # PostgreSQL, with ``.<layer>`` when a cache served it; kept in the cache entry with the
    # question, so that a verdict can name what was asked (the API does not echo ``question``)
    answer_id: str = ""
    question: str = ""
    # why an answer is no_context, ``code: phrase`` (rag_core.decisions.reasons); "" when the
    # notes answered. Kept with a cached answer, so a hit explains itself the same way.
    no_context_reason: str = ""
    # what this request retrieved and sent (AnswerDebug); None for an answer taken from a cache
    # (an exact, semantic or stale hit), which packed nothing in this request. Not in to_dict.
    debug: AnswerDebug | None = field(default=None, repr=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(replace(self, debug=None))
        del data["debug"]
        data["usage"] = {
            "input_tokens": self.usage.input_tokens,
            "output_tokens": self.usage.output_tokens,
        }
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
            stale=data.get("stale", False),
            query_truncated=data.get("query_truncated", False),
            flags=list(data.get("flags", [])),
            retrieved=list(data.get("retrieved", [])),
            budget_state=data.get("budget_state", "ok"),
            decisions=dict(data.get("decisions") or {}),
            answer_id=str(data.get("answer_id") or ""),
            question=str(data.get("question") or ""),
            no_context_reason=str(data.get("no_context_reason") or ""),
        )

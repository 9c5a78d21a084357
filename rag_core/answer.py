"""The answer the pipeline returns (``Answer``): what ``ask --json``, the API and a cached
answer hold, made of the ground floor's values (``rag_core.types``) and the decisions it carries
(``rag_core.decision_records.Decisions``)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any

from rag_core.decision_records import Decisions
from rag_core.types import AnswerDebug, CacheOutcome, Citation, JsonObject, RetrievedRow, TokenUsage


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

    def to_dict(self) -> JsonObject:
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

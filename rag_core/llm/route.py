"""Model routing: a cheaper model for the questions a rule calls easy (``RAG_LLM_ROUTE=on``).

The cheap model (``RAG_LLM_CHEAP_MODEL`` on ``RAG_LLM_CHEAP_BASE_URL``) is the ``hf`` generator
behind a breaker and retries of its own (its shared state under ``rag:breaker:hf_cheap``, its
gauge ``circuit_breaker_state{name="llm_cheap"}``), the main model's token, timeouts and
thresholds. ``rag_core.parts.build_generator`` puts it in front of the main model in the one
chain of ``rag_core.llm.failover``: the cheap model, the main one, the second provider; after
them the stale answer and the degraded one (``rag_core.answers.generate``).

The rule (:class:`RouteRule`) reads what the pipeline already has when it is about to call a
model: the tokens of the packed context and the kind of answer the question asks for, as the
decisions read it (``rag_core.text.nlp.Facts.answer_type``). A question passes to the cheap
model when its context is at most ``RAG_LLM_ROUTE_MAX_CONTEXT_TOKENS`` and its kind is one of
``RAG_LLM_ROUTE_KINDS`` (empty: any); else the chain starts at the main model. The choice is
recorded (``decisions.route``), the answer names the model that wrote it (``model``), the bill is
reserved and settled at the prices of the model called (``RAG_PRICE_CHEAP_*`` for the cheap
one) and the ``generate`` span carries the route (``llm.route``) beside the chat span's model.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from rag_core.config import GenerationSettings, ModelCalls
from rag_core.config.route_section import CheapModel, Routing
from rag_core.decision_records import RouteRecord, RuleCheck
from rag_core.llm.failover import CHEAP_BREAKER, CHEAP_GAUGE, Provider
from rag_core.llm.hf import HFGenerator, make_client
from rag_core.llm.resilience import ResilientGenerator
from rag_core.redis_kv.client import RedisClient
from rag_core.text import nlp

if TYPE_CHECKING:
    from huggingface_hub import InferenceClient



def cheap_sections(generation: GenerationSettings, routing: Routing, cheap: CheapModel,
                   calls: ModelCalls) -> tuple[GenerationSettings, ModelCalls]:
    """The sections the cheap model is called with: its server and model in place of the main
    one's; the token, timeouts, retries and breaker thresholds the same."""
    return (generation.model_copy(update={"llm_model": routing.llm_cheap_model}),
            calls.model_copy(update={"llm_base_url": cheap.llm_cheap_base_url}))


def cheap_generator(generation: GenerationSettings, routing: Routing, cheap: CheapModel,
                    calls: ModelCalls, redis_client: RedisClient | None, *,
                    llm_client: InferenceClient | None = None) -> ResilientGenerator:
    """The cheap model's ``hf`` generator behind a breaker of its own (``llm_client``: its
    ``InferenceClient``, built by the edge; without one, one is made here)."""

    own_generation, own_calls = cheap_sections(generation, routing, cheap, calls)
    inner = HFGenerator(own_generation, own_calls, llm_client or make_client(own_calls),
                        provider=CHEAP_GAUGE)
    return ResilientGenerator(inner, own_calls, redis_client, breaker=CHEAP_BREAKER,
                              gauge=CHEAP_GAUGE)


def question_kind(question: str) -> str:
    """The kind of answer the question asks for, as the decisions read it."""
    return nlp.facts(question).answer_type


@dataclass(frozen=True)
class RouteRule:
    """Which questions the cheap model may take: a small context and a short kind of answer.

    ``kind_of`` reads a question's kind (the decisions' reading; a test may pass its own)."""

    max_context_tokens: int
    kinds: tuple[str, ...]
    kind_of: Callable[[str], str] = question_kind

    @classmethod
    def of(cls, routing: Routing) -> RouteRule:
        return cls(routing.llm_route_max_context_tokens, tuple(routing.llm_route_kinds))

    def checks(self, question: str, context_tokens: int) -> dict[str, RuleCheck]:
        """Each rule's verdict on one question, with what it saw."""
        kind = self.kind_of(question)
        return {
            "context_tokens": RuleCheck(
                context_tokens <= self.max_context_tokens,
                f"{context_tokens} tokens of context, at most {self.max_context_tokens}"),
            "kind": RuleCheck(not self.kinds or kind in self.kinds,
                              f"asks for {kind}" + (f"; the cheap model takes "
                                                    f"{', '.join(self.kinds)}"
                                                    if self.kinds else "")),
        }


def choose(providers: Sequence[Provider], routing: Routing, question: str,
           context_tokens: int,
           rule: RouteRule | None = None) -> tuple[tuple[Provider, ...], RouteRecord | None]:
    """The chain for one question and the route's record: every provider when the rule gives
    the question to the cheap model, else the chain from the main model on. No record when the
    chain has no cheap model (routing off, or a generator without one)."""
    chain = tuple(providers)
    if routing.llm_route != "on" or not chain or not chain[0].cheap:
        return tuple(p for p in chain if not p.cheap), None
    checks = (rule or RouteRule.of(routing)).checks(question, context_tokens)
    refused = [name for name, check in checks.items() if not check.passed]
    if refused:  # the chain has the main model after the cheap one (``Failover``)
        return chain[1:], RouteRecord("main", chain[1].model, refused[0], checks)
    return chain, RouteRecord("cheap", chain[0].model, "easy", checks)


def fell_back(record: RouteRecord | None) -> RouteRecord | None:
    """The record once the cheap model failed and the chain went on."""
    return replace(record, fell_back=True) if record is not None else None


__all__ = ["RouteRule", "cheap_generator", "cheap_sections", "choose", "fell_back",
           "question_kind"]

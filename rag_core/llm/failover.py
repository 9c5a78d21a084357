"""A second model provider behind the first: the order of who writes an answer.

``RAG_LLM_FALLBACK_BASE_URL`` names a second OpenAI-compatible server (with
``RAG_LLM_FALLBACK_MODEL``, ``HF_FALLBACK_TOKEN`` and prices of its own, ``Money.fallback_prices``).
When it is set, ``rag_core.parts.build_generator`` wraps the two in :class:`Failover`: a question
goes to the first provider; when the first one's breaker is open or its call failed after its
retries (``LLMUnavailable``), it goes to the second, through a breaker and retries of its own
(its shared state under ``rag:breaker:hf_fallback``, its gauge ``circuit_breaker_state{name=
"llm_fallback"}``). After both come the stale answer and the degraded one
(``rag_core.answers.generate``).

The pipeline bills each provider at its own prices, so it walks the chain itself
(:func:`providers_of`); :meth:`Failover.generate` and :meth:`Failover.stream` walk it for any
other caller. Readiness shows the first provider's breaker and configuration.

With model routing (``RAG_LLM_ROUTE=on``, ``rag_core.llm.route``) a cheaper model stands in
front of the first provider in the same chain: the cheap model, the main one, the second
provider. The pipeline leaves the cheap one out of a question the route's rule gives the main
model (``route.choose``).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from rag_core.config import GenerationSettings, ModelCalls
from rag_core.errors import LLMUnavailable
from rag_core.llm.base import Generation, Generator, GuardedGenerator, Prompt
from rag_core.llm.breaker_state import GAUGE_NAME
from rag_core.llm.health import Problem
from rag_core.llm.hf import HFGenerator, make_client
from rag_core.llm.resilience import ResilientGenerator
from rag_core.redis_kv.client import RedisClient
from rag_core.types import JsonObject

if TYPE_CHECKING:
    from huggingface_hub import InferenceClient


FALLBACK_BREAKER = "hf_fallback"  # the second provider's breaker state: rag:breaker:hf_fallback
FALLBACK_GAUGE = "llm_fallback"  # its circuit_breaker_state label


CHEAP_BREAKER = "hf_cheap"  # the cheap model's breaker state (model routing): rag:breaker:hf_cheap
CHEAP_GAUGE = "llm_cheap"  # its circuit_breaker_state label


@dataclass(frozen=True)
class Provider:
    """One provider in the order: its guarded generator, the model it asks and its server
    (None: the Hugging Face router, or no server at all), and whether it is the second one
    (billed at the fallback prices) or the cheap one of model routing (at the cheap prices)."""

    generator: Generator
    model: str
    base_url: str | None
    fallback: bool = False
    cheap: bool = False

    @property
    def label(self) -> str:
        """Its name in metrics (``circuit_breaker_state``, ``llm_usage_rejected_total``)."""
        return FALLBACK_GAUGE if self.fallback else CHEAP_GAUGE if self.cheap else GAUGE_NAME


def model_of(generator: object, model: str, base_url: str | None) -> tuple[str, str | None]:
    """The model a generator asks and its server: those of the first of its wrappers
    (``inner``) that names a model (``HFGenerator`` with its model-call section, the extractive
    generator), else ``model`` and ``base_url``."""
    while generator is not None:
        named = getattr(generator, "model", None)
        if isinstance(named, str):
            calls = getattr(generator, "calls", None)
            return named, getattr(calls, "llm_base_url", None)
        generator = getattr(generator, "inner", None)
    return model, base_url


def providers_of(generator: Generator, model: str,
                 base_url: str | None) -> tuple[Provider, ...]:
    """The providers a question goes to, in order: a :class:`Failover`'s two, else
    ``generator`` alone (``model`` and ``base_url``: the settings', for a generator that names
    none)."""
    if isinstance(generator, Failover):
        return generator.providers
    return (Provider(generator, *model_of(generator, model, base_url)),)


def fallback_sections(generation: GenerationSettings,
                      calls: ModelCalls) -> tuple[GenerationSettings, ModelCalls]:
    """The sections the second provider is called with: its server, token and model in place
    of the first one's; timeouts, retries and breaker thresholds the same."""
    return (generation.model_copy(update={
                "llm_model": calls.llm_fallback_model or generation.llm_model}),
            calls.model_copy(update={"llm_base_url": calls.llm_fallback_base_url,
                                     "hf_token": calls.hf_fallback_token}))


def fallback_generator(generation: GenerationSettings, calls: ModelCalls,
                       redis_client: RedisClient | None, *,
                       llm_client: InferenceClient | None = None) -> ResilientGenerator:
    """The second provider's ``hf`` generator behind a breaker of its own (``llm_client``: its
    ``InferenceClient``, built by the edge; without one, one is made here)."""

    own_generation, own_calls = fallback_sections(generation, calls)
    inner = HFGenerator(own_generation, own_calls, llm_client or make_client(own_calls),
                        provider=FALLBACK_GAUGE)
    return ResilientGenerator(inner, own_calls, redis_client, breaker=FALLBACK_BREAKER,
                              gauge=FALLBACK_GAUGE)


class Failover:
    """The providers in order (the cheap model of routing, when given; the first provider; the
    second, when given): a ``GuardedGenerator`` whose state, readiness and name are the first
    provider's."""

    def __init__(self, first: GuardedGenerator, second: GuardedGenerator | None = None, *,
                 cheap: GuardedGenerator | None = None) -> None:
        self.first, self.second, self.cheap = first, second, cheap
        self.name = first.name
        chain = []
        if cheap is not None:
            chain.append(Provider(cheap, *model_of(cheap, "", None), cheap=True))
        chain.append(Provider(first, *model_of(first, "", None)))
        if second is not None:
            chain.append(Provider(second, *model_of(second, "", None), fallback=True))
        self.providers = tuple(chain)

    @property
    def guarded(self) -> tuple[GuardedGenerator, ...]:
        return tuple(g for g in (self.cheap, self.first, self.second) if g is not None)

    @property
    def state(self) -> str:
        return self.first.state

    def retry_after(self) -> float:
        """The soonest of the breakers' waits (a client may retry when any may answer)."""
        return min(g.retry_after() for g in self.guarded)

    def check_config(self) -> JsonObject:
        return self.first.check_config()

    def startup_check(self) -> Problem | None:
        """Every provider's configuration probe; the first one's problem is the one reported
        (the others' are remembered by their own health and logged)."""
        problems = {id(g): getattr(g, "startup_check", lambda: None)() for g in self.guarded}
        return problems[id(self.first)]

    def reset(self) -> None:
        for generator in self.guarded:
            reset = getattr(generator, "reset", None)
            if callable(reset):
                reset()

    def generate(self, prompt: Prompt) -> Generation:
        *before, last = self.providers
        for provider in before:
            try:
                return provider.generator.generate(prompt)
            except LLMUnavailable:
                continue
        return last.generator.generate(prompt)

    def stream(self, prompt: Prompt) -> Iterator[str]:
        """The first provider's pieces in the order; the next one's when it fails before its
        first piece (a failure after text was sent ends the stream, as with one provider)."""
        *before, last = self.providers
        for provider in before:
            sent = False
            try:
                for piece in provider.generator.stream(prompt):
                    sent = True
                    yield piece
                return
            except LLMUnavailable:
                if sent:
                    raise
        yield from last.generator.stream(prompt)

"""Generation: prompt, generators (extractive, hf), the mock LLM server, the circuit breaker."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, get_args

from rag_core.config import GenerationSettings, Settings
from rag_core.llm.base import Generation, Generator, Prompt

if TYPE_CHECKING:
    from huggingface_hub import InferenceClient

    from rag_core.llm.resilience import ResilientGenerator

__all__ = ["GENERATORS", "Generation", "Generator", "Prompt", "build_generator",
           "reset_breakers"]

# the generators ``settings.llm`` may name (the setting owns the list); each has a circuit
# breaker of its name
GENERATORS: tuple[str, ...] = get_args(GenerationSettings.model_fields["llm"].annotation)


def build_generator(settings: Settings, redis_client: Any = None, *,
                    llm_client: InferenceClient | None = None) -> ResilientGenerator:
    """The generator that ``settings.llm`` names, behind the circuit breaker and retries.

    ``redis_client`` (a ``redis.Redis``, bytes or decoded responses) shares the breaker's state
    between worker processes; without it the state lives in this process. ``llm_client``: the
    ``InferenceClient`` of the hosted model (``rag_core.llm.hf.make_client``), built at the edge;
    without one, the ``hf`` generator builds its own.
    """
    # lazy: every import of rag_core.llm.* reads this package (an exact hit's prompt_id); the
    # generators and their breaker (pybreaker, redis-py: ~280 modules) load when one is built
    from rag_core.llm.resilience import ResilientGenerator

    inner: Generator
    if settings.generation.llm == "hf":
        from rag_core.llm.hf import hf_generator  # lazy: as above, hf only

        inner = hf_generator(settings, llm_client)
    else:
        from rag_core.llm.extractive import ExtractiveGenerator  # lazy: as above

        inner = ExtractiveGenerator()
    return ResilientGenerator(inner, settings.model_calls, redis_client)


def reset_breakers(redis_client: Any) -> None:
    """Every generator's shared circuit breaker (the second provider's and the cheap model's
    too) closed and cleared (``redis_client`` None: nothing is shared, nothing to do)."""
    # lazy: as in build_generator (the breakers' modules, ~290 modules)
    from rag_core.llm.breaker_state import SharedBreakerStorage
    from rag_core.llm.failover import CHEAP_BREAKER, FALLBACK_BREAKER
    from rag_core.redis_kv.keys import breaker_prefix

    if redis_client is None:
        return
    for name in (*GENERATORS, FALLBACK_BREAKER, CHEAP_BREAKER):
        SharedBreakerStorage(redis_client, breaker_prefix(name)).clear()

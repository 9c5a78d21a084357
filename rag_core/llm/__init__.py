"""Generation: prompt, generators (extractive, hf), the mock LLM server, the circuit breaker."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rag_core.config import Settings
from rag_core.llm.base import Generation, Generator, Prompt

if TYPE_CHECKING:
    from rag_core.llm.resilience import ResilientGenerator

__all__ = ["Generation", "Generator", "Prompt", "build_generator"]


def build_generator(settings: Settings, redis_client: Any = None) -> ResilientGenerator:
    """The generator that ``settings.llm`` names, behind the circuit breaker and retries.

    ``redis_client`` (a ``redis.Redis``, bytes or decoded responses) shares the breaker's state
    between worker processes; without it the state lives in this process.
    """
    from rag_core.llm.resilience import ResilientGenerator

    inner: Generator
    if settings.llm == "hf":
        from rag_core.llm.hf import HFGenerator

        inner = HFGenerator(settings)
    else:
        from rag_core.llm.extractive import ExtractiveGenerator

        inner = ExtractiveGenerator()
    return ResilientGenerator(inner, settings, redis_client)

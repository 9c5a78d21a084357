"""Generation: prompt, generators (extractive, hf), the mock LLM server, the circuit breaker."""

from __future__ import annotations

from typing import Any

from rag_core.config import Settings
from rag_core.llm.base import Generation, Generator, Prompt

__all__ = ["Generation", "Generator", "Prompt", "build_generator"]


def build_generator(settings: Settings, redis_client: Any = None) -> Any:
    """The generator that Settings name, behind the circuit breaker and retries."""
    from rag_core.llm.resilience import ResilientGenerator

    inner: Generator
    if settings.llm == "hf":
        from rag_core.llm.hf import HFGenerator

        inner = HFGenerator(settings)
    else:
        from rag_core.llm.extractive import ExtractiveGenerator

        inner = ExtractiveGenerator()
    return ResilientGenerator(inner, settings, redis_client)

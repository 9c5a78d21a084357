"""The Generator protocol: a prompt in, text and token usage out."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from rag_core.types import Chunk, TokenUsage


@dataclass(frozen=True)
class Prompt:
    """Chat messages for a chat-completion model, plus what offline generators need."""

    messages: list[dict[str, str]]
    question: str
    chunks: list[Chunk] = field(default_factory=list)
    max_tokens: int = 400


@dataclass
class Generation:
    text: str
    usage: TokenUsage
    model: str


class Generator(Protocol):
    name: str

    def generate(self, prompt: Prompt) -> Generation: ...

    def stream(self, prompt: Prompt) -> Iterator[str]:
        """Yield text pieces; implementations that cannot stream yield the whole text once."""


class GuardedGenerator(Generator, Protocol):
    """A Generator behind a circuit breaker (``ResilientGenerator``): what the pipeline and the
    readiness check use. Every failure reaches the caller as ``LLMUnavailable``."""

    @property
    def state(self) -> str:
        """"closed", "open" or "half-open"."""

    def retry_after(self) -> float:
        """Seconds until the breaker lets a probe through (0 when closed)."""

    def check_config(self) -> dict[str, Any]:
        """``{"ok": True}``, or the remembered misconfiguration (``LLM_MISCONFIGURED``)."""

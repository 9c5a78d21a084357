"""The Generator protocol: a prompt in, text and token usage out."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Protocol

from rag_core.types import Chunk, JsonObject, TokenUsage

# The one sentence a model that finds no answer in the notes replies with (the decline marker,
# asked for by the prompt's rule 4: ``llm.prompt``); an answer that is this sentence counts as
# "nothing in your notes" (``is_decline``). An honest answer may say it, so it never counts as
# an echo of the prompt.
DECLINE = "Your notes do not seem to cover it."
REFUSAL = DECLINE.rstrip(".").lower()


def is_decline(text: str) -> bool:
    """Whether an answer is the decline marker alone (case, spacing, quotes, a citation and
    the final stop aside)."""
    bare = re.sub(r"\[\d+\]", " ", text).strip().strip("\"'“”").rstrip(" .!")
    return " ".join(bare.lower().split()) == REFUSAL


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
    finish_reason: str | None = None  # the server's, when it says (``stop``, ``length``)
    response_id: str | None = None  # the server's id of the completion
    # whose figures ``usage`` holds: the provider's (checked: ``llm.usage``) or our own count
    usage_source: str = "provider"


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

    def check_config(self) -> JsonObject:
        """``{"ok": True}``, or the remembered misconfiguration (``LLM_MISCONFIGURED``)."""

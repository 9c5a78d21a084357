"""The model call of step 6 as the GenAI conventions' inference span: ``chat {model}``, kind
CLIENT (INTERNAL for a generator that runs in this process), under ``assistant.generate``,
with the request's and the response's attributes, the usage and the finish reason, and its
duration, tokens and (streamed) time to the first chunk in the conventions' metrics.

The question and the answer text go on it only when ``RAG_OTEL_CAPTURE_CONTENT`` is on (off by
default): as ``gen_ai.input.messages`` / ``gen_ai.output.messages`` with the latest conventions
(``OTEL_SEMCONV_STABILITY_OPT_IN=gen_ai_latest_experimental``), else as the older
``gen_ai.user.message`` / ``gen_ai.choice`` span events.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from rag_core.telemetry import genai_metrics, tracing
from rag_core.telemetry import semconv as sc

if TYPE_CHECKING:
    from opentelemetry.util.types import AttributeValue

IN_PROCESS = "rag_core"  # the provider name of a generator that is no model server


@dataclass(frozen=True)
class ChatRequest:
    generator: str  # the generator's name (``hf``, ``extractive`` ...)
    model: str
    base_url: str | None  # the model's server; None: the Hugging Face router
    max_tokens: int
    temperature: float | None = None
    question: str | None = None  # set only when content capture is on


def provider_of(generator: str, base_url: str | None) -> str:
    if generator != "hf":
        return IN_PROCESS
    return "huggingface" if base_url is None else "openai_compatible"


def request_attributes(request: ChatRequest) -> dict[str, AttributeValue]:
    """The attributes known before the call."""
    provider = provider_of(request.generator, request.base_url)
    model = request.model if provider != IN_PROCESS else request.generator
    attributes: dict[str, AttributeValue] = {
        sc.OPERATION: "chat", **sc.provider_attributes(provider), sc.REQUEST_MODEL: model,
        sc.REQUEST_MAX_TOKENS: request.max_tokens, "openinference.span.kind": "LLM"}
    if request.temperature is not None and provider != IN_PROCESS:
        attributes[sc.REQUEST_TEMPERATURE] = float(request.temperature)
    if request.base_url:
        parts = urlsplit(request.base_url)
        if parts.hostname:
            attributes[sc.SERVER_ADDRESS] = parts.hostname
            attributes[sc.SERVER_PORT] = parts.port or (443 if parts.scheme == "https" else 80)
    return attributes


class Chat:
    """One model call's span (started, never made current but around the call itself) and its
    metrics. ``finish`` or ``fail`` ends it; ``close`` ends one left open (the client went
    away)."""

    def __init__(self, parent: tracing.Span, request: ChatRequest, request_id: str | None) -> None:
        attributes = request_attributes(request)
        self.op = genai_metrics.Operation("chat", str(attributes[sc.PROVIDER]),
                                          str(attributes[sc.REQUEST_MODEL]))
        kind = "internal" if self.op.provider == IN_PROCESS else "client"
        self.span = tracing.child_span(f"chat {self.op.model}", parent, request_id=request_id,
                                       start_time=None, kind=kind, **attributes)
        self.request = request
        self.started = time.perf_counter()
        self.first: float | None = None
        self._open = True
        if request.question is not None:
            if sc.latest():
                self.span.set_attribute(sc.INPUT_MESSAGES, sc.messages("user", request.question))
            else:
                self.span.add_event("gen_ai.user.message", {"content": request.question})

    def chunk(self) -> None:
        """A piece of a streamed answer arrived (the first one is timed)."""
        if self.first is None:
            self.first = time.perf_counter() - self.started
            genai_metrics.first_chunk(self.op, self.first)
            self.span.add_event("gen_ai.first_chunk")

    def finish(self, input_tokens: int, output_tokens: int, *, finish_reason: str,
               response_model: str | None = None, response_id: str | None = None,
               answer: str | None = None) -> None:
        if not self._open:
            return
        self._open = False
        span = self.span
        span.set_attribute(sc.RESPONSE_MODEL, response_model or self.op.model)
        if response_id:
            span.set_attribute(sc.RESPONSE_ID, response_id)
        span.set_attribute(sc.FINISH_REASONS, [finish_reason])
        span.set_attribute(sc.INPUT_TOKENS, input_tokens)
        span.set_attribute(sc.OUTPUT_TOKENS, output_tokens)
        if answer is not None and self.request.question is not None:
            if sc.latest():
                span.set_attribute(sc.OUTPUT_MESSAGES,
                                   sc.messages("assistant", answer, finish_reason))
            else:
                span.add_event("gen_ai.choice", {"index": 0, "finish_reason": finish_reason,
                                                 "message": json.dumps({"content": answer})})
        genai_metrics.record(self.op, time.perf_counter() - self.started, input_tokens,
                             output_tokens)
        span.end()

    def fail(self, error_type: str) -> None:
        if not self._open:
            return
        self._open = False
        sc.mark_error(self.span, error_type)
        genai_metrics.record(self.op, time.perf_counter() - self.started, None,
                             error_type=error_type)
        self.span.end()

    def close(self) -> None:
        self.fail("cancelled")


def finish_reason(output_tokens: int, max_tokens: int, reported: str | None = None) -> str:
    """The model's own finish reason when its server sent one; else ``length`` for an answer
    that used its whole output budget, ``stop`` otherwise."""
    if reported:
        return reported
    return "length" if max_tokens and output_tokens >= max_tokens else "stop"

"""The names of the OpenTelemetry GenAI semantic conventions, and which version of them is
emitted.

The conventions are still in development. Their transition plan: an instrumentation that emitted
v1.36.0 or earlier keeps doing so by default, and emits the latest names instead (never both)
when ``OTEL_SEMCONV_STABILITY_OPT_IN`` (a comma-separated list) holds
``gen_ai_latest_experimental``. This service emitted ``gen_ai.system`` beside
``gen_ai.provider.name`` before; by default it still does, and with the opt-in it drops
``gen_ai.system`` and writes the question and answer text (when ``RAG_OTEL_CAPTURE_CONTENT``
allows any) as the ``gen_ai.input.messages`` / ``gen_ai.output.messages`` attributes instead of
the older ``gen_ai.user.message`` / ``gen_ai.choice`` span events.
"""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rag_core.telemetry.tracing import Span

OPT_IN_ENV = "OTEL_SEMCONV_STABILITY_OPT_IN"
LATEST = "gen_ai_latest_experimental"

OPERATION = "gen_ai.operation.name"
PROVIDER = "gen_ai.provider.name"
SYSTEM = "gen_ai.system"  # the name of the provider up to v1.36.0
REQUEST_MODEL = "gen_ai.request.model"
REQUEST_MAX_TOKENS = "gen_ai.request.max_tokens"
REQUEST_TEMPERATURE = "gen_ai.request.temperature"
RESPONSE_MODEL = "gen_ai.response.model"
RESPONSE_ID = "gen_ai.response.id"
FINISH_REASONS = "gen_ai.response.finish_reasons"
INPUT_TOKENS = "gen_ai.usage.input_tokens"
OUTPUT_TOKENS = "gen_ai.usage.output_tokens"
TOKEN_TYPE = "gen_ai.token.type"
INPUT_MESSAGES = "gen_ai.input.messages"
OUTPUT_MESSAGES = "gen_ai.output.messages"
SERVER_ADDRESS = "server.address"
SERVER_PORT = "server.port"
ERROR_TYPE = "error.type"

EVALUATION_EVENT = "gen_ai.evaluation.result"
EVALUATION_NAME = "gen_ai.evaluation.name"
EVALUATION_SCORE = "gen_ai.evaluation.score.value"
EVALUATION_LABEL = "gen_ai.evaluation.score.label"
EVALUATION_EXPLANATION = "gen_ai.evaluation.explanation"


def latest(environ: dict[str, str] | None = None) -> bool:
    """Whether the operator opted in to the latest experimental GenAI conventions."""
    value = (environ if environ is not None else os.environ).get(OPT_IN_ENV, "")
    return LATEST in {part.strip() for part in value.split(",")}


def provider_attributes(provider: str, environ: dict[str, str] | None = None
                        ) -> dict[str, str]:
    """The provider's name under the attribute(s) of the conventions in force."""
    if latest(environ):
        return {PROVIDER: provider}
    return {PROVIDER: provider, SYSTEM: provider}


def messages(role: str, text: str, finish_reason: str | None = None) -> str:
    """One message in the conventions' JSON shape (``gen_ai.input.messages`` and
    ``gen_ai.output.messages`` hold a list of them)."""
    message: dict[str, object] = {"role": role, "parts": [{"type": "text", "content": text}]}
    if finish_reason is not None:
        message["finish_reason"] = finish_reason
    return json.dumps([message], ensure_ascii=False)


def mark_error(span: Span, error_type: str) -> None:
    """A failed operation's span, as the conventions record errors: status ERROR with a short
    description (an error code, never text) and ``error.type``."""
    from opentelemetry.trace import Status, StatusCode

    span.set_attribute(ERROR_TYPE, error_type)
    span.set_status(Status(StatusCode.ERROR, error_type))

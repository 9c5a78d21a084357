"""The GenAI conventions' client metrics, twice: through the OpenTelemetry metrics SDK (to the
OTLP exporter, when ``RAG_OTEL_EXPORTER=otlp`` installs a meter provider; a no-op otherwise)
and as Prometheus histograms on ``/metrics``, named as OpenTelemetry's Prometheus exporter
names them (the unit as a suffix, dots as underscores):

- ``gen_ai.client.token.usage`` -> ``gen_ai_client_token_usage`` (by ``gen_ai_token_type``)
- ``gen_ai.client.operation.duration`` -> ``gen_ai_client_operation_duration_seconds``
- ``gen_ai.client.operation.time_to_first_chunk`` ->
  ``gen_ai_client_operation_time_to_first_chunk_seconds`` (streamed answers only)

Buckets are the conventions' advisory boundaries. Labels are bounded: the operation, the
provider, the requested model (a setting, not a caller's value) and the token type.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING

from rag_core.telemetry import metrics
from rag_core.telemetry import semconv as sc

if TYPE_CHECKING:
    from opentelemetry.metrics import Histogram, MeterProvider

TOKEN_BUCKETS = (1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304,
                 16777216, 67108864)
DURATION_BUCKETS = (0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48,
                    40.96, 81.92)
LABELS = ("gen_ai_operation_name", "gen_ai_provider_name", "gen_ai_request_model")



@dataclass(frozen=True)
class Operation:
    """What a GenAI metric point is about."""

    name: str  # chat | embeddings
    provider: str
    model: str

    def labels(self) -> dict[str, str]:
        return {"gen_ai_operation_name": self.name, "gen_ai_provider_name": self.provider,
                "gen_ai_request_model": self.model}

    def attributes(self) -> dict[str, str]:
        return {sc.OPERATION: self.name, **sc.provider_attributes(self.provider),
                sc.REQUEST_MODEL: self.model}


class _Instruments:
    """The OpenTelemetry instruments, made on first use from the global meter provider (a
    proxy until ``telemetry.export`` installs one, which it then forwards to)."""

    def __init__(self, provider: MeterProvider | None = None) -> None:
        self._lock = threading.Lock()
        self._made: tuple[Histogram, Histogram, Histogram] | None = None
        self.provider = provider  # None: the global one (tests give their own)

    def get(self) -> tuple[Histogram, Histogram, Histogram]:
        with self._lock:
            if self._made is None:
                from opentelemetry import metrics

                meter = metrics.get_meter("rag_core", meter_provider=self.provider)
                self._made = (
                    meter.create_histogram(
                        "gen_ai.client.token.usage", unit="{token}",
                        description="Number of input and output tokens used",
                        explicit_bucket_boundaries_advisory=list(TOKEN_BUCKETS)),
                    meter.create_histogram(
                        "gen_ai.client.operation.duration", unit="s",
                        description="GenAI operation duration",
                        explicit_bucket_boundaries_advisory=list(DURATION_BUCKETS)),
                    meter.create_histogram(
                        "gen_ai.client.operation.time_to_first_chunk", unit="s",
                        description="Time to the first chunk of a streamed response",
                        explicit_bucket_boundaries_advisory=list(DURATION_BUCKETS)))
            return self._made


_instruments = _Instruments()


def record(op: Operation, seconds: float, input_tokens: int | None,
           output_tokens: int | None = None, error_type: str | None = None) -> None:
    """One finished operation: its duration and, when it did not fail, its tokens."""
    tokens, duration, _ = _instruments.get()
    attributes = op.attributes()
    metrics.GENAI_DURATION.labels(**op.labels(), error_type=error_type or "").observe(seconds)
    duration.record(seconds, {**attributes, **({sc.ERROR_TYPE: error_type} if error_type
                                               else {})})
    if error_type:
        return
    for kind, count in (("input", input_tokens), ("output", output_tokens)):
        if count is not None:
            metrics.GENAI_TOKEN_USAGE.labels(**op.labels(), gen_ai_token_type=kind).observe(count)
            tokens.record(count, {**attributes, sc.TOKEN_TYPE: kind})


def first_chunk(op: Operation, seconds: float) -> None:
    """The time from the call to the first piece of a streamed answer."""
    _, _, first = _instruments.get()
    metrics.GENAI_FIRST_CHUNK.labels(**op.labels()).observe(seconds)
    first.record(seconds, op.attributes())

"""The export of ``RAG_OTEL_EXPORTER=otlp``: the OpenTelemetry SDK's own ``BatchSpanProcessor``
and ``OTLPSpanExporter``, wrapped (never patched) to count what they send and lose.

A question never waits for the exporter: an ended span goes into the SDK's bounded queue
(``MAX_QUEUE``) and the SDK's thread sends batches of up to ``BATCH`` at least once every
``INTERVAL_MS``, each export bounded by ``OTEL_EXPORTER_OTLP_TIMEOUT``. A span that finds the
queue full is dropped (the SDK drops one) and counted in
``otel_spans_dropped_total{reason="queue_full"}``; a batch the exporter fails is counted as
``export_failed``; a batch sent, in ``otel_spans_exported_total``. A span of the service's own
tracer (``telemetry.light``) becomes the SDK's ``ReadableSpan`` on the export thread, not on the
request's path.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

from rag_core.telemetry import light, metrics

if TYPE_CHECKING:
    from opentelemetry.context import Context

MAX_QUEUE = 2048  # ended spans waiting for the exporter; more are dropped and counted
BATCH = 512
INTERVAL_MS = 1000  # the longest a span waits before its batch is sent


class CountedExporter(SpanExporter):
    """``inner`` (the SDK's OTLP exporter), its batches counted; light spans made readable."""

    def __init__(self, inner: SpanExporter) -> None:
        self.inner = inner
        self.taken = 0  # spans the batch processor has handed over so far

    def export(self, spans: Sequence[Any]) -> SpanExportResult:
        self.taken += len(spans)
        try:
            result = self.inner.export([light.readable(span) for span in spans])
        except Exception:  # the exporter's own failure: the batch is lost, not the answer
            result = SpanExportResult.FAILURE
        if result is SpanExportResult.SUCCESS:
            metrics.SPANS_EXPORTED.inc(len(spans))
        else:
            metrics.SPANS_DROPPED.labels(reason="export_failed").inc(len(spans))
        return result

    def shutdown(self) -> None:
        self.inner.shutdown()

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return self.inner.force_flush(timeout_millis)


class CountedBatches(BatchSpanProcessor):
    """The SDK's batch processor over a ``CountedExporter``; a span that finds the queue full
    is counted as dropped. The queue's length is what was offered less what the exporter took
    (a batch taken but not yet in ``export`` makes it overshoot by a few spans at most)."""

    def __init__(self, exporter: SpanExporter, *, max_queue: int = MAX_QUEUE,
                 batch: int = BATCH, interval_ms: float = INTERVAL_MS) -> None:
        self.counted = CountedExporter(exporter)
        self.max_queue = max_queue
        self.offered = 0
        super().__init__(self.counted, max_queue_size=max_queue,
                         schedule_delay_millis=interval_ms, max_export_batch_size=batch)

    def on_start(self, span: Any, parent_context: Context | None = None) -> None:
        return None

    def on_end(self, span: ReadableSpan) -> None:
        if not span.context.trace_flags.sampled:
            return
        if self.offered - self.counted.taken >= self.max_queue:
            metrics.SPANS_DROPPED.labels(reason="queue_full").inc()
        else:
            self.offered += 1
        super().on_end(span)

    def put(self, span: Any) -> None:
        """An ended span of the service's own tracer (``light.LightSpan``'s sink)."""
        self.on_end(span)

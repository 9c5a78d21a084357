"""The bounded queue between the spans a question ends and the exporter (``BoundedExport``).

A question never waits for the exporter: finished spans go into a bounded queue that a daemon
thread empties in batches. A full queue drops the span, an export that fails or times out drops
its batch, and both are counted in ``otel_spans_dropped_total{reason}``; an exporter that is down
or hangs costs the traces, never an answer. ``relay.RelayedExport``, the processor of
``RAG_OTEL_EXPORTER=otlp``, hands the spans to a process of its own instead, with the same
bound and counters, and falls back to this queue when that process cannot start.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from typing import Any

from rag_core.telemetry import metrics

MAX_QUEUE = 2048  # finished spans waiting for the exporter; more are dropped
BATCH = 512
INTERVAL_S = 1.0  # the longest a span waits in the queue before its batch is sent
SHUTDOWN_FLUSH_S = 5.0  # how long a shutdown waits for the queue to empty



class SpanSink:
    """What the SDK calls on a span processor, of which only an ended, sampled span matters
    here: it goes to ``put``."""

    def on_start(self, span: Any, parent_context: Any = None) -> None:
        return None

    def _on_ending(self, span: Any) -> None:
        return None

    def on_end(self, span: Any) -> None:
        if span.context.trace_flags.sampled:
            self.put(span)

    def put(self, span: Any) -> None:
        raise NotImplementedError


class BoundedExport(SpanSink):
    """A span processor: finished spans into a bounded queue, exported in batches by a daemon
    thread (see the module docstring)."""

    def __init__(self, exporter: Any, *, max_queue: int = MAX_QUEUE, batch: int = BATCH,
                 interval_s: float = INTERVAL_S) -> None:
        self.exporter = exporter
        self.max_queue, self.batch, self.interval_s = max_queue, batch, interval_s
        self.queue: deque[Any] = deque()
        self.cond = threading.Condition()
        self.busy = False  # a batch is being exported
        self.stopped = False
        self.thread = threading.Thread(target=self._run, name="otel-export", daemon=True)
        self.thread.start()

    def put(self, span: Any) -> None:
        """A finished, sampled span into the queue. No lock on the request's path: a deque's
        append is atomic, so the bound may be overshot by the few spans that race past the
        check; the export thread is woken only when a batch is full (else its interval)."""
        if self.stopped or len(self.queue) >= self.max_queue:
            metrics.SPANS_DROPPED.labels(reason="queue_full").inc()
            return
        self.queue.append(span)
        if len(self.queue) == self.batch:
            with self.cond:
                self.cond.notify_all()

    def _take(self) -> list[Any]:
        with self.cond:
            if not self.queue and not self.stopped:
                self.cond.wait(self.interval_s)
            taken = [self.queue.popleft() for _ in range(min(self.batch, len(self.queue)))]
            self.busy = bool(taken)
            return taken

    def deliver(self, batch: list[Any]) -> None:
        """One batch to the exporter, on the export thread, counted."""
        from opentelemetry.sdk.trace.export import SpanExportResult

        from rag_core.telemetry.light import readable

        try:
            ok = self.exporter.export([readable(span) for span in batch]) \
                == SpanExportResult.SUCCESS
        except Exception:  # the exporter's own failure: the batch is lost, not the app
            ok = False
        if ok:
            metrics.SPANS_EXPORTED.inc(len(batch))
        else:
            metrics.SPANS_DROPPED.labels(reason="export_failed").inc(len(batch))

    def _run(self) -> None:
        while True:
            batch = self._take()
            if batch:
                self.deliver(batch)
            with self.cond:
                self.busy = False
                self.cond.notify_all()
                if self.stopped and not self.queue:
                    return

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        """Wait (at most ``timeout_millis``) until every span queued so far is exported."""
        deadline = time.monotonic() + timeout_millis / 1000
        with self.cond:
            self.cond.notify_all()
            while self.queue or self.busy:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self.cond.wait(min(left, 0.05))
                self.cond.notify_all()
        return True

    def shutdown(self) -> None:
        self.force_flush(int(SHUTDOWN_FLUSH_S * 1000))
        with self.cond:
            self.stopped = True
            self.cond.notify_all()
        if self.exporter is not None:
            self.exporter.shutdown()

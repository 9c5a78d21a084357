"""Spans exported by a process of their own, so that what the export costs stays off the answers.

Turning spans into OTLP (the SDK's ``ReadableSpan``, then its protobuf encoder) costs about 25 us
of Python a span, and a second Python thread that does it takes turns at the interpreter's lock
with the event loop: the cached answers in flight wait for those turns, so tracing showed in
their p99 although no request waits for the exporter. With ``RAG_OTEL_EXPORTER=otlp`` the
worker has no export thread: the thread that ends a span copies it into plain tuples
(``plain``, about 3 us a span) and nothing more. Once ``FRAME`` spans wait, it wakes a ticker,
which pickles them and writes the frame to a child process (``relay_process``) without blocking;
the ticker also wakes once every ``interval_s`` (or when a flush asks) to send a partial frame,
to write what the pipe refused and to start the child. The pickling was first done by the thread
that filled the frame, on one answer in thirteen: with answers 10 ms apart a cached answer's p99
came out 0.91-1.21x of tracing off in three runs in process, against 1.02x in three runs with
the ticker writing (``docs/tracing-overhead.md``). The ticker takes the interpreter's lock while
the event loop waits on I/O or between answers. What the pipe does not take waits in the worker,
bounded by the queue's ``MAX_QUEUE`` spans; beyond it spans are dropped and counted in
``otel_spans_dropped_total{reason="queue_full"}``.

The child encodes the spans in OTLP's protobuf (``otlp_wire``: a plain span directly, any other
the SDK's way, with the same limits and checks), gathers them into batches of up to
``batches.BATCH``, sent once full or once the oldest has waited the interval there, with the
SDK's OTLP exporter, configured by the same ``OTEL_*`` variables (it inherits the environment).
It runs at the lowest CPU priority (the idle class): when the machine is short of CPU the
answers go first and the export falls behind; then its pipe fills, the worker's buffer fills and
the spans beyond it are dropped and counted, as when a collector hangs. The child answers each
frame with a line, ``E n`` (exported) or ``F n`` (failed), which a thread of the worker (asleep
on the pipe in between) counts in ``otel_spans_exported_total`` and
``otel_spans_dropped_total{reason="export_failed"}``; a flush asks the child to send what it
gathered and waits for those answers. A child that dies loses the frames it had not answered
(counted as failed); the ticker starts another, at most once every ``RESTART_S``, and the spans
that end meanwhile are held within the bound (a flush with no child to take them counts them as
failed). A worker whose child fails to start twice in a row exports on an export thread of its
own (``batches.BoundedExport``), as before, and logs a warning.
"""

from __future__ import annotations

import contextlib
import logging
import select
import sys
import threading
import time
from typing import Any

from rag_core.telemetry import batches, metrics
from rag_core.telemetry.relay_child import Child, Origins

log = logging.getLogger("rag_core.telemetry")

FRAME = 64  # spans the worker hands over at a time
RESTART_S = 5.0  # the shortest time between two starts of the child
STARTS_BEFORE_IN_PROCESS = 2  # failed starts in a row before exporting in the worker again


def plain(span: Any, key: int) -> tuple[Any, ...]:
    """What a finished span recorded, in builtin types (``relay_process.rebuilt`` reads it
    back)."""
    ctx, parent = span.context, span.parent
    events = [event if isinstance(event, tuple)
              else (event.name, dict(event.attributes) if event.attributes else None,
                    event.timestamp)
              for event in span.events]
    links = [((link.context.trace_id, link.context.span_id, int(link.context.trace_flags)),
              dict(link.attributes) if link.attributes else None) for link in span.links]
    return (key, span.name, ctx.trace_id, ctx.span_id, int(ctx.trace_flags),
            list(ctx.trace_state.items()) if ctx.trace_state else None,
            (parent.trace_id, parent.span_id, parent.is_remote, int(parent.trace_flags))
            if parent is not None else None,
            span.kind.value, dict(span.attributes or {}), events, links,
            span.status.status_code.value, span.status.description, span.start_time,
            span.end_time)


class RelayedExport(batches.SpanSink):
    """A span processor whose spans a child process exports, handed over in frames by the
    threads that end them (see the module docstring)."""

    def __init__(self, timeout_s: float, command: list[str] | None = None, *,
                 max_queue: int = batches.MAX_QUEUE, interval_s: float = batches.INTERVAL_S
                 ) -> None:
        self.timeout_s, self.max_queue, self.interval_s = timeout_s, max_queue, interval_s
        self.command = [*(command or [sys.executable, "-m", "rag_core.telemetry.relay_process"]),
                        str(timeout_s), str(batches.BATCH), str(interval_s)]
        self.origins = Origins()
        self.lock = threading.Condition()  # what follows; notified as frames are answered
        self.records: list[tuple[Any, ...]] = []  # ended spans not in a frame yet
        self.child: Child | None = None
        self.unanswered = 0  # spans in frames given to a child and not answered yet
        self.failed_starts = 0
        self.next_start = 0.0
        self.fallback: batches.BoundedExport | None = None  # the worker's own export thread
        self.flushes_asked = self.flushes_done = 0
        self.stopped = False
        self.wake = threading.Event()
        threading.Thread(target=self._tick, name="otel-relay", daemon=True).start()

    @property
    def in_process(self) -> bool:
        return self.fallback is not None

    # --- on the threads that end spans ------------------------------------------------------

    def put(self, span: Any) -> None:
        """A finished, sampled span, copied; the ``FRAME``-th waiting wakes the ticker, which
        writes them to the child."""
        fallback = self.fallback
        if fallback is not None:
            fallback.put(span)
            return
        record = plain(span, self.origins.key_of(span))
        with self.lock:
            child = self.child
            held = len(self.records) + (child.unsent_spans if child is not None else 0)
            full = self.stopped or held >= self.max_queue
            if not full:
                self.records.append(record)
                if len(self.records) == FRAME:
                    self.wake.set()  # the ticker writes the frame
        if full:
            metrics.SPANS_DROPPED.labels(reason="queue_full").inc()

    def _seal(self, child: Child) -> None:
        """The records so far as a frame for ``child``. Under the lock."""
        child.add(self.records, self.origins)
        self.unanswered += len(self.records)
        self.records = []

    # --- on the ticker ------------------------------------------------------------------------

    def _tick(self) -> None:
        """Start the child, send partial frames and flushes, write what the pipe refused."""
        while True:
            child = self._running()
            lost, written = 0, True
            with self.lock:
                stopping, asked = self.stopped, self.flushes_asked
                if child is not None and not child.ended and self.fallback is None:
                    if self.records:
                        self._seal(child)
                    if asked > self.flushes_done:
                        child.add_flush()
                    written = child.write()
                elif self.fallback is None and asked > self.flushes_done and self.records:
                    lost, self.records = len(self.records), []  # no child to take them now
                self.flushes_done = asked
                self.lock.notify_all()
            if lost:
                metrics.SPANS_DROPPED.labels(reason="export_failed").inc(lost)
            if stopping:
                return
            if written or child is None:
                self.wake.wait(self.interval_s)
                self.wake.clear()
            else:  # the pipe is full: again once it takes more, or after a while
                with contextlib.suppress(OSError, ValueError):
                    select.select([], [child.fd], [], min(self.interval_s, 0.05))

    def _running(self) -> Child | None:
        """The child, started when there is none (or it ended) and a start is due."""
        child = self.child
        if child is not None and not child.ended:
            return child
        if self.fallback is not None or self.stopped or time.monotonic() < self.next_start:
            return None
        self.next_start = time.monotonic() + RESTART_S
        try:
            child = Child.start(self.command)
        except OSError as exc:
            self._failed_start(f"{exc}")
            return None
        with self.lock:
            self.child = child
        threading.Thread(target=self._answers, args=(child,), name="otel-relay-answers",
                         daemon=True).start()
        return child

    def _failed_start(self, why: str) -> None:
        with self.lock:
            self.failed_starts += 1
            if self.failed_starts < STARTS_BEFORE_IN_PROCESS or self.fallback is not None:
                return
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
                OTLPSpanExporter,
            )

            self.fallback = batches.BoundedExport(OTLPSpanExporter(timeout=self.timeout_s),
                                                  max_queue=self.max_queue,
                                                  interval_s=self.interval_s)
            lost, self.records = len(self.records), []
            self.lock.notify_all()
        if lost:
            metrics.SPANS_DROPPED.labels(reason="export_failed").inc(lost)
        log.warning("the span export process did not start (%s): exporting in the worker", why)

    # --- on the thread that reads a child's answers (asleep on the pipe in between) ---------

    def _answers(self, child: Child) -> None:
        for what, spans in child.answers():
            if what == b"R":
                self.failed_starts = 0
                continue
            if what == b"E":
                metrics.SPANS_EXPORTED.inc(spans)
            else:
                metrics.SPANS_DROPPED.labels(reason="export_failed").inc(spans)
            with self.lock:
                child.waiting.popleft()
                self.unanswered -= spans
                self.lock.notify_all()
        with self.lock:
            lost = child.end()
            self.unanswered -= lost
            self.lock.notify_all()
        if lost:
            metrics.SPANS_DROPPED.labels(reason="export_failed").inc(lost)
        if not child.ready:
            self._failed_start(f"exit status {child.proc.returncode}")
        self.wake.set()  # the ticker starts another when one is due

    # --- the processor's own calls -----------------------------------------------------------

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        """Every span ended so far written to the child and answered by it (or counted as
        lost when no child can take it now)."""
        deadline = time.monotonic() + timeout_millis / 1000
        with self.lock:
            self.flushes_asked += 1
            ticket = self.flushes_asked
        self.wake.set()
        with self.lock:
            done = self.lock.wait_for(
                lambda: self.fallback is not None or (
                    self.flushes_done >= ticket and not self.records and self.unanswered <= 0),
                max(0.0, deadline - time.monotonic()))
        fallback = self.fallback
        if done and fallback is not None:
            return fallback.force_flush(int(max(0.0, deadline - time.monotonic()) * 1000))
        return done

    def shutdown(self) -> None:
        self.force_flush(int(batches.SHUTDOWN_FLUSH_S * 1000))
        with self.lock:
            self.stopped = True
            child = self.child
            if child is not None and not child.ended:
                child.close()  # it exports what it has, then ends
        self.wake.set()
        if self.fallback is not None:
            self.fallback.shutdown()
        if child is not None:
            child.stop(self.timeout_s + 1)

"""Spans exported by a process of their own, so that what the export costs stays off the answers.

Turning spans into OTLP (the SDK's ``ReadableSpan``, then its protobuf encoder) costs about 25 us
of Python a span. On a worker's export thread that work holds the interpreter's lock, which the
event loop needs too: a batch of 512 spans held it for about 13 ms, and the cached answers in
flight meanwhile (about 1.2 ms each in process) waited for it, so tracing showed in their p99
although no request waits for the exporter. With ``RAG_OTEL_EXPORTER=otlp`` the export thread
now only copies each span's fields into plain tuples (``plain``, about 2.6 us a span with the
pickling) and writes them, every ``FRAME`` spans, to a child process (``relay_process``), which
builds the ``ReadableSpan``s (``light.finished``: the same limits and checks), gathers them into
batches of up to ``batches.BATCH``, sent once full or once the oldest has waited the queue's
interval there, with the SDK's OTLP exporter, configured by the same ``OTEL_*`` variables (it
inherits the environment). The receiver sees as many requests as before.

The child runs at the lowest CPU priority (``relay_process``: the idle class): when the machine
is short of CPU the answers go first and the export falls behind; then its pipe fills, the
export thread waits on it, the bounded queue fills and the spans beyond it are dropped and
counted, as when a collector hangs. The child answers each frame with a line, ``E n`` (exported)
or ``F n`` (failed), which a thread of the worker counts in ``otel_spans_exported_total`` and
``otel_spans_dropped_total{reason="export_failed"}``; a flush asks the child to send what it
gathered and waits for those answers. A child that dies loses the frames it had not answered
(counted as failed); the next frame starts another, at most once every ``RESTART_S``. A worker
whose child fails to start twice in a row exports on its own export thread instead, as before,
and logs a warning.
"""

from __future__ import annotations

import contextlib
import logging
import subprocess
import sys
import threading
import time
from collections import deque
from typing import Any

from rag_core.telemetry import batches
from rag_core.telemetry.relay_process import frame

log = logging.getLogger("rag_core.telemetry")

FRAME = 64  # spans the worker hands over at a time
RESTART_S = 5.0  # the shortest time between two starts of the child
STARTS_BEFORE_IN_PROCESS = 2  # failed starts in a row before exporting in the worker again
Origin = tuple[int, Any, Any]  # a key, the resource and the instrumentation scope


def origin_of(span: Any) -> tuple[Any, Any]:
    """The resource and instrumentation scope of a light span or of the SDK's own."""
    shared = getattr(span, "shared", None)
    if shared is not None:
        return shared.resource, shared.scope
    return span.resource, span.instrumentation_scope


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


class Child:
    """One export process: its pipes, the span counts of the frames it has not answered yet,
    the origins it has been told, and whether it said it was ready or has ended."""

    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        self.proc = proc
        self.waiting: deque[int] = deque()
        self.told: set[int] = set()
        self.ready = False
        self.ended = False


class RelayedExport(batches.BoundedExport):
    """The bounded queue of ``batches.BoundedExport``, its batches exported by a child process
    (see the module docstring)."""

    def __init__(self, timeout_s: float, command: list[str] | None = None, **queue: Any
                 ) -> None:
        self.timeout_s = timeout_s
        self.command = command or [sys.executable, "-m", "rag_core.telemetry.relay_process"]
        self.child: Child | None = None
        self.origins: dict[tuple[int, int], Origin] = {}
        self.acks = threading.Condition()
        self.unanswered = 0  # spans written to a child and not yet answered
        self.failed_starts = 0
        self.next_start = 0.0
        self.in_process = False
        self.writing = threading.Lock()  # the export thread's frames, a flush's request
        super().__init__(None, **{"batch": FRAME, **queue})  # starts the export thread

    # --- on the export thread ---------------------------------------------------------------

    def deliver(self, batch: list[Any]) -> None:
        if self.in_process:
            if self.exporter is None:
                from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
                    OTLPSpanExporter,
                )

                self.exporter = OTLPSpanExporter(timeout=self.timeout_s)
            super().deliver(batch)
            return
        child = self._running()
        data = self._encoded(batch, child) if child is not None else b""
        with self.acks:
            taken = child is not None and not child.ended
            if child is not None and taken:
                child.waiting.append(len(batch))
                self.unanswered += len(batch)
        if child is None or not taken:  # no child to take it: lost, as a failed export
            batches.DROPPED.labels(reason="export_failed").inc(len(batch))
            return
        self._write(child, data)

    def _write(self, child: Child, data: bytes) -> None:
        try:
            assert child.proc.stdin is not None
            with self.writing:
                child.proc.stdin.write(data)
                child.proc.stdin.flush()
        except (OSError, ValueError):  # it ended: its reader counts what it did not answer
            pass

    def _encoded(self, batch: list[Any], child: Child) -> bytes:
        records = []
        frames = []
        for span in batch:
            resource, scope = origin_of(span)
            known = self.origins.get((id(resource), id(scope)))
            if known is None:  # kept with the objects, so that their ids stay theirs
                known = self.origins[(id(resource), id(scope))] = (len(self.origins), resource,
                                                                   scope)
            key = known[0]
            if key not in child.told:
                child.told.add(key)
                frames.append(frame((
                    "origin", key, dict(resource.attributes), resource.schema_url, scope.name,
                    scope.version, scope.schema_url)))
            records.append(plain(span, key))
        frames.append(frame(("spans", records)))
        return b"".join(frames)

    def _running(self) -> Child | None:
        """The child, started when there is none (or it ended) and a start is due."""
        child = self.child
        if child is not None and not child.ended:
            return child
        if time.monotonic() < self.next_start:
            return None
        self.next_start = time.monotonic() + RESTART_S
        try:
            proc = subprocess.Popen([*self.command, str(self.timeout_s), str(batches.BATCH),
                                     str(self.interval_s)],
                                    stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        except OSError as exc:
            self._failed_start(f"{exc}")
            return None
        self.child = child = Child(proc)
        threading.Thread(target=self._answers, args=(child,), name="otel-relay-answers",
                         daemon=True).start()
        return child

    def _failed_start(self, why: str) -> None:
        self.failed_starts += 1
        if self.failed_starts >= STARTS_BEFORE_IN_PROCESS and not self.in_process:
            self.in_process = True
            log.warning("the span export process did not start (%s): exporting in the worker",
                        why)

    # --- on the thread that reads a child's answers ----------------------------------------

    def _answers(self, child: Child) -> None:
        assert child.proc.stdout is not None
        for line in child.proc.stdout:
            what, _, count = line.strip().partition(b" ")
            if what == b"R":
                child.ready = True
                self.failed_starts = 0
                continue
            spans = int(count)
            if what == b"E":
                batches.EXPORTED.inc(spans)
            else:
                batches.DROPPED.labels(reason="export_failed").inc(spans)
            with self.acks:
                child.waiting.popleft()
                self.unanswered -= spans
                self.acks.notify_all()
        child.proc.wait()
        with self.acks:
            child.ended = True
            lost = sum(child.waiting)
            child.waiting.clear()
            self.unanswered -= lost
            self.acks.notify_all()
        if lost:
            batches.DROPPED.labels(reason="export_failed").inc(lost)
        if not child.ready:
            self._failed_start(f"exit status {child.proc.returncode}")

    # --- the processor's own calls -----------------------------------------------------------

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        """Every span queued so far written to the child and answered by it."""
        deadline = time.monotonic() + timeout_millis / 1000
        if not super().force_flush(timeout_millis):
            return False
        child = self.child
        if child is not None and not child.ended:  # send what it gathered now; a child that
            # hangs with a full pipe blocks the writer, not the caller, who waits to the deadline
            threading.Thread(target=self._write, args=(child, frame(("flush",))),
                             name="otel-relay-flush", daemon=True).start()
        with self.acks:
            return self.acks.wait_for(lambda: self.unanswered <= 0,
                                      max(0.0, deadline - time.monotonic()))

    def shutdown(self) -> None:
        super().shutdown()
        child = self.child
        if child is None:
            return
        threading.Thread(target=self._close_input, args=(child,), name="otel-relay-close",
                         daemon=True).start()  # the child exports what it has, then ends
        try:
            child.proc.wait(timeout=self.timeout_s + 1)
        except subprocess.TimeoutExpired:  # it hangs: its spans are lost with it
            child.proc.kill()
            child.proc.wait()

    def _close_input(self, child: Child) -> None:
        with contextlib.suppress(OSError, ValueError):
            assert child.proc.stdin is not None
            with self.writing:
                child.proc.stdin.close()

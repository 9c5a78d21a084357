"""Spans exported by a process of their own, so that what the export costs stays off the answers.

Turning spans into OTLP (the SDK's ``ReadableSpan``, then its protobuf encoder) costs about 25 us
of Python a span. On a worker's export thread that work holds the interpreter's lock, which the
event loop needs too: a batch of 512 spans held it for about 13 ms, and the cached answers in
flight meanwhile (about 1.2 ms each in process) waited for it, so tracing showed in their p99
although no request waits for the exporter. With ``RAG_OTEL_EXPORTER=otlp`` the export thread
now only copies each span's fields into plain tuples (about 1 us a span) and writes the batch,
pickled, to a child process (``python -m rag_core.telemetry.relay``), which builds the
``ReadableSpan``s (``light.finished``: the same limits and checks) and sends them with the SDK's
OTLP exporter, configured by the same ``OTEL_*`` variables (it inherits the environment).

The child runs at a lower CPU priority (``RELAY_NICE``): when the machine is short of CPU the
answers go first and the export falls behind; then its pipe fills, the export thread waits on
it, the bounded queue fills and the spans beyond it are dropped and counted, as when a
collector hangs. The child answers each batch with a line, ``E n`` (exported) or ``F n``
(failed), which a thread of the worker counts in ``otel_spans_exported_total`` and
``otel_spans_dropped_total{reason="export_failed"}``; a flush waits for those answers. A child
that dies loses the batches it had not answered (counted as failed); the next batch starts
another, at most once every ``RESTART_S``. A worker whose child fails to start twice in a row
exports on its own export thread instead, as before, and logs a warning.
"""

from __future__ import annotations

import contextlib
import logging
import os
import pickle
import signal
import struct
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Iterator
from typing import IO, Any

from rag_core.telemetry import batches

log = logging.getLogger("rag_core.telemetry")

RELAY_NICE = 10  # added to the worker's niceness in the child
RESTART_S = 5.0  # the shortest time between two starts of the child
STARTS_BEFORE_IN_PROCESS = 2  # failed starts in a row before exporting in the worker again
_HEADER = struct.Struct(">I")  # each message: its length, then the pickled message

Origin = tuple[int, Any, Any]  # a key, the resource and the instrumentation scope


def _frame(message: tuple[Any, ...]) -> bytes:
    body = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    return _HEADER.pack(len(body)) + body


def messages(stream: IO[bytes]) -> Iterator[tuple[Any, ...]]:
    """The messages on ``stream`` until it ends (or ends inside one)."""
    while True:
        head = stream.read(_HEADER.size)
        if len(head) < _HEADER.size:
            return
        (size,) = _HEADER.unpack(head)
        body = stream.read(size)
        if len(body) < size:
            return
        yield pickle.loads(body)  # noqa: S301 (only from the worker that started this child)


def origin_of(span: Any) -> tuple[Any, Any]:
    """The resource and instrumentation scope of a light span or of the SDK's own."""
    shared = getattr(span, "shared", None)
    if shared is not None:
        return shared.resource, shared.scope
    return span.resource, span.instrumentation_scope


def plain(span: Any, key: int) -> tuple[Any, ...]:
    """What a finished span recorded, in builtin types (``rebuilt`` reads it back)."""
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


def rebuilt(record: tuple[Any, ...], origins: dict[int, Any]) -> Any:
    """The SDK's ``ReadableSpan`` of a ``plain`` record (in the child)."""
    from opentelemetry.trace import Link, SpanContext, SpanKind, Status, StatusCode, TraceFlags
    from opentelemetry.trace.span import TraceState

    from rag_core.telemetry.light import finished

    (key, name, trace_id, span_id, flags, state, parent, kind, attributes, events, links,
     code, description, start, end) = record
    context = SpanContext(trace_id, span_id, False, TraceFlags(flags),
                          TraceState(state) if state else None)
    parent_context = (SpanContext(parent[0], parent[1], parent[2], TraceFlags(parent[3]))
                      if parent is not None else None)
    linked = [Link(SpanContext(t, s, False, TraceFlags(f)), values)
              for (t, s, f), values in links]
    status_code = StatusCode(code)
    status = Status(status_code, description if status_code is StatusCode.ERROR else None)
    return finished(name, context, parent_context, SpanKind(kind), attributes, events, linked,
                    status, start, end, origins[key])


class Child:
    """One export process: its pipes, the sizes of the batches it has not answered yet, the
    origins it has been told, and whether it said it was ready or has ended."""

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
        self.command = command or [sys.executable, "-m", "rag_core.telemetry.relay"]
        self.child: Child | None = None
        self.origins: dict[tuple[int, int], Origin] = {}
        self.acks = threading.Condition()
        self.unanswered = 0  # spans written to a child and not yet answered
        self.failed_starts = 0
        self.next_start = 0.0
        self.in_process = False
        super().__init__(None, **queue)  # starts the export thread: the fields above first

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
        try:
            assert child.proc.stdin is not None
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
                frames.append(_frame((
                    "origin", key, dict(resource.attributes), resource.schema_url, scope.name,
                    scope.version, scope.schema_url)))
            records.append(plain(span, key))
        frames.append(_frame(("spans", records)))
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
            proc = subprocess.Popen([*self.command, str(self.timeout_s)],
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
        with self.acks:
            return self.acks.wait_for(lambda: self.unanswered <= 0,
                                      max(0.0, deadline - time.monotonic()))

    def shutdown(self) -> None:
        super().shutdown()
        child = self.child
        if child is None:
            return
        try:
            assert child.proc.stdin is not None
            child.proc.stdin.close()  # the child exports what it has, then ends
            child.proc.wait(timeout=self.timeout_s + 1)
        except (OSError, subprocess.TimeoutExpired):
            child.proc.kill()


def main(argv: list[str]) -> None:
    """The child: read batches from stdin until it closes, export each, answer each."""
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import SpanLimits
    from opentelemetry.sdk.trace.export import SpanExportResult
    from opentelemetry.sdk.util.instrumentation import InstrumentationScope

    from rag_core.telemetry.light import Shared

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the worker's Ctrl-C: end with stdin
    with contextlib.suppress(OSError):  # a system that refuses: the same priority then
        os.nice(RELAY_NICE)
    exporter = OTLPSpanExporter(timeout=float(argv[0]))
    limits = SpanLimits()
    origins: dict[int, Shared] = {}
    out = sys.stdout.buffer
    out.write(b"R\n")
    out.flush()
    for message in messages(sys.stdin.buffer):
        if message[0] == "origin":
            _, key, attributes, schema, name, version, scope_schema = message
            origins[key] = Shared(Resource(attributes, schema),
                                  InstrumentationScope(name, version, scope_schema), limits)
            continue
        records = message[1]
        try:
            ok = exporter.export([rebuilt(r, origins) for r in records]) \
                == SpanExportResult.SUCCESS
        except Exception:  # the exporter's failure: this batch is lost, not the next
            ok = False
        out.write(b"%s %d\n" % (b"E" if ok else b"F", len(records)))
        out.flush()
    exporter.shutdown()


if __name__ == "__main__":
    main(sys.argv[1:])

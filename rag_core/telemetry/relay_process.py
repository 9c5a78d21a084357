"""The export process of ``relay`` (``python -m rag_core.telemetry.relay_process TIMEOUT BATCH
INTERVAL``) and the messages between it and its worker.

On stdin, messages: each a 4-byte length and a pickled tuple, ``("origin", key, resource
attributes, resource schema, scope name, scope version, scope schema)`` once for each resource
and scope the spans that follow name, ``("spans", [record, ...])`` (``relay.plain``'s records)
and ``("flush",)``. The process encodes each span as it arrives (``otlp_wire``: a plain span
directly, any other the SDK's way), gathers the spans of several messages into batches of up to
BATCH, sends a batch with the SDK's OTLP exporter when it is full, when its oldest span has
waited INTERVAL seconds, when asked to flush or when stdin closes, and then answers each
``spans`` message on stdout, in order, with ``E n`` (exported) or ``F n`` (failed). Its first
line, ``R``, says it is ready. It imports only the OpenTelemetry SDK and the telemetry modules
``otlp_wire`` and ``light``. It reads at most ``INBOX_MESSAGES`` ahead of the export: behind a
slow receiver the pipe fills, then the worker's bounded buffer (``relay``), which drops and
counts.

It runs in Linux's idle scheduling class (``SCHED_IDLE``): it gets a CPU only when no
ordinary task wants one, and an answer that wakes takes the CPU back at once. A nice value was
tried first: at +10 the child still held a core long enough for a cached answer's p99 to go from
2.1 to 5.2 ms in process against a receiver that discards (2.8 ms in the idle class).
"""

from __future__ import annotations

import contextlib
import os
import pickle
import queue
import signal
import struct
import sys
import threading
import time
from collections.abc import Iterator
from typing import IO, Any

from rag_core.telemetry import otlp_wire

_HEADER = struct.Struct(">I")  # each message: its length, then the pickled message
INBOX_MESSAGES = 64  # messages read ahead of the export (64 frames: 4,096 spans)
# a record with no name, ids or times: the SDK encodes an origin's resource and scope with it
_BARE: tuple[Any, ...] = (0, "", 1, 1, 0, None, None, 0, {}, [], [], 0, None, 0, 0)


def frame(message: tuple[Any, ...]) -> bytes:
    """One message as written to the process."""
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


class Encoded:
    """A batch already encoded (``otlp_wire``), as the SDK's exporter takes it: its length is
    the span count, and it serialises to its bytes."""

    def __init__(self, data: bytes, count: int) -> None:
        self.data, self.count = data, count

    def __len__(self) -> int:
        return self.count

    def SerializePartialToString(self) -> bytes:  # noqa: N802 (protobuf's name)
        return self.data

    SerializeToString = SerializePartialToString


def wire_exporter(timeout_s: float) -> Any:
    """The SDK's OTLP/HTTP span exporter (its endpoint, headers, compression, certificates and
    retries from the same ``OTEL_*`` variables), taking ``Encoded`` batches: its module's
    ``encode_spans``, which it calls on each batch, passes an ``Encoded`` through unchanged, in
    this process only. The exporter of 1.25 and of 1.45 both call it so;
    ``tests/unit/test_otlp_wire.py`` holds it for the release installed. Were it no longer
    called, every batch would fail, counted in ``otel_spans_dropped_total``."""
    from opentelemetry.exporter.otlp.proto.http import trace_exporter

    sdk_encode = trace_exporter.encode_spans

    def encode_spans(spans: Any) -> Any:
        return spans if isinstance(spans, Encoded) else sdk_encode(spans)

    trace_exporter.encode_spans = encode_spans  # type: ignore[assignment]
    return trace_exporter.OTLPSpanExporter(timeout=timeout_s)


class Gathered:
    """In the child: the spans received and not yet sent, and the frames they came in."""

    def __init__(self, exporter: Any, out: IO[bytes], batch: int, interval_s: float) -> None:
        from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
        from opentelemetry.sdk.trace import SpanLimits

        self.exporter, self.out = exporter, out
        self.batch, self.interval_s = batch, interval_s
        self.encode_spans, self.limits = encode_spans, SpanLimits()
        self.origins: dict[int, Any] = {}
        self.wire = otlp_wire.Batches(self.sdk_span_bytes)
        self.frames: list[int] = []  # each frame's span count, answered once sent
        self.since = 0.0  # when the oldest waiting span arrived

    def origin(self, key: int, attributes: dict[str, Any], schema: str | None, name: str,
               version: str | None, scope_schema: str | None) -> None:
        """A resource and scope that the spans of ``key`` name: the SDK's encoding of each."""
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.util.instrumentation import InstrumentationScope

        from rag_core.telemetry.light import Shared

        self.origins[key] = Shared(Resource(attributes, schema),
                                   InstrumentationScope(name, version, scope_schema), self.limits)
        resource_spans = self.encode_spans([rebuilt(_BARE, {0: self.origins[key]})]
                                           ).resource_spans[0]
        scope_spans = resource_spans.scope_spans[0]
        del scope_spans.spans[:]
        scope_bytes = scope_spans.SerializeToString()
        del resource_spans.scope_spans[:]
        self.wire.origin(key, (resource_spans.SerializeToString(), scope_bytes), self.limits)

    def sdk_span_bytes(self, record: tuple[Any, ...]) -> bytes:
        """One span the SDK's way (``otlp_wire`` leaves it what is not plain)."""
        request = self.encode_spans([rebuilt(record, self.origins)])
        return bytes(request.resource_spans[0].scope_spans[0].spans[0].SerializeToString())

    def add(self, records: list[tuple[Any, ...]]) -> None:
        """A frame's records (raises, adding none of them, when one cannot be encoded)."""
        encoded = self.wire.encode(records)
        if not self.frames:
            self.since = time.monotonic()
        self.wire.add(encoded)
        self.frames.append(len(records))
        if self.wire.count >= self.batch:
            self.send()

    def due_in(self) -> float | None:
        """Seconds until the waiting spans are due (None: none wait)."""
        if not self.frames:
            return None
        return max(0.0, self.since + self.interval_s - time.monotonic())

    def send(self) -> None:
        """Export what waits, then answer each frame it came in."""
        from opentelemetry.sdk.trace.export import SpanExportResult

        if not self.frames:
            return
        count = self.wire.count
        try:
            batch = Encoded(self.wire.request(), count)
            ok = self.exporter.export(batch) == SpanExportResult.SUCCESS
        except Exception:  # the exporter's failure: these spans are lost, not the next
            ok = False
        self.out.write(b"".join(b"%s %d\n" % (b"E" if ok else b"F", n) for n in self.frames))
        self.out.flush()
        self.frames = []


def main(argv: list[str]) -> None:
    """The child: read frames from stdin until it closes, gather them into batches, export
    each batch when full, due or asked for, and answer every frame."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the worker's Ctrl-C: end with stdin
    with contextlib.suppress(OSError, AttributeError):  # a system that refuses: as it is
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
    out = sys.stdout.buffer
    gathered = Gathered(wire_exporter(float(argv[0])), out, int(argv[1]), float(argv[2]))
    # bounded: while an export is slow, the pipe fills behind it and the worker's buffer drops
    inbox: queue.Queue[tuple[Any, ...] | None] = queue.Queue(maxsize=INBOX_MESSAGES)

    def read() -> None:
        for message in messages(sys.stdin.buffer):
            inbox.put(message)
        inbox.put(None)  # stdin closed: the worker is done

    threading.Thread(target=read, name="relay-read", daemon=True).start()
    out.write(b"R\n")
    out.flush()
    while True:
        try:
            message = inbox.get(timeout=gathered.due_in())
        except queue.Empty:
            gathered.send()  # the oldest waiting span is due
            continue
        if message is None:
            break
        if message[0] == "origin":
            gathered.origin(*message[1:])
        elif message[0] == "flush":
            gathered.send()
        else:
            try:
                gathered.add(message[1])
            except Exception:  # a span it cannot read: its frame is lost, counted, in order
                gathered.send()
                out.write(b"F %d\n" % len(message[1]))
                out.flush()
    gathered.send()
    gathered.exporter.shutdown()


if __name__ == "__main__":
    main(sys.argv[1:])

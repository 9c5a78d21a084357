"""The span export in a process of its own (``rag_core.telemetry.relay``), against a real
OTLP/HTTP receiver on loopback: it delivers what the worker's own export thread delivered, span
for span; the thread that ends the spans writes the full frames; a child that reads nothing
never holds that thread up, and what its pipe refuses is bounded, the rest dropped and counted;
a flush waits for the child's answers; a child that dies costs the spans it held, counted, and
another starts; a receiver that refuses costs its batches, counted; a child that cannot start
makes the worker export by itself."""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import SpanKind, StatusCode

from rag_core.procs import free_port, wait_until
from rag_core.telemetry import batches, light, metrics, relay


class Receiver:
    """An OTLP/HTTP trace receiver: each request's spans, decoded; ``status`` to refuse."""

    def __init__(self) -> None:
        self.spans: list[Any] = []
        self.requests = 0
        self.status = 200
        received = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (the standard library's name)
                body = self.rfile.read(int(self.headers["Content-Length"]))
                received.requests += 1
                if received.status == 200:
                    request = ExportTraceServiceRequest.FromString(body)
                    for resource_spans in request.resource_spans:
                        for scope_spans in resource_spans.scope_spans:
                            received.spans.extend(
                                (resource_spans.resource, scope_spans.scope, span)
                                for span in scope_spans.spans)
                self.send_response(received.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def receiver(monkeypatch: pytest.MonkeyPatch) -> Iterator[Receiver]:
    got = Receiver()
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", got.url)  # the child inherits it
    yield got
    got.server.shutdown()


def _exported() -> float:
    return metrics.SPANS_EXPORTED._value.get()


def _failed() -> float:
    return metrics.SPANS_DROPPED.labels(reason="export_failed")._value.get()


def _traced(processor: batches.BoundedExport | list[Any], tag: str) -> None:
    """One question's worth of spans: a root, a CLIENT child with attributes and an event, an
    error status, through the service's own tracer (into the queue, or a list)."""
    provider = TracerProvider()
    tracer = light.tracer_for(provider, processor.append if isinstance(processor, list)
                              else processor.put)
    with (tracer.start_as_current_span(f"root {tag}", kind=SpanKind.SERVER,
                                       attributes={"http.route": "/v1/query"}),
          tracer.start_as_current_span(f"chat {tag}", kind=SpanKind.CLIENT,
                                       attributes={"gen_ai.usage.input_tokens": 120,
                                                   "rag.sources": ("a", "b")}) as span):
        span.add_event("gen_ai.evaluation.result", {"gen_ai.evaluation.score.label": "up"})
        span.set_status(StatusCode.ERROR, "the model timed out")


def _shape(received: list[Any]) -> list[tuple[Any, ...]]:
    """What a receiver got, without the ids and times that differ between two runs."""
    by_id = {span.span_id: span for _, _, span in received}
    return sorted(
        (span.name.split()[0], span.kind,
         by_id[span.parent_span_id].name.split()[0] if span.parent_span_id else None,
         sorted((kv.key, str(kv.value)) for kv in span.attributes),
         [(e.name, sorted((kv.key, str(kv.value)) for kv in e.attributes))
          for e in span.events],
         span.status.code, span.status.message, scope.name,
         sorted((kv.key, str(kv.value)) for kv in resource.attributes))
        for resource, scope, span in received)


def test_the_child_delivers_what_the_export_thread_delivered(receiver: Receiver) -> None:
    in_worker = batches.BoundedExport(OTLPSpanExporter(timeout=5), interval_s=0.01)
    _traced(in_worker, "worker")
    assert in_worker.force_flush(30_000)
    in_worker.shutdown()
    by_worker = _shape(receiver.spans)
    receiver.spans.clear()

    relayed = relay.RelayedExport(5.0, interval_s=0.01)
    before = _exported()
    _traced(relayed, "child")
    _traced(relayed, "child")
    assert relayed.force_flush(60_000)  # answered by the child: already at the receiver
    assert len(receiver.spans) == 4
    assert _exported() - before == 4
    assert relayed.child is not None and relayed.child.proc.pid != os.getpid()
    relayed.shutdown()
    assert _shape(receiver.spans) == sorted(by_worker + by_worker)
    trace_ids = {span.trace_id for _, _, span in receiver.spans}
    assert len(trace_ids) == 2  # each root's child in its root's trace


def test_a_full_frame_wakes_the_ticker_and_the_child_gathers_the_frames(
        receiver: Receiver) -> None:
    relayed = relay.RelayedExport(5.0, interval_s=3600)  # sent when asked, not when due
    wait_until(lambda: relayed.child is not None, 60, "the child to start")
    child = relayed.child
    assert child is not None
    for n in range(relay.FRAME // 2):  # one full frame (two spans each)
        _traced(relayed, f"q{n}")
    wait_until(lambda: relayed.unanswered == relay.FRAME, 60,
               "the ticker to write the full frame, long before its interval")
    assert list(child.waiting) == [relay.FRAME] and not relayed.records
    for n in range(3):  # a part
        _traced(relayed, f"r{n}")
    assert len(relayed.records) == 6  # the part waits for the interval (or a flush)
    assert relayed.force_flush(60_000)
    assert receiver.requests == 1  # the frames gathered into one export
    assert len(receiver.spans) == relay.FRAME + 6
    relayed.shutdown()


def _queue_full() -> float:
    return metrics.SPANS_DROPPED.labels(reason="queue_full")._value.get()


def test_a_child_that_reads_nothing_never_holds_up_the_thread_that_ends_spans(
        receiver: Receiver, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(batches, "SHUTDOWN_FLUSH_S", 0.5)  # a shutdown's wait for answers
    deaf = [sys.executable, "-c", "import time; print('R', flush=True); time.sleep(600)"]
    relayed = relay.RelayedExport(0.5, command=deaf, max_queue=256, interval_s=0.01)
    wait_until(lambda: relayed.child is not None and relayed.child.ready, 60,
               "the child to say it is ready")
    full_before, failed_before = _queue_full(), _failed()
    ended = threading.Event()

    def end_spans() -> None:
        for n in range(1000):  # 2,000 spans, far more than a pipe holds
            _traced(relayed, f"q{n}")
        ended.set()

    threading.Thread(target=end_spans, daemon=True).start()
    assert ended.wait(120), "ending spans waited for a child that reads nothing"
    child = relayed.child
    assert child is not None
    with relayed.lock:
        dropped = _queue_full() - full_before
        assert child.unsent_spans + len(relayed.records) <= 256  # held by the worker: bounded
        assert dropped > 0
        assert dropped + relayed.unanswered + len(relayed.records) == 2000  # all counted
        sealed = relayed.unanswered
    assert not relayed.force_flush(200)  # nothing answers
    relayed.shutdown()  # the child is killed after the export timeout; its frames are lost
    wait_until(lambda: relayed.unanswered == 0, 60, "the lost frames to be counted")
    assert _failed() - failed_before >= sealed
    assert child.proc.returncode is not None


def test_a_child_that_dies_costs_its_spans_counted_and_another_starts(
        receiver: Receiver, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(relay, "RESTART_S", 0.0)
    relayed = relay.RelayedExport(5.0, interval_s=0.01)
    _traced(relayed, "first")
    assert relayed.force_flush(60_000)
    first = relayed.child
    assert first is not None
    first.proc.send_signal(signal.SIGKILL)
    wait_until(lambda: first.ended, 60, "the worker to see its child end")
    _traced(relayed, "second")
    assert relayed.force_flush(60_000)
    assert relayed.child is not first and relayed.child is not None
    assert sorted(span.name for _, _, span in receiver.spans) == [
        "chat first", "chat second", "root first", "root second"]
    relayed.shutdown()


def test_a_receiver_that_refuses_costs_its_batches_counted(receiver: Receiver) -> None:
    receiver.status = 400  # a permanent refusal: the exporter does not retry it
    relayed = relay.RelayedExport(5.0, interval_s=0.01)
    before = _failed()
    _traced(relayed, "refused")
    assert relayed.force_flush(60_000)
    assert _failed() - before == 2
    assert receiver.spans == []
    relayed.shutdown()


def test_a_child_that_cannot_start_leaves_the_export_to_the_worker(
        receiver: Receiver, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(relay, "RESTART_S", 0.0)
    broken = [sys.executable, "-c", "raise SystemExit(4)"]
    relayed = relay.RelayedExport(5.0, command=broken, interval_s=0.01)
    lost = 0
    while not relayed.in_process:  # each try's batch is lost, counted, until the second fails
        _traced(relayed, "lost")
        relayed.force_flush(60_000)
        lost += 2
        assert lost <= 2 * relay.STARTS_BEFORE_IN_PROCESS + 2
    _traced(relayed, "kept")
    assert relayed.force_flush(60_000)
    assert sorted(span.name for _, _, span in receiver.spans) == ["chat kept", "root kept"]
    relayed.shutdown()

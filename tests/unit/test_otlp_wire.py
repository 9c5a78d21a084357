"""The export process writes OTLP's bytes itself for plain spans (``rag_core.telemetry.otlp_wire``):
decoded, a batch is the message the SDK's encoder makes of the same records, field for field,
whether a span is plain or left to the SDK (links, values of other types, limits exceeded); plain
spans do take the direct way; the SDK's exporter sends such a batch as it is."""

from __future__ import annotations

import io
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.exporter.otlp.proto.http import trace_exporter
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace.export import SpanExportResult

from rag_core.procs import free_port
from rag_core.telemetry import otlp_wire, relay_process

_T0 = 1_764_000_000_000_000_000


def _record(key: int = 0, name: str = "assistant.query", *, attributes: Any = None,
            events: Any = (), links: Any = (), parent: Any = (7, 8, False, 1), kind: int = 0,
            code: int = 0, description: Any = None, state: Any = None) -> tuple[Any, ...]:
    """A record as the worker writes it (``relay.plain``)."""
    return (key, name, 0x1234_5678_9ABC_DEF0_1234_5678_9ABC_DEF0, 0xFEDC_BA98_7654_3210, 1,
            state, parent, kind, dict(attributes or {}), list(events), list(links), code,
            description, _T0, _T0 + 1_500_000)


PLAIN = [
    _record(attributes={"cache.layer": "query", "cache.outcome": "hit", "rag.retrieval.rows": 12,
                        "rag.retrieval.best_score": 0.8125, "rag.stream": False,
                        "gen_ai.usage.input_tokens": 0, "rag.offset": -3, "rag.empty": "",
                        "rag.note": "Grüße, 祝福 ✓", "rag.sources": ("a", "b"),
                        "rag.scores": [0.5, 1.0], "rag.ids": [], "rag.big": (1 << 63) - 1}),
    _record(name="chat mock", kind=2, parent=(7, 8, True, 1), state=[("vendor", "x1"), ("b", "2")],
            events=[("gen_ai.evaluation.result", {"gen_ai.evaluation.score.label": "up",
                                                  "gen_ai.evaluation.score.value": 1.0}, _T0 + 5),
                    ("rag.empty_event", None, _T0 + 6)],
            code=2, description="the model timed out"),
    _record(name="POST /v1/query", kind=1, parent=None, code=1, description="ignored unless error"),
    _record(name="", attributes={"k": True}),
]
NOT_PLAIN = [
    _record(links=[((11, 12, 1), {"rag.why": "retry"})]),
    _record(attributes={"rag.none": None, "rag.ok": 1}),
    _record(attributes={"rag.bytes": b"\x00\x01"}),
    _record(attributes={"rag.map": {"a": 1}}),
    _record(attributes={"rag.huge": 1 << 70, "rag.ok": "kept"}),
    _record(attributes={"rag.mixed": ("a", None)}),
]


class _Exporter:
    def __init__(self) -> None:
        self.batches: list[Any] = []

    def export(self, batch: Any) -> SpanExportResult:
        self.batches.append(batch)
        return SpanExportResult.SUCCESS


def _gathered() -> tuple[relay_process.Gathered, _Exporter]:
    exporter = _Exporter()
    gathered = relay_process.Gathered(exporter, io.BytesIO(), batch=512, interval_s=1.0)
    gathered.origin(0, {"service.name": "rag_core", "deployment.environment": "test"},
                    "https://opentelemetry.io/schemas/1.21.0", "rag_core", "4.0", None)
    gathered.origin(1, {"service.name": "other"}, None, "opentelemetry.instrumentation.asgi",
                    None, "https://opentelemetry.io/schemas/1.11.0")
    return gathered, exporter


def _sent(records: list[tuple[Any, ...]]) -> tuple[ExportTraceServiceRequest, Any]:
    """What the child sends for ``records`` in one frame, decoded, and what the SDK's encoder
    makes of the same records."""
    gathered, exporter = _gathered()
    gathered.add(records)
    gathered.send()
    (batch,) = exporter.batches
    assert len(batch) == len(records)
    ours = ExportTraceServiceRequest.FromString(batch.SerializePartialToString())
    return ours, encode_spans([relay_process.rebuilt(r, gathered.origins) for r in records])


@pytest.mark.parametrize("records", [PLAIN, NOT_PLAIN, PLAIN[:2] + NOT_PLAIN[:2] + PLAIN[2:]],
                         ids=["plain", "not plain", "mixed"])
def test_a_batch_decodes_to_what_the_sdk_encodes(records: list[tuple[Any, ...]]) -> None:
    ours, sdk = _sent(records)
    assert ours == sdk
    assert len(ours.resource_spans[0].scope_spans[0].spans) == len(records)


def test_spans_of_two_origins_go_under_their_own_resource_and_scope() -> None:
    records = [_record(0, "a"), _record(1, "b"), _record(0, "c")]
    ours, sdk = _sent(records)
    assert ours == sdk
    assert [(rs.resource.attributes[0].value.string_value, rs.scope_spans[0].scope.name,
             [span.name for span in rs.scope_spans[0].spans]) for rs in ours.resource_spans] == [
        ("rag_core", "rag_core", ["a", "c"]),
        ("other", "opentelemetry.instrumentation.asgi", ["b"])]


def test_plain_spans_take_the_direct_way_and_others_the_sdks() -> None:
    gathered, _ = _gathered()
    writer = gathered.wire.writers[0]
    for record in PLAIN:
        writer.span(record)  # raises NotPlain if the span would go the SDK's way
    for record in NOT_PLAIN:
        with pytest.raises(otlp_wire.NotPlain):
            writer.span(record)


def test_the_limits_send_a_span_the_sdks_way_and_its_counts_of_what_was_dropped(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT", "2")
    monkeypatch.setenv("OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT", "4")
    monkeypatch.setenv("OTEL_SPAN_EVENT_COUNT_LIMIT", "1")
    records = [_record(attributes={"a": 1, "b": 2, "c": 3}),
               _record(attributes={"long": "abcdefgh"}),
               _record(events=[("one", None, _T0), ("two", None, _T0 + 1)]),
               _record(attributes={"a": "abcd", "b": 2})]
    writer = _gathered()[0].wire.writers[0]
    for record in records[:3]:
        with pytest.raises(otlp_wire.NotPlain):
            writer.span(record)
    writer.span(records[3])  # at the limits, not over them
    ours, sdk = _sent(records)
    assert ours == sdk
    spans = ours.resource_spans[0].scope_spans[0].spans
    assert spans[0].dropped_attributes_count == 1
    assert spans[1].attributes[0].value.string_value == "abcd"
    assert len(spans[2].events) == 1


def test_a_record_that_cannot_be_encoded_fails_its_frame_alone() -> None:
    gathered, exporter = _gathered()
    with pytest.raises(KeyError):  # an origin the child was never told
        gathered.add([PLAIN[0], _record(key=9)])
    gathered.add(PLAIN[:1])
    gathered.send()
    assert len(exporter.batches) == 1 and len(exporter.batches[0]) == 1


def test_the_sdks_exporter_sends_an_encoded_batch_as_it_is(monkeypatch: pytest.MonkeyPatch
                                                            ) -> None:
    bodies: list[bytes] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (the standard library's name)
            bodies.append(self.rfile.read(int(self.headers["Content-Length"])))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", f"http://127.0.0.1:{server.server_port}")
    monkeypatch.setattr(trace_exporter, "encode_spans", trace_exporter.encode_spans)  # undone
    try:
        exporter = relay_process.wire_exporter(5.0)
        gathered, _ = _gathered()
        gathered.add(PLAIN)
        data = gathered.wire.request()
        assert exporter.export(relay_process.Encoded(data, len(PLAIN))) == \
            SpanExportResult.SUCCESS
        assert bodies == [data]
        exporter.shutdown()
    finally:
        server.shutdown()

"""The service's own tracer (``rag_core.telemetry.light``): the spans it exports are the ones the
OpenTelemetry SDK's tracer makes of the same calls, they go through the bounded queue and the
OTLP encoder, and the operator's sampler and span limits still apply."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry import context as otel_context
from opentelemetry import propagate
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from rag_core.procs import wait_until
from rag_core.telemetry import light, logs, sdk_export, tracing
from rag_core.telemetry.light import readable


def _light(monkeypatch: pytest.MonkeyPatch) -> InMemorySpanExporter:
    """The service's tracer, each ended span converted as the export thread converts it."""
    exporter = InMemorySpanExporter()
    tracer = light.tracer_for(TracerProvider(), lambda span: exporter.export([readable(span)]))
    monkeypatch.setattr(tracing, "_tracer", tracer)
    return exporter


def _sdk(monkeypatch: pytest.MonkeyPatch) -> InMemorySpanExporter:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    monkeypatch.setattr(tracing, "_tracer", provider.get_tracer("rag_core"))
    return exporter


def _request() -> None:
    """What a request does with spans: a root that is never current, a current step with a
    child and an attribute set from inside, a failed step, a renamed span, an event."""
    token = logs.request_id_var.set("rid-1")
    try:
        root = tracing.start_span("root", None, kind="server", **{"a.int": 1, "a.none": None})
        with tracing.use_span(root), tracing.span("step", **{"a.list": ["x", "y"]}) as step:
            tracing.on_current_span(**{"a.float": 0.5})
            tracing.child_span("child", step, start_time=10, **{"a.bool": True}).end(end_time=20)
        with pytest.raises(ValueError), tracing.use_span(root), \
                tracing.span("failing", kind="client"):
            raise ValueError("boom")
        root.add_event("an.event", {"e": "v"})
        root.update_name("GET /route")
        root.end()
        root.set_attribute("late", 1)  # after the end: kept by neither
    finally:
        logs.request_id_var.reset(token)


def _shape(exporter: InMemorySpanExporter) -> list[tuple[Any, ...]]:
    spans = exporter.get_finished_spans()
    names = {s.context.span_id: s.name for s in spans}
    return sorted((s.name, s.kind, names.get(s.parent.span_id) if s.parent else None,
                   dict(s.attributes or {}), [(e.name, dict(e.attributes or {}).get("e"))
                                              for e in s.events],
                   s.status.status_code, len({s.context.trace_id for s in spans}))
                  for s in spans)


def test_the_light_tracer_exports_what_the_sdk_tracer_does(
        monkeypatch: pytest.MonkeyPatch) -> None:
    shapes = []
    for make in (_sdk, _light):
        exporter = make(monkeypatch)
        _request()
        shapes.append(_shape(exporter))
    assert shapes[0] == shapes[1]
    by_name = {shape[0]: shape for shape in shapes[1]}
    assert set(by_name) == {"GET /route", "step", "child", "failing"}
    assert by_name["child"][2] == "step" and by_name["step"][2] == "GET /route"
    assert by_name["GET /route"][1] is SpanKind.SERVER
    assert by_name["step"][3] == {"a.list": ("x", "y"), "a.float": 0.5, "request.id": "rid-1"}
    assert by_name["failing"][4][0][0] == "exception"
    assert by_name["failing"][5] is StatusCode.ERROR
    assert by_name["GET /route"][6] == 1  # one trace


def test_light_spans_keep_their_times_ids_and_encode_as_otlp(
        monkeypatch: pytest.MonkeyPatch) -> None:
    exporter = _light(monkeypatch)
    _request()
    spans = {s.name: s for s in exporter.get_finished_spans()}
    child = spans["child"]
    assert (child.start_time, child.end_time) == (10, 20)
    assert child.parent is not None and child.parent.span_id == spans["step"].context.span_id
    assert child.context.trace_flags.sampled
    assert spans["GET /route"].parent is None
    encoded = encode_spans(list(spans.values()))
    names = {s.name for r in encoded.resource_spans for ss in r.scope_spans for s in ss.spans}
    assert names == set(spans)


def test_an_incoming_unsampled_trace_is_not_recorded_and_a_sampled_one_is_continued(
        monkeypatch: pytest.MonkeyPatch) -> None:
    exporter = _light(monkeypatch)
    trace_id = "0af7651916cd43dd8448eb211c80319c"
    for flags in ("00", "01"):
        carrier = {"traceparent": f"00-{trace_id}-b7ad6b7169203331-{flags}"}
        token = otel_context.attach(propagate.extract(carrier))
        try:
            tracing.start_span(f"flags {flags}").end()
        finally:
            otel_context.detach(token)
    [span] = exporter.get_finished_spans()
    assert span.name == "flags 01" and f"{span.context.trace_id:032x}" == trace_id
    assert span.parent is not None and span.parent.is_remote


def test_the_operators_sampler_and_span_limits_apply(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_TRACES_SAMPLER", "always_off")
    exporter = _light(monkeypatch)
    tracing.start_span("sampled out").end()
    assert exporter.get_finished_spans() == ()
    monkeypatch.setenv("OTEL_TRACES_SAMPLER", "always_on")
    monkeypatch.setenv("OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT", "2")
    exporter = _light(monkeypatch)
    tracing.start_span("limited", **{"a": 1, "b": 2, "c": 3, "d": {"not": "allowed"}}).end()
    [span] = exporter.get_finished_spans()
    assert len(span.attributes or {}) == 2 and span.dropped_attributes >= 1


@pytest.fixture
def queued() -> Iterator[tuple[sdk_export.CountedBatches, InMemorySpanExporter]]:
    exporter = InMemorySpanExporter()
    bounded = sdk_export.CountedBatches(exporter, batch=2, interval_ms=10)
    yield bounded, exporter
    bounded.shutdown()


def test_light_spans_go_through_the_sdk_batch_processor_once_each(
        queued: tuple[sdk_export.CountedBatches, InMemorySpanExporter]) -> None:
    bounded, exporter = queued
    tracer = light.tracer_for(TracerProvider(), bounded.put)
    for n in range(5):
        span = tracer.start_span(f"s{n}", attributes={"n": n})
        span.end()
        span.end()  # twice: exported once
    assert bounded.force_flush(30_000)

    def got() -> list[str]:
        return sorted(s.name for s in exporter.get_finished_spans())

    wait_until(lambda: len(got()) == 5, 30, "the five spans exported")
    assert got() == [f"s{n}" for n in range(5)]
    assert {s.attributes["n"] for s in exporter.get_finished_spans()} == set(range(5))

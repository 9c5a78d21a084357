"""The service's own tracer: spans that cost a request a few microseconds, exported through the
OpenTelemetry SDK's exporters all the same.

The SDK's span (``opentelemetry.sdk.trace._Span``) does its bookkeeping while the request waits:
four locks per span, a bounded attribute map that checks every value as it is set, the
sampler's result, the SDK's own metrics. On a cached answer (five spans, about 1.2 ms in
process) that was a sixth of the answer's time (docs/tracing-overhead-earlier.md). A
``LightSpan`` keeps what the request records (its name, ids, parent, kind, times, attributes,
events, status) in plain fields and hands itself, when it ends, to the span processor's
``put``: the OpenTelemetry SDK's own batch processor (``sdk_export.CountedBatches``). On the
SDK's export thread, away from the request, it becomes the SDK's ``ReadableSpan``, with the
attribute limits and the value checks applied, and goes to the SDK's exporter in a batch.

What a trace holds does not change: the same names, parents, kinds, attributes, events and
statuses as the SDK's spans (tests/unit/test_light_tracer.py compares the two). Sampling: a span
continues its parent's decision and a new trace is sampled (``parentbased_always_on``, the
SDK's default); an operator's ``OTEL_TRACES_SAMPLER`` is honoured through the SDK's own sampler.
A span is touched by one thread at a time (a stream's root span moves between threads, never
runs in two at once), so it takes no lock; ending it twice exports it once.
"""

from __future__ import annotations

import os
import random
import time
import traceback
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING

from opentelemetry import trace as trace_api
from opentelemetry.trace import SpanContext, SpanKind, Status, StatusCode, TraceFlags
from opentelemetry.util.types import Attributes, AttributeValue

if TYPE_CHECKING:
    from opentelemetry.context import Context
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import ReadableSpan, SpanLimits, TracerProvider
    from opentelemetry.sdk.trace.sampling import Sampler
    from opentelemetry.sdk.util.instrumentation import InstrumentationScope

_ROOT = TraceFlags(TraceFlags.SAMPLED | TraceFlags.RANDOM_TRACE_ID)  # as the SDK marks a root
_UNSET = Status(StatusCode.UNSET)
_bits = random.getrandbits


class Shared:
    """What every span of one tracer shares, read when a span is exported."""

    def __init__(self, resource: Resource, scope: InstrumentationScope,
                 limits: SpanLimits) -> None:
        self.resource, self.scope, self.limits = resource, scope, limits


class LightSpan(trace_api.Span):
    """A recording span (see the module docstring)."""

    def __init__(self, name: str, context: SpanContext, parent: SpanContext | None,
                 kind: SpanKind, attributes: Attributes,
                 links: Sequence[trace_api.Link], start_time: int | None,
                 sink: Callable[[LightSpan], None], shared: Shared) -> None:
        self.name = name
        self.context = context
        self.parent = parent
        self.kind = kind
        self.attributes: dict[str, AttributeValue] = dict(attributes) if attributes else {}
        self.links = tuple(links)
        self.events: list[tuple[str, Attributes, int]] = []
        self.status = _UNSET
        self.start_time = start_time or time.time_ns()
        self.end_time: int | None = None
        self.sink = sink
        self.shared = shared

    # --- the API's span -------------------------------------------------------------------

    def get_span_context(self) -> SpanContext:
        return self.context

    def is_recording(self) -> bool:
        return self.end_time is None

    def set_attribute(self, key: str, value: AttributeValue) -> None:
        if self.end_time is None:
            self.attributes[key] = value

    def set_attributes(self, attributes: Mapping[str, AttributeValue]) -> None:
        if self.end_time is None:
            self.attributes.update(attributes)

    def add_event(self, name: str, attributes: Attributes = None,
                  timestamp: int | None = None) -> None:
        if self.end_time is None:
            self.events.append((name, dict(attributes) if attributes else None,
                                timestamp or time.time_ns()))

    def add_link(self, context: SpanContext, attributes: Attributes = None
                 ) -> None:
        if self.end_time is None and context.is_valid:
            self.links += (trace_api.Link(context, attributes),)

    def update_name(self, name: str) -> None:
        if self.end_time is None:
            self.name = name

    def set_status(self, status: Status | StatusCode, description: str | None = None) -> None:
        """As the SDK: an ``OK`` status is final, ``UNSET`` is ignored."""
        if self.end_time is not None or self.status.status_code is StatusCode.OK:
            return
        if isinstance(status, StatusCode):
            status = Status(status, description)
        if status.status_code is not StatusCode.UNSET:
            self.status = status

    def record_exception(self, exception: BaseException,
                         attributes: Attributes = None,
                         timestamp: int | None = None, escaped: bool = False) -> None:
        """The conventions' ``exception`` event, as the SDK writes it."""
        kind = type(exception)
        module = kind.__module__
        recorded: dict[str, AttributeValue] = {
            "exception.type": (f"{module}.{kind.__qualname__}"
                               if module and module != "builtins" else kind.__qualname__),
            "exception.message": str(exception),
            "exception.stacktrace": "".join(traceback.format_exception(exception)),
            "exception.escaped": str(escaped)}
        recorded.update(attributes or {})
        self.add_event("exception", recorded, timestamp)

    def end(self, end_time: int | None = None) -> None:
        if self.end_time is None:
            self.end_time = end_time or time.time_ns()
            self.sink(self)

    # --- away from the request: on the SDK's export thread --------------------------------

    def readable(self) -> ReadableSpan:
        """The SDK's finished span, with its attribute limits and value checks applied."""
        return finished(self.name, self.context, self.parent, self.kind, self.attributes,
                        self.events, self.links, self.status, self.start_time, self.end_time,
                        self.shared)


def finished(name: str, context: SpanContext, parent: SpanContext | None, kind: SpanKind,
             attributes: Mapping[str, AttributeValue], events: Sequence[tuple[str, Attributes,
                                                                   int]],
             links: Sequence[trace_api.Link], status: Status, start_time: int,
             end_time: int | None, shared: Shared) -> ReadableSpan:
    """The SDK's ``ReadableSpan`` of what a span recorded, the ``OTEL_SPAN_*`` limits and the
    value checks applied: on the export thread."""
    from opentelemetry.attributes import BoundedAttributes
    from opentelemetry.sdk.trace import Event, ReadableSpan

    limits = shared.limits

    def bounded(values: Attributes, most: int | None) -> BoundedAttributes:
        return BoundedAttributes(most, values, immutable=True,
                                 max_value_len=limits.max_span_attribute_length)

    kept = tuple(Event(what, bounded(values, limits.max_event_attributes), when)
                 for what, values, when in events[:limits.max_events])
    return ReadableSpan(
        name=name, context=context, parent=parent, resource=shared.resource,
        attributes=bounded(attributes, limits.max_span_attributes), events=kept,
        links=tuple(links[:limits.max_links]), kind=kind, status=status, start_time=start_time,
        end_time=end_time, instrumentation_scope=shared.scope)


class LightTracer(trace_api.Tracer):
    """Makes ``LightSpan``s; each ended one goes to ``sink`` (the span processor's
    ``put``). ``sampler``: the SDK's sampler when the operator chose one, else None
    (``parentbased_always_on``, decided here without a call)."""

    def __init__(self, sink: Callable[[LightSpan], None], shared: Shared,
                 sampler: Sampler | None = None) -> None:
        self.sink, self.shared, self.sampler = sink, shared, sampler

    def start_span(self, name: str, context: Context | None = None,
                   kind: SpanKind = SpanKind.INTERNAL,
                   attributes: Attributes = None,
                   links: Sequence[trace_api.Link] | None = None,
                   start_time: int | None = None, record_exception: bool = True,
                   set_status_on_exception: bool = True) -> trace_api.Span:
        parent: SpanContext | None = trace_api.get_current_span(context).get_span_context()
        if parent is not None and parent.is_valid:
            trace_id = parent.trace_id
            flags, state = parent.trace_flags, parent.trace_state
        else:
            parent, trace_id = None, _bits(128) or 1
            flags, state = _ROOT, None
        if self.sampler is not None:
            result = self.sampler.should_sample(context, trace_id, name, kind, attributes,
                                                links)
            sampled = TraceFlags.SAMPLED if result.decision.is_sampled() else 0
            flags = TraceFlags(sampled | (flags & TraceFlags.RANDOM_TRACE_ID))
            state = result.trace_state
            attributes = result.attributes if result.decision.is_recording() else None
        span_context = SpanContext(trace_id, _bits(64) or 1, False, flags, state)
        if not flags.sampled:
            return trace_api.NonRecordingSpan(span_context)
        return LightSpan(name, span_context, parent, kind, attributes, links or (), start_time,
                         self.sink, self.shared)

    @contextmanager  # the API types it with its own private decorator; the same protocol
    def start_as_current_span(  # type: ignore[override]
            self, name: str, context: Context | None = None,
            kind: SpanKind = SpanKind.INTERNAL, attributes: Attributes = None,
            links: Sequence[trace_api.Link] | None = None, start_time: int | None = None,
            record_exception: bool = True, set_status_on_exception: bool = True,
            end_on_exit: bool = True) -> Iterator[trace_api.Span]:
        span = self.start_span(name, context, kind, attributes, links, start_time)
        with trace_api.use_span(span, end_on_exit=end_on_exit,
                                record_exception=record_exception,
                                set_status_on_exception=set_status_on_exception) as current:
            yield current


def readable(span: LightSpan | ReadableSpan) -> ReadableSpan:
    """A queued span as the exporter takes it (the SDK's own spans are already)."""
    return span.readable() if isinstance(span, LightSpan) else span


def tracer_for(provider: TracerProvider, sink: Callable[[LightSpan], None],
               name: str = "rag_core") -> LightTracer:
    """The tracer of ``provider``'s resource and span limits (``OTEL_SPAN_*``), its ended
    spans into ``sink``; the provider's sampler only when ``OTEL_TRACES_SAMPLER`` names one."""
    from opentelemetry.sdk.trace import SpanLimits
    from opentelemetry.sdk.util.instrumentation import InstrumentationScope

    chosen = os.environ.get("OTEL_TRACES_SAMPLER", "").strip()
    return LightTracer(sink, Shared(provider.resource, InstrumentationScope(name), SpanLimits()),
                       provider.sampler if chosen else None)

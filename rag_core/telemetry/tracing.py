"""The service's spans: the tracer they are made with (``use_tracer``; the OpenTelemetry API's
until ``telemetry.export.setup`` installs one), and the helpers every step uses. Spans carry
hashes of the user id and the query, never the raw values, and the request's id.

The interface is small and typed: a ``Tracer`` starts a ``Span``; ``NULL_TRACER`` records
nothing. Its implementations: the OpenTelemetry SDK's tracer, the service's own light tracer
(``telemetry.light``, what ``RAG_OTEL_EXPORTER=otlp`` installs; tests hold it to the SDK's
spans) and the API's no-op tracer (tracing off)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, MutableMapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from typing import TYPE_CHECKING, Protocol

from opentelemetry import trace

from rag_core.telemetry.logs import request_id_var

if TYPE_CHECKING:
    from opentelemetry.context import Context
    from opentelemetry.trace import Link, SpanContext, SpanKind, Status, StatusCode
    from opentelemetry.util.types import Attributes, AttributeValue

    from rag_core.answer import Answer


class Span(Protocol):
    """What the service does with a span."""

    def set_attribute(self, key: str, value: AttributeValue) -> None: ...

    def set_attributes(self, attributes: Mapping[str, AttributeValue]) -> None: ...

    def add_event(self, name: str, attributes: Attributes = None,
                  timestamp: int | None = None) -> None: ...

    def set_status(self, status: Status | StatusCode,
                   description: str | None = None) -> None: ...

    def record_exception(self, exception: BaseException, attributes: Attributes = None,
                         timestamp: int | None = None, escaped: bool = False) -> None: ...

    def update_name(self, name: str) -> None: ...

    def is_recording(self) -> bool: ...

    def get_span_context(self) -> SpanContext: ...

    def end(self, end_time: int | None = None) -> None: ...


class Tracer(Protocol):
    """What makes the service's spans: a started span, not made current (``span`` and
    ``use_span`` make one current)."""

    def start_span(self, name: str, context: Context | None = None,
                   kind: SpanKind = ..., attributes: Attributes = None,
                   links: Sequence[Link] | None = None, start_time: int | None = None,
                   record_exception: bool = True,
                   set_status_on_exception: bool = True) -> trace.Span: ...


NULL_TRACER: Tracer = trace.NoOpTracer()  # records nothing (tracing off)
_tracer: Tracer | None = None


def use_tracer(found: Tracer) -> None:
    """The tracer spans are made with (``rag_core.telemetry.export.setup`` installs it)."""
    global _tracer
    _tracer = found


def tracer() -> Tracer:
    global _tracer
    if _tracer is None:
        _tracer = trace.get_tracer("rag_core")
    return _tracer


@contextmanager
def span(name: str, *, end_on_exit: bool = True, kind: str = "internal",
         **attributes: AttributeValue | None) -> Iterator[Span]:
    """A span with the request id and the given attributes, current in the block (an
    exception escaping it is recorded on it, with an error status).

    ``end_on_exit=False`` leaves it open after the block (a streamed answer ends its root span
    when the stream ends). ``kind``: ``internal``, ``server`` or ``client``.
    """
    started = tracer().start_span(name, kind=_kind(kind), attributes=_given(attributes))
    with trace.use_span(started, end_on_exit=end_on_exit) as current:
        yield current


def tracing_on() -> bool:
    """Whether the spans ``tracer()`` makes record anything: the API's tracer records only once
    a provider is installed (``export.setup``, or a test's own)."""
    current = tracer()
    if isinstance(current, trace.ProxyTracer):
        return not isinstance(trace.get_tracer_provider(),
                              trace.ProxyTracerProvider | trace.NoOpTracerProvider)
    return not isinstance(current, trace.NoOpTracer)


def inject_trace(headers: MutableMapping[str, str]) -> None:
    """Write the current span as ``traceparent`` into outgoing request headers."""
    from opentelemetry import propagate

    propagate.inject(headers)




def start_span(name: str, start_time: int | None = None, /, *, kind: str = "internal",
               **attributes: AttributeValue | None) -> Span:
    """A started span that is not made current (a request's root span, which lives across
    the yields of a stream); the caller ends it. It continues the trace that is current when
    it starts (an incoming ``traceparent``). ``start_time``: when it began (ns since the
    epoch), for a span recorded after the fact."""
    return tracer().start_span(name, start_time=start_time, kind=_kind(kind),
                               attributes=_given(attributes))


def use_span(current: Span) -> AbstractContextManager[trace.Span]:
    """Make ``current`` the active span for a block that does not yield (never ends it)."""
    return trace.use_span(current, end_on_exit=False)  # type: ignore[arg-type]


def child_span(name: str, parent: Span, *, request_id: str | None = None,
               start_time: int | None = None, kind: str = "internal",
               **attributes: AttributeValue | None) -> Span:
    """A started span under ``parent`` that is never made current: for work that happens
    between the yields of a generator, where attaching a context would leak across requests.
    The caller ends it. ``start_time`` as in ``start_span``."""
    return tracer().start_span(name, context=trace.set_span_in_context(parent),  # type: ignore[arg-type]
                               start_time=start_time, kind=_kind(kind),
                               attributes=_given(attributes, request_id))


def annotate(root: Span, answer: Answer) -> None:
    """The answer's figures on the request's root span."""
    root.set_attribute("tokens.input", answer.usage.input_tokens)
    root.set_attribute("tokens.output", answer.usage.output_tokens)
    root.set_attribute("cost.usd", answer.cost_usd)
    root.set_attribute("no_context", answer.no_context)
    for layer, outcome in answer.cache.items():
        root.set_attribute(f"cache.{layer}", outcome)


def _kind(name: str) -> SpanKind:
    if not _KINDS:  # the API's enum, imported once (every span asks)
        from opentelemetry.trace import SpanKind

        _KINDS.update(server=SpanKind.SERVER, client=SpanKind.CLIENT,
                      internal=SpanKind.INTERNAL)
    return _KINDS.get(name, _KINDS["internal"])


_KINDS: dict[str, SpanKind] = {}


def on_current_span(**attributes: AttributeValue | None) -> None:
    """Attributes on whatever span is current (a layer that knows a figure its caller's span
    should show, such as the semantic cache's nearest similarity)."""
    current = trace.get_current_span()
    if current.is_recording():
        current.set_attributes(_given(attributes, request_id="-"))


def _given(attributes: Mapping[str, AttributeValue | None],
           request_id: str | None = None) -> dict[str, AttributeValue]:
    """A span's attributes: the request id and those of ``attributes`` that have a value;
    given when the span starts (one call, not one per attribute)."""
    given: dict[str, AttributeValue] = {key: value for key, value in attributes.items()
                                        if value is not None}
    rid = request_id or request_id_var.get()
    if rid and rid != "-":
        given["request.id"] = rid
    return given

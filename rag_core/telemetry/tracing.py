"""The service's spans: the tracer they are made with (``use_tracer``; the OpenTelemetry API's
until ``telemetry.export.setup`` installs one), and the helpers every step uses. Spans carry
hashes of the user id and the query, never the raw values, and the request's id."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from rag_core.telemetry.logs import request_id_var

_tracer: Any = None


def use_tracer(found: Any) -> None:
    """The tracer spans are made with (``rag_core.telemetry.export.setup`` installs it)."""
    global _tracer
    _tracer = found


def tracer() -> Any:
    global _tracer
    if _tracer is None:
        from opentelemetry import trace

        _tracer = trace.get_tracer("rag_core")
    return _tracer


@contextmanager
def span(name: str, *, end_on_exit: bool = True, kind: str = "internal",
         **attributes: Any) -> Iterator[Any]:
    """An OpenTelemetry span with the request id and the given attributes.

    ``end_on_exit=False`` leaves it open after the block (a streamed answer ends its root span
    when the stream ends). ``kind``: ``internal``, ``server`` or ``client``.
    """
    with tracer().start_as_current_span(name, end_on_exit=end_on_exit, kind=_kind(kind),
                                        attributes=_given(attributes)) as current:
        yield current


def tracing_on() -> bool:
    """Whether the spans ``tracer()`` makes record anything: the API's tracer records only once
    a provider is installed (``export.setup``, or a test's own)."""
    from opentelemetry import trace

    current = tracer()
    if isinstance(current, trace.ProxyTracer):
        return not isinstance(trace.get_tracer_provider(),
                              trace.ProxyTracerProvider | trace.NoOpTracerProvider)
    return not isinstance(current, trace.NoOpTracer)


def inject_trace(headers: Any) -> None:
    """Write the current span as ``traceparent`` into outgoing request headers."""
    from opentelemetry import propagate

    propagate.inject(headers)




def start_span(name: str, start_time: int | None = None, /, *, kind: str = "internal",
               **attributes: Any) -> Any:
    """A started span that is not made current (a request's root span, which lives across
    the yields of a stream); the caller ends it. It continues the trace that is current when
    it starts (an incoming ``traceparent``). ``start_time``: when it began (ns since the
    epoch), for a span recorded after the fact."""
    return tracer().start_span(name, start_time=start_time, kind=_kind(kind),
                               attributes=_given(attributes))


def use_span(current: Any) -> Any:
    """Make ``current`` the active span for a block that does not yield (never ends it)."""
    from opentelemetry import trace

    return trace.use_span(current, end_on_exit=False)


def child_span(name: str, parent: Any, *, request_id: str | None = None,
               start_time: int | None = None, kind: str = "internal",
               **attributes: Any) -> Any:
    """A started span under ``parent`` that is never made current: for work that happens
    between the yields of a generator, where attaching a context would leak across requests.
    The caller ends it. ``start_time`` as in ``start_span``."""
    from opentelemetry import trace

    return tracer().start_span(name, context=trace.set_span_in_context(parent),
                               start_time=start_time, kind=_kind(kind),
                               attributes=_given(attributes, request_id))


def annotate(root: Any, answer: Any) -> None:
    """The answer's figures on the request's root span."""
    root.set_attribute("tokens.input", answer.usage.input_tokens)
    root.set_attribute("tokens.output", answer.usage.output_tokens)
    root.set_attribute("cost.usd", answer.cost_usd)
    root.set_attribute("no_context", answer.no_context)
    for layer, outcome in answer.cache.items():
        root.set_attribute(f"cache.{layer}", outcome)


def _kind(name: str) -> Any:
    if not _KINDS:  # the API's enum, imported once (every span asks)
        from opentelemetry.trace import SpanKind

        _KINDS.update(server=SpanKind.SERVER, client=SpanKind.CLIENT,
                      internal=SpanKind.INTERNAL)
    return _KINDS.get(name, _KINDS["internal"])


_KINDS: dict[str, Any] = {}


def on_current_span(**attributes: Any) -> None:
    """Attributes on whatever span is current (a layer that knows a figure its caller's span
    should show, such as the semantic cache's nearest similarity)."""
    from opentelemetry import trace

    current = trace.get_current_span()
    if current.is_recording():
        current.set_attributes(_given(attributes, request_id="-"))


def _given(attributes: dict[str, Any], request_id: str | None = None) -> dict[str, Any]:
    """A span's attributes: the request id and those of ``attributes`` that have a value;
    given when the span starts (one call, not one per attribute)."""
    given = {key: value for key, value in attributes.items() if value is not None}
    rid = request_id or request_id_var.get()
    if rid and rid != "-":
        given["request.id"] = rid
    return given

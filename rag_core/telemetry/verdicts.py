"""A user's verdict on an answer as a quality signal in the answer's own trace: a span
``assistant.verdict`` under the answer's ``assistant.query`` span (its trace and span ids are
kept with the answer record), linked to the feedback request's own span, carrying the GenAI
conventions' ``gen_ai.evaluation.result`` event. A trace viewer shows the verdict beside the
steps that made the answer. An answer kept before its record had a trace (or with tracing off)
gets the event under the feedback request's span instead, with ``gen_ai.response.id`` naming
the answer.

The score: 1 for ``right``, 0 for ``wrong``; the label is the verdict. The user's comment is
never put on it (their words). ``answer_quality_score`` (deploy/prometheus/alerts.yml) is the
share of ``right`` among the verdicts of a window, from ``answer_feedback_total``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rag_core.telemetry import semconv as sc
from rag_core.telemetry import tracing

if TYPE_CHECKING:
    from opentelemetry.trace import NonRecordingSpan
    from opentelemetry.util.types import AttributeValue

EVALUATION = "user_verdict"


def event_attributes(answer_id: str, verdict: str, source: str) -> dict[str, AttributeValue]:
    return {sc.EVALUATION_NAME: EVALUATION, sc.EVALUATION_LABEL: verdict,
            sc.EVALUATION_SCORE: 1.0 if verdict == "right" else 0.0,
            sc.RESPONSE_ID: answer_id, "rag.answer.source": source}


def emit(answer_id: str, verdict: str, source: str, trace_id: str | None,
         span_id: str | None) -> None:
    """The verdict's event, in the answer's trace when its ids are known."""
    from opentelemetry import trace

    here = trace.get_current_span()
    parent = _answer_span(trace_id, span_id)
    links = [trace.Link(here.get_span_context())] if here.get_span_context().is_valid else []
    context = trace.set_span_in_context(parent) if parent is not None else None
    span = tracing.tracer().start_span("assistant.verdict", context=context, links=links)
    try:
        span.set_attribute(sc.RESPONSE_ID, answer_id)
        span.add_event(sc.EVALUATION_EVENT, event_attributes(answer_id, verdict, source))
    finally:
        span.end()


def _answer_span(trace_id: str | None, span_id: str | None) -> NonRecordingSpan | None:
    from opentelemetry import trace

    if not trace_id or not span_id:
        return None
    try:
        context = trace.SpanContext(int(trace_id, 16), int(span_id, 16), is_remote=True,
                                    trace_flags=trace.TraceFlags(trace.TraceFlags.SAMPLED))
    except ValueError:
        return None
    return trace.NonRecordingSpan(context) if context.is_valid else None

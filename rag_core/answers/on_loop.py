"""An exact cache hit answered in the event loop's own task (``POST /v1/query``).

Steps 1-2 of the pipeline (validate, then the notes version and the answer in one Redis round
trip, ``cache.loop_read``) run here, without the hop to a worker thread that every question
used to make: on a busy host each hop waits for a core twice, and a cached answer cost three
health checks. Only a hit is served from here, with what ``Pipeline.ask`` does for one (the
counts, the timings, the root span and its two step spans, recorded after the fact, the query
log line). Anything else answers None before anything is counted, and the route asks the
pipeline in a thread as before: a question it refuses, a miss, a version not trusted yet. A hit
on an answer whose model call is priced does no more here than any other: what it saved is
added up in process and written by a background thread (``costs.saved``).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from rag_core.answers import log as answer_log
from rag_core.cache.answer_layer import exact_hit
from rag_core.errors import RagError
from rag_core.safety.guard import has_substance, validate_query
from rag_core.telemetry import logs, metrics, tracing
from rag_core.types import Answer, Query

if TYPE_CHECKING:
    from rag_core.answers.assemble import AnswerMaker
    from rag_core.parts import Parts
    from rag_core.run import Run
    from rag_core.store.base import SearchParams


async def cached_answer(p: Parts, maker: AnswerMaker, params: SearchParams, run: Run,
                        question: object) -> Answer | None:
    """The answer of an exact L1 hit, as ``Pipeline.ask`` gives it; None for anything else
    (``run``: the request, new)."""
    layer = p.caches.answers
    if layer.loop_read is None or not run.control.reads:
        return None
    user_id, filters = run.user_id, run.filters
    begun = time.time_ns()
    try:
        query = validate_query(user_id, question, p.counter, p.settings, sanitiser=p.sanitiser)
    except RagError:
        return None  # refused the long way, with its span and counts
    if not has_substance(query.text):
        return None
    validated = time.time_ns()
    found = await exact_hit(layer, params, user_id, query.text, run.top_k, filters)
    if found is None or not run.control.fresh(found[2], time.time()):
        return None  # a miss, or older than the request's max_age_s: the long way
    looked = time.time_ns()
    run.query = count_checks(query)
    run.version, run.key, cached = found
    run.cache["query"] = "hit"
    run.root = tracing.start_span("assistant.query", begun, **{
        "user.id_hash": logs.hash_id(user_id), "query.hash": logs.hash_id(str(question))})
    for name, start, end in (("validate", begun, validated), ("query_cache", validated, looked)):
        run.timings[name] = round((end - start) / 1e6, 3)
        metrics.STEP_DURATION.labels(step=name).observe((end - start) / 1e9)
        step = tracing.child_span(f"assistant.{name}", run.root, request_id=run.request_id,
                                  start_time=start)
        if name == "query_cache":  # the lookup's span, as ``telemetry.steps.Lookup`` ends it
            hit: dict[str, Any] = {"cache.layer": "query", "cache.outcome": "hit",
                                   "cache.hit": True}
            tracing.child_span("cache.lookup query", step, request_id=run.request_id,
                               start_time=start, **hit).end(end_time=end)
        step.end(end_time=end)
    try:
        if cached.no_context:  # a remembered "nothing in your notes" is still one
            metrics.NO_CONTEXT.inc()
        answer = maker.from_cache(run, cached, "cached")  # what it saved: written later
        with run.within():
            answer_log.keep(p, run, answer)
        tracing.annotate(run.root, answer)
        return answer
    finally:
        metrics.REQUEST_DURATION.observe(time.perf_counter() - run.started)
        run.root.end()


def count_checks(query: Query) -> Query:
    """A validated question's truncation and sanitiser flags, counted."""
    if query.truncated:
        metrics.TRUNCATIONS.inc()
    for flag in query.flags:
        metrics.SANITISER_FLAGS.labels(family=flag).inc()
    return query

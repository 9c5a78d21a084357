"""How a request's state (``Run``) becomes the ``Answer`` sent: a made answer (generated,
declined, refused, "nothing in your notes") or a cached one served again (an exact hit, a
semantic reuse, a stale fallback), with the counters and records each outcome carries."""

from __future__ import annotations

import time
from dataclasses import replace

from rag_core.answer import Answer
from rag_core.answers import log as answer_log
from rag_core.parts import Parts
from rag_core.run import Run
from rag_core.telemetry import metrics
from rag_core.types import Citation, TokenUsage

CALLED = ("generated", "declined")  # outcomes of a model call (billed as such)
# outcomes of an answer made from the notes: by a model, or without one while every model
# failed (``answers.degraded``)
ANSWERED = ("generated", "degraded")


class AnswerMaker:
    """Builds the answers of one service (its generator's name, its answer records)."""

    def __init__(self, parts: Parts) -> None:
        self.parts = parts

    def ended(self, run: Run, outcome: str) -> None:
        """The request ended with ``outcome`` (an answer's, or ``error``): counted in
        ``assistant_requests_total`` and in the user's day (``rag-core costs report``), paid
        or not."""
        metrics.REQUESTS.labels(outcome=outcome).inc()
        self.parts.ledger.requests.count(run.user_id, outcome)

    def from_cache(self, run: Run, cached: Answer, outcome: str) -> Answer:
        """A cached answer served (``outcome``: cached or stale), with the id of the entry
        that served it; a hit also counts the model call it saved."""
        self.ended(run, outcome)
        if outcome == "stale":
            answer_id = answer_log.served_id(cached.answer_id, "stale")
        elif run.cache.get("query") == "semantic_hit":
            answer_log.saved_by(self.parts.ledger, self.parts.settings.money, run.user_id,
                                cached, "semantic")
            answer_id = cached.answer_id
        else:
            answer_log.saved_by(self.parts.ledger, self.parts.settings.money, run.user_id,
                                cached, "query")
            answer_id = answer_log.served_id(cached.answer_id, "query")
        return replace(cached, answer_id=answer_id or run.answer_id,
                       request_id=run.request_id, timings_ms=run.finish_timings(),
                       cache=run.cache_outcomes(), usage=TokenUsage(), cost_usd=0.0,
                       usage_source="counted",
                       decisions=replace(run.decisions) if run.decisions.recorded() else
                       cached.decisions.kept(cached.no_context), debug=None,
                       no_context_reason=cached.no_context_reason or (
                           cached.decisions.no_context_reason() if cached.no_context else ""),
                       flags=list(run.query.flags) if run.query else [],
                       query_truncated=bool(run.query and run.query.truncated))

    def no_context(self, run: Run, text: str) -> Answer:
        """ "Nothing in your notes" without the model, kept in L1 for the next time."""
        metrics.NO_CONTEXT.inc()
        answer = self.finish(run, text, outcome="no_context")
        if run.control.writes:  # not under the request's no_store
            self.parts.caches.answers.put_no_context(run.key, answer, user_id=run.user_id,
                                                     notes_version=run.version)
        return answer

    def finish(self, run: Run, text: str, *, outcome: str, citations: list[Citation] | None = None,
               usage: TokenUsage | None = None, cost: float = 0.0,
               generator: str | None = None, model: str | None = None,
               usage_source: str = "counted") -> Answer:
        """A new answer (``outcome``: generated, declined, degraded, refused or no_context);
        ``generator`` and ``model``: what wrote it (default: the service's generator, for an
        outcome of a call; "none" otherwise)."""
        self.ended(run, outcome)
        query = run.query
        wrote = outcome in CALLED or outcome in ANSWERED
        return Answer(
            answer=text,
            citations=citations or [],
            no_context=outcome not in ANSWERED,
            generator=(generator or self.parts.generator.name) if wrote else "none",
            model=(model or generator or self.parts.generator.name) if wrote else "none",
            cache=run.cache_outcomes(),
            usage=usage or TokenUsage(),
            usage_source=usage_source,
            cost_usd=cost,
            timings_ms=run.finish_timings(),
            request_id=run.request_id,
            query_truncated=bool(query and query.truncated),
            flags=list(query.flags) if query else [],
            retrieved=run.retrieved_rows(),
            budget_state=run.budget_state,
            decisions=replace(run.decisions),
            answer_id=run.answer_id,
            question=query.text if query else "",
            no_context_reason=(run.decisions.no_context_reason(refused=outcome == "refused")
                               if outcome not in ANSWERED else ""),
            made_at=time.time(),
            debug=run.debug(),
        )


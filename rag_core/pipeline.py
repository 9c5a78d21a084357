"""The seven steps, in order:

    1 validate -> 2 query cache (L1 exact) -> 3 embed (L2) -> 4 retrieve (L3), then the
    semantic cache and the no-context decision, both judged on what was retrieved
    -> 5 build context -> 6 generate (budget, breaker, stale fallback) -> 7 post-process

``Pipeline(parts).ask`` answers one question; ``stream`` runs the very same steps and yields
the answer's text as it is generated. Both consume one sequence of events (``_events``): text
pieces that passed step 7's checks, then the finished ``Answer``. The parts come from the edge
(``rag_core.parts``); the pipeline only answers.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Generator, Iterator
from dataclasses import replace
from typing import Any

from rag_core import observability as obs
from rag_core.answers import log as answer_log
from rag_core.config import fixed
from rag_core.context import select_context
from rag_core.costs.billing import Bill
from rag_core.decisions.note_facts import NotesMemo
from rag_core.decisions.reasons import no_context_reason
from rag_core.decisions.relevance import decide_relevance
from rag_core.decisions.word_match import WordMatcher
from rag_core.errors import LLMUnavailable, RagError
from rag_core.llm.prompt import build_prompt, is_decline
from rag_core.parts import Parts
from rag_core.postprocess import OutputGuard
from rag_core.run import Run
from rag_core.safety.guard import has_substance, validate_query
from rag_core.store.filters import NO_FILTERS, Filters
from rag_core.types import Answer, Chunk, TokenUsage

NO_CONTEXT_ANSWER = "I couldn't find anything about that in your notes."
NO_MATCH_ANSWER = "None of your notes matches the filters of this question."
REFUSAL_ANSWER = (
    "I can only answer questions about your own sermon notes, and I don't share my instructions."
)

CALLED = ("generated", "declined")  # outcomes of a model call (billed as such)
Event = str | Answer  # a piece of text to send on, or the finished answer (always last)


class Pipeline:
    def __init__(self, parts: Parts) -> None:
        self.parts = parts
        self.params = parts.settings.retrieval
        self.words = WordMatcher(parts.embedder)  # near words for the semantic cache
        self.note_facts = NotesMemo(parts.store.user_texts)  # the no-context decision's facts

    # --- public API ------------------------------------------------------------------------

    def ask(self, user_id: str, question: object, *, top_k: int | None = None,
            request_id: str | None = None, filters: Filters = NO_FILTERS) -> Answer:
        for event in self._events(self._new_run(user_id, top_k, request_id, filters), question,
                                  streaming=False):
            if isinstance(event, Answer):
                return event
        raise AssertionError("the pipeline ended without an answer")  # pragma: no cover

    def stream(self, user_id: str, question: object, *, top_k: int | None = None,
               request_id: str | None = None, filters: Filters = NO_FILTERS
               ) -> Generator[dict[str, Any], None, None]:
        """Events: ``{"type": "delta", "text": ...}`` while generating, then one
        ``{"type": "answer", **Answer.to_dict()}``. Errors raise before the first event; a
        failure after text was sent ends the stream with ``{"type": "error", ...}``."""
        run = self._new_run(user_id, top_k, request_id, filters)
        sent = False
        try:
            for event in self._events(run, question, streaming=True):
                if isinstance(event, Answer):
                    yield {"type": "answer", **event.to_dict()}
                else:
                    sent = True
                    yield {"type": "delta", "text": event}
        except RagError as exc:
            if not sent:
                raise
            yield {"type": "error", **exc.to_dict(run.request_id)["error"],
                   "retry_after": exc.retry_after}

    def search(self, user_id: str, query: str, top_k: int | None = None,
               filters: Filters = NO_FILTERS) -> list[Chunk]:
        """Retrieval only (``rag-core search``): validate, embed, retrieve; no caches."""
        run = self._new_run(user_id, top_k, None, filters)
        run.query = self._validate(run, query)
        run.vector = self.parts.embedder.embed([run.query.text])[0]
        return self._search_store(run)

    # --- the request -----------------------------------------------------------------------

    def _new_run(self, user_id: str, top_k: int | None, request_id: str | None,
                 filters: Filters = NO_FILTERS) -> Run:
        rid = request_id or obs.request_id_var.get() or uuid.uuid4().hex
        return Run(request_id=rid, user_id=user_id, top_k=top_k or self.parts.settings.top_k,
                   filters=filters)

    def _events(self, run: Run, question: object, *, streaming: bool) -> Iterator[Event]:
        """Steps 1-7 under the root span ``assistant.query``, which is never made current
        across a ``yield`` (a stream resumes in other threads): each stretch of work between
        yields makes it current (``run.within``) or hangs child spans on it."""
        run.root = obs.start_span("assistant.query", **{
            "user.id_hash": obs.hash_id(run.user_id),
            "query.hash": obs.hash_id(str(question)),
        })
        obs.CONCURRENT.inc()
        try:
            with run.within():
                answer = self._prepare(run, question)
            if answer is None:
                answer = yield from self._generate(run, streaming)
            elif streaming:
                yield answer.answer
            with run.within():
                answer_log.keep(self.parts, run, answer, origin=run.origin)
            obs.annotate(run.root, answer)
            yield answer
        except RagError as exc:
            obs.REQUESTS.labels(outcome="error").inc()
            run.root.set_attribute("error.code", exc.code)
            raise
        finally:
            obs.CONCURRENT.dec()
            obs.REQUEST_DURATION.observe(time.perf_counter() - run.started)
            run.root.end()

    # --- steps 1-5 -------------------------------------------------------------------------

    def _prepare(self, run: Run, question: object) -> Answer | None:
        """Steps 1-5. Returns a finished answer (cache hit, refusal, no context) or None."""
        p = self.parts
        with run.step("validate"):
            run.query = self._validate(run, question)
        if not has_substance(run.query.text):
            return self._finish(run, REFUSAL_ANSWER, outcome="refused")

        with run.step("query_cache"):
            run.version, run.key, cached, run.cache["query"] = p.caches.lookup_answer(
                self.params, run.user_id, run.query.text, run.top_k, p.store.notes_version,
                run.filters)
        if cached is not None:
            if cached.no_context:  # a remembered "nothing in your notes" is still one
                obs.NO_CONTEXT.inc()
            return self._from_cache(run, cached, "cached")

        with run.step("embed") as current:
            run.vector, run.cache["embedding"] = p.caches.embedding_for(
                run.user_id, run.query.text, p.embedder.dim,
                lambda text: p.embedder.embed([text])[0])
            current.set_attribute("cache.embedding", run.cache["embedding"])

        with run.step("retrieve") as current:
            run.chunks, run.cache["context"] = p.caches.chunks_for(
                self.params, run.user_id, run.version, run.query.text, run.top_k,
                lambda: self._search_store(run), run.filters)
            current.set_attribute("cache.context", run.cache["context"])
        if run.filters and not self._filters_match(run):  # no LLM, no charge
            return self._no_context(run, NO_MATCH_ANSWER)

        run.cache["semantic"] = "off"
        if p.caches.semantic_enabled:  # a paraphrase whose evidence is the same
            with run.step("semantic_cache"):
                similar, run.decisions["semantic"] = p.caches.similar_answer(
                    run.user_id, run.version, run.query.text, run.vector, run.chunks,
                    self.words.closest, run.filters)
                run.cache["semantic"] = "semantic_hit" if similar is not None else "miss"
            if similar is not None:
                run.cache["query"] = "semantic_hit"
                run.origin = similar  # a new answer id: a verdict on the reuse is its own
                reused = replace(similar, answer_id=run.answer_id, question=run.query.text)
                p.caches.put_reused(run.key, reused, run.decisions["semantic"],
                                    user_id=run.user_id, notes_version=run.version)
                return self._from_cache(run, reused, "cached")

        user, version = run.user_id, run.version
        relevant = decide_relevance(run.query.text, run.chunks, p.settings,
                                    notes=lambda: self.note_facts.get(user, version))
        run.decisions["relevance"] = relevant.to_dict()
        if not relevant.answer:  # "nothing in your notes", without the model
            return self._no_context(run, NO_CONTEXT_ANSWER)

        with run.step("build_context") as current:
            run.context = select_context(run.chunks, p.counter, p.settings.context_token_budget,
                                         guard=p.sanitiser)
            run.prompt = build_prompt(run.query.text, run.context.chunks,
                                      p.settings.output_token_budget, blocks=run.context.blocks)
            current.set_attribute("context.tokens", run.context.tokens)
            current.set_attribute("context.chunks", len(run.context.chunks))
        return None

    def _validate(self, run: Run, question: object) -> Any:
        p = self.parts
        query = validate_query(run.user_id, question, p.counter, p.settings,
                               sanitiser=p.sanitiser)
        if query.truncated:
            obs.TRUNCATIONS.inc()
        for flag in query.flags:
            obs.SANITISER_FLAGS.labels(family=flag).inc()
        return query

    def _no_context(self, run: Run, text: str) -> Answer:
        """ "Nothing in your notes" without the model, kept in L1 for the next time."""
        obs.NO_CONTEXT.inc()
        answer = self._finish(run, text, outcome="no_context")
        self.parts.caches.put_no_context(run.key, answer, user_id=run.user_id,
                                         notes_version=run.version)
        return answer

    def _filters_match(self, run: Run) -> bool:
        """Whether a note passes the filters (sure when a chunk came back), in ``decisions``."""
        matched = bool(run.chunks) or self.parts.store.count_matching(
            run.user_id, run.filters, min_version=run.version) > 0
        run.decisions["filters"] = {"matched": matched, "filters": run.filters.to_dict(),
                                    "described": run.filters.describe()}
        return matched

    def _search_store(self, run: Run) -> list[Chunk]:
        assert run.query is not None
        start = time.perf_counter()
        try:
            chunks = self.parts.store.search(run.user_id, run.vector, run.top_k,
                                             query_text=run.query.text, params=self.params,
                                             min_version=run.version, filters=run.filters)
        finally:
            obs.VECTOR_SEARCH.observe(time.perf_counter() - start)
        if chunks:
            obs.RELEVANCE.observe(max(c.score for c in chunks))
        return chunks

    # --- steps 6-7 -------------------------------------------------------------------------

    def _generate(self, run: Run, streaming: bool) -> Generator[str, None, Answer]:
        """Step 6 (budget, breaker, stale fallback) and step 7 as the text arrives.

        Whatever ends the call (an answer, an LLM failure, a client that went away), the bill
        is settled once: the work the model did is paid for, a reservation never outlives the
        call.
        """
        p = self.parts
        assert run.prompt is not None and run.context is not None
        with run.within():
            bill = Bill.open(p.ledger, p.settings, p.counter, generator=p.generator.name,
                             user_id=run.user_id, prompt=run.prompt)
        run.budget_state = bill.state
        if bill.state == "tightened":
            run.prompt = replace(run.prompt, max_tokens=max(16, run.prompt.max_tokens // 2))
        guard = OutputGuard(run.context.chunks, fixed.STREAM_HOLDBACK_CHARS,
                            question=run.prompt.question)
        usage: TokenUsage | None = None
        # the model and server are the generator's own settings (a harness swaps generators)
        own = getattr(getattr(p.generator, "inner", None), "settings", None) or p.settings
        genai = obs.genai_request(p.generator.name, own, run.prompt.max_tokens)
        with run.child("generate", **{"llm.name": p.generator.name}, **genai) as current:
            try:
                if streaming:
                    pieces = p.generator.stream(run.prompt)
                    try:
                        while True:
                            with run.current(current):  # the LLM call carries the trace
                                piece = next(pieces, None)
                            if piece is None:
                                break
                            text = guard.feed(piece)
                            if text:
                                yield text
                    finally:
                        getattr(pieces, "close", lambda: None)()
                else:
                    with run.current(current):
                        generation = p.generator.generate(run.prompt)
                    usage = generation.usage
                    guard.feed(generation.text)
            except LLMUnavailable as exc:
                current.set_attribute("error.code", exc.code)
                with run.within():  # what came is paid; a call that timed out, at its estimate
                    bill.settle(guard.raw, abandoned=exc.abandoned)
                if guard.sent:
                    raise
                stale = self._stale_or_raise(run, exc)
                if streaming:
                    yield stale.answer
                return stale
            except BaseException:  # the client went away, or something broke
                with run.within():
                    bill.settle(guard.raw)
                raise
            with run.within():
                usage = bill.settle(guard.raw, usage)
            current.set_attribute("tokens.input", usage.input_tokens)
            current.set_attribute("tokens.output", usage.output_tokens)
            obs.genai_usage(current, usage.input_tokens, usage.output_tokens)
        with run.step("postprocess"):
            done, rest = guard.close()
        declined = is_decline(done.text)  # the model found nothing: "nothing in your notes"
        if declined:
            obs.NO_CONTEXT.inc()
            run.decisions["declined"] = {"by": p.generator.name, "detail": "the model replied "
                                         "with the decline marker"}
        answer = self._finish(run, done.text, outcome="declined" if declined else "generated",
                              citations=done.citations, usage=usage, cost=bill.cost)
        if done.leaked:
            answer.flags.append("output_leak")
        with run.within():
            p.caches.put_answer(run.key, answer, user_id=run.user_id, notes_version=run.version,
                                question=run.query.text if run.query else "",
                                vector=run.vector, evidence=run.chunks,
                                filters=run.filters)
        if rest and streaming:
            yield rest
        return answer

    def _stale_or_raise(self, run: Run, failure: LLMUnavailable) -> Answer:
        """The last good answer to this question (marked stale), else the failure itself."""
        stale = self.parts.caches.stale_answer(run.key) if run.key else None
        if stale is None:
            raise failure
        answer = self._from_cache(run, stale, "stale")
        answer.stale = True
        return answer

    # --- answers ---------------------------------------------------------------------------

    def _from_cache(self, run: Run, cached: Answer, outcome: str) -> Answer:
        """A cached answer served (``outcome``: cached or stale), with the id of the entry
        that served it; a hit also counts the model call it saved."""
        obs.REQUESTS.labels(outcome=outcome).inc()
        if outcome == "stale":
            answer_id = answer_log.served_id(cached.answer_id, "stale")
        elif run.cache.get("query") == "semantic_hit":
            answer_log.saved_by(self.parts, run.user_id, cached, "semantic")
            answer_id = cached.answer_id
        else:
            answer_log.saved_by(self.parts, run.user_id, cached, "query")
            answer_id = answer_log.served_id(cached.answer_id, "query")
        return replace(cached, answer_id=answer_id or run.answer_id,
                       request_id=run.request_id, timings_ms=run.finish_timings(),
                       cache=run.cache_outcomes(), usage=TokenUsage(), cost_usd=0.0,
                       decisions=dict(run.decisions) or _kept_decisions(cached), debug=None,
                       no_context_reason=cached.no_context_reason or (
                           no_context_reason(cached.decisions) if cached.no_context else ""),
                       flags=list(run.query.flags) if run.query else [],
                       query_truncated=bool(run.query and run.query.truncated))

    def _finish(self, run: Run, text: str, *, outcome: str, citations: list[Any] | None = None,
                usage: TokenUsage | None = None, cost: float = 0.0) -> Answer:
        obs.REQUESTS.labels(outcome=outcome).inc()
        query = run.query
        return Answer(
            answer=text,
            citations=citations or [],
            no_context=outcome != "generated",
            generator=self.parts.generator.name if outcome in CALLED else "none",
            cache=run.cache_outcomes(),
            usage=usage or TokenUsage(),
            cost_usd=cost,
            timings_ms=run.finish_timings(),
            request_id=run.request_id,
            query_truncated=bool(query and query.truncated),
            flags=list(query.flags) if query else [],
            retrieved=run.retrieved_rows(),
            budget_state=run.budget_state,
            decisions=dict(run.decisions),
            answer_id=run.answer_id,
            question=query.text if query else "",
            no_context_reason=(no_context_reason(run.decisions, refused=outcome == "refused")
                               if outcome != "generated" else ""),
            debug=run.debug(),
        )


def _kept_decisions(cached: Answer) -> dict[str, Any]:
    """What an exact hit still explains: why this question got another question's answer (the
    semantic decision that reused it) or why the notes have nothing (the relevance decision).
    A generated answer's own decisions stay behind."""
    kept: dict[str, Any] = {}
    semantic = cached.decisions.get("semantic")
    if isinstance(semantic, dict) and semantic.get("hit"):
        kept["semantic"] = semantic
    kept.update({k: cached.decisions[k] for k in ("relevance", "filters")
                 if cached.no_context and k in cached.decisions})
    return kept

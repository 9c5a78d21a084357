"""The seven steps, in order:

    1 validate -> 2 query cache (L1 exact) -> 3 embed (L2) -> 4 retrieve (L3), then the
    semantic cache and the no-context decision, both judged on what was retrieved
    -> 5 build context -> 6 generate (budget, breaker, stale fallback) -> 7 post-process

``Pipeline(parts).ask`` answers one question; ``stream`` runs the very same steps and yields
the answer's text as it is generated; ``answer`` is ``ask`` from the event loop. All drive one
sequence of steps (``_steps``), which yields step 2's read for its driver to make, then text
pieces that passed step 7's checks, then the finished ``Answer``. The parts come from the edge
(``rag_core.parts``); the pipeline only answers. Steps 6-7 are ``rag_core.answers.generate``;
the answers made or served from a cache are built by ``rag_core.answers.assemble``.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Awaitable, Callable, Generator
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from rag_core.answer import Answer
from rag_core.answers import drive
from rag_core.answers import log as answer_log
from rag_core.answers.assemble import AnswerMaker
from rag_core.answers.first_steps import first_steps, validated
from rag_core.answers.scope import Scope
from rag_core.answers.work_slot import prepared, refusals_timed, shedding_first
from rag_core.cache.control import NO_CONTROL, CacheControl
from rag_core.errors import RagError
from rag_core.limits.shedding import Shed, Shedder
from rag_core.llm.prompt import build_prompt
from rag_core.parts import Parts
from rag_core.run import Run
from rag_core.store.filters import NO_FILTERS, Filters
from rag_core.telemetry import logs, metrics, steps, tracing
from rag_core.types import Chunk

if TYPE_CHECKING:
    from rag_core.answers.generate import GenerationStep
    from rag_core.cache.layers import CacheLayers
    from rag_core.config import Retrieval
    from rag_core.limits.gate import Counting
    from rag_core.store.base import Store

NO_CONTEXT_ANSWER = "I couldn't find anything about that in your notes."
NO_MATCH_ANSWER = "None of your notes matches the filters of this question."

class Pipeline:
    def __init__(self, parts: Parts) -> None:
        self.parts = parts
        self.params = parts.settings.retrieval
        # step 2's read, from a thread or the event loop (``answers.drive``)
        self.lookup = drive.ExactLookup(self.params, parts.caches.answers, parts.caches.notes,
                                        parts.store.notes_version)
        # the no-context judge (and the semantic cache's, in ``parts.caches``)
        self.judges = parts.judges
        self.scope = Scope(parts.store, self.judges.notes)  # which notes are searched
        self.answers = AnswerMaker(parts)  # an answer made or served from a cache
        self._generation: GenerationStep | None = None  # steps 6-7, built when first needed
        # steps 1-5 take turns for this process's CPUs, fairly among users (limits/slots.py)
        self.slots = parts.limiters.slots
        # the question route's questions that cannot finish within the SLO are refused at once
        self.shedder = Shedder(self.slots.size, free=self.slots.free)

    @property
    def generation(self) -> GenerationStep:
        """Steps 6-7, imported and built on the first question that reaches them: a cold
        process that answers from the cache (``rag-core ask`` on an exact hit) loads neither
        the context packing, the prompt's guards nor the output checks."""
        if self._generation is None:
            from rag_core.answers.generate import GenerationStep  # lazy: not on an exact hit

            self._generation = GenerationStep(self.parts, self.answers)
        return self._generation

    # --- public API ------------------------------------------------------------------------

    def ask(self, user_id: str, question: object, *, top_k: int | None = None,
            request_id: str | None = None, filters: Filters = NO_FILTERS,
            control: CacheControl = NO_CONTROL) -> Answer:
        """The answer; ``control``: the request's own cache controls (``cache.control``)."""
        run = self._new_run(user_id, top_k, request_id, filters, control)
        return drive.last(drive.in_thread(self.lookup,
                                          self._steps(run, question, streaming=False)))

    async def answer(self, user_id: str, question: object, *, top_k: int | None = None,
                     request_id: str | None = None, filters: Filters = NO_FILTERS,
                     control: CacheControl = NO_CONTROL,
                     past_cache: Callable[[], Awaitable[object]] | None = None,
                     counting: Counting | None = None, arrived: float | None = None) -> Answer:
        """``ask`` from the event loop, the same steps driven otherwise: steps 1-2 in the
        caller's task (step 2's read in its one round trip, or in a thread when one trip cannot
        decide it), so that an exact hit never waits for a worker thread; the rest in a thread.
        Past the exact cache a question that cannot start its work within 1 s of its arrival
        is refused as soon as that is predicted (``limits.shedding``: 503 ``OVERLOADED``);
        then ``past_cache`` is awaited, before anything else runs (the route takes the
        question's place in flight there); what it raises ends the request as the steps end any
        refusal. ``counting``: the question's windows, counted in step 2's round trip
        (``drive.on_loop``). ``arrived``: when the request reached the service
        (``time.perf_counter``), whence its deadline counts. A refusal made in the worker
        thread is timed on its way back to the loop (``work_slot.refusals_timed``)."""
        run = self._new_run(user_id, top_k, request_id, filters, control)
        return await refusals_timed(self.shedder, drive.on_loop(
            self.lookup, self._steps(run, question, streaming=False),
            shedding_first(self.shedder, run, past_cache, arrived), counting))

    def stream(self, user_id: str, question: object, *, top_k: int | None = None,
               request_id: str | None = None, filters: Filters = NO_FILTERS,
               control: CacheControl = NO_CONTROL) -> Generator[dict[str, Any], None, None]:
        """Events: ``{"type": "delta", "text": ...}`` while generating, then one
        ``{"type": "answer", **Answer.to_dict()}``. Errors raise before the first event; a
        failure after text was sent ends the stream with ``{"type": "error", ...}``."""
        run = self._new_run(user_id, top_k, request_id, filters, control)
        sent = False
        try:
            for event in drive.in_thread(self.lookup,
                                         self._steps(run, question, streaming=True)):
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
        """Retrieval only (``rag-core search``): validate, narrow, embed, retrieve; no caches."""
        run = self._new_run(user_id, top_k, None, filters)
        run.query = validated(self.parts, run.user_id, query)
        run.version = self.parts.store.notes_version(user_id)
        self.scope.narrow(run)
        run.vector = self.parts.embedder.embed([run.query.text])[0]
        return search_store(self.parts.store, self.params, run)

    # --- the request -----------------------------------------------------------------------

    def _new_run(self, user_id: str, top_k: int | None, request_id: str | None,
                 filters: Filters = NO_FILTERS, control: CacheControl = NO_CONTROL) -> Run:
        rid = request_id or logs.request_id_var.get() or uuid.uuid4().hex
        return Run(request_id=rid, user_id=user_id,
                   top_k=top_k or self.parts.settings.retrieval.top_k,
                   filters=filters, control=control)

    def _steps(self, run: Run, question: object, *, streaming: bool) -> drive.Steps:
        """Steps 1-7 under the root span ``assistant.query``, which is never made current
        across a yield to the consumer or past the cache (a stream resumes in other threads,
        an answer moves to one past the cache): each stretch of work between those makes it
        current (``run.within``) or hangs child spans on it. Step 2's read is yielded to the
        driver (``drive.ExactRead``), inside the stretch of steps 1-2."""
        run.root = tracing.start_span("assistant.query", **{
            "user.id_hash": run.user_hash,
            "query.hash": logs.hash_id(str(question)),
        })
        metrics.CONCURRENT.inc()
        shed = False
        try:
            with run.within():
                answer = yield from first_steps(self.parts, self.answers, run, question)
            if answer is None:
                yield drive.PAST_CACHE
                answer = prepared(self.slots, self.shedder, run, self._prepare)
            if answer is None:
                answer = yield from self.generation.answer(run, streaming)
            elif streaming:
                yield answer.answer
            with run.within():
                answer_log.keep(self.parts, run, answer, origin=run.origin)
            tracing.annotate(run.root, answer)
            yield answer
        except Shed:  # refused before its work, counted as the request limits' refusals
            shed = True
            raise
        except RagError as exc:
            self.answers.ended(run, "error")
            exc.counted = True
            run.root.set_attribute("error.code", exc.code)
            raise
        finally:
            self.shedder.at_work(run.place)  # ended before its slot: no longer ahead
            metrics.CONCURRENT.dec()
            if not shed:
                metrics.REQUEST_DURATION.observe(time.perf_counter() - run.started)
            run.root.end()

    # --- steps 3-5 -------------------------------------------------------------------------

    def _prepare(self, run: Run) -> Answer | None:
        """Steps 3-5. Returns a finished answer (semantic hit, no context) or None."""
        p = self.parts
        assert run.query is not None  # steps 1-2 ran
        with run.step("embed") as current, steps.lookup("embedding") as lookup:
            run.vector, run.cache["embedding"] = p.caches.vectors.vector(
                run.user_id, run.query.text, p.embedder.dim,
                lookup.filling(lambda text: steps.embed(p.embedder, p.counter, text)),
                read=run.control.reads, write=run.control.writes)
            lookup.end(run.cache["embedding"])
            current.set_attribute("cache.embedding", run.cache["embedding"])

        with run.step("retrieve", **steps.retrieval_request(p.store, self.params, run.top_k,
                                                            run.filters)) as current, \
                steps.lookup("context") as lookup:
            self.scope.narrow(run)  # a function of the question and the notes version
            run.chunks, run.cache["context"] = p.caches.chunks.chunks(
                self.params, run.user_id, run.version, run.query.text, run.top_k,
                lookup.filling(lambda: search_store(p.store, self.params, run)), run.filters,
                read=run.control.reads, write=run.control.writes)
            lookup.end(run.cache["context"])
            current.set_attribute("cache.context", run.cache["context"])
            steps.retrieved(current, run.chunks)
        if run.filters and not self.scope.matched(run):  # no LLM, no charge
            return self.answers.no_context(run, NO_MATCH_ANSWER)

        reused = similar_answer(p.caches, run)  # a paraphrase whose evidence is the same
        if reused is not None:
            return self.answers.from_cache(run, reused, "cached")

        with run.step("decide") as current:
            relevant = self.judges.no_context.decide(run.query.text, run.chunks, run.user_id,
                                                     run.version)
            steps.decided(current, "answer" if relevant.answer else "no_context",
                          {"reason": relevant.reason})
        run.decisions.relevance = relevant
        if not relevant.answer:  # "nothing in your notes", without the model
            return self.answers.no_context(run, NO_CONTEXT_ANSWER)

        from rag_core.context import select_context  # lazy: not on an exact hit

        with run.step("build_context") as current:
            run.context = select_context(run.chunks, p.counter,
                                         p.settings.tokens.context_token_budget,
                                         guard=p.sanitiser)
            run.prompt = build_prompt(run.query.text, run.context.chunks,
                                      p.settings.tokens.output_token_budget,
                                      blocks=run.context.blocks)
            current.set_attribute("context.tokens", run.context.tokens)
            current.set_attribute("context.chunks", len(run.context.chunks))
            current.set_attribute("context.token_budget", p.settings.tokens.context_token_budget)
        return None



def search_store(store: Store, params: Retrieval, run: Run) -> list[Chunk]:
    """Step 4's search of the store (on a context-cache miss), timed, its best score seen."""
    assert run.query is not None
    start = time.perf_counter()
    try:
        chunks = store.search(run.user_id, run.vector, run.top_k,
                                    query_text=run.query.text, params=params,
                                    min_version=run.version,
                                    filters=run.filters.narrowed(run.narrowing))
    finally:
        metrics.VECTOR_SEARCH.observe(time.perf_counter() - start)
    if chunks:
        metrics.RELEVANCE.observe(max(c.score for c in chunks))
    return chunks


def similar_answer(caches: CacheLayers, run: Run) -> Answer | None:
    """The semantic cache's step: a cached paraphrase's answer reused under this question
    (kept under its own L1 key, unless ``no_store``), else None; not looked up under the
    request's ``no_cache``, and passed over when older than its ``max_age_s``."""
    assert run.query is not None and run.vector is not None  # steps 1-4 ran
    enabled = caches.answers.semantic_enabled
    run.cache["semantic"] = "miss" if enabled else "off"  # a miss when not looked up
    if not enabled or not run.control.reads:
        return None
    with run.step("semantic_cache") as current, steps.lookup("semantic", True) as lookup:
        similar, run.decisions.semantic = caches.answers.similar(
            run.user_id, run.version, run.query.text, run.vector, run.chunks,
            filters=run.filters)
        if similar is not None and not run.control.fresh(similar, time.time()):
            similar = None  # older than the request's max_age_s
        run.cache["semantic"] = "semantic_hit" if similar is not None else "miss"
        lookup.end(run.cache["semantic"])
        steps.decided(current, "reuse" if similar is not None else "no_reuse",
                      run.decisions.semantic)
    if similar is None:
        return None
    run.cache["query"] = "semantic_hit"
    run.origin = similar  # a new answer id: a verdict on the reuse is its own
    reused = replace(similar, answer_id=run.answer_id, question=run.query.text)
    if run.control.writes:
        caches.answers.put_reused(run.key, reused, run.decisions.semantic,
                                  user_id=run.user_id, notes_version=run.version)
    return reused

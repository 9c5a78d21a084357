"""Two drivers of the pipeline's one sequence of steps (``Pipeline._steps``): in a thread
(``in_thread``: ``ask``, ``stream``, the CLI) and from the event loop (``on_loop``: the
question route), as httpx drives one auth flow sync and async.

The steps do no I/O of their own at step 2: they yield its one read (``ExactRead``) and are
sent the answer found there, or None. ``in_thread`` makes it with ``AnswerLayer.lookup``;
``on_loop`` with ``AnswerLayer.alookup`` in the request's own task (one Redis round trip, no
worker thread), or with ``lookup`` in a thread when one trip cannot decide it; the question's
request limits (its windows: ``limits.gate.Counting``) ride in that same trip, so that a hit
costs admission and the lookup one round trip. Past the exact cache (``PAST_CACHE``) the loop's
driver lets its caller take the question's place in flight, then goes on in a worker thread.
Both keep step 2's result on the run the same way (``_kept``).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Generator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from starlette.concurrency import run_in_threadpool

from rag_core.answer import Answer
from rag_core.types import CacheOutcome

if TYPE_CHECKING:
    from rag_core.cache.answer_layer import AnswerLayer
    from rag_core.cache.version_layer import VersionLayer
    from rag_core.config import Retrieval
    from rag_core.limits.gate import Counting
    from rag_core.run import Run

Event = str | Answer  # a piece of text to send on, or the finished answer (always last)


@dataclass(frozen=True)
class ExactRead:
    """Step 2's one read, made by whoever drives the steps. The steps are sent the answer
    found, or None."""

    run: Run


class PastCache:
    """The question goes past the exact cache: the driver may take its place in flight here,
    or move to a worker thread (no span or context is current across this point)."""


PAST_CACHE: Final = PastCache()
Step = Event | ExactRead | PastCache  # what the steps yield to their driver
Steps = Generator[Step, Answer | None, None]


@dataclass(frozen=True)
class ExactLookup:
    """Step 2's read, made from a thread (``read``) or from the event loop (``aread``), kept on
    the run the same way (``_kept``)."""

    params: Retrieval
    answers: AnswerLayer
    notes: VersionLayer
    notes_version: Callable[[str], int]  # PostgreSQL's truth (the store's)

    def read(self, run: Run) -> Answer | None:
        """The notes version, the question's L1 key and the answer kept there; without reading
        L1 under the request's ``no_cache``, and passing over an answer older than its
        ``max_age_s`` (``cache.control``)."""
        query = run.query
        assert query is not None
        if not run.control.reads:
            run.version = self.notes.current(run.user_id, self.notes_version)
            run.key = self.answers.key(self.params, run.user_id, run.version, query.text,
                                       run.top_k, run.filters)
            run.cache["query"] = "miss"
            return None
        return _kept(run, self.answers.lookup(self.params, run.user_id, query.text, run.top_k,
                                              self.notes_version, run.filters))

    async def aread(self, run: Run, counting: Counting | None = None) -> Answer | None:
        """``read`` from the event loop: in its one round trip when that decides it, else
        ``read`` in a thread. ``counting``: the question's windows, counted in that same trip
        (``limits.gate.Counting``), or alone before the read in a thread; a full one is raised
        before anything is read."""
        assert run.query is not None
        if run.control.reads:
            found = await self.answers.alookup(self.params, run.user_id, run.query.text,
                                               run.top_k, run.filters, counting)
            if found is not None:
                return _kept(run, found)
        if counting is not None:
            counting.count()
        return await run_in_threadpool(self.read, run)


def in_thread(lookup: ExactLookup, steps: Steps) -> Generator[Event, None, None]:
    """The events of ``steps`` driven in this thread: step 2's read made here."""
    reply: Answer | None = None
    try:
        while True:
            try:
                step = steps.send(reply)
            except StopIteration:
                return
            reply = None
            if isinstance(step, ExactRead):
                reply = lookup.read(step.run)
            elif not isinstance(step, PastCache):
                yield step
    finally:
        steps.close()  # a consumer that stopped early ends the request's span too


async def on_loop(lookup: ExactLookup, steps: Steps,
                  past_cache: Callable[[], Awaitable[object]] | None = None,
                  counting: Counting | None = None) -> Answer:
    """The answer of ``steps``: steps 1-2 in the caller's task, the rest in a worker thread.
    ``past_cache`` is awaited when the question goes past the exact cache, before anything
    else runs; what it raises ends the request as the steps end any refusal. ``counting``:
    the question's windows, counted at step 2's read (in its round trip); a question they
    refuse ends there, its steps closed (it did no work: the API counts it as any question
    refused before the pipeline); a question the steps end before that read (invalid, or
    refused by its checks) is counted where its windows have room, keeping its own answer."""
    try:
        reply: Answer | None = None
        while not isinstance(step := steps.send(reply), PastCache):
            if isinstance(step, Answer):
                steps.close()  # the request ends with its answer (its span, its timing)
                if counting is not None:
                    counting.count(refusing=False)
                return step
            reply = (await lookup.aread(step.run, counting) if isinstance(step, ExactRead)
                     else None)
        if counting is not None:
            counting.count()  # counted at the read already: a question takes a place after
        if past_cache is not None:
            await past_cache()
    except BaseException as exc:
        if counting is not None and exc is counting.refusal:
            steps.close()
        elif getattr(steps, "gi_suspended", False):
            steps.throw(exc)  # counted and ended by the steps, then raised again
        elif counting is not None and isinstance(exc, Exception):
            counting.count(refusing=False)  # the steps refused it before their read
        raise
    return await run_in_threadpool(lambda: last(in_thread(lookup, steps)))


def _kept(run: Run, found: tuple[int, str, Answer | None, CacheOutcome]) -> Answer | None:
    """Step 2's read kept on the run: the version, the key, the outcome, and the answer unless
    it is older than the request's ``max_age_s``."""
    run.version, run.key, cached, run.cache["query"] = found
    if cached is not None and not run.control.fresh(cached, time.time()):
        run.cache["query"] = "miss"
        return None
    return cached


def last(events: Generator[Event, None, None]) -> Answer:
    """The finished answer that ends ``events``, which end with it (the request's span too)."""
    try:
        for event in events:
            if isinstance(event, Answer):
                return event
    finally:
        events.close()
    raise AssertionError("the pipeline ended without an answer")  # pragma: no cover

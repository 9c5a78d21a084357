"""The pipeline's steps 6 and 7 for a request that reached the model: the bill (budget),
the call (through the breaker), the stale fallback when the model is unavailable, the output
checks as the text arrives, and the answer cached."""

from __future__ import annotations

import time
from collections.abc import Generator
from dataclasses import replace

from rag_core import observability as obs
from rag_core.answers.assemble import AnswerMaker
from rag_core.config import Settings, fixed
from rag_core.costs.billing import Bill
from rag_core.errors import LLMUnavailable
from rag_core.llm.prompt import is_decline
from rag_core.parts import Parts
from rag_core.postprocess import OutputGuard
from rag_core.run import Run
from rag_core.types import Answer, TokenUsage


class Generation:
    """Step 6 (budget, breaker, stale fallback) and step 7 for one service's parts."""

    def __init__(self, parts: Parts, answers: AnswerMaker) -> None:
        self.parts = parts
        self.answers = answers

    def answer(self, run: Run, streaming: bool) -> Generator[str, None, Answer]:
        """Yields the checked text as it arrives (when ``streaming``), returns the answer.

        Whatever ends the call (an answer, an LLM failure, a client that went away), the bill
        is settled once: the work the model did is paid for, a reservation never outlives the
        call.
        """
        p = self.parts
        assert run.prompt is not None and run.context is not None
        with run.within():
            bill = Bill.open(p.ledger, p.settings.money, p.counter, generator=p.generator.name,
                             user_id=run.user_id, prompt=run.prompt)
        run.budget_state = bill.state
        if bill.state == "tightened":
            run.prompt = replace(run.prompt, max_tokens=max(16, run.prompt.max_tokens // 2))
        guard = OutputGuard(run.context.chunks, fixed.STREAM_HOLDBACK_CHARS,
                            question=run.prompt.question)
        usage: TokenUsage | None = None
        # the model and server are the generator's own settings (a harness swaps generators)
        model, base_url = _model_of(p.generator, p.settings)
        genai = obs.genai_request(p.generator.name, model, base_url, run.prompt.max_tokens)
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
            run.decisions.declined = {"by": p.generator.name, "detail": "the model replied "
                                         "with the decline marker"}
        answer = self.answers.finish(run, done.text,
                                     outcome="declined" if declined else "generated",
                                     citations=done.citations, usage=usage, cost=bill.cost)
        if done.leaked:
            answer.flags.append("output_leak")
        with run.within():
            if run.control.writes:  # not under the request's no_store
                p.caches.put_answer(run.key, answer, user_id=run.user_id, notes_version=run.version,
                                    question=run.query.text if run.query else "",
                                    vector=run.vector, evidence=run.chunks,
                                    filters=run.filters)
        if rest and streaming:
            yield rest
        return answer

    def _stale_or_raise(self, run: Run, failure: LLMUnavailable) -> Answer:
        """The last good answer to this question (marked stale), else the failure itself;
        never under the request's ``no_cache``, nor older than its ``max_age_s``."""
        stale = (self.parts.caches.stale_answer(run.key)
                 if run.key and run.control.reads else None)
        if stale is None or not run.control.fresh(stale, time.time()):
            raise failure
        answer = self.answers.from_cache(run, stale, "stale")
        answer.stale = True
        return answer


def _model_of(generator: object, settings: Settings) -> tuple[str, str | None]:
    """The model a generator asks and its server: those of the first of its wrappers
    (``inner``) that names a model and holds its model-call section (``HFGenerator``), else
    those of ``settings``."""
    while generator is not None:
        model, calls = getattr(generator, "model", None), getattr(generator, "calls", None)
        if isinstance(model, str) and calls is not None:
            return model, calls.llm_base_url
        generator = getattr(generator, "inner", None)
    return settings.generation.llm_model, settings.model_calls.llm_base_url

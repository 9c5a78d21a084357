"""The pipeline's steps 6 and 7 for a request that reached the model: the bill (budget),
the call (through the breaker), the order of fallbacks when the model is unavailable (the second
provider, the stale answer, the degraded answer), the output checks as the text arrives, and the
answer cached."""

from __future__ import annotations

import time
from collections.abc import Generator
from dataclasses import dataclass, replace

from rag_core.answer import Answer
from rag_core.answers import degraded
from rag_core.answers.assemble import AnswerMaker
from rag_core.config import fixed
from rag_core.costs.billing import Bill
from rag_core.decision_records import DeclineRecord
from rag_core.errors import LLMUnavailable
from rag_core.llm import route
from rag_core.llm.base import Prompt
from rag_core.llm.failover import Provider, providers_of
from rag_core.llm.prompt import is_decline
from rag_core.parts import Parts
from rag_core.postprocess import OutputGuard
from rag_core.run import Run
from rag_core.telemetry import metrics
from rag_core.telemetry.chat import Chat, ChatRequest, finish_reason
from rag_core.types import TokenUsage


@dataclass(frozen=True)
class Made:
    """What wrote the text that the output guard holds, and what it cost."""

    generator: str
    model: str
    usage: TokenUsage
    cost: float
    degraded_reason: str = ""  # set: made without a model (``answers.degraded``)
    usage_source: str = "counted"  # whose figures were billed: provider | counted


class GenerationStep:
    """Step 6 (budget, breaker, the order of fallbacks) and step 7 for one service's parts."""

    def __init__(self, parts: Parts, answers: AnswerMaker) -> None:
        self.parts = parts
        self.answers = answers

    def answer(self, run: Run, streaming: bool) -> Generator[str, None, Answer]:
        """Yields the checked text as it arrives (when ``streaming``), returns the answer.

        The order: the cheap model when routing gives it the question (``llm.route``), the
        first provider, the second (``RAG_LLM_FALLBACK_BASE_URL``), the stale
        answer, the degraded answer (``RAG_LLM_FALLBACK``), else the last failure. Whatever
        ends a provider's call (an answer, an LLM failure, a client that went away), its bill
        is settled once: the work the model did is paid for at that provider's prices, a
        reservation never outlives the call. Once text was sent, a failure ends the answer.
        """
        p = self.parts
        assert run.prompt is not None and run.context is not None
        asked = run.prompt
        failures: list[LLMUnavailable] = []
        chain, run.decisions.route = route.choose(
            providers_of(p.generator, p.settings.generation.llm_model,
                         p.settings.model_calls.llm_base_url),
            p.settings.routing, asked.question, run.context.tokens)
        for provider in chain:
            guard = self._guard(run)
            try:
                made = yield from self._call(run, provider, asked, guard, streaming)
            except LLMUnavailable as exc:
                if guard.sent:
                    raise
                failures.append(exc)
                if provider.cheap:  # routing's cheap model failed: the main one is next
                    run.decisions.route = route.fell_back(run.decisions.route)
                continue
            return (yield from self._finish(run, made, guard, streaming))
        stale = self._stale(run)
        if stale is not None:
            if streaming:
                yield stale.answer
            return stale
        failure = degraded.degrading(p.settings.model_calls, failures)
        if failure is None:
            raise failures[-1]
        guard = self._guard(run)
        made = self._degraded(run, asked, guard, failure)
        return (yield from self._finish(run, made, guard, streaming))

    def _guard(self, run: Run) -> OutputGuard:
        assert run.context is not None and run.prompt is not None
        return OutputGuard(run.context.chunks, fixed.STREAM_HOLDBACK_CHARS,
                           question=run.prompt.question)

    def _call(self, run: Run, provider: Provider, asked: Prompt, guard: OutputGuard,
              streaming: bool) -> Generator[str, None, Made]:
        """One provider's call, billed at its prices; its text goes through ``guard`` (and on,
        when ``streaming``). Raises ``LLMUnavailable`` when it failed."""
        p = self.parts
        money = (p.settings.cheap_model.prices(p.settings.money) if provider.cheap
                 else p.settings.money.fallback_prices() if provider.fallback
                 else p.settings.money)
        name = provider.generator.name
        run.prompt = asked
        with run.within():
            bill = Bill.open(p.ledger, money, p.counter, generator=name, user_id=run.user_id,
                             prompt=asked, provider=provider.label)
        run.budget_state = bill.state
        if bill.state == "tightened":
            run.prompt = replace(asked, max_tokens=max(16, asked.max_tokens // 2))
        usage: TokenUsage | None = None
        source = "counted"  # a stream's usage is counted on the text that arrived
        model = provider.model
        capture = p.settings.observability.otel_capture_content
        request = ChatRequest(name, provider.model, provider.base_url, run.prompt.max_tokens,
                              question=run.prompt.question if capture else None)
        generation: object = None  # the model's reply (not streamed)
        with run.child("generate", **{"llm.name": name, "llm.provider": provider.label,
                                      "llm.model": provider.model}) as current:
            chat = Chat(current, request, run.request_id)  # ``chat {model}``, under it
            try:
                if streaming:
                    pieces = provider.generator.stream(run.prompt)
                    try:
                        while True:
                            with run.current(chat.span):  # the LLM call carries the trace
                                piece = next(pieces, None)
                            if piece is None:
                                break
                            chat.chunk()
                            text = guard.feed(piece)
                            if text:
                                yield text
                    finally:
                        getattr(pieces, "close", lambda: None)()
                else:
                    with run.current(chat.span):
                        reply = provider.generator.generate(run.prompt)
                    generation = reply
                    usage, model = reply.usage, reply.model or model
                    source = reply.usage_source
                    guard.feed(reply.text)
            except LLMUnavailable as exc:
                current.set_attribute("error.code", exc.code)
                chat.fail(exc.code)
                with run.within():  # what came is paid; a call that timed out, at its estimate
                    bill.settle(guard.raw, abandoned=exc.abandoned)
                raise
            except BaseException as exc:  # the client went away, or something broke
                chat.fail("cancelled" if isinstance(exc, GeneratorExit) else type(exc).__name__)
                with run.within():
                    bill.settle(guard.raw)
                raise
            with run.within():
                usage = bill.settle(guard.raw, usage, source=source)
            current.set_attribute("tokens.input", usage.input_tokens)
            current.set_attribute("tokens.output", usage.output_tokens)
            chat.finish(usage.input_tokens, usage.output_tokens,
                        finish_reason=finish_reason(usage.output_tokens, run.prompt.max_tokens,
                                                    getattr(generation, "finish_reason", None)),
                        response_model=getattr(generation, "model", None),
                        response_id=getattr(generation, "response_id", None),
                        answer=guard.raw if capture else None)
        return Made(name, model, usage, bill.cost, usage_source=bill.usage_source)

    def _degraded(self, run: Run, asked: Prompt, guard: OutputGuard,
                  failure: LLMUnavailable) -> Made:
        """The extractive answer to the prompt the model would have had: free, unbilled."""
        code, reason = degraded.reason_of(failure)
        run.prompt = asked
        with run.child("generate", **{"llm.name": "extractive", "degraded": code}):
            generation = degraded.extractive_answer(asked)
        guard.feed(generation.text)
        metrics.DEGRADED.labels(reason=code).inc()
        return Made("extractive", generation.model, TokenUsage(), 0.0, reason)

    def _finish(self, run: Run, made: Made, guard: OutputGuard,
                streaming: bool) -> Generator[str, None, Answer]:
        """Step 7's end: the held text checked, the answer made and (a model's) cached."""
        p = self.parts
        with run.step("postprocess") as current:
            done, rest = guard.close()
            current.set_attribute("guard.leaked", bool(done.leaked))
            current.set_attribute("guard.citations", len(done.citations))
        if made.degraded_reason and streaming:  # nothing of it was sent while it was made
            rest = done.text
        declined = is_decline(done.text)  # nothing in your notes
        if declined:
            metrics.NO_CONTEXT.inc()
            run.decisions.declined = DeclineRecord(made.generator, "the model replied with "
                                                   "the decline marker")
        outcome = "declined" if declined else "degraded" if made.degraded_reason else \
            "generated"
        answer = self.answers.finish(run, done.text, outcome=outcome, citations=done.citations,
                                     usage=made.usage, cost=made.cost, generator=made.generator,
                                     model=made.model, usage_source=made.usage_source)
        if done.leaked:
            answer.flags.append("output_leak")
        if made.degraded_reason:  # a model's answer is cached; one made without it never is
            answer.degraded, answer.degraded_reason = True, made.degraded_reason
        elif run.control.writes:  # not under the request's no_store
            with run.within():
                p.caches.answers.put(run.key, answer, user_id=run.user_id,
                                     notes_version=run.version,
                                     question=run.query.text if run.query else "",
                                     vector=run.vector, evidence=run.chunks,
                                     filters=run.filters)
        if rest and streaming:
            yield rest
        return answer

    def _stale(self, run: Run) -> Answer | None:
        """The last good answer to this question (marked stale), if one is kept; never under
        the request's ``no_cache``, nor older than its ``max_age_s``."""
        stale = (self.parts.caches.answers.stale_answer(run.key)
                 if run.key and run.control.reads else None)
        if stale is None or not run.control.fresh(stale, time.time()):
            return None
        answer = self.answers.from_cache(run, stale, "stale")
        answer.stale = True
        return answer

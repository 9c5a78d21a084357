"""The seven steps, in order:

    1 validate -> 2 query cache (L1 exact, then semantic) -> 3 embed (L2) -> 4 retrieve (L3)
    -> 5 build context -> 6 generate (budget, breaker, stale fallback) -> 7 post-process

``Pipeline.ask`` answers one question; ``Pipeline.stream`` does the same and yields the text as
it is generated. Everything the steps need is handed in by ``from_settings`` (or by a test).
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from rag_core import observability as obs
from rag_core.cache import codec
from rag_core.cache.keys import context_key, embedding_key, normalize_query, query_key
from rag_core.cache.layers import CacheLayers
from rag_core.config import Settings
from rag_core.context import context_tokens, select_context
from rag_core.costs import CostLedger, price
from rag_core.embedding import Embedder
from rag_core.errors import LLMUnavailable, RagError
from rag_core.guard import has_substance, validate_query
from rag_core.llm.base import Generation, Generator, Prompt
from rag_core.llm.prompt import build_prompt
from rag_core.postprocess import finish_text
from rag_core.store.base import SearchParams, Store
from rag_core.tokens import TokenCounter, default_counter
from rag_core.types import Answer, CacheOutcome, Chunk, Query, TokenUsage

log = logging.getLogger("rag_core.pipeline")

NO_CONTEXT_ANSWER = "I couldn't find anything about that in your notes."
REFUSAL_ANSWER = (
    "I can only answer questions about your own sermon notes, and I don't share my instructions."
)


@dataclass
class _Run:
    """What one request has gathered so far."""

    request_id: str
    user_id: str
    top_k: int
    started: float = field(default_factory=time.perf_counter)
    timings: dict[str, float] = field(default_factory=dict)
    cache: dict[str, CacheOutcome] = field(default_factory=dict)
    query: Query | None = None
    version: int = 0
    key: str = ""
    vector: np.ndarray | None = None
    chunks: list[Chunk] = field(default_factory=list)
    selected: list[Chunk] = field(default_factory=list)
    prompt: Prompt | None = None
    budget_state: str = "ok"

    @contextmanager
    def step(self, name: str, **attrs: Any) -> Iterator[Any]:
        start = time.perf_counter()
        with obs.span(f"assistant.{name}", **attrs) as current:
            try:
                yield current
            finally:
                seconds = time.perf_counter() - start
                self.timings[name] = round(self.timings.get(name, 0.0) + seconds * 1000, 3)
                obs.STEP_DURATION.labels(step=name).observe(seconds)


class Pipeline:
    def __init__(
        self,
        settings: Settings,
        *,
        store: Store,
        embedder: Embedder,
        caches: CacheLayers,
        generator: Generator,
        ledger: CostLedger,
        counter: TokenCounter | None = None,
        sanitiser: bool = True,
    ) -> None:
        self.settings = settings
        self.store = store
        self.embedder = embedder
        self.caches = caches
        self.generator = generator
        self.ledger = ledger
        self.counter = counter or default_counter()
        self.sanitiser = sanitiser

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: Any) -> Pipeline:
        from rag_core.services import resolve
        from rag_core.wiring import build_parts

        settings = resolve(settings)
        parts = build_parts(settings, start_services=False)
        parts.update(overrides)
        return cls(settings, **parts)

    # --- public API ------------------------------------------------------------------------

    def ask(self, user_id: str, question: object, *, top_k: int | None = None,
            request_id: str | None = None) -> Answer:
        run = self._new_run(user_id, top_k, request_id)
        with self._request(run, question) as ctx:
            done = self._prepare(run, question)
            if done is None:
                done = self._generate(run)
            ctx["answer"] = done
        return ctx["answer"]

    def stream(self, user_id: str, question: object, *, top_k: int | None = None,
               request_id: str | None = None) -> Iterator[dict[str, Any]]:
        """Events: ``{"type": "delta", "text": ...}`` while generating, then one
        ``{"type": "answer", **Answer.to_dict()}``. Errors raise before the first event when
        they can; a failure mid-stream ends with ``{"type": "error", ...}``."""
        run = self._new_run(user_id, top_k, request_id)
        with self._request(run, question, keep_open=True) as ctx:
            done = self._prepare(run, question)
            ctx["answer"] = done
        root = ctx["root"]
        try:
            if done is not None:
                yield {"type": "delta", "text": done.answer}
                yield {"type": "answer", **done.to_dict()}
                return
            yield from self._stream_generate(run, root)
        finally:
            root.end()  # also when the client goes away mid-stream

    def search(self, user_id: str, query: str, top_k: int | None = None) -> list[Chunk]:
        """Retrieval only (``rag-core search``): validate, embed, retrieve."""
        run = self._new_run(user_id, top_k, None)
        run.query = validate_query(user_id, query, self.counter, self.settings,
                                   sanitiser=self.sanitiser)
        run.vector = self._embed(run)
        return self._search_store(run)

    def ready(self) -> dict[str, Any]:
        return {
            "postgres": self.store.ping(),
            "redis": self.caches.ping(),
            "model_loaded": self.embedder.loaded,
            "breaker": getattr(self.generator, "state", "closed"),
        }

    def close(self) -> None:
        self.store.close()

    # --- steps 1-5 -------------------------------------------------------------------------

    def _new_run(self, user_id: str, top_k: int | None, request_id: str | None) -> _Run:
        rid = request_id or obs.request_id_var.get() or uuid.uuid4().hex
        return _Run(request_id=rid, user_id=user_id, top_k=top_k or self.settings.top_k)

    @contextmanager
    def _request(self, run: _Run, question: object,
                 keep_open: bool = False) -> Iterator[dict[str, Any]]:
        """The root span ``assistant.query`` around steps 1-5 (and 6-7 for ``ask``).

        With ``keep_open`` the span outlives the block when it succeeds (``ctx["root"]``): a
        stream ends it after its last event.
        """
        ctx: dict[str, Any] = {}
        token = obs.request_id_var.set(run.request_id)
        try:
            with obs.span("assistant.query", end_on_exit=not keep_open, **{
                "user.id_hash": obs.hash_id(run.user_id),
                "query.hash": obs.hash_id(str(question)),
            }) as root, obs.REQUEST_DURATION.time():
                ctx["root"] = root
                try:
                    yield ctx
                except RagError as exc:
                    obs.ERRORS.labels(type=exc.code).inc()
                    obs.REQUESTS.labels(outcome="error").inc()
                    root.set_attribute("error.code", exc.code)
                    if keep_open:
                        root.end()
                    raise
                except BaseException:
                    if keep_open:
                        root.end()
                    raise
                answer: Answer | None = ctx.get("answer")
                if answer is not None:
                    self._annotate(root, answer)
        finally:
            obs.request_id_var.reset(token)

    def _prepare(self, run: _Run, question: object) -> Answer | None:
        """Steps 1-5. Returns a finished answer (cache hit, refusal, no context) or None."""
        with run.step("validate"):
            run.query = validate_query(run.user_id, question, self.counter, self.settings,
                                       sanitiser=self.sanitiser)
            if run.query.truncated:
                obs.TRUNCATIONS.inc()
            for flag in run.query.flags:
                obs.SANITISER_FLAGS.labels(family=flag).inc()
        if not has_substance(run.query.text):
            return self._finish(run, REFUSAL_ANSWER, no_context=True, outcome="refused")

        with run.step("query_cache"):
            run.version = self.store.notes_version(run.user_id)
            norm = normalize_query(run.query.text)
            run.key = query_key(self.settings, run.user_id, run.version, norm, run.top_k)
            cached = self.caches.query.get(run.key)
            run.cache["query"] = self._outcome(self.caches.query, cached)
        if cached is not None:
            return self._from_cache(run, cached, "hit")

        run.vector = self._embed(run)

        if self.caches.semantic_enabled:
            with run.step("semantic_cache"):
                found = self.caches.semantic.lookup(run.user_id, run.version, run.query.text,
                                                    run.vector)
                run.cache["semantic"] = "semantic_hit" if found else "miss"
            if found is not None:
                run.cache["query"] = "semantic_hit"
                return self._from_cache(run, found[0], "semantic_hit")
        else:
            run.cache["semantic"] = "off"

        run.chunks = self._retrieve(run)
        # The dense similarity of the best candidate decides, in every mode: a fused or lexical
        # rank 1 need not be the chunk closest to the question.
        best = max((c.score for c in run.chunks), default=0.0)
        if not run.chunks or best < self.settings.similarity_threshold:
            obs.NO_CONTEXT.inc()
            return self._finish(run, NO_CONTEXT_ANSWER, no_context=True, outcome="no_context")

        with run.step("build_context") as current:
            run.selected = select_context(run.chunks, self.counter,
                                          self.settings.context_token_budget)
            run.prompt = build_prompt(run.query.text, run.selected,
                                      self.settings.output_token_budget)
            current.set_attribute("context.tokens", context_tokens(run.selected, self.counter))
            current.set_attribute("context.chunks", len(run.selected))
        return None

    def _embed(self, run: _Run) -> np.ndarray:
        assert run.query is not None
        with run.step("embed") as current:
            key = embedding_key(self.settings, normalize_query(run.query.text))
            raw = self.caches.embedding.get(key)
            run.cache["embedding"] = self._outcome(self.caches.embedding, raw)
            current.set_attribute("cache.embedding", run.cache["embedding"])
            if raw is not None:
                return codec.unpack_vector(raw, self.embedder.dim)
            vector = self.embedder.embed([run.query.text])[0]
            self.caches.embedding.set(key, codec.pack_vector(vector),
                                      self.settings.embedding_cache_ttl_s)
            return vector

    def _retrieve(self, run: _Run) -> list[Chunk]:
        assert run.query is not None
        with run.step("retrieve") as current:
            key = context_key(self.settings, run.user_id, run.version,
                              normalize_query(run.query.text), run.top_k)
            raw = self.caches.context.get(key)
            run.cache["context"] = self._outcome(self.caches.context, raw)
            current.set_attribute("cache.context", run.cache["context"])
            if raw is not None:
                return [Chunk(**c) for c in codec.unpack(raw)]
            chunks = self._search_store(run)
            self.caches.context.set(key, codec.pack([c.__dict__ for c in chunks]),
                                    self.settings.context_cache_ttl_s)
            if chunks:
                obs.RELEVANCE.observe(chunks[0].score)
            return chunks

    def _search_store(self, run: _Run) -> list[Chunk]:
        assert run.query is not None
        start = time.perf_counter()
        try:
            return self.store.search(run.user_id, run.vector, run.top_k,
                                     query_text=run.query.text,
                                     params=SearchParams.from_settings(self.settings))
        finally:
            obs.VECTOR_SEARCH.observe(time.perf_counter() - start)

    # --- steps 6-7 -------------------------------------------------------------------------

    def _reserve(self, run: _Run) -> Any:
        assert run.prompt is not None
        prompt_tokens = sum(self.counter.count(m["content"]) for m in run.prompt.messages)
        estimate = self._price(TokenUsage(prompt_tokens, run.prompt.max_tokens))
        reservation = self.ledger.reserve(run.user_id, estimate)
        run.budget_state = reservation.state
        if reservation.state == "tightened":
            run.prompt = replace(run.prompt, max_tokens=max(16, run.prompt.max_tokens // 2))
        return reservation

    def _generate(self, run: _Run) -> Answer:
        assert run.prompt is not None
        reservation = self._reserve(run)
        try:
            with run.step("generate", **{"llm.name": self.generator.name}) as current:
                generation = self.generator.generate(run.prompt)
                current.set_attribute("tokens.input", generation.usage.input_tokens)
                current.set_attribute("tokens.output", generation.usage.output_tokens)
        except LLMUnavailable:
            self.ledger.release(reservation)
            return self._stale_or_raise(run)
        except BaseException:
            self.ledger.release(reservation)
            raise
        return self._complete(run, generation, reservation)

    def _stream_generate(self, run: _Run, root: Any) -> Iterator[dict[str, Any]]:
        assert run.prompt is not None
        reservation = self._reserve(run)
        pieces: list[str] = []
        start = time.perf_counter()
        generate = obs.child_span("assistant.generate", root, **{"llm.name": self.generator.name})
        try:
            for piece in self.generator.stream(run.prompt):
                pieces.append(piece)
                yield {"type": "delta", "text": piece}
        except LLMUnavailable as exc:
            generate.set_attribute("error.code", exc.code)
            generate.end()
            self.ledger.release(reservation)
            if not pieces:
                try:
                    stale = self._stale_or_raise(run)
                except LLMUnavailable:
                    yield {"type": "error", **exc.to_dict(run.request_id)["error"],
                           "retry_after": exc.retry_after}
                    return
                yield {"type": "delta", "text": stale.answer}
                yield {"type": "answer", **stale.to_dict()}
                return
            yield {"type": "error", **exc.to_dict(run.request_id)["error"]}
            return
        except BaseException:  # the client went away, or the generator broke
            generate.end()
            self.ledger.release(reservation)
            raise
        seconds = time.perf_counter() - start
        run.timings["generate"] = round(seconds * 1000, 3)
        obs.STEP_DURATION.labels(step="generate").observe(seconds)
        text = "".join(pieces)
        usage = TokenUsage(
            sum(self.counter.count(m["content"]) for m in run.prompt.messages),
            self.counter.count(text),
        )
        generate.set_attribute("tokens.input", usage.input_tokens)
        generate.set_attribute("tokens.output", usage.output_tokens)
        generate.end()
        generation = Generation(text=text, usage=usage, model=self.generator.name)
        answer = self._complete(run, generation, reservation)
        self._annotate(root, answer)
        yield {"type": "answer", **answer.to_dict()}

    def _complete(self, run: _Run, generation: Generation, reservation: Any) -> Answer:
        with run.step("postprocess"):
            text, citations = finish_text(generation.text, run.selected)
            cost = self._price(generation.usage)
            self.ledger.commit(reservation, cost, generation.usage)
            obs.COST.inc(cost)
            obs.TOKENS.labels(kind="input").inc(generation.usage.input_tokens)
            obs.TOKENS.labels(kind="output").inc(generation.usage.output_tokens)
        answer = self._finish(run, text, no_context=False, outcome="generated",
                              citations=citations, usage=generation.usage, cost=cost)
        payload = codec.pack(answer.to_dict())
        self.caches.query.set(run.key, payload, self.settings.query_cache_ttl_s)
        self.caches.stale.put(run.key, payload)
        if self.caches.semantic_enabled and run.vector is not None and run.query:
            self.caches.semantic.store(run.user_id, run.version, run.query.text, run.vector,
                                       payload, self.settings.query_cache_ttl_s)
        return answer

    def _stale_or_raise(self, run: _Run) -> Answer:
        raw = self.caches.stale.get(run.key) if run.key else None
        if raw is None:
            retry = getattr(self.generator, "retry_after", None)
            raise LLMUnavailable(retry_after=retry() if callable(retry) else None)
        answer = self._from_cache(run, raw, None)
        answer.stale = True
        return answer

    # --- helpers ---------------------------------------------------------------------------

    def _price(self, usage: TokenUsage) -> float:
        if self.generator.name == "extractive":
            return 0.0  # no model was paid for
        return price(usage, self.settings)

    def _outcome(self, cache: Any, value: bytes | None) -> CacheOutcome:
        if getattr(cache, "disabled", False):
            return "off"
        return "hit" if value is not None else "miss"

    def _from_cache(self, run: _Run, raw: bytes, outcome: str | None) -> Answer:
        cached = Answer.from_dict(codec.unpack(raw))
        run.timings["total"] = round((time.perf_counter() - run.started) * 1000, 3)
        cached.request_id = run.request_id
        cached.timings_ms = dict(run.timings)
        cached.cache = {**{k: "off" for k in ("query", "embedding", "context")}, **run.cache}
        cached.usage = TokenUsage()
        cached.cost_usd = 0.0
        if run.query:
            cached.flags = list(run.query.flags)
            cached.query_truncated = run.query.truncated
        obs.REQUESTS.labels(outcome="cached" if outcome else "stale").inc()
        return cached

    def _finish(self, run: _Run, text: str, *, no_context: bool, outcome: str,
                citations: list[Any] | None = None, usage: TokenUsage | None = None,
                cost: float = 0.0) -> Answer:
        run.timings["total"] = round((time.perf_counter() - run.started) * 1000, 3)
        obs.REQUESTS.labels(outcome=outcome).inc()
        query = run.query
        return Answer(
            answer=text,
            citations=citations or [],
            no_context=no_context,
            generator=self.generator.name if outcome == "generated" else "none",
            cache={**{k: "off" for k in ("query", "embedding", "context")}, **run.cache},
            usage=usage or TokenUsage(),
            cost_usd=cost,
            timings_ms=dict(run.timings),
            request_id=run.request_id,
            query_truncated=bool(query and query.truncated),
            flags=list(query.flags) if query else [],
            retrieved=[_retrieved(c) for c in run.chunks],
            budget_state=run.budget_state,
        )

    def _annotate(self, root: Any, answer: Answer) -> None:
        root.set_attribute("tokens.input", answer.usage.input_tokens)
        root.set_attribute("tokens.output", answer.usage.output_tokens)
        root.set_attribute("cost.usd", answer.cost_usd)
        root.set_attribute("no_context", answer.no_context)
        for layer, outcome in answer.cache.items():
            root.set_attribute(f"cache.{layer}", outcome)


def _retrieved(chunk: Chunk) -> dict[str, Any]:
    return {
        "chunk_id": chunk.chunk_id,
        "note_id": chunk.note_id,
        "title": chunk.title,
        "score": round(chunk.score, 4),
        "dense_rank": chunk.dense_rank,
        "lexical_rank": chunk.lexical_rank,
        "fused_score": chunk.fused_score,
    }

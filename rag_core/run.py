"""What one request has gathered so far, and how its steps are timed and traced."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from rag_core.answer import Answer
from rag_core.cache.control import NO_CONTROL, CacheControl
from rag_core.decision_records import Decisions
from rag_core.llm.base import Prompt
from rag_core.store.filters import NO_FILTERS, NO_NARROWING, Filters, Narrowing
from rag_core.telemetry import logs, metrics, tracing
from rag_core.types import AnswerDebug, CacheOutcome, Chunk, Query, RetrievedRow

if TYPE_CHECKING:  # the packing of the context (and the prompt's guards) only when it is built
    import numpy as np

    from rag_core.context import Context
    from rag_core.limits.shedding import Pass

LAYERS = ("query", "embedding", "context")


def _no_pause() -> None:
    """Between steps outside a work slot: nothing to give way to."""


NO_PAUSE = _no_pause


@dataclass
class Run:
    request_id: str
    user_id: str
    top_k: int
    filters: Filters = NO_FILTERS  # which notes may be searched (the caller's)
    narrowing: Narrowing = NO_NARROWING  # and the question's (``answers.scope``)
    started: float = field(default_factory=time.perf_counter)
    root: Any = None  # the request's root span (``assistant.query``)
    timings: dict[str, float] = field(default_factory=dict)
    cache: dict[str, CacheOutcome] = field(default_factory=dict)
    query: Query | None = None
    version: int = 0
    key: str = ""
    vector: np.ndarray | None = None
    chunks: list[Chunk] = field(default_factory=list)
    context: Context | None = None
    prompt: Prompt | None = None
    budget_state: str = "ok"
    decisions: Decisions = field(default_factory=Decisions)  # why: semantic, relevance ...
    # the id of an answer this request makes (``rag_core.answers.log``), and the cached answer
    # a semantic hit reused
    answer_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    origin: Answer | None = None
    control: CacheControl = NO_CONTROL  # the request's own cache controls
    # called before each step: while steps 3-5 hold a work slot, its ``SlotTurn.pass_on``
    between_steps: Callable[[], None] = NO_PAUSE
    # the question route's pass past the cache (``limits.shedding``): None, no deadline
    place: Pass | None = None
    user_hash: str = field(init=False, repr=False)  # as spans and log lines name the user
    _within: int = field(default=0, init=False, repr=False)  # ``within`` blocks entered

    def __post_init__(self) -> None:
        self.user_hash = logs.hash_id(self.user_id)

    @contextmanager
    def within(self) -> Iterator[None]:
        """The request id and the root span are current for this block (which must not
        yield: a stream resumes in other threads, where the context would not be ours)."""
        token = logs.request_id_var.set(self.request_id)
        user = logs.user_hash_var.set(self.user_hash)
        self._within += 1
        try:
            with tracing.use_span(self.root):
                yield
        finally:
            self._within -= 1
            logs.user_hash_var.reset(user)
            logs.request_id_var.reset(token)

    @contextmanager
    def step(self, name: str, **attrs: Any) -> Iterator[Any]:
        """A timed step with its span ``assistant.<name>`` under the root (no yields inside).
        Inside a ``within`` block (steps are never nested) the root is current already."""
        self.between_steps()
        with self.within() if not self._within else nullcontext(), self._timed(name), \
                tracing.span(f"assistant.{name}", **attrs) as current:
            yield current

    @contextmanager
    def current(self, span: Any) -> Iterator[None]:
        """``within``, with ``span`` (a child) current: an outgoing call inside carries it."""
        with self.within(), tracing.use_span(span):
            yield

    @contextmanager
    def child(self, name: str, **attrs: Any) -> Iterator[Any]:
        """A timed step whose block may yield: its span hangs on the root without ever
        becoming current."""
        current = tracing.child_span(f"assistant.{name}", self.root, request_id=self.request_id,
                                     **attrs)
        try:
            with self._timed(name):
                yield current
        finally:
            current.end()

    @contextmanager
    def _timed(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            seconds = time.perf_counter() - start
            self.timings[name] = round(self.timings.get(name, 0.0) + seconds * 1000, 3)
            metrics.STEP_DURATION.labels(step=name).observe(seconds)

    def finish_timings(self) -> dict[str, float]:
        self.timings["total"] = round((time.perf_counter() - self.started) * 1000, 3)
        return dict(self.timings)

    def cache_outcomes(self) -> dict[str, CacheOutcome]:
        return {**{layer: "off" for layer in LAYERS}, **self.cache}

    def retrieved_rows(self) -> list[RetrievedRow]:
        """The retrieved chunks as an answer lists them (``Answer.retrieved``)."""
        return [RetrievedRow(c.chunk_id, c.note_id, c.title, round(c.score, 4), c.dense_rank,
                             c.lexical_rank, c.fused_score) for c in self.chunks]

    def debug(self) -> AnswerDebug:
        """What this request retrieved and, when the model was called, the context it was
        sent."""
        texts = {c.chunk_id: c.text for c in self.chunks}
        if self.context is None:
            return AnswerDebug(retrieved_texts=texts)
        return AnswerDebug(retrieved_texts=texts,
                           packed_chunk_ids=tuple(c.chunk_id for c in self.context.chunks),
                           packed_texts=tuple(c.text for c in self.context.chunks),
                           context_tokens=int(self.context.tokens), context_sent=True)

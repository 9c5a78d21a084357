"""The spans inside the pipeline's ``assistant.<step>`` spans: each cache layer's lookup
(``cache.lookup {layer}``), the embedding (``embeddings {model}``) and the model call
(``chat {model}``, kind CLIENT), with the GenAI conventions' attributes and metrics.

A lookup's span covers the lookup only: a layer that misses and computes what it lacks (the
embedding, the store's search) ends its lookup span as a miss when the computing starts, and
the computing gets spans of its own beside it.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

from rag_core.telemetry import genai_metrics, tracing
from rag_core.telemetry import semconv as sc

T = TypeVar("T")
EMBEDDING_PROVIDER = "rag_core"  # the embedding model runs in this process
_CODE = re.compile(r"[a-z][a-z0-9_]{0,39}")


class Lookup:
    """The span of one cache layer's lookup, under the current span; ended once, with the
    outcome the answer's ``cache`` block shows (``hit``, ``miss``, ``semantic_hit``, ``off``)."""

    def __init__(self, layer: str) -> None:
        self.span = tracing.start_span(f"cache.lookup {layer}", None, **{"cache.layer": layer})
        self.layer = layer
        self._open = True

    def end(self, outcome: str) -> None:
        if self._open:
            self._open = False
            self.span.set_attribute("cache.outcome", outcome)
            self.span.set_attribute("cache.hit", outcome in ("hit", "semantic_hit"))
            self.span.end()

    def filling(self, compute: Callable[..., T]) -> Callable[..., T]:
        """``compute`` (what the layer calls on a miss), ending this lookup as a miss first."""

        def fill(*args: Any) -> T:
            self.end("miss")
            return compute(*args)

        return fill


@contextmanager
def lookup(layer: str, current: bool = False) -> Iterator[Lookup]:
    """A lookup's span for the block; one that the block did not end ends as ``error``.
    ``current``: the span is the current one inside the block (the layer then writes what it
    knows on it: the semantic cache's nearest similarity and its decision's reason)."""
    found = Lookup(layer)
    try:
        if current:
            with tracing.use_span(found.span):
                yield found
        else:
            yield found
    finally:
        found.end("error")


def retrieval_request(store: object, params: Any, top_k: int, filters: Any) -> dict[str, Any]:
    """What a retrieval asks: the store, the mode, whether filters narrow it, how many rows."""
    return {"rag.retrieval.store": type(store).__name__,
            "rag.retrieval.mode": str(getattr(params, "retrieval_mode", "")),
            "rag.retrieval.filtered": bool(filters), "rag.retrieval.top_k": top_k,
            "openinference.span.kind": "RETRIEVER"}


def retrieved(span: Any, chunks: Sequence[Any]) -> None:
    """What it read: the rows and the best score, rounded as the answer's ``retrieved`` is."""
    span.set_attribute("rag.retrieval.rows", len(chunks))
    if chunks:
        span.set_attribute("rag.retrieval.best_score", round(max(c.score for c in chunks), 4))


def decided(span: Any, outcome: str, decision: object) -> None:
    """A decision's outcome and its reason: the refusing rule's code (never free text, which
    may quote the question). ``decision``: its record, a mapping or an object with ``code`` /
    ``reason``."""

    def part(name: str) -> object:
        if isinstance(decision, Mapping):
            return decision.get(name)
        return getattr(decision, name, None)

    reason = str(part("code") or part("reason") or "")
    span.set_attribute("rag.decision.outcome", outcome)
    span.set_attribute("rag.decision.reason", reason if _CODE.fullmatch(reason) else "other")


def embed(embedder: Any, counter: Any, text: str) -> Any:
    """One question's vector, inside ``embeddings {model}`` and timed in the conventions'
    metrics. The model runs in this process: kind INTERNAL, as the conventions allow for a
    model in the caller's process. Its input tokens are counted with the service's counter."""
    model = str(getattr(embedder, "model_id", None) or type(embedder).__name__)
    op = genai_metrics.Operation("embeddings", EMBEDDING_PROVIDER, model)
    input_tokens = int(counter.count(text))
    start = time.perf_counter()
    error: str | None = None
    attributes: dict[str, Any] = {**op.attributes(), sc.INPUT_TOKENS: input_tokens,
                                  "openinference.span.kind": "EMBEDDING"}
    with tracing.span(f"embeddings {model}", **attributes):
        try:
            return embedder.embed([text])[0]
        except BaseException as exc:
            error = type(exc).__name__
            raise
        finally:
            genai_metrics.record(op, time.perf_counter() - start, input_tokens,
                                 error_type=error)

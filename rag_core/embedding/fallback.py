"""The embedding runtime with a way out: when the configured runtime cannot load (its package
fails to import, as on a host its wheel does not support; its graph cannot be compiled) or fails
to embed, the next one that works takes over, in the order OpenVINO, ONNX Runtime, PyTorch
(``base.RUNTIMES``), for the rest of the process.

Each fall is logged once and counted (``embedding_runtime_fallbacks_total{from,to}``); the
runtime in use is what ``backend`` says (``/readyz`` shows it to operators) and what
``base.vector_numerics`` reads, so the keys of the embedding cache, the context cache and the
answers follow the vectors actually computed, never the configured runtime's. PyTorch and ONNX
Runtime compute in f32; OpenVINO's bf16 vectors are within ~3e-5 in cosine of them (the harness'
gate, ``evals/retrieval/embed_quality.py``), so notes embedded by one are searched by another.
Only when no runtime works does a call fail (``EMBEDDING_FAILED``, as before).

The service and ``ingest`` build this (``parts.build_embedder``); the harness compares runtimes
with ``embedding.build_embedder``, which never falls back.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from rag_core.config import Settings
from rag_core.embedding import build_embedder
from rag_core.embedding.base import RUNTIMES, Embedder, replace_runtime
from rag_core.errors import EmbeddingFailed
from rag_core.telemetry import logs, metrics

if TYPE_CHECKING:
    import numpy as np

log = logging.getLogger("rag_core.embedding")


class FallbackEmbedder:
    """``make(name)`` builds the embedder of runtime ``name`` (without loading it); the chain
    starts at ``configured`` and goes on down ``RUNTIMES``."""

    def __init__(self, configured: str, make: Callable[[str], Embedder], model_id: str,
                 dim: int) -> None:
        self.configured = configured
        self.model_id = model_id
        self.dim = dim
        start = RUNTIMES.index(configured) if configured in RUNTIMES else 0
        self._names = [configured, *[r for r in RUNTIMES[start:] if r != configured]]
        self._make = make
        self._at = 0
        self._current: Embedder = make(configured)
        self._lock = threading.Lock()

    @classmethod
    def of(cls, settings: Settings) -> FallbackEmbedder:
        """The configured runtime of ``settings``, falling back along ``RUNTIMES``: what the
        service and ``ingest`` embed with."""
        section = settings.embedding
        return cls(section.embedding_backend, lambda name: build_embedder(settings, name),
                   section.embedding_model, section.embedding_dim)

    @property
    def backend(self) -> str:
        """The runtime in use."""
        return self._names[self._at]

    @property
    def in_use(self) -> Embedder:
        """The embedder of the runtime in use (what names its vectors in a memo)."""
        return self._current

    @property
    def loaded(self) -> bool:
        return self._current.loaded

    def identity(self) -> str:
        identity: Callable[[], str] | None = getattr(self._current, "identity", None)
        return identity() if identity is not None else repr((self.backend, self.model_id))

    def load(self) -> None:
        self._through(lambda embedder: embedder.load())

    def embed(self, texts: Sequence[str], *, progress: bool = False) -> np.ndarray:
        result: np.ndarray = self._through(lambda e: e.embed(texts, progress=progress))
        return result

    def _through(self, call: Callable[[Embedder], Any]) -> Any:
        """``call`` on the runtime in use; when it fails, on the next, and so on."""
        while True:
            current, at = self._current, self._at
            try:
                return call(current)
            except Exception as exc:  # noqa: BLE001 (any failure of a runtime: try the next)
                if not self._fall(at, exc):
                    if isinstance(exc, EmbeddingFailed):
                        raise
                    raise EmbeddingFailed(f"embedding failed: {exc}") from exc

    def _fall(self, at: int, error: Exception) -> bool:
        """Move past runtime number ``at`` (unless another thread already did); False when no
        runtime is left."""
        with self._lock:
            if self._at != at:
                return True  # another call moved on already: try the one in use now
            if at + 1 >= len(self._names):
                return False
            before, after = self._names[at], self._names[at + 1]
            self._at, self._current = at + 1, self._make(after)
            replace_runtime(self.configured, after)
        metrics.EMBEDDING_FALLBACKS.labels(before, after).inc()
        logs.log_event(log, logging.WARNING, f"embedding runtime {before} failed; {after} "
                       "computes the vectors from now on", runtime=before, fallback=after,
                       error=f"{type(error).__name__}: {error}"[:300])
        return True


__all__ = ["FallbackEmbedder"]

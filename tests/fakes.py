"""Test doubles at the edge (imported by name: tests/ has no packages).

``ManualClock`` is the clock of tests about time (timeouts, TTLs, outages): they move it.

``HashEmbedder`` stands in for the embedding model where a test is about the pipeline's logic,
not about what a model does: words hashed into a fixed number of dimensions, unit-normalised,
so that texts that share words are close and the same text always gives the same vector. It
runs the same Embedder contract as the real model (tests/contracts).
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Sequence

import numpy as np

_WORD = re.compile(r"[^\W_]+")


class HashEmbedder:
    model_id = "test/hash-embedder"

    def __init__(self, dim: int = 384) -> None:
        self.dim = dim
        self.calls = 0  # how many times embed ran (cache tests count model calls)

    @property
    def loaded(self) -> bool:
        return True

    def load(self) -> None:
        return None

    def embed(self, texts: Sequence[str], *, progress: bool = False) -> np.ndarray:
        self.calls += 1
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in _WORD.findall(text.casefold()):
                digest = hashlib.blake2b(word.encode(), digest_size=8).digest()
                out[row, int.from_bytes(digest[:4], "little") % self.dim] += 1.0
            norm = float(np.linalg.norm(out[row]))
            out[row] = out[row] / norm if norm else 1.0 / np.sqrt(self.dim)
        return out


class ManualClock:
    """A clock (seconds) that moves only when a test moves it: pass it as ``clock=`` where a
    module takes one, instead of sleeping until a timeout or a TTL is over. It starts at the
    wall clock's epoch seconds by default, so that stamps it makes look like real ones."""

    def __init__(self, now: float | None = None) -> None:
        self.now = time.time() if now is None else float(now)

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds

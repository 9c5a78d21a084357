"""Words that mean nearly the same, for the semantic cache's coverage rule
(``evals.decisions.coverage_rules``).

``WordMatcher`` embeds single words with the service's own embedder and finds, for each word of
one text that another lacks, the closest word that it contains (cosine of the two word
vectors).

Word vectors are memoised per process (``MAX_WORDS``, least recently used out): the words of a
user's notes repeat from one question to the next, so a warm process embeds only the words it
has not seen. The matcher runs only when the lexical coverage has already failed.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from rag_core.embedding import Embedder

Vectors = npt.NDArray[np.float32]
MAX_WORDS = 50_000  # about 75 MB of 384-dim float32 vectors at most


class WordMatcher:
    def __init__(self, embedder: Embedder, max_words: int = MAX_WORDS) -> None:
        self.embedder = embedder
        self.max_words = max_words
        self._vectors: OrderedDict[str, Vectors] = OrderedDict()
        self._lock = threading.Lock()

    def vectors(self, words: Sequence[str]) -> Vectors:
        """One unit vector per word (rows in the order given). One lock around it all: a
        thread that embeds words makes the others wait rather than embed them twice."""
        with self._lock:
            new = [w for w in dict.fromkeys(words) if w not in self._vectors]
            if new:
                fresh = np.asarray(self.embedder.embed(new), dtype=np.float32)
                norms = np.linalg.norm(fresh, axis=1, keepdims=True)
                fresh = (fresh / np.where(norms > 0, norms, 1.0)).astype(np.float32)
                self._vectors.update(zip(new, fresh, strict=True))
            rows = []
            for word in words:
                self._vectors.move_to_end(word)
                rows.append(self._vectors[word])
            while len(self._vectors) > max(self.max_words, len(words)):
                self._vectors.popitem(last=False)
        return np.stack(rows) if rows else np.zeros((0, self.embedder.dim), np.float32)

    def closest(self, words: Sequence[str], candidates: Sequence[str]
                ) -> dict[str, tuple[float, str]]:
        """For each of ``words``: (cosine, the closest of ``candidates``); {} without
        candidates."""
        if not words or not candidates:
            return {}
        sims = self.vectors(words) @ self.vectors(candidates).T
        best = sims.argmax(axis=1)
        return {w: (float(sims[i, best[i]]), candidates[int(best[i])])
                for i, w in enumerate(words)}

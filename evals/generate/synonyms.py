"""The ``synonym`` form: a keyword question with one of its words replaced by another word of
the same note that means the same there.

No word list decides what means the same: the project's embedder does. A word of the note is a
candidate to replace a question word unless

- it is of the same family (the same Porter stem, as ROUGE stems, or a shared run of letters as
  long as the shorter stem, four at most; a possessive ``'s`` aside): another form of the word
  says the same by definition, and an ending or a prefix changed (mother's, father's; forgiven,
  unforgiving) says another thing;
- one sentence of the note uses both words: words said together name two things (a contrast,
  a list: older and younger, Friday and Saturday), not one;
- the note writes it capitalised inside a sentence (a name: another person, day or place);
- more than half of the library's notes hold it (a word every note uses means little alone);
- either word names a number (four, forty, a dozen: a figure is a fact, and another figure is
  another fact), which the embedder tells too: such a word is as close to a number written in
  digits as a synonym is to its word.

The candidate whose embedding (the word alone) is closest to the question word's wins when its
cosine reaches :data:`THRESHOLD`. Both words and their cosine are recorded in ``made_by``.

The embedder is a function (texts -> unit vectors, ``rag_core.embedding.Embedder.embed``):
``generate`` builds the project's own, a test may pass another.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache

import numpy as np

from evals.datasets.arrays import Vectors
from evals.generate.facts import SENTENCE_END, Library, words

Embed = Callable[[Sequence[str]], Vectors]
# the cosine (all-MiniLM-L6-v2, one word alone) from which two words of a note count as meaning
# the same; read off golden/notes' swaps (docs/evaluate-your-data.md): below it, a word's nearest
# neighbour in its note is mostly a related word of the subject (seed, planted), not a synonym
THRESHOLD = 0.7
_CAPITALISED = re.compile(r"(?<=[a-z,;:] )[A-Z][a-z'-]+")


@cache
def _stemmer() -> Callable[[str], str]:
    from nltk.stem.porter import PorterStemmer  # installed with rouge-score (ROUGE's stemmer)

    return PorterStemmer().stem


def _bare(word: str) -> str:
    return word.casefold().removesuffix("'s").removesuffix("'")


def _common(a: str, b: str) -> int:
    """The length of the longest run of letters ``a`` and ``b`` share."""
    best = 0
    for i in range(len(a)):
        for j in range(i + best + 1, len(a) + 1):
            if a[i:j] not in b:
                break
            best = j - i
    return best


def same_family(one: str, other: str) -> bool:
    """Two forms of one word: the same Porter stem, or a shared run of letters as long as the
    shorter stem, four at most (eaten, eating; forgiven, unforgiving; mother, father)."""
    a, b = _bare(one), _bare(other)
    stem_a, stem_b = _stemmer()(a), _stemmer()(b)
    return stem_a == stem_b or _common(a, b) >= min(4, len(stem_a), len(stem_b))


@dataclass(frozen=True)
class Swap:
    replaced: str
    by: str
    cosine: float


class WordVectors:
    """The embeddings of single words, each computed once (shared by every library)."""

    def __init__(self, embed: Embed) -> None:
        self.embed = embed
        self.cache: dict[str, Vectors] = {}
        self._numbers: Vectors | None = None

    def of(self, found: Sequence[str]) -> Vectors:
        todo = [w for w in dict.fromkeys(found) if w not in self.cache]
        if todo:
            for word, vector in zip(todo, self.embed(todo), strict=True):
                self.cache[word] = np.asarray(vector, dtype=np.float32)
        return np.stack([self.cache[w] for w in found])

    def figures(self, found: Sequence[str], threshold: float = THRESHOLD) -> set[str]:
        """The words that name a number: a word's embedding is as close to a number written in
        digits (0 to 100, a thousand, a million) as a synonym's is to its word (four, forty,
        hundred)."""
        if not found:
            return set()
        if self._numbers is None:
            numbers = [str(n) for n in range(101)] + ["1000", "1000000"]
            self._numbers = np.asarray(self.embed(numbers), dtype=np.float32)
        nearest = (self.of(found) @ self._numbers.T).max(axis=1)
        return {w for w, score in zip(found, nearest, strict=True) if score >= threshold}


class Swapper:
    """Finds, for a question's words, the closest word of the same note (see the module)."""

    def __init__(self, lib: Library, vectors: WordVectors, threshold: float = THRESHOLD
                 ) -> None:
        self.lib, self.vectors, self.threshold = lib, vectors, threshold
        self.common = len(lib.notes) / 2
        self.together: dict[str, list[set[str]]] = {}  # note id -> the words of each sentence
        self.names: dict[str, set[str]] = {}
        self.figures: dict[str, set[str]] = {}

    def _read(self, note_id: str) -> None:
        if note_id not in self.together:
            text = self.lib.texts[note_id]
            self.together[note_id] = [set(words(s)) for line in text.split("\n")
                                      for s in SENTENCE_END.split(line)]
            self.names[note_id] = {w.casefold() for w in _CAPITALISED.findall(text)}
            vocab = sorted(self.lib.vocab[note_id])
            self.figures[note_id] = self.vectors.figures(vocab)  # one batch per note

    def candidates(self, note_id: str, word: str) -> list[str]:
        """The words of the note that may replace ``word`` (the module's rules)."""
        self._read(note_id)
        said_with = set().union(*(s for s in self.together[note_id] if word in s))
        unfit = said_with | self.names[note_id] | self.figures[note_id]
        return sorted(w for w in self.lib.vocab[note_id]
                      if self.lib.spread[w] <= self.common and w not in unfit
                      and not same_family(w, word))

    def swap(self, note_id: str, asked: Sequence[str]) -> Swap | None:
        """The best replacement of one of ``asked`` by a word of the note, or None when no
        pair reaches the threshold."""
        best: Swap | None = None
        self._read(note_id)
        for word in asked:
            if word in self.figures[note_id]:
                continue
            pool = [w for w in self.candidates(note_id, word) if w not in asked]
            if not pool:
                continue
            scores = self.vectors.of(pool) @ self.vectors.of([word])[0]
            j = int(np.argmax(scores))
            if scores[j] >= self.threshold and (best is None or scores[j] > best.cosine):
                best = Swap(word, pool[j], round(float(scores[j]), 3))
        return best


def swapped_question(question: str, swap: Swap) -> str:
    """``question`` (a keyword query, lower case) with ``swap.replaced`` replaced."""
    return " ".join(swap.by if w == swap.replaced else w for w in question.split())

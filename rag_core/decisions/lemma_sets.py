"""Lemma sets of words, for the coverage checks of both decisions: spaCy's stop words, and the
lower-case lemmas (and forms) of a text's words, memoised per text and parsed in batches."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from functools import lru_cache
from typing import Any

from rag_core.decisions.nlp import nlp


@lru_cache(maxsize=1)
def stop_words() -> frozenset[str]:
    """spaCy's English stop words (lower case)."""
    return frozenset(nlp().Defaults.stop_words)


LEMMA_SKIPS = ["parser", "ner"]  # lemmas need the tagger, not the parse or the entities


def lemma_set(doc: Any) -> frozenset[str]:
    """Lower-case lemmas and forms of a parsed text's words."""
    return frozenset({w.lemma_.lower() for w in doc if w.is_alpha}
                     | {w.lower_ for w in doc if w.is_alpha})


class _LemmaMemo:
    """Lemma sets of longer texts (chunks, their sentences), kept per process, least recently
    used out first. Texts not seen before are parsed together in one ``nlp.pipe`` call: a
    retrieved chunk's sentences arrive together, and a batch costs far less per text than one
    call each. Same lemmas as one call per text, on every golden sentence
    (tests/unit/test_lemma_memo.py)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._kept: OrderedDict[str, frozenset[str]] = OrderedDict()
        self._lock = threading.Lock()

    def many(self, texts: Sequence[str]) -> list[frozenset[str]]:
        found: dict[str, frozenset[str]] = {}
        with self._lock:
            for text in texts:
                if text in self._kept:
                    self._kept.move_to_end(text)
                    found[text] = self._kept[text]
        new = [t for t in dict.fromkeys(texts) if t not in found]
        if new:
            docs = nlp().pipe(new, disable=LEMMA_SKIPS, batch_size=64)
            made = {t: lemma_set(doc) for t, doc in zip(new, docs, strict=True)}
            found.update(made)
            with self._lock:
                self._kept.update(made)
                while len(self._kept) > self.size:
                    self._kept.popitem(last=False)
        return [found[t] for t in texts]


_lemma_memo = _LemmaMemo(8192)


def lemmas(text: str) -> frozenset[str]:
    """Lower-case lemmas (and forms) of the words of a longer text (a chunk), for coverage
    checks; the parser and NER are skipped (memoised per text)."""
    return _lemma_memo.many([text])[0]


def lemmas_of(texts: Iterable[str]) -> frozenset[str]:
    """The union of :func:`lemmas` over ``texts``, the ones not seen before parsed in one
    batch."""
    out: set[str] = set()
    for words in _lemma_memo.many(list(texts)):
        out |= words
    return frozenset(out)


def lemmas_each(texts: Sequence[str]) -> list[frozenset[str]]:
    """:func:`lemmas` of each text, in order, the ones not seen before parsed in one batch."""
    return _lemma_memo.many(texts)

"""Which sentence of the retrieved notes answers a question? For the semantic-cache decision.

Two reworded questions that ask for different kinds of answer ("who spoke on ..." and "what
did the sign say ...") can retrieve the same chunk; the answer then rests on different
sentences of it. Each sentence of the best chunks is scored by the question's words it holds,
each weighted by how rare it is among those sentences (an inverse document frequency over the
sentences); the best sentence of each question must be among the other's best few.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from rag_core.decisions import lemma_sets, nlp
from rag_core.llm import extractive


def split_sentences(texts: Sequence[str]) -> list[str]:
    """The sentences of ``texts``, once each, by the service's one splitter (the extractive
    generator's: abbreviations such as "Dr." end no sentence)."""
    return list(dict.fromkeys(s.strip() for t in dict.fromkeys(texts)
                              for s in extractive.split_sentences(t) if s.strip()))


def terms(f: nlp.Facts) -> set[str]:
    """The words of a question that can be looked for: content lemmas, names, numbers."""
    return set(f.content) | set(f.names) | set(f.numbers)


def best_sentences(f: nlp.Facts, sentences: Sequence[str], top: int) -> list[int]:
    """Indexes of the ``top`` sentences sharing the most rare words with the question (a word
    weighs log((n + 1) / (0.5 + sentences holding it))), best first; none without a shared
    word."""
    words = lemma_sets.lemmas_each(sentences)
    wanted = terms(f)
    n = len(sentences)
    idf = {t: math.log((n + 1) / (0.5 + sum(t in w for w in words))) for t in wanted}
    scores = [sum(idf[t] for t in wanted if t in w) for w in words]
    order = sorted(range(n), key=lambda i: -scores[i])
    return [i for i in order[:top] if scores[i] > 0]


def same_best_sentence(a: nlp.Facts, b: nlp.Facts, texts: Sequence[str],
                       top: int) -> tuple[bool, str]:
    """Whether each question's best sentence of ``texts`` is among the other's ``top`` best,
    and what was compared."""
    sentences = split_sentences(texts)
    if not sentences:
        return False, "no evidence sentences to compare"
    best_a, best_b = best_sentences(a, sentences, top), best_sentences(b, sentences, top)
    ok = bool(best_a and best_b) and best_a[0] in best_b and best_b[0] in best_a
    shown = [sentences[i][:60] for i in best_a[:1] + best_b[:1]]
    return ok, f"best sentences {shown}"

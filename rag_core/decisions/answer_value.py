"""Do the notes hold a value of the kind asked for? The ``value`` rule of the no-context decision.

"How old is Felix?" is answerable only if a sentence about Felix gives an age; notes that
name Felix for other reasons hold nothing on it. For a question asking for an age, a
duration or a count (``nlp.Facts.answer_type``), some sentence of the retrieved chunks must name
the question's subject (one of its names, or else one of its nouns) and hold a number of the
right shape (spaCy's parse and entity labels, ``_fits``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rag_core.decisions import lemma_sets, nlp
from rag_core.decisions.sentences import split_sentences

KINDS = frozenset({"age", "duration", "count"})


def _time_noun(token: Any) -> bool:
    return nlp.noun_type(token.lemma_.lower()) == "time"


def _fits(t: Any, kind: str) -> bool:
    """A number token of the shape an age, duration or count takes: never a year, a sum of
    money, a percentage or an ordinal, nor a time (spaCy's TIME) but for a duration (spaCy's
    entity labels); for an age, a number that counts nothing ("is 71", "Leo, 6,") or years
    that make someone old ("71 years old"); for a duration, a number of time units; for a
    count, any other number."""
    if t.ent_type_ in ("MONEY", "PERCENT", "ORDINAL") or (
            len(t.text) == 4 and t.text.isdigit()):
        return False
    if t.ent_type_ == "TIME" and kind != "duration":  # "5 hours" is a duration
        return False
    counted = t.head if t.dep_ == "nummod" else None
    if kind == "age":
        return counted is None or (_time_noun(counted) and counted.head.pos_ == "ADJ")
    if kind == "duration":
        return counted is not None and _time_noun(counted)
    return True


def _values(sentence: Any, kind: str) -> list[str]:
    return [t.text for t in sentence if (t.like_num or t.lower_ in nlp.NUMBER_WORDS)
            and _fits(t, kind)]


def value_check(facts: nlp.Facts, texts: Sequence[str]) -> dict[str, Any] | None:
    """The rule's verdict, or None when the question asks for no such value."""
    if facts.answer_type not in KINDS:
        return None
    anchors = set(facts.names) | set(facts.nouns)
    if not anchors:
        return None
    sentences = [s for s in split_sentences(texts)
                 if anchors & lemma_sets.lemmas(s)]
    for doc in nlp.nlp().pipe(sentences):
        found = _values(doc, facts.answer_type)
        if found:
            return {"passed": True,
                    "detail": f"{facts.answer_type} {found[0]!r} in {doc.text[:60]!r}"}
    return {"passed": False,
            "detail": f"no {facts.answer_type} in {len(sentences)} sentences naming "
                      f"{sorted(anchors)}"}

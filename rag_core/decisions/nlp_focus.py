"""What a question asks: the words that name the kind of answer, and what it asks about
(``rag_core.decisions.nlp.facts`` keeps both; the strict semantic cache's ``focus`` and
``coverage`` rules compare them, ``rag_core.decisions.semantic_coverage``). ``t`` is the
question's wh-word (``nlp._question_word``), ``noun_type`` the kind of answer a noun names
after "what" ("year": time)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def asked_words(doc: Any, t: Any, noun_type: Callable[[str], str | None]
                ) -> frozenset[str]:
    """The lemmas that name the kind of answer a question asks for: its question word, the
    word after "how" (with a noun of time after "how many": "how many years"), and after
    "what" / "which" the nouns of a known kind (``nlp.noun_type``: "what year", "what reason",
    "what was the name of"). A noun of no known kind ("which languages") is what the
    question asks about, not a kind of answer, and is left out."""
    if t is None:
        return frozenset()
    out = {t.lemma_.lower(), t.lower_}
    after = [w for w in doc[t.i + 1:] if not w.is_punct]
    if t.lower_ == "how" and after:
        out.add(after[0].lemma_.lower())
        if len(after) > 1 and after[0].lower_ == "many" and \
                noun_type(after[1].lemma_.lower()) == "time":
            out.add(after[1].lemma_.lower())
    elif t.lower_ in ("what", "which"):
        for w in after[:4]:
            if w.pos_ in ("NOUN", "PROPN") and noun_type(w.lemma_.lower()):
                out.add(w.lemma_.lower())
                break
            if w.pos_ not in ("NOUN", "ADJ", "AUX", "DET") and w.lemma_ != "be":
                break
    return frozenset(out)


def focus_word(doc: Any, t: Any, noun_type: Callable[[str], str | None]) -> str:
    """The lemma of what a question asks about (``Facts.about``): the noun after "what" /
    "which" / "how many" unless it names the kind of answer ("which workers": worker), else
    the word the question word belongs to: its verb ("who did she serve": serve), past a
    preposition ("what was it for"), or the subject of a copula ("what was the book's fine":
    fine); "" for none, or for a bare "be"."""
    if t is None:
        return ""
    kinds = asked_words(doc, t, noun_type)
    if t.dep_ == "det" or (t.lower_ == "how" and t.head.pos_ in ("ADJ", "ADV")):
        noun = t.head if t.dep_ == "det" else t.head.head
        if noun.pos_ in ("NOUN", "PROPN") and noun.lemma_.lower() not in kinds:
            return noun.lemma_.lower()
        t = noun
    head = t.head
    while head.pos_ == "ADP" and head.head.i != head.i:
        head = head.head
    if head.lemma_ == "be" or head.pos_ == "AUX":
        subjects = [c for c in head.children if c.dep_ in ("nsubj", "nsubjpass")
                    and c.i != t.i and c.pos_ in ("NOUN", "PROPN")]
        if subjects:
            return subjects[0].lemma_.lower()
    word = head.lemma_.lower()
    return word if head.i != t.i and word != "be" else ""

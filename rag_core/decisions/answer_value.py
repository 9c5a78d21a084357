"""Do the notes hold a value of the kind asked for? The ``value`` rule of the no-context decision.

"How old is Felix?" is answerable only if a sentence about Felix gives an age; notes that
name Felix for other reasons hold nothing on it. For a question asking for an age, a
duration, a count (``nlp.Facts.answer_type``) or a name ("what is the name of X's boat"), some
sentence of the retrieved chunks must be about the question's subject and hold a value of
that kind (spaCy's parse and entity labels):

- age, duration: a sentence naming the question's subject, or the sentence right after one
  that does when it opens with a pronoun referring back ("He is sixty-two."), holds a number of that
  shape (``_fits``): an age is no time span ("for nineteen years" is a duration, not an age).
  The subject of an age is a person: one of the question's names when it names one (a noun
  of the question may occur in a place's name, "Tern Head"); otherwise, and for a duration
  (of an event, told by its nouns), one of its names or nouns;
- count: a number counting the noun asked about ("how many tunics": "four tunics", or a near
  word of it), or a number counting nothing in a sentence that names that noun;
- name: a sentence naming the thing whose name is asked ("the name of X's wife": "wife")
  gives it a proper name the question does not already give ("his wife Ingrid", ``_names_it``),
  in a chunk that names whose it is when the question does ("Walter's wife").
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import Any

from rag_core.decisions import lemma_sets, nlp
from rag_core.decisions.sentences import split_sentences

KINDS = frozenset({"age", "duration", "count"})
NAME_NOUNS = frozenset({"name", "surname", "nickname"})
_POINTING = frozenset({"he", "she", "they", "his", "her", "their"})
_FIRST = re.compile(r"\W*(?:(?:and|but|so|then)\s+)?([A-Za-z]+)", re.IGNORECASE)
# (words, candidates) -> {word: (cosine, closest candidate)}: ``WordMatcher.closest``
Near = Callable[[Sequence[str], Sequence[str]], dict[str, tuple[float, str]]]


def _time_noun(token: Any) -> bool:
    return nlp.noun_type(token.lemma_.lower()) == "time"


def _number_head(t: Any) -> Any:
    """The last word of a number written in several ("thirty-one", "four hundred"), whose
    relations are the number's."""
    while t.dep_ in ("compound", "quantmod", "nummod") and t.head.i != t.i \
            and (t.head.like_num or t.head.lower_ in nlp.NUMBER_WORDS):
        t = t.head
    return t


def _counted(t: Any) -> Any:
    """The noun a number counts ("forty letters": letters), or None."""
    head = _number_head(t)
    return head.head if head.dep_ == "nummod" else None


def _fits(t: Any, kind: str) -> bool:
    """A number token of the shape an age, duration or count takes: never a year, a sum of
    money, a percentage or an ordinal, nor a time (spaCy's TIME) but for a duration (spaCy's
    entity labels); for an age, a number that counts nothing where an age stands ("is 71",
    "Leo, 6,", ``_an_age``) or years that make someone old ("71 years old"); for a duration,
    a number of time units; for a count, any other number."""
    if t.ent_type_ in ("MONEY", "PERCENT", "ORDINAL") or (
            len(t.text) == 4 and t.text.isdigit()):
        return False
    if t.ent_type_ == "TIME" and kind != "duration":  # "5 hours" is a duration
        return False
    counted = _counted(t)
    if kind == "age":
        if counted is not None:
            return _time_noun(counted) and counted.head.pos_ == "ADJ"
        return _an_age(t)
    if kind == "duration":
        return counted is not None and _time_noun(counted)
    return True


def _an_age(t: Any) -> bool:
    """A number counting nothing that can be someone's age: a number word or digits (not
    "twice"), not "one" ("who needs one"), and not the subject or object of a verb but for
    "turned 40" ("gave forty", "three of them came" count something)."""
    head = _number_head(t)
    if head.pos_ != "NUM" or nlp.quantity(head.text) == "1":
        return False
    return head.dep_ not in ("nsubj", "nsubjpass", "dobj", "poss") or \
        head.head.lemma_.lower() in ("turn", "reach")


def _numbers(sentence: Any, kind: str) -> list[Any]:
    return [t for t in sentence if (t.like_num or t.lower_ in nlp.NUMBER_WORDS)
            and _fits(t, kind)]


@lru_cache(maxsize=1024)
def _question(text: str) -> Any:
    return nlp.nlp()(text)


def _asked_noun(doc: Any) -> str | None:
    """The noun of "how many NOUN" ("how many gift cards": card), or None."""
    for t in doc:
        if t.lower_ == "many" and t.i > 0 and doc[t.i - 1].lower_ == "how" \
                and t.head.pos_ == "NOUN":
            return str(t.head.lemma_.lower())
    return None


def _named_thing(doc: Any) -> tuple[str, frozenset[str]] | None:
    """(the noun whose name is asked, the names of whose it is) for "the name of X's wife" or
    "X's wife's name"; None when the question asks for no name."""
    for t in doc:
        if t.pos_ != "NOUN" or t.lemma_.lower() not in NAME_NOUNS:
            continue
        owners = [c for c in t.children if c.dep_ == "poss" and c.pos_ == "NOUN"]
        of = [g for c in t.children if c.dep_ == "prep" and c.lower_ == "of"
              for g in c.children if g.dep_ == "pobj" and g.pos_ == "NOUN"]
        for thing in owners + of:
            whose = frozenset(w.lower_ for c in thing.children if c.dep_ == "poss"
                              for w in c.subtree if w.pos_ == "PROPN"
                              and w.lower_.rstrip(".") not in nlp.HONORIFICS)
            return str(thing.lemma_.lower()), whose
    return None


def _about(sentences: list[str], anchors: set[str]) -> list[str]:
    """Sentences naming one of ``anchors``, and each one after such a sentence that opens with
    a pronoun referring back ("He is sixty-two."; sentences in the order of one chunk)."""
    words = lemma_sets.lemmas_each(sentences)
    out = []
    for i, (s, w) in enumerate(zip(sentences, words, strict=True)):
        first = _FIRST.match(s)
        pointing = first is not None and first.group(1).lower() in _POINTING
        if anchors & w or (i > 0 and anchors & words[i - 1] and pointing):
            out.append(s)
    return out


def _per_chunk(texts: Sequence[str], anchors: set[str]) -> list[str]:
    return list(dict.fromkeys(s for t in dict.fromkeys(texts)
                              for s in _about(split_sentences([t]), anchors)))


def _count_ok(doc: Any, asked: str | None, near: Near | None) -> str | None:
    """A number of ``doc`` counting ``asked`` (or a near word of it), or counting nothing in
    a sentence that names ``asked``; any number when nothing is asked about."""
    words = lemma_sets.lemmas(doc.text)
    for t in _numbers(doc, "count"):
        counted = _counted(t)
        if asked is None or (counted is None and asked in words):
            return str(t.text)
        if counted is not None:
            noun = counted.lemma_.lower()
            if noun == asked or counted.lower_ == asked or (
                    near is not None and near([asked], [noun]).get(asked, (0.0, ""))[0]
                    >= NEAR_COUNTED):
                return str(t.text)
    return None


NEAR_COUNTED = 0.6  # the coverage rule's near-word cosine (Settings.relevance_word_similarity)


def _names_it(name: Any, thing: str) -> bool:
    """Whether a proper name is the name of a word ``thing`` of its sentence: in apposition
    ("his wife Ingrid", "his boat, the Morning Star"), "a woman named Pilar", or the thing a
    compound of the name; not a name inside the thing's owner ("Elder Oduya's wife")."""
    for t in name.doc:
        if t.lemma_.lower() != thing:
            continue
        owners = {w.i for c in t.children if c.dep_ == "poss" for w in c.subtree}
        if name.i not in owners and name in t.subtree:
            return True
        if t.head.i == name.i and t.dep_ in ("compound", "appos", "nmod"):
            return True
    return False


def _name_check(doc: Any, facts: nlp.Facts, texts: Sequence[str],
                speakers: Sequence[str]) -> dict[str, Any] | None:
    asked = _named_thing(doc)
    if asked is None:
        return None
    thing, whose = asked
    given = set(facts.names)
    for text, speaker in dict.fromkeys(zip(texts, speakers, strict=True)):
        if whose and not whose & (lemma_sets.lemmas(text) | set(speaker.lower().split())):
            continue  # a chunk that never names whose it is (nor is its note's speaker's)
        sentences = split_sentences([text])
        words = lemma_sets.lemmas_each(sentences)
        for i, parsed in enumerate(nlp.nlp().pipe(sentences)):
            if thing not in words[i]:
                continue
            found = [t.text for t in parsed if t.pos_ == "PROPN" and t.is_alpha
                     and t.lower_ not in given and t.lower_ not in nlp.HONORIFICS
                     and t.lower_ not in nlp.DOMAIN_COMMON and _names_it(t, thing)]
            if found:
                return {"passed": True, "detail": f"name {found[0]!r} of the {thing} in "
                                                  f"{parsed.text[:60]!r}"}
    owner = f" of {sorted(whose)}" if whose else ""
    return {"passed": False, "detail": f"no name of the {thing}{owner} in the notes found"}


def value_check(facts: nlp.Facts, texts: Sequence[str], near: Near | None = None,
                speakers: Sequence[str] | None = None) -> dict[str, Any] | None:
    """The rule's verdict, or None when the question asks for no such value. ``near``: near
    words of the noun a count asks about (``WordMatcher.closest``); ``speakers``: the speaker
    of each text's note (whose wife "Pastor Lindqvist's wife" is, told by its speaker)."""
    doc = _question(facts.text)
    if facts.answer_type not in KINDS:
        return _name_check(doc, facts, texts, speakers or [""] * len(texts))
    kind = facts.answer_type
    anchors = set(facts.names) | set(facts.nouns)
    if kind == "age" and facts.names:
        anchors = set(facts.names)  # an age is the named person's, not a word's near them
    if not anchors:
        return None
    sentences = _per_chunk(texts, anchors)
    asked = _asked_noun(doc) if kind == "count" else None
    for parsed in nlp.nlp().pipe(sentences):
        if kind == "count":
            value = _count_ok(parsed, asked, near)
        else:
            value = next((t.text for t in _numbers(parsed, kind)), None)
        if value is not None:
            return {"passed": True, "detail": f"{kind} {value!r} in {parsed.text[:60]!r}"}
    return {"passed": False,
            "detail": f"no {kind} in {len(sentences)} sentences naming {sorted(anchors)}"
                      + (f" that counts {asked!r}" if asked else "")}

"""Who does what in a question, and what it asks about: the parts of a question that only the
rule sets measured in ``evals/`` compare (the strict-before design of ``evals.decisions.designs``,
``coverage_rules``; and the ``roles`` rule, measured in loose and taken out of it: it refused
paraphrases and no near miss, docs/decisions.md). No mode of the service reads them.

``roles`` rule: two questions about one passage often name the same people with the roles
exchanged ("What did Mateo say to Castellanos?" / "What did Castellanos say back to Mateo?").
A doer of one question is *demoted* in the other when the other names it but never as a
subject; ``acting`` refuses when a doer is demoted and someone else does something in the
other question, ``exchanged`` only when that someone is named by the first too (the parties
the same, their roles exchanged), ``any`` on any demoted doer, ``both`` when each side demotes
one. A question with "he", "she" or "they" as a subject demotes no one (no coreference), and
the source of an "according to" is no party."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

from rag_core.decisions.semantic_rules import Check
from rag_core.text import nlp

if TYPE_CHECKING:
    from spacy.tokens import Doc, Token


@dataclass(frozen=True)
class Parts:
    """The noun phrases a question names (head lemma with its compound and adjective
    modifiers), those that are a subject, the subject of its main clause, those that do
    something there, whether anyone (or a pronoun) does, whether a subject is he / she / they;
    its prepositions and subordinators; the words naming the kind of answer (``asked``) and
    what it asks about (``about``, "" for none)."""

    mentions: frozenset[str]
    subjects: frozenset[str]
    main_subjects: frozenset[str]
    doers: frozenset[str]
    acting: bool
    referring: bool
    relations: frozenset[str]
    asked: frozenset[str]
    about: str


def phrase(token: Token) -> str:
    mods = [c.lower_ for c in token.children if c.dep_ in ("compound", "amod") and c.is_alpha]
    return " ".join([*mods, token.lemma_.lower()])


def main_clause(verb: Token) -> bool:
    """The root, a verb joined to it, or a clause it takes as its complement."""
    while verb.dep_ in ("conj", "ccomp", "xcomp") and verb.head.i != verb.i:
        verb = verb.head
    return verb.dep_ == "ROOT"


def subject_of(token: Token) -> Token | None:
    """The verb whose subject ``token`` is (directly, as the "by" of a passive, or in
    apposition to one), else None."""
    if token.dep_ == "appos":
        token = token.head
    if token.dep_ in ("nsubj", "nsubjpass"):
        return token.head
    if token.dep_ == "pobj" and token.head.dep_ == "agent":
        return token.head.head
    return None


def asked_words(doc: Doc, t: Token | None,
                noun_type: Callable[[str], str | None]) -> frozenset[str]:
    """The question word, the word after "how" (and a noun of time after "how many"), and
    after "what" / "which" a noun of a known kind ("what year")."""
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


def focus_word(doc: Doc, t: Token | None, noun_type: Callable[[str], str | None]) -> str:
    """The noun after "what" / "which" / "how many" unless it names the kind of answer, else
    the verb the question word belongs to, or the subject of a copula; "" for none."""
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


@lru_cache(maxsize=4096)
def parts(text: str) -> Parts:
    doc = nlp.nlp()(text)
    in_ref = nlp.reference_tokens(doc)
    mentions: set[str] = set()
    subjects: set[str] = set()
    main_subjects: set[str] = set()
    doers: set[str] = set()
    acting = referring = False
    for t in doc:
        verb = subject_of(t)
        passive = (t.head if t.dep_ == "appos" else t).dep_ == "nsubjpass"
        does = verb is not None and verb.lemma_ != "be" and not passive and main_clause(verb)
        if t.pos_ == "PRON" and t.tag_ not in ("WP", "WDT"):
            acting = acting or does
            referring = referring or (verb is not None and t.lower_ in ("he", "she", "they"))
            continue
        if t.pos_ not in ("NOUN", "PROPN") or not t.is_alpha or t.dep_ == "compound" \
                or t.i in in_ref:
            continue
        if t.dep_ == "pobj" and t.head.lower_ == "to" and t.head.i > 0 \
                and doc[t.head.i - 1].lower_ == "according":
            continue
        party = phrase(t)
        mentions.add(party)
        if verb is not None:
            subjects.add(party)
            if main_clause(verb):
                main_subjects.add(party)
        if does:
            doers.add(party)
            acting = True
    wh = nlp.question_word(doc)
    relations = frozenset(t.lower_ for t in doc if t.pos_ in ("ADP", "SCONJ") and t.is_alpha
                          and t.tag_ not in nlp.WH_TAGS)
    return Parts(frozenset(mentions), frozenset(subjects), frozenset(main_subjects),
                 frozenset(doers), acting, referring, relations,
                 asked_words(doc, wh, nlp.NOUN_TYPES.get),
                 focus_word(doc, wh, nlp.NOUN_TYPES.get))


def same_party(x: str, y: str) -> bool:
    """One's words include the other's ("okafor", "pastor okafor")."""
    wx, wy = set(x.split()), set(y.split())
    return wx <= wy or wy <= wx


def demoted(a: Parts, b: Parts) -> list[str]:
    """The doers of ``a`` that ``b`` names, but not as a subject."""
    if b.referring:
        return []
    return sorted(x for x in a.doers if any(same_party(x, m) for m in b.mentions)
                  and not any(same_party(x, s) for s in b.subjects))


def _named_doer(a: Parts, b: Parts) -> bool:
    return any(any(same_party(x, m) for m in b.mentions) and
               not any(same_party(x, d) for d in b.doers) for x in a.doers)


def role_check(a: Parts, b: Parts, mode: str = "acting") -> Check:
    """The ``roles`` rule in one of its variants (the module doc)."""
    only_a, only_b = demoted(a, b), demoted(b, a)
    if mode == "any":
        ok = not (only_a or only_b)
    elif mode == "both":
        ok = not (only_a and only_b)
    elif mode == "exchanged":
        ok = not ((only_a and _named_doer(b, a)) or (only_b and _named_doer(a, b)))
    elif mode == "acting":
        ok = not ((only_a and b.acting) or (only_b and a.acting))
    else:
        raise ValueError(f"unknown roles mode {mode!r}; expected acting, exchanged, any or "
                         "both")
    return Check("roles", ok, f"doers named in another role on the other side: {only_a} vs "
                              f"{only_b}" if only_a or only_b else "no doer in another role")

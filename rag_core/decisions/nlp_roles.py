"""Who does what in a question, from spaCy's dependency parse
(``rag_core.decisions.nlp.facts`` keeps the
result; the semantic cache's ``roles`` rule compares two questions by it,
``rag_core.decisions.semantic_roles``)."""

from __future__ import annotations

from typing import Any, NamedTuple


def phrase(token: Any) -> str:
    """A noun (its lemma) with its compound and adjective modifiers as written, lower case
    ("unforgiving servant")."""
    mods = [c.lower_ for c in token.children
            if c.dep_ in ("compound", "amod") and c.is_alpha]
    return " ".join([*mods, token.lemma_.lower()])


def main_clause(verb: Any) -> bool:
    """A verb of the question's main clause: the root, a verb joined to it, or a clause it
    takes as its complement ("what made Jonah leave"), not an adverbial or relative clause."""
    while verb.dep_ in ("conj", "ccomp", "xcomp") and verb.head.i != verb.i:
        verb = verb.head
    return verb.dep_ == "ROOT"


def subject_of(token: Any) -> Any:
    """The verb whose subject ``token`` is (directly, as the "by" of a passive, or in
    apposition to one), else None."""
    if token.dep_ == "appos":
        token = token.head
    if token.dep_ in ("nsubj", "nsubjpass"):
        return token.head
    if token.dep_ == "pobj" and token.head.dep_ == "agent":
        return token.head.head
    return None


class Roles(NamedTuple):
    mentions: frozenset[str]
    subjects: frozenset[str]
    main_subjects: frozenset[str]
    doers: frozenset[str]
    acting: bool
    referring: bool


def roles(doc: Any, in_ref: set[int]) -> Roles:
    """Who a question names and in which role: the noun phrases it names as a party (not
    the source of an "according to"), those that are a subject anywhere, those that are the
    subject of a main-clause verb ("be" and passives included: "after its engine failed" is
    no main clause), the doers (subjects of a main-clause verb other than "be", or the "by"
    of a passive there), and whether anyone, named or a pronoun ("what do you do"), does
    something in the main clause, and whether "he", "she" or "they" is a subject (it may be
    someone the question names). Pronouns are no party: "he" and "you" name no one in
    particular."""
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
            continue  # the source of a claim, not a party of what the question asks
        party = phrase(t)
        mentions.add(party)
        if verb is not None:
            subjects.add(party)
            if main_clause(verb):
                main_subjects.add(party)
        if does:
            doers.add(party)
            acting = True
    return Roles(frozenset(mentions), frozenset(subjects), frozenset(main_subjects),
                 frozenset(doers), acting, referring)

"""A follow-up made to stand alone by rules, on the parse the service already makes (spaCy's,
``rag_core.text.nlp``; the names, years and passages of ``rag_core.text.named``): the rewrite
when no model is configured, and the model's fallback.

Three principles, for any wording and any notes (sermons, runbooks, recipes, minutes):

- **A reference points back.** A third-person pronoun (she, him, their) refers to the last turn's
  person: the one its standalone question named, else the speaker of the note it cited first when
  it asked who, else the one speaker all its cited notes share. A demonstrative and its noun
  ("that sermon", "this one", "those notes") refer to the last turn's note, its title, unless the
  noun names a time ("that year": the last turn's year), a person ("that speaker") or a series;
  an ordinal and "one" ("the second one") to the note cited in that place; "it", as the subject or
  object of a verb other than "be", to the note cited first.
- **An ellipsis keeps the topic.** A follow-up whose every word is a function word
  except the constraint it names (a year, a passage, a person: "and in 2023?", "what about
  Hebrews 12?", "only Pastor Ann's") is the last turn's standalone question with that
  constraint in place of the one of the same kind, or added to it.
- **A question that names its own subject stands alone**: one that names a person is not read
  as "she" of the last turn, and one with nothing to resolve is left as asked
  (``made_by="unchanged"``). When a reference has nothing in the last turn to point at, the
  question is left unchanged too: better unchanged than a subject invented.

Pure: no I/O, the history as given (oldest turn first).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from rag_core.conversations.turns import CitedNote, Standalone, Turn
from rag_core.text import nlp
from rag_core.text.dates import YEARS
from rag_core.text.named import asked

if TYPE_CHECKING:
    from spacy.tokens import Doc, Token

# English grammar, not a domain's words: third-person personal pronouns by case, and the
# demonstratives; a pronoun of the first or second person refers to the asker, never to a note
_SUBJECT = frozenset({"he", "she", "they"})
_OBJECT = frozenset({"him", "her", "them"})
_POSSESSIVE = frozenset({"his", "her", "their", "hers", "theirs"})
_DEMONSTRATIVE = frozenset({"that", "this", "those", "these"})
_ORDINAL = {"first": 0, "second": 1, "third": 2, "fourth": 3, "fifth": 4}
_PASSAGE_NOUNS = frozenset({"passage", "verse", "verses", "chapter", "text", "reading",
                            "scripture"})
# a name as the front matter writes it: its leading run of capitalised words (an honorific's
# full stop kept), so that text a note's field carries after the name is never copied
_NAME_RUN = re.compile(r"[A-Z][\w'’-]*\.?(?:\s+(?:[A-Z][\w'’-]*\.?|de|van|von|da|del|la))*")
_TITLE_END = re.compile(r"[.!?](?:\s|$)|[|<(\[{]")
_MAX_TITLE = 120


@dataclass(frozen=True)
class _Referents:
    """What the last turn offers a follow-up to point at (empty text: nothing)."""

    person: str = ""
    titles: tuple[str, ...] = ()
    year: str = ""
    passage: str = ""
    series: str = ""


def _name(value: object) -> str:
    found = _NAME_RUN.match(str(value or "").strip())
    return found[0].strip() if found else ""


def _title(value: object) -> str:
    text = str(value or "").strip()
    end = _TITLE_END.search(text)
    # a title that is a question keeps its question mark ("Who Is My Neighbor?")
    cut = text[:end.start() + (1 if end and text[end.start()] == "?" else 0)] if end else text
    return cut.strip()[:_MAX_TITLE]


def _names_in(doc: Doc) -> list[tuple[int, int]]:
    """Spans (start, end) of the person names a text writes, honorifics before them kept."""
    refs = nlp.reference_tokens(doc)
    out: list[tuple[int, int]] = []
    i = 0
    while i < len(doc):
        t = doc[i]
        if t.ent_type_ == "PERSON" and i not in refs and t.text[:1].isupper():
            start = i
            while i < len(doc) and doc[i].ent_type_ == "PERSON" and doc[i].tag_ != "POS":
                i += 1
            if start > 0 and doc[start - 1].lower_.rstrip(".") in nlp.HONORIFICS:
                start -= 1
            out.append((start, i))
        else:
            i += 1
    return out


def _year_of(note: CitedNote) -> str:
    found = YEARS.search(str(note.meta.get("date", "")))
    return found[0] if found else ""


def _first_passage(meta: Mapping[str, object]) -> str:
    value = meta.get("scripture")
    items = [value] if isinstance(value, str) else list(value) if isinstance(
        value, (list, tuple)) else []
    return str(items[0]).strip() if items and nlp.references(str(items[0])) else ""


def _referents(turn: Turn) -> _Referents:
    question = turn.standalone_question or turn.question
    doc = nlp.parse(question)
    cited = turn.citations
    named = _names_in(doc)
    speakers = [s for c in cited if (s := _name(c.meta.get("speaker")))]
    if speakers and nlp.facts(question).answer_type == "person":
        person = speakers[0]  # who was asked: the answer is the person, the names its topic
    elif named:
        person = doc[named[0][0]:named[0][1]].text
    else:
        person = speakers[0] if speakers and len(set(speakers)) == 1 else ""
    years = sorted(y for y in asked(question).years if y.isdigit())
    year = years[0] if len(years) == 1 else _year_of(cited[0]) if cited else ""
    refs = nlp.references(question)
    in_ref = sorted(nlp.reference_tokens(doc))
    passage = doc[in_ref[0]:in_ref[-1] + 1].text if refs and in_ref else (
        _first_passage(cited[0].meta) if cited else "")
    return _Referents(person=person, titles=tuple(t for c in cited if (t := _title(c.title))),
                      year=year, passage=passage,
                      series=_title(cited[0].meta.get("series")) if cited else "")


def _noun_after(doc: Doc, i: int) -> Token | None:
    """The noun a demonstrative or ordinal at ``i`` determines: the next noun, adjectives and
    compounds between; none when a verb or pronoun comes first ("that he left")."""
    for t in doc[i + 1:i + 4]:
        # the word the demonstrative hangs on is its noun, whatever tag the parse gave it
        if t.pos_ in ("NOUN", "PROPN") or t.lemma_.lower() == "one" \
                or doc[i].head.i == t.i and t.is_alpha:
            return t
        if t.pos_ not in ("ADJ", "NUM") and t.dep_ != "compound":
            return None
    return None


def _expletive(t: Token) -> bool:
    """"it" holding the place of a clause ("is it true that...", "is it wise to..."), no note."""
    return t.head.lemma_ == "be" and any(c.dep_ in ("ccomp", "xcomp", "csubj")
                                         for c in t.head.children)


def _subordinator(t: Token) -> bool:
    """"that" opening a clause under another ("is it true that grace matters"), not pointing."""
    return t.dep_ == "mark" and t.head.dep_ != "ROOT"


def _for_noun(noun: Token, refs: _Referents, place: int = 0) -> str:
    """What a demonstrative's (or ordinal's) noun refers to in the last turn."""
    lemma = noun.lemma_.lower()
    kind = nlp.NOUN_TYPES.get(lemma)
    if kind == "time":
        return f"in {refs.year}" if refs.year else ""
    if kind == "person":
        return refs.person
    if lemma in _PASSAGE_NOUNS:
        return refs.passage
    if lemma == "series":
        return f'the series "{refs.series}"' if refs.series else ""
    if place >= len(refs.titles):
        return ""
    title = f'"{refs.titles[place]}"'
    return title if lemma == "one" else f"the {noun.lower_} {title}"


def _pronoun(t: Token, person: str) -> str:
    low = t.lower_
    if low in _POSSESSIVE and (t.tag_ == "PRP$" or low != "her"):
        return f"{person}'s"
    if low in _SUBJECT or low in _OBJECT:
        return person
    return ""


def _resolved(doc: Doc, refs: _Referents) -> tuple[str, list[str]]:
    """The question with its references replaced, and what each was replaced by."""
    named_at = [a for a, _ in _names_in(doc)]
    out: list[str] = []
    said: list[str] = []
    skip_to = -1
    for t in doc:
        if t.i < skip_to:
            continue
        low = t.lower_
        text = ""
        end = t.i + 1
        if low in _SUBJECT | _OBJECT | _POSSESSIVE and t.pos_ == "PRON" \
                or t.tag_ in ("PRP", "PRP$") and low in _SUBJECT | _OBJECT | _POSSESSIVE:
            # a pronoun after a person the question names refers to that person
            own = any(a < t.i for a in named_at)
            text = "" if own or not refs.person else _pronoun(t, refs.person)
        elif low in _DEMONSTRATIVE | set(_ORDINAL) and not _subordinator(t) \
                and (noun := _noun_after(doc, t.i)):
            place = _ORDINAL.get(low, 0)
            if low in _ORDINAL and not (t.i > 0 and doc[t.i - 1].lower_ == "the"):
                noun = None
            if noun is not None:
                text = _for_noun(noun, refs, place)
                end = noun.i + 1
                if low in _ORDINAL and text:
                    out.pop()  # "the" before the ordinal
        elif low == "it" and t.dep_ in ("nsubj", "nsubjpass", "dobj", "pobj") \
                and not _expletive(t) and refs.titles:
            text = f'"{refs.titles[0]}"'
        if text:
            said.append(f"{doc[t.i:end].text!r} → {text}")
            out.append(text + doc[end - 1].whitespace_)
            skip_to = end
        else:
            out.append(t.text_with_ws)
    return "".join(out).strip(), said


def _constraint(doc: Doc) -> tuple[str, str, set[int]] | None:
    """The one constraint an elliptical follow-up names, its kind and its tokens, when every
    other word is a function word; else none."""
    spans: list[tuple[str, int, int]] = []
    refs = sorted(nlp.reference_tokens(doc))
    if refs:
        spans.append(("passage", refs[0], refs[-1] + 1))
    spans += [("person", a, b) for a, b in _names_in(doc)]
    spans += [("year", t.i, t.i + 1) for t in doc if t.text in asked(doc.text).years]
    if len(spans) != 1:
        return None
    kind, a, b = spans[0]
    taken = set(range(a, b))
    rest = [t for t in doc if t.i not in taken and not t.is_punct and t.tag_ != "POS"]
    # an ellipsis has no verb of its own (an auxiliary is not one) and refers to no one
    if all((t.is_stop or t.lemma_.lower() in nlp.nlp().Defaults.stop_words)
           and t.pos_ not in ("VERB", "PRON") or t.tag_ in nlp.WH_TAGS for t in rest):
        return kind, doc[a:b].text, taken
    return None


def _trailing_topic(doc: Doc) -> tuple[int, int] | None:
    """The object of the preposition that ends a question ("... say about Martha and Mary?"):
    the topic a passage takes the place of."""
    words = [t for t in doc if not t.is_punct]
    if not words:
        return None
    last = words[-1]
    obj = next((t for t in last.ancestors if t.dep_ == "pobj"), last if last.dep_ == "pobj"
               else None)
    while obj is not None and obj.head.dep_ in ("pobj", "conj") and obj.head.pos_ != "ADP":
        obj = obj.head
    if obj is None:
        return None
    sub = list(obj.subtree)
    return sub[0].i, sub[-1].i + 1


def _narrowed(last: str, kind: str, value: str) -> str:
    """The last turn's standalone question with ``value`` in place of its constraint of that
    kind, or added to it."""
    doc = nlp.parse(last)
    span: tuple[int, int] | None = None
    if kind == "person":
        named = _names_in(doc)
        span = named[0] if named else None
    elif kind == "year":
        span = next(((t.i, t.i + 1) for t in doc if t.text in asked(last).years), None)
    else:
        refs = sorted(nlp.reference_tokens(doc))
        span = (refs[0], refs[-1] + 1) if refs else None
    if span is None and kind == "passage":
        span = _trailing_topic(doc)
    if span is not None:
        a, b = span
        return doc[:a].text_with_ws + value + doc[b - 1].whitespace_ + doc[b:].text
    glue = {"year": "in", "person": "by", "passage": "on"}[kind]
    stem = last.rstrip().rstrip("?.!").rstrip()
    return f"{stem}, {glue} {value}?"


def rewrite_by_rules(question: str, history: Sequence[Turn]) -> Standalone:
    """``question`` made to stand alone given ``history`` (oldest turn first)."""
    text = question.strip()
    if not history or not text:
        return Standalone(question, "unchanged", "no earlier turn")
    last = history[-1]
    base = (last.standalone_question or last.question).strip()
    doc = nlp.parse(text)
    ellipsis = _constraint(doc)
    if ellipsis is not None and base:
        kind, value, _ = ellipsis
        return Standalone(_narrowed(base, kind, value), "rules",
                          f"elliptical: the last turn's question with the {kind} {value}")
    rewritten, said = _resolved(doc, _referents(last))
    if not said:
        return Standalone(question, "unchanged", "names its own subject")
    return Standalone(rewritten, "rules", "; ".join(said))

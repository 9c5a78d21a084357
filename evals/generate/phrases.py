"""The phrases a note's sentences are about: what a person would type to find the sentence, or
ask about by name.

spaCy (the project's pipeline, ``rag_core.text.nlp``) reads each sentence; a phrase is one of
its noun chunks, kept when

- what is left after its determiners, pronouns, numbers and possessives is two to four words,
  each a noun, a proper noun or an adjective, the last a noun or proper noun (the thing named),
  and at least two of them nouns (a compound such as "parts washer" names one thing; an
  adjective and one noun, "right time", mostly names a quality of it);
- its head does not end in "-ing": such a word is as often a verb the tagger read as a noun
  ("he came to the reconciliation limping") as a noun, and a phrase left out costs less than a
  phrase that names nothing;
- it starts at the start of a word of the text: a phrase whose first word the tokenizer cut
  from a hyphenated one ("thirty-minute slots" -> "minute slots") is a piece of a word;
- it is not a singular noun followed by a verb in its bare form ("the fall coat drive for the
  shelter"): a singular subject takes "drives", so the tagger has split a compound noun and the
  phrase is only part of the name;
- no word of it points elsewhere for its meaning (a demonstrative, a pronoun, or an adjective
  that places the thing relative to another: "the next step", "the other group", "the same
  day"), so the phrase means the same without the sentence around it;
- the note holds it once, in that sentence, and not in its front matter (a title or a series
  names the whole note): a question about it has one answer in the note.

Everything here reads one note only, so a note's phrases do not change when another note is
added or edited (whether another note also holds a phrase is ``items``' check, which drops).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from evals.generate.facts import sentences, squash
from rag_core.text.nlp import parse
from rag_core.types import Note

# parts of speech a named thing is made of; the head must be a noun
_WORDS = frozenset({"NOUN", "PROPN", "ADJ"})
_HEADS = frozenset({"NOUN", "PROPN"})
# parts of speech stripped from the front of a chunk: they tie it to the sentence
_LEADING = frozenset({"DET", "PRON", "NUM", "PART", "ADP", "CCONJ", "PUNCT"})
# adjectives whose meaning is a position relative to something else (English deixis)
_RELATIVE = frozenset({"other", "same", "such", "next", "last", "previous", "following",
                       "former", "latter", "above", "below", "own", "certain", "whole",
                       "first", "second", "third", "final", "new", "old", "main", "many",
                       "several", "few", "much", "more", "most", "less", "least"})
_LETTERS = re.compile(r"^[A-Za-z][A-Za-z'-]*[A-Za-z]$")


@dataclass(frozen=True)
class Phrase:
    """A phrase of a note and the sentence that holds it."""

    text: str
    sentence: str
    named: bool  # every word a proper noun: a name, asked about without "the"


def _phrase_of(chunk: object) -> tuple[str, bool] | None:
    tokens = list(chunk)  # type: ignore[call-overload]
    doc = tokens[-1].doc if tokens else None
    after = doc[tokens[-1].i + 1] if doc is not None and tokens[-1].i + 1 < len(doc) else None
    if after is not None and tokens[-1].tag_ == "NN" and after.tag_ in ("VB", "VBP"):
        return None
    while tokens and (tokens[0].pos_ in _LEADING or tokens[0].tag_ == "POS"):
        tokens = tokens[1:]
    if tokens and tokens[0].i > 0 and not doc[tokens[0].i - 1].whitespace_:  # type: ignore[index]
        return None
    if not 2 <= len(tokens) <= 4 or tokens[-1].pos_ not in _HEADS \
            or tokens[-1].lower_.endswith("ing"):
        return None
    for token in tokens:
        if token.pos_ not in _WORDS or not _LETTERS.match(token.text):
            return None
        if token.lower_ in _RELATIVE or token.ent_type_ in ("ORDINAL", "CARDINAL", "DATE"):
            return None
    if sum(t.pos_ in _HEADS for t in tokens) < 2:
        return None
    # a word keeps a capital it has only for opening the sentence when the tagger calls it a
    # name but the phrase is not one ("Sesame seed rolls ..." asks about sesame seed rolls)
    named = all(t.pos_ == "PROPN" for t in tokens)
    text = " ".join(t.text if t.pos_ == "PROPN" and (named or t.i > 0) else t.lower_
                    for t in tokens)
    return text, named


def phrases(note: Note) -> list[Phrase]:
    """The note's phrases in the order of its sentences (see the module)."""
    body = squash(note.body)
    labels = squash(" ".join([note.title, note.series or "", note.speaker or "", *note.tags]))
    found: list[Phrase] = []
    seen: set[str] = set()
    for sentence in sentences(note.body):
        for chunk in parse(sentence).noun_chunks:
            got = _phrase_of(chunk)
            if got is None or squash(got[0]) in seen:
                continue
            text = got[0]
            seen.add(squash(text))
            if body.count(squash(text)) == 1 and squash(text) not in labels:
                found.append(Phrase(text, sentence, got[1]))
    return found

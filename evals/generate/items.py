"""Answerable questions made from a user's library (``facts.Library``), note by note; each
records how it was made (``made_by``: the form, the note, the field or the sentence).

Every item is made from its own note alone, by a draw seeded with the note (``note_rng``), and
its id is a hash of the user, the note, what it was made from and the form (``stable_id``): a
note added or edited elsewhere in the library changes none of them. What depends on the other
notes (a title or a phrase another note shares) is a check afterwards (``checks``), which
drops an item and never replaces it with another.

- ``who`` / ``when`` of a note's front matter, ``which`` note a speaker gave on a date, each
  asserting the name, year or title;
- ``topic``: "What do my notes say about <phrase>?", a phrase of one sentence of the note
  (``phrases``); ``keyword``: such a phrase alone, as a search people type. Both assert the
  figure the sentence gives, when it has one;
- ``synonym``: a keyword search with one word replaced by another word of the same note that
  means the same there (``synonyms``: the project's embedder decides, no word list).
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Mapping, Sequence

from evals.generate.facts import Library, figure_in, long_date, plain_name
from evals.generate.phrases import phrases
from evals.generate.synonyms import Swapper, swapped_question

Item = dict[str, object]
SENTENCE_FORMS = ("topic", "keyword")  # the forms of a note's sentences, in the order drawn


def stable_id(prefix: str, *parts: object) -> str:
    """An id that depends on ``parts`` only (the user, the note, the source, the form)."""
    digest = hashlib.sha256("\x1f".join(str(p) for p in parts).encode("utf-8")).hexdigest()
    return f"{prefix}-{digest[:12]}"


def note_rng(seed: int, user: str, note_id: str, purpose: str = "") -> random.Random:
    """The draw of one note: the same for that note whatever the library around it."""
    return random.Random(f"{seed}:{user}:{note_id}:{purpose}")


def make_item(user: str, form: str, question: str, note_id: str | None, answer: str,
              scenario: str, made: Mapping[str, object], source: object,
              checks: Sequence[Mapping[str, object]] = ()) -> Item:
    """An item whose id is derived from its user, note, ``source`` and form."""
    item: Item = {"id": stable_id("gen", user, note_id or "", source, form), "user_id": user,
                  "question": question, "reference_note_ids": [note_id] if note_id else [],
                  "reference_answer": answer, "expect_no_context": note_id is None,
                  "scenario": scenario, "made_by": {"writer": "rules", "form": form, **made}}
    if checks:
        item["assert"] = [dict(c) for c in checks]
    return item


def metadata_items(lib: Library) -> list[Item]:
    """``who``, ``when`` and ``which`` of every note with the fields they need."""
    out = []
    for note in lib.notes:
        made = {"note": note.id, "title": note.title}
        speaker = note.speaker if note.speaker and plain_name(note.speaker) else None
        if speaker:
            out.append(make_item(lib.user, "who", f'Who was the speaker of "{note.title}"?',
                                 note.id, speaker, "metadata",
                                 {**made, "field": "speaker"}, "speaker",
                                 [{"type": "contains", "value": speaker}]))
        when = long_date(note.date)
        if when:
            out.append(make_item(lib.user, "when", f'On what date was "{note.title}"?',
                                 note.id, when, "metadata", {**made, "field": "date"}, "date",
                                 [{"type": "contains", "value": when.rsplit(" ", 1)[-1]}]))
        if speaker and when:
            out.append(make_item(lib.user, "which",
                                 f"What is the title of the note {speaker} gave on {when}?",
                                 note.id, note.title, "metadata",
                                 {**made, "field": "title", "speaker": speaker,
                                  "date": note.date}, "title",
                                 [{"type": "contains", "value": note.title}]))
    return out


def sentence_items(lib: Library, seed: int, per_note: int) -> list[Item]:
    """Up to ``per_note`` phrases of each note, drawn with the note's own seed; the first drawn
    asked about (``topic``), the next searched for (``keyword``)."""
    out = []
    for note in lib.notes:
        found = phrases(note)
        note_rng(seed, lib.user, note.id, "phrases").shuffle(found)
        for form, phrase in zip(SENTENCE_FORMS * per_note, found[:per_note], strict=False):
            figure = figure_in(phrase.sentence)
            checks = [{"type": "contains", "value": figure[0]}] if figure else []
            made: dict[str, object] = {"note": note.id, "sentence": phrase.sentence,
                                       "phrase": phrase.text}
            if form == "topic":
                subject = phrase.text if phrase.named else f"the {phrase.text}"
                question = f"What do my notes say about {subject}?"
            else:
                question = phrase.text.lower() if not phrase.named else phrase.text
            made["words"] = phrase.text.casefold().split()
            out.append(make_item(lib.user, form, question, note.id, phrase.sentence,
                                 "factual", made, phrase.text, checks))
    return out


def synonym_items(made: Sequence[Item], swapper: Swapper) -> list[Item]:
    """A ``synonym`` twin of each keyword search whose note has a word close enough in meaning
    to one of its words (``synonyms``)."""
    out: list[Item] = []
    for item in made:
        how = item["made_by"]
        assert isinstance(how, dict)
        if how["form"] != "keyword":
            continue
        asked = [str(w) for w in how["words"]]
        swap = swapper.swap(str(how["note"]), asked)
        if swap is None:
            continue
        question = swapped_question(str(item["question"]).casefold(), swap)
        out.append({**item, "question": question,
                    "id": stable_id("gen", item["user_id"], how["note"], how["phrase"],
                                    "synonym"),
                    "made_by": {**how, "form": "synonym", "words": question.split(),
                                "from": item["question"], "replaced": swap.replaced,
                                "by": swap.by, "cosine": swap.cosine}})
    return out

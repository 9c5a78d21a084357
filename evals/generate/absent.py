"""Unanswerable questions near a user's library, each checked against every note of that user
(bodies and front matter), and naming only that user's own speakers and titles: a set made
from several people's notes never shows one person another's names.

- ``absent_year``: what a speaker of the library said in a year no note of the user mentions
  (the latest year before the user's first note that no note of the user mentions);
- ``absent_date``: what a speaker said on the day after one of their notes, when no note of the
  user is of that day or names it (a question about a time the notes do not cover; a detail a
  note's subject might have, such as the hour a meeting started, is not asked: whether such a
  question makes sense depends on what the note is about, which no rule here can read).

Every speaker of the library gets an ``absent_year`` question; whether a note gives an
``absent_date`` one is drawn with the note's own seed (a share :data:`DATE_SHARE` of the notes),
so a note added or edited elsewhere changes neither choice.
"""

from __future__ import annotations

from datetime import date, timedelta

from evals.generate.facts import Library, absent_year, long_date, plain_name
from evals.generate.items import Item, make_item, note_rng

REFUSAL = "no context"
DATE_SHARE = 0.3


def unanswerable_items(lib: Library, seed: int) -> list[Item]:
    out: list[Item] = []
    year = absent_year(lib)
    if year is not None:
        for speaker in lib.speakers():
            out.append(make_item(lib.user, "absent_year", f"What did {speaker} say in {year}?",
                                 None, REFUSAL, "no_context",
                                 {"absent": str(year), "speaker": speaker}, speaker))
    dates = {n.date for n in lib.notes if n.date}
    dated = {n.id: n for n in lib.notes
             if n.speaker and plain_name(n.speaker) and long_date(n.date)}
    for note_id, note in sorted(dated.items()):
        if note_rng(seed, lib.user, note_id, "absent_date").random() >= DATE_SHARE:
            continue
        day = (date.fromisoformat(str(note.date)) + timedelta(days=1)).isoformat()
        when = long_date(day)
        if day in dates or when is None or lib.says(when) or lib.says(day):
            continue
        out.append(make_item(lib.user, "absent_date", f"What did {note.speaker} say on {when}?",
                             None, REFUSAL, "no_context",
                             {"note": note_id, "absent": when, "speaker": note.speaker},
                             note_id))
    return out

"""Unanswerable questions near a user's library, each checked against every note of that user
(bodies and front matter), and naming only that user's own speakers and titles: a set made
from several people's notes never shows one person another's names.

- ``absent_year``: what a speaker of the library said in a year no note of the user mentions
  (the latest year before the earliest the user's notes mention);
- ``absent_date``: what a speaker said on the day after one of their notes, when no note of the
  user is of that day or names it (a question about a time the notes do not cover; a detail a
  note's subject might have, such as the hour a meeting started, is not asked: whether such a
  question makes sense depends on what the note is about, which no rule here can read).

Which speakers and notes are asked about is drawn per speaker and per note (a hash of the seed,
the user and the speaker or note ranks them), so a note added elsewhere changes the choice
only when it ranks among the first.
"""

from __future__ import annotations

from datetime import date, timedelta

from evals.generate.facts import YEAR, Library, long_date
from evals.generate.items import Item, make_item, stable_id

REFUSAL = "no context"


def _ranked(seed: int, user: str, keys: list[str], purpose: str) -> list[str]:
    return sorted(keys, key=lambda k: stable_id("rank", seed, user, k, purpose))


def _absent_year(lib: Library) -> int | None:
    years = {int(y) for t in lib.texts.values() for y in YEAR.findall(t)}
    if not years:
        return None
    year = min(years) - 1
    while any(str(year) in t for t in lib.texts.values()):
        year -= 1
    return year


def unanswerable_items(lib: Library, seed: int, per_kind: int) -> list[Item]:
    out: list[Item] = []
    year = _absent_year(lib)
    if year is not None:
        for speaker in _ranked(seed, lib.user, lib.speakers(), "year")[:per_kind]:
            out.append(make_item(lib.user, "absent_year", f"What did {speaker} say in {year}?",
                                 None, REFUSAL, "no_context",
                                 {"absent": str(year), "speaker": speaker}, speaker))
    dates = {n.date for n in lib.notes if n.date}
    dated = {n.id: n for n in lib.notes if n.speaker and long_date(n.date)}
    for note_id in _ranked(seed, lib.user, sorted(dated), "date")[:per_kind]:
        note = dated[note_id]
        day = (date.fromisoformat(str(note.date)) + timedelta(days=1)).isoformat()
        when = long_date(day)
        if day in dates or when is None or lib.says(when) or lib.says(day):
            continue
        out.append(make_item(lib.user, "absent_date", f"What did {note.speaker} say on {when}?",
                             None, REFUSAL, "no_context",
                             {"note": note_id, "absent": when, "speaker": note.speaker},
                             note_id))
    return out

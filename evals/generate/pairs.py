"""Paraphrase and near-miss pairs of questions about a user's notes, each a pair of questions a
person would ask (no "it" left without a referent), chosen note by note.

- ``paraphrase`` / ``reworded``: the same question about a note in other words;
- ``near_miss`` / ``attribute``: who gave a note and when it was;
- ``near_miss`` / ``subject``: who gave a note and who gave the next one (by id);
- ``near_miss`` / ``person``: what one speaker and another talked about;
- ``near_miss`` / ``year``: what a speaker said in the first and the last year of the notes.

A note's pairs are drawn with the note's own seed, and a pair's id is a hash of its user, kind
and questions, so a note added elsewhere leaves the others' pairs as they were.
"""

from __future__ import annotations

from collections import Counter

from evals.generate.facts import Library
from evals.generate.items import note_rng, stable_id

Pair = dict[str, object]
SHARE = 0.5  # the share of notes that give a pair of their own


def _who(title: str) -> str:
    return f'Who was the speaker of "{title}"?'


def _when(title: str) -> str:
    return f'On what date was "{title}"?'


def pairs(lib: Library, seed: int, per_kind: int) -> list[Pair]:
    titles = Counter(n.title for n in lib.notes)
    titled = sorted((n for n in lib.notes if titles[n.title] == 1), key=lambda n: n.id)
    out: list[Pair] = []

    def pair(a: str, b: str, label: str, kind: str, note: str | None) -> None:
        out.append({"id": stable_id("gen-pair", lib.user, kind, a, b), "user_id": lib.user,
                    "a": a, "b": b, "label": label, "kind": kind,
                    **({"note": note} if note else {})})

    for i, note in enumerate(titled):
        rng = note_rng(seed, lib.user, note.id, "pairs")
        if rng.random() >= SHARE:
            continue
        choices = []
        if note.speaker:
            choices.append((_who(note.title), f'Which speaker gave "{note.title}"?',
                            "paraphrase", "reworded"))
        if note.date:
            choices.append((_when(note.title), f'When was "{note.title}"?', "paraphrase",
                            "reworded"))
        if note.speaker and note.date:
            choices.append((_who(note.title), _when(note.title), "near_miss", "attribute"))
        following = titled[i + 1] if i + 1 < len(titled) else None
        if note.speaker and following is not None and following.speaker:
            choices.append((_who(note.title), _who(following.title), "near_miss", "subject"))
        if choices:
            a, b, label, kind = rng.choice(choices)
            pair(a, b, label, kind, note.id)
    speakers = lib.speakers()
    for one, other in list(zip(speakers, speakers[1:], strict=False))[:per_kind]:
        pair(f"What did {one} talk about?", f"What did {other} talk about?", "near_miss",
             "person", None)
    years = sorted({n.date[:4] for n in lib.notes if n.date})
    if speakers and len(years) >= 2:
        pair(f"What did {speakers[0]} say in {years[0]}?",
             f"What did {speakers[0]} say in {years[-1]}?", "near_miss", "year", None)
    return out

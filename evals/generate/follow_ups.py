"""Follow-up conversations made from a team's own notes (``conversations.jsonl`` of a generated
dataset, in the golden multi-turn set's shape, ``evals.conversations.dataset``): a question about
a note's speaker or title, then one that refers back to it by pronoun.

- ``speaker``: 'Who was the speaker of "T"?', then "What else did they talk about?", whose
  standalone question names the speaker and whose notes are the speaker's other notes (none:
  the turn expects no context);
- ``title``: 'What is "T" about?', then "Who gave it?", standalone 'Who gave "T"?'.

Only notes whose title is the library's alone; a note is drawn with its own seed (as the pairs
are), so a note added elsewhere leaves the others' conversations as they were.
"""

from __future__ import annotations

from collections import Counter

from evals.generate.facts import Library
from evals.generate.items import note_rng, stable_id

SHARE = 0.5  # the share of notes that give a conversation


def _turn(kind: str, question: str, standalone: str, refs: list[str]) -> dict[str, object]:
    return {"kind": kind, "question": question, "standalone_question": standalone,
            "reference_note_ids": refs, "expect_no_context": not refs}


def conversations(lib: Library, seed: int) -> list[dict[str, object]]:
    titles = Counter(n.title for n in lib.notes)
    out: list[dict[str, object]] = []
    for note in sorted((n for n in lib.notes if titles[n.title] == 1), key=lambda n: n.id):
        rng = note_rng(seed, lib.user, note.id, "follow-ups")
        if rng.random() >= SHARE:
            continue
        speaker = (note.speaker or "").strip()
        if speaker and rng.random() < 0.5:
            others = sorted(n.id for n in lib.notes
                            if n.id != note.id and (n.speaker or "").strip() == speaker)
            form, turns = "speaker", [
                _turn("first", f'Who was the speaker of "{note.title}"?',
                      f'Who was the speaker of "{note.title}"?', [note.id]),
                _turn("pronoun", "What else did they talk about?",
                      f"What else did {speaker} talk about?", others)]
        else:
            form, turns = "title", [
                _turn("first", f'What is "{note.title}" about?',
                      f'What is "{note.title}" about?', [note.id]),
                _turn("demonstrative", "Who gave it?", f'Who gave "{note.title}"?', [note.id])]
        out.append({"id": stable_id("gen-conv", lib.user, note.id, form), "user_id": lib.user,
                    "made_by": {"form": form, "note": note.id}, "turns": turns})
    return out

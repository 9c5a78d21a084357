"""Questions and pairs made from a user's library (``facts.Library``); each records how it was
made (``made_by``: the form, the note, the sentence or the absent fact).

Answerable, each with its reference note and answer:

- ``who`` / ``when`` of a note's front matter (its title unique in the library), ``which`` note
  a speaker gave on a date (that pair unique), each asserting the name, year or title;
- ``keywords``: a sentence's words that no other note holds, as a search query; ``how_many``:
  the same words asking for the figure the sentence gives (when a plural word follows it).
  Both assert the figure when the sentence has one;
- ``synonym``: a keyword question with one word replaced by another word of the same note that
  means the same there (``synonyms``: the project's embedder decides, no word list).

Unanswerable, near the library and checked against all of its text:

- ``absent_year``: what a speaker of the library said in a year no note mentions;
- ``absent_person``: what a speaker of another library (named nowhere in this one) said;
- ``missing_detail``: a detail a note's subject could have that the note never gives (a time of
  day, a price);
- ``absent_topic``: a tag of another library that no note of this one holds.

Pairs: ``paraphrase`` (the same question reworded) and ``near_miss`` (the asked attribute, the
note, the person or the year changed: another answer).
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Mapping, Sequence

from evals.generate.facts import CLOCK, MONEY, Library, figure_in, long_date, sentences
from evals.generate.synonyms import Swapper, swapped_question

Item = dict[str, object]


def _item(lib: Library, form: str, question: str, note_id: str | None, answer: str,
          scenario: str, made: dict[str, object], checks: Sequence[Mapping[str, object]] = ()
          ) -> Item:
    item: Item = {"user_id": lib.user, "question": question,
                  "reference_note_ids": [note_id] if note_id else [],
                  "reference_answer": answer, "expect_no_context": note_id is None,
                  "scenario": scenario, "made_by": {"writer": "rules", "form": form, **made}}
    if checks:
        item["assert"] = [dict(c) for c in checks]
    return item


def metadata_items(lib: Library) -> list[Item]:
    titles = Counter(n.title for n in lib.notes)
    given = Counter((n.speaker, n.date) for n in lib.notes)
    out = []
    for note in lib.notes:
        if titles[note.title] != 1:
            continue
        made = {"note": note.id, "field": ""}
        if note.speaker:
            out.append(_item(lib, "who", f'Who gave "{note.title}"?', note.id, note.speaker,
                             "metadata", {**made, "field": "speaker"},
                             [{"type": "contains", "value": note.speaker}]))
        when = long_date(note.date)
        if when:
            out.append(_item(lib, "when", f'When was "{note.title}"?', note.id, when,
                             "metadata", {**made, "field": "date"},
                             [{"type": "contains", "value": when.rsplit(" ", 1)[-1]}]))
        if note.speaker and when and given[(note.speaker, note.date)] == 1:
            out.append(_item(lib, "which", f"Which note did {note.speaker} give on {when}?",
                             note.id, note.title, "metadata",
                             {**made, "field": "title"},
                             [{"type": "contains", "value": note.title}]))
    return out


def sentence_items(lib: Library, rng: random.Random, per_note: int) -> list[Item]:
    out = []
    for note in lib.notes:
        usable = [(s, lib.rare_words(note.id, s)) for s in sentences(note.body)]
        usable = [(s, w) for s, w in usable if len(w) >= 2]
        for sentence, rare in rng.sample(usable, min(per_note, len(usable))):
            figure = figure_in(sentence)
            checks = [{"type": "contains", "value": figure[0]}] if figure else []
            made: dict[str, object] = {"note": note.id, "sentence": sentence, "words": rare}
            if figure and figure[1].endswith("s"):  # a count of something plural
                question = f"How many {figure[1]}: {' '.join(rare)}?"
                out.append(_item(lib, "how_many", question, note.id, sentence, "factual",
                                 {**made, "figure": figure[0]}, checks))
            else:
                out.append(_item(lib, "keywords", " ".join(rare), note.id, sentence,
                                 "factual", made, checks))
    return out


def synonym_items(made: Sequence[Item], swapper: Swapper) -> list[Item]:
    """A ``synonym`` twin of the first keyword question of each note that has one: a word of
    the question replaced by the note's word closest to it in meaning (``synonyms``)."""
    out: list[Item] = []
    done: set[object] = set()
    for item in made:
        how = item["made_by"]
        assert isinstance(how, dict)
        if how["form"] != "keywords" or how["note"] in done:
            continue
        asked = [str(w) for w in how["words"]]
        swap = swapper.swap(str(how["note"]), asked)
        if swap is None:
            continue
        done.add(how["note"])
        question = swapped_question(str(item["question"]), swap)
        out.append({**item, "question": question, "made_by": {
            **how, "form": "synonym", "words": question.split(), "from": item["question"],
            "replaced": swap.replaced, "by": swap.by, "cosine": swap.cosine}})
    return out


def unanswerable_items(lib: Library, others: Sequence[Library], year: int | None,
                       rng: random.Random, per_kind: int) -> list[Item]:
    out: list[Item] = []
    refusal = "no context"
    speakers = lib.speakers()
    if year is not None:
        for speaker in speakers[:per_kind]:
            out.append(_item(lib, "absent_year", f"What did {speaker} say in {year}?", None,
                             refusal, "no_context", {"absent": str(year), "speaker": speaker}))
    strangers = sorted({s for o in others for s in o.speakers()
                        if lib.absent(s)})
    for name in rng.sample(strangers, min(per_kind, len(strangers))):
        out.append(_item(lib, "absent_person", f"What did {name} talk about?", None, refusal,
                         "no_context", {"absent": name}))
    details = [("a time of day", CLOCK, 'What time did "{}" start?'),
               ("a price", MONEY, 'How much did "{}" cost?')]
    for label, pattern, template in details:
        lacking = [n for n in lib.notes if not pattern.search(lib.texts[n.id])]
        for note in rng.sample(lacking, min(per_kind, len(lacking))):
            out.append(_item(lib, "missing_detail", template.format(note.title), None, refusal,
                             "no_context", {"note": note.id, "absent": label}))
    topics = sorted({t for o in others for n in o.notes for t in n.tags
                     if len(t) >= 4 and not lib.says(t)})
    for topic in rng.sample(topics, min(per_kind, len(topics))):
        out.append(_item(lib, "absent_topic", f"What do my notes say about {topic}?", None,
                         refusal, "no_context", {"absent": topic}))
    return out


def pairs(lib: Library, rng: random.Random, per_kind: int) -> list[dict[str, object]]:
    """Paraphrase and near-miss pairs of questions about the library's notes."""
    titled = sorted({n.title: n for n in lib.notes}.values(), key=lambda n: n.id)
    out: list[dict[str, object]] = []

    def pair(a: str, b: str, label: str, kind: str) -> None:
        out.append({"user_id": lib.user, "a": a, "b": b, "label": label, "kind": kind})

    for note in rng.sample(titled, min(per_kind, len(titled))):
        if note.speaker:
            pair(f'Who gave "{note.title}"?', f'Who was the speaker of "{note.title}"?',
                 "paraphrase", "reworded")
        if note.date:
            pair(f'When was "{note.title}"?', f'On what date was "{note.title}"?',
                 "paraphrase", "reworded")
        if note.speaker and note.date:
            pair(f'Who gave "{note.title}"?', f'When was "{note.title}"?', "near_miss",
                 "attribute")
    for a, b in zip(titled, titled[1:], strict=False):
        if len([p for p in out if p["kind"] == "subject"]) >= per_kind:
            break
        pair(f'Who gave "{a.title}"?', f'Who gave "{b.title}"?', "near_miss", "subject")
    speakers = lib.speakers()
    for one, other in list(zip(speakers, speakers[1:], strict=False))[:per_kind]:
        pair(f"What did {one} say about it?", f"What did {other} say about it?", "near_miss",
             "person")
    years = sorted({n.date[:4] for n in lib.notes if n.date})
    if speakers and len(years) >= 2:
        pair(f"What did {speakers[0]} say in {years[0]}?",
             f"What did {speakers[0]} say in {years[-1]}?", "near_miss", "year")
    return out

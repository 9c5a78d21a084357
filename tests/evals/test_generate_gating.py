"""Generated items that can gate (issue 63): ids and texts that stay when a note is added or
edited elsewhere, questions that read as questions, no assertion that cannot fail, unanswerable
items checked against all of the user's notes, no other user's names, a report of what was
dropped. The notes are tests/evals/notes_runbooks (an IT team's and a bakery's notes, two
users); the synonym form runs the project's embedder, built once here."""

import json
import re
import shutil
from pathlib import Path

import pytest

from evals.generate.facts import text_of
from evals.generate.write import _project_embedder, generate
from rag_core.ingest.readers import load_notes

NOTES = Path(__file__).parent / "notes_runbooks"
NEW_NOTE = """---
id: ops-006
title: "Runbook: onboarding a new starter"
date: 2026-05-20
speaker: "Lina Haddad"
series: "Runbooks"
tags: [onboarding, accounts]
---

A new starter's account is created from the request form the hiring manager signs. The badge
printer in reception makes the door pass once the account exists in the directory.
"""
WH_OPENING = re.compile(r"^(?:(?:On|In|At|For|From) )?(?:What|Who|When|Which|Where|Why|How)\b",
                        re.IGNORECASE)
DANGLING = re.compile(r"\b(?:it|its|they|them|their|this|that|these|those|he|she|him|her)\b",
                      re.IGNORECASE)


def _squash(text):
    return " ".join(str(text).casefold().split())


def _read(folder):
    qa = [json.loads(line) for line in (folder / "qa.jsonl").read_text().splitlines()]
    pairs = [json.loads(line) for line in
             (folder / "semantic_pairs.jsonl").read_text().splitlines()]
    return qa, pairs


@pytest.fixture(scope="module")
def embed():
    return _project_embedder()


@pytest.fixture(scope="module")
def first(tmp_path_factory, embed):
    out = tmp_path_factory.mktemp("gen") / "first"
    made = generate(NOTES, out, seed=7, embed=embed)
    return made, *_read(out)


def _copy(tmp_path):
    notes = tmp_path / "notes"
    shutil.copytree(NOTES, notes)
    return notes


def _by_id(items):
    return {i["id"]: i["question"] for i in items}


def _note_of(item):
    return item["made_by"].get("note")


def test_ids_and_texts_stay_when_a_note_is_added(first, tmp_path, embed):
    _, qa, pairs = first
    notes = _copy(tmp_path)
    (notes / "priya" / "ops-006.md").write_text(NEW_NOTE)
    again, again_pairs = _read(generate(notes, tmp_path / "again", seed=7, embed=embed).folder)
    before = _by_id(qa)
    after = _by_id(again)
    assert before.items() <= after.items()  # every earlier item: the same id, the same text
    assert {_note_of(i) for i in again if i["id"] not in before} == {"ops-006"}
    kept_pairs = _by_id([{"id": p["id"], "question": (p["a"], p["b"])} for p in again_pairs])
    old_pairs = _by_id([{"id": p["id"], "question": (p["a"], p["b"])} for p in pairs])
    assert old_pairs.items() <= kept_pairs.items()


def test_ids_and_texts_of_other_notes_stay_when_a_note_is_edited(first, tmp_path, embed):
    _, qa, _ = first
    notes = _copy(tmp_path)
    edited = notes / "marco" / "bake-003.md"
    edited.write_text(edited.read_text().replace("The left deck oven", "The old left deck oven")
                      + "\nThe spare heating element now sits in the maintenance cupboard.\n")
    again, _ = _read(generate(notes, tmp_path / "again", seed=7, embed=embed).folder)
    after = _by_id(again)
    others = {i["id"]: i["question"] for i in qa if _note_of(i) != "bake-003"}
    assert others and others.items() <= after.items()


def test_no_template_word_and_no_dangling_pronoun_in_questions_and_pairs(first):
    _, qa, pairs = first
    texts = [(i["question"], i["made_by"]["form"]) for i in qa]
    texts += [(p[side], "pair") for p in pairs for side in ("a", "b")]
    for text, form in texts:
        outside = re.sub(r'"[^"]*"', '""', text)
        assert not re.search(r"\b[A-Z]{2,}:|[{}<>]", outside), text
        assert not DANGLING.search(outside), text
        if form in ("keyword", "synonym"):
            assert not text.endswith("?") and 2 <= len(text.split()) <= 5, text
        else:
            assert text.endswith("?") and WH_OPENING.match(text), text


def test_no_assertion_that_cannot_fail_is_written(first):
    made, qa, _ = first
    texts = {u.name: [_squash(text_of(n)) for n in load_notes(u)] for u in NOTES.iterdir()}
    written = [(i, c["value"]) for i in qa for c in i.get("assert", [])]
    assert written
    for item, value in written:
        assert not re.fullmatch(r"\d{1,2}", str(value)), item  # "[1]" would hold it
        assert _squash(value) not in _squash(item["question"]), item
        assert not all(_squash(value) in t for t in texts[item["user_id"]]), item
    # every note is of 2026: the year a "when" question would assert is counted, not written
    assert made.report.assertions_not_written["every note of the user holds it"] >= 10
    assert made.report.unsound == 0
    report = json.loads((made.folder / "generate_report.json").read_text())
    assert report["assertions_that_cannot_fail_written"] == 0
    assert report["assertions_written"] == len(written)


def test_unanswerable_items_are_checked_against_every_note_of_the_user(tmp_path, embed):
    notes = _copy(tmp_path)
    # a note of marco's that mentions the year before his notes' earliest: no longer absent
    (notes / "marco" / "bake-006.md").write_text(
        '---\nid: bake-006\ntitle: "Ten years of the bakery"\ndate: 2026-06-01\n'
        'speaker: "Giulia Conti"\n---\n\nThe bakery opened in 2025 with one oven and two '
        "bakers, and the first wholesale customer came a year later.\n")
    qa, _ = _read(generate(notes, tmp_path / "out", seed=7, embed=embed).folder)
    texts = {u.name: [_squash(text_of(n)) for n in load_notes(u)] for u in notes.iterdir()}
    unanswerable = [i for i in qa if i["expect_no_context"] and i["user_id"] == "marco"]
    assert "absent_year" in {i["made_by"]["form"] for i in unanswerable}
    for item in unanswerable:
        absent = _squash(item["made_by"]["absent"])
        assert absent != "2025" and not any(absent in t for t in texts["marco"]), item


def test_a_users_items_name_no_other_users_speakers_tags_or_titles(first):
    _, qa, pairs = first
    names: dict[str, set[str]] = {}
    for user in NOTES.iterdir():
        for note in load_notes(user):
            found = names.setdefault(user.name, set())
            found |= {note.title, *(note.tags)} | ({note.speaker} if note.speaker else set())
    rows = [(i["user_id"], i["question"]) for i in qa]
    rows += [(p["user_id"], f'{p["a"]} {p["b"]}') for p in pairs]
    for user, text in rows:
        foreign = set().union(*(v for u, v in names.items() if u != user)) - names[user]
        assert not [n for n in foreign if re.search(rf"\b{re.escape(n)}\b", text, re.I)], text


def test_the_drop_report_is_printed_and_written_beside_the_dataset(first, tmp_path, capsys):
    from evals import cli

    made, qa, _ = first
    report = json.loads((made.folder / "generate_report.json").read_text())
    assert sum(report["kept_by_form"].values()) == len(qa)
    assert report["dropped_by_reason"] == dict(made.report.dropped)
    assert "kept by form:" in (made.folder / "generate_report.md").read_text()
    assert cli.main(["generate", "--notes", str(NOTES), "--users", "priya",
                     "--out", str(tmp_path / "priya")]) == 0
    printed = capsys.readouterr().out
    assert "dropped by the checks:" in printed and "written that cannot fail: 0" in printed

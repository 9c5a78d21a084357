"""What a note's fields may hold, read the same way from Markdown front matter and JSON lines:
bounded lengths, no control or bidirectional characters, real dates, ids that a path can reach;
and a question never fails on a value stored before these checks."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from rag_core.decisions import note_facts
from rag_core.errors import InvalidNote
from rag_core.ingest.notes import note_from_record, note_id_problem
from rag_core.ingest.readers import load_notes
from rag_core.ingest.readers.markdown import parse_markdown
from rag_core.text import named

BODY = "Grace meets us where we are and walks with us."
TOO_LONG = [("speaker", "s" * 121), ("series", "r" * 121),
            ("tags", [f"tag{i}" for i in range(21)]), ("tags", ["x" * 41]),
            ("scripture", [f"Psalm {i}" for i in range(41)])]
AT_THE_LIMIT = {"title": "t" * 300, "speaker": "s" * 120, "series": "r" * 120,
                "tags": [f"{i:02d}" + "x" * 38 for i in range(20)]}


def markdown(fields: dict[str, object]) -> str:
    lines = [f"{k}: {json.dumps(v)}" for k, v in fields.items()]
    return "---\n" + "\n".join(lines) + "\n---\n" + BODY + "\n"


@pytest.mark.parametrize("field,value", TOO_LONG)
def test_a_field_over_its_limit_is_refused_naming_the_field(field: str, value: object) -> None:
    fields = {"id": "n1", "title": "Grace", field: value}
    with pytest.raises(InvalidNote, match=f"the field '{field}'.*at most"):
        parse_markdown(markdown(fields), "n1.md")
    with pytest.raises(InvalidNote, match=f"the field '{field}'.*at most") as info:
        note_from_record({**fields, "body": BODY}, "notes.jsonl", line=3)
    assert info.value.code == "INVALID_NOTE" and "notes.jsonl:3" in info.value.message


def test_a_long_title_keeps_the_note_whole_and_bounds_what_is_repeated() -> None:
    title = ("Effects of " + "a long clinical abstract title " * 12)[:367]  # as a real one
    assert len(title) == 367
    for note in (note_from_record({"id": "n1", "title": title, "body": BODY}, "a.jsonl"),
                 parse_markdown(markdown({"id": "n1", "title": title}), "n1.md")):
        assert len(note.title) <= 300 and note.title.endswith("\u2026")
        assert title.startswith(note.title[:-1])
        assert note.body.startswith(title + "\n\n") and note.body.endswith(BODY)


def test_fields_at_their_limits_are_kept_whole() -> None:
    note = note_from_record({"id": "n1", "body": BODY, **AT_THE_LIMIT}, "notes.jsonl")
    assert note.title == AT_THE_LIMIT["title"] and len(note.tags) == 20
    assert parse_markdown(markdown({"id": "n1", **AT_THE_LIMIT}), "n1.md").speaker == "s" * 120


@pytest.mark.parametrize("field,value,code_point", [
    ("speaker", "Ruth\u0085Okafor", "U+0085"),  # C1 next line
    ("speaker", "Ruth\u009bOkafor", "U+009B"),  # C1 control sequence introducer
    ("title", "Grace \u202eecarG", "U+202E"),  # right-to-left override
    ("series", "Titus\u2066 isolate", "U+2066"),
    ("tags", ["ok", "left\u200fmark"], "U+200F"),
    ("title", "Two\nlines", "U+000A"),
    # characters that print as nothing: the note ids' rule holds for fields too
    ("speaker", "Ruth\u200bOkafor", "U+200B"),  # zero-width space
    ("title", "Grace\u2028Notes", "U+2028"),  # line separator
    ("series", "Titus\u2029Epistles", "U+2029"),  # paragraph separator
    ("tags", ["ok", "priv\ue000"], "U+E000"),  # private use
])
def test_fields_refuse_control_and_bidirectional_characters(field: str, value: object,
                                                            code_point: str) -> None:
    with pytest.raises(InvalidNote, match=f"the field .{field}.*{re.escape(code_point)}"):
        note_from_record({"id": "n1", "title": "Grace", "body": BODY, field: value}, "n")


def test_a_body_keeps_its_own_rule_for_tabs_and_line_breaks() -> None:
    note = note_from_record({"id": "n1", "title": "Grace", "body": "One\tline\nand another"},
                            "n")
    assert note.body == "One\tline\nand another"


@pytest.mark.parametrize("date", ["2019-Se-01", "2019-02-30", "2019-13", "20190901",
                                  "next Sunday", "2019-W01", "2019-09-01T25:00",
                                  # digits of other scripts: compared as text they sort wrongly
                                  "\u0661\u0669\u0661\u0669", "\uff11\uff19\uff11\uff19-01"])
def test_a_date_that_is_no_real_date_is_refused_on_every_reader(date: str,
                                                                tmp_path: Path) -> None:
    with pytest.raises(InvalidNote, match="the field 'date'"):
        parse_markdown(f"---\ntitle: Grace\ndate: {date}\n---\n{BODY}\n", "n.md")
    with pytest.raises(InvalidNote, match="the field 'date'"):
        note_from_record({"id": "n1", "title": "Grace", "body": BODY, "date": date}, "n")
    (tmp_path / "a.md").write_text(f"---\ntitle: Fine\n---\n{BODY}\n", encoding="utf-8")
    (tmp_path / "b.md").write_text(f"---\ntitle: Grace\ndate: {date}\n---\n{BODY}\n",
                                   encoding="utf-8")
    with pytest.raises(InvalidNote, match="b.md"):
        load_notes(tmp_path)


@pytest.mark.parametrize("date,stored", [
    ("2019-09-01", "2019-09-01"), ("2019-09", "2019-09"), ("2019", "2019"),
    ("2019-09-01 00:00:00", "2019-09-01"), ("2019-09-01T10:30:00", "2019-09-01T10:30:00"),
    ("2024-02-29", "2024-02-29"),
])
def test_real_dates_are_kept_in_iso_form(date: str, stored: str) -> None:
    assert parse_markdown(f"---\ntitle: Grace\ndate: {date}\n---\n{BODY}\n", "n.md").date \
        == stored
    assert note_from_record({"id": "n", "title": "G", "body": BODY, "date": date}, "n").date \
        == stored


@pytest.mark.parametrize("note_id", [".", ".."])
def test_dot_segments_are_not_note_ids(note_id: str) -> None:
    assert note_id_problem(note_id)
    assert note_id_problem(f"{note_id}x") is None and note_id_problem("a.b") is None


@pytest.mark.parametrize("stored", ["2019-Se-01", "2019-02-30", "Sept 2019", "2019-", "",
                                    "2019-09-01T10:00", "x" * 50])
def test_a_question_naming_a_month_survives_any_stored_date(stored: str) -> None:
    facts = note_facts.of_notes([("Grace for the tired.", {"date": stored, "title": "Grace"})])
    asked = named.asked("What did the September 2019 note say about grace?")
    missing = dict(note_facts.absent(asked, facts))["dates"][1]
    assert ("September" in missing) is (stored not in ("2019-09-01T10:00", "Sept 2019"))

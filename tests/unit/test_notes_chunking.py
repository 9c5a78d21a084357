"""Reading notes (Markdown + YAML front matter, JSON lines) and token-aware chunking.

Budgets are checked with the real tokenizer, never with character counts.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rag_core.errors import InvalidNote
from rag_core.ingest.chunking import chunk_note, embedding_text, split_paragraphs
from rag_core.ingest.notes import note_hash
from rag_core.ingest.readers import load_notes
from rag_core.ingest.readers.markdown import parse_markdown
from rag_core.text.sentences import sentence_spans, split_sentences
from rag_core.tokens import TokenCounter
from rag_core.types import Note

COUNTER = TokenCounter()

MARKDOWN = """---
id: grace-2024-03
title: Grace that teaches
date: 2024-03-10
speaker: Ruth Okafor
series: Titus
tags: [grace, discipleship]
scripture: Titus 2:11-14, Ephesians 2:8
---
Grace does not only forgive; it trains us.

We talked about saying no to what shrinks us.
"""


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


# --- notes -------------------------------------------------------------------------------


def test_markdown_with_front_matter(tmp_path: Path) -> None:
    (n,) = load_notes(write(tmp_path / "grace.md", MARKDOWN))
    assert n.id == "grace-2024-03"
    assert n.title == "Grace that teaches"
    assert n.date == "2024-03-10"  # a YAML date becomes an ISO string
    assert n.speaker == "Ruth Okafor" and n.series == "Titus"
    assert n.tags == ("grace", "discipleship")
    assert n.scripture == ("Titus 2:11-14", "Ephesians 2:8")
    assert n.body == ("Grace does not only forgive; it trains us.\n\n"
                      "We talked about saying no to what shrinks us.")


def test_id_from_file_name_and_heading_title(tmp_path: Path) -> None:
    path = write(tmp_path / "Sunday Notes 03.md", "# Rest for the weary\n\nCome to me.\n")
    (n,) = load_notes(path)
    assert n.id == "sunday-notes-03"
    assert n.title == "Rest for the weary"
    assert n.body == "Come to me."
    assert load_notes(path)[0].id == n.id  # stable


def test_json_lines(tmp_path: Path) -> None:
    lines = [
        {"id": "a", "title": "A", "body": "Alpha.", "tags": "hope, joy", "scripture": ["Ps 23"]},
        {"title": "B", "body": "Beta.", "date": "2024-01-07", "speaker": "Dan"},
    ]
    path = write(tmp_path / "lib.jsonl", "\n".join(json.dumps(x) for x in lines) + "\n\n")
    a, b = load_notes(path)
    assert (a.id, a.tags, a.scripture) == ("a", ("hope", "joy"), ("Ps 23",))
    assert (b.id, b.date, b.speaker) == ("lib-2", "2024-01-07", "Dan")


def test_folder_is_read_recursively_and_sorted(tmp_path: Path) -> None:
    write(tmp_path / "b.md", "---\ntitle: B\n---\nbee\n")
    write(tmp_path / "sub" / "a.md", "---\ntitle: A\n---\nay\n")
    write(tmp_path / "sub" / "c.jsonl", json.dumps({"id": "c", "title": "C", "body": "sea"}))
    write(tmp_path / ".hidden" / "x.md", "not a note")
    write(tmp_path / "readme.txt", "plain text is a note too")
    # ids come from the path relative to the folder: a nested file's folder is in its id
    assert [n.id for n in load_notes(tmp_path)] == ["b", "readme", "sub--a", "c"]


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        ("yaml.md", "---\ntitle: T\ntags: [a, b\n---\nBody.\n", r"yaml\.md:\d+: bad YAML"),
        ("empty.md", "---\ntitle: T\n---\n\n   \n", r"empty\.md:4: empty body"),
        ("open.md", "---\ntitle: T\nBody.\n", r"open\.md:1: front matter is not closed"),
        ("list.md", "---\n- a\n- b\n---\nBody.\n", r"list\.md:2: front matter must be"),
        ("tags.md", "---\ntitle: T\ntags: {a: 1}\n---\nB.\n", r"tags\.md:1: tags must be"),
        ("bad.jsonl", '{"title": "A", "body": "x"}\n{"title": \n', r"bad\.jsonl:2: bad JSON"),
        ("nobody.jsonl", '{"title": "A"}\n', r"nobody\.jsonl:1: empty body"),
        ("array.jsonl", "[1, 2]\n", r"array\.jsonl:1: each line must be a JSON object"),
    ],
)
def test_bad_notes_name_file_line_and_problem(tmp_path: Path, name: str, text: str,
                                              expected: str) -> None:
    with pytest.raises(InvalidNote, match=expected) as err:
        load_notes(write(tmp_path / name, text))
    assert err.value.code == "INVALID_NOTE"


def test_bad_yaml_points_at_the_line(tmp_path: Path) -> None:
    text = "---\ntitle: T\nspeaker: Ann\nseries: [unclosed\n---\nBody.\n"
    with pytest.raises(InvalidNote, match=r"y\.md:[45]: bad YAML"):
        load_notes(write(tmp_path / "y.md", text))


def test_duplicate_ids_and_missing_path(tmp_path: Path) -> None:
    write(tmp_path / "one.md", "---\nid: same\ntitle: One\n---\nx\n")
    write(tmp_path / "two.md", "---\nid: same\ntitle: Two\n---\ny\n")
    with pytest.raises(InvalidNote, match=r"two\.md: duplicate note id 'same'.*one\.md"):
        load_notes(tmp_path)
    with pytest.raises(InvalidNote, match="no such file"):
        load_notes(tmp_path / "missing")


def test_note_hash_is_stable_and_covers_metadata() -> None:
    n = parse_markdown(MARKDOWN, "grace.md")
    assert note_hash(n) == note_hash(parse_markdown(MARKDOWN, "grace.md"))
    assert len(note_hash(n)) == 64
    assert note_hash(replace(n, body=n.body + "!")) != note_hash(n)
    assert note_hash(replace(n, speaker="Someone else")) != note_hash(n)
    assert note_hash(replace(n, scripture=("Titus 2:11",))) != note_hash(n)
    assert note_hash(replace(n, tags=("grace",))) != note_hash(n)


# --- chunking ----------------------------------------------------------------------------

SENTENCES = [
    "Grace does not only forgive; it trains us to say no to what shrinks us.",
    "Dr. Okafor reminded us that waiting on God is not wasted time.",
    "Abraham waited for years and still trusted the promise.",
    "Hospitality opens doors that arguments never do.",
    "We read Micah 6:8 aloud and sat quietly for a while.",
    "Prayer in seasons of delay grows patience in community!",
    "Who is my neighbour?",
    "The prophets kept calling Israel back to care for the widow and the stranger.",
]


def make_note(paragraphs: list[str]) -> Note:
    return Note(id="n", title="T", body="\n\n".join(paragraphs))


def para(i: int, n: int) -> str:
    return " ".join(SENTENCES[(i + k) % len(SENTENCES)] for k in range(n))


def test_short_paragraphs_are_packed_whole() -> None:
    paragraphs = [para(i, 2) for i in range(8)]
    chunks = chunk_note(make_note(paragraphs), COUNTER, 80, 0)
    assert len(chunks) > 1
    for c in chunks:
        assert COUNTER.count(c.text) <= 80
        # with no overlap every chunk is a run of whole paragraphs
        assert all(p in paragraphs for p in c.text.split("\n\n"))
    assert "\n\n".join(c.text for c in chunks) == "\n\n".join(paragraphs)
    assert [c.ordinal for c in chunks] == list(range(len(chunks)))
    for c in chunks:
        assert c.content_hash == hashlib.sha256(c.text.encode()).hexdigest()


def test_long_paragraph_splits_at_sentences_with_overlap() -> None:
    long = para(0, 16)
    chunks = chunk_note(make_note([long]), COUNTER, 60, 20)
    assert len(chunks) >= 3
    sentences = {long[s:e] for s, e in sentence_spans(long)}
    for prev, c in zip(chunks, chunks[1:], strict=False):
        assert COUNTER.count(c.text) <= 60
        spans = list(sentence_spans(c.text))
        assert all(c.text[s:e] in sentences for s, e in spans)  # whole sentences only
        first = c.text[spans[0][0]:spans[0][1]]
        assert prev.text.endswith(first) or first in prev.text  # overlap from the previous
        overlap = _overlap(prev.text, c.text)
        assert 0 < COUNTER.count(overlap) <= 20
    assert "Dr. Okafor reminded us" in " ".join(c.text for c in chunks)  # no split after "Dr."


def _overlap(prev: str, cur: str) -> str:
    for size in range(min(len(prev), len(cur)), 0, -1):
        if prev.endswith(cur[:size]):
            return cur[:size]
    return ""


def test_giant_sentence_is_cut_at_token_boundaries() -> None:
    words = ["grace", "mercy", "justice", "Hebrews", "covenant", "Wiśniewski",
             "extraordinarily", "reconciliation"]
    giant = " ".join(words[i % len(words)] for i in range(400))  # no sentence end at all
    chunks = chunk_note(make_note(["Intro sentence.", giant]), COUNTER, 50, 10)
    assert all(COUNTER.count(c.text) <= 50 for c in chunks)
    text = " ".join(c.text for c in chunks)
    assert all(w in text.split() for w in words)
    for c in chunks[1:]:
        assert c.text.split()[0] in words  # no piece starts inside a word


def test_chunking_rejects_bad_budgets() -> None:
    with pytest.raises(ValueError):
        chunk_note(make_note(["x"]), COUNTER, 10, 10)
    with pytest.raises(ValueError):
        chunk_note(make_note(["x"]), COUNTER, 0, 0)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    shape=st.lists(st.integers(min_value=1, max_value=14), min_size=1, max_size=8),
    start=st.integers(min_value=0, max_value=7),
    max_tokens=st.integers(min_value=32, max_value=160),
    overlap_share=st.floats(min_value=0.0, max_value=0.5),
)
def test_budgets_hold_and_fitting_paragraphs_stay_whole(
    shape: list[int], start: int, max_tokens: int, overlap_share: float
) -> None:
    overlap = int(max_tokens * overlap_share)
    paragraphs = [para(start + i, n) for i, n in enumerate(shape)]
    chunks = chunk_note(make_note(paragraphs), COUNTER, max_tokens, overlap)
    assert chunks
    assert all(COUNTER.count(c.text) <= max_tokens for c in chunks)
    for p in paragraphs:
        if COUNTER.count(p) <= max_tokens:
            assert any(p in c.text for c in chunks), "a paragraph that fits was split"
    joined = " ".join(c.text for c in chunks)
    for p in paragraphs:
        for s, e in sentence_spans(p):
            assert p[s:e] in joined  # every sentence (all fit the budget) is kept whole
    assert chunk_note(make_note(paragraphs), COUNTER, max_tokens, overlap) == chunks


def test_split_paragraphs_and_sentences() -> None:
    assert split_paragraphs("a\n\n\n b \r\n\r\nc\n") == ["a", "b", "c"]
    text = "One. Two? Three!\nFour\u2026 St. Paul wrote v. 3 too."
    assert [text[s:e] for s, e in sentence_spans(text)] == [
        "One.", "Two?", "Three!", "Four\u2026", "St. Paul wrote v. 3 too."]


def test_a_sentence_goes_on_after_a_stop_that_a_lowercase_word_follows() -> None:
    """Chunking and the extractive generator share one splitter: "6 p.m. until" and a quoted
    question that the sentence goes on after end no sentence for either."""
    text = 'We met at 6 p.m. until late. She asked "why?" and waited. Rom. 8 came next.'
    expected = ["We met at 6 p.m. until late.", 'She asked "why?" and waited.',
                "Rom. 8 came next."]
    assert [text[s:e] for s, e in sentence_spans(text)] == expected
    assert split_sentences(text) == expected


def test_embedding_text_has_a_metadata_header() -> None:
    n = parse_markdown(MARKDOWN, "grace.md")
    text = embedding_text(n, "Grace does not only forgive; it trains us.")
    header, body = text.split("\n\n", 1)
    assert body == "Grace does not only forgive; it trains us."
    for part in ("Grace that teaches", "Ruth Okafor", "Titus", "2024-03-10",
                 "Titus 2:11-14; Ephesians 2:8"):
        assert part in header
    bare = embedding_text(Note(id="x", title="Only a title", body="b"), "b")
    assert bare == "Title: Only a title\n\nb"

"""The golden data set keeps the promises of its card (golden/README.md)."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
import yaml

GOLDEN = Path(__file__).resolve().parents[2] / "golden"
SCENARIOS = {"factual", "synthesis", "metadata", "no_context", "adversarial"}
UNIQUE_TOPICS = {
    "amara": ["Nehemiah"],
    "ben": ["Jonah"],
    "chloe": ["Boaz", "broom tree"],
    "david": ["Malta", "talents"],
}


def _notes() -> dict[str, tuple[str, dict, str]]:
    notes = {}
    for path in sorted(GOLDEN.glob("notes/*/*.md")):
        _, front, body = path.read_text().split("---", 2)
        meta = yaml.safe_load(front)
        notes[str(meta["id"])] = (path.parent.name, meta, body.strip())
    return notes


def _jsonl(pattern: str) -> list[dict]:
    rows = []
    for path in sorted(GOLDEN.glob(pattern)):
        rows += [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return rows


@pytest.fixture(scope="module")
def notes() -> dict[str, tuple[str, dict, str]]:
    return _notes()


def test_corpus_size_and_fields(notes) -> None:
    assert len(notes) >= 60
    owners = Counter(owner for owner, _, _ in notes.values())
    assert len(owners) >= 3
    for note_id, (owner, meta, body) in notes.items():
        assert note_id.startswith(owner + "-")
        for field in ("title", "date", "speaker", "series", "tags", "scripture"):
            assert meta.get(field), f"{note_id} lacks {field}"
        assert len(body.split("\n\n")) >= 3, f"{note_id} needs several paragraphs"


def test_qa_references_are_exact_and_owned(notes) -> None:
    qa = _jsonl("qa/*.jsonl")
    assert len(qa) >= 150
    assert len({row["id"] for row in qa}) == len(qa)
    assert {row["scenario"] for row in qa} == SCENARIOS
    for row in qa:
        for note_id in row["reference_note_ids"]:
            owner, _, _ = notes[note_id]
            assert owner == row["user_id"], row["id"]
        bodies = [notes[n][2] for n in row["reference_note_ids"]]
        for text in row["reference_chunk_texts"]:
            assert any(text in body for body in bodies), f"{row['id']}: not verbatim: {text[:40]}"
        if row["expect_no_context"]:
            assert row["reference_note_ids"] == []
        assert (row["attack"] is not None) == (row["scenario"] == "adversarial")


def test_unique_topics_live_in_one_library(notes) -> None:
    for owner, topics in UNIQUE_TOPICS.items():
        for topic in topics:
            holders = {o for o, _, body in notes.values() if topic.lower() in body.lower()}
            assert holders == {owner}, f"{topic!r} found in {holders}"


def test_semantic_pairs_are_labelled() -> None:
    pairs = _jsonl("semantic_pairs/*.jsonl")
    labels = Counter(p["label"] for p in pairs)
    assert labels["paraphrase"] >= 40 and labels["near_miss"] >= 40
    assert set(labels) == {"paraphrase", "near_miss"}
    assert all(p["a"] != p["b"] for p in pairs)


CHANNELS = {"body", "title", "front_matter"}
PAYLOAD_KINDS = {"marker", "url", "html", "citation"}


def _front_matter_text(meta: dict, *, title: bool) -> str:
    if title:
        return str(meta["title"])
    return " ".join(str(v) for k, v in meta.items() if k not in ("id", "title", "date"))


def test_indirect_items_carry_their_instruction_where_they_say(notes) -> None:
    """Each indirect-injection item names a note of the asker whose body, title or other
    front matter carries the planted instruction, with every payload canary written there."""
    items = _jsonl("qa/indirect.jsonl")
    assert len(items) >= 12
    for row in items:
        assert row["attack"] == "indirect" and row["scenario"] == "adversarial"
        assert row["channel"] in CHANNELS and row["canaries"], row["id"]
        assert len(row["reference_note_ids"]) == 1 and not row["expect_no_context"]
        owner, meta, body = notes[row["reference_note_ids"][0]]
        where = body if row["channel"] == "body" else \
            _front_matter_text(meta, title=row["channel"] == "title")
        for canary in row["canaries"]:
            if canary["kind"] in PAYLOAD_KINDS:
                assert canary["value"] in where, f"{row['id']}: {canary['value']} not planted"
            else:  # system_prompt / other_user: a request addressed to the assistant
                assert "assistant" in where.lower() or "AI" in where, row["id"]
    assert {row["channel"] for row in items} == CHANNELS


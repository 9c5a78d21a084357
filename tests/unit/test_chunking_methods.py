"""``RAG_CHUNKING``: three ways to cut a note, each within the token budget; the default is the
method that was fixed before the knob (so stored hashes stay valid); a bad value refused at
start naming the variable and the values."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from rag_core.config import Settings
from rag_core.ingest.chunking import chunk_note
from rag_core.ingest.ingestion import stored_hash
from rag_core.tokens import default_counter
from rag_core.types import Note

SECTION = ("The elders met on Tuesday. They prayed for the sick and read the letters. "
           "Each deacon gave a short report on the food bank and the winter shelter. ")
BODY = (f"Opening words before any heading.\n\n## Budget\n\n{SECTION * 3}\n\n"
        f"## Buildings\n\n{SECTION * 2}The roof fund reached 4,200 dollars.\n")
NOTE = Note(id="minutes", title="Minutes", body=BODY)


@pytest.mark.parametrize("method", ["heading", "sentences", "window"])
def test_every_method_keeps_the_budget_and_the_text(method: str) -> None:
    counter = default_counter()
    chunks = chunk_note(NOTE, counter, 64, 8, method)
    assert chunks and all(counter.count(c.text) <= 64 for c in chunks)
    assert "4,200 dollars" in chunks[-1].text
    assert [c.ordinal for c in chunks] == list(range(len(chunks)))


def test_heading_chunks_never_span_two_sections() -> None:
    chunks = chunk_note(NOTE, default_counter(), 64, 8, "heading")
    for chunk in chunks:
        assert not ("## Budget" in chunk.text and "## Buildings" in chunk.text)
    assert any(c.text.startswith("## Buildings") for c in chunks)
    assert chunks[0].text == "Opening words before any heading."


def test_windows_overlap_and_ignore_structure() -> None:
    counter = default_counter()
    chunks = chunk_note(NOTE, counter, 40, 10, "window")
    assert len(chunks) >= 5
    first_tail = chunks[0].text.split()[-3:]
    assert " ".join(first_tail) in chunks[1].text  # the overlap carries the last words on


def test_the_default_is_the_method_before_the_knob_and_its_hashes_stay() -> None:
    default = Settings(profile="ci")
    assert default.embedding.chunking == "sentences"
    assert chunk_note(NOTE, default_counter(), 64, 8) == \
        chunk_note(NOTE, default_counter(), 64, 8, "sentences")
    other = default.with_overrides(chunking="heading")
    assert stored_hash(NOTE, other) != stored_hash(NOTE, default)


def test_a_bad_value_is_refused_naming_the_variable_and_the_values(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAG_CHUNKING", "paragraphs")
    with pytest.raises(ValidationError) as info:
        Settings(profile="ci")
    message = str(info.value)
    assert "RAG_CHUNKING" in message and "heading, sentences, window" in message

"""A text's scripture references are read once (``nlp._references`` is memoised) and come out
as pythonbible gives them, however often and in whatever order they are asked for."""

from __future__ import annotations

from rag_core.text import nlp


def test_references_are_those_of_pythonbible_and_the_same_when_asked_again() -> None:
    import pythonbible as pb

    text = "What did she say about Genesis 12:1-4 and chapter 3 of Daniel?"
    first = nlp.references(text)
    assert [(r.book.name, r.start_chapter) for r in first] == [
        (r.book.name, r.start_chapter)
        for r in pb.get_references("What did she say about Genesis 12:1-4 and Daniel 3?")]
    first.clear()  # a caller's list is its own
    assert nlp.scripture_refs(text) == {"GENESIS 12:1-12:4", "DANIEL 3"}
    assert nlp.passages(text) == {("GENESIS", 12, 12), ("DANIEL", 3, 3)}
    assert len(nlp.references(text)) == 2


def test_a_text_without_a_chapter_has_no_reference() -> None:
    assert nlp.references("What did the pastor say about Daniel?") == []

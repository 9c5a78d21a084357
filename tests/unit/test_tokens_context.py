from rag_core.context import context_tokens, format_source, select_context
from rag_core.tokens import default_counter
from rag_core.types import Chunk


def chunk(n: int, words: int, score: float = 0.9) -> Chunk:
    return Chunk(chunk_id=f"n{n}:0", note_id=f"n{n}", user_id="u", ordinal=0,
                 text=" ".join(["grace"] * words), score=score,
                 metadata={"title": f"Note {n}", "speaker": "Pastor A", "date": "2024-01-07",
                           "series": "S", "scripture": ["John 3:16"], "tags": ["grace"]})


def test_count_is_a_real_tokenizer_not_characters() -> None:
    counter = default_counter()
    # WordPiece splits a rare word into several pieces and keeps a common word whole.
    assert counter.count("grace") == 1
    assert counter.count("Habakkuk") > 1
    assert counter.count("") == 0


def test_truncate_cuts_at_token_boundary() -> None:
    counter = default_counter()
    text, cut = counter.truncate("one two three four five six", 3)
    assert cut and text == "one two three"
    same, cut2 = counter.truncate("one two", 3)
    assert not cut2 and same == "one two"


def test_context_respects_budget_and_order() -> None:
    counter = default_counter()
    chunks = [chunk(i, 150, score=1 - i / 10) for i in range(1, 8)]
    selected = select_context(chunks, counter, 1200)
    assert context_tokens(selected, counter) <= 1200
    assert [c.note_id for c in selected] == [c.note_id for c in chunks[: len(selected)]]
    assert 1 <= len(selected) < len(chunks)


def test_context_includes_metadata() -> None:
    text = format_source(1, chunk(1, 5))
    for part in ("[1] Note 1", "Pastor A", "2024-01-07", "John 3:16"):
        assert part in text


def test_oversized_best_chunk_is_cut_not_dropped() -> None:
    counter = default_counter()
    selected = select_context([chunk(1, 3000)], counter, 200)
    assert len(selected) == 1
    assert context_tokens(selected, counter) <= 200


def test_skips_a_chunk_that_does_not_fit_but_keeps_smaller_ones() -> None:
    counter = default_counter()
    chunks = [chunk(1, 100), chunk(2, 500), chunk(3, 50)]
    # 250: the two small ones as rendered for the prompt (header, text, <note> wrapper)
    selected = select_context(chunks, counter, 250)
    assert [c.note_id for c in selected] == ["n1", "n3"]

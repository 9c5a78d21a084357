"""A semantic entry is a typed record encoded and decoded in one place
(``rag_core.cache.semantic_record``): what it encodes reads back the same, an entry written
before the record existed still reads, and a value it cannot read is a miss, never an error."""

from __future__ import annotations

import msgpack

from rag_core.cache.semantic_record import IndexLine, SemanticEntry
from rag_core.decisions.semantic_rules import Evidence

LINE = IndexLine(b"\x00\x00\x80?" * 4, 100.0, 700.0, (("what", "what"), ("door", "door")))
ENTRY = SemanticEntry("What door?", LINE, Evidence(("n1:0:h",), ("n1",), ("The red door.",)),
                      answer=b"packed answer")


def test_an_entry_reads_back_what_it_encoded() -> None:
    assert SemanticEntry.decode(ENTRY.encode()) == ENTRY
    assert IndexLine.decode(LINE.encode()) == LINE
    assert IndexLine.decode(ENTRY.encode()) == LINE  # the line's keys are the entry's own


def test_in_redis_an_entry_names_the_key_of_its_answer_instead_of_holding_it() -> None:
    there = ENTRY.elsewhere("rag:stale:k")
    raw = msgpack.unpackb(there.encode(), raw=False)
    assert "a" not in raw and raw["r"] == "rag:stale:k"
    again = SemanticEntry.decode(there.encode())
    assert again is not None and again.answer == b"" and again.answer_at == "rag:stale:k"


def test_an_entry_written_before_the_record_existed_still_reads() -> None:
    # the map the cache wrote before: the same schema, written key by key
    old = msgpack.packb({"q": "What door?", "v": LINE.vector, "a": b"packed answer",
                         "x": {"c": ["n1:0:h"], "n": ["n1"], "t": ["The red door."]},
                         "t": 100.0, "e": 700.0, "c": [["what", "what"], ["door", "door"]]},
                        use_bin_type=True)
    assert SemanticEntry.decode(old) == ENTRY
    assert len(old) == len(ENTRY.encode())  # the same bytes held in Redis


def test_a_value_that_does_not_read_is_a_miss() -> None:
    for raw in (b"", b"\xc1", msgpack.packb([1, 2]), msgpack.packb({"q": "no vector"}),
                msgpack.packb({"v": b"v", "t": 1.0, "e": 2.0}, use_bin_type=True)):
        assert SemanticEntry.decode(raw) is None
    assert IndexLine.decode(b"\xc1") is None
    no_form = IndexLine.decode(msgpack.packb({"v": b"v"}, use_bin_type=True))
    assert no_form == IndexLine(b"v", 0.0, float("inf"), None)  # never expires, no twin


def test_a_line_read_again_is_the_line_decoded_once_and_new_bytes_are_decoded_anew() -> None:
    raw = LINE.encode()
    first = IndexLine.read(bytes(raw))  # a fresh object each time, as Redis answers
    assert first == IndexLine.decode(raw) == LINE
    assert IndexLine.read(bytes(raw)) is first  # remembered by its bytes
    rewritten = IndexLine(LINE.vector, 200.0, 800.0, LINE.form)  # the entry written again
    assert IndexLine.read(rewritten.encode()) == rewritten
    assert IndexLine.read(b"\xc1") is None  # a line that does not decode stays a miss

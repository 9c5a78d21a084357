"""The compact form of a cached answer: the same dict back (each note's id and title kept once),
older plain entries still read, and an answer over the byte limit not kept."""

from __future__ import annotations

from rag_core.answer import Answer
from rag_core.cache import answer_codec
from rag_core.cache.layers import layers_for
from rag_core.cache.semantic import judge_for
from rag_core.config import Settings
from rag_core.redis_kv import codec
from rag_core.redis_kv.keys import notes_version_key
from rag_core.types import Citation, RetrievedRow, TokenUsage


def answer(rows: int, title: str = "A long title " * 20) -> Answer:
    retrieved = [RetrievedRow(f"n{i % 3}:{i}:abc", f"n{i % 3}", title, 0.5 + i / 100,
                              dense_rank=i) for i in range(rows)]
    citations = [Citation(1, "n0:0:abc", "n0", title, 0.5),
                 Citation(2, "elsewhere", "n9", "Another note", 0.1)]
    return Answer(answer="Abraham left Haran.", citations=citations, no_context=False,
                  generator="extractive", cache={"query": "miss"}, usage=TokenUsage(3, 4),
                  cost_usd=0.001, timings_ms={"total": 3.0}, request_id="r", retrieved=retrieved,
                  answer_id="a" * 32, question="When did Abraham leave Haran?")


def test_the_compact_form_gives_back_the_same_answer_with_each_title_once() -> None:
    data = answer(50).to_dict()
    packed = answer_codec.pack(data)
    assert answer_codec.unpack(packed) == data
    # once per note (three notes, 20 repeats in the title), not in each of 51 rows and citations
    assert packed.count(b"A long title") == 3 * 20
    assert len(packed) < len(codec.pack(data)) / 5
    assert answer_codec.unpack(codec.pack(data)) == data  # an entry written before


def test_an_answer_over_the_byte_limit_is_served_but_not_kept(settings: Settings) -> None:
    layers = layers_for(settings, None, judge=judge_for(settings))
    params = settings.retrieval
    key = layers.answers.key(params, "ann", 1, "q", 5)
    layers.versions.set(notes_version_key("ann"), b"1", 60)
    layers.answers.put(key, answer(3), user_id="ann", notes_version=1, question="q", vector=None)
    assert layers.answers.get(key)[0] == answer(3)
    huge = answer(3, title="t" * (answer_codec.MAX_ANSWER_BYTES + 1))
    other = layers.answers.key(params, "ann", 1, "another q", 5)
    layers.answers.put(other, huge, user_id="ann", notes_version=1, question="another q",
                      vector=None)
    assert layers.answers.get(other) == (None, "miss")


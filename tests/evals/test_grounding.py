"""Groundedness: share of answer sentences that a chunk they cite supports."""

from __future__ import annotations

import pytest

from evals.metrics import grounding as g

CHUNKS = {
    1: "Abraham was seventy-five years old when he left Haran, and God told him to go to a "
       "land he would be shown later.",
    2: "Mama Ngozi planted twelve mango seedlings behind her house at seventy-nine.",
}


def test_sentences_keep_citations_written_after_the_full_stop() -> None:
    parts = g.sentences("According to your notes: Abraham left Haran. [1] Mama Ngozi planted "
                        "mangoes. [2]\nThat is all.")
    assert [(s.text, s.cites) for s in parts] == [
        ("According to your notes: Abraham left Haran. [1]", (1,)),
        ("Mama Ngozi planted mangoes. [2]", (2,)),
        ("That is all.", ()),
    ]


def test_supported_sentences_count_and_wrong_or_missing_citations_do_not() -> None:
    answer = ("Abraham was seventy-five when he left Haran [1]. "
              "Mama Ngozi planted twelve mango seedlings [2]. "
              "Abraham planted twelve mango seedlings [1]. "
              "The sermon also praised the choir's new robes.")
    assert g.groundedness(answer, CHUNKS) == pytest.approx(0.5)


def test_extractive_style_answer_is_fully_grounded() -> None:
    answer = ("According to your notes: Abraham was seventy-five years old when he left "
              "Haran. [1] Mama Ngozi planted twelve mango seedlings behind her house. [2]")
    assert g.groundedness(answer, CHUNKS) == 1.0


def test_nothing_to_count_is_none_and_a_cited_but_unknown_chunk_is_unsupported() -> None:
    assert g.groundedness("", CHUNKS) is None
    assert g.groundedness("[1]", CHUNKS) is None
    assert g.groundedness("Abraham was seventy-five years old [7].", CHUNKS) == 0.0


def test_share_threshold_decides() -> None:
    sentence = g.Sentence("Abraham left Haran for Egypt with camels [1].", (1,))
    words = g.content_words(sentence.text)  # abraham left haran egypt camels
    assert words == ["abraham", "left", "haran", "egypt", "camels"]
    assert g.supported(sentence, CHUNKS, share=0.6)  # 3 of 5 in the chunk
    assert not g.supported(sentence, CHUNKS, share=0.8)

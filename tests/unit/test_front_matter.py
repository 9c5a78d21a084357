"""The no-context decision's front-matter filters: a year, month or speaker named in the
question must match a retrieved note's front matter (spaCy only, no services)."""

from __future__ import annotations

import pytest

from rag_core.decisions import front_matter, nlp
from rag_core.decisions.relevance import RelevancePolicy, decide_relevance
from rag_core.types import Chunk


def chunk(date: str, speaker: str, text: str = "Grace for the tired harvest crew.") -> Chunk:
    return Chunk(chunk_id=f"n-{date}:0", note_id=f"n-{date}", user_id="u", ordinal=0,
                 text=text, metadata={"date": date, "speaker": speaker,
                                      "title": "Harvest grace"}, score=0.6)


NOTES = [chunk("2021-09-12", "Pastor Ines Okoro"), chunk("2023-04-02", "Rev. Tomas Lind")]
POLICY = RelevancePolicy(coverage=False, names=False)


@pytest.mark.parametrize("question", [
    "What did Pastor Okoro preach in 2019?",
    "What sermon did I hear in March 2021?",
    "What did Rev. Lind preach in September 2021?",
    "What did Pastor Okoro say at Easter 2023?",
])
def test_a_question_whose_date_or_speaker_no_note_has_is_refused(question: str) -> None:
    d = decide_relevance(question, NOTES, policy=POLICY)
    assert not d.answer and d.reason == "front_matter"
    assert "no note found of" in d.checks["front_matter"]["detail"]


@pytest.mark.parametrize("question", [
    "What did Pastor Okoro preach in 2021?",
    "What sermon did I hear in April 2023?",
    "What did the harvest sermon say about grace?",
])
def test_a_question_whose_front_matter_matches_is_answered(question: str) -> None:
    assert decide_relevance(question, NOTES, policy=POLICY).answer


def test_a_year_named_in_the_text_of_a_note_of_another_year_matches() -> None:
    notes = [chunk("2023-04-02", "Rev. Tomas Lind", "In 2019 the crew lost the harvest.")]
    assert decide_relevance("What happened to the crew in 2019?", notes, policy=POLICY).answer


def test_filters_are_empty_without_a_year_month_or_speaker() -> None:
    assert not front_matter.filters(nlp.facts("What is grace?"), NOTES)


def test_an_age_asked_needs_a_sentence_that_gives_one() -> None:
    policy = RelevancePolicy(coverage=False, names=False, front_matter=False)
    notes = [chunk("2021-09-12", "Pastor Ines Okoro",
                   "Marguerite Oyelaran gives away sixty loaves every Friday. In 2015 "
                   "Marguerite Oyelaran opened the bakery.")]
    d = decide_relevance("How old is Marguerite Oyelaran?", notes, policy=policy)
    assert not d.answer and d.reason == "value"
    aged = [chunk("2021-09-12", "Pastor Ines Okoro",
                  "Marguerite Oyelaran is 71 and still bakes every Friday.")]
    assert decide_relevance("How old is Marguerite Oyelaran?", aged, policy=policy).answer
    counted = [chunk("2021-09-12", "Pastor Ines Okoro", "She wrote him forty letters.")]
    assert decide_relevance("How many letters did Marguerite write?", counted,
                            policy=policy).answer


def test_a_chapter_no_retrieved_note_preaches_on_is_refused() -> None:
    notes = [Chunk("n:0", "n", "u", 0, "Faith moves your feet.",
                   {"date": "2024-03-10", "speaker": "Pastor Ines Okoro",
                    "scripture": ["Hebrews 11:1-8", "Genesis 12:1-4"]}, score=0.6)]
    refused = decide_relevance("What did the sermon say about Hebrews 13?", notes,
                               policy=POLICY)
    assert not refused.answer and "Hebrews 13" in refused.checks["front_matter"]["detail"]
    assert decide_relevance("What did the sermon say about Hebrews 11:6?", notes,
                            policy=POLICY).answer

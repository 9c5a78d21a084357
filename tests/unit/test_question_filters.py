"""Filters read from the question (``answers.narrowing``) as values: which front-matter values
a question names, how a note passes them (``Narrowing.matches``, the in-memory store's rule and
the SQL's), and what they leave to the caller's filters and the cache keys."""

from __future__ import annotations

import re

from rag_core.answers import narrowing
from rag_core.config import Retrieval
from rag_core.decisions.note_facts import of_notes
from rag_core.redis_kv.keys import context_key
from rag_core.store.filters import NO_FILTERS, NO_NARROWING, Filters, Narrowing, held_pattern

NOTES = of_notes([
    ("Faith that walks.", {"speaker": "Pastor Miriam Okafor", "series": "Hebrews: Better Things",
                           "date": "2024-03-10"}),
    ("Mercy again.", {"speaker": "José Ortiz", "series": "Grace", "date": "2023-11-05"}),
    ("Undated.", {"speaker": "Rev. Daniel Brannigan"}),
])


def read(question: str, given: Filters = NO_FILTERS) -> Narrowing:
    return narrowing.read(question, lambda: NOTES, given)


def test_the_user_s_front_matter_values_are_gathered_once_with_the_facts() -> None:
    assert NOTES.speakers == {"Pastor Miriam Okafor", "José Ortiz", "Rev. Daniel Brannigan"}
    assert NOTES.series == {"Hebrews: Better Things", "Grace"}
    assert NOTES.dated == {"2024", "2023"}


def test_a_value_is_named_by_all_its_words_in_a_row_whatever_the_case_and_accents() -> None:
    assert read("What did pastor MIRIAM okafor say?").speaker == ("Pastor Miriam Okafor",)
    assert read("What did Jose Ortiz preach?").speaker == ("José Ortiz",)
    assert read("Did Rev Daniel Brannigan or José Ortiz speak?").speaker == (
        "José Ortiz", "Rev. Daniel Brannigan")
    assert read("What did the hebrews better things series claim?").series == (
        "Hebrews: Better Things",)
    assert read("What is grace?").series == ("Grace",)
    # a part of the value, another word between, a word that only begins like it: nothing
    assert read("What did Okafor say?") is NO_NARROWING
    assert read("What did Pastor Miriam A. Okafor say?") is NO_NARROWING
    assert read("What is graceful?") is NO_NARROWING
    assert read("What did Zebulon Arkwright say?") is NO_NARROWING


def test_a_year_narrows_only_when_it_is_one_front_matter_year_and_no_amount() -> None:
    assert read("What was said in 2024 about faith?").year == "2024"
    assert read("What was said in 1999?") is NO_NARROWING  # no note is dated 1999
    assert read("What changed between 2023 and 2024?") is NO_NARROWING  # a span
    assert read("Who gave 2024 dollars?") is NO_NARROWING  # an amount
    both = read("What did Pastor Miriam Okafor say in 2024?")
    assert (both.speaker, both.series, both.year) == (("Pastor Miriam Okafor",), (), "2024")
    assert both.describe() == ("speaker 'Pastor Miriam Okafor', dated 2024 "
                               "(or a note whose text names it)")
    assert both.to_dict() == {"speaker": ["Pastor Miriam Okafor"], "year": "2024",
                              "speaker_words": ["miriam", "okafor", "pastor"]}


def test_a_speaker_s_text_may_name_them_by_a_word_no_other_speaker_s_name_holds() -> None:
    notes = of_notes([("-", {"speaker": "Tomasz Wierzba"}), ("-", {"speaker": "Rosa Wierzba"}),
                      ("-", {"speaker": "Rosa Delgado"}), ("-", {"speaker": "Jo Li"})])
    asked = narrowing.read("What did Tomasz Wierzba fix?", lambda: notes, NO_FILTERS)
    assert asked.speaker == ("Tomasz Wierzba",) and asked.speaker_words == ("tomasz",)
    assert asked.matches({"speaker": "Rosa Delgado"}, "Tomasz will order forty pairs.")
    assert not asked.matches({"speaker": "Rosa Delgado"}, "Mr Wierzba will order them.")
    assert narrowing.read("And Jo Li?", lambda: notes, NO_FILTERS).speaker_words == ()


def test_a_filter_the_caller_set_wins_for_its_field() -> None:
    def fields(asked: Narrowing) -> tuple[object, ...]:
        return asked.speaker, asked.series, asked.year

    question = "What did Pastor Miriam Okafor say in the Grace series in 2024?"
    assert fields(read(question)) == (("Pastor Miriam Okafor",), ("Grace",), "2024")
    assert read(question, Filters(speaker="José Ortiz")) == Narrowing(series=("Grace",),
                                                                      year="2024")
    assert fields(read(question, Filters(series="x", date_to="2023"))) == (
        ("Pastor Miriam Okafor",), (), None)


def test_a_note_passes_by_its_front_matter_or_by_its_text() -> None:
    okafor = Narrowing(speaker=("Pastor Miriam Okafor",))
    assert okafor.matches({"speaker": "pastor miriam OKAFOR"}, "")
    assert okafor.matches({"speaker": "Someone"}, "As Pastor Miriam\nOkafor said.")
    assert not okafor.matches({"speaker": "Someone"}, "As pastor miriam okafors said.")
    assert not okafor.matches({}, "Pastor Okafor said.")
    year = Narrowing(year="2024")
    assert year.matches({"date": "2024-03-10"}, "")
    assert year.matches({"date": "2023-01-01"}, "The flood of 2024-05 came.")
    assert not year.matches({"date": "2023-01-01"}, "In 20245 or 12024.")
    both = Filters(series="Hebrews").narrowed(okafor)
    assert both.matches({"series": "hebrews"}, "Pastor Miriam Okafor.")
    assert not both.matches({"series": "Other"}, "Pastor Miriam Okafor.")
    assert not both.matches({"series": "Hebrews", "speaker": "Someone"}, "")


def test_the_pattern_is_whole_words_of_word_characters_only() -> None:
    pattern = held_pattern(["Rev. Daniel (Dan) Brannigan", "a+b"])
    assert pattern == r"(?:^|\W)(?:a\W+b|rev\W+daniel\W+dan\W+brannigan)(?:\W|$)"
    assert re.search(pattern, "so REV DANIEL, DAN BRANNIGAN said", re.IGNORECASE)
    assert held_pattern(["...", ""]) is None


def test_the_question_s_filters_are_no_part_of_the_caller_s_or_of_a_key() -> None:
    asked = Narrowing(speaker=("Pastor Miriam Okafor",), year="2024")
    given = Filters(series="Hebrews")
    narrowed = given.narrowed(asked)
    assert narrowed.narrows and NO_FILTERS.narrowed(asked).narrows and not NO_FILTERS.narrows
    assert not NO_FILTERS.narrowed(asked)  # the caller set nothing: no filter_no_match
    assert narrowed.key() == given.key() and narrowed.to_dict() == given.to_dict()
    assert narrowed.describe() == given.describe()
    params = Retrieval()
    assert context_key(params, "u", 3, "q", 5, narrowed) == context_key(params, "u", 3, "q", 5,
                                                                         given)
    binds = narrowed.binds()
    assert binds["a_speaker"] == ["Pastor Miriam Okafor"] and binds["a_year"] == "2024"
    assert binds["a_series"] is None and binds["a_series_text"] is None
    assert binds["f_series"] == "Hebrews"

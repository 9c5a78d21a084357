"""Numbers as values, the no-context decision's reading of a number a question names (spaCy
only, no services)."""

from __future__ import annotations

import pytest

from rag_core.text import named, quantities


@pytest.mark.parametrize(("text", "value"), [
    ("the feeding of the five thousand", 5000.0), ("a city of 120,000 people", 120000.0),
    ("twenty-seven years", 27.0), ("three hundred and ten acres", 310.0),
    ("a hundred sheep", 100.0), ("5 thousand people", 5000.0), ("$1,250", 1250.0),
    ("a 62k roof appeal", 62000.0), ("£2bn", 2e9), ("a 5 k run", 5000.0)])
def test_a_number_in_words_or_digits_is_one_value(text: str, value: float) -> None:
    assert quantities.values(text) == {value}


@pytest.mark.parametrize(("text", "found"), [
    ("They counted sixty-one. Twenty-three of those were dogs.", {61.0, 23.0}),
    ("it yields thirty, sixty and a hundredfold", {30.0, 60.0}),
    ("scores of seven, nine and twelve", {7.0, 9.0, 12.0}),
    ("from ten until two Six volunteers came", {10.0, 2.0, 6.0}),
    ("two thousand, five hundred and ten", {2510.0}), ("twelve hundred", {1200.0}),
    ("a hundred and one", {101.0})])
def test_a_number_in_words_ends_where_english_would_start_another(text: str,
                                                                   found: set[float]) -> None:
    """A mark ends a number in words, and so do two units or two tens in a row: "sixty-one.
    Twenty-three" was read as 84, so a question naming 61 was refused (a note of a set written
    in another domain)."""
    assert quantities.values(text) == found


def test_a_question_leaves_out_references_years_one_and_rough_numbers() -> None:
    assert named.question_values("What did Luke 15:11 say in 2019 about one son?") \
        == frozenset()
    assert named.question_values("What did she plant when almost eighty?") == frozenset()
    assert named.question_values("Which sermon fed five thousand?") == {5000.0}


def test_letters_and_digits_in_one_word_name_no_quantity() -> None:
    """A code or a rank ("a1b2c3d4", "mp3", "5th") is not read as the digits in it: a question
    tagged with an id would otherwise be refused for numbers the notes never give."""
    assert quantities.values("ref a1b2c3d4, an mp3 of 5 songs on the 5th") == {5.0}
    # but a unit written onto its number is the number ("5km", "120kg"), a decade no value
    assert quantities.values("a 7km walk with 120kg in the 1990s, 3x4") == {7.0, 120.0}
    assert named.question_values(
        "What did Okafor say about prayer and waiting? (a1b2c3d4)") == frozenset()


def test_the_length_of_the_answer_asked_for_is_no_fact_of_the_notes() -> None:
    assert named.question_values(
        "In two sentences: what did Nehemiah pray? Give three points.") == frozenset()
    assert named.question_values("Which sermon fed five thousand men?") == {5000.0}

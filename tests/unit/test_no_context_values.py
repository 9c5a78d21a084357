"""The no-context decision's rules of issue 33's second round: numbers a question names, the
value (age, count, name) it asks for, and what it is about (spaCy only, no services)."""

from __future__ import annotations

import pytest

from rag_core.decisions import quantities
from rag_core.decisions.relevance import RelevancePolicy, decide_relevance
from rag_core.types import Chunk

VALUE_ONLY = RelevancePolicy(coverage=False, names=False, front_matter=False, numbers=False)


def note(text: str, speaker: str = "Pastor Ines Okoro", score: float = 0.6) -> Chunk:
    return Chunk(chunk_id="n:0", note_id="n", user_id="u", ordinal=0, text=text,
                 metadata={"date": "2024-03-10", "speaker": speaker, "title": "Harvest"},
                 score=score)


@pytest.mark.parametrize(("text", "value"), [
    ("the feeding of the five thousand", 5000.0), ("a city of 120,000 people", 120000.0),
    ("twenty-seven years", 27.0), ("three hundred and ten acres", 310.0),
    ("a hundred sheep", 100.0), ("5 thousand people", 5000.0), ("$1,250", 1250.0)])
def test_a_number_in_words_or_digits_is_one_value(text: str, value: float) -> None:
    assert quantities.values(text) == {value}


def test_a_question_leaves_out_references_years_one_and_rough_numbers() -> None:
    assert quantities.question_values("What did Luke 15:11 say in 2019 about one son?") \
        == frozenset()
    assert quantities.question_values("What did she plant when almost eighty?") == frozenset()
    assert quantities.question_values("Which sermon fed five thousand?") == {5000.0}


def test_letters_and_digits_in_one_word_name_no_quantity() -> None:
    """A code or a rank ("a1b2c3d4", "mp3", "5th") is not read as the digits in it: a question
    tagged with an id would otherwise be refused for numbers the notes never give."""
    assert quantities.values("ref a1b2c3d4, an mp3 of 5 songs on the 5th") == {5.0}
    assert quantities.question_values(
        "What did Okafor say about prayer and waiting? (a1b2c3d4)") == frozenset()


def test_the_length_of_the_answer_asked_for_is_no_fact_of_the_notes() -> None:
    assert quantities.question_values(
        "In two sentences: what did Nehemiah pray? Give three points.") == frozenset()
    assert quantities.question_values("Which sermon fed five thousand men?") == {5000.0}


def test_a_number_the_notes_never_give_is_refused_and_its_other_spelling_answered() -> None:
    policy = RelevancePolicy(coverage=False, value=False)
    chunks = [note("Jesus fed the crowd with loaves, and ten thousand talents were forgiven.")]
    d = decide_relevance("Which sermon was on the feeding of the five thousand?", chunks,
                         policy=policy)
    assert not d.answer and d.reason == "numbers" and "5000" in d.checks["numbers"]["detail"]
    held = [note("About 5,000 men ate the loaves that day.")]
    assert decide_relevance("Which sermon was on the feeding of the five thousand?", held,
                            policy=policy).answer


def test_an_age_is_not_a_time_span_nor_a_word_near_the_person() -> None:
    spans = [note("Agnes Morrow retired in June after thirty-one years driving the bus. "
                  "Agnes said she drove it twice a day. Tern Head beach is where Leo, who was "
                  "six, lost the ring.")]
    d = decide_relevance("How old was Agnes Morrow when she left the head office?", spans,
                         policy=VALUE_ONLY)
    assert not d.answer and d.reason == "value"
    aged = [note("Hollis Grant farms north of town. He is sixty-two and still drives.")]
    assert decide_relevance("How old is Hollis Grant?", aged, policy=VALUE_ONLY).answer


def test_a_count_must_count_the_noun_asked_about() -> None:
    other = [note("The widows held up the tunics Dorcas made. Dorcas's circle knitted four "
                  "hundred blankets.")]
    d = decide_relevance("How many tunics had Dorcas sewn?", other, policy=VALUE_ONLY)
    assert not d.answer and "tunic" in d.checks["value"]["detail"]
    counted = [note("Dorcas had sewn forty tunics by spring.")]
    assert decide_relevance("How many tunics had Dorcas sewn?", counted,
                            policy=VALUE_ONLY).answer


def test_a_name_asked_needs_a_name_given_to_that_thing_of_that_person() -> None:
    unnamed = [note("Walter Pruitt kept the lighthouse; his wife, he says, has forgiven him. "
                    "When Baraka came home, Walter's wife baked a cake.")]
    d = decide_relevance("What is the name of Walter Pruitt's wife?", unnamed,
                         policy=VALUE_ONLY)
    assert not d.answer and d.reason == "value"
    named = [note("Walter Pruitt kept the lighthouse. His wife Edna kept the garden.")]
    assert decide_relevance("What is the name of Walter Pruitt's wife?", named,
                            policy=VALUE_ONLY).answer
    someone_else = [note("Brother Sato said one of the children was his wife, Mei.")]
    assert not decide_relevance("What is the name of Walter Pruitt's wife?", someone_else,
                                policy=VALUE_ONLY).answer
    by_speaker = [note("His wife Ingrid pointed out the neighbour's roof.",
                       speaker="Pastor Erik Lindqvist")]
    assert decide_relevance("What is the name of Pastor Lindqvist's wife?", by_speaker,
                            policy=VALUE_ONLY).answer


def test_what_the_question_is_about_must_be_in_the_notes_however_close_the_cosine() -> None:
    policy = RelevancePolicy(names=False, front_matter=False, value=False, numbers=False)
    chunks = [note("The sermon taught that prayer is rest for the weary.", score=0.7)]
    for question in ("What did the sermon teach about kneeling?",
                     "What did the preacher teach about fasting?",
                     "What did my notes say about keeping the Sabbath?"):
        d = decide_relevance(question, chunks, policy=policy)
        assert not d.answer and d.reason == "coverage", question
    assert decide_relevance("What did the sermon teach about prayer?", chunks,
                            policy=policy).answer

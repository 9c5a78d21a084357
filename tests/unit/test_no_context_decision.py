"""The no-context decision: a refusal rests on the cosine floor or on a fact the question names
that none of the user's notes states, compared after normalising; wording never refuses
(spaCy only, no services)."""

from __future__ import annotations

import pytest

from rag_core.config import Settings
from rag_core.decisions import note_facts
from rag_core.decisions.relevance import RelevancePolicy, decide_relevance
from rag_core.text import named
from rag_core.types import Chunk

NOTES = [
    ("n1", "Marguerite Oyelaran gives away about 5,000 loaves a year from the Persian "
           "bakery on Quay Street. She walks 3 km to the market. The oven cost 1,850 pounds.",
     {"title": "Bread", "date": "2021-09-12", "speaker": "Pastor Ines Okoro",
      "series": "Daily Bread", "scripture": ["John 6:1-14"]}),
    ("n2", "In 1994 the choir sang at José's wedding in Israel, Marit Østby the solo. He kept "
           "forty hives.",
     {"title": "Bees", "date": "2023-03-05", "speaker": "Rev. Tomas Lind"}),
    ("n3", "The youth met at 15:20 to read Daniel chapter 3 and the furnace.",
     {"title": "Youth", "date": "2024-05-03"}),
]
USER = note_facts.of_notes((text, meta) for _, text, meta in NOTES)
CHUNK = Chunk("n1:0", "n1", "u", 0, NOTES[0][1], NOTES[0][2], score=0.5)


def decide(question: str, score: float = 0.5) -> object:
    chunk = Chunk("n1:0", "n1", "u", 0, NOTES[0][1], NOTES[0][2], score=score)
    return decide_relevance(question, [chunk], notes=USER)


@pytest.mark.parametrize("question", [
    # the kind of answer, a synonym or a keyword query: wording never refuses
    "Which kind of picture did Pastor Okoro use for generosity?",
    "What sort of shop does Marguerite run?",
    "loaves giveaway amount",
    "Bakery Giveaway Street Name",
    # facts written otherwise in the notes
    "Who gave away five thousand loaves?",  # words for digits
    "Who walked three kilometres to the market?",  # a unit and its abbreviation
    "What did Jose do at his wedding?",  # an accent
    "Which solo did Marit Ostby sing?",  # a letter with a stroke
    "Did the bakery on Quay Street hire a PA?",  # two capitals: an abbreviation, no name
    "What happened in the 1990s at the wedding?",  # a decade, by a year of it in a text
    "What did Lind preach in March?",  # a month, by a note's date
    "What did Okoro say in Sept?",  # an abbreviated month
    "What did the Daily Bread series cover in Sep?",  # a month spaCy tags as a name
    "Did the oven cost 1850 pounds?",  # a number of a year's shape, an amount
    "Did the oven cost 1,850 pounds?",  # digits grouped: an amount, no year
    "Which sermon was on John 6:5?",  # a verse inside the front matter's passage
    "What was Marguerite's bakery in Persia?",  # a name by its derived form ("Persian")
    "What did the Israelites sing at the wedding?",  # derived from a name, by its stem
    "What did José say about the bakery on Quay Street?",  # names of two notes
    "SYSTEM OVERRIDE: how many loaves did Marguerite give?",  # capitals as emphasis
    "Who gave away 5000 loaves in Sep 2021?",  # a month and a year of one note
    "What did Okoro preach in 2021-09?",  # the same date in digits
    "Which oven cost about 1,900 pounds?",  # rough
    "oven cost 1,900",  # a round number, by a value it rounds (1,850)
    "Who walks 3 kilometres?",  # the notes wrote "3 km"
    "does the youth group meet at 3.20",  # a time of day, not a number (the notes: 15:20)
    "dan 3 furnace",  # the notes wrote the word "chapter"
    "What is in chapter 3 of Daniel?",
    "What did the youth read in Dn 3?",  # a book abbreviated without a vowel is no name
])
def test_a_question_the_notes_may_answer_is_never_refused(question: str) -> None:
    d = decide(question)
    assert d.answer, d.checks


@pytest.mark.parametrize(("question", "rule", "fact"), [
    ("What did Nehemiah say about the bakery?", "names", "nehemiah"),
    ("Who gave away 7,000 loaves?", "numbers", "7000"),
    ("What happened to the bakery in 2009?", "dates", "2009"),
    ("What did Okoro preach in July?", "dates", "July"),
    ("What did Lind preach in March 2021?", "dates", "March 2021"),  # each, not together
    ("What did Lind preach in 2021-03?", "dates", "March 2021"),
    ("Who gave away 1,851 loaves?", "numbers", "1851"),  # nor 1,850 of a number not round
    ("Who kept 10 hives?", "numbers", "10"),  # nor a day (12) or a month (9) of 10
    ("What did the sermon on Romans 8 say?", "scripture", "Romans 8"),
    ("What did the youth read in Daniel 4?", "scripture", "Daniel 4"),  # theirs: chapter 3
    ("Did the oven cost 3.20 pounds?", "numbers", "3.2"),  # a clock's shape, but an amount
])
def test_a_fact_in_none_of_the_notes_refuses_and_says_which(question: str, rule: str,
                                                            fact: str) -> None:
    d = decide(question)
    assert not d.answer and d.reason == rule, d.checks
    assert fact in d.checks[rule].detail


def test_a_fact_of_another_note_than_the_retrieved_one_is_no_reason_to_refuse() -> None:
    """1994 and the hives are in Rev. Lind's note only, the retrieved chunk is Okoro's: the
    facts are looked for in all of the user's notes (a retrieval miss proves no absence)."""
    assert decide("What did Pastor Okoro preach in 1994 about forty hives?").answer


def test_the_floor_and_an_empty_retrieval_refuse_and_policies_switch_facts_off() -> None:
    low = decide("What did the baker give away?", score=0.02)
    assert not low.answer and low.reason == "similarity"
    # a name the notes hold is something close, however far the question embeds
    named = decide("Tell me everything about Marguerite Oyelaran. Thanks!", score=0.02)
    assert named.answer and "in your notes" in named.checks["similarity"].detail
    assert not decide("What did Nehemiah give away?", score=0.02).answer
    assert decide_relevance("anything", []).reason == "retrieved"
    off = RelevancePolicy(facts=False)
    assert decide_relevance("What did Nehemiah say?", [CHUNK], policy=off, notes=USER).answer
    # without the user's notes, the retrieved chunks are the evidence
    assert not decide_relevance("What did Lind say in 1994?", [CHUNK]).answer


def test_the_notes_are_read_once_per_version() -> None:
    reads: list[str] = []

    def texts(user: str) -> list[tuple[str, str, dict[str, object]]]:
        reads.append(user)
        return [(n, t, dict(m)) for n, t, m in NOTES]

    memo = note_facts.NotesMemo(texts, size=1)
    assert memo.get("u", 1) is memo.get("u", 1)
    memo.get("u", 2)
    memo.get("u", 1)  # evicted by version 2
    assert reads == ["u", "u", "u"]


@pytest.mark.parametrize(("name", "note", "held"), [
    ("Andes", "We walked up and down the ridge.", False),  # "es" after d: no plural of "and"
    ("Churches", "The church on the hill.", True),
    ("Foxes", "A fox crossed the yard.", True),
    ("Jews", "A Jew of Tarsus.", True),
])
def test_a_name_is_held_by_its_own_forms_only(name: str, note: str, held: bool) -> None:
    notes = note_facts.of_notes([(note, {})])
    found = note_facts.absent(named.Asked(names=(name.lower(),)), notes)
    assert (found["names"][1] == []) is held, found


def test_a_name_typed_with_one_slip_is_the_name_the_notes_hold() -> None:
    """A letter dropped or added, a neighbouring key, two neighbours exchanged: the user meant
    the name the notes hold. Two whole words of the model's vocabulary are two words ("Pride"
    is no slip of "price"), and without a vocabulary no slip is forgiven."""
    model = RelevancePolicy.from_settings(Settings()).model
    notes = note_facts.of_notes([("Jun Watanabe paid the price for the Oyelaran order.", {})])

    def lacking(name: str, model: str = model) -> list[str]:
        return note_facts.absent(named.Asked(names=(name,)), notes, model)["names"][1]

    assert lacking("watanbe") == [] and lacking("oyelatan") == []
    assert lacking("oyealran") == []  # two neighbours exchanged
    assert lacking("pride") == ["pride"] and lacking("nehemiah") == ["nehemiah"]
    assert lacking("watanbe", "") == ["watanbe"]
    policy = RelevancePolicy.from_settings(Settings())
    assert decide_relevance("When does Jun Watanbe leave?", [CHUNK], policy=policy,
                            notes=notes).answer

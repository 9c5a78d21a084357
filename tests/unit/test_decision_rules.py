"""The facts the decisions compare (spaCy, pythonbible) and each rule on its own, no services."""

from __future__ import annotations

import pytest

from rag_core.decisions import semantic_rules as sr
from rag_core.decisions.relevance import RelevancePolicy, decide_relevance
from rag_core.text import nlp
from rag_core.types import Chunk


def test_facts_of_a_question() -> None:
    f = nlp.facts("How old was Pastor Okafor when she ran the Chicago Marathon in 2019?")
    assert f.answer_type == "age"
    assert {"okafor", "chicago", "marathon"} <= f.names and "pastor" not in f.names
    assert "2019" in f.dates
    ref = nlp.facts("What did Holloway say about Genesis 45:4-8?")
    assert ref.scripture == {"GENESIS 45:4-45:8"} and not ref.numbers and "genesis" not in ref.names
    assert nlp.facts("Why did she not forgive him?").negations == 1


@pytest.mark.parametrize(("question", "kind"), [
    ("Who preached on Ruth?", "person"), ("When did the series start?", "time"),
    ("Where did the story happen?", "place"), ("Why did he stop?", "reason"),
    ("How many loaves were baked?", "count"), ("How much did they raise?", "amount"),
    ("How old was Abraham when he left Haran?", "age"), ("How long did it last?", "duration"),
    ("Did the choir sing?", "yes_no"), ("What year was it?", "time"),
    ("At which ferry terminal did they meet?", "typed"), ("What did she say?", "thing"),
    ("When Peter came to Joppa, what did the widows hold up?", "thing"),
    # spaCy attaches "who" to "passengers" as a relative clause: the comma decides
    ("When the ferry lost its engine with forty passengers aboard, who towed it in?", "person"),
])
def test_answer_types(question: str, kind: str) -> None:
    assert nlp.facts(question).answer_type == kind


EV = sr.Evidence(("n1:0:h", "n1:1:h"), ("n1", "n1"), ("The lamp was green and the door blue.",))


@pytest.mark.parametrize(("cached", "new", "rule"), [
    ("What did Okafor say about prayer in 2023?", "What did Okafor say about prayer in 2024?",
     "dates"),
    ("Why should we forgive?", "Why shouldn't we forgive?", "negation"),
    ("What did Okafor say about prayer?", "What did Brannigan say about prayer?", "names"),
    ("What does Hebrews 11 say?", "What does Hebrews 12 say?", "scripture"),
    ("What was the first point?", "What was the last point?", "sequence"),
    ("Did they bake 200 loaves?", "Did they bake 300 loaves?", "numbers"),
    ("When did the lamp burn?", "Why did the lamp burn?", "answer_type"),
    ("What colour was the lamp?", "What colour was the door?", "detail"),
    # a relation changed: a preposition or subordinator is a detail as a content word is
    ("Can we take cash for a bill under 1,000 pounds?",
     "Can we take cash for a bill over 1,000 pounds?", "detail"),
    ("What did the lamp do before the storm?", "What did the lamp do after the storm?",
     "detail"),
])
def test_each_rule_refuses_with_its_reason(cached: str, new: str, rule: str) -> None:
    d = sr.decide(new, cached, 0.95, sr.Policy(), EV, EV)
    assert not d.hit and d.reason == rule, d.to_dict()
    assert d.to_dict()["checks"][rule]["passed"] is False


def test_a_paraphrase_passes_every_rule_and_the_threshold_still_counts() -> None:
    a, b = "How old was Abraham when he left Haran?", "At what age did Abraham set out from Haran?"
    haran = sr.Evidence(("n1:0:h",), ("n1",), ("Abraham was seventy-five when he left Haran. "
                                              "The lamp was green and the door blue.",))
    assert sr.decide(b, a, 0.90, sr.Policy(), haran, haran).hit
    # the same best sentence is asked of every reworded pair: an evidence that has none
    off = sr.decide(b, a, 0.90, sr.Policy(), EV, EV)
    assert not off.hit and off.reason == "sentence"
    low = sr.decide(b, a, 0.30, sr.Policy(threshold=0.45), EV, EV)
    assert not low.hit and low.reason == "similarity"


def _chunk(text: str, score: float, **meta: object) -> Chunk:
    return Chunk(chunk_id="c", note_id="n", user_id="u", ordinal=0, text=text, score=score,
                 metadata=dict(meta))


def test_relevance_rules() -> None:
    chunks = [_chunk("Abraham was seventy-five when he left Haran.", 0.55, title="Faith",
                     speaker="Pastor Miriam Okafor")]
    assert decide_relevance("How old was Abraham when he left Haran?", chunks).answer
    named = decide_relevance("What did Okafor say about Nehemiah?", chunks)
    assert not named.answer and named.reason == "names" and "nehemiah" in str(named.checks)
    low = decide_relevance("How old was Abraham?", [_chunk("x", 0.02)])
    assert not low.answer and low.reason == "similarity"
    assert decide_relevance("anything", []).reason == "retrieved"
    # nouns the chunks lack never refuse on their own: the model may still decline
    assert decide_relevance("What about the boat and the storm and the nets?",
                            [_chunk("Abraham left Haran.", 0.40)]).answer
    off = RelevancePolicy(facts=False)
    assert decide_relevance("What did Okafor say about Nehemiah?", chunks, policy=off).answer


# --- aligned and reworded questions (issue 16, second design) --------------------------------

TEXT = ("Elder Mbeki spent a summer at sixteen helping his uncle herd cattle outside Gwanda. "
        "His uncle refused to move the herd in the midday heat. Rhoda answered the door.")
ONE = sr.Evidence(("m1:0:h",), ("m1",), (TEXT,))


def _decide(cached: str, new: str, evidence: sr.Evidence = ONE) -> sr.Decision:
    return sr.decide(new, cached, 0.9, sr.Policy(), evidence, evidence)


def test_reworded_question_words_map_to_one_kind_of_answer() -> None:
    d = _decide("How old was Mbeki when he herded cattle with his uncle?",
                "At what age did Elder Mbeki help his uncle with the herd?")
    assert d.hit, d.to_dict()
    assert "reworded" in d.to_dict()["checks"]["answer_type"]["detail"]


def test_aligned_questions_with_another_question_word_are_refused() -> None:
    d = _decide("When did Mbeki's uncle refuse to move the herd?",
                "Why did Mbeki's uncle refuse to move the herd?")
    assert not d.hit and d.reason == "answer_type", d.to_dict()
    assert "aligned" in d.to_dict()["checks"]["answer_type"]["detail"]


def test_aligned_questions_with_an_added_content_word_are_refused() -> None:
    d = _decide("How long did Mbeki herd cattle?", "How long did Mbeki herd cattle in the heat?")
    assert not d.hit and d.reason == "detail", d.to_dict()
    assert "heat" in d.to_dict()["checks"]["detail"]["detail"]


@pytest.mark.parametrize(("cached", "new"), [
    ("What did Ama send from Lagos to Accra?", "What did Ama send to Lagos from Accra?"),
    ("Who argued for the new roof?", "Who argued against the new roof?"),
    ("What did Mateo give Castellanos?", "What did Castellanos give Mateo?"),
    ("Who did the deacon thank after the flood?", "Who thanked the deacon after the flood?"),
    ("What did Ines do after she was ordained?", "What did Ines do before she was ordained?"),
    ("What must you check after tightening the spokes?",
     "What must you check before tightening the spokes?"),
])
def test_aligned_questions_with_a_noun_in_another_role_are_refused(cached: str,
                                                                   new: str) -> None:
    d = sr.detail_check(nlp.facts(cached), nlp.facts(new))
    assert not d.passed, d.detail


@pytest.mark.parametrize(("cached", "new"), [
    ("How many loaves does Odile give away on Fridays?",
     "On Fridays, how many loaves does Odile give away?"),
    ("How long did Beatrice keep the lamp burning?",
     "For how long did Beatrice keep the lamp burning?"),
    ("What did Okafor's mother say?", "What did the mother of Okafor say?"),
])
def test_a_phrase_moved_whole_keeps_its_role(cached: str, new: str) -> None:
    d = sr.detail_check(nlp.facts(cached), nlp.facts(new))
    assert d.passed, d.detail


def test_reworded_negation_of_an_asserted_word_is_refused() -> None:
    d = _decide("Which cars stopped for her on the road?",
                "On the interstate, which drivers did not stop to help?")
    assert not d.hit and "negation" in [c.rule for c in d.checks if not c.passed], d.to_dict()
    assert "stop" in d.to_dict()["checks"]["negation"]["detail"]


def test_reworded_name_found_in_the_others_evidence_is_no_swap() -> None:
    grounded = _decide("What did Mbeki's uncle refuse to do at midday?",
                       "In Gwanda, what would the elder's uncle not do in the heat of the day?")
    assert grounded.to_dict()["checks"]["names"]["passed"], grounded.to_dict()
    swapped = _decide("What did Mbeki's uncle refuse to do at midday?",
                      "In Bulawayo, what would Tanaka's uncle not do in the heat of the day?")
    assert not swapped.to_dict()["checks"]["names"]["passed"], swapped.to_dict()


def test_other_kinds_on_one_chunk_need_the_same_best_sentence() -> None:
    d = _decide("Who answered the door?", "What did the uncle refuse to move in the heat?")
    assert not d.hit and "sentence" in [c.rule for c in d.checks if not c.passed], d.to_dict()
    assert "best sentences" in d.to_dict()["checks"]["sentence"]["detail"]


def test_number_words_with_a_hyphen_and_spans_of_time_are_counts() -> None:
    f = nlp.facts("How many passengers, forty-six or more, were aboard for thirty-one years?")
    assert f.numbers == {"46", "31"} and not f.dates
    assert nlp.facts("Were there 46 passengers?").numbers == {"46"}
    assert nlp.facts("What did she preach in March 2019?").dates == {"march", "2019"}


def test_another_number_word_is_refused() -> None:
    other = _decide("Was Mbeki sixteen that summer?", "Was Mbeki twelve that summer?")
    # spaCy reads "sixteen that summer" as a date: numbers and dates are one comparison, the
    # refusal named after the kind of value that differs
    assert not other.hit and other.reason == "dates", other.to_dict()
    assert "16" in other.to_dict()["checks"]["dates"]["detail"]


# --- calendar names (issue 16, third round) -----------------------------------------------


def test_plural_day_and_month_names_are_the_same_date() -> None:
    assert nlp.facts("What soup was served on Sundays?").dates == {"sunday"}
    assert nlp.facts("What soup was served on Sunday evenings?").dates == {"sunday"}
    assert nlp.facts("What did they sing in the 1990s?").dates == {"1990s"}  # not a name


@pytest.mark.parametrize(("text", "refs"), [
    ("Read Romans 8 today", {"ROMANS 8"}), ("Psalm xxiii", {"PSALMS 23"}),
    ("I Corinthians 13:4", {"CORINTHIANS_1 13:4"}),
    ("What does Jude say about doubters?", set()), ("Psalm twenty-three", set()),
    ("Who rebuilt the wall of Jerusalem?", set()), ("Who preached on Nehemiah? (3)", set())])
def test_a_reference_needs_a_chapter_in_digits_or_roman_numerals(text: str,
                                                                 refs: set[str]) -> None:
    """A book named without a chapter is no reference; a text with no chapter number after a
    word is not handed to pythonbible at all (its import and scan: about 0.4 s of a cold
    question)."""
    assert nlp.scripture_refs(text) == refs


def test_the_notes_passages_are_read_when_a_question_names_one() -> None:
    from rag_core.decisions import note_facts
    from rag_core.text import named

    notes = note_facts.of_notes([("We read Romans 8 and Psalm 23.", {}), ("No passage.", {})])
    assert "passages" not in vars(notes)  # not read yet
    assert notes.passages == {("ROMANS", 8, 8), ("PSALMS", 23, 23)}
    asked = named.asked("What was said about Romans 8?")
    assert note_facts.absent(asked, notes)["scripture"] == (["Romans 8"], [])


def test_notes_citing_a_book_hold_the_name_of_its_part_of_the_bible() -> None:
    """Notes citing Jonah and Psalms are about the Old Testament without naming it (a set
    written blind to the rules refused "Which visiting speakers preached from the Old
    Testament?"); a part they cite no book of stays absent."""
    from rag_core.decisions import note_facts
    from rag_core.text import named

    notes = note_facts.of_notes([("Achterberg preached on Jonah 4.", {}), ("Psalm 23.", {})])
    held = {q: note_facts.absent(named.asked(q), notes)["names"] for q in (
        "Which visiting speakers preached from the Old Testament?",
        "Who preached from the Gospels?", "What did Okonkwo say about the prophets?")}
    assert held == {"Which visiting speakers preached from the Old Testament?":
                     (["old", "testament"], []),
                     "Who preached from the Gospels?": (["gospels"], ["gospels"]),
                     "What did Okonkwo say about the prophets?": (["okonkwo"], ["okonkwo"])}


def test_spacys_registries_find_the_same_entry_points_grouped() -> None:
    """``lean_imports._group_entry_points``: catalogue reads the installed entry points from
    a dict of groups, and each group holds what importlib finds for it."""
    import importlib.metadata as md

    import catalogue

    nlp.nlp()
    grouped = catalogue.AVAILABLE_ENTRY_POINTS
    assert type(grouped) is dict
    for group in ("spacy_factories", "spacy_architectures", "spacy_languages", "thinc_layers"):
        assert sorted(e.value for e in grouped.get(group, [])) == sorted(
            e.value for e in md.entry_points(group=group))
    assert grouped.get("spacy_architectures")  # spacy-legacy's, which the model needs

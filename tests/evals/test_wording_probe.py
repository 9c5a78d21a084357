"""The wording probe: its rewrites keep or change what a question asks as each claims (on
sentences written here), and the probe asks every wording of a tiny set through the service's
own judges (spaCy, an in-process store: the probe's logic, not storage)."""

from __future__ import annotations

from dataclasses import replace

import pandas as pd
import pytest

from evals.decisions import rewrites as rw
from evals.decisions import wording_probe as probe
from rag_core.decisions.semantic_canonical import canonical
from rag_core.ingest.ingestion import ingest_notes
from rag_core.parts import Parts
from rag_core.pipeline import Pipeline
from rag_core.text import named
from rag_core.types import Note


@pytest.mark.parametrize(("rule", "question", "expected"), [
    (rw.digits_to_words, "Why were 46 people on 3 boats in 2019?",
     "Why were forty-six people on three boats in 2019?"),
    (rw.words_to_digits, "Why were forty-six people on one of three boats?",
     "Why were 46 people on one of 3 boats?"),
    (rw.unit_abbreviations, "Who walked 5 kilometres for nineteen years?",
     "Who walked 5km for 19 yrs?"),
    (rw.unit_words, "Who walked 5km in 3 hrs?", "Who walked 5 kilometres in 3 hours?"),
    (rw.month_abbreviations, "What happened in September 2019?", "What happened in Sep 2019?"),
    (rw.month_numbers, "What happened on 8 May 2022 and in Sept. 2019?",
     "What happened on 2022-05-08 and in 2019-09?"),
    (rw.names_lower, "Where did Lucia Ferrante work?", "Where did lucia ferrante work?"),
    (rw.possessives, "What did Okafor's mother pray for?",
     "What did the mother of Okafor pray for?"),
    (rw.initials, "Where did Pastor Lucia Ferrante work?", "Where did Pastor L. Ferrante work?"),
    (rw.keywords, "How many passengers were on the ferry in John 3:1-8?",
     "passengers ferry John 3:1-8"),
    (rw.kind_of, "Which song did Nell sing?", "What kind of song did Nell sing?"),
    (rw.kind_of, "What did Nell sing?", "What kind of thing did Nell sing?"),
    (rw.filler_before, "Where did Nell sing?", "Quick question: where did Nell sing?"),
    (rw.filler_after, "Where did Nell sing?", "Where did Nell sing? Thanks in advance!"),
    (rw.from_to, "What did Nell bring from the market to the church?",
     "What did Nell bring to the market from the church?"),
    (rw.before_after, "What did Nell do before the storm?", "What did Nell do after the storm?"),
    (rw.for_against, "Who argued for the new roof?", "Who argued against the new roof?"),
    (rw.negation, "What did Nell sell?", "What did Nell not sell?"),
    (rw.negation, "Who stopped to help?", "Who did not stop to help?"),
    (rw.negation, "Why didn't Nell sing?", "Why did Nell sing?"),
    (rw.swapped_roles, "Why did Amira teach Nell?", "Why did Nell teach Amira?"),
    (rw.another_number, "Why were forty people there?", "Why were forty-one people there?"),
])
def test_each_rewrite_words_a_question_as_it_says(rule: rw.Rule, question: str,
                                                   expected: str) -> None:
    assert rule(question) == expected


def test_a_rewrite_that_does_not_apply_gives_none() -> None:
    plain = "How does grace work?"
    applied = {r.name for r in rw.ALL if r(plain) is not None}
    assert applied <= {"keywords", "filler_before", "filler_after", "negation"}


@pytest.mark.parametrize("question", [
    "How many of the 46 passengers walked 5 kilometres in September 2019?",
    "Why did Lucia Ferrante's brother give forty-six loaves to Okafor in May 2022?",
])
def test_keeping_rewrites_keep_the_facts_and_changing_ones_change_the_question(
        question: str) -> None:
    """What a question names survives every keeping rewrite (numbers as values, the month of
    a year, the names' words in the notes' normalised form), and no changing rewrite leaves
    the canonical form as it was."""
    asked = named.asked(question)
    for r in rw.KEEPING:
        new = r(question)
        if new is None:
            continue
        got = named.asked(new)
        assert got.month_years in (asked.month_years, frozenset()), (r.name, new)
        if r.name != "keywords":  # which drops "about" or "almost" as function words
            assert got.numbers == asked.numbers, (r.name, new)
        assert set(got.names) <= set(asked.names), (r.name, new)
    for r in rw.CHANGING:
        new = r(question)
        if new is not None:
            assert canonical(new) != canonical(question), (r.name, new)


def test_the_probe_asks_every_wording_through_the_service_judges(memory_parts: Parts) -> None:
    parts = replace(memory_parts,
                    settings=memory_parts.settings.with_overrides(similarity_threshold=0.0))
    ingest_notes(parts, "u", [Note(
        id="n1", title="Night shifts", speaker="Rev. Amos Reed", date="2019-09-08",
        body="Lucia Ferrante worked nineteen years of night shifts at the Saint Columba "
             "hospice. In September 2019 she walked 5km to the harbour every evening.")],
        progress=False)
    items = pd.DataFrame([
        {"set": "tiny", "id": "q1", "user_id": "u",
         "question": "How many years did Lucia Ferrante work at the hospice?"},
        {"set": "tiny", "id": "q2", "user_id": "u",
         "question": "Where did Lucia Ferrante walk 5 kilometres in September 2019?"},
        {"set": "tiny", "id": "q3", "user_id": "u",
         "question": "What did Lucia Ferrante do at the hospice in 1987?"}])
    frame = probe.ask(Pipeline(parts), probe.wordings(items))
    kept = frame[frame["keeps"]]
    # the notes answer q1 and q2 in every wording; q3 names a year no note holds
    assert not kept[kept["id"] != "q3"]["refused"].any(), kept[kept["refused"]]
    q3 = kept[(kept["id"] == "q3") & kept["question"].str.contains("1987")]
    assert q3["refused"].all() and set(q3["reason"]) == {"dates"}
    changed = frame[~frame["keeps"]]
    assert not changed["strict_reuse"].any()  # strict reuses no other question
    table = probe.table(frame).set_index("rewrite")
    assert table.loc["original", "tiny"] == "1/3"
    assert table.loc["names_lower", "strict reuses"] == "3/3"  # case is no other question
    assert table.loc["original", "only for the wording"] == 0
    assert probe.refused_examples(frame).empty
    assert "| rewrite |" in probe.markdown({"t": probe.table(frame)})

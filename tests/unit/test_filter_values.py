"""The query filters as a value: what a caller may send, how a note's front matter passes, what
names them in a cache key, and the reasons a no_context answer gives."""

from __future__ import annotations

import pytest

from rag_core.config import Retrieval
from rag_core.decision_records import Decisions
from rag_core.redis_kv.keys import context_key
from rag_core.store.filters import NO_FILTERS, Filters, InvalidFilter

META = {"speaker": "Pastor Miriam Okafor", "series": "Hebrews", "tags": ["faith", "Trust"],
        "date": "2024-03-10"}


def no_context_reason(decisions: dict[str, object], *, refused: bool = False) -> str:
    """The reason of a no-context answer whose decisions' JSON is ``decisions``."""
    return Decisions.from_dict(decisions).no_context_reason(refused=refused)


@pytest.mark.parametrize("given,field", [
    ({"date_from": "2019-Se-01"}, "date_from"),
    ({"date_to": "2019-02-30"}, "date_to"),
    ({"date_from": "2019-13"}, "date_from"),
    ({"date_from": "19"}, "date_from"),
    ({"date_from": "2024-03-10T00:00"}, "date_from"),
    ({"speaker": "x" * 121}, "speaker"),
    ({"tags": [str(i) for i in range(21)]}, "tags"),
    ({"tags": ["x" * 41]}, "tags"),
    ({"speaker": 5}, "speaker"),
    ({"tags": ["\x00"]}, "tags"),  # a NUL the database cannot take: a 422, never a 500
    ({"series": "Hebrews\u202e"}, "series"),
])
def test_a_bad_value_is_refused_with_a_code_naming_the_field(given: dict[str, object],
                                                             field: str) -> None:
    with pytest.raises(InvalidFilter) as caught:
        Filters.parse(**given)  # type: ignore[arg-type]
    assert caught.value.code == "INVALID_FILTER" and caught.value.status == 422
    assert f"filters.{field}" in caught.value.message


def test_bounds_are_inclusive_at_their_precision() -> None:
    assert Filters.parse(date_from="2024", date_to="2024").matches(META)
    assert Filters.parse(date_from="2024-03", date_to="2024-03-10").matches(META)
    assert not Filters.parse(date_from="2024-03-11").matches(META)
    assert not Filters.parse(date_to="2024-02").matches(META)
    assert Filters.parse(date_from="2024-03", date_to="2024").matches(META)  # one month, a year
    with pytest.raises(InvalidFilter, match="after"):
        Filters.parse(date_from="2024-03", date_to="2024-02-29")
    assert not Filters.parse(date_from="2000").matches({"speaker": "Pastor Miriam Okafor"})


def test_speaker_series_and_tags_match_whatever_the_case() -> None:
    assert Filters.parse(speaker="  pastor MIRIAM okafor ").matches(META)
    assert not Filters.parse(speaker="Okafor").matches(META)  # the whole value
    assert Filters.parse(series="HEBREWS", tags=["trust", "other"]).matches(META)
    assert not Filters.parse(tags=["other"]).matches(META)
    assert not Filters.parse(tags=["faith"]).matches({"tags": "faith"})  # not a list
    assert Filters.from_dict({"tags": ["faith"], "speaker": ""}) == Filters(tags=("faith",))
    with pytest.raises(InvalidFilter, match="Unknown filter"):
        Filters.from_dict({"speakr": "x"})


def test_blank_filters_filter_nothing_and_leave_keys_as_they_were() -> None:
    blank = Filters.parse(speaker=" ", tags=["", " "])
    assert not blank and blank == NO_FILTERS and blank.key() == {}
    params = Retrieval()
    assert context_key(params, "u", 1, "q", 5, blank) == context_key(params, "u", 1, "q", 5)


def test_the_key_names_the_notes_that_pass_not_the_spelling() -> None:
    a = Filters.parse(speaker="Pastor Okafor", tags=["Faith", "trust"])
    b = Filters.parse(speaker="pastor okafor", tags=["TRUST", "faith", "faith"])
    assert a.key() == b.key()
    params = Retrieval()
    keys = {context_key(params, "u", 1, "q", 5, f) for f in (
        NO_FILTERS, a, Filters.parse(speaker="Pastor Okafor"), Filters.parse(date_from="2024"),
        Filters.parse(date_to="2024"), Filters.parse(series="Pastor Okafor"))}
    assert len(keys) == 6


def test_every_no_context_answer_says_why() -> None:
    filters = Filters.parse(speaker="Nobody", date_from="2031")
    reason = no_context_reason({"filters": {"matched": False, "filters": filters.to_dict(),
                                            "described": filters.describe()}})
    assert reason == "filter_no_match: no note of yours matches speaker 'Nobody', dated from 2031"
    refused = no_context_reason({"relevance": {"answer": False}}, refused=True)
    assert refused.startswith("refused: ")
    not_found = no_context_reason({"relevance": {"answer": False, "reason": "similarity",
                                                 "checks": {"similarity": {
                                                     "passed": False, "detail": "0.1 vs 0.25"}}}})
    assert not_found.startswith("not_found: ") and "similarity: 0.1 vs 0.25" in not_found
    unknown = no_context_reason({"relevance": {"answer": False, "reason": "some_new_rule"}})
    assert unknown == "not_found: some new rule"
    assert no_context_reason({}).startswith("no_context: ")

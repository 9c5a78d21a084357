"""The answer records, verdicts and query log kept in process (``MemoryRecords``, what unit
tests and a store without PostgreSQL use) behave as the PostgreSQL ones (``PgRecords``) do:
the same calls, the same answers, on a real database. A twin that drifted would let a unit test
pass on behaviour the service does not have."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from rag_core.store.records import AnswerRecord, LoggedQuery, MemoryRecords, Verdict

pytestmark = [pytest.mark.integration]


@pytest.fixture(params=["postgres", "memory"])
def records(request: pytest.FixtureRequest) -> Any:
    if request.param == "memory":
        return MemoryRecords()
    return request.getfixturevalue("store").records


def verdict(answer_id: str, user: str = "ben", kind: str = "wrong", **more: Any) -> Verdict:
    fields: dict[str, Any] = {"question": "Who rang the bells?", "answer": "Doris did, at dawn.",
                              "comment": "not what my notes say", "note_ids": ["n1", "n2"]}
    return Verdict(answer_id=answer_id, user_id=user, verdict=kind, source="llm",
                   **{**fields, **more})


def test_an_answer_is_found_by_its_id_and_its_reuses_by_origin_and_user(records: Any) -> None:
    records.add_answer(AnswerRecord("a" * 32, "ben", "llm", cache_key="k1", notes_version=3,
                                    trace_id="f" * 32, span_id="e" * 16))
    records.add_answer(AnswerRecord("b" * 32, "ben", "semantic", origin_id="a" * 32,
                                    semantic_field="s1"))
    records.add_answer(AnswerRecord("c" * 32, "kim", "semantic", origin_id="a" * 32))
    found = records.answer("a" * 32)
    assert (found.user_id, found.source, found.cache_key, found.notes_version,
            found.trace_id, found.span_id) == ("ben", "llm", "k1", 3, "f" * 32, "e" * 16)
    assert found.created_at is not None
    assert records.answer("d" * 32) is None
    assert [r.answer_id for r in records.reuses_of("a" * 32, "ben")] == ["b" * 32]
    assert [r.answer_id for r in records.reuses_of("a" * 32, "kim")] == ["c" * 32]


def test_a_second_verdict_on_an_answer_replaces_the_first_and_counts_within_its_window(
        records: Any) -> None:
    hour_ago = datetime.now(UTC) - timedelta(hours=1)
    first = records.add_verdict(verdict("a" * 32))
    assert first.id > 0 and first.created_at is not None
    assert records.recent_verdicts("ben", hour_ago) == 1
    again = records.add_verdict(verdict("a" * 32, kind="right", comment=None), hour_ago)
    assert again.id == first.id  # the same verdict, replaced
    assert [(v.verdict, v.comment) for v in records.verdicts()] == [("right", None)]
    assert records.recent_verdicts("ben", hour_ago) == 2  # a change within the window counts
    records.add_verdict(verdict("a" * 32))  # no window: a replacement counts as a first write
    assert records.recent_verdicts("ben", hour_ago) == 1
    other = records.add_verdict(verdict("b" * 32))
    assert other.id != first.id
    assert records.recent_verdicts("ben", hour_ago) == 2
    assert records.recent_verdicts("kim", hour_ago) == 0
    assert records.recent_verdicts("ben", datetime.now(UTC) + timedelta(minutes=5)) == 0


def test_deleting_a_note_blanks_the_text_of_the_verdicts_that_cited_it(records: Any) -> None:
    records.add_verdict(verdict("a" * 32))
    records.add_verdict(verdict("b" * 32, note_ids=["n3"]))
    records.add_verdict(verdict("c" * 32, user="kim"))
    assert records.redact_note("ben", "n1") == 1
    by_answer = {(v.user_id, v.answer_id): v for v in records.verdicts()}
    blanked = by_answer[("ben", "a" * 32)]
    assert (blanked.question, blanked.answer, blanked.comment, blanked.note_ids) == (
        "", "", None, ["n2"])
    assert blanked.verdict == "wrong"  # the verdict itself stays, without the note's text
    assert by_answer[("ben", "b" * 32)].question == "Who rang the bells?"
    assert by_answer[("kim", "c" * 32)].note_ids == ["n1", "n2"]  # another user's untouched
    assert records.redact_note("ben", "n9") == 0


def test_verdicts_kept_within_their_days_and_purged_all_at_once(records: Any) -> None:
    records.add_verdict(verdict("a" * 32))
    records.add_verdict(verdict("b" * 32, user="kim"))
    assert records.purge_verdicts(keep_days=30) == 0  # both are new
    assert len(records.verdicts()) == 2
    assert records.purge_verdicts() == 2
    assert records.verdicts() == []


def test_the_query_log_lists_prunes_and_purges(records: Any) -> None:
    now = datetime.now(UTC)
    records.log_query(LoggedQuery(now, "h1", "Who rang the bells?", "llm", 0.002))
    records.log_query(LoggedQuery(now, "h2", "When is the picnic?", "query", 0.0))
    listed = records.queries(1)
    assert sorted((e.user_hash, e.question, e.outcome, e.cost_usd) for e in listed) == [
        ("h1", "Who rang the bells?", "llm", 0.002), ("h2", "When is the picnic?", "query", 0.0)]
    assert all(abs((e.at - now).total_seconds()) < 3600 for e in listed)
    records.prune(answer_days=1, query_days=1, feedback_days=1)  # nothing is a day old
    assert len(records.queries(1)) == 2
    assert records.purge_queries() == 2
    assert records.queries(1) == []
    assert records.purge_queries() == 0


def test_a_service_key_is_made_once_and_kept(records: Any) -> None:
    key = records.service_key("verdict-hash")
    assert len(key) == 32
    assert records.service_key("verdict-hash") == key
    assert records.service_key("another") != key
